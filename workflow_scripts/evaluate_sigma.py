"""evaluate_*_sigma: Figure 2's points for one sweep (every learned snapshot, or one isotropic
constant), certified on the validation split (for choices) and the test split (for reporting)."""

import pandas as pd
import torch
from script_setup import seeded_generator, start

from nusmooth.data import PreparedDataset
from nusmooth.evaluation import certify_split, clean_accuracy_and_area
from nusmooth.io import atomic_write_tsv
from nusmooth.models import load_checkpoint

device = start(snakemake)
settings, alpha = snakemake.params.evaluation, snakemake.params.alpha
init = float(snakemake.wildcards.init)
kind = "learned" if "snapshots" in snakemake.input.keys() else "isotropic"
dataset = PreparedDataset.load(snakemake.input.dataset)
model, _ = load_checkpoint(snakemake.input.model, device)

if kind == "learned":
    saved = torch.load(snakemake.input.snapshots, weights_only=True)
    candidates = list(zip(saved["sub_epochs"], saved["sigmas"]))
else:
    candidates = [(0, torch.tensor(init))]

rows = []
for split in ("val", "test"):
    for sub_epoch, sigma in candidates:
        table = certify_split(
            model, dataset.splits[split], sigma, len(dataset.classes), settings["n0"], settings["n"], alpha,
            snakemake.params.batch_size, settings[f"{split}_points"], device, seeded_generator(settings["seed"], device), progress=True,
        )
        accuracy, mean_area = clean_accuracy_and_area(table)
        rows.append({
            "kind": kind, "init": init, "sub_epoch": sub_epoch, "split": split, "accuracy": accuracy,
            "mean_area": mean_area, "points": len(table), "sigma_mean": float(sigma.mean()),
            "n0": settings["n0"], "n": settings["n"], "alpha": alpha, "sigma_space": dataset.info["pixel_space"],
        })
        print(rows[-1])
atomic_write_tsv(pd.DataFrame(rows), snakemake.output.metrics)
