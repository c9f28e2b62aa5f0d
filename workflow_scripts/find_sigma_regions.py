"""find_sigma_regions: the robust (largest sigma) and non-robust (smallest sigma) pixels of every
Figure-1 vector of one dataset: per-pixel table, summary table, and overlay image."""

import pandas as pd
from stage import run_stage

from nusmooth.sigma_regions import region_pixels, region_summary
from nusmooth.artifacts import FIG1_CHOICE, FIG1_SIGMAS, MEAN_VAL_IMAGE, REGION_SUMMARY
from nusmooth.io import atomic_write_text, atomic_write_tsv
from nusmooth.plotting import regions_figure, save
from nusmooth.registry import title_of
from nusmooth.tables import html_document


def main(snakemake):
    fraction, dataset = snakemake.params.fraction, snakemake.wildcards.dataset
    background = MEAN_VAL_IMAGE.load(snakemake.input.mean_image).mean_image.numpy()
    pixels, summaries, cells = [], [], []
    for choice_path, sigmas in zip(snakemake.input.choices, snakemake.input.sigmas, strict=True):
        choice = FIG1_CHOICE.load(choice_path)
        sigma = FIG1_SIGMAS.load(sigmas).learned.numpy()
        key = {"init": choice["init"], "sub_epoch": choice["sub_epoch"]}
        pixels.append(region_pixels(sigma, fraction).assign(**key))
        summaries.append(region_summary(sigma, fraction).assign(**key))
        cells.append(
            {
                "init": choice["init"],
                "sigma": sigma,
                "label": f"init $\\sigma$={choice['init']:g}, sub-epoch {choice['sub_epoch']}",
            }
        )
    summary = pd.concat(summaries, ignore_index=True)
    print(summary.to_string())
    atomic_write_tsv(pd.concat(pixels, ignore_index=True), snakemake.output.pixels)
    REGION_SUMMARY.save(summary, snakemake.output.summary)
    note = (
        f"{dataset}: the {100 * fraction:g}% of pixels with the largest and the smallest sigma (mean over channels) of "
        "each Figure-1 vector. border_share: share of the region on the image border, border_share_of_image: the "
        "border's share of the whole image (a region on the border more often than that is drawn to it)."
    )
    atomic_write_text(
        html_document(f"Robust and non-robust regions: {dataset}", [("regions", summary)], note), snakemake.output.html
    )
    cells.sort(key=lambda cell: cell["init"])
    save(
        regions_figure(title_of(dataset, snakemake.params.titles), background, cells, fraction),
        snakemake.output.pdf,
        snakemake.output.png,
    )


run_stage(snakemake, main)
