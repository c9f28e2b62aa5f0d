"""docs/results.md generated from a finished run by the real Snakefile: only the page is built (the
run's jobs stay done), every number it shows is the run's, its images exist, and a rerun is a no-op."""

import pandas as pd
import yaml

from support import copy_run
from support.workflow import planned_jobs, snakemake

from nusmooth.artifacts import PASS_RATES
from nusmooth.pass_rates import BATCHES

DATASET = "mnist5k"
FAKE_RATES = {"forward": 2000.0, "forward_backward": 800.0, "training": 500.0}


def test_results_page_is_built_from_the_run_and_rerun_is_a_no_op(tiny_all, tmp_path):
    run = copy_run(tiny_all, tmp_path / "run")
    # The per-pass measurement takes a minute (ResNet-50 at 224 x 224); tests/unit/test_results_doc.py
    # runs it. Its output is given here, so only the page is built.
    PASS_RATES.save(
        {"machine": "test rates", "batches": BATCHES, "rates": {arch: FAKE_RATES for arch in BATCHES}},
        run / "results/cost/pass_rates.json",
    )
    built = snakemake(run, "docs/results.md", "--cores", "2", "--resources", "gpu=1")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert planned_jobs(built.stdout + built.stderr) == {("results_doc", "")}
    page = (run / "docs/results.md").read_text()
    differences = pd.read_csv(run / f"results/tables/{DATASET}/paired_differences.tsv", sep="\t")
    for row in differences.itertuples():
        assert f"{row.difference:+.2f} [{row.lower:+.2f}, {row.upper:+.2f}]" in page
    accuracy = pd.read_csv(run / f"results/tables/{DATASET}/certified_accuracy.tsv", sep="\t")
    for row in accuracy.itertuples():
        assert f"{row.certified_accuracy:.2f} [{row.lower:.2f}, {row.upper:.2f}]" in page
    for name in (f"fig1_{DATASET}", f"regions_{DATASET}", "fig1_l2", "fig2", "fig3"):
        assert f"](results/{name}.png)" in page
        assert (run / f"docs/results/{name}.png").read_bytes() == (run / f"figures/{name}.png").read_bytes()
    assert "MNIST's learned sigma is large on the black border" in page and "test rates" in page
    # Every verdict range of every comparator, in words, and a claim row per comparator.
    ranges = pd.read_csv(run / f"results/tables/{DATASET}/verdict_ranges.tsv", sep="\t")
    from nusmooth.comparisons import SHORT_NAMES, ranges_of
    from nusmooth.verdicts import describe_verdicts

    for (view, comparator), group in ranges.groupby(["view", "comparator"]):
        metric, number = {"area": ("O_CA", "{:.0f}"), "l2_radius": ("r", "{:.3g}")}[view]
        assert (
            describe_verdicts(ranges_of(group), "learned", SHORT_NAMES[comparator], metric, number_format=number)
            in page
        )
    for comparator in ("the envelope", "the arithmetic mean (AM)", "the geometric mean (GM)", "the isotropic front"):
        assert f"| {comparator} | **" in page
    assert "the accuracy stays close to its accuracy at initialization" in page
    for rule in ("train_base", "optimize_sigma", "evaluate_sigma", "certify", "certify_envelope"):
        assert f"| {rule} |" in page
    config = yaml.safe_load(page.split("```yaml\n")[1].split("```")[0])
    assert config["run_datasets"] == [DATASET] and config["datasets"][DATASET]["fig1"]["n"] == 64
    again = snakemake(run, "docs/results.md", "--cores", "2", "--resources", "gpu=1")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]
