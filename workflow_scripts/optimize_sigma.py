"""optimize_sigma: learn sigma from one initial constant; save the snapshot after every sub-epoch.

A killed job resumes: after every sub-epoch the optimiser state, both random streams and the
snapshots so far go to ``params.resume`` (not an ``output:``, which Snakemake would delete on
failure); a rerun with the same settings, data and base model continues from there and gives the
same result as an uninterrupted run.
"""

import pandas as pd
import torch
from stage import base_model, compute_device, run_stage, stream_generator

from nusmooth.artifacts import DATASET, SNAPSHOTS, SigmaSnapshots
from nusmooth.io import atomic_write_tsv
from nusmooth.resume import ResumeFile, content_fingerprint, resumed_steps
from nusmooth.sanity import check_sub_epoch
from nusmooth.surrogate import SigmaOptimizer, SigmaSweep


def main(snakemake):
    device, settings = compute_device(snakemake), dict(snakemake.params.sigma)
    # The gate does not change what is learned: not part of the resume identity.
    stop_when_nothing_counts = settings.pop("stop_when_nothing_counts", True)
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
    sweep = SigmaSweep(optimizer, images, labels, batch_size=settings["batch_size"], order=order)
    for _ in resumed_steps(resume, sweep, settings["sub_epochs"]):
        stats = sweep.run_sub_epoch()
        print(stats)
        # Before resumed_steps saves the sub-epoch: a stopped sweep resumes from the last sound one.
        check_sub_epoch(stats, init=float(init), dataset=name, stop_when_nothing_counts=stop_when_nothing_counts)
    SNAPSHOTS.save(
        SigmaSnapshots.of_sweep(sweep.snapshots, init, dataset.info["pixel_space"]), snakemake.output.snapshots
    )
    atomic_write_tsv(pd.DataFrame(sweep.history), snakemake.output.history)
    resume.remove()
    last = sweep.history[-1]
    return (
        f"sigma mean {last['sigma_mean']:.4g} (min {last['sigma_min']:.4g}, max {last['sigma_max']:.4g}), "
        f"training points counted {last['counted_fraction']:.2f}"
    )


run_stage(snakemake, main)
