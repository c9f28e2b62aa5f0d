"""tabulate_fig2: one dataset's sweep points (every candidate's validation metrics, and the test metrics
of the fronts' members, or of every candidate with sweep_eval.test_cloud) with the validation fronts
that choose_fronts chose, and the fronts that Figures 2 and 4 draw (chosen on validation, shown with
their test metrics)."""

from pathlib import Path

from stage import run_stage

from nusmooth.artifacts import FIG2_FRONT, FIG2_POINTS, FRONT_TEST_METRICS, SWEEP_METRICS, VAL_FRONTS
from nusmooth.io import atomic_write_text
from nusmooth.registry import SIGMA_KINDS
from nusmooth.tables import FRONT_SPLITS_NOTE, capped_note, front_table, html_document, sweep_points


def main(snakemake):
    fronts = VAL_FRONTS.load(snakemake.input.fronts)
    inputs = snakemake.input
    tables = [SWEEP_METRICS.load(path) for path in [*inputs.metrics, *getattr(inputs, "cloud", [])]]
    tables += [FRONT_TEST_METRICS.load(path) for path in getattr(inputs, "front_tests", [])]
    sources = [*inputs.metrics, *getattr(inputs, "cloud", []), *getattr(inputs, "front_tests", [])]
    points = sweep_points(tables, fronts=fronts, sources=sources)
    front = front_table(points, fronts)
    print(front.to_string())
    FIG2_POINTS.save(points, snakemake.output.points)
    FIG2_FRONT.save(front, snakemake.output.front)
    sections = [
        (f"{kind} front (chosen on validation, test metrics drawn)", front[front["kind"] == kind].drop(columns="kind"))
        for kind in SIGMA_KINDS
    ]
    note = (
        f"{snakemake.wildcards.dataset}: {FRONT_SPLITS_NOTE}{capped_note(fronts)} "
        f"All points: {Path(snakemake.output.points).name}."
    )
    atomic_write_text(
        html_document(f"Figure 2 fronts: {snakemake.wildcards.dataset}", sections, note), snakemake.output.html
    )


run_stage(snakemake, main)
