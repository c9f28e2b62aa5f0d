"""optimize_sigma: learn sigma from one initial constant; save the snapshot after every sub-epoch.

A killed job resumes: after every sub-epoch the optimiser state, both random streams and the
snapshots so far go to ``params.resume`` (not an ``output:``, which Snakemake would delete on
failure); a rerun with the same settings, data and base model continues from there and gives the
same result as an uninterrupted run.
"""

import math

import pandas as pd
import torch
from stage import base_model, compute_device, run_stage, stream_generator
from tqdm import tqdm

from nusmooth.artifacts import DATASET, SNAPSHOTS, SigmaSnapshots
from nusmooth.io import atomic_write_tsv
from nusmooth.resume import ResumeFile, content_fingerprint
from nusmooth.surrogate import SigmaOptimizer
from nusmooth.training import iterate_minibatches


def main(snakemake):
    device, settings = compute_device(snakemake), snakemake.params.sigma
    name, init = snakemake.wildcards.dataset, snakemake.wildcards.init
    dataset = DATASET.load(snakemake.input.dataset)
    model, precision, weights = base_model(snakemake, device)
    train = dataset.splits["train"]
    images, labels = train.images[: settings["train_points"]], train.labels[: settings["train_points"]]
    # The noise and the batch order are separate streams: neither depends on how much of the other was used.
    noise = stream_generator(device, settings["seed"], "optimize_sigma", dataset=name, init=init, purpose="noise")
    order = stream_generator(
        torch.device("cpu"), settings["seed"], "optimize_sigma", dataset=name, init=init, purpose="order"
    )
    optimizer = SigmaOptimizer(
        model,
        dataset.input_shape,
        init_sigma=float(init),
        lr=settings["lr"],
        gamma=settings["gamma"],
        num_copies=settings["n_train"],
        device=device,
        generator=noise,
        precision=precision,
    )
    resume = ResumeFile(
        snakemake.params.resume,
        {
            "settings": dict(settings),
            "init": init,
            "precision": precision,
            "model": weights,
            "images": content_fingerprint(images),
            "labels": content_fingerprint(labels),
        },
    )
    snapshots, history = [], []
    state = resume.load()
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        order.set_state(state["order"])
        snapshots, history = list(state["snapshots"]), list(state["history"])
    batches_per_sub_epoch = math.ceil(len(labels) / settings["batch_size"])
    for sub_epoch in range(optimizer.sub_epochs_done + 1, settings["sub_epochs"] + 1):
        batches = tqdm(
            iterate_minibatches(images, labels, settings["batch_size"], order),
            total=batches_per_sub_epoch,
            desc=f"sub-epoch {sub_epoch}",
            mininterval=10,
        )
        stats = optimizer.run_sub_epoch(batches)
        sigma = optimizer.sigma
        snapshots.append(sigma)
        history.append(
            dict(
                vars(stats), sigma_mean=float(sigma.mean()), sigma_min=float(sigma.min()), sigma_max=float(sigma.max())
            )
        )
        print(history[-1])
        resume.save(
            {
                "optimizer": optimizer.state_dict(),
                "order": order.get_state(),
                "snapshots": snapshots,
                "history": history,
            }
        )
    SNAPSHOTS.save(SigmaSnapshots.of_sweep(snapshots, init, dataset.info["pixel_space"]), snakemake.output.snapshots)
    atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
    resume.remove()


run_stage(snakemake, main)
