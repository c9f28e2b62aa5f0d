"""End-to-end: the tiny configuration through a real SLURM cluster started on this machine.

Runs the workflow with `--profile profiles/slurm` (the repository's profile, site settings through
its environment variables) against the one-node cluster of slurm_cluster.py, then checks SLURM's
own accounting: every job COMPLETED, GPU rules allocated gres/gpu and in the GPU partition, others
not, each with the time limit, memory and CPUs the profile asks for. Outputs must equal those of a
local run of the same configuration (see workflow_outputs.py for what "equal" means). A second run
is interrupted like Ctrl-C in the middle and rerun with the same command; it must resume and end
with the same outputs. An optimize_sigma job longer than its partition's time limit times out, is
retried with the same (capped) limit and more memory, resumes and ends with the outputs of an
uninterrupted run. The profile's preflight stops a run that SLURM would reject (account, time
limit), and a job given a GPU that torch cannot use stops at once.

Needs root (daemons, apt); installs missing Debian packages with apt-get and fails, not skips, when
that is impossible. Select with `pytest -m slurm`.
"""

from __future__ import annotations

import atexit
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from slurm_cluster import (
    ACCOUNT,
    DEFAULT_CONF,
    OWNER_FILE,
    PARTITION,
    ClusterError,
    SlurmCluster,
    clear_leftover_link,
    ensure_packages,
    processes_using,
)
from support.workflow_outputs import differences

from nusmooth.cost import GPU_RULES, MIN_MINUTES
from workflow_locks import process_start
from stage import ALLOW_CPU_VARIABLE
from support import REPO

pytestmark = pytest.mark.slurm

# Not copied from the checkout's top level: outputs and state of runs there, environments, caches.
NOT_COPIED = {".git", ".venv", ".snakemake", "results", "figures", "logs", "benchmarks", ".pytest_cache", ".hypothesis"}
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGET = "figures/fig1.pdf"
CONFIG = ["--configfile", "tests/config_tiny.yaml"]
# The README's local command, on the tiny configuration.
LOCAL_COMMAND = [str(SNAKEMAKE), TARGET, "--cores", "4", "--resources", "gpu=1", *CONFIG]
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
# Named so that Snakemake, which evaluates unquoted resource values as Python, would turn it into
# the rule's input files: the profile must hand it over quoted.
GPU_PARTITION = "input"
# A partition with SLURM's shortest time limit (1 minute), for the timeout-and-retry test.
SHORT_PARTITION, SHORT_LIMIT_MINUTES = "short", 1
# An account of the cluster that the test user has no association with: sbatch rejects it.
OTHER_ACCOUNT = "someone_else"
RUN_TIMEOUT = 480  # one whole workflow run through the cluster; about 4 minutes here when overlapped


def copy_workflow(destination: Path) -> Path:
    """A private copy of the checkout, so that runs do not share results or .snakemake locks."""

    def ignore(directory, names):
        top = Path(directory) == REPO
        return [n for n in names if n == "__pycache__" or (top and n in NOT_COPIED)]

    shutil.copytree(REPO, destination, ignore=ignore, dirs_exist_ok=True)
    return destination


