"""tabulate_fig2: one dataset's sweep points (every learned snapshot and isotropic constant, both
splits) with the blanket's verdict, and the test-split fronts that Figures 2 and 4 draw."""

from pathlib import Path

import pandas as pd
from script_setup import start

from nusmooth.io import atomic_write_text, atomic_write_tsv
from nusmooth.summaries import front_table, html_document, sweep_points

start(snakemake)
points = sweep_points([pd.read_csv(path, sep="\t") for path in snakemake.input.metrics])
front = front_table(points, split="test")
print(front.to_string())
atomic_write_tsv(points, snakemake.output.points)
atomic_write_tsv(front, snakemake.output.front)
dataset = snakemake.wildcards.dataset
sections = [(f"{kind} front (test split)", front[front["kind"] == kind].drop(columns="kind")) for kind in ("learned", "isotropic")]
note = (f"{dataset}: blanket-filtered points of Figure 2 (Figure 4 for KITTI). accuracy = fraction of test points "
        "certified correct (abstain = wrong); mean_area = mean O_CA over those points. All points, with the "
        f"validation split too: {Path(snakemake.output.points).name}.")
atomic_write_text(html_document(f"Figure 2 fronts: {dataset}", sections, note), snakemake.output.html)
