"""nusmooth.results_doc: the tables carry the numbers of the run's files (every comparator beside the
learned sigma, the semi-axes beyond the pixel box), the sizing the counts of nusmooth.cost, and the cost
tables too; nusmooth.pass_rates runs. The claims' rules: tests/unit/test_claims.py."""

import numpy as np
import pandas as pd
import pytest
import yaml

from support import REPO

from nusmooth import cost, pass_rates
from nusmooth.provenance import checkout_commit
from nusmooth.results_doc import (
    accuracy_rows,
    config_yaml,
    paper_cost_tables,
    pair_label,
    predicted_minutes,
    semi_axes_beyond_box,
    stage_time_rows,
    vector_stats,
)

LEARNED = "learned: init 0.25, sub-epoch 3, mean 0.43"


def test_vector_stats_of_a_sigma_large_on_the_border():
    sigma = np.full((1, 28, 28), 0.2)
    sigma[:, :3, :] = sigma[:, -3:, :] = sigma[:, :, :3] = sigma[:, :, -3:] = 0.6
    choice = {
        "dimension": 784,
        "sum_log_sigma": float(np.log(sigma).sum()),
        "min_sigma": 0.2,
        "isotropic_sigma": float(sigma.mean()),
        "geometric_sigma": float(np.exp(np.log(sigma).mean())),
    }
    stats = vector_stats(sigma, choice, 1000, 0.001)
    assert stats["border_centre_ratio"] == pytest.approx(3.0) and stats["border"] == 3
    assert stats["ceiling_isotropic"] > stats["ceiling_learned"]  # arithmetic mean >= geometric mean
    assert stats["ceiling_geometric"] == pytest.approx(stats["ceiling_learned"], rel=1e-12)  # the same sum log sigma
    # Phi^-1(0.001 ** (1 / 1000)) = 2.4633: 0.6 x 2.4633 > 1 on the 3-pixel border (300 of 784 pixels), 0.2 x 2.4633 < 1.
    assert stats["beyond_box_learned"] == 784 - 22 * 22 and stats["dimension"] == 784
    assert stats["beyond_box_isotropic"] == 0  # the arithmetic mean, 0.357: 0.88 < 1
    assert stats["regions"]["left side"] > stats["regions"]["centre"]


def test_semi_axes_beyond_the_box_at_the_largest_certifiable_region():
    radius = 2.4633  # Phi^-1(0.001 ** (1 / 1000)), docs/method.md
    sigma = np.array([0.40, 0.41, 1.0 / radius - 1e-4, 1.0 / radius + 1e-4])
    assert semi_axes_beyond_box(sigma, 1000, 0.001) == 2  # 0.41 and the one just above 1 / radius
    assert semi_axes_beyond_box(np.full(784, 0.527), 1000, 0.001) == 784  # 0.527 x 2.4633 = 1.30


def test_accuracy_rows_give_every_comparator_beside_the_learned_sigma():
    thresholds = [-800.0]
    table = pd.DataFrame(
        {
            "sigma": [LEARNED, "I", "G", "isotropic envelope"],
            "threshold": thresholds * 4,
            "certified_accuracy": [0.8, 0.7, 0.75, 0.78],
            "lower": [0.71, 0.6, 0.66, 0.69],
            "upper": [0.87, 0.78, 0.82, 0.85],
            "constant": [np.nan, 0.43, 0.41, 0.35],
        }
    )
    differences = pd.DataFrame(
        {
            "learned": LEARNED,
            "comparator": ["am", "gm", "envelope"],
            "isotropic": ["I", "G", "isotropic 0.35 (envelope)"],
            "view": "area",
            "threshold": thresholds * 3,
            "difference": [0.1, 0.05, 0.02],
            "lower": [0.02, -0.01, -0.03],
            "upper": [0.18, 0.11, 0.07],
        }
    )
    rows = accuracy_rows(table, differences, "area")
    assert rows == [
        [
            "init 0.25",
            "O_CA >= -800",
            "0.80 [0.71, 0.87]",
            "0.70 [0.60, 0.78]",
            "0.75 [0.66, 0.82]",
            "0.78 [0.69, 0.85] (sigma 0.35)",
            "+0.10 [+0.02, +0.18]",
            "+0.05 [-0.01, +0.11]",
            "+0.02 [-0.03, +0.07]",
        ]
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


def test_the_predicted_minutes_are_the_cost_of_every_job_at_the_rates():
    block = yaml.safe_load((REPO / "presets" / "cpu.yaml").read_text())["datasets"]["mnist"]
    report = type("Report", (), {"name": "mnist", "block": block})()
    rates = {"mnist_cnn": {"forward": 6000.0, "forward_backward": 2000.0, "training": 1000.0}}
    work = cost.figure_work("mnist", block)["all"]
    assert predicted_minutes([report, report], rates) == pytest.approx(2 * work.seconds(rates["mnist_cnn"]) / 60)
    envelope = block["fig1"]["envelope"]
    bound = len(envelope["constants"]) * (envelope["val_points"] + block["fig1"]["test_points"]) * 1100
    assert cost.stage_work("mnist", block)["certify_envelope"].forward == bound  # every constant on test: a bound


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
