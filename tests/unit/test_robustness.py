"""nusmooth.robustness: the spread over replicates against its closed form and by simulation, the rule
across replicates in each of its cases, the grid shared by replicates, and the survival answer."""

import math

import numpy as np
import pandas as pd
import pytest

from nusmooth.registry import STRONGEST_COMPARATOR
from nusmooth.robustness import (
    LOST,
    NEITHER,
    NOT_ASSESSED,
    SURVIVES,
    across_replicates,
    area_ranges,
    common_grid,
    envelope_choice_at,
    paired_rows,
    replicate_spread,
    survival,
    threshold_verdicts,
)
from nusmooth.verdicts import A_WINS, B_WINS, CANNOT_TELL, NOTHING
from support.replicates import fig1_result, records, replicate_envelope


def test_the_spread_is_the_mean_the_range_and_students_t_interval():
    spread = replicate_spread([0.1, 0.2, 0.3])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t quantile 0.975 at 2 degrees of freedom, s = 0.1
    assert spread["replicates"] == 3 and spread["mean"] == pytest.approx(0.2)
    assert (spread["t_lower"], spread["t_upper"]) == pytest.approx((0.2 - half, 0.2 + half))
    assert (spread["min"], spread["max"]) == (0.1, 0.3)
    single = replicate_spread([0.4])
    assert single["mean"] == 0.4 and math.isnan(single["t_lower"]) and math.isnan(single["t_upper"])
    with pytest.raises(ValueError, match="one replicate"):
        replicate_spread([])


def test_the_t_interval_over_three_replicates_covers_the_mean_of_training_runs():
    """2,000 sets of k = 3 normal replicates: the 95% t-interval covers the true mean in 0.95 of them
    within 3 standard errors of a proportion at 2,000 sets (+-0.015), enough to tell it from the
    normal-quantile interval mean +- 1.96 s / sqrt(k), which covers 0.81 at k = 3."""
    draws = np.random.default_rng(0).normal(0.3, 0.05, size=(2000, 3))
    covered = [s["t_lower"] <= 0.3 <= s["t_upper"] for s in map(replicate_spread, draws)]
    assert abs(np.mean(covered) - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 2000)


def rows(differences, band_lower, band_upper, certified=True) -> pd.DataFrame:
    accuracy = 0.5 if certified else 0.0
    return pd.DataFrame(
        {
            "difference": differences,
            "band_lower": band_lower,
            "band_upper": band_upper,
            "accuracy_a": accuracy,
            "accuracy_b": accuracy,
        }
    )


@pytest.mark.parametrize(
    "table,verdict",
    [
        (rows([0.20, 0.22, 0.21], [0.15, 0.17, 0.16], [0.25, 0.27, 0.26]), A_WINS),
        (rows([-0.20, -0.22, -0.21], [-0.25, -0.27, -0.26], [-0.15, -0.17, -0.16]), B_WINS),
        # one training run's band contains 0: not every replicate shows the gain
        (rows([0.20, 0.22, 0.02], [0.15, 0.17, -0.01], [0.25, 0.27, 0.05]), CANNOT_TELL),
        # every band above 0, but the gains scatter so much that their mean over runs is not surely above 0
        (rows([0.02, 0.60, 0.03], [0.01, 0.55, 0.01], [0.04, 0.65, 0.05]), CANNOT_TELL),
        (rows([0.0, 0.0], [-0.01, -0.01], [0.01, 0.01], certified=False), NOTHING),
        (rows([0.2], [0.15], [0.25]), A_WINS),  # one replicate: its band alone, said so on the page
    ],
    ids=["learned wins", "comparator wins", "one band contains 0", "t-interval contains 0", "nothing", "k = 1"],
)
def test_the_rule_across_replicates(table, verdict):
    assert across_replicates(table)[0] == verdict


