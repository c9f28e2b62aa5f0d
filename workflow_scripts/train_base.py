"""train_base: train the dataset's base classifier (no noise augmentation, as in the paper), or
package pretrained weights (ImageNet) when the config says so, or package given weights / a TorchScript
model (``model.weights``, ``model.source``) for any dataset. A configured model is checked on one zero
batch of the dataset's input shape first (classes, channels, size), before any training.

A killed job resumes: after every epoch the full training state goes to ``params.resume`` (not an
``output:``, which Snakemake would delete on failure); a rerun with the same settings and training
data continues from there and ends as an uninterrupted run would.
"""

import pandas as pd
import torch
from script_setup import compute_device, run_stage, stream_generator

from nusmooth.acceleration import configure_backends, prepare_model
from nusmooth.artifacts import load_dataset
from nusmooth.io import atomic_write_tsv
from nusmooth.data import training_subset
from nusmooth.models import base_model, configured_checkpoint_extras, describe_model, is_packaged, save_checkpoint
from nusmooth.resume import ResumeFile, content_fingerprint
from nusmooth.seeds import stream_seed
from nusmooth.training import accuracy, train_classifier


def main(snakemake):
    device, settings, name = compute_device(snakemake), dict(snakemake.params.model), snakemake.wildcards.dataset
    dataset = load_dataset(snakemake.input.dataset)
    train, val, classes = dataset.splits["train"], dataset.splits["val"], len(dataset.classes)
    mean, std = settings.get("mean") or dataset.mean, settings.get("std") or dataset.std
    packaged = is_packaged(settings)
    if packaged:
        model = base_model(settings, classes, mean, std, dataset.input_shape, name).to(device)
        history = [{"epoch": 0, "train_loss": float("nan"),
                    "val_accuracy": accuracy(model, val.images, val.labels, device, settings["batch_size"])}]
        print(f"packaged {describe_model(settings)} ({settings['weights'] or ('torchvision download' if settings['pretrained'] else 'its own file')}): {history[0]}")
    else:
        # model.train_points: a seeded, stratified subset (a quick run of any dataset).
        train = training_subset(train, settings.get("train_points"), stream_seed(settings["seed"], "train_base", name, "subset"))
        resume = ResumeFile(snakemake.params.resume, {"settings": settings, "train": content_fingerprint(train.labels),
                                                      "images": content_fingerprint(train.images)})
        torch.manual_seed(stream_seed(settings["seed"], "train_base", name, "init and dropout"))
        model = base_model(settings, classes, mean, std, dataset.input_shape, name)
        compute = snakemake.params.compute
        configure_backends(device, cudnn_benchmark=compute["cudnn_benchmark"])
        model = prepare_model(model, channels_last=compute["channels_last"], compile=False)
        history = train_classifier(
            model, (train.images, train.labels), (val.images, val.labels), epochs=settings["epochs"],
            batch_size=settings["batch_size"], lr=settings["lr"], gamma=settings["gamma"], device=device,
            generator=stream_generator(torch.device("cpu"), settings["seed"], "train_base", name, "order"),
            optimizer_name=settings["optimizer"], on_epoch=print, resume_state=resume.load(), on_checkpoint=resume.save,
            progress=True,
        )
    save_checkpoint(snakemake.output.model, model, settings.get("source") or settings["arch"], classes, mean, std, settings,
                    configured_checkpoint_extras(settings))
    atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
    if not packaged:
        resume.remove()


run_stage(snakemake, main)
