"""The runs of the SLURM level, started in the background when the test session starts.

A workflow run through the test cluster mostly waits: for SLURM's scheduler, for the executor's status
checks (5 s after a submission, then 10 s longer each time nothing has finished) and, in the timeout
scenario, for a 1-minute time limit. Run in the foreground, these waits left the cores idle for
minutes; started at the session's start (tests/cluster/conftest.py), the level waits while the unit and
workflow levels use the cores, and its tests, which pytest runs last, check what it recorded.

This module acts: it starts the clusters, runs Snakemake, interrupts a run, stops a job's process, and
returns a record of each step. What must hold is asserted in test_slurm.py on those records (a step
that cannot act, e.g. a run that fails, raises instead, and every test that needs the step reports that
error). The two checks of a cluster left by an earlier test run are the exception: they must run before
this session's cluster starts (one test cluster per machine, as /etc/slurm/slurm.conf is one path), so
they run here whole, and their tests report their outcome.

Every process started here gets the environment the session started with (tests change os.environ
while the level runs) and an explicit working directory.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from slurm_cluster import (
    ACCOUNT,
    DEFAULT_CONF,
    OWNER_FILE,
    PARTITION,
    ClusterError,
    SacctJob,
    SlurmCluster,
    clear_leftover_link,
    ensure_packages,
    processes_using,
)
from workflow_locks import process_start
from stage import ALLOW_CPU_VARIABLE
from support import REPO
from support.tiny_run import TINY_RUN
from support.workflow_outputs import OUTPUT_DIRS

from nusmooth.artifacts import ENVELOPE_CHOICE
from nusmooth.cost import path_number
from nusmooth.envelope import chosen_constants

# Not copied from the checkout's top level: outputs and state of runs there, environments, caches.
NOT_COPIED = {".git", ".venv", ".snakemake", "results", "figures", "logs", "benchmarks", ".pytest_cache", ".hypothesis"}
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGET = "figures/fig1.pdf"
CONFIG = ["--configfile", "tests/config_tiny.yaml"]
# The README's cluster command; only the first status check is made sooner than the profile's.
SLURM_COMMAND = [
    str(SNAKEMAKE),
    TARGET,
    "--profile",
    "profiles/slurm",
    *CONFIG,
    "--slurm-init-seconds-before-status-checks",
    "5",
]
# The interrupted run's target: the base model. Its Ctrl-C falls while train_base runs, so the rerun
# shows what it must (the finished prepare_data kept, the cancelled train_base resubmitted and resumed
# to the same model) in one SLURM job instead of the 16 of TARGET; what follows train_base is the clean
# run's.
INTERRUPTED_TARGET = "results/models/mnist5k/model.pt"
INTERRUPTED_COMMAND = [INTERRUPTED_TARGET if part == TARGET else part for part in SLURM_COMMAND]
# Named so that Snakemake, which evaluates unquoted resource values as Python, would turn it into
# the rule's input files: the profile must hand it over quoted.
GPU_PARTITION = "input"
# A partition with SLURM's shortest time limit (1 minute), for the timeout-and-retry scenario.
SHORT_PARTITION, SHORT_LIMIT_MINUTES = "short", 1
# An account of the cluster that the test user has no association with: sbatch rejects it.
OTHER_ACCOUNT = "someone_else"
# What the node advertises: enough CPUs (2 per job) and stand-in GPUs for the clean run, the
# interrupted run and the timeout scenario to have a job running each at once (nothing is enforced
# without cgroups, so the jobs share the machine's real cores).
NODE_CPUS, NODE_GPUS = 6, 3
# One whole workflow run through the cluster, sharing the machine with the other test levels.
RUN_TIMEOUT = 900
# The longest a test waits for a step of the level (it bounds its own runs by RUN_TIMEOUT).
STEP_TIMEOUT = 3600

# The timeout scenario: an optimize_sigma job in the 1-minute partition. Its process is stopped once
# its first sub-epoch is saved, so the first attempt outlives the limit whatever the machine's speed;
# the retry resumes and has TIMEOUT_SUB_EPOCHS - 1 sub-epochs of about 3 CPU seconds left.
TIMEOUT_SIGMA = {"inits": [0.25, 0.5], "n_train": 4, "train_points": 320, "batch_size": 16}
TIMEOUT_SUB_EPOCHS = 4
TIMEOUT_TARGET = "results/sigma/mnist5k/init_0.25/snapshots.pt"
TIMEOUT_RESUME = "results/sigma/mnist5k/init_0.25/resume.pt"
# More retries than the profile's one: an attempt on a loaded machine may not finish its sub-epochs
# within its minute; every attempt resumes, so each one brings the job closer to its end.
TIMEOUT_RETRIES = 15


def copy_workflow(destination: Path) -> Path:
    """A private copy of the checkout, so that runs do not share results or .snakemake locks."""

    def ignore(directory, names):
        top = Path(directory) == REPO
        return [n for n in names if n == "__pycache__" or (top and n in NOT_COPIED)]

    shutil.copytree(REPO, destination, ignore=ignore, dirs_exist_ok=True)
    return destination


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Background:
    """One Snakemake invocation running in the background, its output in a log file.

    SIGINT is reset to its default in the child (`env --default-signal`), as in a terminal: a test run
    started in the background of a non-interactive shell (``cmd &``) inherits SIGINT *ignored*, and
    Python then never raises KeyboardInterrupt, so Snakemake would not see the test's Ctrl-C at all."""

    def __init__(self, command, workdir: Path, env, log_name: str):
        self.command, self.workdir, self.log = command, workdir, workdir / log_name
        with open(self.log, "w") as handle:
            self.process = subprocess.Popen(
                ["env", "--default-signal=INT", *command], cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        self.started, self.started_wall = time.monotonic(), time.time()
        self.seconds = None
        atexit.register(self.stop)  # also after a Ctrl-C of pytest that skips the session's end

    def finish(self, timeout: float = RUN_TIMEOUT) -> float:
        """Wait for a successful end (bounded); the run's wall seconds."""
        if self.seconds is None:
            try:
                code = self.process.wait(timeout=max(1.0, self.started + timeout - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stop()
                pytest.fail(
                    f"`{' '.join(self.command)}` did not finish within {timeout} s; log {self.log}:\n{tail(self.log)}"
                )
            assert code == 0, f"`{' '.join(self.command)}` failed ({code}); log {self.log}:\n{tail(self.log)}"
            # Snakemake's last log line marks its end (finish() may be called much later).
            self.seconds = self.log.stat().st_mtime - self.started_wall
        return self.seconds

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def local_rules() -> set[str]:
    """The Snakefile's `localrules`: they run on the submit host, never as SLURM jobs."""
    block = re.search(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", (REPO / "Snakefile").read_text(), re.M)
    return set(re.findall(r"\w+", block.group(1)))


def job_blocks(dry_run_output: str) -> dict[str, str]:
    """Each job's block of a dry run's output, keyed by rule (the last block of each rule)."""
    parts = re.split(r"^(?:local)?rule (\w+):$", dry_run_output, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def requested(dry_run_output: str) -> dict[str, dict[str, float]]:
    """What the profile asks for, per rule, as Snakemake resolved it (the dry run's `resources:`)."""
    asked = {}
    for rule, block in job_blocks(dry_run_output).items():
        line = re.search(r"^\s+resources: (.*)$", block, re.M)
        values = dict(item.split("=", 1) for item in line.group(1).split(", ")) if line else {}
        if "runtime" in values:  # the cluster rules
            asked[rule] = {"runtime": int(values["runtime"]), "mem_mb": float(values["mem_mb"])}
    return asked


def local_plan(workdir: Path, env, target: str = TARGET) -> str:
    """A local dry run of ``target`` on the tiny config with every job planned (--forceall) and more cores
    than any rule asks for, so that each job's `threads:` is printed uncapped (the executor's dry run
    does not print threads)."""
    done = subprocess.run(
        [str(SNAKEMAKE), target, *CONFIG, "--dry-run", "--forceall", "--cores", "1024"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def planned_files(plan: str) -> list[str]:
    """The files of a run of a target that workflow_outputs compares (under results/ and figures/) and
    its jobs' logs, from the outputs and logs of local_plan's output."""
    files = set()
    for line in re.findall(r"^\s+(?:output|log): (.*)$", plan, re.M):
        files.update(name for name in line.split(", ") if name.split("/")[0] in (*OUTPUT_DIRS, "logs"))
    return sorted(files)


def envelope_test_files(run: Path) -> list[str]:
    """The isotropic envelope's test certificates and their logs in a finished run: their jobs are
    planned only once the envelope's validation choice exists (choose_envelope is a checkpoint), so no
    dry run lists them; the run's own choice says which constants they are."""
    files = []
    for choice in sorted((run / "results" / "certify").glob("*/envelope/choice.tsv")):
        dataset = choice.parent.parent.name
        for constant in chosen_constants(ENVELOPE_CHOICE.load(choice)):
            constant = f"sigma_{path_number(constant)}"
            files += [
                f"results/certify/{dataset}/envelope/{constant}/test.tsv",
                f"logs/certify_envelope/{dataset}/{constant}/test.log",
            ]
    return files


def tiny_run_files(files: list[str], folder: Path) -> Path:
    """``files`` of the session's tiny run (relative paths) copied into ``folder``: what a run of the
    target that writes them is compared with."""
    tiny = TINY_RUN.result()
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tiny / name, folder / name)
    return folder


def dry_run_counts(workdir: Path, env, plan: str) -> tuple[dict[str, int], int, dict[str, dict[str, float]]]:
    """SLURM jobs per rule that the DAG contains (Snakemake's own job-stats table of a dry run, less
    the local rules), the largest `threads` (sbatch --cpus-per-task) any job asks for, and per rule
    the runtime, memory and threads that the profile and the rule ask for (the threads from ``plan``,
    local_plan's output)."""
    done = subprocess.run(
        [*SLURM_COMMAND, "--dry-run"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    asked = requested(done.stdout)
    table = done.stdout.split("Job stats:")[1].split("Reasons:")[0]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    counts.pop("total", None)
    for rule in local_rules():  # `all` among them: no action, Snakemake finishes it locally
        counts.pop(rule, None)
    threads = [int(t) for t in re.findall(r"^\s+threads: (\d+)$", plan, re.M)] or [1]
    for rule, block in job_blocks(plan).items():
        if rule in asked:
            asked[rule]["threads"] = int(re.search(r"^\s+threads: (\d+)$", block, re.M).group(1))
    return counts, max(threads), asked


def jobs_of(cluster: SlurmCluster, workdir: Path) -> list[SacctJob]:
    return [job for job in cluster.sacct_jobs() if Path(job.workdir) == workdir]


def require_cluster_prerequisites() -> None:
    if os.geteuid() != 0:
        pytest.skip("the SLURM end-to-end test starts daemons and installs Debian packages: run it as root (CI does)")
    try:
        ensure_packages()
    except ClusterError as error:
        pytest.fail(f"cannot install SLURM for the end-to-end test: {error}")


def skip_unless_default_conf_free() -> None:
    if DEFAULT_CONF.is_symlink():
        clear_leftover_link()  # a killed run's link is ours to remove; anything else stays
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        pytest.skip(
            f"{DEFAULT_CONF} is in use (a real SLURM setup?); these tests replace only a killed test run's link"
        )


def replace_a_leftover_cluster(environ) -> None:
    """A test run killed before its teardown (SIGKILL, or the machine's session ending) leaves its
    daemons running and /etc/slurm/slurm.conf linked to its configuration. The next run must stop
    them and take over, not refuse to start (what once failed a CI run on a reused machine)."""
    skip_unless_default_conf_free()
    start_and_hang = (
        "import sys, time; sys.path[:0] = ['tests/cluster', 'tests', 'workflow_scripts']; from slurm_cluster import SlurmCluster; "
        "cluster = SlurmCluster(); cluster.start(); print(cluster.root, flush=True); time.sleep(600)"
    )
    killed = subprocess.Popen(
        [sys.executable, "-c", start_and_hang],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = killed.stdout.readline().strip()  # once started; "" when the child failed (bounded by its timeouts)
    finally:
        killed.kill()
        errors = killed.communicate(timeout=30)[1]
    assert printed, f"the cluster that is to be left behind did not start:\n{errors}"
    stale_root = Path(printed)
    stale_conf = stale_root / "etc" / "slurm.conf"
    assert os.readlink(DEFAULT_CONF) == str(stale_conf)
    assert processes_using(stale_conf), "the killed test's daemons should outlive it (their own sessions)"
    fresh = SlurmCluster(environ=environ)
    try:
        with fresh:  # started and idle, or it raises
            assert os.readlink(DEFAULT_CONF) == str(fresh.conf)
            assert processes_using(stale_conf) == [], "the leftover daemons must be stopped"
        assert not DEFAULT_CONF.is_symlink(), "the fresh cluster removes its link when it stops"
    finally:
        for pid in processes_using(stale_conf):  # only if the takeover failed
            os.kill(pid, signal.SIGKILL)
        if DEFAULT_CONF.is_symlink() and os.readlink(DEFAULT_CONF) == str(stale_conf):
            DEFAULT_CONF.unlink()
        fresh.cleanup()
        shutil.rmtree(stale_root, ignore_errors=True)


def keep_a_running_cluster(environ) -> None:
    """Two test runs at once on one machine: the second stops with a message naming the first."""
    skip_unless_default_conf_free()
    running = SlurmCluster(environ=environ)  # never started: only its owner file and the link matter here
    (running.root / "etc").mkdir()
    running.conf.write_text("# the configuration of a cluster whose test is still running\n")
    (running.root / OWNER_FILE).write_text(f"{os.getpid()} {process_start(os.getpid())}\n")  # this very process: alive
    DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
    DEFAULT_CONF.symlink_to(running.conf)
    try:
        with pytest.raises(ClusterError, match=rf"running test process {os.getpid()}; wait for that test run"):
            clear_leftover_link()  # what a second cluster's start does on finding the link
        assert os.readlink(DEFAULT_CONF) == str(running.conf), "the running cluster's link must be left alone"
    finally:
        DEFAULT_CONF.unlink()
        running.cleanup()


def script_processes(workdir: Path, script: str) -> list[int]:
    """PIDs of the processes running a rule's script (`.snakemake/scripts/tmp*.<script>`) in ``workdir``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(workdir):
                if any(part.endswith(f".{script}".encode()) for part in (entry / "cmdline").read_bytes().split(b"\0")):
                    found.append(int(entry.name))
        except OSError:
            continue  # ended meanwhile, or a kernel thread
    return found


def querying_slurm(pid: int) -> bool:
    """Whether process ``pid`` has a child running sacct or squeue: the SLURM executor is checking its
    jobs' status. Meanwhile its list of active jobs is empty (snakemake-interface-executor-plugins 9.4,
    RemoteExecutor._wait_for_jobs takes the jobs out while it checks them), so a Ctrl-C then cancels
    nothing and the jobs run on."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() in ("sacct", "squeue"):
                if int(re.search(r"^PPid:\s+(\d+)$", (entry / "status").read_text(), re.M).group(1)) == pid:
                    return True
        except OSError:
            continue  # ended meanwhile, or a kernel thread
    return False


@dataclass
class CleanRun:
    workdir: Path
    seconds: float
    expected: dict[str, int]  # SLURM jobs per rule of the DAG (dry run)
    asked: dict[str, dict[str, float]]  # per rule: runtime, mem_mb and threads the profile and rule ask for


@dataclass
class InterruptedRun:
    workdir: Path
    reference: Path  # the session's tiny run's files of INTERRUPTED_TARGET
    first_exit_code: int  # of the run that got the Ctrl-C
    jobs_before: list[SacctJob]  # SLURM's jobs of that run, once its queue had drained
    rerun_seconds: float


@dataclass
class TimeoutRun:
    reference: Path  # the same job run locally, uninterrupted
    slurm: Path
    seconds: float


class SlurmLevel:
    """The level's steps, each run by its own daemon thread as soon as the steps it needs are done.

    A test calls :meth:`result` with the name of the step it checks: the step's record, or the step's
    error raised again (a skip without root included)."""

    def __init__(self, root: Path):
        self.root = root
        self.environ = dict(os.environ)  # the session's environment before any test has changed it
        self.cluster: SlurmCluster | None = None
        self.slurm_env: dict[str, str] = {}
        self._runs: list[Background] = []
        self._stopped: list[tuple[int, str | None]] = []  # (pid, start) of processes stopped with SIGSTOP
        self._acts = {
            "prerequisites": self._prerequisites,
            "leftover cluster replaced": self._replace_a_leftover_cluster,
            "running cluster kept": self._keep_a_running_cluster,
            "cluster": self._start_cluster,
            "plan": self._plan,
            "reference": self._reference,
            "clean run": self._clean_run,
            "interrupted run": self._interrupted_run,
            "timeout run": self._timeout_run,
        }
        self._steps = {name: Future() for name in self._acts}

    def start(self) -> None:
        for name, act in self._acts.items():
            threading.Thread(target=self._run_step, args=(name, act), name=f"slurm level: {name}", daemon=True).start()

    def result(self, step: str):
        """The record of ``step`` once it is done (waiting at most STEP_TIMEOUT seconds)."""
        try:
            return self._steps[step].result(timeout=STEP_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"the SLURM level's step '{step}' did not end within {STEP_TIMEOUT} s")

    def _run_step(self, name: str, act) -> None:
        try:
            self._steps[name].set_result(act())
        except BaseException as error:  # pytest's skip and fail outcomes are BaseExceptions
            self._steps[name].set_exception(error)

    def _settled(self, step: str) -> None:
        """Wait until ``step`` has ended, whatever its outcome."""
        self._steps[step].exception()

    def _background(self, command, workdir: Path, env, log_name: str) -> Background:
        run = Background(command, workdir, env, log_name)
        self._runs.append(run)
        return run

    def stop(self) -> None:
        """Stop every run, stopped process and cluster of the level (at the session's end)."""
        for run in self._runs:
            run.stop()
        for pid, start in self._stopped:
            if process_start(pid) == start:
                os.kill(pid, signal.SIGKILL)
        # A cluster still starting is stopped once it has started (or failed to).
        deadline = time.monotonic() + 180
        for step in ("leftover cluster replaced", "running cluster kept", "cluster"):
            try:
                self._steps[step].exception(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                pass
        if self.cluster is not None:
            self.cluster.stop()

    def cleanup(self) -> None:
        if self.cluster is not None:
            self.cluster.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the steps --------------------------------------------------------------------------------
    def _prerequisites(self) -> None:
        """Root and SLURM's packages, or every step is skipped (or fails) with the reason; then the
        session's tiny run, which the cluster runs are compared with, is started if it is not yet."""
        require_cluster_prerequisites()
        TINY_RUN.start(self.environ)

    def _replace_a_leftover_cluster(self) -> None:
        self._steps["prerequisites"].result()
        replace_a_leftover_cluster(self.environ)

    def _keep_a_running_cluster(self) -> None:
        self._steps["prerequisites"].result()
        self._settled("leftover cluster replaced")
        keep_a_running_cluster(self.environ)

    def _start_cluster(self) -> SlurmCluster:
        self._steps["prerequisites"].result()
        self._settled("running cluster kept")
        self.cluster = SlurmCluster(
            extra_partitions=(
                GPU_PARTITION,
                (SHORT_PARTITION, f"MaxTime={SHORT_LIMIT_MINUTES}"),
            ),
            extra_accounts=(OTHER_ACCOUNT,),
            # Retries ask for more memory (16 GB more per attempt, up to TIMEOUT_RETRIES + 1 attempts);
            # nothing is enforced without cgroups.
            min_memory_mb=16000 * (TIMEOUT_RETRIES + 1),
            min_cpus=NODE_CPUS,
            gpus=NODE_GPUS,
            environ=self.environ,
        )
        try:
            self.cluster.start()
        except BaseException as error:
            self.cluster.stop()
            raise ClusterError(
                f"the test SLURM cluster failed: {error} (configuration and logs kept in {self.cluster.root})"
            ) from error
        env = self.cluster.env()
        env["PATH"] = f"{SNAKEMAKE.parent}{os.pathsep}{env['PATH']}"
        # The profile's documented site settings, exercised for real.
        env.update(SBATCH_PARTITION=PARTITION, SBATCH_ACCOUNT=ACCOUNT, NUSMOOTH_SLURM_GPU_PARTITION=GPU_PARTITION)
        for variable in [name for name in env if name.startswith("NUSMOOTH_SLURM_")]:
            if variable != "NUSMOOTH_SLURM_GPU_PARTITION":
                env.pop(variable)
        # The node's "GPU" is a stand-in that torch cannot use: the documented opt-out lets the GPU
        # rules run on the CPU instead of stopping (test_unusable_gpu_stops_the_job_at_once).
        env[ALLOW_CPU_VARIABLE] = "1"
        self.slurm_env = env
        return self.cluster

    def _plan(self) -> str:
        """The local plan of TARGET (local_plan), from a copy of the checkout."""
        self._steps["prerequisites"].result()
        return local_plan(copy_workflow(self.root / "plan"), self.environ)

    def _reference(self) -> Path:
        """What the cluster runs of TARGET are compared with: the files of the session's tiny run that
        a run of TARGET writes (planned_files), copied into a folder of their own."""
        self._steps["prerequisites"].result()  # which starts the tiny run when this level runs alone
        tiny = TINY_RUN.result()
        return tiny_run_files(
            planned_files(self._steps["plan"].result()) + envelope_test_files(tiny), self.root / "reference"
        )

    def _clean_run(self) -> CleanRun:
        cluster = self._steps["cluster"].result()
        workdir = copy_workflow(self.root / "slurm").resolve()
        expected, threads, asked = dry_run_counts(workdir, self.slurm_env, self._steps["plan"].result())
        # A job asking for more CPUs than the node has would stay PENDING until the run's time-out.
        assert (
            threads <= cluster.node_cpus
        ), f"a rule asks for {threads} threads; the test node has {cluster.node_cpus} CPUs"
        run = self._background(SLURM_COMMAND, workdir, self.slurm_env, "snakemake.out")
        seconds = run.finish()
        # The envelope's test jobs follow its validation choice (a checkpoint the dry run cannot see).
        chosen = [name for name in envelope_test_files(workdir) if name.endswith(".tsv")]
        if chosen:
            expected["certify_envelope"] = expected.get("certify_envelope", 0) + len(chosen)
        return CleanRun(workdir, seconds, expected, asked)

    def _interrupted_run(self) -> InterruptedRun:
        """A run of INTERRUPTED_TARGET interrupted like Ctrl-C once prepare_data has finished and
        train_base (the longest job) has been running for a few seconds (one result done, one job cut
        off mid-work), between two of Snakemake's status checks (querying_slurm), then rerun with the
        same command."""
        cluster = self._steps["cluster"].result()
        workdir = copy_workflow(self.root / "interrupted").resolve()
        files = planned_files(local_plan(workdir, self.environ, INTERRUPTED_TARGET))
        first = self._background(INTERRUPTED_COMMAND, workdir, self.slurm_env, "snakemake.first.out")
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while not (
                re.search(r"Finished jobid: \d+ \(Rule: prepare_data\)", first.log.read_text())
                and any(job["state"] == "RUNNING" and job["seconds"] >= 3 for job in cluster.queue(workdir))
                and not querying_slurm(first.process.pid)
            ):
                assert first.process.poll() is None, f"the run ended before it could be interrupted:\n{tail(first.log)}"
                assert time.monotonic() < deadline, f"train_base never ran:\n{tail(first.log)}"
                time.sleep(0.2)
            first.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
            first_exit_code = first.process.wait(timeout=120)
        finally:
            first.stop()
        cluster.wait_queue_empty(timeout=60, workdir=workdir)  # Snakemake cancels the jobs it had in SLURM
        jobs_before = jobs_of(cluster, workdir)
        rerun = self._background(INTERRUPTED_COMMAND, workdir, self.slurm_env, "snakemake.rerun.out")
        seconds = rerun.finish()
        reference = tiny_run_files(files, self.root / "interrupted-reference")
        return InterruptedRun(workdir, reference, first_exit_code, jobs_before, seconds)

    def _timeout_run(self) -> TimeoutRun:
        """optimize_sigma in the 1-minute partition, in a copy of the checkout that holds a copy of the
        session's tiny run (its data and base model are reused: only optimize_sigma runs), beside the
        same job run locally."""
        self._steps["cluster"].result()
        tiny = TINY_RUN.result()
        config = yaml.safe_load((REPO / "tests/config_tiny.yaml").read_text())
        config["datasets"]["mnist5k"]["sigma"] = {**TIMEOUT_SIGMA, "sub_epochs": TIMEOUT_SUB_EPOCHS}
        runs = {}
        for name in ("reference", "slurm"):
            workdir = copy_workflow(self.root / "timeout" / name).resolve()
            shutil.copytree(tiny, workdir, ignore=shutil.ignore_patterns("locks"), dirs_exist_ok=True)
            (workdir / "timeout.yaml").write_text(yaml.safe_dump(config))
            runs[name] = workdir
        local_env = {**self.environ, "PATH": self.slurm_env["PATH"]}
        reference = self._background(
            [str(SNAKEMAKE), TIMEOUT_TARGET, "--cores", "2", "--resources", "gpu=1", "--configfile", "timeout.yaml"],
            runs["reference"],
            local_env,
            "snakemake.out",
        )
        env = {
            **self.slurm_env,
            "NUSMOOTH_SLURM_GPU_PARTITION": SHORT_PARTITION,
            "NUSMOOTH_SLURM_GPU_MAX_RUNTIME": str(SHORT_LIMIT_MINUTES),
        }
        command = [
            str(SNAKEMAKE),
            TIMEOUT_TARGET,
            "--profile",
            "profiles/slurm",
            "--configfile",
            "timeout.yaml",
            "--retries",
            str(TIMEOUT_RETRIES),
            "--slurm-init-seconds-before-status-checks",
            "5",
        ]
        slurm = self._background(command, runs["slurm"], env, "snakemake.out")
        self._stop_once_resumable(runs["slurm"], slurm)
        seconds = slurm.finish(timeout=2 * RUN_TIMEOUT)
        reference.finish()
        return TimeoutRun(runs["reference"], runs["slurm"], seconds)

    def _stop_once_resumable(self, workdir: Path, run: Background) -> None:
        """SIGSTOP the first attempt's script once its first sub-epoch is saved: the job then outlives
        its time limit without using the CPU, and SLURM ends it (TIMEOUT) as it ends a slow job."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (workdir / TIMEOUT_RESUME).exists():
            assert run.process.poll() is None, f"the run ended before its first sub-epoch:\n{tail(run.log)}"
            assert time.monotonic() < deadline, f"the first sub-epoch never ended:\n{tail(run.log)}"
            time.sleep(0.1)
        pids = script_processes(workdir, "optimize_sigma.py")
        assert pids, f"no optimize_sigma process runs in {workdir}"
        for pid in pids:
            self._stopped.append((pid, process_start(pid)))
            os.kill(pid, signal.SIGSTOP)
