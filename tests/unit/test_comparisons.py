"""Figure 1's three comparators: the geometric mean, the isotropic envelope chosen on validation
records, and the learned-minus-comparator tables, bands and verdict ranges (nusmooth.selection,
nusmooth.envelope, nusmooth.comparisons), counted by hand on small records."""

import numpy as np
import pandas as pd
import pytest

from nusmooth.comparisons import Pair, accuracy_tables, compare_pairs, ranges_of
from nusmooth.envelope import (
    choice_thresholds,
    chosen_constants,
    choose_envelope,
    constants_at,
    envelope_curve,
    envelope_flags,
)
from nusmooth.evidence import paired_band_from_flags
from nusmooth.intervals import paired_difference_interval, proportion_interval
from nusmooth.selection import isotropic_counterparts
from nusmooth.verdicts import band_verdict_ranges


def records(areas, correct, radii=None, ids=None):
    areas = np.asarray(areas, dtype=float)
    radii = np.exp(areas / 100) if radii is None else radii
    ids = np.arange(len(areas)) if ids is None else ids
    return pd.DataFrame({"idx": ids, "correct": correct, "certified_area": areas, "l2_radius": radii})


LEARNED = records([-700.0, -650.0, -np.inf, -820.0, -600.0], [1, 1, 0, 1, 0], [0.30, 0.35, 0.0, 0.20, 0.40])
ISOTROPIC = records([-720.0, -np.inf, -660.0, -800.0, -610.0], [1, 0, 1, 1, 1], [0.50, 0.0, 0.60, 0.45, 0.70])
WIDE = records([-900.0, -900.0, -900.0, -900.0, -900.0], [1, 1, 1, 1, 1], [0.1] * 5)  # a small constant


def test_the_geometric_mean_keeps_the_sum_of_log_sigma_and_is_at_most_the_arithmetic_mean():
    sigma = np.array([0.1, 0.2, 0.4, 0.8])
    counterparts = isotropic_counterparts(sigma)
    assert counterparts["geometric_sigma"] == pytest.approx(np.exp(np.log(sigma).mean()), rel=1e-15)
    assert 4 * np.log(counterparts["geometric_sigma"]) == pytest.approx(np.log(sigma).sum(), rel=1e-13)
    assert counterparts["isotropic_sigma"] == pytest.approx(0.375) and counterparts["geometric_sigma"] < 0.375
    assert isotropic_counterparts(np.full(3, 0.25)) == pytest.approx({"isotropic_sigma": 0.25, "geometric_sigma": 0.25})
    with pytest.raises(ValueError, match="positive"):
        isotropic_counterparts(np.array([0.1, 0.0]))


