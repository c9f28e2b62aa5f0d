"""Confidence intervals for the numbers the figures and tables report.

Every interval here is over **test points**: it says how far a number measured on this finite test
set may lie from the same number on the population the test points were drawn from. The noise of
certification is not part of it (each certificate already holds with probability ``1 - alpha`` over
the noise; see :mod:`nusmooth.smoothing`), and neither is the training run that produced sigma.

- :func:`proportion_interval`: a certified accuracy (k of n test points), Wilson score interval
  (default) or Clopper-Pearson; vectorised, so one call gives a pointwise band over many thresholds.
- :func:`mean_interval`: a mean over test points (the mean certified area), BCa (default) or
  percentile bootstrap, deterministic given a seed.
- :func:`paired_difference_interval`: the difference of two accuracies measured on the *same* test
  points (learned vs isotropic sigma), Newcombe's hybrid score interval for paired data.

numpy and scipy.special only (no torch, no scipy.stats): plot and table jobs import this module.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import betaincinv, ndtr, ndtri

#: Methods accepted by :func:`proportion_interval` and :func:`mean_interval`.
PROPORTION_METHODS = ("wilson", "clopper-pearson")
MEAN_METHODS = ("bca", "percentile")


class Interval(NamedTuple):
    """A point estimate and its two-sided interval; floats, or arrays of one shape when vectorised."""

    estimate: float | np.ndarray
    lower: float | np.ndarray
    upper: float | np.ndarray


def _normal_quantile(level: float) -> float:
    """``z`` with ``P(|Z| <= z) = level``, after checking the level."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r} (e.g. 0.95 for a 95% interval)")
    return float(ndtri(0.5 + level / 2))


def _scalar_or_array(*arrays: np.ndarray, scalar: bool) -> tuple:
    return tuple(float(a) for a in arrays) if scalar else arrays


