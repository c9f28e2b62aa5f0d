"""Facts about a run that are not its tables, for the results page: the commit of the checkout it was
generated in (git), the wall seconds of each job (Snakemake's benchmark files), and a preset file."""

from __future__ import annotations

import subprocess

import pandas as pd
import yaml


def checkout_commit(own_outputs, cwd=None) -> str:
    """HEAD of the checkout the page is generated in, marked when tracked files differ from it. The
    page's own files are left out: Snakemake removes them before the job runs, so a committed copy
    would otherwise mark every regeneration."""
    excluded = [f":(exclude){path}" for path in own_outputs]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=cwd
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *excluded],
            capture_output=True,
            text=True,
            cwd=cwd,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty.stdout.strip() else "")


def benchmark_seconds(path) -> float:
    """Wall seconds of a job from the benchmark file Snakemake wrote for it (column ``s``; the last row
    when a job was benchmarked more than once)."""
    return float(pd.read_csv(path, sep="\t")["s"].iloc[-1])


def read_preset(path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)
