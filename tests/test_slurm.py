"""End-to-end: the tiny configuration through a real SLURM cluster started on this machine.

Runs the workflow with `--profile profiles/slurm` (the repository's profile, site settings through
its environment variables) against the one-node cluster of slurm_cluster.py, then checks SLURM's
own accounting: every job COMPLETED, GPU rules allocated gres/gpu and in the GPU partition, others
not. Outputs must equal those of a local run of the same configuration (see workflow_outputs.py
for what "equal" means). A second run is interrupted like Ctrl-C in the middle and rerun with the
same command; it must resume and end with the same outputs.

Needs root (daemons, apt); installs missing Debian packages with apt-get and fails, not skips, when
that is impossible. Select with `pytest -m slurm`; about 5 minutes on 2 cores.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slurm_cluster import ACCOUNT, PARTITION, ClusterError, SlurmCluster, ensure_packages
from workflow_outputs import differences

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "config.yaml", "rules", "schemas", "workflow_scripts", "envs", "profiles", "tests/config_tiny.yaml")
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGET = "figures/fig1.pdf"
CONFIG = ["--configfile", "tests/config_tiny.yaml"]
# The README's local command, on the tiny configuration.
LOCAL_COMMAND = [str(SNAKEMAKE), TARGET, "--cores", "4", "--resources", "gpu=1", *CONFIG]
# The README's cluster command; only the first status check is made sooner than the profile's.
SLURM_COMMAND = [str(SNAKEMAKE), TARGET, "--profile", "profiles/slurm", *CONFIG, "--slurm-init-seconds-before-status-checks", "5"]
GPU_PARTITION = "gpu"
GPU_RULES = {"train_base", "optimize_sigma", "evaluate_learned_sigma", "evaluate_isotropic_sigma", "certify"}
RUN_TIMEOUT = 480  # one whole workflow run through the cluster; far above the ~2 minutes it takes


def copy_workflow(destination: Path) -> Path:
    """A private copy of the workflow, so that runs do not share results or .snakemake locks."""
    for name in WORKFLOW_FILES:
        source, target = REPO / name, destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return destination


def run_logged(command, cwd: Path, env, log: Path, timeout: float = RUN_TIMEOUT) -> None:
    with open(log, "w") as handle:
        try:
            done = subprocess.run(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(command)}` did not finish within {timeout} s; log {log}:\n{tail(log)}")
    assert done.returncode == 0, f"`{' '.join(command)}` failed ({done.returncode}); log {log}:\n{tail(log)}"


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def dry_run_counts(workdir: Path, env) -> dict[str, int]:
    """Jobs per rule that the DAG contains (Snakemake's own job-stats table of a dry run)."""
    done = subprocess.run([*SLURM_COMMAND, "--dry-run"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.split("Job stats:")[1].split("Reasons:")[0]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    counts.pop("total", None)
    counts.pop("all", None)  # no action: Snakemake finishes it locally, never a SLURM job
    return counts


def thread_counts(workdir: Path) -> dict[str, str]:
    """Each log's `threads=` (written by script_setup.start) keyed by log path."""
    found = {}
    for log in sorted((workdir / "logs").rglob("*.log")):
        match = re.search(r"threads=(\d+)", log.read_text())
        found[str(log.relative_to(workdir))] = match.group(1) if match else None
    return found


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("the SLURM end-to-end test starts daemons and installs Debian packages: run it as root (CI does)")
    try:
        ensure_packages()
    except ClusterError as error:
        pytest.fail(f"cannot install SLURM for the end-to-end test: {error}")
    try:
        with SlurmCluster(extra_partitions=(GPU_PARTITION,)) as started:
            yield started
    except ClusterError as error:
        pytest.fail(f"the test SLURM cluster failed: {error}")


@pytest.fixture(scope="module")
def slurm_env(cluster):
    env = cluster.env()
    env["PATH"] = f"{SNAKEMAKE.parent}{os.pathsep}{env['PATH']}"
    # The profile's documented site settings, exercised for real.
    env.update(SBATCH_PARTITION=PARTITION, SBATCH_ACCOUNT=ACCOUNT, NUSMOOTH_SLURM_GPU_PARTITION=GPU_PARTITION)
    env.pop("NUSMOOTH_SLURM_GPU_MODEL", None)
    return env


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("local"))
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    run_logged(LOCAL_COMMAND, workdir, env, workdir / "snakemake.out")
    return workdir


def new_jobs(cluster, before: set[str]):
    return [job for job in cluster.sacct_jobs() if job.job_id not in before]


def test_workflow_runs_through_slurm(cluster, slurm_env, local_run, tmp_path):
    workdir = copy_workflow(tmp_path / "slurm")
    expected = dry_run_counts(workdir, slurm_env)
    assert expected.keys() & GPU_RULES and expected.keys() - GPU_RULES, expected
    before = {job.job_id for job in cluster.sacct_jobs()}
    started = time.monotonic()
    run_logged(SLURM_COMMAND, workdir, slurm_env, workdir / "snakemake.out")
    print(f"workflow through SLURM: {time.monotonic() - started:.0f} s")

    jobs = new_jobs(cluster, before)
    per_rule = {}
    for job in jobs:
        per_rule[job.rule] = per_rule.get(job.rule, 0) + 1
    assert per_rule == expected, f"SLURM jobs per rule {per_rule}, DAG {expected}"
    for job in jobs:
        assert job.state == "COMPLETED", job
        assert job.account == ACCOUNT, job
        if job.rule in GPU_RULES:
            assert job.gpus == 1 and job.partition == GPU_PARTITION, job
        else:
            assert job.gpus == 0 and job.partition == PARTITION, job
    # Same threads per job as the local run (the condition for bit-identical CPU results).
    assert thread_counts(workdir) == thread_counts(local_run)
    assert differences(local_run, workdir) == []


def test_interrupted_run_resumes_to_same_outputs(cluster, slurm_env, local_run, tmp_path):
    workdir = copy_workflow(tmp_path / "interrupted")
    before = {job.job_id for job in cluster.sacct_jobs()}
    log = workdir / "snakemake.first.out"
    with open(log, "w") as handle:
        first = subprocess.Popen(SLURM_COMMAND, cwd=workdir, env=slurm_env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        # Interrupt once train_base has finished and a later job is in SLURM: one done, one running.
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (re.search(r"Finished jobid: \d+ \(Rule: train_base\)", log.read_text()) and cluster.queue()):
            assert first.poll() is None, f"the run ended before it could be interrupted:\n{tail(log)}"
            assert time.monotonic() < deadline, f"train_base never finished:\n{tail(log)}"
            time.sleep(1)
        first.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert first.wait(timeout=120) != 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
    cluster.wait_queue_empty(timeout=60)  # Snakemake cancelled the jobs it had in SLURM
    interrupted = new_jobs(cluster, before)
    assert any(job.state.startswith("CANCELLED") for job in interrupted), interrupted

    before = {job.job_id for job in cluster.sacct_jobs()}
    run_logged(SLURM_COMMAND, workdir, slurm_env, workdir / "snakemake.rerun.out")
    rerun = new_jobs(cluster, before)
    assert rerun and all(job.state == "COMPLETED" for job in rerun), rerun
    # It resumed: finished work was not redone.
    assert not {"prepare_data", "train_base"} & {job.rule for job in rerun}, rerun
    assert differences(local_run, workdir) == []
