"""The few lines a run prints on the terminal when it ends (the Snakefile's ``onsuccess`` / ``onerror``):
per dataset, the base model's validation accuracy, each sigma sweep's mean / min / max and whether it
moved from its constant, the certified accuracy of Figure 1's sigmas at a few thresholds, and the
figures that exist. Read from the run's own files only; a file that does not exist (a run stopped
early, a target that did not need it) is left out without a word.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from .tables import threshold_labels

#: Thresholds of the certified-accuracy table shown per sigma besides the clean accuracy: the lowest,
#: the middle and the highest (the table holds a handful).
SHOWN_THRESHOLDS = 3


def _read_tsv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, sep="\t")
    except (OSError, ValueError):  # missing, half-written by a killed job, or empty
        return None


def _init_of(folder: Path) -> float:
    return float(folder.name.removeprefix("init_"))


def base_model_line(root: Path, dataset: str) -> str | None:
    history = _read_tsv(root / "results" / "models" / dataset / "history.tsv")
    if history is None or history.empty or "val_accuracy" not in history:
        return None
    line = f"base model: validation accuracy {history['val_accuracy'].iloc[-1]:.3f}"
    summary = root / "results" / "data" / dataset / "summary.json"
    try:
        counts = json.loads(summary.read_text())["class_counts"]["val"]
    except (OSError, ValueError, KeyError, TypeError):
        return line
    total = sum(counts.values())
    if total:
        line += f" (majority class {max(counts.values()) / total:.3f}, {len(counts)} classes)"
    return line


def sigma_lines(root: Path, dataset: str) -> list[str]:
    lines = []
    folders = sorted((root / "results" / "sigma" / dataset).glob("init_*"), key=_init_of)
    for folder in folders:
        history = _read_tsv(folder / "history.tsv")
        if history is None or history.empty:
            continue
        last, init = history.iloc[-1], _init_of(folder)
        moved = not all(math.isclose(last[key], init, rel_tol=1e-6) for key in ("sigma_min", "sigma_max"))
        lines.append(
            f"sigma from {init:g}: mean {last['sigma_mean']:.4g}, min {last['sigma_min']:.4g}, max "
            f"{last['sigma_max']:.4g} after {len(history)} sub-epoch(s), "
            + ("moved" if moved else "DID NOT MOVE (still the constant)")
            + f"; training points counted {last['counted_fraction']:.2f}"
        )
    return lines


def certified_lines(root: Path, dataset: str) -> list[str]:
    table = _read_tsv(root / "results" / "tables" / dataset / "certified_accuracy.tsv")
    if table is None or table.empty or not {"sigma", "threshold", "certified_accuracy"} <= set(table.columns):
        return []
    finite = sorted(t for t in table["threshold"].unique() if math.isfinite(t))
    if not finite:
        return []
    shown = sorted({finite[0], finite[len(finite) // 2], finite[-1]})[:SHOWN_THRESHOLDS]
    labels = threshold_labels(shown)
    lines = ["certified accuracy (test), clean / " + " / ".join(f"O_CA >= {label}" for label in labels) + ":"]
    for sigma, rows in table.groupby("sigma", sort=False):
        by_threshold = dict(zip(rows["threshold"], rows["certified_accuracy"]))
        values = [by_threshold.get(-math.inf, math.nan)] + [by_threshold.get(t, math.nan) for t in shown]
        lines.append(f"  {sigma}: " + " / ".join(f"{v:.3f}" for v in values))
    return lines


def run_summary(root, datasets: list[str], figures: list[str]) -> str:
    """The summary of the run in ``root`` (its working directory) for ``datasets``; ``figures``: the
    paths (relative to ``root``) of the figures the run's targets may build. Empty when no file of the
    run exists yet."""
    root = Path(root)
    lines = []
    for dataset in datasets:
        found = [base_model_line(root, dataset), *sigma_lines(root, dataset), *certified_lines(root, dataset)]
        found = [line for line in found if line]
        if found:
            lines += [f"{dataset}:"] + [f"  {line}" for line in found]
    drawn = [figure for figure in figures if (root / figure).is_file()]
    if drawn:
        lines.append("figures: " + ", ".join(drawn))
    return "\n".join(["Run summary (from this run's files):", *lines]) if lines else ""
