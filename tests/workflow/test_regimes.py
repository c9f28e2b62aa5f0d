"""Training regimes, variants and replicates in the real DAG (dry runs on the session's tiny run): each
key changes exactly the jobs it should, a replicate's and a variant's data are their block's, nusmooth.cost
counts a replicate's jobs as Snakemake plans them, and docs/robustness.md is generated from a finished run.
Four dry runs and one page job (about 30 s on 2 cores)."""

import re

import pandas as pd
import yaml
from snakemake.utils import update_config

from support import REPO, copy_run
from support.workflow import TINY_CONFIG, grown, planned_jobs, snakemake

from nusmooth import cost
from nusmooth.artifacts import Fig1Result
from nusmooth.registry import FIG1_KINDS, SIGMA_KINDS
from nusmooth.robustness import paired_rows
from workflow_config import check_config

TINY = yaml.safe_load(TINY_CONFIG.read_text())
INITS = [f"{init:g}" for init in TINY["datasets"]["mnist5k"]["sigma"]["inits"]]
FIG1_INITS = [f"{init:g}" for init in TINY["datasets"]["mnist5k"]["fig1"]["inits"]]


def plan(workdir, configfile, target="all"):
    result = snakemake(workdir, target, "-n", configfile=configfile)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return planned_jobs(result.stdout), result.stdout


ENVELOPE = [f"{c:g}" for c in TINY["datasets"]["mnist5k"]["fig1"]["envelope"]["constants"]]
RACE_STAGES = len(TINY["datasets"]["mnist5k"]["sweep_eval"]["racing"]["stages"])


def validation_sweeps(dataset, inits):
    """Every racing stage but the last, then the last (evaluate_sigma on validation), of each sweep."""
    raced = {
        ("race_stage", f"dataset={dataset}, kind={k}, init={i}, stage={s}")
        for k in SIGMA_KINDS
        for i in inits
        for s in range(1, RACE_STAGES)
    }
    return raced | {
        ("evaluate_sigma", f"dataset={dataset}, kind={k}, init={i}, split=val") for k in SIGMA_KINDS for i in inits
    }


def figure_1_jobs(dataset):
    """What a replicate's Figure-1 tables need: its own training, sigma, validation sweeps (Figure 1's
    read no decision of the race), certificates of the learned vector and its AM and GM constants, and
    the envelope's validation certificates and choice (its test jobs follow the choice, a checkpoint)."""
    return {
        ("train_base", f"dataset={dataset}"),
        *(("optimize_sigma", f"dataset={dataset}, init={i}") for i in FIG1_INITS),
        *validation_sweeps(dataset, FIG1_INITS),
        *(("select_fig1_sigma", f"dataset={dataset}, init={i}") for i in FIG1_INITS),
        *(("certify", f"dataset={dataset}, init={i}, kind={k}") for i in FIG1_INITS for k in FIG1_KINDS),
        *(("certify_envelope", f"dataset={dataset}, constant={c}, split=val") for c in ENVELOPE),
        ("choose_envelope", f"dataset={dataset}"),
        ("tabulate_certified_accuracy", f"dataset={dataset}"),
    }


def test_a_replicate_runs_only_its_own_jobs_as_nusmooth_cost_counts_them(tiny_all, tmp_path):
    configfile = grown(tmp_path, lambda c: c["datasets"]["mnist5k"].update(replicates=2))
    jobs, output = plan(tiny_all, configfile)
    assert jobs == figure_1_jobs("mnist5k-r2") | {("plot_convergence", "dataset=mnist5k"), ("all", "")}
    assert "input: results/data/mnist5k/dataset.pt" in output  # its block's data, prepared once
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load(configfile.read_text()))
    check_config(config, REPO / "schemas/config.schema.yaml")
    counted = [
        job
        for job in cost.figure_jobs("mnist5k-r2", config["datasets"]["mnist5k-r2"])["fig1"]
        if not cost.chosen_on_validation(job)  # planned once the envelope's choice exists
    ]
    assert {(job.rule, ", ".join(f"{k}={v}" for k, v in job.wildcards)) for job in counted} == {
        job for job in jobs if job[0] in cost.GPU_RULES
    }