def answer_ctrl_c() -> None:
    """In the child before exec: SIGINT back to its default, as in a terminal. A test run started in
    the background of a non-interactive shell (``cmd &``) inherits SIGINT *ignored*, and Python then
    never raises KeyboardInterrupt, so Snakemake would not see the test's Ctrl-C at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Background:
    """One Snakemake invocation running in the background, its output in a log file.

    The local reference run and the uninterrupted cluster run go on while the interrupted run is
    driven: the cluster's polling leaves the 2 cores idle most of the time, so overlapping the
    runs keeps the whole test within minutes. Concurrency changes no result: every job keeps
    its own thread count and its own working directory."""

    def __init__(self, command, workdir: Path, env, log_name: str):
        self.command, self.workdir, self.log = command, workdir, workdir / log_name
        with open(self.log, "w") as handle:
            self.process = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT, preexec_fn=answer_ctrl_c
            )
        self.started, self.started_wall = time.monotonic(), time.time()
        self.seconds = None
        atexit.register(self.stop)  # also after a Ctrl-C of pytest that skips fixture teardown

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


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


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


def dry_run_counts(workdir: Path, env) -> tuple[dict[str, int], int, dict[str, dict[str, float]]]:
    """SLURM jobs per rule that the DAG contains (Snakemake's own job-stats table of a dry run, less
    the local rules), the largest `threads` (sbatch --cpus-per-task) any job asks for, and per rule
    the runtime, memory and threads that the profile and the rule ask for."""
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
    # The executor's dry run does not print threads; a local one with more cores than any rule asks
    # for prints each job's `threads:` uncapped.
    local = subprocess.run(
        [str(SNAKEMAKE), TARGET, *CONFIG, "--dry-run", "--forceall", "--cores", "1024"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    threads = [int(t) for t in re.findall(r"^\s+threads: (\d+)$", local.stdout, re.M)] or [1]
    for rule, block in job_blocks(local.stdout).items():
        if rule in asked:
            asked[rule]["threads"] = int(re.search(r"^\s+threads: (\d+)$", block, re.M).group(1))
    return counts, max(threads), asked


def thread_counts(workdir: Path) -> dict[str, str]:
    """Each log's `threads=` (written by stage.run_stage) keyed by log path."""
    found = {}
    for log in sorted((workdir / "logs").rglob("*.log")):
        match = re.search(r"threads=(\d+)", log.read_text())
        found[str(log.relative_to(workdir))] = match.group(1) if match else None
    return found


def require_cluster_prerequisites() -> None:
    if os.geteuid() != 0:
        pytest.skip("the SLURM end-to-end test starts daemons and installs Debian packages: run it as root (CI does)")
    try:
        ensure_packages()
    except ClusterError as error:
        pytest.fail(f"cannot install SLURM for the end-to-end test: {error}")


@pytest.fixture(scope="module")
def cluster(request):
    require_cluster_prerequisites()
    cluster = SlurmCluster(
        extra_partitions=(
            GPU_PARTITION,
            (SHORT_PARTITION, f"MaxTime={SHORT_LIMIT_MINUTES}"),
        ),
        extra_accounts=(OTHER_ACCOUNT,),
        # Retries ask for more memory (16 GB more per attempt, up to TIMEOUT_RETRIES + 1 attempts);
        # nothing is enforced without cgroups.
        min_memory_mb=16000 * (TIMEOUT_RETRIES + 1),
    )
    try:
        with cluster:
            yield cluster
    except ClusterError as error:
        pytest.fail(f"the test SLURM cluster failed: {error} (configuration and logs kept in {cluster.root})")
    if request.session.testsfailed == 0:
        cluster.cleanup()  # otherwise kept, with the daemons' logs, for diagnosis
    else:
        print(f"SLURM test cluster configuration and logs kept in {cluster.root}")


@pytest.fixture(scope="module")
def slurm_env(cluster):
    env = cluster.env()
    env["PATH"] = f"{SNAKEMAKE.parent}{os.pathsep}{env['PATH']}"
    # The profile's documented site settings, exercised for real.
    env.update(SBATCH_PARTITION=PARTITION, SBATCH_ACCOUNT=ACCOUNT, NUSMOOTH_SLURM_GPU_PARTITION=GPU_PARTITION)
    for variable in [name for name in env if name.startswith("NUSMOOTH_SLURM_")]:
        if variable != "NUSMOOTH_SLURM_GPU_PARTITION":
            env.pop(variable)
    # The node's "GPU" is a stand-in that torch cannot use: the documented opt-out lets the GPU
    # rules run on the CPU instead of stopping (test_unusable_gpu_stops_the_job_at_once).
    env[ALLOW_CPU_VARIABLE] = "1"
    return env


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("local"))
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    run = Background(LOCAL_COMMAND, workdir, env, "snakemake.out")
    yield run
    run.stop()


