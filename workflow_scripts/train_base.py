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
from nusmooth.data import ImageSplit, stratified_subset
from nusmooth.models import (
    build_model,
    check_model_fits,
    configured_checkpoint_extras,
    given_weights_model,
    parse_model_source,
    pretrained_model,
    save_checkpoint,
)
from nusmooth.resume import ResumeFile, content_fingerprint
from nusmooth.seeds import stream_seed
from nusmooth.training import accuracy, train_classifier


def main(snakemake):
    device, settings, name = compute_device(snakemake), dict(snakemake.params.model), snakemake.wildcards.dataset
    dataset = load_dataset(snakemake.input.dataset)
    train, val, classes = dataset.splits["train"], dataset.splits["val"], len(dataset.classes)
    mean, std = settings.get("mean") or dataset.mean, settings.get("std") or dataset.std
    source = settings.get("source")
    packaged = settings.get("weights") is not None or (source and parse_model_source(source)[0] == "torchscript")
    described = f"model.source {source}" if source else f"architecture {settings['arch']}"
    if settings["pretrained"]:
        model = pretrained_model(settings["arch"], classes, mean, std, settings["weights"]).to(device)
        history = [{"epoch": 0, "train_loss": float("nan"),
                    "val_accuracy": accuracy(model, val.images, val.labels, device, settings["batch_size"])}]
        print(f"packaged pretrained {settings['arch']} ({settings['weights'] or 'torchvision download'}): {history[0]}")
    elif packaged:
        model = given_weights_model(settings["arch"], source, classes, mean, std, settings.get("weights"))
        check_model_fits(model, dataset.input_shape, classes, name, described)
        model = model.to(device)
        history = [{"epoch": 0, "train_loss": float("nan"),
                    "val_accuracy": accuracy(model, val.images, val.labels, device, settings["batch_size"])}]
        print(f"packaged the given model ({described}, weights {settings.get('weights')}): {history[0]}")
    else:
        if settings.get("train_points") is not None:
            # A seeded, stratified subset: a quick run of any dataset (e.g. CIFAR-10 in minutes on a CPU).
            keep = torch.from_numpy(stratified_subset(train.labels.numpy(), settings["train_points"],
                                                      stream_seed(settings["seed"], "train_base", name, "subset")))
            train = ImageSplit(train.images[keep], train.labels[keep])
            print(f"training on a stratified subset of {len(train)} training images (model.train_points)")
        resume = ResumeFile(snakemake.params.resume, {"settings": settings, "train": content_fingerprint(train.labels),
                                                      "images": content_fingerprint(train.images)})
        torch.manual_seed(stream_seed(settings["seed"], "train_base", name, "init and dropout"))
        if source:
            model = given_weights_model(settings["arch"], source, classes, mean, std, None)
        else:
            model = build_model(settings["arch"], classes, mean, std)
        # Evaluation mode, no gradients: draws no random number, so the trained weights are unchanged.
        check_model_fits(model, dataset.input_shape, classes, name, described)
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
    save_checkpoint(snakemake.output.model, model, source or settings["arch"], classes, mean, std, settings,
                    configured_checkpoint_extras(settings))
    atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
    if not settings["pretrained"] and not packaged:
        resume.remove()


run_stage(snakemake, main)
