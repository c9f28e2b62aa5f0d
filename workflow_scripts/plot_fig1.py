"""plot_fig1 / plot_fig1_dataset: certified accuracy vs certified area, the learned sigma (solid) vs
the isotropic sigma equal to its mean (dashed), one panel per dataset."""

import json

from script_setup import run_stage

from nusmooth.plotting import fig1, fig1_panel_from_results, read_tsv, save


def main(snakemake):
    inputs, results = snakemake.input, {}
    for dataset, choice, learned, isotropic in zip(snakemake.params.datasets, inputs.choices, inputs.learned,
                                                   inputs.isotropic, strict=True):
        results.setdefault(dataset, []).append(
            {"choice": json.load(open(choice)), "learned": read_tsv(learned), "isotropic": read_tsv(isotropic)})
    save(fig1([fig1_panel_from_results(dataset, rows) for dataset, rows in results.items()]),
         snakemake.output.pdf, snakemake.output.png)


run_stage(snakemake, main)
