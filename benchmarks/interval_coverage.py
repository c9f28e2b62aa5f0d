"""Coverage of the intervals, bands and verdicts of ``nusmooth``, simulated where the truth is known.

Prints four tables (markdown), the source of the numbers in ``docs/method.md`` ("Intervals"):

1. **Paired differences**: coverage and mean width of Newcombe's, Tango's and continuity-corrected
   Tango's (the default) 95% intervals for ``p_a - p_b`` on the same simulated paired tables, Tango's
   also exact (it depends on the discordant counts only, so its coverage is a sum over them), at 100
   and 1,000 pairs, with common and rare discordance; and Tango's lowest exact coverage over grids of
   rare and common discordances.
2. **Mean area**: coverage of the studentized bootstrap, BCa and percentile intervals of a mean over
   points drawn from laws shaped like certified areas (:func:`certified_area_law`: the exact law of
   ``O_CA`` when a share of the points has all votes right and the rest a true ``pA`` uniform on
   (1/2, 1); and ``D log U``), at 20 to 300 points.
3. **Simultaneous band**: how often the band of :func:`nusmooth.bands.paired_band_from_counts` covers
   the true difference at every threshold of a grid at once, and how often the verdicts read from it
   claim a win that is false, for two correlated methods whose population curves are known
   (:class:`TwoMethods`); the pointwise intervals' simultaneous coverage beside it.
4. **Front comparison**: how often :func:`nusmooth.front_comparison.compare_fronts` claims a false
   win when both fronts have the same population (any win is false), and how much of the range it
   finds when one front is better.

The unit tests run small versions of the same simulations from this file. Run:

    python benchmarks/interval_coverage.py [--sets 20000] [--mean-sets 4000] [--band-sets 4000] [--front-sets 200]

(about 10 minutes on 2 cores with the defaults; ``--quick`` for a look in about a minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.special import betainc, betaincinv, ndtr, ndtri
from scipy.stats import multinomial

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow_scripts"))
from nusmooth.bands import paired_band_from_counts  # noqa: E402
from nusmooth.front_comparison import compare_fronts  # noqa: E402
from nusmooth.intervals import mean_interval, paired_counts, paired_difference_from_counts  # noqa: E402
from nusmooth.verdicts import A_WINS, B_WINS, band_verdicts  # noqa: E402

# --- laws of certified areas -----------------------------------------------------------------------------

#: Mean of :func:`exponential_areas`.
EXPONENTIAL_MEAN = -900.0


def exponential_areas(rng: np.random.Generator, shape) -> np.ndarray:
    """``D log R`` with R uniform on (0, R_max) is a constant minus D times an Exp(1) variable: a long
    left tail of small regions (skewness -2), here ``-800 + 100 log U``, mean -900."""
    return -800.0 + 100.0 * np.log(rng.random(shape))


class AreaLaw(NamedTuple):
    """A discrete law: the certified areas a point can get, and their probabilities."""

    values: np.ndarray
    probabilities: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.values @ self.probabilities)

    @property
    def skewness(self) -> float:
        deviations = self.values - self.mean
        return float((deviations**3 @ self.probabilities) / (deviations**2 @ self.probabilities) ** 1.5)

    def draw(self, rng: np.random.Generator, shape) -> np.ndarray:
        return self.values[rng.choice(len(self.values), p=self.probabilities, size=shape)]


def certified_area_law(
    all_right_share: float, votes: int = 128, alpha: float = 0.001, dimension: int = 784, sigma: float = 0.25
) -> AreaLaw:
    """The exact law of a certified point's ``O_CA`` when its true ``pA`` is 1 with probability
    ``all_right_share`` and uniform on (1/2, 1) otherwise, certified from ``votes`` votes at ``alpha``
    with a constant ``sigma`` in ``dimension`` dimensions, given that it is certified.

    ``n_A`` is then a mixture of a point mass at ``votes`` and a binomial averaged over ``pA``, whose
    probabilities have a closed form (``int_{1/2}^1 C(n, k) p^k (1-p)^(n-k) dp = (1 - I_{1/2}(k+1, n-k+1))
    / (n+1)``); each count gives ``pA_lower`` (Clopper-Pearson) and the area ``D log sigma + D log
    Phi^-1(pA_lower)``. Most mass sits at the ceiling (all votes right) and a long left tail reaches
    thousands below it, as in a sweep's records.
    """
    counts = np.arange(votes + 1)
    probabilities = (1 - all_right_share) * 2 * (1 - betainc(counts + 1, votes - counts + 1, 0.5)) / (votes + 1)
    probabilities[-1] += all_right_share
    lower = betaincinv(np.maximum(counts, 1), votes - counts + 1, alpha)
    certified = (counts > 0) & (lower > 0.5)
    areas = dimension * np.log(sigma) + dimension * np.log(ndtri(lower[certified]))
    return AreaLaw(areas, probabilities[certified] / probabilities[certified].sum())


# --- paired differences ----------------------------------------------------------------------------------


def tango_exact_coverage(
    only_a: float, only_b: float, pairs: int, method: str = "tango-cc", level: float = 0.95
) -> float:
    """Exact coverage of a Tango interval: a sum over every (only a, only b) count, the rest concordant."""
    if only_a + only_b == 0:
        counts = np.array([[0, 0, pairs]])
        weights = np.ones(1)
    else:
        # Counts beyond 12 standard deviations of the larger discordant count carry no visible weight.
        top = min(pairs, int(pairs * max(only_a, only_b) + 12 * np.sqrt(pairs * max(only_a, only_b)) + 20))
        a, b = np.meshgrid(np.arange(top + 1), np.arange(top + 1), indexing="ij")
        possible = a + b <= pairs
        counts = np.stack([a[possible], b[possible], pairs - a[possible] - b[possible]], axis=1)
        weights = multinomial.pmf(counts, pairs, [only_a, only_b, 1 - only_a - only_b])
    _, lower, upper = paired_difference_from_counts(
        0, counts[:, 0], counts[:, 1], counts[:, 2], level=level, method=method
    )
    truth = only_a - only_b
    return float(weights[(lower <= truth) & (truth <= upper)].sum())


PAIRED_METHODS = ("newcombe", "tango", "tango-cc")


def simulated_paired_coverage(probabilities, pairs: int, sets: int, seed: int) -> dict[str, tuple[float, float]]:
    """Coverage and mean width of each paired method on the same ``sets`` simulated tables of ``pairs`` pairs."""
    cells = np.random.default_rng(seed).multinomial(pairs, probabilities, size=sets).T
    truth = probabilities[1] - probabilities[2]
    outcome = {}
    for method in PAIRED_METHODS:
        _, lower, upper = paired_difference_from_counts(*cells, method=method)
        outcome[method] = (float(np.mean((lower <= truth) & (truth <= upper))), float(np.mean(upper - lower)))
    return outcome


#: Cell probabilities (both, only a, only b, neither) of the paired table.
PAIRED_CASES = {
    "learned better": (0.60, 0.15, 0.05, 0.20),
    "near perfect": (0.85, 0.08, 0.02, 0.05),
    "no difference": (0.50, 0.10, 0.10, 0.30),
    "few discordant": (0.70, 0.03, 0.01, 0.26),
    "rare 0.005 / 0.001, accuracy 0.5": (0.495, 0.005, 0.001, 0.499),
    "rare 0.005 / 0.001, accuracy 0.9": (0.895, 0.005, 0.001, 0.099),
    "rare 0.001 / 0.005, accuracy 0.5": (0.499, 0.001, 0.005, 0.495),
    "none 0 / 0, accuracy 0.5": (0.5, 0.0, 0.0, 0.5),
    "none 0 / 0, accuracy 0.9": (0.9, 0.0, 0.0, 0.1),
}

#: Discordance probabilities of the grids over which Tango's lowest exact coverage is reported.
DISCORDANCE_GRIDS = {
    "rare": (0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05),
    "common": (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3),
}

# --- two methods with known curves ---------------------------------------------------------------------


class TwoMethods(NamedTuple):
    """Two methods certified on the same points, with population curves in closed form.

    Per point: a uniform ``U`` decides correctness for both (``a`` correct when ``U < accuracy_a``, so
    the correct points are nested), a normal ``Z`` shared by both and independent normals ``E`` give
    the metrics ``min(mean + spread (rho Z + sqrt(1 - rho^2) E), ceiling)``. A point is certified at
    ``t`` when correct with metric ``>= t``, so the population curve is ``accuracy (1 - Phi((t - mean) /
    spread))`` up to the ceiling and 0 beyond it. The defaults make ``b`` win at low thresholds, ``a``
    at high ones, ``a`` alone between the ceilings (rare there), and neither beyond both.
    """

    accuracy_a: float = 0.92
    mean_a: float = 0.0
    spread_a: float = 1.5
    ceiling_a: float = 3.0
    accuracy_b: float = 0.90
    mean_b: float = 0.5
    spread_b: float = 0.7
    ceiling_b: float = 1.5
    rho: float = 0.8

    def curves(self, thresholds) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(thresholds, dtype=np.float64)
        a = np.where(t <= self.ceiling_a, self.accuracy_a * ndtr((self.mean_a - t) / self.spread_a), 0.0)
        b = np.where(t <= self.ceiling_b, self.accuracy_b * ndtr((self.mean_b - t) / self.spread_b), 0.0)
        return a, b

    def tables(self, rng: np.random.Generator, sets: int, points: int, thresholds) -> tuple[np.ndarray, ...]:
        """Paired 2x2 tables ``(both, only_a, only_b, neither)``, each ``(sets, thresholds)``."""
        t = np.asarray(thresholds, dtype=np.float64)
        uniform = rng.random((sets, 1, points))
        shared = rng.standard_normal((sets, 1, points))
        own = np.sqrt(1 - self.rho**2)
        metric_a = self.mean_a + self.spread_a * (self.rho * shared + own * rng.standard_normal((sets, 1, points)))
        metric_b = self.mean_b + self.spread_b * (self.rho * shared + own * rng.standard_normal((sets, 1, points)))
        certified_a = (uniform < self.accuracy_a) & (np.minimum(metric_a, self.ceiling_a) >= t[:, None])
        certified_b = (uniform < self.accuracy_b) & (np.minimum(metric_b, self.ceiling_b) >= t[:, None])
        return paired_counts(certified_a, certified_b)


def band_outcomes(method: TwoMethods, rng, sets: int, points: int, thresholds) -> dict[str, float]:
    """Share of simulated sets whose band (and pointwise intervals) cover the truth at every threshold,
    and share whose verdicts claim a false win somewhere (a wins where the true difference is <= 0, or
    b wins where it is >= 0)."""
    cells = method.tables(rng, sets, points, thresholds)
    band = paired_band_from_counts(*cells)
    curve_a, curve_b = method.curves(thresholds)
    truth = curve_a - curve_b
    verdicts = band_verdicts(band.band_lower, band.band_upper, (cells[0] + cells[1] + cells[2]) > 0)
    false_win = ((verdicts == A_WINS) & (truth <= 0)) | ((verdicts == B_WINS) & (truth >= 0))
    return {
        "band": float(np.mean(np.all((band.band_lower <= truth) & (truth <= band.band_upper), axis=1))),
        "pointwise": float(np.mean(np.all((band.lower <= truth) & (truth <= band.upper), axis=1))),
        "false win": float(np.mean(false_win.any(axis=1))),
    }


# --- fronts ---------------------------------------------------------------------------------------------


class Member(NamedTuple):
    """A front member's population: its accuracy and the mean area of its certified-correct points."""

    accuracy: float
    mean_area: float


