"""The numbers behind the figures, as tables: Figure 2's fronts, certified accuracy at a few areas,
class balance. Pure functions of DataFrames; the stage scripts write them."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .blanket import blanket_mask
from .evaluation import certified_accuracy_curve, clean_accuracy_and_area

#: Columns every sweep metrics.tsv has (written by evaluate_sigma.py).
SWEEP_COLUMNS = ["kind", "init", "sub_epoch", "split", "accuracy", "mean_area", "points", "sigma_mean", "n0", "n", "alpha", "sigma_space"]


def sweep_points(metrics: list[pd.DataFrame]) -> pd.DataFrame:
    """All sweep rows of one dataset in one table, with ``on_front``: kept by the blanket among the
    points of the same kind (learned / isotropic) and split."""
    if not metrics:
        raise ValueError("no sweep metrics given")
    points = pd.concat(metrics, ignore_index=True)
    missing = set(SWEEP_COLUMNS) - set(points.columns)
    if missing:
        raise ValueError(f"sweep metrics lack columns {sorted(missing)}; rerun evaluate_*_sigma")
    points["on_front"] = False
    for _, group in points.groupby(["kind", "split"]):
        points.loc[group.index, "on_front"] = blanket_mask(group["accuracy"].to_numpy(), group["mean_area"].to_numpy())
    return points.sort_values(["split", "kind", "init", "sub_epoch"], kind="stable").reset_index(drop=True)


def front_table(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The blanket fronts of one split, each sorted by increasing area (the order they are drawn in)."""
    front = points[(points["split"] == split) & points["on_front"]]
    front = front.sort_values(["kind", "mean_area", "accuracy"], ascending=[True, True, False], kind="stable")
    return front[["kind", "init", "sub_epoch", "accuracy", "mean_area", "sigma_mean", "points", "n0", "n", "alpha", "sigma_space"]].reset_index(drop=True)


def round_thresholds(areas: np.ndarray, count: int) -> np.ndarray:
    """``count`` round certified areas spread over the central 90% of the finite ``areas``.

    The scale of O_CA grows with the input dimension (hundreds for MNIST, hundreds of thousands for
    ImageNet), so a fixed list cannot serve every dataset; round numbers keep the table readable.
    """
    finite = np.asarray(areas, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or count < 1:
        return np.array([])
    lo, hi = np.quantile(finite, [0.05, 0.95])
    if hi - lo <= 0:
        return np.array([float(np.round(lo, 2))])
    raw = np.linspace(lo, hi, count)
    step = 10.0 ** np.floor(np.log10((hi - lo) / max(count - 1, 1)))
    return np.unique(np.round(raw / step) * step)


def certified_accuracy_table(curves: dict[str, pd.DataFrame], thresholds: np.ndarray) -> pd.DataFrame:
    """Certified accuracy (correct *and* O_CA >= area) of each named certificate table at each area.

    Rows: one per curve; columns: ``sigma``, ``clean accuracy`` (area -inf), then one per area.
    """
    rows = []
    for name, table in curves.items():
        row = {"sigma": name, "points": len(table), "clean accuracy": clean_accuracy_and_area(table)[0]}
        for threshold, value in zip(thresholds, certified_accuracy_curve(table, thresholds)):
            row[f"O_CA >= {threshold:g}"] = float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def class_counts(labels: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Count and share of every class (all classes listed, zero counts included)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    total = max(int(counts.sum()), 1)
    return pd.DataFrame({"class_index": np.arange(len(classes)), "class": classes, "count": counts, "share": counts / total})


def majority_share(counts: pd.DataFrame) -> float:
    """The accuracy of always predicting the most frequent class."""
    return float(counts["share"].max())


def html_document(title: str, sections: list[tuple[str, pd.DataFrame]], note: str = "") -> str:
    """A small standalone HTML page of tables (what Snakemake's report shows inline)."""
    style = ("body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>",
             f"<h2>{html.escape(title)}</h2>"]
    if note:
        parts.append(f"<p>{html.escape(note)}</p>")
    for heading, frame in sections:
        table = frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-", border=0)
        parts.append(f"<h3>{html.escape(heading)}</h3>{table}")
    parts.append("</body></html>")
    return "\n".join(parts)
