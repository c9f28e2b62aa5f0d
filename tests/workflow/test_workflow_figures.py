"""End to end on the tiny config: every figure, table and the HTML report; Figure 4 only with KITTI."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TINY = REPO / "tests" / "config_tiny.yaml"


@pytest.fixture(scope="module")
def run(tiny_all):
    return tiny_all


def snakemake(workdir, *args, check=True):
    command = [
        str(SNAKEMAKE),
        *args,
        "--directory",
        str(workdir),
        "-s",
        str(REPO / "Snakefile"),
        "--configfile",
        str(TINY),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    if check and result.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def test_all_figures_and_tables(run):
    for name in ("fig1", "fig1_l2", "fig2", "fig3", "fig1_mnist5k", "regions_mnist5k", "convergence_mnist5k"):
        assert (run / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF"), name
        assert (run / "figures" / f"{name}.png").stat().st_size > 10_000, name
    for table in (
        "tables/mnist5k/fig2_front.html",
        "tables/mnist5k/certified_accuracy.html",
        "sigma_regions/mnist5k/summary.html",
    ):
        assert "<table" in (run / "results" / table).read_text()
    for table in ("certified_accuracy", "certified_accuracy_l2", "paired_differences"):
        assert {"threshold", "lower", "upper", "precision"} <= set(
            (run / f"results/tables/mnist5k/{table}.tsv").read_text().split("\n")[0].split("\t")
        )
    # Figure 4 is the KITTI figure: not built without KITTI.
    assert not (run / "figures" / "fig4.pdf").exists()


def blanket_by_definition(group) -> list[tuple]:
    """(init, sub_epoch) of the points a blanket keeps, by the definition: the first of its exact
    duplicates, and either of the maximum accuracy, or with an area above every area of greater accuracy
    and at least every area of equal accuracy (no area counts as -inf). Quadratic, on purpose plain."""
    import math

    points = [
        (row.init, row.sub_epoch, row.accuracy, -math.inf if math.isnan(row.mean_area) else row.mean_area)
        for row in group.itertuples()
    ]
    best = max(accuracy for _, _, accuracy, _ in points)
    kept = []
    for index, (init, sub, accuracy, area) in enumerate(points):
        if any((a, r) == (accuracy, area) for _, _, a, r in points[:index]):
            continue
        higher = [r for _, _, a, r in points if a > accuracy]
        level = [r for _, _, a, r in points if a == accuracy]
        if accuracy == best or (all(area > r for r in higher) and all(area >= r for r in level)):
            kept.append((init, sub))
    return kept


def test_fronts_come_from_the_sweeps(run):
    import pandas as pd

    import json

    points = pd.read_csv(run / "results/tables/mnist5k/fig2_points.tsv", sep="\t")
    validation = points[points["split"] == "val"]
    assert len(validation) == 6  # 2 constants x (2 learned snapshots + 1 isotropic)
    # On test: the fronts' members that choose_fronts certified, and nothing else.
    fronts = json.loads((run / "results/sweep/mnist5k/val_fronts.json").read_text())
    certified = {(m["kind"], m["init"], m["sub_epoch"]) for c in fronts["kinds"].values() for m in c["certified"]}
    test = points[points["split"] == "test"]
    assert set(zip(test["kind"], test["init"], test["sub_epoch"])) == certified and len(test) == len(certified)
    for _, group in validation.groupby("kind"):  # the front is chosen on validation: its most accurate point is on it
        assert group.loc[group["accuracy"] == group["accuracy"].max(), "on_val_front"].any()
    # The flagged snapshots are the blanket of each kind's validation rows, computed here apart from
    # nusmooth (its closed form), and the test rows carry the same flags: never a front of test metrics.
    expected = set()
    for kind, group in validation.groupby("kind"):
        expected |= {(kind, float(init), int(sub)) for init, sub in blanket_by_definition(group)}
    for split in ("val", "test"):
        rows = points[(points["split"] == split) & points["on_val_front"]]
        assert {
            (k, float(i), int(s)) for k, i, s in zip(rows["kind"], rows["init"], rows["sub_epoch"])
        } == expected, split
    front = pd.read_csv(run / "results/tables/mnist5k/fig2_front.tsv", sep="\t")
    assert {"val_accuracy", "test_accuracy"} <= set(front.columns)
    assert (
        "chosen by the blanket filter on the validation split"
        in (run / "results/tables/mnist5k/fig2_front.html").read_text()
    )


def test_report_is_self_contained_with_every_figure(run):
    report = (run / "report.html").read_text()
    for name in (
        "fig1.png",
        "fig1_l2.png",
        "fig2.png",
        "fig3.png",
        "fig1_mnist5k.png",
        "regions_mnist5k.png",
        "convergence_mnist5k.png",
        "fig2_front.html",
        "certified_accuracy.html",
        "paired_differences.tsv",
        "summary.html",
    ):
        assert name in report, name
    assert "Clean accuracy vs certified area" in report  # a caption was rendered
    assert "System Message" not in report, "a caption is not valid reStructuredText"
    assert "{{" not in report and "{%" not in report
    assert not re.search(r"""(src|href)=["'](?!data:|#|https?:)[^"']+\.(png|pdf|html)""", report)


def test_fig4_without_kitti_fails_clearly(run):
    """The wiring of a target's own config check (its rules: tests/unit/test_workflow_config.py)."""
    result = snakemake(run, "figures/fig4.pdf", "-n", check=False)
    assert result.returncode != 0
    assert "kitti is not configured" in result.stdout + result.stderr
