"""Choosing sigma snapshots on validation metrics (never on test metrics)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .registry import CHOOSING_SPLIT


class Fig1Choice(NamedTuple):
    """Figure 1's snapshot of one sweep: its sub-epoch and the validation metrics that chose it."""

    sub_epoch: int
    val: dict[str, float]


def select_snapshot(validation: pd.DataFrame, accuracy_tolerance: float) -> int:
    """The sub-epoch with the largest validation ``mean_area`` among the snapshots whose validation
    ``accuracy`` is within ``accuracy_tolerance`` of the best one; ties go to the earliest.

    Snapshots that certify no point correctly (NaN area) are never chosen unless nothing else exists.
    """
    if validation.empty:
        raise ValueError("no validation metrics to choose a snapshot from")
    if "split" in validation and set(validation["split"]) != {CHOOSING_SPLIT}:
        raise ValueError(
            f"select_snapshot must see validation rows only, got splits {sorted(set(validation['split']))}; "
            "use choose_fig1_snapshot to pass a sweep's metrics of all splits"
        )
    best = validation["accuracy"].max()
    eligible = validation[validation["accuracy"] >= best - accuracy_tolerance - 1e-12]
    areas = eligible["mean_area"].fillna(-np.inf).to_numpy()
    return int(eligible["sub_epoch"].to_numpy()[int(np.argmax(areas))])


def choose_fig1_snapshot(metrics: pd.DataFrame, accuracy_tolerance: float) -> Fig1Choice:
    """Figure 1's snapshot of one learned sweep, from its metrics (evaluate_sigma's ``val.tsv``; rows
    of other splits may be present): only the validation rows are read, by :func:`select_snapshot`'s rule."""
    if "split" not in metrics.columns:
        raise ValueError("metrics lack the split column; pass the sweep's val.tsv as evaluate_sigma writes it")
    sweeps = metrics[["kind", "init"]].drop_duplicates() if {"kind", "init"} <= set(metrics.columns) else pd.DataFrame()
    if len(sweeps) > 1:
        raise ValueError(
            f"metrics of one sweep expected, got {len(sweeps)} (kind, init) pairs; pass one sweep's val.tsv"
        )
    validation = metrics[metrics["split"] == CHOOSING_SPLIT]
    if validation.empty:
        raise ValueError(
            f"no {CHOOSING_SPLIT!r} rows in the sweep's metrics (splits {sorted(set(metrics['split']))}); "
            "Figure 1's snapshot is chosen on validation: certify the sweep on the validation split"
        )
    if "complete" in validation.columns and not validation["complete"].astype(bool).all():
        raise ValueError(
            "some of the sweep's snapshots lack validation points (complete = False: dropped by the race), but "
            "Figure 1's sweeps run to the end. Fix: rerun evaluate_sigma for this sweep with this config"
        )
    if validation["sub_epoch"].duplicated().any():
        raise ValueError("a sub-epoch appears twice among the validation rows; pass one sweep's val.tsv once")
    sub_epoch = select_snapshot(validation, accuracy_tolerance)
    row = validation[validation["sub_epoch"] == sub_epoch].iloc[0]
    return Fig1Choice(sub_epoch, {"accuracy": float(row["accuracy"]), "mean_area": float(row["mean_area"])})


def isotropic_counterparts(learned) -> dict[str, float]:
    """The constants of Figure 1's isotropic comparators tied to a learned vector: ``isotropic_sigma``,
    its arithmetic mean (the paper's comparator, "about the mean"), and ``geometric_sigma``, its
    geometric mean ``exp(mean log sigma)``: the constant with the same ``sum log sigma``, hence the same
    largest certifiable area (by the AM-GM inequality the arithmetic mean is at least as large)."""
    values = np.asarray(learned, dtype=np.float64)
    if values.size == 0 or not np.all(values > 0):
        raise ValueError("a learned sigma must be a non-empty vector of positive numbers")
    return {"isotropic_sigma": float(values.mean()), "geometric_sigma": float(np.exp(np.log(values).mean()))}
