"""evaluate_sigma: Figure 2's points for one sweep (every learned snapshot, or one isotropic
constant) on one split: validation (for choices) or test (for reporting). One job per split, so
Figure 1's choice waits only for the validation job.

Each split draws its own noise stream; within a split every snapshot of the sweep is certified with
the same stream (common random numbers: the snapshots differ in sigma only, not in luck).
"""

import pandas as pd
import torch
from script_setup import base_model, compute_device, run_stage, stream_generator

from nusmooth.data import PreparedDataset
from nusmooth.evaluation import certify_split, clean_accuracy_and_area
from nusmooth.io import atomic_write_tsv, load_artifact


def candidates(snakemake):
    """``(sub_epoch, sigma)`` of every learned snapshot, or ``(0, constant)`` for an isotropic sweep."""
    if snakemake.wildcards.kind == "isotropic":
        return [(0, torch.tensor(float(snakemake.wildcards.init)))]
    saved = load_artifact(snakemake.input.snapshots, "optimize_sigma", expected_keys=("sigmas", "sub_epochs"))
    return list(zip(saved["sub_epochs"], saved["sigmas"]))


def main(snakemake):
    device, settings, alpha = compute_device(snakemake), snakemake.params.evaluation, snakemake.params.alpha
    name, kind, init, split = (snakemake.wildcards[key] for key in ("dataset", "kind", "init", "split"))
    dataset = PreparedDataset.load(snakemake.input.dataset)
    model, precision, _ = base_model(snakemake, device)
    rows = []
    for sub_epoch, sigma in candidates(snakemake):
        table = certify_split(
            model, dataset.splits[split], sigma, num_classes=len(dataset.classes), n0=settings["n0"], n=settings["n"], alpha=alpha,
            batch_size=snakemake.params.batch_size, limit=settings["points"], device=device,
            generator=stream_generator(device, settings["seed"], "evaluate_sigma", name, kind, init, split), progress=True,
            precision=precision,
        )
        accuracy, mean_area = clean_accuracy_and_area(table)
        rows.append({
            "kind": kind, "init": float(init), "sub_epoch": sub_epoch, "split": split, "accuracy": accuracy,
            "mean_area": mean_area, "points": len(table), "sigma_mean": float(sigma.mean()), "n0": settings["n0"],
            "n": settings["n"], "alpha": alpha, "precision": precision, "sigma_space": dataset.info["pixel_space"],
        })
        print(rows[-1])
    atomic_write_tsv(pd.DataFrame(rows), snakemake.output.metrics)


run_stage(snakemake, main)
