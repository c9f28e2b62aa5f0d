"""Reported numbers from per-point records: counted by hand, equal to the point-estimate summaries,
paired on point ids, and refused when the records cannot support them."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from support import REPO

from nusmooth.records import certified_accuracy_curve, clean_accuracy_and_area
from nusmooth.bands import paired_band
from nusmooth.evidence import curve_with_band, front_point_with_intervals, paired_difference_band, paired_differences
from nusmooth.intervals import paired_difference_interval, proportion_interval


def records(areas, correct, ids=None, radii=None):
    """A record table; an abstention is a point with area -inf (radius 0) and correct 0."""
    areas = np.asarray(areas, dtype=np.float64)
    return pd.DataFrame(
        {
            "idx": np.arange(len(areas)) if ids is None else ids,
            "correct": np.asarray(correct, dtype=int),
            "certified_area": areas,
            "l2_radius": np.where(np.isfinite(areas), np.exp(areas / 100), 0.0) if radii is None else radii,
        }
    )


HAND = records(
    # idx:  0     1      2     3        4     5     6
    [-700.0, -650.0, -900.0, -np.inf, -820.0, -750.0, -600.0],
    [1, 1, 1, 0, 0, 1, 1],  # point 3 abstained, point 4 certified but wrong
)


def test_curve_counts_certified_correct_points_at_each_threshold():
    curve = curve_with_band(HAND, [-np.inf, -900.0, -750.0, -700.0, -500.0])
    # Correct areas: -700, -650, -900, -750, -600. The wrong point's -820 never counts.
    np.testing.assert_array_equal(curve["certified"], [5, 5, 4, 3, 0])
    assert (curve["points"] == 7).all()
    np.testing.assert_allclose(curve["certified_accuracy"], np.array([5, 5, 4, 3, 0]) / 7)
    _, lower, upper = proportion_interval(np.array([5, 5, 4, 3, 0]), 7)
    np.testing.assert_allclose(curve["lower"], lower)
    np.testing.assert_allclose(curve["upper"], upper)
    assert (curve["lower"] <= curve["certified_accuracy"]).all() and (
        curve["certified_accuracy"] <= curve["upper"]
    ).all()


def test_curve_and_front_point_agree_with_the_point_estimates_they_extend():
    rng = np.random.default_rng(0)
    areas = -800 + 100 * np.log(rng.random(200))
    correct = rng.random(200) < 0.8
    areas[rng.random(200) < 0.1] = -np.inf  # abstentions ...
    correct &= np.isfinite(areas)  # ... are never correct
    table = records(areas, correct)
    thresholds = np.concatenate([[-np.inf], np.linspace(-1100, -700, 9)])
    curve = curve_with_band(table, thresholds)
    np.testing.assert_allclose(curve["certified_accuracy"], certified_accuracy_curve(table, thresholds))
    point = front_point_with_intervals(table)
    accuracy, mean_area = clean_accuracy_and_area(table)
    assert point["accuracy"] == pytest.approx(accuracy) and point["mean_area"] == pytest.approx(mean_area)
    assert point["accuracy_lower"] < accuracy < point["accuracy_upper"]
    assert point["mean_area_lower"] < mean_area < point["mean_area_upper"]
    assert front_point_with_intervals(table) == point, "the same records must give the same intervals"


def test_l2_curve_starts_at_the_accuracy_and_ignores_wrong_points():
    radii = [0.30, 0.45, 0.10, 0.0, 0.90, 0.25, 0.60]  # point 3 abstained (0), point 4 wrong (0.90)
    table = records(HAND["certified_area"], HAND["correct"], radii=radii)
    curve = curve_with_band(table, [0.0, 0.25, 0.5, 0.7], metric="l2_radius")
    assert curve["certified"].tolist() == [5, 4, 1, 0]


def test_front_point_with_nothing_correct_has_no_mean_area():
    point = front_point_with_intervals(records([-np.inf, -800.0], [0, 0]))
    assert point["accuracy"] == 0 and point["accuracy_lower"] == 0 and point["accuracy_upper"] > 0
    assert all(math.isnan(point[key]) for key in ("mean_area", "mean_area_lower", "mean_area_upper"))


def test_paired_differences_pair_points_by_id_not_by_row():
    rng = np.random.default_rng(1)
    a = records(-800 + 50 * rng.standard_normal(60), rng.random(60) < 0.8, ids=np.arange(100, 160))
    b = records(-820 + 50 * rng.standard_normal(60), rng.random(60) < 0.7, ids=np.arange(100, 160))
    thresholds = [-np.inf, -850.0, -800.0]
    expected = paired_differences(a, b, thresholds)
    shuffled = paired_differences(a, b.sample(frac=1.0, random_state=0), thresholds)
    pd.testing.assert_frame_equal(expected, shuffled)
    # By hand at -850: certified correct in each, then the paired interval of those booleans.
    in_a = a["correct"].astype(bool) & (a["certified_area"] >= -850)
    in_b = b["correct"].astype(bool) & (b["certified_area"] >= -850)
    difference, lower, upper = paired_difference_interval(in_a.to_numpy(), in_b.to_numpy())
    row = expected.iloc[1]
    assert row["difference"] == pytest.approx(difference) and (row["lower"], row["upper"]) == pytest.approx(
        (lower, upper)
    )
    assert row["accuracy_a"] - row["accuracy_b"] == pytest.approx(difference)
    assert row["only_a"] == int((in_a & ~in_b).sum()) and row["only_b"] == int((~in_a & in_b).sum())


def test_paired_difference_band_adds_the_simultaneous_band_to_the_differences():
    rng = np.random.default_rng(2)
    a = records(-800 + 50 * rng.standard_normal(120), rng.random(120) < 0.8)
    b = records(-820 + 50 * rng.standard_normal(120), rng.random(120) < 0.7)
    thresholds = [-np.inf, -900.0, -850.0, -800.0, -750.0, -700.0]
    table = paired_difference_band(a, b, thresholds)
    pd.testing.assert_frame_equal(
        table.drop(columns=["band_lower", "band_upper"]), paired_differences(a, b, thresholds)
    )
    certified = [
        (
            r["correct"].to_numpy(dtype=bool)[None, :]
            & (r["certified_area"].to_numpy()[None, :] >= np.array(thresholds)[:, None])
        )
        for r in (a, b)
    ]
    band = paired_band(*certified)
    np.testing.assert_array_equal(table["band_lower"], band.band_lower)
    np.testing.assert_array_equal(table["band_upper"], band.band_upper)
    assert (table["band_lower"] < table["lower"]).all() and (table["upper"] < table["band_upper"]).all()


def test_paired_differences_refuse_records_of_different_points():
    a = records([-800.0, -700.0, -650.0], [1, 1, 0])
    b = records([-800.0, -700.0, -650.0], [1, 0, 1], ids=[0, 1, 7])
    with pytest.raises(
        ValueError,
        match=r"same test points.*1 point\(s\) are only in records_a \(e\.g\. \[2\]\).*only in records_b \(e\.g\. \[7\]\)",
    ):
        paired_differences(a, b, [-np.inf])


@pytest.mark.parametrize(
    "table,message",
    [
        (HAND.drop(columns="l2_radius"), r"lack the column\(s\) \['l2_radius'\]"),
        (pd.concat([HAND, HAND.iloc[:1]]), r"more than once \(ids \[0\]\)"),
        (HAND.assign(correct=HAND["correct"] * 2), "0/1"),
        (HAND.assign(l2_radius=np.where(HAND["correct"] == 1, np.nan, 0.0)), "non-finite 'l2_radius'"),
    ],
)
def test_records_that_cannot_support_the_numbers_are_refused(table, message):
    with pytest.raises(ValueError, match=message):
        curve_with_band(table, [0.0], metric="l2_radius")


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="metric must be one of"):
        curve_with_band(HAND, [0.0], metric="linf_radius")


def test_interval_modules_do_not_import_torch_or_scipy_stats():
    """Plot and table jobs import these; they must start without torch's (or scipy.stats') seconds."""
    code = (
        "import sys; import nusmooth.intervals, nusmooth.evidence, nusmooth.bands, nusmooth.verdicts, "
        "nusmooth.front_comparison"
        "; print('torch' in sys.modules, 'scipy.stats' in sys.modules)"
    )
    environment = {"PYTHONPATH": str(REPO / "workflow_scripts"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.strip() == "False False"
