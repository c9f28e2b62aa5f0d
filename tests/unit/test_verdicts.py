"""Verdicts as ranges: labels from a band, contiguous runs over a grid, and the sentence that states them."""

import numpy as np
import pytest

from nusmooth.verdicts import (
    A_WINS,
    B_WINS,
    CANNOT_TELL,
    NOTHING,
    VerdictRange,
    band_verdict_ranges,
    band_verdicts,
    describe_verdicts,
    verdict_ranges,
)

#: A grid like Figure 1's area view: the learned sigma ahead at low areas, the comparator in a zone
#: beyond, nothing certified past both ceilings.
THRESHOLDS = np.array([-1900.0, -1300.0, -800.0, -300.0, 39.0, 70.0, 102.0, 200.0, 800.0, 900.0])
BAND_LOWER = np.array([0.35, 0.39, 0.48, 0.63, -0.09, -0.08, -0.05, -0.04, -0.004, -0.004])
BAND_UPPER = np.array([0.41, 0.45, 0.54, 0.69, -0.01, -0.02, -0.01, 0.01, 0.004, 0.004])
CERTIFIED_ANY = np.array([True] * 8 + [False] * 2)


def test_band_verdicts_read_the_sign_of_the_band_and_nothing_where_nothing_is_certified():
    verdicts = band_verdicts(BAND_LOWER, BAND_UPPER, CERTIFIED_ANY)
    assert verdicts.tolist() == [A_WINS] * 4 + [B_WINS] * 3 + [CANNOT_TELL] + [NOTHING] * 2
    # A band touching 0 tells nothing; nothing certified is reported as such even where the band is one-sided.
    assert band_verdicts([0.0, 0.1], [0.2, 0.3], [True, False]).tolist() == [CANNOT_TELL, NOTHING]
    with pytest.raises(ValueError, match="booleans"):
        band_verdicts(BAND_LOWER, BAND_UPPER, CERTIFIED_ANY.astype(int))
    with pytest.raises(ValueError, match="NaN"):
        band_verdicts([np.nan], [0.1], [True])


def test_ranges_are_the_contiguous_runs_of_the_grid():
    ranges = band_verdict_ranges(THRESHOLDS, BAND_LOWER, BAND_UPPER, CERTIFIED_ANY)
    assert ranges == [
        VerdictRange(A_WINS, -1900.0, -300.0, 4),
        VerdictRange(B_WINS, 39.0, 102.0, 3),
        VerdictRange(CANNOT_TELL, 200.0, 200.0, 1),
        VerdictRange(NOTHING, 800.0, 900.0, 2),
    ]
    split = verdict_ranges([0.0, 0.1, 0.2, 0.3], [A_WINS, CANNOT_TELL, A_WINS, A_WINS])
    assert [(r.verdict, r.first, r.last) for r in split] == [
        (A_WINS, 0.0, 0.0),
        (CANNOT_TELL, 0.1, 0.1),
        (A_WINS, 0.2, 0.3),
    ]


@pytest.mark.parametrize(
    "thresholds,verdicts,message",
    [
        ([0.0, 0.2, 0.1], [A_WINS] * 3, "strictly ascending"),
        ([0.0, 0.1], [A_WINS], "one length"),
        ([0.0, 0.1], [A_WINS, "learned wins"], "unknown verdict"),
    ],
)
def test_ranges_refuse_what_is_not_a_grid_of_verdicts(thresholds, verdicts, message):
    with pytest.raises(ValueError, match=message):
        verdict_ranges(thresholds, verdicts)


def test_the_verdict_in_plain_words():
    ranges = band_verdict_ranges(THRESHOLDS, BAND_LOWER, BAND_UPPER, CERTIFIED_ANY)
    assert describe_verdicts(ranges, "learned", "the comparator", "O_CA") == (
        "learned wins for O_CA from -1900 to -300; the comparator wins from 39 to 102; "
        "neither certifies any test point from 800 to 900; no difference can be told elsewhere"
    )
    without_nothing = [r for r in ranges if r.verdict != NOTHING]
    assert describe_verdicts(without_nothing, "learned", "the comparator", "O_CA") == (
        "learned wins for O_CA from -1900 to -300; the comparator wins from 39 to 102; "
        "no difference can be told elsewhere"
    )


def test_the_plain_words_of_single_thresholds_split_ranges_and_undecided_grids():
    ranges = verdict_ranges([0.0, 0.25, 0.5, 0.75], [B_WINS, A_WINS, CANNOT_TELL, A_WINS])
    assert describe_verdicts(ranges, "learned", "isotropic", "the l2 radius", number_format="{:.2f}") == (
        "learned wins for the l2 radius at 0.25 and at 0.75; isotropic wins at 0.00; no difference can be told elsewhere"
    )
    undecided = verdict_ranges([-900.0, -600.0], [CANNOT_TELL, CANNOT_TELL])
    assert describe_verdicts(undecided, "learned", "isotropic", "O_CA") == (
        "no difference can be told for O_CA from -900 to -600"
    )
    fronts = verdict_ranges([-500.0, -400.0], [A_WINS, NOTHING])
    assert describe_verdicts(fronts, "learned", "isotropic", "mean O_CA", nothing="no front member reaches") == (
        "learned wins for mean O_CA at -500; no front member reaches at -400"
    )
    with pytest.raises(ValueError, match="no verdict ranges"):
        describe_verdicts([], "learned", "isotropic", "O_CA")


def test_a_threshold_that_rounds_to_zero_is_written_without_a_minus():
    ranges = verdict_ranges([-1000.0, -0.3], [A_WINS, A_WINS])
    assert describe_verdicts(ranges, "learned", "isotropic", "O_CA", number_format="{:.0f}") == (
        "learned wins for O_CA from -1000 to 0"
    )
    assert describe_verdicts(verdict_ranges([-0.0], [B_WINS]), "learned", "isotropic", "O_CA") == (
        "isotropic wins for O_CA at 0"
    )