def _counts(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    k, n = np.broadcast_arrays(k, n)
    if np.any(k != np.round(k)) or np.any(n != np.round(n)):
        raise ValueError("successes and trials must be whole numbers (counts of test points)")
    if np.any(n < 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("counts must satisfy 0 <= successes <= trials")
    return k, n


def proportion_interval(successes, trials, level: float = 0.95, method: str = "wilson") -> Interval:
    """Two-sided interval for a proportion ``successes / trials``; elementwise over arrays.

    ``successes`` and ``trials`` broadcast against each other (e.g. the counts of a curve at many
    thresholds against one number of test points). Where ``trials == 0`` the estimate and both ends
    are NaN (nothing was measured).

    Methods:
        ``"wilson"``: Wilson's score interval, the set of p whose score test
        ``|k - n p| / sqrt(n p (1 - p)) <= z`` does not reject: centre ``(k + z^2/2) / (n + z^2)``,
        half-width ``z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2)``. Coverage close to the level on
        average, also near 0 and 1 where the Wald interval fails; it may dip somewhat below the level
        for some p (the coverage of any interval for a discrete count oscillates with p).
        ``"clopper-pearson"``: the exact interval, inverting two one-sided binomial tests at
        ``(1 - level) / 2`` each (beta quantiles; 0 at ``k = 0``, 1 at ``k = n``). Coverage at least
        the level for every p, at the price of a wider interval.
    Returns:
        :class:`Interval` of floats when both inputs are scalars, else of arrays.
    """
    z = _normal_quantile(level)
    if method not in PROPORTION_METHODS:
        raise ValueError(f"method must be one of {PROPORTION_METHODS}, got {method!r}")
    scalar = np.ndim(successes) == 0 and np.ndim(trials) == 0
    k, n = _counts(successes, trials)
    measured = n > 0
    safe_n = np.where(measured, n, 1.0)
    estimate = np.where(measured, k / safe_n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "wilson":
            denominator = safe_n + z**2
            centre = (k + z**2 / 2) / denominator
            half = z * np.sqrt(k * (safe_n - k) / safe_n + z**2 / 4) / denominator
            # Exact ends at the boundaries (the formula gives them only up to rounding).
            lower = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
            upper = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
        else:
            tail = (1 - level) / 2
            lower = np.where(k == 0, 0.0, betaincinv(np.maximum(k, 1), n - k + 1, tail))
            upper = np.where(k == n, 1.0, betaincinv(k + 1, np.maximum(n - k, 1), 1 - tail))
    lower = np.where(measured, lower, np.nan)
    upper = np.where(measured, upper, np.nan)
    return Interval(*_scalar_or_array(estimate, lower, upper, scalar=scalar))


#: Bootstrap means are drawn in chunks of at most this many resampled values (memory, not results).
_CHUNK_VALUES = 4_000_000


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` means of ``len(values)`` values drawn with replacement, from one seeded stream."""
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_VALUES // len(values))
    means = np.empty(resamples)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        means[start:stop] = values[rng.integers(0, len(values), size=(stop - start, len(values)))].mean(axis=1)
    return means


def mean_interval(values, level: float = 0.95, method: str = "bca", resamples: int = 2000, seed: int = 0) -> Interval:
    """Bootstrap interval for the mean of ``values`` (one value per test point), over test points.

    The test points are resampled with replacement ``resamples`` times (one ``numpy`` generator seeded
    with ``seed``, so the same inputs always give the same interval) and the mean recomputed.

    Methods:
        ``"bca"`` (default): the bias-corrected and accelerated percentile interval (Efron, 1987). The
        percentiles ``(1 -/+ level) / 2`` are moved to ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))``, where
        ``z0 = Phi^-1(share of bootstrap means below the mean)`` corrects the median bias and the
        acceleration ``a = sum d^3 / (6 (sum d^2)^(3/2))``, ``d_i = x_i - mean`` (the jackknife of a
        mean in closed form), corrects for skewness. Its coverage error shrinks like ``1 / n`` where the
        percentile interval's shrinks like ``1 / sqrt(n)``: it matters for skewed values such as areas,
        whose tail of near-boundary points is long.
        ``"percentile"``: the ``(1 -/+ level) / 2`` quantiles of the bootstrap means.

    Degenerate input: no value gives ``(nan, nan, nan)``; one value gives ``(value, nan, nan)`` (the
    spread between test points cannot be estimated from one point); values that are all equal give
    ``(value, value, value)`` (every resample has that mean).

    Raises:
        ValueError: for values that are not one-dimensional or not finite (an abstained point's area
            of ``-inf`` must be left out by the caller: the mean area is over certified points).
    """
    z = _normal_quantile(level)
    if method not in MEAN_METHODS:
        raise ValueError(f"method must be one of {MEAN_METHODS}, got {method!r}")
    if resamples < 100:
        raise ValueError(f"resamples must be at least 100 for a {level:.0%} interval, got {resamples}")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be one-dimensional (one value per test point), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "values must be finite; a mean certified area is over certified points only. "
            "Fix: select the points whose area is finite (certified and correct) before taking the mean"
        )
    if len(values) == 0:
        return Interval(np.nan, np.nan, np.nan)
    estimate = float(values.mean())
    if len(values) == 1:
        return Interval(estimate, np.nan, np.nan)
    if np.all(values == values[0]):
        return Interval(estimate, estimate, estimate)
    means = _bootstrap_means(values, resamples, seed)
    tails = np.array([-z, z])
    if method == "percentile":
        probabilities = ndtr(tails)
    else:
        below = (np.sum(means < estimate) + 0.5 * np.sum(means == estimate)) / resamples
        # A median-bias share of exactly 0 or 1 would send z0 to infinity: keep it one resample inside.
        z0 = ndtri(np.clip(below, 1 / (resamples + 1), resamples / (resamples + 1)))
        deviations = values - estimate
        acceleration = np.sum(deviations**3) / (6 * np.sum(deviations**2) ** 1.5)
        shifted = z0 + tails
        probabilities = ndtr(z0 + shifted / (1 - acceleration * shifted))
    lower, upper = np.quantile(means, probabilities)
    return Interval(estimate, float(lower), float(upper))


def paired_counts(a_correct, b_correct) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The paired 2x2 table of two outcomes on the same points, over the last axis.

    Returns ``(both, only_a, only_b, neither)``: how many points both are correct on, only ``a``,
    only ``b``, neither. Leading axes (e.g. thresholds) are kept.
    """
    a = np.asarray(a_correct)
    b = np.asarray(b_correct)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes must have one shape (the same points), got {a.shape} and {b.shape}")
    if a.ndim == 0:
        raise ValueError("paired outcomes need an axis of points")
    for name, outcome in (("a_correct", a), ("b_correct", b)):
        if outcome.dtype != bool and not np.all((outcome == 0) | (outcome == 1)):
            raise ValueError(f"{name} must be booleans or 0/1 (correct or not per point)")
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum(axis=-1), (a & ~b).sum(axis=-1), (~a & b).sum(axis=-1), (~a & ~b).sum(axis=-1)


def paired_difference_from_counts(both, only_a, only_b, neither, level: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval for ``p_a - p_b`` from a paired 2x2 table; elementwise.

    This is method 10 of Newcombe (1998, *Improved confidence intervals for the difference between
    binomial proportions based on paired data*, Statistics in Medicine 17): take the Wilson score
    interval ``[l_a, u_a]`` of ``p_a = (both + only_a) / n`` and ``[l_b, u_b]`` of
    ``p_b = (both + only_b) / n`` and combine their half-widths like standard errors, with the
    correlation of the two outcomes estimated by the phi coefficient of the table
    ``phi = (both * neither - only_a * only_b) / sqrt(n_a1 n_a0 n_b1 n_b0)`` (margins; 0 when a margin is
    0)::

        lower = d - sqrt((p_a - l_a)^2 - 2 phi (p_a - l_a)(u_b - p_b) + (u_b - p_b)^2)
        upper = d + sqrt((u_a - p_a)^2 - 2 phi (u_a - p_a)(p_b - l_b) + (p_b - l_b)^2)

    with ``d = p_a - p_b = (only_a - only_b) / n``. Positively correlated outcomes (the same easy and
    hard points under both sigmas) narrow the interval, as they should. Chosen for its closed form
    (vectorised over thresholds), its ends inside ``[-1, 1]`` and its coverage close to the level at
    small n in Newcombe's comparison; no continuity correction. ``n = 0`` gives NaN.
    """
    cells = [np.asarray(c, dtype=np.float64) for c in (both, only_a, only_b, neither)]
    both, only_a, only_b, neither = np.broadcast_arrays(*cells)
    scalar = all(np.ndim(c) == 0 for c in cells)
    if any(np.any(c < 0) for c in (both, only_a, only_b, neither)):
        raise ValueError("paired table cells must be non-negative counts")
    n = both + only_a + only_b + neither
    estimate_a, lower_a, upper_a = proportion_interval(both + only_a, n, level)
    estimate_b, lower_b, upper_b = proportion_interval(both + only_b, n, level)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(
            margins > 0, (both * neither - only_a * only_b) / np.sqrt(np.where(margins > 0, margins, 1.0)), 0.0
        )
    difference = estimate_a - estimate_b

    def combined(x, y):  # >= (x - y)^2 >= 0 for |phi| <= 1; the clamp only absorbs rounding
        return np.sqrt(np.maximum(x**2 - 2 * phi * x * y + y**2, 0.0))

    lower = np.clip(difference - combined(estimate_a - lower_a, upper_b - estimate_b), -1.0, 1.0)
    upper = np.clip(difference + combined(upper_a - estimate_a, estimate_b - lower_b), -1.0, 1.0)
    return Interval(*_scalar_or_array(np.asarray(difference), np.asarray(lower), np.asarray(upper), scalar=scalar))


def paired_difference_interval(a_correct, b_correct, level: float = 0.95) -> Interval:
    """Interval for the difference of two accuracies measured on the same points: ``mean(a) - mean(b)``.

    ``a_correct`` and ``b_correct`` are booleans (or 0/1) per point with the points on the last axis,
    in the same order for both (point i of ``a`` is point i of ``b``); leading axes, e.g. one row per
    threshold, give one interval each. Because both are measured on the same points, the two
    accuracies are correlated and an interval for independent samples would be too wide (or, with
    negative correlation, too narrow); this uses Newcombe's hybrid score interval for paired data (see
    :func:`paired_difference_from_counts`).
    """
    return paired_difference_from_counts(*paired_counts(a_correct, b_correct), level=level)