def test_noise_training_reruns_the_base_model_and_everything_after_it(tiny_all, tmp_path):
    jobs, _ = plan(tiny_all, grown(tmp_path, lambda c: c["datasets"]["mnist5k"]["model"].update(train_noise=0.25)))
    race = {("decide_race", f"dataset=mnist5k, stage={s}") for s in range(1, RACE_STAGES)}
    fronts = {("choose_fronts", "dataset=mnist5k")} | {
        ("certify_front", f"dataset=mnist5k, kind={k}") for k in SIGMA_KINDS
    }
    local = (
        "tabulate_fig2",
        "compare_fig2_fronts",
        "tabulate_sigma_learning",
        "plot_fig1_dataset",
        "find_sigma_regions",
        "plot_convergence",
    )
    assert jobs == (
        figure_1_jobs("mnist5k")
        | validation_sweeps("mnist5k", INITS)
        | race
        | fronts
        | {("optimize_sigma", f"dataset=mnist5k, init={i}") for i in INITS}
        | {(rule, "dataset=mnist5k") for rule in local}
        | {(rule, "") for rule in ("plot_fig1", "plot_fig2", "plot_fig3", "all")}
    )  # the data (prepare_data, summarize_test_split) stay


def test_a_variant_runs_its_own_branch_on_the_built_ins_data_and_the_defaults_written_out_change_nothing(
    tiny_all, tmp_path
):
    def add_variant(config):
        config["run_datasets"].append("noisy")
        config["datasets"]["noisy"] = {**TINY["datasets"]["mnist5k"], "of": "mnist5k", "model": {"train_noise": 0.25}}
        del config["datasets"]["noisy"]["split"]
        config["datasets"]["mnist5k"]["model"].update(train_noise=0)  # the paper's training, written out
        config["datasets"]["mnist5k"].update(replicates=1)

    jobs, output = plan(tiny_all, grown(tmp_path, add_variant))
    per_dataset = [wildcards for _, wildcards in jobs if wildcards]
    assert per_dataset and all(re.match(r"dataset=noisy(,|$)", w) for w in per_dataset)
    assert {rule for rule, wildcards in jobs if not wildcards} == {"plot_fig1", "plot_fig2", "plot_fig3", "all"}
    assert not {rule for rule, _ in jobs} & {"prepare_data", "summarize_test_split"}
    assert "input: results/data/mnist5k/dataset.pt" in output and "results/data/noisy" not in output


def test_the_robustness_page_is_built_from_the_run(tiny_all, tmp_path):
    run = copy_run(tiny_all, tmp_path / "run")
    built = snakemake(run, "docs/robustness.md", "--cores", "2", "--resources", "gpu=1")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert planned_jobs(built.stdout + built.stderr) == {("robustness_doc", "")}
    page = (run / "docs/robustness.md").read_text()
    # The clean row of the page is the run's own certificates, paired (every replicate: here one).
    folder = run / f"results/certify/mnist5k/fig1_init_{FIG1_INITS[0]}"
    learned, isotropic, geometric = (pd.read_csv(folder / f"{kind}.tsv", sep="\t") for kind in FIG1_KINDS)
    result = Fig1Result(
        dataset="mnist5k",
        choice={},
        learned=learned,
        isotropic=isotropic,
        geometric=geometric,
        validation=[],
        sources=[],
    )
    clean = paired_rows(result, []).iloc[0]
    assert f"r1: {clean.difference:+.2f} [{clean.lower:+.2f}, {clean.upper:+.2f}]" in page
    assert "base model trained without noise, as in the paper" in page and "(one replicate)" in page
    convergence = pd.read_csv(run / "results/convergence/mnist5k/sub_epochs.tsv", sep="\t")
    last = convergence.iloc[-1]
    assert f"{int(last.at_cap)} / {int(last.entries)}" in page and f"{last.step_budget:.2f}" in page
    for name in ("fig1_mnist5k", "convergence_mnist5k"):
        assert f"](robustness/{name}.png)" in page
        assert (run / f"docs/robustness/{name}.png").read_bytes() == (run / f"figures/{name}.png").read_bytes()
    assert "snakemake docs/robustness.md --cores 2 --resources gpu=1 --config preset=default" in page
