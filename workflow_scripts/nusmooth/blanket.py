"""The "blanket" filter of Figures 2 and 4: which (accuracy, area) points make up a front.

The authors sorted the points by accuracy and, from the most accurate down, kept a point only if it
reached past the certified-area range of the points kept so far. In closed form (REFERENCE.md, 4), a
point is kept when

- its accuracy is the maximum accuracy, or
- its area is strictly greater than the area of every *other* point whose accuracy is greater than
  or equal to its own.

Ties follow from the words: all points that share the maximum accuracy are kept; below the maximum,
two points with equal accuracy and equal area beat neither each other, so both are dropped unless a
point of that accuracy has a strictly larger area, which is then the only one kept. Without ties this
is the Pareto front (more accuracy, more area) from the most accurate point rightwards. The filter is
order-independent (it returns a mask in the input order) and idempotent.

A point without area (no certified-correct point: NaN, as ``clean_accuracy_and_area`` returns) has no
region, so its area counts as ``-inf`` (REFERENCE.md, 2).
"""

from __future__ import annotations

import numpy as np


def blanket_mask(accuracy, area) -> np.ndarray:
    """Boolean mask, in input order, of the points the blanket keeps. O(n log n).

    ``accuracy`` and ``area``: 1-D sequences of equal length; NaN accuracy is an error.
    """
    accuracy = np.asarray(accuracy, dtype=float)
    area = np.nan_to_num(np.asarray(area, dtype=float), nan=-np.inf, posinf=np.inf, neginf=-np.inf)
    if accuracy.ndim != 1 or accuracy.shape != area.shape:
        raise ValueError(f"accuracy and area must be 1-D of equal length, got {accuracy.shape} and {area.shape}")
    if np.isnan(accuracy).any():
        raise ValueError("accuracy contains NaN; every point needs an accuracy")
    keep = np.zeros(len(accuracy), dtype=bool)
    if len(accuracy) == 0:
        return keep
    best = accuracy.max()
    # Walk the accuracy levels from the highest down, carrying the largest area seen at strictly
    # greater accuracy; within a level, only a unique maximum can beat its equals.
    levels = np.unique(accuracy)[::-1]
    above = -np.inf
    for level in levels:
        members = np.flatnonzero(accuracy == level)
        if level == best:
            keep[members] = True
        else:
            top = area[members].max()
            winners = members[area[members] == top]
            if len(winners) == 1 and top > above:
                keep[winners[0]] = True
        above = max(above, area[members].max())
    return keep


def blanket(frame, accuracy: str = "accuracy", area: str = "mean_area"):
    """The rows of a pandas DataFrame that the blanket keeps, sorted by area (for drawing a line)."""
    kept = frame[blanket_mask(frame[accuracy].to_numpy(), frame[area].to_numpy())]
    return kept.sort_values([area, accuracy], ascending=[True, False], kind="stable")
