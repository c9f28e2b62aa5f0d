"""The tiny run's reported numbers recomputed from its per-point records: the sweep metrics (Figures
2 and 4), Figure 1's tables and its plotted curves. What a reader can redo from the records files."""

import json

import numpy as np
import pandas as pd
import pytest

from nusmooth.records import RECORD_COLUMNS
from nusmooth.evidence import curve_with_band, paired_differences, snapshot_metrics
from nusmooth.tables import display_grid, largest_certifiable

DATASET, INIT = "mnist5k", "0.25"
N, ALPHA = 64, 0.001  # tests/config_tiny.yaml: Figure 1's n and alpha


def read(run, path):
    return pd.read_csv(run / path, sep="\t")


def validation_records(run):
    choice = json.loads((run / f"results/certify/{DATASET}/fig1_init_{INIT}/choice.json").read_text())
    learned = read(run, f"results/sweep/{DATASET}/learned_{INIT}/val_records.tsv.gz")
    isotropic = read(run, f"results/sweep/{DATASET}/isotropic_{INIT}/val_records.tsv.gz")
    return [learned[learned["sub_epoch"] == choice["sub_epoch"]], isotropic]


def expected_grid(run, count):
    """Figure 1's grid recomputed from validation records and the chosen sigma's ceiling only."""
    choice = json.loads((run / f"results/certify/{DATASET}/fig1_init_{INIT}/choice.json").read_text())
    ceilings = [largest_certifiable(choice, kind, N, ALPHA) for kind in ("learned", "isotropic")]
    return display_grid(validation_records(run), ceilings, count)


def test_every_sweep_metrics_row_is_recomputed_from_its_records(tiny_all):
    points = read(tiny_all, f"results/tables/{DATASET}/fig2_points.tsv")
    checked = 0
    # Each sweep's validation records (every stage's block, with the stage reached) and the test records
    # of the fronts' members; the racing stages' own blocks are parts of the former.
    sweep = tiny_all / f"results/sweep/{DATASET}"
    for path in sorted([*sweep.glob("*/val_records.tsv.gz"), *sweep.glob("*/test_records.tsv.gz")]):
        records = pd.read_csv(path, sep="\t")
        assert list(records.columns) == RECORD_COLUMNS
        for (kind, init, sub_epoch, split), rows in records.groupby(["kind", "init", "sub_epoch", "split"]):
            row = points[
                (points["kind"] == kind)
                & (points["init"] == init)
                & (points["sub_epoch"] == sub_epoch)
                & (points["split"] == split)
            ]
            assert len(row) == 1
            for key, value in snapshot_metrics(rows).items():  # exactly: the same function on the same numbers
                assert row[key].iloc[0] == value or (np.isnan(value) and np.isnan(row[key].iloc[0])), (path, key)
            checked += 1
    assert checked == len(points)


def test_certified_accuracy_tables_are_recomputed_from_the_records(tiny_all):
    folder = f"results/certify/{DATASET}/fig1_init_{INIT}"
    learned, isotropic = read(tiny_all, f"{folder}/learned.tsv"), read(tiny_all, f"{folder}/isotropic.tsv")
    count = 5  # figures.table_areas: the schema's default (the tiny config leaves it)
    table = read(tiny_all, f"results/tables/{DATASET}/certified_accuracy.tsv")
    expected = np.concatenate([[-np.inf], expected_grid(tiny_all, count)["area"]["thresholds"]])
    mine = table[table["sigma"].str.startswith("learned")]
    np.testing.assert_array_equal(mine["threshold"].to_numpy(), expected)  # thresholds from validation only
    band = curve_with_band(learned, expected, "area")
    np.testing.assert_array_equal(
        mine[["certified", "certified_accuracy", "lower", "upper"]].to_numpy(),
        band[["certified", "certified_accuracy", "lower", "upper"]].to_numpy(),
    )
    differences = read(tiny_all, f"results/tables/{DATASET}/paired_differences.tsv")
    l2 = differences[differences["view"] == "l2_radius"]
    paired = paired_differences(learned, isotropic, l2["threshold"].to_numpy(), "l2_radius")
    np.testing.assert_allclose(
        l2[["difference", "lower", "upper"]].to_numpy(),
        paired[["difference", "lower", "upper"]].to_numpy(),
        rtol=0,
        atol=1e-15,
    )
    assert (table["precision"] == "fp32").all() and (differences["precision"] == "fp32").all()


@pytest.mark.parametrize("view", ["area", "l2_radius"])
def test_figure_1_curves_are_the_records_curves_over_a_validation_range(tiny_all, view):
    from nusmooth.plotting import fig1_banded, fig1_panel_from_results

    folder = f"results/certify/{DATASET}/fig1_init_{INIT}"
    choice = json.loads((tiny_all / folder / "choice.json").read_text())
    learned = read(tiny_all, f"{folder}/learned.tsv")
    x_range = expected_grid(tiny_all, 2)[view]["range"]
    panel = dict(
        fig1_panel_from_results(
            DATASET, [{"choice": choice, "learned": learned, "isotropic": read(tiny_all, f"{folder}/isotropic.tsv")}]
        ),
        x_range=x_range,
    )
    figure = fig1_banded([panel], view, "fp32")
    ax = figure.axes[0]
    assert ax.get_xlim() == pytest.approx(x_range)
    line = ax.get_lines()[0]  # the learned curve, drawn first
    band = curve_with_band(learned, line.get_xdata(), view)
    np.testing.assert_array_equal(line.get_ydata(), band["certified_accuracy"].to_numpy())
    assert any("fp32" in text.get_text() for text in figure.texts)
