"""train_base: train the dataset's base classifier (no noise augmentation, as in the paper), or
package pretrained weights (ImageNet) when the config says so.

Long runs survive being killed: after every epoch the full training state goes to the rule's
``params.resume`` file beside the outputs (not an ``output:``, so Snakemake does not delete it when
the job fails); a rerun with the same settings and data continues from there, and the file is
removed once the model is saved.
"""

import hashlib
from pathlib import Path

import pandas as pd
import torch
from script_setup import seeded_generator, start

from nusmooth.data import PreparedDataset
from nusmooth.io import atomic_torch_save, atomic_write_tsv
from nusmooth.models import build_model, pretrained_model, save_checkpoint
from nusmooth.training import accuracy, train_classifier

device = start(snakemake)
settings = dict(snakemake.params.model)
dataset = PreparedDataset.load(snakemake.input.dataset)
train, val = dataset.splits["train"], dataset.splits["val"]
classes = len(dataset.classes)

if settings["pretrained"]:
    model = pretrained_model(settings["arch"], classes, dataset.mean, dataset.std, settings["weights"]).to(device)
    history = [{"epoch": 0, "train_loss": float("nan"), "val_accuracy": accuracy(model, val.images, val.labels, device, settings["batch_size"])}]
    print(f"packaged pretrained {settings['arch']} ({settings['weights'] or 'torchvision download'}): {history[0]}")
else:
    resume_path = Path(snakemake.params.resume)
    # The resume state is valid only for these settings and this exact training data.
    fingerprint = hashlib.sha256(train.labels.numpy().tobytes() + str(tuple(train.images.shape)).encode()).hexdigest()
    identity = {"settings": settings, "data": fingerprint}
    resume_state = None
    if resume_path.exists():
        saved = torch.load(resume_path, map_location="cpu", weights_only=True)
        if saved["identity"] == identity:
            resume_state = saved["state"]
            print(f"resuming from {resume_path} after epoch {resume_state['epoch']}")
        else:
            print(f"ignoring {resume_path}: saved with other settings or data")
    torch.manual_seed(settings["seed"])
    model = build_model(settings["arch"], classes, dataset.mean, dataset.std)
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
        resume_state=resume_state,
        on_checkpoint=lambda state: atomic_torch_save({"identity": identity, "state": state}, resume_path),
        progress=True,
    )

save_checkpoint(snakemake.output.model, model, settings["arch"], classes, dataset.mean, dataset.std, settings)
atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
if not settings["pretrained"]:
    resume_path.unlink(missing_ok=True)
