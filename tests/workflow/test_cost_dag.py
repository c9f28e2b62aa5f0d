"""nusmooth.cost against the real DAG: the GPU jobs it counts for each figure of the paper preset are
the jobs Snakemake plans (dry runs), and the SLURM profile asks each of them for the runtime that
nusmooth.cost computes from the job's own work, capped by the partition limit. The envelope's test
jobs are planned only once its validation choice exists (a checkpoint): a dry run cannot list them,
and nusmooth.cost counts them apart (cost.chosen_on_validation), as a bound."""

import os
import re

import pytest
import yaml

from support import REPO
from support.workflow import paper_dry_run, planned_jobs

from nusmooth import cost

PRESET = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())


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
    done = paper_dry_run(tmp_path, f"figures/{figure}.pdf")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert gpu_jobs(done.stdout) == counted(figure)


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
            if not cost.chosen_on_validation(job):  # planned only once the envelope's choice exists
                expected.add((job.rule, ", ".join(f"{k}={v}" for k, v in job.wildcards)))
    done = paper_dry_run(tmp_path, "all", datasets=datasets)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert gpu_jobs(done.stdout) == expected
    assert {rule for rule, _ in expected} == {
        "train_base",
        "optimize_sigma",
        "evaluate_sigma",
        "certify",
        "certify_envelope",
    }


def test_slurm_profile_asks_each_job_for_its_own_runtime(paper_dag):
    """Every GPU job of the whole paper DAG is planned and counted, and asks SLURM for the minutes
    nusmooth.cost gives its work (capped at NUSMOOTH_SLURM_GPU_MAX_RUNTIME=1000, see paper_dag)."""
    output = paper_dag.stdout
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
    done = paper_dry_run(tmp_path, "all", "--profile", str(REPO / "profiles" / "slurm"), env=env)
    assert done.returncode != 0
    assert (
        "cannot resume" in done.stdout + done.stderr and "NUSMOOTH_SLURM_GPU_MAX_RUNTIME" in done.stdout + done.stderr
    )
