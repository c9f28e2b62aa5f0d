"""optimize_sigma: learn sigma from one initial constant; save the snapshot after every sub-epoch."""

import math

import pandas as pd
import torch
from tqdm import tqdm
from script_setup import seeded_generator, start

from nusmooth.data import PreparedDataset
from nusmooth.io import atomic_torch_save, atomic_write_tsv
from nusmooth.models import load_checkpoint
from nusmooth.surrogate import SigmaOptimizer
from nusmooth.training import iterate_minibatches

device = start(snakemake)
settings = snakemake.params.sigma
init = float(snakemake.wildcards.init)
dataset = PreparedDataset.load(snakemake.input.dataset)
model, _ = load_checkpoint(snakemake.input.model, device)
train = dataset.splits["train"]
images, labels = train.images[: settings["train_points"]], train.labels[: settings["train_points"]]

optimizer = SigmaOptimizer(
    model,
    dataset.input_shape,
    init_sigma=init,
    lr=settings["lr"],
    gamma=settings["gamma"],
    num_copies=settings["n_train"],
    device=device,
    generator=seeded_generator(settings["seed"], device),
)
order = seeded_generator(settings["seed"], torch.device("cpu"))
snapshots, history = [], []
batches_per_sub_epoch = math.ceil(len(labels) / settings["batch_size"])
for sub_epoch in range(1, settings["sub_epochs"] + 1):
    batches = iterate_minibatches(images, labels, settings["batch_size"], order)
    stats = optimizer.run_sub_epoch(tqdm(batches, total=batches_per_sub_epoch, desc=f"sub-epoch {sub_epoch}", mininterval=10))
    sigma = optimizer.sigma
    snapshots.append(sigma)
    history.append(dict(vars(stats), sigma_mean=float(sigma.mean()), sigma_min=float(sigma.min()), sigma_max=float(sigma.max())))
    print(history[-1])

atomic_torch_save(
    {"init": init, "sigmas": torch.stack(snapshots), "sub_epochs": list(range(1, len(snapshots) + 1)), "pixel_space": dataset.info["pixel_space"]},
    snakemake.output.snapshots,
)
atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