def draw_fronts(rng, fronts: list[list[Member]], points: int, rho: float = 0.8, area_scale: float = 100.0):
    """Correct flags and areas of every member of ``fronts`` on the same ``points`` points.

    A point is correct for a member when ``rho Z + sqrt(1 - rho^2) E < Phi^-1(accuracy)`` (``Z`` shared
    by every member: the same points are hard for all), and its area is ``mean_area + area_scale (1 +
    log U)``, independent of correctness, so the mean area over correct points is ``mean_area`` (a left
    tail like areas'). Returns one ``(correct, areas)`` pair of ``(members, points)`` arrays per front.
    """
    shared = rng.standard_normal(points)
    drawn = []
    for front in fronts:
        own = rng.standard_normal((len(front), points))
        accuracy = np.array([m.accuracy for m in front])[:, None]
        correct = rho * shared + np.sqrt(1 - rho**2) * own < ndtri(accuracy)
        areas = np.array([m.mean_area for m in front])[:, None] + area_scale * (1 + np.log(rng.random(own.shape)))
        drawn.append((correct, areas))
    return drawn


def best_accuracy_reaching(front: list[Member], thresholds) -> np.ndarray:
    """The population front: the best accuracy of a member whose mean area is at least each threshold."""
    accuracy = np.array([m.accuracy for m in front])
    area = np.array([m.mean_area for m in front])
    reaching = area[None, :] >= np.asarray(thresholds, dtype=np.float64)[:, None]
    return np.where(reaching, accuracy, -np.inf).max(axis=1)


