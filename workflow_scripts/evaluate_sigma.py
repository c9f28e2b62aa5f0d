"""evaluate_sigma: Figure 2's points for one sweep (every learned snapshot, or one isotropic
constant) on one split: validation (for choices) or test (for reporting). One job per split, so
Figure 1's choice waits only for the validation job.

Each split draws its own noise stream; within a split every snapshot of the sweep is certified with
the same stream (common random numbers: the snapshots differ in sigma only, not in luck).
"""

import pandas as pd
import torch
from stage import base_model, compute_device, run_stage, stream_generator

from nusmooth.artifacts import DATASET, SNAPSHOTS, SWEEP_METRICS, SWEEP_RECORDS
from nusmooth.records import certify_split, sweep_records
from nusmooth.evidence import SNAPSHOT_INTERVAL_COLUMNS, snapshot_metrics


def candidates(snakemake):
    """``(sub_epoch, sigma)`` of every learned snapshot, or ``(0, constant)`` for an isotropic sweep."""
    if snakemake.wildcards.kind == "isotropic":
        return [(0, torch.tensor(float(snakemake.wildcards.init)))]
    return SNAPSHOTS.load(snakemake.input.snapshots).items()


def main(snakemake):
    device, settings, alpha = compute_device(snakemake), snakemake.params.evaluation, snakemake.params.alpha
    name, kind, init, split = (snakemake.wildcards[key] for key in ("dataset", "kind", "init", "split"))
    dataset = DATASET.load(snakemake.input.dataset)
    model, precision, _ = base_model(snakemake, device)
    rows, records = [], []
    for sub_epoch, sigma in candidates(snakemake):
        table = certify_split(
            model,
            dataset.splits[split],
            sigma,
            num_classes=len(dataset.classes),
            n0=settings["n0"],
            n=settings["n"],
            alpha=alpha,
            batch_size=snakemake.params.batch_size,
            limit=settings["points"],
            device=device,
            generator=stream_generator(
                device, settings["seed"], "evaluate_sigma", dataset=name, kind=kind, init=init, split=split
            ),
            progress=True,
            precision=precision,
        )
        # The metrics row is computed from the very records written below (one function for every sweep number).
        records.append(
            sweep_records(table, kind=kind, init=init, sub_epoch=sub_epoch, split=split, precision=precision)
        )
        metrics = snapshot_metrics(records[-1])
        rows.append(
            {
                "kind": kind,
                "init": float(init),
                "sub_epoch": sub_epoch,
                "split": split,
                "accuracy": metrics["accuracy"],
                "mean_area": metrics["mean_area"],
                "points": metrics["points"],
                "sigma_mean": float(sigma.mean()),
                "n0": settings["n0"],
                "n": settings["n"],
                "alpha": alpha,
                "precision": precision,
                "sigma_space": dataset.info["pixel_space"],
                **{key: metrics[key] for key in SNAPSHOT_INTERVAL_COLUMNS},
            }
        )
        print(rows[-1])
    SWEEP_RECORDS.save(pd.concat(records, ignore_index=True), snakemake.output.records)
    SWEEP_METRICS.save(pd.DataFrame(rows), snakemake.output.metrics)
    best = max(rows, key=lambda row: row["accuracy"])
    return f"{len(rows)} sigma(s), best certified-correct share {best['accuracy']:.3f} (sub-epoch {best['sub_epoch']})"


run_stage(snakemake, main)
