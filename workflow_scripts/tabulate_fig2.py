"""tabulate_fig2: one dataset's sweep points (every learned snapshot and isotropic constant, both
splits) with the blanket's verdict on the validation split, and the fronts that Figures 2 and 4 draw
(chosen on validation, shown with their test metrics)."""

from pathlib import Path

from stage import run_stage

from nusmooth.artifacts import FIG2_FRONT, FIG2_POINTS, SWEEP_METRICS
from nusmooth.io import atomic_write_text
from nusmooth.registry import SIGMA_KINDS
from nusmooth.tables import FRONT_SPLITS_NOTE, front_table, html_document, sweep_points


def main(snakemake):
    paths = list(snakemake.input.metrics)
    points = sweep_points([SWEEP_METRICS.load(path) for path in paths], sources=paths)
    front = front_table(points)
    print(front.to_string())
    FIG2_POINTS.save(points, snakemake.output.points)
    FIG2_FRONT.save(front, snakemake.output.front)
    sections = [
        (f"{kind} front (chosen on validation, test metrics drawn)", front[front["kind"] == kind].drop(columns="kind"))
        for kind in SIGMA_KINDS
    ]
    note = f"{snakemake.wildcards.dataset}: {FRONT_SPLITS_NOTE} All points of both splits: {Path(snakemake.output.points).name}."
    atomic_write_text(
        html_document(f"Figure 2 fronts: {snakemake.wildcards.dataset}", sections, note), snakemake.output.html
    )


run_stage(snakemake, main)