#: The fronts of the front simulation: a front like an isotropic sweep's, and a better one.
FRONT_BASE = [Member(0.97, -1300.0), Member(0.93, -820.0), Member(0.80, -600.0)]
FRONT_BETTER = [Member(0.97, -800.0), Member(0.95, -600.0), Member(0.90, -450.0)]
FRONT_THRESHOLDS = np.arange(-1500.0, -349.0, 50.0)


def front_outcomes(front_a, front_b, rng, sets: int, points: int, thresholds) -> dict[str, float]:
    """Share of sets with a false win anywhere, and the mean share of thresholds where the truly better
    front is found to win (0 when neither is better anywhere)."""
    best_a, best_b = best_accuracy_reaching(front_a, thresholds), best_accuracy_reaching(front_b, thresholds)
    false, found = 0, []
    a_better, b_better = best_a > best_b, best_b > best_a
    for seed in range(sets):
        (correct_a, areas_a), (correct_b, areas_b) = draw_fronts(rng, [front_a, front_b], points)
        verdicts = compare_fronts(correct_a, areas_a, correct_b, areas_b, thresholds=thresholds, seed=seed).verdicts[
            "verdict"
        ]
        a_wins, b_wins = (verdicts == A_WINS).to_numpy(), (verdicts == B_WINS).to_numpy()
        false += bool(np.any(a_wins & ~a_better) or np.any(b_wins & ~b_better))
        better = a_better | b_better
        if better.any():
            found.append(np.mean((a_wins & a_better)[better] | (b_wins & b_better)[better]))
    return {"false win": false / sets, "found": float(np.mean(found)) if found else 0.0}


