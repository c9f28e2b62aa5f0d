"""Two fronts compared with intervals: the rule on a hand-built case, its false wins by simulation, and
the whole comparison on simulated records."""

import math

import numpy as np
import pandas as pd
import pytest

from support.benchmark_modules import load_benchmark
from nusmooth.front_comparison import compare_fronts, front_area_bounds, front_verdicts
from nusmooth.intervals import mean_interval
from nusmooth.verdicts import A_WINS, B_WINS, CANNOT_TELL, NOTHING

harness = load_benchmark("interval_coverage")


def first(count: int, points: int = 100) -> np.ndarray:
    """Flags of a member correct on the first ``count`` of ``points`` points (members nest, as easy points do)."""
    return np.arange(points) < count


#: Front a: 0.9 accurate at mean area about -790, 0.5 at about -490. Front b: as accurate as a's first
#: member but at -1290, and 0.2 accurate with a wide area interval reaching up to -600.
CORRECT_A, BOUNDS_A = np.array([first(90), first(50)]), (np.array([-800.0, -500.0]), np.array([-780.0, -480.0]))
CORRECT_B, BOUNDS_B = np.array([first(90), first(20)]), (np.array([-1300.0, -900.0]), np.array([-1280.0, -600.0]))
CASES = [  # threshold, verdict, best_a, best_b
    (-1400.0, CANNOT_TELL, 0, 0),  # a's best ties b's best (the same points)
    (-1290.0, CANNOT_TELL, 0, 1),  # b's best may still reach -1290, and ties a's
    (-1000.0, A_WINS, 0, 1),  # only b's 0.2 member may reach: a's 0.9 one beats it
    (-790.0, A_WINS, 1, -1),  # a's 0.9 member no longer surely reaches; its 0.5 one beats b's 0.2, which
    # may reach -790 but not surely
    (-550.0, A_WINS, 1, -1),  # no member of b may reach: a wins by reaching
    (-490.0, CANNOT_TELL, -1, -1),  # a's 0.5 member may reach, not surely
    (-470.0, NOTHING, -1, -1),  # no member of either front may reach
]


def test_front_rule_on_a_hand_built_case():
    thresholds = [case[0] for case in CASES]
    table = front_verdicts(CORRECT_A, BOUNDS_A, CORRECT_B, BOUNDS_B, thresholds=thresholds, level=0.975)
    assert table["verdict"].tolist() == [case[1] for case in CASES]
    assert table["best_a"].tolist() == [case[2] for case in CASES]
    assert table["best_b"].tolist() == [case[3] for case in CASES]
    assert table.loc[2, "accuracy_a"] == 0.9 and table.loc[2, "accuracy_b"] == 0.2
    assert math.isnan(table.loc[5, "accuracy_a"])


def test_front_rule_is_symmetric_in_the_fronts():
    thresholds = [case[0] for case in CASES]
    forward = front_verdicts(CORRECT_A, BOUNDS_A, CORRECT_B, BOUNDS_B, thresholds=thresholds, level=0.975)
    backward = front_verdicts(CORRECT_B, BOUNDS_B, CORRECT_A, BOUNDS_A, thresholds=thresholds, level=0.975)
    swap = {A_WINS: B_WINS, B_WINS: A_WINS, CANNOT_TELL: CANNOT_TELL, NOTHING: NOTHING}
    assert backward["verdict"].tolist() == [swap[v] for v in forward["verdict"]]
    assert backward["best_a"].tolist() == forward["best_b"].tolist()


def test_front_rule_refuses_fronts_on_different_points():
    with pytest.raises(ValueError, match="same points"):
        front_verdicts(CORRECT_A, BOUNDS_A, CORRECT_B[:, :50], BOUNDS_B, thresholds=[-1000.0], level=0.975)
    with pytest.raises(ValueError, match="one \\(lower, upper\\) mean-area bound per member"):
        front_verdicts(
            CORRECT_A, BOUNDS_A, CORRECT_B, (BOUNDS_B[0][:1], BOUNDS_B[1][:1]), thresholds=[-1000.0], level=0.975
        )
    with pytest.raises(ValueError, match="non-finite area"):
        compare_fronts(
            CORRECT_A, np.full(CORRECT_A.shape, -np.inf), CORRECT_B, np.zeros(CORRECT_B.shape), thresholds=[0.0]
        )


