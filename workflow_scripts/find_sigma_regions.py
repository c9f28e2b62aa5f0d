"""find_sigma_regions: the robust (largest sigma) and non-robust (smallest sigma) pixels of every
Figure-1 vector of one dataset: per-pixel table, summary table, and overlay image."""

import pandas as pd
import torch
from script_setup import fig1_choices, start

from nusmooth.features import region_pixels, region_summary
from nusmooth.io import atomic_write_text, atomic_write_tsv
from nusmooth.plotting import regions_figure, save, title_of
from nusmooth.summaries import html_document

start(snakemake)
fraction = snakemake.params.fraction
dataset = snakemake.wildcards.dataset
background = torch.load(snakemake.input.mean_image, weights_only=True)["mean_image"].numpy()
pixels, summaries, cells = [], [], []
for folder, choice in fig1_choices(snakemake.input.choices, dataset):
    sigma = torch.load(folder / "sigmas.pt", weights_only=True)["learned"].numpy()
    key = {"init": choice["init"], "sub_epoch": choice["sub_epoch"]}
    pixels.append(region_pixels(sigma, fraction).assign(**key))
    summaries.append(region_summary(sigma, fraction).assign(**key))
    cells.append({"init": choice["init"], "sigma": sigma, "label": f"init $\\sigma$={choice['init']:g}, sub-epoch {choice['sub_epoch']}"})
summary = pd.concat(summaries, ignore_index=True)
print(summary.to_string())
atomic_write_tsv(pd.concat(pixels, ignore_index=True), snakemake.output.pixels)
atomic_write_tsv(summary, snakemake.output.summary)
note = (f"{dataset}: the {100 * fraction:g}% of pixels with the largest and the smallest sigma (mean over channels) of "
        "each Figure-1 vector. border_share: share of the region on the image border, border_share_of_image: the "
        "border's share of the whole image (a region on the border more often than that is drawn to it).")
atomic_write_text(html_document(f"Robust and non-robust regions: {dataset}", [("regions", summary)], note), snakemake.output.html)
cells.sort(key=lambda cell: cell["init"])
save(regions_figure(title_of(dataset), background, cells, fraction), snakemake.output.pdf, snakemake.output.png)
