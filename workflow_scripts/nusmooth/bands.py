"""Simultaneous bands: a paired difference over a whole grid of thresholds, all covered at once.

A pointwise 95% interval at each of ``G`` thresholds misses somewhere far more often than 5% of the
time, so a verdict read off many thresholds ("the learned sigma wins from here to there") needs every
interval of the grid to hold together. The band here is Bonferroni's: the default paired interval,
Tango's with a continuity correction (:func:`nusmooth.intervals.paired_difference_from_counts`), at
level ``1 - (1 - level) / G`` at each threshold. Its simultaneous coverage is at least ``level``
whenever each interval keeps its own, by the union bound, whatever the correlation between thresholds. Why this band and not a bootstrap one, and
what the simulations show: ``docs/method.md``, "Intervals".

numpy only (plot and table jobs import this module).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .intervals import paired_counts, paired_difference_from_counts


class PairedBand(NamedTuple):
    """Per threshold: the difference ``a - b``, its pointwise interval and the simultaneous band."""

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    band_lower: np.ndarray
    band_upper: np.ndarray


def simultaneous_level(level: float, tests: int) -> float:
    """The level each of ``tests`` intervals needs for all of them to hold together at ``level`` (Bonferroni)."""
    if tests < 1:
        raise ValueError(f"a band needs at least one threshold, got {tests}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r} (e.g. 0.95 for a 95% band)")
    return 1 - (1 - level) / tests


def paired_band_from_counts(both, only_a, only_b, neither, level: float = 0.95) -> PairedBand:
    """The paired difference at each threshold with its pointwise interval and simultaneous band.

    The counts are paired 2x2 tables (see :func:`nusmooth.intervals.paired_counts`) with the thresholds
    of one grid on the **last axis**; leading axes (e.g. simulated test sets) are separate grids. The
    band covers every threshold of a grid at once with probability at least ``level``: the paired interval
    at :func:`simultaneous_level` for the grid's number of thresholds. Where neither method certifies a
    point (``only_a = only_b = 0``), the band keeps a width (the paired interval does), so a band never
    claims a difference that rests on no discordant point.
    """
    cells = np.broadcast_arrays(*(np.asarray(c) for c in (both, only_a, only_b, neither)))
    if cells[0].ndim == 0:
        raise ValueError("a band needs an axis of thresholds (the last axis of the counts)")
    estimate, lower, upper = paired_difference_from_counts(*cells, level=level)
    _, band_lower, band_upper = paired_difference_from_counts(
        *cells, level=simultaneous_level(level, cells[0].shape[-1])
    )
    return PairedBand(estimate, lower, upper, band_lower, band_upper)


def paired_band(certified_a, certified_b, level: float = 0.95) -> PairedBand:
    """:func:`paired_band_from_counts` from per-point flags of shape ``(..., thresholds, points)``:
    ``certified_a[t, p]`` is True when method ``a`` certifies point ``p`` correctly at threshold ``t``
    (the same points, in the same order, for ``b``)."""
    certified_a, certified_b = np.asarray(certified_a), np.asarray(certified_b)
    if certified_a.ndim < 2:
        raise ValueError(
            f"certified flags need shape (thresholds, points), got {certified_a.shape}; "
            "for one threshold use nusmooth.intervals.paired_difference_interval"
        )
    return paired_band_from_counts(*paired_counts(certified_a, certified_b), level=level)
