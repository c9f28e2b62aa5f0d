"""Compare the tables of two finished runs, and what their sweeps cost.

Every table (``*.tsv``) under ``results/tables/`` and ``results/sigma_regions/`` of run A is compared
with run B's: files only in one run, columns only in one, rows only in one (rows are matched on the
key columns the tables share: kind, init, sub_epoch, split, sigma, view, threshold, group, ...), and
each value that differs (numbers beyond ``--tolerance``, relative; exact by default). With
``--sweeps`` it also prints, for each run, the forward passes of its validation and test sweeps (from
the sweep metrics files: points x (n0 + n) per candidate) and the wall seconds of its sweep jobs
(Snakemake's benchmark files), for a before / after comparison on one machine.

    python benchmarks/compare_runs.py RUN_A RUN_B [--tolerance 1e-12] [--sweeps] [--show 20]

Exits with status 1 when a table differs, 0 when every table is equal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: Where the run's reported tables live.
TABLE_FOLDERS = ("results/tables", "results/sigma_regions")
#: Columns that name a row, in the order they are tried as a key.
KEY_COLUMNS = (
    "kind",
    "init",
    "sub_epoch",
    "split",
    "sigma",
    "learned",
    "isotropic",
    "view",
    "threshold",
    "group",
    "rank",
    "class_index",
)
#: The sweeps' jobs and the metrics files whose rows are the candidates they certified.
SWEEP_JOB_RULES = ("race_stage", "evaluate_sigma", "certify_front")
SWEEP_METRICS = ("results/sweep/*/*/val.tsv", "results/sweep/*/*/test.tsv")


def tables(run: Path) -> dict[str, Path]:
    return {str(p.relative_to(run)): p for folder in TABLE_FOLDERS for p in sorted((run / folder).rglob("*.tsv"))}


def row_key(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The key columns both tables have, if they name every row of each once; else [] (rows in order)."""
    key = [c for c in KEY_COLUMNS if c in a.columns and c in b.columns]
    if key and not a.duplicated(key).any() and not b.duplicated(key).any():
        return key
    return []


def differing(x: pd.Series, y: pd.Series, tolerance: float) -> np.ndarray:
    """Where two aligned columns differ: numbers beyond a relative tolerance (NaN equals NaN), else text."""
    if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
        a, b = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        with np.errstate(invalid="ignore"):
            same |= np.abs(a - b) <= tolerance * np.maximum(np.abs(a), np.abs(b))
        return ~same
    return (x.astype(str) != y.astype(str)).to_numpy()


def shown(value) -> str:
    """A cell as Python writes it (numpy scalars as plain numbers)."""
    return repr(value.item() if hasattr(value, "item") else value)


def compare_table(a: pd.DataFrame, b: pd.DataFrame, tolerance: float, show: int) -> list[str]:
    """What differs between two tables, in lines (none when they are equal)."""
    lines = []
    only_a, only_b = [c for c in a.columns if c not in b.columns], [c for c in b.columns if c not in a.columns]
    if only_a:
        lines.append(f"  columns only in A: {only_a}")
    if only_b:
        lines.append(f"  columns only in B: {only_b}")
    key = row_key(a, b)
    if key:
        merged = a.merge(b, on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
        for side, name in (("left_only", "A"), ("right_only", "B")):
            rows = merged[merged["_merge"] == side][key]
            if len(rows):
                lines.append(f"  {len(rows)} row(s) only in {name} (by {key}): {rows.head(show).values.tolist()}")
        both = merged[merged["_merge"] == "both"]
        pairs = [(both[f"{c}_a"], both[f"{c}_b"], c) for c in a.columns if c in b.columns and c not in key]
        labels = both[key].astype(str).agg("/".join, axis=1).tolist()
    else:
        if len(a) != len(b):
            return lines + [f"  {len(a)} rows in A, {len(b)} in B, and no key names every row: not compared further"]
        pairs = [(a[c].reset_index(drop=True), b[c].reset_index(drop=True), c) for c in a.columns if c in b.columns]
        labels = [f"row {i}" for i in range(len(a))]
    cells = []
    for x, y, column in pairs:
        for position in np.flatnonzero(differing(x, y, tolerance)):
            cells.append(
                f"  {labels[position]} {column}: {shown(x.iloc[position])} (A) vs {shown(y.iloc[position])} (B)"
            )
    if cells:
        lines.append(f"  {len(cells)} value(s) differ:")
        lines += cells[:show] + ([f"  ... and {len(cells) - show} more"] if len(cells) > show else [])
    return lines


def sweep_costs(run: Path) -> dict[str, float]:
    """Forward passes of the run's validation and test sweeps (points x (n0 + n) of every candidate's
    metrics row) and the wall seconds of its sweep jobs, by rule."""
    costs = {}
    for pattern in SWEEP_METRICS:
        split = Path(pattern).stem
        for path in sorted(run.glob(pattern)):
            metrics = pd.read_csv(path, sep="\t")
            passes = float((metrics["points"] * (metrics["n0"] + metrics["n"])).sum())
            costs[f"{split} forward passes"] = costs.get(f"{split} forward passes", 0.0) + passes
    for rule in SWEEP_JOB_RULES:
        seconds = [
            float(pd.read_csv(p, sep="\t")["s"].iloc[0]) for p in (run / "benchmarks/results" / rule).rglob("*.tsv")
        ]
        if seconds:
            costs[f"{rule}: {len(seconds)} job(s), wall seconds"] = sum(seconds)
    return costs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.0, help="relative tolerance of numbers (default: exact)")
    parser.add_argument("--sweeps", action="store_true", help="also print each run's sweep passes and wall seconds")
    parser.add_argument("--show", type=int, default=20, help="at most this many rows or values per file")
    args = parser.parse_args(argv)
    first, second = tables(args.run_a), tables(args.run_b)
    if not first and not second:
        parser.error(f"no tables under {TABLE_FOLDERS} of either run: pass two finished run directories")
    different = 0
    for name in sorted(set(first) | set(second)):
        if name not in second or name not in first:
            print(f"only in {'A' if name in first else 'B'}: {name}")
            different += 1
            continue
        lines = compare_table(
            pd.read_csv(first[name], sep="\t"), pd.read_csv(second[name], sep="\t"), args.tolerance, args.show
        )
        print(f"{'differs' if lines else 'equal'}: {name}")
        for line in lines:
            print(line)
        different += bool(lines)
    print(f"{len(set(first) | set(second)) - different} table(s) equal, {different} differ")
    if args.sweeps:
        for label, run in (("A", args.run_a), ("B", args.run_b)):
            for what, value in sweep_costs(run).items():
                print(f"{label} {what}: {value:,.0f}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
