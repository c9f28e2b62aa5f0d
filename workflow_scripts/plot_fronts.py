"""plot_fig2 / plot_fig4: clean accuracy vs certified area, one panel per dataset: every snapshot's
test metrics faint, and each method's front (chosen on validation) drawn with its test metrics, as
tabulate_fig2's front table lists them (the figure draws that table; it does not choose again).
Figure 4 (its rule gives class counts) adds the accuracy of always predicting the test split's
majority class."""

import pandas as pd
from script_setup import run_stage

from nusmooth.plotting import front_figure, save, title_of
from nusmooth.summaries import majority_share


def main(snakemake):
    datasets = snakemake.params.datasets
    counts = snakemake.input.class_counts if hasattr(snakemake.input, "class_counts") else [None] * len(datasets)
    panels = []
    for dataset, points_path, front_path, counts_path in zip(datasets, snakemake.input.points, snakemake.input.fronts,
                                                             counts, strict=True):
        panel = {"title": title_of(dataset), "points": pd.read_csv(points_path, sep="\t"),
                 "front": pd.read_csv(front_path, sep="\t")}
        if counts_path is not None:
            balance = pd.read_csv(counts_path, sep="\t")
            panel["majority"] = majority_share(balance[balance["split"] == "test"])
            print(f"{dataset}: majority-class share of the test split {panel['majority']:.4f}")
        panels.append(panel)
    save(front_figure(panels), snakemake.output.pdf, snakemake.output.png)


run_stage(snakemake, main)
