"""train_base: train the dataset's base classifier (without noise, as in the paper, or with Gaussian
noise augmentation of ``model.train_noise`` drawn from a stream of its own), or package pretrained weights (ImageNet) when the config says so, or package given weights / a TorchScript
model (``model.weights``, ``model.source``) for any dataset. A configured model is checked on one zero
batch of the dataset's input shape first (classes, channels, size), and its scores on real validation
images must be the kind ``model.outputs`` declares, before any training; the trained or packaged model
must be above chance on validation (nusmooth.sanity) before model.pt is written.

A killed job resumes, as optimize_sigma does: after every epoch the trainer's ``state_dict`` goes to
``params.resume`` (not an ``output:``, which Snakemake would delete on failure); a rerun with the same
settings and training data loads it and ends as an uninterrupted run would.
"""

import pandas as pd
import torch
from stage import compute_device, run_stage, stream_generator

from nusmooth.forward import configure_backends, prepare_model
from nusmooth.artifacts import DATASET
from nusmooth.io import atomic_write_tsv
from nusmooth.data import training_subset
from nusmooth.model_settings import describe_model, is_packaged
from nusmooth.checkpoints import configured_checkpoint_extras, save_checkpoint
from nusmooth.user_models import model_from_config
from nusmooth.resume import ResumeFile, content_fingerprint, resumed_steps
from nusmooth.sanity import OUTPUT_PROBE_IMAGES, check_base_model
from nusmooth.seeds import stream_name, stream_seed
from nusmooth.training import BaseTrainer, accuracy


def main(snakemake):
    device, settings, name = compute_device(snakemake), dict(snakemake.params.model), snakemake.wildcards.dataset
    # The gate does not change the model: neither recorded in model.pt nor part of the resume identity, so a
    # run stopped by it resumes after its last epoch once the gate is lowered.
    min_val_accuracy = settings.pop("min_val_accuracy", None)
    dataset = DATASET.load(snakemake.input.dataset)
    train, val, classes = dataset.splits["train"], dataset.splits["val"], len(dataset.classes)
    mean, std = settings.get("mean") or dataset.mean, settings.get("std") or dataset.std
    packaged = is_packaged(settings)
    if not packaged:  # fresh weights (and dropout) from the user's seed
        torch.manual_seed(
            stream_seed(settings["seed"], *stream_name("train_base", dataset=name, purpose="init and dropout"))
        )
    model = model_from_config(
        settings,
        num_classes=classes,
        mean=mean,
        std=std,
        input_shape=dataset.input_shape,
        dataset=name,
        probe=val.as_float(OUTPUT_PROBE_IMAGES)[0],
    )
    if packaged:
        model = model.to(device)
        history = [
            {
                "epoch": 0,
                "train_loss": float("nan"),
                "val_accuracy": accuracy(model, val.images, val.labels, device, settings["batch_size"]),
            }
        ]
        print(f"packaged {describe_model(settings)}: {history[0]}")
    else:
        # model.train_points: a seeded, stratified subset (a quick run of any dataset).
        train = training_subset(
            train,
            settings.get("train_points"),
            stream_seed(settings["seed"], *stream_name("train_base", dataset=name, purpose="subset")),
        )
        # "state": the saved layout (a BaseTrainer's state_dict itself): a state of another layout (the
        # earlier {"trainer": state_dict}) is ignored, not misread.
        resume = ResumeFile(
            snakemake.params.resume,
            {
                "settings": settings,
                "train": content_fingerprint(train.labels),
                "images": content_fingerprint(train.images),
                "state": "BaseTrainer.state_dict",
            },
        )
        configure_backends(device, cudnn_benchmark=snakemake.params.compute["cudnn_benchmark"])
        model = prepare_model(model, channels_last=snakemake.params.compute["channels_last"], compile=False)
        noise = settings.get("train_noise", 0)  # recorded only when set (workflow_config.recorded_model_settings)
        trainer = BaseTrainer(
            model,
            lr=settings["lr"],
            gamma=settings["gamma"],
            device=device,
            generator=stream_generator(
                torch.device("cpu"), settings["seed"], "train_base", dataset=name, purpose="order"
            ),
            optimizer_name=settings["optimizer"],
            train_noise=noise,
            noise_generator=(
                stream_generator(device, settings["seed"], "train_base", dataset=name, purpose="noise")
                if noise
                else None
            ),
        )
        for _ in resumed_steps(resume, trainer, settings["epochs"]):
            print(
                trainer.run_epoch(
                    (train.images, train.labels),
                    (val.images, val.labels),
                    batch_size=settings["batch_size"],
                    epochs=settings["epochs"],
                    progress=True,
                )
            )
        history = trainer.history
    print(
        check_base_model(
            history[-1]["val_accuracy"],
            val.labels,
            dataset.classes,
            dataset=name,
            packaged=packaged,
            min_val_accuracy=min_val_accuracy,
        )
    )
    save_checkpoint(
        snakemake.output.model,
        model,
        arch=settings.get("source") or settings["arch"],
        num_classes=classes,
        mean=mean,
        std=std,
        train_config=settings,
        extras=configured_checkpoint_extras(settings),
    )
    atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
    if not packaged:
        resume.remove()
    return f"validation accuracy {history[-1]['val_accuracy']:.3f}"


run_stage(snakemake, main)
