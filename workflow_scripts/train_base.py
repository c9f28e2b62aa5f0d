"""train_base: train the dataset's base classifier (no noise augmentation, as in the paper), or
package pretrained weights (ImageNet) when the config says so.

A killed job resumes, as optimize_sigma does: after every epoch the trainer's ``state_dict`` goes to
``params.resume`` (not an ``output:``, which Snakemake would delete on failure); a rerun with the same
settings and training data loads it and ends as an uninterrupted run would.
"""

import pandas as pd
import torch
from stage import compute_device, run_stage, stream_generator

from nusmooth.acceleration import configure_backends, prepare_model
from nusmooth.artifacts import load_dataset
from nusmooth.io import atomic_write_tsv
from nusmooth.models import build_model, pretrained_model, save_checkpoint
from nusmooth.resume import ResumeFile, content_fingerprint
from nusmooth.seeds import stream_seed
from nusmooth.training import BaseTrainer, accuracy


def main(snakemake):
    device, settings, name = compute_device(snakemake), dict(snakemake.params.model), snakemake.wildcards.dataset
    dataset = load_dataset(snakemake.input.dataset)
    train, val, classes = dataset.splits["train"], dataset.splits["val"], len(dataset.classes)
    if settings["pretrained"]:
        model = pretrained_model(settings["arch"], classes, dataset.mean, dataset.std, settings["weights"]).to(device)
        history = [{"epoch": 0, "train_loss": float("nan"),
                    "val_accuracy": accuracy(model, val.images, val.labels, device, settings["batch_size"])}]
        print(f"packaged pretrained {settings['arch']} ({settings['weights'] or 'torchvision download'}): {history[0]}")
    else:
        # "trainer": the layout of the saved state (a BaseTrainer's state_dict), so that a state saved in
        # another layout is ignored instead of misread.
        resume = ResumeFile(snakemake.params.resume, {"settings": settings, "train": content_fingerprint(train.labels),
                                                      "images": content_fingerprint(train.images), "state": "trainer"})
        torch.manual_seed(stream_seed(settings["seed"], "train_base", name, "init and dropout"))
        model = build_model(settings["arch"], classes, dataset.mean, dataset.std)
        compute = snakemake.params.compute
        configure_backends(device, cudnn_benchmark=compute["cudnn_benchmark"])
        model = prepare_model(model, channels_last=compute["channels_last"], compile=False)
        trainer = BaseTrainer(model, lr=settings["lr"], gamma=settings["gamma"], device=device,
                              generator=stream_generator(torch.device("cpu"), settings["seed"], "train_base", name, "order"),
                              optimizer_name=settings["optimizer"])
        state = resume.load()
        if state is not None:
            trainer.load_state_dict(state["trainer"])
        for _ in range(trainer.epochs_done + 1, settings["epochs"] + 1):
            print(trainer.run_epoch((train.images, train.labels), (val.images, val.labels), batch_size=settings["batch_size"],
                                    epochs=settings["epochs"], progress=True))
            resume.save({"trainer": trainer.state_dict()})
        history = trainer.history
    save_checkpoint(snakemake.output.model, model, arch=settings["arch"], num_classes=classes, mean=dataset.mean, std=dataset.std, train_config=settings)
    atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
    if not settings["pretrained"]:
        resume.remove()


run_stage(snakemake, main)
