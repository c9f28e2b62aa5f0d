"""plot_fig2 / plot_fig4: clean accuracy vs certified area, one panel per dataset: every candidate's
validation metrics faint (test metrics with sweep_eval.test_cloud: params.clouds names each panel's
split), and each method's front (chosen on validation) drawn with its test metrics, as
tabulate_fig2's front table lists them (the figure draws that table; it does not choose again).
Figure 4 (its rule gives class counts) adds the accuracy of always predicting the test split's
majority class."""

from stage import run_stage

from nusmooth.artifacts import CLASS_COUNTS, FIG2_FRONT, FIG2_POINTS
from nusmooth.plotting import front_figure, save
from nusmooth.registry import title_of
from nusmooth.tables import check_one_precision, majority_share


def main(snakemake):
    datasets = snakemake.params.datasets
    counts = snakemake.input.class_counts if hasattr(snakemake.input, "class_counts") else [None] * len(datasets)
    panels = []
    paths = list(snakemake.input.points)
    tables = [FIG2_POINTS.load(path) for path in paths]
    check_one_precision(tables, paths)  # one precision across the panels
    clouds = snakemake.params.clouds
    for dataset, points, front_path, counts_path, cloud in zip(
        datasets, tables, snakemake.input.fronts, counts, clouds, strict=True
    ):
        panel = {
            "title": title_of(dataset, snakemake.params.titles),
            "points": points,
            "front": FIG2_FRONT.load(front_path),
            "cloud": cloud,
        }
        if counts_path is not None:
            balance = CLASS_COUNTS.load(counts_path)
            panel["majority"] = majority_share(balance[balance["split"] == "test"])
            print(f"{dataset}: majority-class share of the test split {panel['majority']:.4f}")
        panels.append(panel)
    save(front_figure(panels), snakemake.output.pdf, snakemake.output.png)


run_stage(snakemake, main)
