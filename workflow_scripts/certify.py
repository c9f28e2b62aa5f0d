"""certify: Figure 1's certificates, one TSV row per test point, for one chosen sigma (learned or
its isotropic counterpart)."""

import torch
from script_setup import seeded_generator, start

from nusmooth.data import PreparedDataset
from nusmooth.evaluation import certify_split
from nusmooth.io import atomic_write_tsv
from nusmooth.models import load_checkpoint

device = start(snakemake)
settings = snakemake.params.fig1
dataset = PreparedDataset.load(snakemake.input.dataset)
model, _ = load_checkpoint(snakemake.input.model, device)
sigma = torch.load(snakemake.input.sigmas, weights_only=True)[snakemake.wildcards.kind]
table = certify_split(
    model, dataset.splits["test"], sigma, len(dataset.classes), settings["n0"], settings["n"], snakemake.params.alpha,
    snakemake.params.batch_size, settings["test_points"], device, seeded_generator(settings["seed"], device), progress=True,
)
table["sigma_space"] = dataset.info["pixel_space"]
print(f"certified correct {table['correct'].mean():.3f}, mean seconds per point {table['time'].iloc[0]:.4f}")
atomic_write_tsv(table, snakemake.output.certificates)
