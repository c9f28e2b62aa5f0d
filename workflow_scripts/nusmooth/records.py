"""Summaries of certificates: the numbers behind Figures 1 and 2.

The curves and points read certificate tables with pandas only; torch is imported where
certificates are made, so the plot and table jobs start without it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .artifacts import SWEEP_RECORDS
from .registry import ABSTAIN

if TYPE_CHECKING:
    from .smoothing import Certificates


def certificate_table(
    certs: Certificates, labels: np.ndarray, indices: np.ndarray, seconds_per_point: float
) -> pd.DataFrame:
    """One row per point: the interface between certification and analysis."""
    prediction = np.asarray(certs.prediction)
    correct = (prediction == np.asarray(labels)) & (prediction != ABSTAIN)
    return pd.DataFrame(
        {
            "idx": indices,
            "label": labels,
            "predict": prediction,
            "pa_lower": certs.pa_lower,
            "phi_inv_pa_lower": certs.phi_inv_pa_lower,
            "certified_area": certs.area,
            "correct": correct.astype(int),
            "time": seconds_per_point,
            # What the bound rests on (n_A of n) and the radii that read an area as a size (see smoothing).
            "n_a": np.asarray(certs.n_a),
            "n": np.asarray(certs.n),
            "l2_radius": certs.l2_radius,
            "geometric_mean_radius": certs.geometric_mean_radius,
        }
    )


#: Columns of a sweep's per-point records (``{split}_records.tsv.gz``), in order: those of
#: :func:`sweep_records`, then ``race_stage`` (:func:`nusmooth.racing.raced_records`).
RECORD_COLUMNS = list(SWEEP_RECORDS.keys)
#: Columns of the records of one block of points (:func:`sweep_records`; a racing stage's file).
BLOCK_COLUMNS = [column for column in RECORD_COLUMNS if column != "race_stage"]


def sweep_records(
    table: pd.DataFrame, *, kind: str, init: float, sub_epoch: int, split: str, precision: str
) -> pd.DataFrame:
    """One snapshot's certificate table as per-point records: the rows every sweep number is computed from
    (:data:`BLOCK_COLUMNS`; the sweep's files add the stage it reached, :func:`nusmooth.racing.raced_records`)."""
    records = table.assign(kind=kind, init=float(init), sub_epoch=int(sub_epoch), split=split, precision=precision)
    return records[BLOCK_COLUMNS]


def clean_accuracy_and_area(table: pd.DataFrame) -> tuple[float, float]:
    """Figure 2's point: fraction certified correct (abstain = wrong), and the mean certified area
    over the certified-correct points (NaN when there is none)."""
    correct = table["correct"].astype(bool)
    mean_area = float(table.loc[correct, "certified_area"].mean()) if correct.any() else float("nan")
    return float(correct.mean()), mean_area


def certified_accuracy_curve(table: pd.DataFrame, thresholds: np.ndarray) -> np.ndarray:
    """Figure 1's curve: fraction of points correct *and* with certified area >= each threshold.

    A threshold of ``-inf`` gives the accuracy of the smoothed classifier (correct, any area); a wrong
    or abstained point never counts, whatever its area."""
    correct = table["correct"].astype(bool).to_numpy()
    areas = table["certified_area"].to_numpy()
    return (correct[None, :] & (areas[None, :] >= np.asarray(thresholds)[:, None])).mean(axis=1)


def certify_split(
    model,
    split,
    sigma,
    *,
    num_classes: int,
    n0: int,
    n: int,
    alpha: float,
    batch_size: int,
    limit: int | None,
    device,
    generator=None,
    progress: bool = False,
    precision: str = "fp32",
    active=None,
) -> pd.DataFrame:
    """Certify the first ``limit`` points of an :class:`~nusmooth.data.ImageSplit`; one row per point.

    ``time`` is the wall time per point of the whole batched run (points share forward batches);
    ``precision`` is the base model's (see :class:`~nusmooth.smoothing.NonUniformSmoothing`).
    ``active`` (a ``range`` of point indices, e.g. one racing stage's block, or booleans for the first
    ``limit`` points) certifies only those points with the noise the call without it draws, so their
    rows equal that call's rows except for ``time``; the table then has their rows only.
    """
    import torch

    from .smoothing import NonUniformSmoothing, active_mask

    points, labels = split.as_float(limit)
    points = points.to(device)
    mask = active_mask(active, len(labels))
    indices = np.arange(len(labels)) if mask is None else np.flatnonzero(mask)
    sigma = torch.as_tensor(sigma, dtype=torch.float32).to(device)
    smoothing = NonUniformSmoothing(model, num_classes, sigma, precision=precision)
    start = time.perf_counter()
    certs = smoothing.certify_many(
        points, n0=n0, n=n, alpha=alpha, batch_size=batch_size, generator=generator, progress=progress, active=mask
    )
    elapsed = time.perf_counter() - start
    return certificate_table(certs, labels.numpy()[indices], indices, elapsed / max(len(indices), 1))
