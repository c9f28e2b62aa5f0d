"""plot_fig2 / plot_fig4: clean accuracy vs certified area, one panel per dataset: every snapshot's
test metrics faint, and each method's front (chosen on validation) drawn with its test metrics.
Figure 4 (its rule gives class counts) adds the accuracy of always predicting the test split's
majority class."""

from script_setup import run_stage

from nusmooth.artifacts import load_class_counts, load_fig2_points
from nusmooth.plotting import front_figure, save, title_of
from nusmooth.summaries import majority_share


def main(snakemake):
    datasets = snakemake.params.datasets
    counts = snakemake.input.class_counts if hasattr(snakemake.input, "class_counts") else [None] * len(datasets)
    panels = []
    for dataset, points_path, counts_path in zip(datasets, snakemake.input.points, counts, strict=True):
        panel = {"title": title_of(dataset), "points": load_fig2_points(points_path)}
        if counts_path is not None:
            balance = load_class_counts(counts_path)
            panel["majority"] = majority_share(balance[balance["split"] == "test"])
            print(f"{dataset}: majority-class share of the test split {panel['majority']:.4f}")
        panels.append(panel)
    save(front_figure(panels), snakemake.output.pdf, snakemake.output.png)


run_stage(snakemake, main)
