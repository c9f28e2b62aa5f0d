"""plot_fig2 / plot_fig4: clean accuracy vs certified area on the test split, blanket fronts of the
learned (solid) and isotropic (dashed) sigmas, one panel per dataset; Figure 4 adds the accuracy of
always predicting the majority class of the test split."""

import pandas as pd
from script_setup import start

from nusmooth.plotting import front_figure, save, title_of
from nusmooth.summaries import majority_share

start(snakemake)
datasets = snakemake.params.datasets
counts = snakemake.input.class_counts if snakemake.params.majority_line else [None] * len(datasets)
panels = []
for dataset, points_path, counts_path in zip(datasets, snakemake.input.points, counts, strict=True):
    points = pd.read_csv(points_path, sep="\t")
    panel = {"title": title_of(dataset), "points": points[points["split"] == "test"]}
    if counts_path is not None:
        balance = pd.read_csv(counts_path, sep="\t")
        panel["majority"] = majority_share(balance[balance["split"] == "test"])
        print(f"{dataset}: majority-class share of the test split {panel['majority']:.4f}")
    panels.append(panel)
save(front_figure(panels), snakemake.output.pdf, snakemake.output.png)
