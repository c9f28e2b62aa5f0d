"""The numbers behind the figures, as tables: Figure 2's fronts, certified accuracy at a few areas,
class balance. Pure functions of DataFrames; the stage scripts write them."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .blanket import blanket_mask
from .evaluation import certified_accuracy_curve, clean_accuracy_and_area
from .registry import CERTIFIED_SPLITS, CHOOSING_SPLIT, SHOWN_SPLIT

#: Columns every sweep metrics file (``{kind}_{init}/{split}.tsv``, written by evaluate_sigma.py) has.
SWEEP_COLUMNS = ["kind", "init", "sub_epoch", "split", "accuracy", "mean_area", "points", "sigma_mean", "n0", "n", "alpha", "sigma_space"]

#: One snapshot (a learned sigma after a sub-epoch, or an isotropic constant): certified once per split.
SNAPSHOT = ["kind", "init", "sub_epoch"]

#: What the Figure 2/4 front tables and figures show, for the page or log that prints them.
FRONT_SPLITS_NOTE = (
    "Each method's front is chosen by the blanket filter on the validation split (val_accuracy, "
    "val_mean_area); Figures 2 and 4 draw the same snapshots' test-split metrics (test_accuracy, "
    "test_mean_area), joined in the order of the validation front, so the line may turn back where the "
    "test metrics disagree with the validation ones. A front member that certifies no test point "
    "correctly has no test area: it is listed with drawn = False and named in the figure, not drawn."
)

#: Columns of :func:`front_table`, in order.
FRONT_COLUMNS = ["kind", "front_position", "init", "sub_epoch", "sigma_mean", "val_accuracy", "val_mean_area", "val_points",
                 "test_accuracy", "test_mean_area", "test_points", "drawn", "n0", "n", "alpha", "sigma_space"]


def _check_snapshots(points: pd.DataFrame) -> None:
    """Every snapshot must have exactly one row on each of the two splits."""
    unknown = set(points["split"]) - {CHOOSING_SPLIT, SHOWN_SPLIT}
    if unknown:
        raise ValueError(f"sweep metrics have rows of splits {sorted(unknown)}; only {CHOOSING_SPLIT!r} and "
                         f"{SHOWN_SPLIT!r} are expected: remove those rows")
    repeated = points[points.duplicated(SNAPSHOT + ["split"], keep=False)]
    if not repeated.empty:
        raise ValueError(f"sweep metrics list a snapshot twice on one split:\n{repeated[SNAPSHOT + ['split']].to_string()}\n"
                         "each sweep metrics file must be given once; check the list of sweep metrics passed in")
    splits = points.groupby(SNAPSHOT)["split"].nunique()
    incomplete = splits[splits < 2]
    if not incomplete.empty:
        raise ValueError(f"snapshots certified on one split only (the fronts are chosen on {CHOOSING_SPLIT!r} and "
                         f"shown on {SHOWN_SPLIT!r}): {incomplete.index.tolist()}; rerun evaluate_sigma for them")


def sweep_points(metrics: list[pd.DataFrame]) -> pd.DataFrame:
    """All sweep rows of one dataset (both splits) in one table, with ``on_val_front``: the snapshot is
    kept by the blanket among the *validation* rows of its kind (learned / isotropic). The mark is set on
    the snapshot's validation and test rows alike, so the test rows say which points the figures join."""
    if not metrics:
        raise ValueError("no sweep metrics given")
    points = pd.concat(metrics, ignore_index=True)
    missing = set(SWEEP_COLUMNS) - set(points.columns)
    if missing:
        raise ValueError(f"sweep metrics lack columns {sorted(missing)}; rerun evaluate_sigma")
    _check_snapshots(points)
    choosing = points[points["split"] == CHOOSING_SPLIT]
    chosen = []
    for _, group in choosing.groupby("kind"):
        kept = blanket_mask(group["accuracy"].to_numpy(), group["mean_area"].to_numpy())
        chosen.append(group.loc[kept, SNAPSHOT])
    chosen = pd.concat(chosen, ignore_index=True)
    key = pd.MultiIndex.from_frame(points[SNAPSHOT])
    points["on_val_front"] = key.isin(pd.MultiIndex.from_frame(chosen))
    return points.sort_values(["split", "kind", "init", "sub_epoch"], kind="stable").reset_index(drop=True)


def _kind_order(kinds: pd.Series) -> pd.Series:
    """Learned before isotropic (as the figures' legends), any other kind after them."""
    known = {"learned": 0, "isotropic": 1}
    return kinds.map(lambda kind: known.get(kind, len(known)))


def front_table(points: pd.DataFrame) -> pd.DataFrame:
    """Each method's front, one row per member: chosen on validation, shown on test.

    ``points``: the output of :func:`sweep_points`. Per kind, the rows are in the order of the
    validation front (increasing validation area; ``front_position`` counts from 1), which is the order
    the figures join them in. ``val_*`` are the metrics that chose the member, ``test_*`` the ones drawn;
    ``drawn`` is false when the member certifies no test point correctly (no test area). See
    :data:`FRONT_SPLITS_NOTE`.
    """
    if "on_val_front" not in points.columns:
        raise ValueError("points lack the on_val_front column; build them with summaries.sweep_points")
    chosen = points[(points["split"] == CHOOSING_SPLIT) & points["on_val_front"]]
    shown = points[points["split"] == SHOWN_SPLIT]
    front = chosen.merge(shown[SNAPSHOT + ["accuracy", "mean_area", "points"]], on=SNAPSHOT, how="left",
                         suffixes=(f"_{CHOOSING_SPLIT}", f"_{SHOWN_SPLIT}"), validate="one_to_one")
    front = front.rename(columns={f"{name}_{split}": f"{split}_{name}" for name in ("accuracy", "mean_area", "points")
                                  for split in CERTIFIED_SPLITS})
    front["drawn"] = np.isfinite(front["test_mean_area"].astype(float))
    front = front.assign(kind_order=_kind_order(front["kind"]))
    front = front.sort_values(["kind_order", "kind", "val_mean_area", "val_accuracy"], ascending=[True, True, True, False],
                              kind="stable", na_position="first")
    front["front_position"] = front.groupby("kind").cumcount() + 1
    return front[FRONT_COLUMNS].reset_index(drop=True)


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
