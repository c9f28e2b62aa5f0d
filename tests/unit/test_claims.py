"""The rules that turn a run's numbers into verdicts on the paper's claims (nusmooth.claims), each on
cases built by hand, and section 4.2's paired rule checked statistically where the truth is known."""

import numpy as np
import pandas as pd
import pytest

from nusmooth.claims import (
    CANNOT_TELL,
    CONTRADICTS,
    MIXED,
    SUPPORTS,
    accuracy_during_learning,
    border_claim,
    curve_claim,
    front_claim,
    learning_claim,
    region_means,
    regions_claim,
)
from nusmooth.comparisons import ranges_table
from nusmooth.sigma_regions import HIGH_REGIONS, LOW_REGIONS, paper_regions
from nusmooth.verdicts import A_WINS, B_WINS, CANNOT_TELL as TELL_NOTHING, NOTHING, VerdictRange


def ranges(*found, ceiling=-100.0, comparator="envelope"):
    table = ranges_table(
        [VerdictRange(*r) for r in found],
        comparison="init 0.25",
        comparator=comparator,
        view="area",
        learned_ceiling=ceiling,
    )
    return table


def test_a_comparator_win_beyond_the_learned_ceiling_is_stated_but_not_counted():
    beyond = ranges((A_WINS, -1900.0, -300.0, 17), (B_WINS, -50.0, 100.0, 6), ceiling=-106.0)
    verdict = curve_claim(beyond, "AM", "O_CA")
    assert verdict.verdict == SUPPORTS
    assert "learned wins for O_CA from -1900 to -300; AM wins from -50 to 100" in verdict.because
    assert "ceiling -106" in verdict.because and "over 23 thresholds" in verdict.because
    within = ranges((A_WINS, -1900.0, -300.0, 17), (B_WINS, -200.0, 100.0, 8), ceiling=-106.0)
    assert curve_claim(within, "AM", "O_CA").verdict == MIXED  # the comparator's range starts below the ceiling
    against = ranges((B_WINS, -1900.0, -300.0, 17), (TELL_NOTHING, -290.0, 0.0, 5))
    assert curve_claim(against, "GM", "O_CA").verdict == CONTRADICTS
    unclear = ranges((TELL_NOTHING, -1900.0, -300.0, 17), (NOTHING, -290.0, 0.0, 5))
    assert curve_claim(unclear, "GM", "O_CA").verdict == CANNOT_TELL


def test_the_fronts_claim_reads_the_fronts_ranges():
    assert front_claim(ranges((A_WINS, -1300.0, -500.0, 9), (NOTHING, -490.0, -400.0, 3))).verdict == SUPPORTS
    mixed = front_claim(ranges((A_WINS, -1300.0, -500.0, 9), (B_WINS, -490.0, -400.0, 3)))
    assert mixed.verdict == MIXED and "the isotropic front wins from -490 to -400" in mixed.because
    assert front_claim(ranges((TELL_NOTHING, -1300.0, -400.0, 12))).verdict == CANNOT_TELL


def test_border_claim_needs_both_the_ratio_and_the_robust_region():
    assert border_claim(2.0, 1.0, 0.38, 3).verdict == SUPPORTS
    assert border_claim(0.8, 0.1, 0.38, 3).verdict == CONTRADICTS
    assert border_claim(1.2, 0.2, 0.38, 3).verdict == MIXED
    assert "2.00 times" in border_claim(2.0, 1.0, 0.38, 3).because


def test_the_four_regions_of_section_5_3_are_quarters_that_never_overlap():
    masks = paper_regions((28, 28))
    assert set(masks) == set(LOW_REGIONS) | set(HIGH_REGIONS)
    assert masks["left side"].sum() == 28 * 7 and masks["left side"][:, :7].all()
    assert masks["bottom right corner"][21:, 21:].all() and masks["bottom right corner"].sum() == 49
    assert masks["top right corner"][:7, 21:].all() and masks["top right corner"].sum() == 49
    assert masks["centre"][7:21, 7:21].all() and masks["centre"].sum() == 14 * 14
    assert np.sum([m.astype(int) for m in masks.values()], axis=0).max() == 1