def test_the_envelope_takes_the_best_validation_constant_at_each_threshold_ties_to_the_larger():
    validation = {
        0.1: records([-900.0, -900.0, -900.0, -900.0], [1, 1, 1, 1]),  # accurate, small areas
        0.3: records([-700.0, -700.0, -650.0, -np.inf], [1, 1, 1, 0]),
        0.5: records([-500.0, -600.0, -np.inf, -np.inf], [1, 1, 0, 0]),  # reaches furthest
    }
    choice = choose_envelope(validation, {"area": np.array([-900.0, -800.0, -620.0, -550.0, -400.0])})
    assert choice["threshold"].tolist() == [-np.inf, -900.0, -800.0, -620.0, -550.0, -400.0]  # the start first
    # counts: 0.1 -> 4 4 0 0 0 0; 0.3 -> 3 3 3 0 0 0; 0.5 -> 2 2 2 2 1 0 (the last: nobody, ties to 0.5)
    assert choice["constant"].tolist() == [0.1, 0.1, 0.3, 0.5, 0.5, 0.5]
    assert choice["val_certified"].tolist() == [4, 4, 3, 2, 1, 0]
    assert (choice["val_points"] == 4).all() and choice["val_accuracy"].tolist() == [1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    tied = choose_envelope({0.2: validation[0.1], 0.1: validation[0.1]}, {"area": np.array([-950.0])})
    assert tied["constant"].tolist() == [0.2, 0.2]
    assert chosen_constants(choice) == [0.1, 0.3, 0.5]


def test_a_table_threshold_between_two_band_thresholds_gets_a_choice_of_its_own():
    """The band grid steps from -620 to -560; the table asks for -600. Sigma 0.3 is the best at -620 but
    reaches no further than -610: choosing only on the band grid gave -600 the constant 0.3, which
    certifies nothing there."""
    validation = {
        0.3: records([-610.0, -610.0, -610.0, -np.inf], [1, 1, 1, 0]),
        0.5: records([-500.0, -550.0, -np.inf, -np.inf], [1, 1, 0, 0]),
    }
    grid = {"area": {"band": np.array([-620.0, -560.0]), "thresholds": np.array([-600.0]), "range": (-700.0, -500.0)}}
    thresholds = choice_thresholds(grid)
    assert thresholds["area"].tolist() == [-620.0, -600.0, -560.0]
    choice = choose_envelope(validation, thresholds)
    assert constants_at(choice, "area", [-620.0, -600.0, -560.0]).tolist() == [0.3, 0.5, 0.5]
    only_band = choose_envelope(validation, {"area": grid["area"]["band"]})
    assert constants_at(only_band, "area", [-600.0]).tolist() == [0.3]  # what the band grid alone gave


def test_the_envelope_is_a_step_function_of_the_threshold():
    choice = pd.DataFrame({"view": "area", "threshold": [-np.inf, -900.0, -700.0], "constant": [0.1, 0.2, 0.4]}).assign(
        val_certified=0, val_points=1, val_accuracy=0.0
    )
    at = constants_at(choice, "area", [-2000.0, -900.0, -800.0, -700.0, 50.0])
    assert at.tolist() == [0.1, 0.2, 0.2, 0.4, 0.4]
    with pytest.raises(ValueError, match="no l2_radius rows"):
        constants_at(choice, "l2_radius", [0.1])


def test_the_envelope_on_test_is_the_chosen_constants_records_threshold_by_threshold():
    choice = pd.DataFrame({"view": "area", "threshold": [-np.inf, -750.0], "constant": [0.1, 0.3]}).assign(
        val_certified=0, val_points=5, val_accuracy=0.0
    )
    test = {0.1: WIDE, 0.3: ISOTROPIC}
    thresholds, flags = envelope_flags(test, choice, "area", [-950.0, -700.0], point_ids=LEARNED["idx"])
    assert flags[0].tolist() == [True] * 5  # sigma 0.1 at -950: every point
    assert flags[1].tolist() == [False, False, True, False, True]  # sigma 0.3 at -700: areas -660 and -610
    curve = envelope_curve(test, choice, "area", [-950.0, -700.0])
    assert curve["constant"].tolist() == [0.1, 0.3] and curve["certified"].tolist() == [5, 2]
    assert curve.loc[1, ["lower", "upper"]].tolist() == pytest.approx(list(proportion_interval(2, 5)[1:]))
    with pytest.raises(ValueError, match="chose sigma 0.3 but its test certificates"):
        envelope_flags({0.1: WIDE}, choice, "area", [-700.0], point_ids=LEARNED["idx"])


def pair():
    return Pair(
        comparison="init 0.25",
        learned="L",
        records={"learned": LEARNED, "am": ISOTROPIC, "gm": LEARNED},
        labels={"learned": "L", "am": "I", "gm": "G"},
        constants={"am": 0.3, "gm": 0.2},
        ceilings={"area": -610.0, "l2_radius": 0.38},
    )


class Envelope:
    """What compare_pairs reads of an envelope: its choice and test records (artifacts.EnvelopeResult)."""

    def __init__(self):
        rows = [("area", -np.inf, 0.1), ("area", -700.0, 0.3), ("l2_radius", 0.0, 0.1), ("l2_radius", 0.3, 0.3)]
        self.choice = pd.DataFrame(rows, columns=["view", "threshold", "constant"])
        self.test = {0.1: WIDE, 0.3: ISOTROPIC}


GRIDS = {
    "area": {"thresholds": np.array([-680.0]), "band": np.array([-900.0, -800.0, -700.0, -650.0, -600.0])},
    "l2_radius": {"thresholds": np.array([0.4]), "band": np.array([0.1, 0.2, 0.3, 0.4, 0.5])},
}


def test_each_comparator_is_paired_with_the_learned_sigma_by_hand():
    compared = compare_pairs([pair()], Envelope(), GRIDS)
    differences = compared["differences"]
    assert len(differences) == 3 * 2 * 2  # comparators x views x (start, one threshold)
    row = differences[(differences["comparator"] == "am") & (differences["threshold"] == 0.4)].iloc[0]
    learned = LEARNED["correct"].to_numpy().astype(bool) & (LEARNED["l2_radius"].to_numpy() >= 0.4)
    isotropic = ISOTROPIC["correct"].to_numpy().astype(bool) & (ISOTROPIC["l2_radius"].to_numpy() >= 0.4)
    expected = paired_difference_interval(learned, isotropic)
    assert row["difference"] == pytest.approx(-0.8) and row["difference"] == pytest.approx(expected.estimate)
    assert [row["lower"], row["upper"]] == pytest.approx([expected.lower, expected.upper])
    # 4 discordant points of 5, all one way, do not exclude 0 (an exact sign test gives p = 2 / 16).
    assert row["lower"] < row["difference"] < 0 < row["upper"]
    assert (row["only_learned"], row["only_isotropic"], row["isotropic"]) == (0, 4, "I")
    gm = differences[differences["comparator"] == "gm"]
    assert (gm["difference"] == 0).all() and (gm["only_learned"] + gm["only_isotropic"] == 0).all()
    envelope = differences[(differences["comparator"] == "envelope") & (differences["view"] == "area")]
    # The start takes sigma 0.1 (all 5 correct), -680 the choice at -700: sigma 0.3.
    assert envelope["isotropic"].tolist() == ["isotropic 0.1 (envelope)", "isotropic 0.3 (envelope)"]
    assert envelope["accuracy_isotropic"].tolist() == [1.0, 0.4]


def test_verdict_ranges_are_those_of_the_band_over_the_whole_grid():
    compared = compare_pairs([pair()], Envelope(), GRIDS)
    bands, ranges = compared["bands"], compared["ranges"]
    for (comparator, view), band in bands.groupby(["comparator", "view"]):
        grid = GRIDS[view]["band"]
        assert band["threshold"].tolist() == grid.tolist()
        mine = ranges[(ranges["comparator"] == comparator) & (ranges["view"] == view)]
        certified_any = (band["accuracy_learned"] > 0) | (band["accuracy_isotropic"] > 0)
        expected = band_verdict_ranges(grid, band["band_lower"], band["band_upper"], certified_any.to_numpy())
        assert ranges_of(mine) == expected and (mine["grid"] == len(grid)).all()
        assert (mine["learned_ceiling"] == pair().ceilings[view]).all()
    am = bands[(bands["comparator"] == "am") & (bands["view"] == "area")]
    flags = [
        r["correct"].to_numpy().astype(bool)[None]
        & (r["certified_area"].to_numpy()[None] >= GRIDS["area"]["band"][:, None])
        for r in (LEARNED, ISOTROPIC)
    ]
    expected = paired_band_from_flags(GRIDS["area"]["band"], *flags)
    np.testing.assert_array_equal(am["band_lower"], expected["band_lower"])
    assert (am["band_lower"] <= am["lower"]).all()  # the band is wider than the pointwise interval


def test_accuracy_tables_hold_every_sigma_and_the_envelopes_constant():
    tables = accuracy_tables([pair()], Envelope(), GRIDS)
    area = tables["area"]
    assert area["sigma"].unique().tolist() == ["L", "I", "G", "isotropic envelope"]
    envelope = area[area["sigma"] == "isotropic envelope"]
    assert envelope["constant"].tolist() == [0.1, 0.3] and envelope["certified"].tolist() == [5, 2]
    assert area.loc[area["sigma"] == "I", "constant"].unique().tolist() == [0.3]
    learned = area[area["sigma"] == "L"]
    assert learned["certified"].tolist() == [3, 1]  # correct: idx 0, 1, 3; of those only idx 1 has area >= -680
    assert learned["constant"].isna().all()
