"""Growing a study reruns only what changed: after the tiny run, a dry run with a grown config plans
exactly the new jobs plus the ones that aggregate over them. And the ways to name the target."""

import os
import subprocess

import pytest
import yaml

from support.workflow import REPO, SNAKEMAKE, TINY_CONFIG, grown, planned_jobs, snakemake

TINY = yaml.safe_load(TINY_CONFIG.read_text())
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def plan(workdir, configfile, target="all"):
    result = snakemake(workdir, target, "-n", configfile=configfile)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return planned_jobs(result.stdout)


def test_nothing_changed_plans_nothing(tiny_all):
    result = snakemake(tiny_all, "all", "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


def test_the_same_config_written_in_another_key_order_plans_nothing(tiny_all, tmp_path):
    assert plan(tiny_all, grown(tmp_path, lambda c: None)) == set()  # safe_dump sorts every key


#: The jobs that follow a change of any sweep's validation metrics: the fronts are chosen again, their
#: members certified on test, and Figure 2 redrawn.
FRONTS_AGAIN = {
    ("choose_fronts", "dataset=mnist5k"),
    ("certify_front", "dataset=mnist5k, kind=learned"),
    ("certify_front", "dataset=mnist5k, kind=isotropic"),
    ("tabulate_fig2", "dataset=mnist5k"),
    ("compare_fig2_fronts", "dataset=mnist5k"),
    ("plot_fig2", ""),
    ("all", ""),
}


def test_a_new_sigma_constant_runs_its_sweep_and_the_race_after_its_first_stage(tiny_all, tmp_path):
    """The new constant's sweeps run their first racing stage; the race's decision then has a new
    candidate set, so every raced sweep's later stages run again (here the last, the tiny config racing
    in two stages). The first stages of the other constants and Figure 1's sweeps (0.25, which read no
    decision) do not rerun."""
    config = grown(tmp_path, lambda c: c["datasets"]["mnist5k"]["sigma"]["inits"].append(1.0))
    assert plan(tiny_all, config) == {
        ("optimize_sigma", "dataset=mnist5k, init=1"),
        ("race_stage", "dataset=mnist5k, kind=learned, init=1, stage=1"),
        ("race_stage", "dataset=mnist5k, kind=isotropic, init=1, stage=1"),
        ("decide_race", "dataset=mnist5k, stage=1"),
        *(
            ("evaluate_sigma", f"dataset=mnist5k, kind={kind}, init={init}, split=val")
            for kind in ("learned", "isotropic")
            for init in ("0.5", "1")
        ),
        *FRONTS_AGAIN,
        ("tabulate_sigma_learning", "dataset=mnist5k"),
    }


def test_more_test_points_in_the_sweeps_rerun_only_the_fronts_test_certification(tiny_all, tmp_path):
    """Figure 1's choice and the fronts read validation metrics only, so test-side changes never reach them."""
    config = grown(tmp_path, lambda c: c["datasets"]["mnist5k"]["sweep_eval"].update(test_points=7))
    assert plan(tiny_all, config) == FRONTS_AGAIN - {("choose_fronts", "dataset=mnist5k")}


def test_a_larger_error_rate_reruns_the_decisions_and_later_stages_only(tiny_all, tmp_path):
    config = grown(tmp_path, lambda c: c["datasets"]["mnist5k"]["sweep_eval"]["racing"].update(error_rate=0.2))
    assert plan(tiny_all, config) == {
        ("decide_race", "dataset=mnist5k, stage=1"),
        *(
            ("evaluate_sigma", f"dataset=mnist5k, kind={kind}, init=0.5, split=val")
            for kind in ("learned", "isotropic")
        ),
        *FRONTS_AGAIN,
        ("tabulate_sigma_learning", "dataset=mnist5k"),  # reads the raced sweeps' validation records
    }


def test_a_new_figure_1_constant_certifies_it_and_redraws_figure_1_and_3(tiny_all, tmp_path):
    extra = next(
        i
        for i in TINY["datasets"]["mnist5k"]["sigma"]["inits"]
        if i not in TINY["datasets"]["mnist5k"]["fig1"]["inits"]
    )
    config = grown(tmp_path, lambda c: c["datasets"]["mnist5k"]["fig1"]["inits"].append(extra))
    init = f"{extra:g}"
    # Figure 1's sweeps run to the end: the new constant's last validation stage no longer reads the
    # race's decision, so it certifies every candidate; the fronts follow its metrics.
    assert plan(tiny_all, config) == {
        *(
            ("evaluate_sigma", f"dataset=mnist5k, kind={kind}, init={init}, split=val")
            for kind in ("learned", "isotropic")
        ),
        *FRONTS_AGAIN,
        ("tabulate_sigma_learning", "dataset=mnist5k"),  # reads the new constant's validation records
        ("select_fig1_sigma", f"dataset=mnist5k, init={init}"),
        ("certify", f"dataset=mnist5k, init={init}, kind=learned"),
        ("certify", f"dataset=mnist5k, init={init}, kind=isotropic"),
        ("certify", f"dataset=mnist5k, init={init}, kind=geometric"),
        # The new vector's ceilings move the band grid, so the envelope is chosen again (on validation:
        # its validation certificates are kept); its test jobs follow once the checkpoint has run.
        ("choose_envelope", "dataset=mnist5k"),
        ("plot_fig1", ""),
        ("plot_fig1_dataset", "dataset=mnist5k"),
        ("tabulate_certified_accuracy", "dataset=mnist5k"),
        ("plot_fig3", ""),
        ("find_sigma_regions", "dataset=mnist5k"),
        ("plot_convergence", "dataset=mnist5k"),
        ("all", ""),
    }


def test_a_new_envelope_constant_is_certified_on_validation_and_chosen_again(tiny_all, tmp_path):
    config = grown(tmp_path, lambda c: c["datasets"]["mnist5k"]["fig1"]["envelope"]["constants"].append(0.1))
    assert plan(tiny_all, config) == {
        ("certify_envelope", "dataset=mnist5k, constant=0.1, split=val"),
        ("choose_envelope", "dataset=mnist5k"),
        ("plot_fig1", ""),
        ("plot_fig1_dataset", "dataset=mnist5k"),
        ("tabulate_certified_accuracy", "dataset=mnist5k"),
        ("all", ""),
    }


def test_a_new_dataset_runs_its_own_branch_and_the_shared_figures(tiny_all, tmp_path):
    def add_mnist(config):
        config["run_datasets"].append("mnist")
        config["datasets"]["mnist"] = {"source": {"path": str(SHARED_MNIST)}}

    jobs = plan(tiny_all, grown(tmp_path, add_mnist))
    per_dataset = [wildcards for _, wildcards in jobs if wildcards]
    assert per_dataset and all(w == "dataset=mnist" or w.startswith("dataset=mnist,") for w in per_dataset)
    assert {rule for rule, wildcards in jobs if not wildcards} == {"plot_fig1", "plot_fig2", "plot_fig3", "all"}
    assert ("train_base", "dataset=mnist") in jobs and ("prepare_data", "dataset=mnist") in jobs


@pytest.mark.parametrize(
    "option,value,jobs",
    [
        ("region_fraction", 0.1, {("find_sigma_regions", "dataset=mnist5k")}),
        # The tables' thresholds are also where the envelope chooses its constant (on validation
        # records already there), and Figure 1 draws the envelope: no certificate is recomputed.
        (
            "table_areas",
            3,
            {
                ("tabulate_certified_accuracy", "dataset=mnist5k"),
                ("choose_envelope", "dataset=mnist5k"),
                ("plot_fig1_dataset", "dataset=mnist5k"),
                ("plot_fig1", ""),
            },
        ),
    ],
)
def test_a_figures_option_reruns_only_what_it_shapes(tiny_all, tmp_path, option, value, jobs):
    config = grown(tmp_path, lambda c: c.setdefault("figures", {}).update({option: value}))
    assert plan(tiny_all, config) == jobs | {("all", "")}


def run_in_repo(*args, cwd_dir):
    """The README's command forms, run from the repository root on a scratch working directory."""
    command = [SNAKEMAKE, "--directory", str(cwd_dir), "--configfile", str(TINY_CONFIG), "-n", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_the_habitual_order_fails_and_the_two_documented_forms_work(tmp_path):
    habitual = run_in_repo("--cores", "4", "--resources", "gpu=1", "figures/fig1.pdf", cwd_dir=tmp_path)
    assert habitual.returncode != 0
    assert "dictionary update sequence element #1 has length 1" in habitual.stdout + habitual.stderr
    for form in (
        ["figures/fig1.pdf", "--cores", "4", "--resources", "gpu=1"],
        ["--cores", "4", "--resources", "gpu=1", "--", "figures/fig1.pdf"],
    ):
        result = run_in_repo(*form, cwd_dir=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        jobs = planned_jobs(result.stdout)
        assert ("certify", "dataset=mnist5k, init=0.25, kind=learned") in jobs and ("plot_fig1", "") in jobs
        assert ("plot_fig2", "") not in jobs  # only what figures/fig1.pdf needs


def test_no_target_builds_every_figure(tmp_path):
    result = run_in_repo("--cores", "4", "--resources", "gpu=1", cwd_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = {rule for rule, _ in planned_jobs(result.stdout)}
    assert {"all", "plot_fig1", "plot_fig2", "plot_fig3", "find_sigma_regions", "tabulate_fig2"} <= jobs


def test_numbers_inside_nested_command_line_config_work(tmp_path):
    result = run_in_repo(
        "figures/fig1.pdf",
        "--config",
        "datasets={mnist5k: {sigma: {inits: [0.1, 0.25]}, fig1: {inits: [0.25]}}}",
        cwd_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("optimize_sigma", "dataset=mnist5k, init=0.25") in planned_jobs(result.stdout)
