"""plot_fig1 / plot_fig1_dataset: certified accuracy vs certified area, the learned sigma (solid) vs
the isotropic sigma equal to its mean (dashed), one panel per dataset, with pointwise 95% bands over
the test points; plot_fig1 also draws the l2-radius companion (figures/fig1_l2). The x-ranges come
from the validation records of the chosen snapshots and isotropic sweeps, never from test points."""

import json

import pandas as pd
from script_setup import run_stage

from nusmooth.plotting import fig1_banded, fig1_panel_from_results, read_tsv, save
from nusmooth.summaries import check_one_precision, view_range


def main(snakemake):
    inputs, results, validation, frames, sources = snakemake.input, {}, {}, [], []
    for dataset, choice, learned, isotropic, val_learned, val_isotropic in zip(
            snakemake.params.datasets, inputs.choices, inputs.learned, inputs.isotropic, inputs.val_learned,
            inputs.val_isotropic, strict=True):
        choice = json.load(open(choice))
        result = {"choice": choice, "learned": read_tsv(learned), "isotropic": read_tsv(isotropic)}
        results.setdefault(dataset, []).append(result)
        chosen = pd.read_csv(val_learned, sep="\t")
        records = [chosen[chosen["sub_epoch"] == choice["sub_epoch"]], pd.read_csv(val_isotropic, sep="\t")]
        validation.setdefault(dataset, []).extend(records)
        frames += [result["learned"], result["isotropic"], *records]
        sources += [learned, isotropic, val_learned, val_isotropic]
    precision = check_one_precision(frames, sources)
    views = {"area": (snakemake.output.pdf, snakemake.output.png)}
    if hasattr(snakemake.output, "l2_pdf"):
        views["l2_radius"] = (snakemake.output.l2_pdf, snakemake.output.l2_png)
    for view, (pdf, png) in views.items():
        panels = [dict(fig1_panel_from_results(dataset, rows), x_range=view_range(validation[dataset], view))
                  for dataset, rows in results.items()]
        save(fig1_banded(panels, view, precision), pdf, png)


run_stage(snakemake, main)
