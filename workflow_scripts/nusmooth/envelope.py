"""The isotropic envelope: at each threshold, the best constant sigma of a grid, chosen on validation.

A user of Cohen et al.'s method picks the isotropic constant that suits the area (or radius) they
need. The envelope is that user, held to the project's rule (choose on validation, report on test):

1. every constant of a grid is certified on validation points with Figure 1's own ``n0``, ``n`` and
   ``alpha`` (so its ceilings are those of the test certificates) and a random stream of its own;
2. at each threshold of Figure 1's band grid and of its tables (:func:`choice_thresholds`), and at
   the view's start (the clean accuracy), the constant with the largest validation certified accuracy
   is chosen (:func:`choose_envelope`; ties go to the larger constant, which reaches further);
3. only the chosen constants are certified on test, and the envelope's test curve at a threshold is
   the test curve of the constant chosen there. Between two grid thresholds the choice of the lower one
   holds (:func:`constants_at`): the envelope is a step function of the threshold, like the curves.

It does not depend on any learned vector (one envelope per dataset). pandas and numpy only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .evidence import POINT_ID, certified_flags, curve_with_band

#: Threshold column of each view in a choice table, and the view's start (every certified point passes).
VIEW_STARTS = {"area": -np.inf, "l2_radius": 0.0}


def chosen_constants(choice: pd.DataFrame) -> list[float]:
    """The distinct constants a choice table takes, ascending: the ones certified on test."""
    return sorted({float(c) for c in choice["constant"]})


def choice_thresholds(grid: dict[str, dict]) -> dict[str, np.ndarray]:
    """Where the envelope chooses in each view of a :func:`nusmooth.tables.display_grid`: every
    threshold of its band grid and of its tables. A table threshold between two band thresholds needs
    a choice of its own: the constant chosen at the band threshold below may not reach it at all (the
    Fashion-MNIST page's l2 table once took sigma 0.12, chosen at r >= 0.29, at r >= 0.3, beyond its
    largest certifiable radius 0.296, and showed the envelope certifying nothing there)."""
    return {view: np.union1d(spec["band"], spec["thresholds"]) for view, spec in grid.items()}


def choose_envelope(validation: dict[float, pd.DataFrame], thresholds: dict[str, np.ndarray]) -> pd.DataFrame:
    """The constant with the largest validation certified accuracy at each threshold of each view.

    ``validation``: per constant, its certificate records on the same validation points;
    ``thresholds``: per view (``"area"``, ``"l2_radius"``), an ascending grid. The view's start (the
    clean accuracy) is added first. Ties go to the larger constant. Returns one row per (view,
    threshold): ``view``, ``threshold``, ``constant``, ``val_certified``, ``val_points``, ``val_accuracy``.
    """
    if not validation:
        raise ValueError("the envelope needs at least one constant certified on validation")
    constants = sorted(validation, reverse=True)  # argmax takes the first maximum: the larger constant
    ids = validation[constants[0]][POINT_ID]
    frames = []
    for view, grid in thresholds.items():
        full = np.concatenate([[VIEW_STARTS[view]], np.asarray(grid, dtype=float)])
        if np.any(np.diff(full) <= 0):
            raise ValueError(f"the {view} thresholds must ascend above the view's start {VIEW_STARTS[view]}")
        counts = np.stack(
            [
                certified_flags(validation[c], full, view, point_ids=ids, name=f"validation of sigma {c:g}")[1].sum(
                    axis=1
                )
                for c in constants
            ]
        )  # (constants, thresholds)
        best = np.argmax(counts, axis=0)
        certified = counts[best, np.arange(len(full))]
        frames.append(
            pd.DataFrame(
                {
                    "view": view,
                    "threshold": full,
                    "constant": np.asarray(constants)[best],
                    "val_certified": certified,
                    "val_points": len(ids),
                    "val_accuracy": certified / len(ids),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def constants_at(choice: pd.DataFrame, view: str, thresholds) -> np.ndarray:
    """The envelope's constant at each of ``thresholds``: the one chosen at the largest threshold of the
    choice at or below it (a step function; the view's start covers everything below the grid)."""
    mine = choice[choice["view"] == view].sort_values("threshold")
    if mine.empty:
        raise ValueError(f"the envelope's choice has no {view} rows; rerun choose_envelope")
    grid = mine["threshold"].to_numpy(dtype=float)
    at = np.searchsorted(grid, np.asarray(thresholds, dtype=float), side="right") - 1
    if np.any(at < 0):
        raise ValueError(f"a {view} threshold lies below the envelope's start {grid[0]}")
    return mine["constant"].to_numpy(dtype=float)[at]


def envelope_flags(
    test: dict[float, pd.DataFrame], choice: pd.DataFrame, view: str, thresholds, *, point_ids
) -> tuple[np.ndarray, np.ndarray]:
    """``(thresholds, (T, P) booleans)`` of the envelope on test: point p certified correct by the
    constant chosen for threshold t with metric >= t, points in the order of ``point_ids``."""
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=float))
    constants = constants_at(choice, view, thresholds)
    flags = np.zeros((len(thresholds), len(point_ids)), dtype=bool)
    for constant in np.unique(constants):
        if constant not in test:
            raise ValueError(f"the envelope chose sigma {constant:g} but its test certificates were not given")
        rows = constants == constant
        _, flags[rows] = certified_flags(
            test[constant], thresholds[rows], view, point_ids=point_ids, name=f"test of sigma {constant:g}"
        )
    return thresholds, flags


def envelope_curve(test: dict[float, pd.DataFrame], choice: pd.DataFrame, view: str, thresholds) -> pd.DataFrame:
    """The envelope's test curve with its pointwise Wilson band: at each threshold, the row of
    :func:`nusmooth.evidence.curve_with_band` of the constant chosen there, with ``constant``."""
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=float))
    constants = constants_at(choice, view, thresholds)
    rows = []
    for constant in np.unique(constants):
        mine = constants == constant
        rows.append(curve_with_band(test[constant], thresholds[mine], view).assign(constant=constant))
    return pd.concat(rows).sort_values("threshold", kind="stable").reset_index(drop=True)
