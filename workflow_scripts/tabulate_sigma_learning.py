"""tabulate_sigma_learning: section 4.2's claim that the accuracy stays close to the accuracy at
initialization while sigma is learned. Each learned sweep's validation accuracy after every sub-epoch
against the isotropic sweep at its initial constant (sigma at initialization), on the same validation
points, with paired intervals (nusmooth.claims.accuracy_during_learning)."""

import pandas as pd
from stage import run_stage

from nusmooth.artifacts import LEARNING_ACCURACY, SWEEP_RECORDS
from nusmooth.claims import accuracy_during_learning


def main(snakemake):
    rows = [
        accuracy_during_learning(SWEEP_RECORDS.load(learned), SWEEP_RECORDS.load(initial))
        for learned, initial in zip(snakemake.input.learned, snakemake.input.initial, strict=True)
    ]
    table = pd.concat(rows, ignore_index=True)
    print(table.to_string())
    LEARNING_ACCURACY.save(table, snakemake.output.table)


run_stage(snakemake, main)
