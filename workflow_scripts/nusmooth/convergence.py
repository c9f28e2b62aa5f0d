"""Did sigma learning converge, or did its step budget stop it? Per sub-epoch of a sweep: its surrogate
objective, its validation metrics, and how many entries of sigma sit at the step cap; and the rule that
reads them (written once, in ``docs/method.md``, "Convergence of sigma learning").

Adam moves ``log sigma_i`` by at most about the learning rate per step (its step is the gradient's
running mean over the root of its running square, whose size is 1 when the gradient's sign never
changes), so over the steps taken an entry can travel at most the **step budget**
``sum_t lr_t``. An entry whose ``|log(sigma_i / init)|`` reaches :data:`CAP_SHARE` of the budget moved
at full speed, in one direction, on (nearly) every step: it is **at the cap**, where the budget, not
the objective, decided its value.

A sweep **converged** when both hold after its last sub-epoch:

1. the validation mean certified area of the snapshot before lies inside the last snapshot's 95%
   interval (the last sub-epoch changed the objective the snapshot choice maximises by less than the
   validation estimate's own uncertainty), and
2. fewer than :data:`MOST_AT_CAP` of sigma's entries are at the cap.

Otherwise it **stopped at its budget** (the entries at the cap say so) or **still moved** (the
validation change is outside the interval); with a single sub-epoch, or without a validation interval
(fewer certified-correct points than an interval needs), the rule **cannot tell**.

Pure functions of the sweep's history, snapshots and validation metrics (numpy and pandas).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: An entry is at the step cap when it moved at least this share of the step budget.
CAP_SHARE = 0.95
#: A converged sweep has fewer than this share of its entries at the cap.
MOST_AT_CAP = 0.01

CONVERGED = "converged"
AT_BUDGET = "stopped at its step budget"
STILL_MOVING = "still moving"
CANNOT_TELL = "cannot tell"

#: The columns of one sweep's per-sub-epoch table (:func:`sweep_convergence`).
COLUMNS = (
    "sub_epoch",
    "learning_rate",
    "steps",
    "step_budget",
    "objective",
    "counted_fraction",
    "sigma_mean",
    "largest_move",
    "entries",
    "at_cap",
    "val_accuracy",
    "val_accuracy_lower",
    "val_accuracy_upper",
    "val_mean_area",
    "val_mean_area_lower",
    "val_mean_area_upper",
)


def steps_per_sub_epoch(training_points: int, batch_size: int) -> int:
    """Mini-batches in one pass over ``training_points`` (the last one may be short)."""
    return math.ceil(training_points / batch_size)


def step_budgets(history: pd.DataFrame, batches: int) -> np.ndarray:
    """``sum_t lr_t`` over the Adam steps taken up to each sub-epoch: a sub-epoch's batches less those it
    skipped (no example counted), each at that sub-epoch's learning rate."""
    steps = batches - history["skipped_batches"].to_numpy()
    return np.cumsum(history["learning_rate"].to_numpy() * steps)


def at_cap(sigma, init: float, budget: float) -> np.ndarray:
    """Booleans, one per entry of ``sigma``: it moved from ``init`` by at least CAP_SHARE of ``budget``
    in log space."""
    moved = np.abs(np.log(np.asarray(sigma, dtype=np.float64) / init))
    return (moved >= CAP_SHARE * budget) & (budget > 0)


def sweep_convergence(
    history: pd.DataFrame, snapshots: list, validation: pd.DataFrame, *, init: float, batches: int
) -> pd.DataFrame:
    """One row per sub-epoch of a sweep from ``init`` (columns :data:`COLUMNS`).

    ``history``: optimize_sigma's history (``learning_rate``, ``mean_loss``, ``skipped_batches``,
    ``counted_fraction``, one row per sub-epoch); ``snapshots``: the sigma after each sub-epoch, in
    order (arrays); ``validation``: the learned sweep's validation metrics (one row per ``sub_epoch``,
    with the intervals of evaluate_sigma); ``batches``: mini-batches per sub-epoch. The objective is the
    surrogate certified area the sub-epoch's steps maximised (minus its mean loss).
    """
    if len(history) != len(snapshots):
        raise ValueError(f"{len(history)} history rows but {len(snapshots)} snapshots: they come from one sweep")
    budgets = step_budgets(history, batches)
    validated = validation.set_index("sub_epoch")
    rows = []
    for position, (stats, sigma) in enumerate(zip(history.itertuples(), snapshots)):
        sigma = np.asarray(sigma, dtype=np.float64)
        metrics = validated.loc[stats.sub_epoch]
        rows.append(
            {
                "sub_epoch": int(stats.sub_epoch),
                "learning_rate": float(stats.learning_rate),
                "steps": int(batches - stats.skipped_batches),
                "step_budget": float(budgets[position]),
                "objective": -float(stats.mean_loss),
                "counted_fraction": float(stats.counted_fraction),
                "sigma_mean": float(sigma.mean()),
                "largest_move": float(np.abs(np.log(sigma / init)).max()),
                "entries": int(sigma.size),
                "at_cap": int(at_cap(sigma, init, budgets[position]).sum()),
                "val_accuracy": float(metrics["accuracy"]),
                "val_accuracy_lower": float(metrics["accuracy_lower"]),
                "val_accuracy_upper": float(metrics["accuracy_upper"]),
                "val_mean_area": float(metrics["mean_area"]),
                "val_mean_area_lower": float(metrics["mean_area_lower"]),
                "val_mean_area_upper": float(metrics["mean_area_upper"]),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def convergence_verdict(sweep: pd.DataFrame) -> tuple[str, str]:
    """``(verdict, the numbers in words)`` of one sweep's table (:func:`sweep_convergence`) by the rule
    of this module's docstring: :data:`CONVERGED`, :data:`AT_BUDGET`, :data:`STILL_MOVING` or
    :data:`CANNOT_TELL`."""
    rows = sweep.sort_values("sub_epoch")
    last = rows.iloc[-1]
    share = last.at_cap / last.entries
    capped = (
        f"{last.at_cap:.0f} of {last.entries:.0f} entries ({100 * share:.1f}%) at the step cap "
        f"(moved >= {CAP_SHARE:g} x the budget {last.step_budget:.2f} in log sigma; largest move {last.largest_move:.2f})"
    )
    if len(rows) < 2:
        return CANNOT_TELL, f"one sub-epoch, no change to measure; {capped}"
    before = rows.iloc[-2]
    interval = (last.val_mean_area_lower, last.val_mean_area_upper)
    change = (
        f"validation mean area {before.val_mean_area:.0f} -> {last.val_mean_area:.0f} in sub-epoch "
        f"{last.sub_epoch:.0f} (interval of the last [{interval[0]:.0f}, {interval[1]:.0f}])"
    )
    if share >= MOST_AT_CAP:
        return AT_BUDGET, f"{capped}; {change}"
    if not np.all(np.isfinite(interval)):
        return CANNOT_TELL, f"{change}: no interval (too few certified-correct validation points); {capped}"
    if not interval[0] <= before.val_mean_area <= interval[1]:
        return STILL_MOVING, f"{change}: outside it; {capped}"
    return CONVERGED, f"{change}: inside it; {capped}"
