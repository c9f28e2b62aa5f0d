"""The tiny run's reported numbers recomputed from its per-point records: the sweep metrics (Figures
2 and 4), Figure 1's tables, its three comparators (the envelope chosen from validation records only),
the verdict ranges, Figure 2's fronts compared, the accuracy during sigma learning, and the plotted
curves. What a reader can redo from the records files."""

import json

import numpy as np
import pandas as pd
import pytest

from nusmooth.records import RECORD_COLUMNS
from nusmooth.evidence import curve_with_band, paired_difference_band, paired_differences, snapshot_metrics
from nusmooth.registry import COMPARATOR_KINDS, FIG1_KINDS
from nusmooth.tables import display_grid, largest_certifiable
from nusmooth.verdicts import band_verdict_ranges

DATASET, INIT = "mnist5k", "0.25"
N, ALPHA = 64, 0.001  # tests/config_tiny.yaml: Figure 1's n and alpha
BAND = 80  # figures.band_thresholds: the schema's default (the tiny config leaves it)


def read(run, path):
    return pd.read_csv(run / path, sep="\t")


def validation_records(run):
    choice = json.loads((run / f"results/certify/{DATASET}/fig1_init_{INIT}/choice.json").read_text())
    learned = read(run, f"results/sweep/{DATASET}/learned_{INIT}/val_records.tsv.gz")
    isotropic = read(run, f"results/sweep/{DATASET}/isotropic_{INIT}/val_records.tsv.gz")
    return [learned[learned["sub_epoch"] == choice["sub_epoch"]], isotropic]


def expected_grid(run, count):
    """Figure 1's grid recomputed from validation records and the chosen sigma's ceilings only."""
    choice = json.loads((run / f"results/certify/{DATASET}/fig1_init_{INIT}/choice.json").read_text())
    ceilings = [largest_certifiable(choice, kind, N, ALPHA) for kind in FIG1_KINDS]
    return display_grid(validation_records(run), ceilings, count, band_count=BAND)


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
    l2 = differences[(differences["view"] == "l2_radius") & (differences["comparator"] == "am")]
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


def envelope(run):
    folder = run / f"results/certify/{DATASET}/envelope"
    choice = read(run, f"results/certify/{DATASET}/envelope/choice.tsv")
    return choice, folder


def test_the_envelope_is_chosen_at_every_band_and_table_threshold_from_validation_records_only(tiny_all):
    choice, folder = envelope(tiny_all)
    grid = expected_grid(tiny_all, 5)
    for view, column in (("area", "certified_area"), ("l2_radius", "l2_radius")):
        mine = choice[choice["view"] == view]
        start = -np.inf if view == "area" else 0.0
        # Every threshold of the band grid and of the tables (one between two band thresholds needs its own).
        wanted = np.unique(np.r_[grid[view]["band"], grid[view]["thresholds"]])
        np.testing.assert_array_equal(mine["threshold"], np.r_[start, wanted])
        for row in mine.itertuples():
            accuracy = {}  # the rule written out again: the most certified validation points, ties to the larger
            for path in sorted(folder.glob("sigma_*/val.tsv")):
                records = pd.read_csv(path, sep="\t")
                constant = float(path.parent.name.removeprefix("sigma_"))
                accuracy[constant] = int((records["correct"].astype(bool) & (records[column] >= row.threshold)).sum())
            best = max(accuracy.values())
            assert row.constant == max(c for c, count in accuracy.items() if count == best)
            assert row.val_certified == best
    tested = sorted(float(p.parent.name.removeprefix("sigma_")) for p in folder.glob("sigma_*/test.tsv"))
    assert tested == sorted(choice["constant"].unique())  # only the chosen constants are certified on test


def comparator_flags(run, comparator, view, thresholds):
    """(learned flags, comparator flags) on the test points, the envelope's built threshold by threshold."""
    column = {"area": "certified_area", "l2_radius": "l2_radius"}[view]
    folder = run / f"results/certify/{DATASET}/fig1_init_{INIT}"
    learned = read(run, f"results/certify/{DATASET}/fig1_init_{INIT}/learned.tsv").sort_values("idx")

    def flags(records, threshold):
        records = records.sort_values("idx")
        return records["correct"].astype(bool).to_numpy() & (records[column].to_numpy() >= threshold)

    mine = np.array([flags(learned, t) for t in thresholds])
    if comparator != "envelope":
        other = pd.read_csv(folder / f"{COMPARATOR_KINDS[comparator]}.tsv", sep="\t")
        return mine, np.array([flags(other, t) for t in thresholds])
    choice, envelope_folder = envelope(run)
    choice = choice[choice["view"] == view].sort_values("threshold")
    rows = []
    for t in thresholds:
        constant = choice.loc[choice["threshold"] <= t, "constant"].iloc[-1]
        rows.append(flags(pd.read_csv(envelope_folder / f"sigma_{constant:g}/test.tsv", sep="\t"), t))
    return mine, np.array(rows)


