"""plot_fig1: certified accuracy vs certified area, non-isotropic (solid) vs isotropic (dashed)."""

from script_setup import fig1_choices, start

from nusmooth.plotting import fig1, fig1_panel_from_results, read_tsv, save

start(snakemake)
panels = []
for dataset in snakemake.params.datasets:
    results = [
        {"choice": choice, "learned": read_tsv(folder / "learned.tsv"), "isotropic": read_tsv(folder / "isotropic.tsv")}
        for folder, choice in fig1_choices(snakemake.input.choices, dataset)
    ]
    panels.append(fig1_panel_from_results(dataset, results))
save(fig1(panels), snakemake.output.pdf, snakemake.output.png)