def test_fronts_of_one_population_rarely_get_a_winner():
    """Both fronts drawn from the same population (benchmarks/interval_coverage.py, FRONT_BASE), so any
    win is false; the mean areas are given exactly, which leaves the accuracy half of the rule (its
    error budget 0.025 over the 9 pairs) to be tested here (the area half is the studentized bootstrap,
    tested in test_intervals.py, and the whole rule runs in the benchmark). 300 simulated test sets of
    300 points: a binomial tolerance of 0.038 on a share of 0.05 (0.002 measured over 1,000 sets), and
    about a second and a half."""
    exact = tuple(np.array([m.mean_area for m in harness.FRONT_BASE]) for _ in range(2))
    rng, sets, false = np.random.default_rng(4), 300, 0
    for _ in range(sets):
        (correct_a, _), (correct_b, _) = harness.draw_fronts(rng, [harness.FRONT_BASE, harness.FRONT_BASE], 300)
        verdicts = front_verdicts(correct_a, exact, correct_b, exact, thresholds=harness.FRONT_THRESHOLDS, level=0.975)[
            "verdict"
        ]
        false += bool(verdicts.isin([A_WINS, B_WINS]).any())
    assert false / sets <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / sets), f"a false win in {false} of {sets} sets"


def test_compare_fronts_finds_the_better_front_and_is_deterministic():
    """One simulated test set of 600 points where front a is better wherever either front reaches:
    a wins over most of that range and b nowhere; the same seed gives the same comparison."""
    rng = np.random.default_rng(5)
    (correct_a, areas_a), (correct_b, areas_b) = harness.draw_fronts(
        rng, [harness.FRONT_BETTER, harness.FRONT_BASE], 600
    )
    thresholds = harness.FRONT_THRESHOLDS
    comparison = compare_fronts(correct_a, areas_a, correct_b, areas_b, thresholds=thresholds, seed=7)
    verdicts = comparison.verdicts["verdict"]
    better = harness.best_accuracy_reaching(harness.FRONT_BETTER, thresholds) > harness.best_accuracy_reaching(
        harness.FRONT_BASE, thresholds
    )
    assert not (verdicts == B_WINS).any()
    assert (verdicts == A_WINS)[better].mean() > 0.6
    members = comparison.members
    assert members["front"].tolist() == ["a"] * 3 + ["b"] * 3
    np.testing.assert_allclose(members["accuracy"], np.concatenate([correct_a, correct_b]).mean(axis=1))
    first_member = areas_a[0][correct_a[0]]
    assert members.loc[0, "mean_area"] == pytest.approx(first_member.mean())
    # Each member's bounds are its studentized interval at the members' Bonferroni level.
    level = 1 - 0.025 / 6
    _, lower, upper = mean_interval(first_member, level, resamples=int(np.ceil(20 / (1 - level))), seed=7)
    assert (members.loc[0, "area_lower"], members.loc[0, "area_upper"]) == pytest.approx((lower, upper))
    again = compare_fronts(correct_a, areas_a, correct_b, areas_b, thresholds=thresholds, seed=7)
    pd.testing.assert_frame_equal(again.verdicts, comparison.verdicts)
    pd.testing.assert_frame_equal(again.members, comparison.members)


def test_a_member_with_too_few_certified_points_may_reach_any_area():
    correct = np.array([first(10), first(80)])
    areas = np.where(correct, -700.0 + np.arange(100) % 7, -np.inf)
    lower, upper = front_area_bounds(correct, areas, level=0.975)
    assert (lower[0], upper[0]) == (-math.inf, math.inf)
    values = areas[1][correct[1]]
    assert values.min() < lower[1] < values.mean() < upper[1] < values.max() + 1


def test_fronts_whose_members_certified_nothing_on_validation_have_nothing_to_be_compared_at():
    """A run whose validation certified no point of any front member (a model at chance, a toy run)
    gets empty verdict tables, not an error that stops the run."""
    from nusmooth.front_comparison import front_grid
    from nusmooth.verdicts import verdict_ranges

    front = pd.DataFrame({"val_mean_area": [np.nan, -np.inf], "kind": ["learned", "isotropic"]})
    assert front_grid(front, 40).size == 0
    correct = np.zeros((1, 6), dtype=bool)
    areas = np.full((1, 6), -np.inf)
    compared = compare_fronts(correct, areas, correct, areas, thresholds=front_grid(front, 40))
    assert compared.verdicts.empty and verdict_ranges(np.array([]), compared.verdicts["verdict"].to_numpy()) == []
    front = pd.DataFrame({"val_mean_area": [-900.0, -500.0], "kind": ["learned", "isotropic"]})
    grid = front_grid(front, 5)
    assert grid[0] <= -850 and grid[-1] >= -550 and np.all(np.diff(grid) > 0)
