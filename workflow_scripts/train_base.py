"""train_base: train the dataset's base classifier (no noise augmentation, as in the paper)."""

import pandas as pd
import torch
from script_setup import seeded_generator, start

from nusmooth.data import PreparedDataset
from nusmooth.io import atomic_write_tsv
from nusmooth.models import build_model, save_checkpoint
from nusmooth.training import train_classifier

device = start(snakemake)
settings = snakemake.params.model
dataset = PreparedDataset.load(snakemake.input.dataset)
torch.manual_seed(settings["seed"])
model = build_model(settings["arch"], len(dataset.classes), dataset.mean, dataset.std)
train, val = dataset.splits["train"], dataset.splits["val"]
history = train_classifier(
    model,
    (train.images, train.labels),
    (val.images, val.labels),
    epochs=settings["epochs"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    gamma=settings["gamma"],
    device=device,
    generator=seeded_generator(settings["seed"], torch.device("cpu")),
    optimizer_name=settings["optimizer"],
    on_epoch=print,
)
save_checkpoint(snakemake.output.model, model, settings["arch"], len(dataset.classes), dataset.mean, dataset.std, settings)
atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
