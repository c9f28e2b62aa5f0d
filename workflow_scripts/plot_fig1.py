"""plot_fig1 / plot_fig1_dataset: certified accuracy vs certified area, the learned sigma (solid) vs
the isotropic sigma equal to its mean (dashed), one panel per dataset."""

from script_setup import run_stage

from nusmooth.artifacts import load_certificates, load_fig1_choice
from nusmooth.plotting import fig1, fig1_panel_from_results, save


def main(snakemake):
    inputs, results = snakemake.input, {}
    for dataset, choice, learned, isotropic in zip(snakemake.params.datasets, inputs.choices, inputs.learned,
                                                   inputs.isotropic, strict=True):
        results.setdefault(dataset, []).append(
            {"choice": load_fig1_choice(choice), "learned": load_certificates(learned),
             "isotropic": load_certificates(isotropic)})
    save(fig1([fig1_panel_from_results(dataset, rows) for dataset, rows in results.items()]),
         snakemake.output.pdf, snakemake.output.png)


run_stage(snakemake, main)
