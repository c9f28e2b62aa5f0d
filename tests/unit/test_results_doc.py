"""nusmooth.results_doc: the verdicts on the paper's claims follow the intervals, the tables carry the
numbers of the run's files, and the cost tables the counts of nusmooth.cost; nusmooth.pass_rates runs."""

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from support import REPO

from nusmooth import cost, pass_rates
from nusmooth.provenance import checkout_commit
from nusmooth.results_doc import (
    accuracy_rows,
    area_claim,
    border_claim,
    config_yaml,
    paper_cost_tables,
    pair_label,
    stage_time_rows,
    vector_stats,
)

LEARNED = "learned: init 0.25, sub-epoch 3, mean 0.43"
ISOTROPIC = "isotropic 0.43"


def differences(rows):
    """Paired rows (threshold, accuracy_learned, accuracy_isotropic, difference, lower, upper)."""
    frame = pd.DataFrame(
        rows, columns=["threshold", "accuracy_learned", "accuracy_isotropic", "difference", "lower", "upper"]
    )
    return frame.assign(learned=LEARNED, isotropic=ISOTROPIC, view="area", points=100, only_learned=3, only_isotropic=1)


def test_area_claim_reads_the_paired_intervals():
    clean = (-math.inf, 0.9, 0.8, 0.1, 0.05, 0.15)
    supports = differences([clean, (-800, 0.8, 0.7, 0.1, 0.02, 0.18), (-400, 0.6, 0.55, 0.05, -0.01, 0.11)])
    verdict = area_claim(supports)
    assert verdict.verdict == "supports"
    assert "1 of 2" in verdict.because and "O_CA >= -800: +0.10 [+0.02, +0.18]" in verdict.because
    against = differences([(-800, 0.5, 0.7, -0.2, -0.3, -0.1), (0, 0.0, 0.0, 0.0, -0.04, 0.04)])
    assert area_claim(against).verdict == "contradicts"
    assert "1 of 1" not in area_claim(against).because  # the row where neither certifies is left out
    mixed = differences([(-800, 0.8, 0.7, 0.1, 0.02, 0.18), (300, 0.0, 0.15, -0.15, -0.23, -0.08)])
    verdict = area_claim(mixed, learned_ceiling=237.0)
    assert verdict.verdict == "mixed" and "beyond the learned sigma's ceiling, 237" in verdict.because
    unclear = differences([(-800, 0.8, 0.78, 0.02, -0.03, 0.07)])
    assert area_claim(unclear).verdict == "cannot tell"
    assert area_claim(differences([(-800, 0.0, 0.0, 0.0, -0.04, 0.04)])).verdict == "cannot tell"


def test_border_claim_needs_both_the_ratio_and_the_robust_region():
    assert border_claim(2.0, 1.0, 0.38, 3).verdict == "supports"
    assert border_claim(0.8, 0.1, 0.38, 3).verdict == "contradicts"
    assert border_claim(1.2, 0.2, 0.38, 3).verdict == "mixed"
    assert "2.00 times" in border_claim(2.0, 1.0, 0.38, 3).because


def test_vector_stats_of_a_sigma_large_on_the_border():
    sigma = np.full((1, 28, 28), 0.2)
    sigma[:, :3, :] = sigma[:, -3:, :] = sigma[:, :, :3] = sigma[:, :, -3:] = 0.6
    choice = {
        "dimension": 784,
        "sum_log_sigma": float(np.log(sigma).sum()),
        "min_sigma": 0.2,
        "isotropic_sigma": float(sigma.mean()),
    }
    stats = vector_stats(sigma, choice, 1000, 0.001)
    assert stats["border_centre_ratio"] == pytest.approx(3.0) and stats["border"] == 3
    assert stats["ceiling_isotropic"] > stats["ceiling_learned"]  # arithmetic mean >= geometric mean


def test_accuracy_rows_pair_each_threshold_with_both_curves():
    table = pd.DataFrame(
        {
            "sigma": [LEARNED, ISOTROPIC],
            "threshold": [-800.0, -800.0],
            "certified_accuracy": [0.8, 0.7],
            "lower": [0.71, 0.6],
            "upper": [0.87, 0.78],
        }
    )
    rows = accuracy_rows(table, differences([(-800.0, 0.8, 0.7, 0.1, 0.02, 0.18)]), "area")
    assert rows == [
        ["init 0.25", "O_CA >= -800", "0.80 [0.71, 0.87]", "0.70 [0.60, 0.78]", "+0.10 [+0.02, +0.18]", "3 / 1"]
    ]
    assert pair_label(LEARNED) == "init 0.25"


def test_stage_rows_sum_the_jobs_work_and_seconds():
    block = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())["datasets"]["mnist"]
    jobs = [cost.Job("optimize_sigma", (("dataset", "mnist"), ("init", i))) for i in ("0.3081", "0.6162")]
    rows = stage_time_rows([(jobs[0], 100.0), (jobs[1], 300.0)], "mnist", block)
    passes = 2 * 5 * 53333 * 64
    assert rows == [["optimize_sigma", 2, "400", f"{passes:,} forward+backward", f"{passes / 400:,.0f}"]]


def test_paper_cost_tables_carry_the_counted_work():
    preset = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())
    rates = {arch: {"forward": 1000.0, "forward_backward": 500.0, "training": 250.0} for arch in pass_rates.BATCHES}
    text = paper_cost_tables(preset, rates, None)
    mnist = cost.stage_work("mnist", preset["datasets"]["mnist"])["optimize_sigma"]
    assert f"0, {mnist.forward_backward:,}, 0" in text
    assert f"| {mnist.forward_backward / 500 / 3600:,.0f} |" in text
    assert "**every dataset**" in text and "not measured" not in text
    assert "not measured" in paper_cost_tables(preset, None, None)


def test_the_pages_configuration_is_yaml_with_sorted_keys():
    text = config_yaml({"run_datasets": ["mnist"], "alpha": 0.001, "datasets": {"mnist": {"fig1": {"n": 1000}}}})
    assert yaml.safe_load(text) == {
        "run_datasets": ["mnist"],
        "alpha": 0.001,
        "datasets": {"mnist": {"fig1": {"n": 1000}}},
    }
    assert text.index("alpha") < text.index("datasets") < text.index("run_datasets")


def test_pass_rates_measure_every_kind():
    rates = pass_rates.measure("mnist_cnn", seconds=0.0, rounds=1)
    assert set(rates) == set(cost.PASS_KINDS) and all(rate > 0 for rate in rates.values())


def test_the_commit_line_ignores_the_pages_own_files_only(tmp_path):
    """Snakemake removes a job's outputs before it runs: a committed page must not mark its own
    regeneration as uncommitted, while any other change to a tracked file still does."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/results.md").write_text("old page\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "page")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "docs/results.md").unlink()  # as Snakemake does before the job
    assert checkout_commit(["docs/results.md"], cwd=tmp_path) == head
    assert checkout_commit([], cwd=tmp_path) == head + " with uncommitted changes"
    (tmp_path / "code.py").write_text("x = 2\n")
    assert checkout_commit(["docs/results.md"], cwd=tmp_path) == head + " with uncommitted changes"
