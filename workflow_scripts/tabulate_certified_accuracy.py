"""tabulate_certified_accuracy: certified accuracy of Figure 1's sigmas at a few certified areas
(round numbers spanning the central 90% of the certified areas seen), for one dataset."""

import numpy as np
from script_setup import run_stage

from nusmooth.artifacts import load_certificates, load_fig1_choice
from nusmooth.io import atomic_write_text, atomic_write_tsv
from nusmooth.summaries import certified_accuracy_table, html_document, round_thresholds


def main(snakemake):
    curves, inputs = {}, snakemake.input
    for choice_path, learned, isotropic in zip(inputs.choices, inputs.learned, inputs.isotropic, strict=True):
        choice = load_fig1_choice(choice_path)
        name = f"learned: init {choice['init']:g}, sub-epoch {choice['sub_epoch']}, mean {choice['isotropic_sigma']:.4g}"
        curves[name] = load_certificates(learned)
        curves[f"isotropic {choice['isotropic_sigma']:.4g}"] = load_certificates(isotropic)
    areas = np.concatenate([table["certified_area"].to_numpy(dtype=float) for table in curves.values()])
    table = certified_accuracy_table(curves, round_thresholds(areas, snakemake.params.table_areas))
    print(table.to_string())
    atomic_write_tsv(table, snakemake.output.tsv)
    dataset = snakemake.wildcards.dataset
    note = (f"{dataset}: fraction of test points certified correct with certified area O_CA at least the column's value "
            "(Figure 1 read at a few areas). sigma in [0,1] pixel units; the isotropic sigma is the mean of the learned vector.")
    atomic_write_text(html_document(f"Certified accuracy at fixed areas: {dataset}", [("Figure 1 sigmas", table)], note),
                      snakemake.output.html)


run_stage(snakemake, main)
