"""plot_fig3: the learned sigma vectors of Figure 1 as images (global min-max, nearest-neighbour
enlarged, colour bar in sigma units), one row per dataset."""

from stage import run_stage

from nusmooth.artifacts import FIG1_CHOICE, FIG1_SIGMAS
from nusmooth.plotting import fig3, save
from nusmooth.registry import title_of


def main(snakemake):
    rows = {}
    for dataset, choice_path, sigmas in zip(
        snakemake.params.datasets, snakemake.input.choices, snakemake.input.sigmas, strict=True
    ):
        choice = FIG1_CHOICE.load(choice_path)
        sigma = FIG1_SIGMAS.load(sigmas).learned.numpy()
        print(
            f"{dataset} init {choice['init']:g}: sigma min {sigma.min():.4f} mean {sigma.mean():.4f} max {sigma.max():.4f}"
        )
        rows.setdefault(dataset, []).append(
            {
                "init": choice["init"],
                "sigma": sigma,
                "label": f"init $\\sigma$={choice['init']:g}, sub-epoch {choice['sub_epoch']}",
            }
        )
    figure = fig3(
        [
            {"title": title_of(d, snakemake.params.titles), "cells": sorted(cells, key=lambda c: c["init"])}
            for d, cells in rows.items()
        ]
    )
    save(figure, snakemake.output.pdf, snakemake.output.png)


run_stage(snakemake, main)
