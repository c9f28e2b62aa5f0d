"""Choosing sigma snapshots on validation metrics (never on test metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def select_snapshot(validation: pd.DataFrame, accuracy_tolerance: float) -> int:
    """The sub-epoch with the largest validation ``mean_area`` among the snapshots whose validation
    ``accuracy`` is within ``accuracy_tolerance`` of the best one; ties go to the earliest.

    Snapshots that certify no point correctly (NaN area) are never chosen unless nothing else exists.
    """
    if validation.empty:
        raise ValueError("no validation metrics to choose a snapshot from")
    if "split" in validation and set(validation["split"]) != {"val"}:
        raise ValueError(f"select_snapshot must see validation rows only, got splits {sorted(set(validation['split']))}")
    best = validation["accuracy"].max()
    eligible = validation[validation["accuracy"] >= best - accuracy_tolerance - 1e-12]
    areas = eligible["mean_area"].fillna(-np.inf).to_numpy()
    return int(eligible["sub_epoch"].to_numpy()[int(np.argmax(areas))])
