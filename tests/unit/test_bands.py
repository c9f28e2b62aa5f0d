"""Simultaneous bands over a grid of thresholds: Bonferroni's arithmetic, the paired intervals at the
corrected level, and simultaneous coverage by simulation of two methods whose curves are known."""

import math

import numpy as np
import pytest

from support.benchmark_modules import load_benchmark
from nusmooth.bands import paired_band, paired_band_from_counts, simultaneous_level
from nusmooth.intervals import paired_counts, paired_difference_from_counts
from nusmooth.verdicts import A_WINS, B_WINS, band_verdicts

harness = load_benchmark("interval_coverage")


def test_simultaneous_level_shares_the_error_among_the_thresholds():
    assert simultaneous_level(0.95, 1) == pytest.approx(0.95)
    assert simultaneous_level(0.95, 50) == pytest.approx(0.999)
    with pytest.raises(ValueError, match="at least one threshold"):
        simultaneous_level(0.95, 0)
    with pytest.raises(ValueError, match="level must lie"):
        simultaneous_level(95, 10)


def test_band_is_tango_at_the_bonferroni_level_around_the_pointwise_interval():
    rng = np.random.default_rng(0)
    cells = rng.multinomial(300, [0.6, 0.1, 0.05, 0.25], size=40).T  # 40 thresholds
    band = paired_band_from_counts(*cells)
    pointwise = paired_difference_from_counts(*cells)
    corrected = paired_difference_from_counts(*cells, level=1 - 0.05 / 40)
    np.testing.assert_array_equal(band.estimate, pointwise.estimate)
    np.testing.assert_array_equal(band.lower, pointwise.lower)
    np.testing.assert_array_equal(band.band_lower, corrected.lower)
    np.testing.assert_array_equal(band.band_upper, corrected.upper)
    assert np.all(band.band_lower < band.lower) and np.all(band.upper < band.band_upper)


def test_band_keeps_a_width_without_discordant_points_and_counts_its_grid_on_the_last_axis():
    both, neither = np.full((3, 20), 50), np.full((3, 20), 50)  # 3 grids of 20 thresholds, no discordance
    band = paired_band_from_counts(both, 0, 0, neither)
    z = -np.asarray(paired_difference_from_counts(50, 0, 0, 50, level=1 - 0.05 / 20).lower)
    assert band.band_lower.shape == (3, 20)
    np.testing.assert_allclose(band.band_upper, z)
    np.testing.assert_allclose(band.band_lower, -z)
    with pytest.raises(ValueError, match="axis of thresholds"):
        paired_band_from_counts(50, 0, 0, 50)


def test_band_from_flags_is_the_band_of_their_tables():
    rng = np.random.default_rng(1)
    certified_a = rng.random((10, 200)) < np.linspace(0.9, 0.1, 10)[:, None]
    certified_b = certified_a ^ (rng.random((10, 200)) < 0.05)
    band = paired_band(certified_a, certified_b)
    expected = paired_band_from_counts(*paired_counts(certified_a, certified_b))
    for got, want in zip(band, expected):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"shape \(thresholds, points\)"):
        paired_band(certified_a[0], certified_b[0])


def test_band_covers_every_threshold_at_once_and_its_verdicts_are_rarely_false():
    """Two methods with known curves (benchmarks/interval_coverage.py, TwoMethods): b better at low
    thresholds, a at high ones, a alone between the ceilings, neither beyond. 1,000 simulated test sets
    of 300 points on a grid of 50 thresholds: a binomial tolerance of 0.021 on a share near 0.95, while
    the pointwise intervals cover every threshold at once in only 53% of these sets (measured),
    which the test also checks, so it can tell a band from pointwise intervals."""
    method, sets, points = harness.TwoMethods(), 1000, 300
    thresholds = np.linspace(-3.0, 4.0, 50)
    curve_a, curve_b = method.curves(thresholds)
    truth = curve_a - curve_b
    assert (truth > 0).any() and (truth < 0).any() and (truth == 0).any()  # the grid sees every regime
    cells = method.tables(np.random.default_rng(2), sets, points, thresholds)
    band = paired_band_from_counts(*cells)
    tolerance = 3 * math.sqrt(0.95 * 0.05 / sets)
    covered = np.all((band.band_lower <= truth) & (truth <= band.band_upper), axis=1).mean()
    assert covered >= 0.95 - tolerance, f"simultaneous coverage {covered:.4f}"
    pointwise = np.all((band.lower <= truth) & (truth <= band.upper), axis=1).mean()
    assert pointwise < 0.8, f"pointwise intervals covered all thresholds in {pointwise:.3f} of the sets"
    verdicts = band_verdicts(band.band_lower, band.band_upper, (cells[0] + cells[1] + cells[2]) > 0)
    false_win = (((verdicts == A_WINS) & (truth <= 0)) | ((verdicts == B_WINS) & (truth >= 0))).any(axis=1).mean()
    assert false_win <= 0.05 + tolerance, f"a false win in {false_win:.4f} of the sets"
    assert (verdicts == A_WINS).any(axis=1).mean() > 0.9 and (verdicts == B_WINS).any(axis=1).mean() > 0.9