# --- the tables -----------------------------------------------------------------------------------------


def paired_table(sets: int) -> None:
    print(f"\n### Paired difference, 95% intervals ({sets:,} simulated tables per row; Tango's also exact)\n")
    print(
        "| case (both, only a, only b, neither) | pairs | Newcombe | Tango | Tango-cc | Tango exact | Tango-cc exact "
        "| mean width Newcombe / Tango / Tango-cc |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for pairs in (100, 1000):
        for index, (case, probabilities) in enumerate(PAIRED_CASES.items()):
            simulated = simulated_paired_coverage(np.array(probabilities), pairs, sets, seed=1000 * pairs + index)
            exact = [tango_exact_coverage(probabilities[1], probabilities[2], pairs, m) for m in ("tango", "tango-cc")]
            covered = " | ".join(f"{simulated[m][0]:.3f}" for m in PAIRED_METHODS)
            widths = " / ".join(f"{simulated[m][1]:.4f}" for m in PAIRED_METHODS)
            print(f"| {case} {probabilities} | {pairs:,} | {covered} | {exact[0]:.3f} | {exact[1]:.3f} | {widths} |")
    print()
    for name, grid in DISCORDANCE_GRIDS.items():
        for pairs in (100, 300, 1000):
            for method in ("tango", "tango-cc"):
                exact = np.array([[tango_exact_coverage(a, b, pairs, method) for b in grid] for a in grid])
                worst = np.unravel_index(np.argmin(exact), exact.shape)
                print(
                    f"- {method}, {pairs:,} pairs, exact coverage over every (P(only a), P(only b)) in the {name} "
                    f"grid {list(grid)}: lowest {exact.min():.3f} at ({grid[worst[0]]}, {grid[worst[1]]}), "
                    f"mean {exact.mean():.3f}"
                )


MEAN_LAWS = {
    "D log U (exponential tail)": None,
    "areas, 90% all votes right": 0.9,
    "areas, 50% all votes right": 0.5,
    "areas, pA uniform on (1/2, 1)": 0.0,
}
MEAN_SIZES = (20, 40, 50, 60, 100, 300)
MEAN_METHODS = ("bootstrap-t", "bca", "percentile")


def mean_table(sets: int, resamples: int) -> None:
    print(f"\n### Mean area, 95% intervals ({sets:,} simulated samples per cell, {resamples:,} resamples each)\n")
    print("| law (skewness) | points | " + " | ".join(MEAN_METHODS) + " |")
    print("|---|---|" + "---|" * len(MEAN_METHODS))
    for index, (name, share) in enumerate(MEAN_LAWS.items()):
        law = None if share is None else certified_area_law(share)
        truth = EXPONENTIAL_MEAN if law is None else law.mean
        skewness = -2.0 if law is None else law.skewness
        for size in MEAN_SIZES:
            rng = np.random.default_rng(100 * index + size)
            samples = exponential_areas(rng, (sets, size)) if law is None else law.draw(rng, (sets, size))
            hits = dict.fromkeys(MEAN_METHODS, 0)
            for seed, sample in enumerate(samples):
                for method in MEAN_METHODS:
                    _, lower, upper = mean_interval(sample, method=method, resamples=resamples, seed=seed, min_points=2)
                    hits[method] += lower <= truth <= upper
            cells = " | ".join(f"{hits[m] / sets:.3f}" for m in MEAN_METHODS)
            print(f"| {name} ({skewness:.1f}) | {size} | {cells} |")


def band_table(sets: int) -> None:
    print(f"\n### Simultaneous band over a grid ({sets:,} simulated test sets per row; TwoMethods defaults)\n")
    print("| points | thresholds | band covers all | pointwise cover all | false win anywhere |")
    print("|---|---|---|---|---|")
    method = TwoMethods()
    for points in (100, 300, 1000):
        for count in (20, 50, 200):
            thresholds = np.linspace(-3.0, 4.0, count)
            rng = np.random.default_rng(points + count)
            outcome = {"band": 0.0, "pointwise": 0.0, "false win": 0.0}
            chunk = max(1, 2_000_000 // (points * count))  # sets per draw, to bound memory
            for start in range(0, sets, chunk):
                part = band_outcomes(method, rng, min(chunk, sets - start), points, thresholds)
                for key in outcome:
                    outcome[key] += part[key] * min(chunk, sets - start) / sets
            print(
                f"| {points:,} | {count} | {outcome['band']:.4f} | {outcome['pointwise']:.4f} "
                f"| {outcome['false win']:.4f} |"
            )


def front_table(sets: int) -> None:
    print(
        f"\n### Front comparison ({sets:,} simulated test sets per row, thresholds {FRONT_THRESHOLDS[0]:g} to "
        f"{FRONT_THRESHOLDS[-1]:g} step 50)\n"
    )
    print("| fronts | points | false win anywhere | share of the better range found |")
    print("|---|---|---|---|")
    for name, front_a in (("same population", FRONT_BASE), ("a better", FRONT_BETTER)):
        for points in (300, 1000):
            outcome = front_outcomes(front_a, FRONT_BASE, np.random.default_rng(points), sets, points, FRONT_THRESHOLDS)
            print(f"| {name} | {points:,} | {outcome['false win']:.4f} | {outcome['found']:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=20_000, help="simulated tables per paired case")
    parser.add_argument("--mean-sets", type=int, default=4_000, help="simulated samples per mean-area cell")
    parser.add_argument("--resamples", type=int, default=1_000, help="bootstrap resamples per mean interval")
    parser.add_argument("--band-sets", type=int, default=4_000, help="simulated test sets per band row")
    parser.add_argument("--front-sets", type=int, default=200, help="simulated test sets per front row")
    parser.add_argument("--quick", action="store_true", help="a tenth of every count, for a look")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    for table, arguments in (
        (paired_table, (args.sets // scale,)),
        (mean_table, (args.mean_sets // scale, args.resamples)),
        (band_table, (args.band_sets // scale,)),
        (front_table, (args.front_sets // scale,)),
    ):
        started = time.perf_counter()
        table(*arguments)
        print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