def test_the_region_claim_compares_every_low_region_with_every_high_one():
    sigma = np.full((1, 28, 28), 0.3)
    sigma[0, :, :7] = 0.1  # left side low
    sigma[0, 21:, 21:] = 0.1  # bottom right low
    sigma[0, 7:21, 7:21] = 0.5  # centre high
    assert regions_claim(region_means(sigma)).verdict == SUPPORTS  # top right 0.3 is above both lows
    flipped = regions_claim(region_means(0.6 - sigma))
    assert flipped.verdict == CONTRADICTS and "0 of 4" in flipped.because
    sigma[0, :7, 21:] = 0.05  # the top right corner now lowest of all
    verdict = regions_claim(region_means(sigma))
    assert verdict.verdict == MIXED and "2 of 4" in verdict.because and "one training run" in verdict.because


def sweep(correct_by_sub_epoch, initial):
    """Validation records of a learned sweep (one row per sub-epoch and point) and of its initial constant."""
    points = len(initial)
    learned = pd.concat(
        [
            pd.DataFrame(
                {"idx": np.arange(points), "correct": c, "certified_area": np.where(c, -500.0, -np.inf)}
            ).assign(sub_epoch=s + 1, init=0.25)
            for s, c in enumerate(correct_by_sub_epoch)
        ]
    )
    start = pd.DataFrame(
        {"idx": np.arange(points), "correct": initial, "certified_area": np.where(initial, -600.0, -np.inf)}
    )
    return learned, start.assign(sub_epoch=0, init=0.25)


def test_accuracy_during_learning_by_hand():
    rng = np.random.default_rng(0)
    initial = rng.random(400) < 0.8
    same, moved = initial.copy(), initial.copy()
    moved[np.flatnonzero(~initial)[:60]] = True  # 60 more of 400 correct: +0.15
    table = accuracy_during_learning(*sweep([same, moved], initial))
    assert table["sub_epoch"].tolist() == [1, 2] and (table["points"] == 400).all()
    assert table["difference"].tolist() == pytest.approx([0.0, 0.15])
    assert table["verdict"].tolist() == ["close", "not close"]
    assert learning_claim(table).verdict == CONTRADICTS
    assert learning_claim(table.iloc[:1]).verdict == SUPPORTS
    few = accuracy_during_learning(*sweep([initial[:30]], initial[:30]))
    assert few["verdict"].tolist() == [CANNOT_TELL] and learning_claim(few).verdict == CANNOT_TELL


def test_accuracy_during_learning_pairs_only_the_points_both_certified():
    learned, start = sweep([np.ones(10, dtype=bool)], np.ones(10, dtype=bool))
    table = accuracy_during_learning(learned[learned["idx"] < 8], start)  # a raced snapshot: its first 8 points
    assert table["points"].tolist() == [8]
    with pytest.raises(ValueError, match="share no validation point"):
        accuracy_during_learning(learned, start.assign(idx=start["idx"] + 100))


def test_the_intervals_of_a_sweep_hold_together_at_95_percent():
    """Ten sub-epochs with the initial constant's true accuracy (true differences 0): in at least 95% of
    the runs every interval of the sweep covers 0 at once. Pointwise intervals would not (0.82 in this
    simulation with the same seed), so 100 runs suffice: the test allows 3 standard errors of a share
    (0.065) below 0.95, and the Bonferroni intervals cover in every run."""
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(100):
        initial = rng.random(200) < 0.7
        # 10% of the points drawn afresh at the same accuracy: discordant both ways, difference 0.
        subs = [np.where(rng.random(200) < 0.1, rng.random(200) < 0.7, initial) for _ in range(10)]
        table = accuracy_during_learning(*sweep(subs, initial))
        covered += ((table["lower"] <= 0) & (table["upper"] >= 0)).all()
    assert covered / 100 >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / 100)
