"""End-to-end: the tiny configuration through a real SLURM cluster started on this machine.

The workflow runs with `--profile profiles/slurm` (the repository's profile, site settings through
its environment variables) against the one-node cluster of slurm_cluster.py; the tests check SLURM's
own accounting: every job COMPLETED, GPU rules allocated gres/gpu and in the GPU partition, others
not, each with the time limit, memory and CPUs the profile asks for. Outputs must equal those of a
local run of the same configuration (the session's tiny run, support/tiny_run.py, its files of the
same target; see workflow_outputs.py for what "equal" means). A second run, of the base model, is
interrupted like Ctrl-C while it trains and rerun with the same command; it must resubmit only the
job it cut off and end with the same outputs. An optimize_sigma job that outlives its partition's
time limit times out, is retried with the same (capped) limit and more memory, resumes and ends with
the outputs of an uninterrupted run. The profile's preflight stops a run that SLURM would reject
(account, time limit), and a job given a GPU that torch cannot use stops at once.

The runs start in the background when the test session starts and these tests, which run last,
check what they recorded (slurm_level.py says why and how). Needs root (daemons, apt); installs
missing Debian packages with apt-get and fails, not skips, when that is impossible. Select with
`pytest -m slurm`.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from slurm_cluster import ACCOUNT, PARTITION
from slurm_level import (
    GPU_PARTITION,
    OTHER_ACCOUNT,
    SHORT_LIMIT_MINUTES,
    SHORT_PARTITION,
    SLURM_COMMAND,
    TIMEOUT_RESUME,
    jobs_of,
    local_rules,
)
from support.workflow_outputs import differences

from nusmooth.cost import GPU_RULES, MIN_MINUTES
from stage import ALLOW_CPU_VARIABLE
from support import REPO

pytestmark = pytest.mark.slurm


def thread_counts(workdir) -> dict[str, str]:
    """Each log's `threads=` (written by stage.run_stage) keyed by log path."""
    found = {}
    for log in sorted((workdir / "logs").rglob("*.log")):
        match = re.search(r"threads=(\d+)", log.read_text())
        found[str(log.relative_to(workdir))] = match.group(1) if match else None
    return found


def test_a_cluster_left_by_a_killed_test_run_is_replaced(slurm_level):
    """A killed test run's daemons and /etc/slurm/slurm.conf link are stopped and replaced by the next
    cluster (slurm_level.replace_a_leftover_cluster, which runs before this session's cluster starts)."""
    slurm_level.result("leftover cluster replaced")


def test_a_cluster_whose_test_still_runs_is_not_replaced(slurm_level):
    """A second test run on the machine stops, naming the first (slurm_level.keep_a_running_cluster)."""
    slurm_level.result("running cluster kept")


def test_interrupted_run_resumes_to_same_outputs(slurm_level):
    cluster, run = slurm_level.result("cluster"), slurm_level.result("interrupted run")
    assert run.first_exit_code != 0
    assert [job.rule for job in run.jobs_before if job.state.startswith("CANCELLED")] == ["train_base"], run.jobs_before
    print(f"rerun after the interruption: {run.rerun_seconds:.0f} s")
    done_before = {job.job_id for job in run.jobs_before}
    resumed = [job for job in jobs_of(cluster, run.workdir) if job.job_id not in done_before]
    assert resumed and all(job.state == "COMPLETED" for job in resumed), resumed
    # It resumed: the finished job was not redone, the cancelled one was.
    rules = [job.rule for job in resumed]
    assert "prepare_data" not in rules and rules.count("train_base") == 1, rules
    assert differences(run.reference, run.workdir) == []


def test_workflow_runs_through_slurm(slurm_level):
    cluster, clean = slurm_level.result("cluster"), slurm_level.result("clean run")
    expected = clean.expected
    assert expected.keys() & GPU_RULES and expected.keys() - GPU_RULES, expected
    print(f"uninterrupted workflow through SLURM: {clean.seconds:.0f} s")
    jobs = jobs_of(cluster, clean.workdir)
    per_rule = {}
    for job in jobs:
        per_rule[job.rule] = per_rule.get(job.rule, 0) + 1
    assert per_rule == expected, f"SLURM jobs per rule {per_rule}, DAG {expected}"
    assert not per_rule.keys() & local_rules(), "a local rule was submitted to SLURM"
    assert (clean.workdir / "figures/fig1.pdf").exists()  # plot_fig1 ran on the submit host
    asked = clean.asked
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
        for log in (clean.workdir / "logs" / rule).rglob("*.log"):
            assert re.search(rf"device=cpu \(assigned GPU: {ASSIGNED}=", log.read_text()), log
    # Same threads per job as the local run (the condition for bit-identical CPU results).
    reference = slurm_level.result("reference")
    assert thread_counts(clean.workdir) == thread_counts(reference)
    assert differences(reference, clean.workdir) == []


def test_profile_stops_before_submitting_what_slurm_would_reject(slurm_level):
    """The profile's preflight: sbatch --test-only and the partition's time limit, checked when the
    profile loads (here in a dry run), with the fix in the message instead of failed jobs."""
    slurm_level.result("cluster")

    def dry_run(**variables):
        env = {**slurm_level.slurm_env, **variables}
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


def test_unusable_gpu_stops_the_job_at_once(slurm_level):
    """A job that SLURM gave a GPU which torch cannot use (here: the node's stand-in device) stops
    with the cause and the fix, unless the opt-out is set; it never runs on the CPU unnoticed."""
    cluster = slurm_level.result("cluster")
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


FINISHED_INSIDE = "Finished jobid: 0 (Rule: optimize_sigma)"


def slurm_log(workdir, job) -> str:
    """What the SLURM executor wrote for one job of the timeout scenario (one file per SLURM job id)."""
    path = workdir / f".snakemake/slurm_logs/rule_optimize_sigma/mnist5k_0.25/{job.job_id}.log"
    return path.read_text(errors="replace") if path.is_file() else ""


def test_timeout_is_retried_within_the_limit_and_resumes(slurm_level):
    """An optimize_sigma job that outlives its partition's 1-minute limit (slurm_level stops its
    process once its first sub-epoch is saved): SLURM ends it (TIMEOUT), the profile resubmits it with
    the same capped limit and more memory, it resumes from its resume file, and its outputs equal
    those of an uninterrupted local run."""
    cluster, run = slurm_level.result("cluster"), slurm_level.result("timeout run")
    print(f"optimize_sigma through the 1-minute partition: {run.seconds:.0f} s")
    jobs = jobs_of(cluster, run.slurm)
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
    log = (run.slurm / "logs/optimize_sigma/mnist5k/init_0.25.log").read_text()
    finished_at_the_limit = [job for job in jobs[:-1] if FINISHED_INSIDE in slurm_log(run.slurm, job)]
    if finished_at_the_limit:
        # An attempt finished the rule in the last seconds of its minute and SLURM still ended it
        # (TIMEOUT): Snakemake counts it as failed, and the next attempt, with the resume file already
        # removed by the finished one, starts over. The rule log is rewritten by every attempt, so
        # it shows only that last run; the outputs are still compared with the reference below.
        print(f"attempt {finished_at_the_limit[0].job_id} finished inside its job at the limit")
    else:
        assert f"resuming from {TIMEOUT_RESUME}" in log, log[-3000:]
    assert not (run.slurm / TIMEOUT_RESUME).exists()
    assert differences(run.reference, run.slurm) == []
