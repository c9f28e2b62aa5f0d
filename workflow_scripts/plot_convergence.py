"""plot_convergence: sigma learning per sub-epoch of every Figure-1 sweep of one block and its replicates
(the surrogate objective, the validation metrics, the entries at the step cap: nusmooth.convergence),
as a table and a figure (nusmooth.convergence_figure)."""

import pandas as pd
from stage import run_stage

from nusmooth.artifacts import CONVERGENCE, DATA_SUMMARY, SIGMA_HISTORY, SNAPSHOTS, SWEEP_METRICS
from nusmooth.convergence import steps_per_sub_epoch, sweep_convergence
from nusmooth.convergence_figure import convergence_figure
from nusmooth.plotting import save


def main(snakemake):
    settings = snakemake.params.sigma
    train = DATA_SUMMARY.load(snakemake.input.summary)["counts"]["train"]
    batches = steps_per_sub_epoch(min(train, settings["train_points"] or train), settings["batch_size"])
    tables = []
    for sweep, history, snapshots, validation in zip(
        snakemake.params.sweeps,
        snakemake.input.histories,
        snakemake.input.snapshots,
        snakemake.input.validation,
        strict=True,
    ):
        sigmas = [sigma.numpy() for sigma in SNAPSHOTS.load(snapshots).sigmas]
        table = sweep_convergence(
            SIGMA_HISTORY.load(history), sigmas, SWEEP_METRICS.load(validation), init=sweep["init"], batches=batches
        )
        tables.append(pd.concat([pd.DataFrame([sweep] * len(table)), table], axis=1))
    table = pd.concat(tables, ignore_index=True)
    print(table.to_string())
    CONVERGENCE.save(table, snakemake.output.table)
    save(convergence_figure(table, snakemake.params.title), snakemake.output.pdf, snakemake.output.png)


run_stage(snakemake, main)
