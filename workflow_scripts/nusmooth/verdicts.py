"""Verdicts as ranges of thresholds: where one method wins, where the other does, where nothing can be told.

The rule is written once, in ``docs/method.md`` ("Verdicts"). At each threshold of a grid a verdict
is one of four labels:

- :data:`A_WINS`: the simultaneous band of ``a - b`` lies above 0;
- :data:`B_WINS`: it lies below 0;
- :data:`NOTHING`: neither method certifies any test point there (or, for fronts, no member of either
  front can reach the area), so there is nothing to compare; never reported as "cannot tell";
- :data:`CANNOT_TELL`: the band contains 0.

:func:`verdict_ranges` turns the labels of an ascending grid into contiguous ranges, and
:func:`describe_verdicts` writes them in plain words with their numbers. The same functions serve the
area and l2 views of Figure 1 (:func:`band_verdicts`) and Figure 2's fronts
(:func:`nusmooth.front_comparison.front_verdicts`). numpy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

A_WINS = "a wins"
B_WINS = "b wins"
CANNOT_TELL = "cannot tell"
NOTHING = "nothing to compare"
VERDICTS = (A_WINS, B_WINS, CANNOT_TELL, NOTHING)


class VerdictRange(NamedTuple):
    """A run of consecutive grid thresholds with one verdict: from ``first`` to ``last`` (grid values)."""

    verdict: str
    first: float
    last: float
    thresholds: int


def band_verdicts(band_lower, band_upper, certified_any) -> np.ndarray:
    """The verdict at each threshold from a simultaneous band of ``a - b``.

    ``certified_any``: True where at least one of the two methods certifies at least one test point
    at that threshold; elsewhere the verdict is :data:`NOTHING`, whatever the band says.
    """
    band_lower, band_upper, certified_any = np.broadcast_arrays(
        np.asarray(band_lower, dtype=np.float64), np.asarray(band_upper, dtype=np.float64), np.asarray(certified_any)
    )
    if certified_any.dtype != bool:
        raise ValueError("certified_any must be booleans: does either method certify any point at the threshold")
    if np.any(np.isnan(band_lower[certified_any]) | np.isnan(band_upper[certified_any])):
        raise ValueError("the band is NaN at a threshold where a method certifies points; it cannot be read there")
    verdicts = np.full(band_lower.shape, CANNOT_TELL, dtype=object)
    verdicts[band_lower > 0] = A_WINS
    verdicts[band_upper < 0] = B_WINS
    verdicts[~certified_any] = NOTHING
    return verdicts


def verdict_ranges(thresholds, verdicts) -> list[VerdictRange]:
    """Contiguous runs of equal verdicts over an ascending grid of ``thresholds``, in grid order."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    verdicts = np.asarray(verdicts, dtype=object)
    if thresholds.ndim != 1 or thresholds.shape != verdicts.shape:
        raise ValueError(
            f"thresholds and verdicts must be one-dimensional and of one length, got {thresholds.shape} "
            f"and {verdicts.shape}"
        )
    if np.any(np.isnan(thresholds)) or np.any(np.diff(thresholds) <= 0):
        raise ValueError("thresholds must be strictly ascending (a grid), or a range would join distant thresholds")
    unknown = set(verdicts.tolist()) - set(VERDICTS)
    if unknown:
        raise ValueError(f"unknown verdict(s) {sorted(unknown)}; a verdict is one of {VERDICTS}")
    ranges = []
    start = 0
    for stop in range(1, len(verdicts) + 1):
        if stop == len(verdicts) or verdicts[stop] != verdicts[start]:
            ranges.append(
                VerdictRange(verdicts[start], float(thresholds[start]), float(thresholds[stop - 1]), stop - start)
            )
            start = stop
    return ranges


def band_verdict_ranges(thresholds, band_lower, band_upper, certified_any) -> list[VerdictRange]:
    """:func:`verdict_ranges` of :func:`band_verdicts`: the ranges a simultaneous band supports."""
    return verdict_ranges(thresholds, band_verdicts(band_lower, band_upper, certified_any))


def _written(value: float, number_format: str) -> str:
    """``value`` in ``number_format``, without the minus of a value that rounds to 0 ("-0")."""
    text = number_format.format(value)
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _span(found: VerdictRange, number_format: str) -> str:
    first, last = _written(found.first, number_format), _written(found.last, number_format)
    return f"at {first}" if found.thresholds == 1 or first == last else f"from {first} to {last}"


def describe_verdicts(
    ranges: list[VerdictRange],
    a_name: str,
    b_name: str,
    metric: str,
    *,
    number_format: str = "{:g}",
    nothing: str = "neither certifies any test point",
) -> str:
    """The verdict ranges in plain words, e.g. ``"learned wins for O_CA from -1900 to -300; the comparator
    wins from 39 to 102; no difference can be told elsewhere"``.

    Wins come first (``a_name``'s, then ``b_name``'s), then the ranges with :data:`NOTHING` (worded by
    ``nothing``), then "no difference can be told elsewhere" when some range is :data:`CANNOT_TELL`.
    The first clause names ``metric``; ``number_format`` writes each threshold (grid values: the band
    is known at the grid's thresholds only).
    """
    if not ranges:
        raise ValueError("no verdict ranges to describe (an empty grid)")
    by_verdict = {verdict: [r for r in ranges if r.verdict == verdict] for verdict in VERDICTS}
    spans = {verdict: " and ".join(_span(r, number_format) for r in found) for verdict, found in by_verdict.items()}
    clauses = []
    for verdict, subject in ((A_WINS, f"{a_name} wins"), (B_WINS, f"{b_name} wins"), (NOTHING, nothing)):
        if spans[verdict]:
            where = f" for {metric}" if not clauses else ""
            clauses.append(f"{subject}{where} {spans[verdict]}")
    if by_verdict[CANNOT_TELL]:
        if clauses:
            clauses.append("no difference can be told elsewhere")
        else:
            clauses.append(f"no difference can be told for {metric} {spans[CANNOT_TELL]}")
    return "; ".join(clauses)