@pytest.mark.parametrize("comparator", ["am", "gm", "envelope"])
def test_the_verdict_ranges_are_recomputed_from_the_records(tiny_all, comparator):
    from nusmooth.evidence import paired_band_from_flags

    ranges = read(tiny_all, f"results/tables/{DATASET}/verdict_ranges.tsv")
    bands = read(tiny_all, f"results/tables/{DATASET}/paired_bands.tsv")
    grid = expected_grid(tiny_all, 5)
    for view in ("area", "l2_radius"):
        thresholds = grid[view]["band"]
        learned, other = comparator_flags(tiny_all, comparator, view, thresholds)
        band = paired_band_from_flags(thresholds, learned, other)
        mine = bands[(bands["comparator"] == comparator) & (bands["view"] == view)]
        np.testing.assert_array_equal(mine["threshold"], thresholds)
        np.testing.assert_array_equal(mine[["band_lower", "band_upper"]], band[["band_lower", "band_upper"]])
        certified_any = learned.any(axis=1) | other.any(axis=1)
        expected = band_verdict_ranges(thresholds, band["band_lower"], band["band_upper"], certified_any)
        found = ranges[(ranges["comparator"] == comparator) & (ranges["view"] == view)]
        assert [(r.first, r.last, r.thresholds) for r in found.itertuples()] == [
            (e.first, e.last, e.thresholds) for e in expected
        ]
    if comparator == "am":  # the band of two record tables, as nusmooth.evidence computes it
        learned = read(tiny_all, f"results/certify/{DATASET}/fig1_init_{INIT}/learned.tsv")
        isotropic = read(tiny_all, f"results/certify/{DATASET}/fig1_init_{INIT}/isotropic.tsv")
        direct = paired_difference_band(learned, isotropic, grid["area"]["band"], "area")
        mine = bands[(bands["comparator"] == "am") & (bands["view"] == "area")]
        np.testing.assert_array_equal(mine["band_upper"], direct["band_upper"])


def test_figure_2s_fronts_are_compared_on_their_members_test_records(tiny_all):
    from nusmooth.front_comparison import compare_fronts, front_grid

    front = read(tiny_all, f"results/tables/{DATASET}/fig2_front.tsv")
    records = pd.concat(
        [
            pd.read_csv(p, sep="\t")
            for p in sorted((tiny_all / f"results/sweep/{DATASET}").glob("*/test_records.tsv.gz"))
        ]
    )
    members = {}
    for kind in ("learned", "isotropic"):
        correct, areas = [], []
        for row in front[front["kind"] == kind].sort_values("front_position").itertuples():
            mine = records[
                (records["kind"] == kind) & (records["init"] == row.init) & (records["sub_epoch"] == row.sub_epoch)
            ]
            mine = mine.sort_values("idx")
            correct.append(mine["correct"].astype(bool).to_numpy())
            areas.append(np.where(correct[-1], mine["certified_area"], -np.inf))
        members[kind] = (np.array(correct), np.array(areas))
    grid = front_grid(front, BAND)
    expected = compare_fronts(*members["learned"], *members["isotropic"], thresholds=grid).verdicts
    verdicts = read(tiny_all, f"results/tables/{DATASET}/front_verdicts.tsv")
    np.testing.assert_array_equal(verdicts["threshold"], grid)
    words = {
        "a wins": "learned wins",
        "b wins": "comparator wins",
        "cannot tell": "cannot tell",
        "nothing to compare": "nothing to compare",
    }
    assert verdicts["verdict"].tolist() == [words[v] for v in expected["verdict"]]


def test_the_accuracy_during_learning_is_recomputed_from_the_validation_records(tiny_all):
    from nusmooth.intervals import paired_difference_from_counts, paired_counts
    from nusmooth.bands import simultaneous_level

    table = read(tiny_all, f"results/tables/{DATASET}/accuracy_during_learning.tsv")
    for init, rows in table.groupby("init"):
        learned = read(tiny_all, f"results/sweep/{DATASET}/learned_{init:g}/val_records.tsv.gz")
        start = read(tiny_all, f"results/sweep/{DATASET}/isotropic_{init:g}/val_records.tsv.gz").sort_values("idx")
        flags = np.array(
            [learned[learned["sub_epoch"] == s].sort_values("idx")["correct"].astype(bool) for s in rows["sub_epoch"]]
        )
        initial = start["correct"].astype(bool).to_numpy()
        cells = paired_counts(flags, np.broadcast_to(initial, flags.shape))
        _, lower, upper = paired_difference_from_counts(*cells, level=simultaneous_level(0.95, len(rows)))
        np.testing.assert_allclose(rows[["lower", "upper"]].to_numpy(), np.c_[lower, upper], rtol=0, atol=1e-12)
        assert rows["accuracy_initial"].iloc[0] == initial.mean()
