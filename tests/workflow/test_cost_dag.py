"""nusmooth.cost against the real DAG: the GPU jobs it counts for each figure of the paper preset are
the jobs Snakemake plans (dry runs), and the SLURM profile asks each of them for the runtime that
nusmooth.cost computes from the job's own work, capped by the partition limit. The envelope's test
jobs are planned only once its validation choice exists (a checkpoint): a dry run cannot list them,
and nusmooth.cost counts them apart (cost.chosen_on_validation), as a bound."""

import os
import re
import subprocess

import pytest
import yaml

from support import REPO
from support.workflow import SNAKEMAKE, planned_jobs

from nusmooth import cost

PRESET = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())
#: A dry run reads no data: paths that do not exist are enough (imagenet_block in test_presets.py).
PATHS = "datasets={imagenet: {source: {path: /nonexistent/ilsvrc}}, kitti: {source: {path: /nonexistent/kitti, split_by: frame}}}"


def dry_run(workdir, target, *extra, env=None, paths=PATHS):
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    command = [SNAKEMAKE, target, "-n", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *extra]
    done = subprocess.run(
        [*command, "--config", "preset=paper", paths], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def counted(figure: str) -> set[tuple[str, str]]:
    jobs = set()
    for name in PRESET["run_datasets"]:
        for job in cost.figure_jobs(name, PRESET["datasets"][name]).get(figure, []):
            if not cost.chosen_on_validation(job):
                jobs.add((job.rule, ", ".join(f"{k}={v}" for k, v in job.wildcards)))
    return jobs


def gpu_jobs(output: str) -> set[tuple[str, str]]:
    return {(rule, wildcards) for rule, wildcards in planned_jobs(output) if rule in cost.GPU_RULES}


@pytest.mark.parametrize("figure", ["fig1", "fig3"])
def test_each_figure_counts_the_jobs_snakemake_plans(tmp_path, figure):
    assert gpu_jobs(dry_run(tmp_path, f"figures/{figure}.pdf")) == counted(figure)


def test_the_full_sweep_counts_the_jobs_snakemake_plans(tmp_path):
    """The cost table's "before" (nusmooth.cost.FULL_SWEEP: one validation job per sweep, every candidate
    on test) is a configuration the pipeline runs: its jobs are the ones Snakemake plans for it."""
    full = yaml.safe_dump(cost.FULL_SWEEP, default_flow_style=True, width=1000).strip()
    blocks = {name: f"sweep_eval: {full}" for name in PRESET["run_datasets"]}
    blocks["imagenet"] += ", source: {path: /nonexistent/ilsvrc}"
    blocks["kitti"] += ", source: {path: /nonexistent/kitti, split_by: frame}"
    datasets = "datasets={" + ", ".join(f"{name}: {{{block}}}" for name, block in blocks.items()) + "}"
    expected = set()
    for name in PRESET["run_datasets"]:
        for job in cost.figure_jobs(name, cost.full_sweep(PRESET["datasets"][name]))["all"]:
            expected.add((job.rule, ", ".join(f"{k}={v}" for k, v in job.wildcards)))
    assert gpu_jobs(dry_run(tmp_path, "all", paths=datasets)) == expected
    assert {rule for rule, _ in expected} == {"train_base", "optimize_sigma", "evaluate_sigma", "certify"}


def test_slurm_profile_asks_each_job_for_its_own_runtime(tmp_path):
    """Every GPU job of the whole paper DAG is planned and counted, and asks SLURM for the minutes
    nusmooth.cost gives its work (capped at NUSMOOTH_SLURM_GPU_MAX_RUNTIME)."""
    env = {**os.environ, "NUSMOOTH_SLURM_SKIP_CHECK": "1", "NUSMOOTH_SLURM_GPU_MAX_RUNTIME": "1000"}
    output = dry_run(tmp_path, "all", "--profile", str(REPO / "profiles" / "slurm"), env=env)
    assert gpu_jobs(output) == counted("all")
    asked = {}
    for block in re.split(r"^\[.*\]$", output, flags=re.M):
        rule = re.search(r"^\s*rule (\w+):$", block, re.M)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        runtime = re.search(r"runtime=(\d+)", block)
        if rule and rule.group(1) in cost.GPU_RULES:
            asked[(rule.group(1), wildcards.group(1))] = int(runtime.group(1))
    expected = {}
    for name in PRESET["run_datasets"]:
        block = PRESET["datasets"][name]
        for job in cost.figure_jobs(name, block)["all"]:
            if cost.chosen_on_validation(job):
                continue
            key = (job.rule, ", ".join(f"{k}={v}" for k, v in job.wildcards))
            expected[key] = cost.job_runtime_minutes(job, name, block, limit=1000)
    assert asked == expected
    assert len(set(asked.values())) > 10, "runtimes scale with the work, not one flat request"


def test_a_partition_too_short_for_a_job_that_cannot_resume_stops_the_dry_run(tmp_path):
    env = {**os.environ, "NUSMOOTH_SLURM_SKIP_CHECK": "1", "NUSMOOTH_SLURM_GPU_MAX_RUNTIME": "20"}
    command = [SNAKEMAKE, "all", "-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    done = subprocess.run(
        [*command, "--profile", str(REPO / "profiles" / "slurm"), "--config", "preset=paper", PATHS],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode != 0
    assert (
        "cannot resume" in done.stdout + done.stderr and "NUSMOOTH_SLURM_GPU_MAX_RUNTIME" in done.stdout + done.stderr
    )