@pytest.fixture(scope="module")
def clean_run(cluster, slurm_env, tmp_path_factory):
    """The uninterrupted cluster run, started in the background (checked by its own test)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("slurm")).resolve()
    expected, threads, asked = dry_run_counts(workdir, slurm_env)
    # A job asking for more CPUs than the node has would stay PENDING until the run's time-out.
    assert (
        threads <= cluster.node_cpus
    ), f"a rule asks for {threads} threads; the test node has {cluster.node_cpus} CPUs"
    run = Background(SLURM_COMMAND, workdir, slurm_env, "snakemake.out")
    run.expected, run.asked = expected, asked
    yield run
    run.stop()


def jobs_of(cluster, workdir: Path):
    return [job for job in cluster.sacct_jobs() if Path(job.workdir) == workdir]


# The next two tests come before the end-to-end ones: they must run before the module's `cluster`
# fixture starts (one test cluster per machine, as /etc/slurm/slurm.conf is one path).


def skip_unless_default_conf_free() -> None:
    if DEFAULT_CONF.is_symlink():
        clear_leftover_link()  # a killed run's link is ours to remove; anything else stays
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        pytest.skip(
            f"{DEFAULT_CONF} is in use (a real SLURM setup?); these tests replace only a killed test run's link"
        )


def test_a_cluster_left_by_a_killed_test_run_is_replaced():
    """A test run killed before its teardown (SIGKILL, or the machine's session ending) leaves its
    daemons running and /etc/slurm/slurm.conf linked to its configuration. The next run must stop
    them and take over, not refuse to start (what once failed a CI run on a reused machine)."""
    require_cluster_prerequisites()
    skip_unless_default_conf_free()
    start_and_hang = (
        "import sys, time; sys.path[:0] = ['tests/cluster', 'tests', 'workflow_scripts']; from slurm_cluster import SlurmCluster; "
        "cluster = SlurmCluster(); cluster.start(); print(cluster.root, flush=True); time.sleep(600)"
    )
    killed = subprocess.Popen(
        [sys.executable, "-c", start_and_hang], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
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
    fresh = SlurmCluster()
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


def test_a_cluster_whose_test_still_runs_is_not_replaced():
    """Two test runs at once on one machine: the second stops with a message naming the first."""
    require_cluster_prerequisites()
    skip_unless_default_conf_free()
    running = SlurmCluster()  # never started: only its owner file and the link matter here
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


def test_interrupted_run_resumes_to_same_outputs(cluster, slurm_env, local_run, clean_run, tmp_path):
    workdir = copy_workflow(tmp_path / "interrupted").resolve()
    first = Background(SLURM_COMMAND, workdir, slurm_env, "snakemake.first.out")
    try:
        # Interrupt once prepare_data has finished and train_base (the longest job, about 30 s
        # here) has been running for a few seconds: one result done, one job cut off mid-work.
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (
            re.search(r"Finished jobid: \d+ \(Rule: prepare_data\)", first.log.read_text())
            and any(job["state"] == "RUNNING" and job["seconds"] >= 3 for job in cluster.queue(workdir))
        ):
            assert first.process.poll() is None, f"the run ended before it could be interrupted:\n{tail(first.log)}"
            assert time.monotonic() < deadline, f"train_base never ran:\n{tail(first.log)}"
            time.sleep(1)
        first.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert first.process.wait(timeout=120) != 0
    finally:
        first.stop()
    cluster.wait_queue_empty(timeout=60, workdir=workdir)  # Snakemake cancelled the jobs it had in SLURM
    interrupted = jobs_of(cluster, workdir)
    assert [job.rule for job in interrupted if job.state.startswith("CANCELLED")] == ["train_base"], interrupted

    done_before = {job.job_id for job in interrupted}
    rerun = Background(SLURM_COMMAND, workdir, slurm_env, "snakemake.rerun.out")
    print(f"rerun after the interruption: {rerun.finish():.0f} s")
    resumed = [job for job in jobs_of(cluster, workdir) if job.job_id not in done_before]
    assert resumed and all(job.state == "COMPLETED" for job in resumed), resumed
    # It resumed: the finished job was not redone, the cancelled one was.
    rules = [job.rule for job in resumed]
    assert "prepare_data" not in rules and rules.count("train_base") == 1, rules
    local_run.finish()
    assert differences(local_run.workdir, workdir) == []


def test_workflow_runs_through_slurm(cluster, local_run, clean_run):
    expected = clean_run.expected
    assert expected.keys() & GPU_RULES and expected.keys() - GPU_RULES, expected
    print(f"uninterrupted workflow through SLURM: {clean_run.finish():.0f} s")
    jobs = jobs_of(cluster, clean_run.workdir)
    per_rule = {}
    for job in jobs:
        per_rule[job.rule] = per_rule.get(job.rule, 0) + 1
    assert per_rule == expected, f"SLURM jobs per rule {per_rule}, DAG {expected}"
    assert not per_rule.keys() & local_rules(), "a local rule was submitted to SLURM"
    assert (clean_run.workdir / "figures/fig1.pdf").exists()  # plot_fig1 ran on the submit host
    asked = clean_run.asked
    assert (
        asked.keys() == expected.keys()
    ), f"runtime and memory asked for {sorted(asked)}, SLURM rules {sorted(expected)}"
    # Memory: the profile's size for real clusters. Runtime: each GPU job's own work (nusmooth.cost);
    # the tiny configuration's jobs are all small enough for the shortest request.
    assert asked["train_base"]["mem_mb"] == 16000, asked
    assert {asked[rule]["runtime"] for rule in GPU_RULES & asked.keys()} == {MIN_MINUTES}, asked
    for job in jobs:
        assert job.state == "COMPLETED", job
        assert job.account == ACCOUNT, job
        if job.rule in GPU_RULES:
            assert job.gpus == 1 and job.partition == GPU_PARTITION, job
        else:
            assert job.gpus == 0 and job.partition == PARTITION, job
        # What SLURM granted is what the profile asked for (first attempts: nothing failed).
        ask = asked[job.rule]
        granted = (job.time_limit_minutes, job.requested_mb, job.requested_cpus)
        assert granted == (ask["runtime"], ask["mem_mb"], ask["threads"]), f"{job}: asked {ask}"
    print(
        "SLURM requests (rule: time limit min, memory MB, CPUs): "
        + "; ".join(sorted({f"{j.rule}: {j.time_limit_minutes}, {j.requested_mb:g}, {j.requested_cpus}" for j in jobs}))
    )
    # The scripts saw SLURM's GPU assignment (and ran on the CPU only through the opt-out).
    for rule in GPU_RULES:
        for log in (clean_run.workdir / "logs" / rule).rglob("*.log"):
            assert re.search(rf"device=cpu \(assigned GPU: {ASSIGNED}=", log.read_text()), log
    print(f"local run: {local_run.finish():.0f} s")
    # Same threads per job as the local run (the condition for bit-identical CPU results).
    assert thread_counts(clean_run.workdir) == thread_counts(local_run.workdir)
    assert differences(local_run.workdir, clean_run.workdir) == []


def test_profile_stops_before_submitting_what_slurm_would_reject(cluster, slurm_env):
    """The profile's preflight: sbatch --test-only and the partition's time limit, checked when the
    profile loads (here in a dry run), with the fix in the message instead of failed jobs."""

    def dry_run(**variables):
        env = {**slurm_env, **variables}
        done = subprocess.run(
            [*SLURM_COMMAND, "--dry-run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        return done.returncode, done.stdout + done.stderr

    code, said = dry_run(SBATCH_ACCOUNT=OTHER_ACCOUNT)  # an account that is not the user's
    assert code != 0 and "SLURM would reject the CPU jobs" in said and "export SBATCH_ACCOUNT=" in said, said[-2000:]
    print("preflight, account refused: " + said[said.index("SLURM would reject") :][:400].replace("\n", " "))
    code, said = dry_run(NUSMOOTH_SLURM_GPU_PARTITION=SHORT_PARTITION)  # 1-minute limit, no cap given
    assert code != 0 and f"NUSMOOTH_SLURM_GPU_MAX_RUNTIME={SHORT_LIMIT_MINUTES}" in said, said[-2000:]
    print(f"preflight, time limit: {said.strip().splitlines()[-1][:300]}")


ASSIGNED = "(SLURM_JOB_GPUS|SLURM_STEP_GPUS|CUDA_VISIBLE_DEVICES)"


def test_unusable_gpu_stops_the_job_at_once(cluster):
    """A job that SLURM gave a GPU which torch cannot use (here: the node's stand-in device) stops
    with the cause and the fix, unless the opt-out is set; it never runs on the CPU unnoticed."""
    probe = (
        "import sys; sys.path[:0] = ['workflow_scripts']; from types import SimpleNamespace; "
        "from stage import compute_device; compute_device(SimpleNamespace(threads=1, resources={'gpu': 1}))"
    )
    command = [
        "srun",
        "--gpus=1",
        f"--partition={GPU_PARTITION}",
        f"--account={ACCOUNT}",
        "--time=2",
        sys.executable,
        "-c",
        probe,
    ]
    env = {key: value for key, value in cluster.env().items() if key != ALLOW_CPU_VARIABLE}
    stopped = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert stopped.returncode != 0, stopped.stdout + stopped.stderr
    # SLURM names the GPU in SLURM_JOB_GPUS (batch jobs) or SLURM_STEP_GPUS / CUDA_VISIBLE_DEVICES (steps).
    assert "GpuUnusableError" in stopped.stderr and re.search(
        rf"this job was assigned a GPU \({ASSIGNED}=", stopped.stderr
    ), stopped.stderr
    print("GPU guard: " + next(line for line in stopped.stderr.splitlines() if "GpuUnusableError" in line)[:400])
    allowed = subprocess.run(
        command, cwd=REPO, env={**env, ALLOW_CPU_VARIABLE: "1"}, capture_output=True, text=True, timeout=180
    )
    assert allowed.returncode == 0 and re.search(rf"device=cpu \(assigned GPU: {ASSIGNED}=", allowed.stdout), (
        allowed.stdout + allowed.stderr
    )


# optimize_sigma work in sub-epochs of about SUB_EPOCH_CPU_SECONDS (2-core x86 runner), resumable at
# each; how many is sized from the machine's current speed (timeout_sub_epochs).
TIMEOUT_SIGMA = {"inits": [0.25, 0.5], "n_train": 4, "train_points": 320, "batch_size": 16}
SUB_EPOCH_CPU_SECONDS = 2.7
TIMEOUT_WALL_SECONDS = 240  # about 4 one-minute attempts: the first is sure to time out
TIMEOUT_TARGET = "results/sigma/mnist5k/init_0.25/snapshots.pt"
TIMEOUT_RETRIES = 15


def timeout_sub_epochs(workdir: Path) -> int:
    """Sub-epochs that take about TIMEOUT_WALL_SECONDS at the CPU share a job gets on this machine
    now (the clean run's train_base: CPU seconds per wall second, from its benchmark file). A fixed
    amount of work would either finish within the minute on an idle machine or need a dozen
    attempts on a loaded one (CI runners and shared machines differ by 10x)."""
    header, values = (
        line.split("\t")
        for line in (workdir / "benchmarks/results/train_base/mnist5k.tsv").read_text().splitlines()[:2]
    )
    row = dict(zip(header, values))
    share = float(row["cpu_time"]) / float(row["s"])
    return max(12, min(100, math.ceil(TIMEOUT_WALL_SECONDS * share / SUB_EPOCH_CPU_SECONDS)))


FINISHED_INSIDE = "Finished jobid: 0 (Rule: optimize_sigma)"


def slurm_log(workdir: Path, job) -> str:
    """What the SLURM executor wrote for one job of the timeout test (one file per SLURM job id)."""
    path = workdir / f".snakemake/slurm_logs/rule_optimize_sigma/mnist5k_0.25/{job.job_id}.log"
    return path.read_text(errors="replace") if path.is_file() else ""


def test_timeout_is_retried_within_the_limit_and_resumes(cluster, slurm_env, clean_run, tmp_path):
    """An optimize_sigma job longer than its partition's 1-minute limit: SLURM ends it (TIMEOUT), the
    profile resubmits it with the same capped limit and more memory, it resumes from its resume
    file, and its outputs equal those of an uninterrupted local run."""
    clean_run.finish()  # its prepared data and base model are reused: only optimize_sigma runs
    config = yaml.safe_load((REPO / "tests/config_tiny.yaml").read_text())
    sub_epochs = timeout_sub_epochs(clean_run.workdir)
    config["datasets"]["mnist5k"]["sigma"] = {**TIMEOUT_SIGMA, "sub_epochs": sub_epochs}
    runs = {}
    for name in ("reference", "slurm"):
        workdir = shutil.copytree(clean_run.workdir, tmp_path / name, ignore=shutil.ignore_patterns("locks")).resolve()
        (workdir / "timeout.yaml").write_text(yaml.safe_dump(config))
        runs[name] = workdir
    reference = Background(
        [str(SNAKEMAKE), TIMEOUT_TARGET, "--cores", "2", "--resources", "gpu=1", "--configfile", "timeout.yaml"],
        runs["reference"],
        {**os.environ, "PATH": slurm_env["PATH"]},
        "snakemake.out",
    )
    env = {
        **slurm_env,
        "NUSMOOTH_SLURM_GPU_PARTITION": SHORT_PARTITION,
        "NUSMOOTH_SLURM_GPU_MAX_RUNTIME": str(SHORT_LIMIT_MINUTES),
    }
    # More retries than the profile's one: how much a 1-minute attempt gets done depends on the load
    # of this shared machine; every attempt resumes, so each one brings the job closer to its end.
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
    slurm = Background(command, runs["slurm"], env, "snakemake.out")
    try:
        print(
            f"optimize_sigma ({sub_epochs} sub-epochs) through the 1-minute partition: {slurm.finish(timeout=1200):.0f} s"
        )
        reference.finish(timeout=1200)
    finally:
        slurm.stop()
        reference.stop()
    jobs = jobs_of(cluster, runs["slurm"])
    assert [job.rule for job in jobs] == ["optimize_sigma"] * len(jobs), jobs
    states = [job.state for job in jobs]
    print(
        f"optimize_sigma attempts: {states}; time limits (min) {[j.time_limit_minutes for j in jobs]}; "
        f"memory (MB) {[j.requested_mb for j in jobs]}"
    )
    assert states[-1] == "COMPLETED" and len(states) >= 2 and set(states[:-1]) == {"TIMEOUT"}, jobs
    for attempt, job in enumerate(jobs, start=1):
        assert (
            job.partition == SHORT_PARTITION and job.time_limit_minutes == SHORT_LIMIT_MINUTES
        ), job  # capped, not doubled
        assert job.requested_mb == 16000 * attempt, job  # memory scales on retry
    log = (runs["slurm"] / "logs/optimize_sigma/mnist5k/init_0.25.log").read_text()
    finished_at_the_limit = [job for job in jobs[:-1] if FINISHED_INSIDE in slurm_log(runs["slurm"], job)]
    if finished_at_the_limit:
        # An attempt finished the rule in the last seconds of its minute and SLURM still ended it
        # (TIMEOUT): Snakemake counts it as failed, and the next attempt, with the resume file already
        # removed by the finished one, starts over. The rule log is rewritten by every attempt, so
        # it shows only that last run; the outputs are still compared with the reference below.
        print(f"attempt {finished_at_the_limit[0].job_id} finished inside its job at the limit")
    else:
        assert "resuming from results/sigma/mnist5k/init_0.25/resume.pt" in log, log[-3000:]
    assert not (runs["slurm"] / "results/sigma/mnist5k/init_0.25/resume.pt").exists()
    assert differences(runs["reference"], runs["slurm"]) == []
