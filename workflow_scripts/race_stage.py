"""race_stage: one stage (not the last) of the race of one sweep on the validation split. It certifies
the stage's block of validation points for the sweep's candidates that the race's previous decision
kept (every candidate at stage 1, and at every stage for Figure 1's sweeps, which read no decision),
with the full sweep's noise, and says what it certified for the stage's decision (the race:
docs/method.md, "Racing the validation sweep")."""

import math

from stage import certify_for_sweeps, compute_device, run_stage, sweep_job

from nusmooth.artifacts import DATASET, RACE_BLOCK, RACE_STAGE
from nusmooth.registry import CHOOSING_SPLIT


def main(snakemake):
    device = compute_device(snakemake)
    dataset = DATASET.load(snakemake.input.dataset)
    job = sweep_job(snakemake, dataset, CHOOSING_SPLIT, int(snakemake.wildcards.stage))
    print(f"stage {job.stage} of {job.schedule}: points {job.block.start}-{job.block.stop - 1}")
    records = certify_for_sweeps(snakemake, dataset, CHOOSING_SPLIT, job.to_certify(), device, job.active)
    RACE_BLOCK.save(records, snakemake.output.records)
    RACE_STAGE.save(job.summary(math.prod(dataset.input_shape)), snakemake.output.stage)


run_stage(snakemake, main)
