"""plot_fig3: the learned sigma vectors of Figure 1 as images (global min-max, nearest-neighbour
enlarged, colour bar in sigma units), one row per dataset."""

import torch
from script_setup import fig1_choices, start

from nusmooth.plotting import fig3, save, title_of

start(snakemake)
rows = []
for dataset in snakemake.params.datasets:
    cells = []
    for folder, choice in fig1_choices(snakemake.input.choices, dataset):
        sigma = torch.load(folder / "sigmas.pt", weights_only=True)["learned"].numpy()
        print(f"{dataset} init {choice['init']:g}: sigma min {sigma.min():.4f} mean {sigma.mean():.4f} max {sigma.max():.4f}")
        cells.append({"init": choice["init"], "sigma": sigma,
                      "label": f"init $\\sigma$={choice['init']:g}, sub-epoch {choice['sub_epoch']}"})
    rows.append({"title": title_of(dataset), "cells": sorted(cells, key=lambda cell: cell["init"])})
save(fig3(rows), snakemake.output.pdf, snakemake.output.png)
