"""The "blanket" filter of Figures 2 and 4: which (accuracy, area) points make up a front.

The rule, why it follows the authors' code rather than the paper's prose, and its closed form are
explained once, in docs/method.md ("The blanket filter").
"""

from __future__ import annotations

import numpy as np


def _as_points(accuracy, area) -> tuple[np.ndarray, np.ndarray]:
    accuracy = np.asarray(accuracy, dtype=float)
    area = np.nan_to_num(np.asarray(area, dtype=float), nan=-np.inf, posinf=np.inf, neginf=-np.inf)
    if accuracy.ndim != 1 or accuracy.shape != area.shape:
        raise ValueError(
            f"accuracy and area must be 1-D of equal length, got {accuracy.shape} and {area.shape}; "
            "pass one accuracy and one area per point"
        )
    if np.isnan(accuracy).any():
        raise ValueError("accuracy contains NaN; every point needs an accuracy (drop or recompute those rows)")
    return accuracy, area


def blanket_mask(accuracy, area) -> np.ndarray:
    """Boolean mask, in input order, of the points the blanket keeps. O(n log n).

    ``accuracy`` and ``area``: 1-D sequences of equal length; NaN accuracy is an error, NaN area means
    "no area" (``-inf``).
    """
    accuracy, area = _as_points(accuracy, area)
    count = len(accuracy)
    keep = np.zeros(count, dtype=bool)
    if count == 0:
        return keep
    # Accuracy descending, then area descending, then input order: the walk's order, with exact
    # duplicates adjacent and the first of them in input order leading.
    order = np.lexsort((np.arange(count), -area, -accuracy))
    acc, ar = accuracy[order], area[order]
    new_level = np.ones(count, dtype=bool)
    new_level[1:] = acc[1:] != acc[:-1]
    new_point = new_level.copy()
    new_point[1:] |= ar[1:] != ar[:-1]
    # Largest area among the points of strictly greater accuracy than each point.
    running_max = np.maximum.accumulate(ar)
    level_start = np.maximum.accumulate(np.where(new_level, np.arange(count), 0))
    above = np.where(level_start > 0, running_max[np.maximum(level_start - 1, 0)], -np.inf)
    # A level's first point has its largest area; only it can reach past the levels above.
    kept = new_point & ((acc == acc[0]) | (new_level & (ar > above)))
    keep[order] = kept
    return keep


def blanket(frame, accuracy: str = "accuracy", area: str = "mean_area"):
    """The rows of a pandas DataFrame that the blanket keeps, sorted by area (for drawing a line)."""
    kept = frame[blanket_mask(frame[accuracy].to_numpy(), frame[area].to_numpy())]
    return kept.sort_values([area, accuracy], ascending=[True, False], kind="stable")