def test_survival_reads_the_area_thresholds_of_both_regimes():
    def verdicts(*labels):
        return pd.DataFrame({"threshold": [-np.inf, -1000.0, -500.0][: len(labels)], "verdict": list(labels)})

    paper = verdicts(A_WINS, A_WINS, CANNOT_TELL)
    assert survival(paper, verdicts(A_WINS, CANNOT_TELL, A_WINS)) == SURVIVES
    # a clean-accuracy win alone is not an advantage at equal certified area
    assert survival(paper, verdicts(A_WINS, CANNOT_TELL, B_WINS)) == LOST
    assert survival(verdicts(A_WINS, CANNOT_TELL), verdicts(A_WINS, CANNOT_TELL)) == NEITHER
    assert survival(None, paper) == NOT_ASSESSED and survival(paper, None) == NOT_ASSESSED


def test_replicates_are_read_at_one_grid_from_validation_and_their_bands_cover_it():
    results = [fig1_result(seed, 0.9) for seed in range(3)]
    grid = common_grid(results, [1000] * 3, alpha=0.001, count=5)
    assert len(grid) >= 3 and np.all(np.diff(grid) > 0)
    # The same grid whatever the test records say: thresholds come from validation and the sigmas only.
    shuffled = [fig1_result(seed, 0.9) for seed in range(3)]
    for result in shuffled:
        result.learned["certified_area"] = result.learned["certified_area"] + 1e6
    np.testing.assert_array_equal(common_grid(shuffled, [1000] * 3, alpha=0.001, count=5), grid)
    table = pd.concat([paired_rows(r, grid).assign(replicate=i + 1) for i, r in enumerate(results)], ignore_index=True)
    clean = table[np.isinf(table["threshold"])]
    expected = [r.learned["correct"].mean() - r.isotropic["correct"].mean() for r in results]
    np.testing.assert_allclose(clean["difference"], expected)
    assert (table["band_lower"] <= table["lower"]).all() and (table["upper"] <= table["band_upper"]).all()
    verdicts = threshold_verdicts(table)
    assert len(verdicts) == len(grid) + 1 and verdicts.iloc[0]["verdict"] == A_WINS  # clean: 0.9 vs 0.6
    assert all(r.thresholds >= 1 for r in area_ranges(verdicts))


def test_the_envelope_is_chosen_at_the_pages_own_thresholds_among_the_constants_certified_on_test():
    """The page's thresholds differ from the replicate's own: a step over the replicate's choice could
    keep a constant past its reach. Here 0.25 certifies more validation points at -1400 and none
    above -700; at -650 only 0.5 certifies, so 0.5 is taken there, and 0.12 (certified on validation
    but never chosen by the replicate, so never on test) is not a candidate whatever it scores."""
    envelope = replicate_envelope(0)
    envelope.validation[0.12] = records(np.ones(100, dtype=bool), np.full(100, -600.0))
    choice = envelope_choice_at(envelope, [-1400.0, -650.0])
    assert list(choice["threshold"]) == [-np.inf, -1400.0, -650.0]
    assert list(choice["constant"]) == [0.25, 0.25, 0.5]
    # The envelope's differences read the chosen constant's test records at each threshold.
    result = fig1_result(0, 0.9)
    table = paired_rows(result, [-1400.0, -650.0], STRONGEST_COMPARATOR, envelope)
    assert list(table["constant"]) == [0.25, 0.25, 0.5]
    for (_, row), constant in zip(table.iterrows(), [0.25, 0.25, 0.5]):
        learned = (result.learned["correct"] == 1) & (result.learned["certified_area"] >= row["threshold"])
        test = envelope.test[constant]
        other = (test["correct"] == 1) & (test["certified_area"] >= row["threshold"])
        assert row["difference"] == pytest.approx(learned.mean() - other.mean())
    with pytest.raises(ValueError, match="envelope certificates"):
        paired_rows(result, [-650.0], STRONGEST_COMPARATOR)
