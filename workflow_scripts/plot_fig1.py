"""plot_fig1: certified accuracy vs certified area, non-isotropic (solid) vs isotropic (dashed)."""

import json
from pathlib import Path

from script_setup import start

from nusmooth.plotting import fig1, fig1_panel_from_results, read_tsv

start(snakemake)
panels = []
for dataset in snakemake.params.datasets:
    results = []
    for choice_path in snakemake.input.choices:
        folder = Path(choice_path).parent
        if folder.parent.name != dataset:
            continue
        results.append({
            "choice": json.loads(Path(choice_path).read_text()),
            "learned": read_tsv(folder / "learned.tsv"),
            "isotropic": read_tsv(folder / "isotropic.tsv"),
        })
    panels.append(fig1_panel_from_results(dataset, results))
figure = fig1(panels)
figure.savefig(snakemake.output.pdf)
figure.savefig(snakemake.output.png, dpi=200)
