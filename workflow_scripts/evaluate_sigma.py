"""evaluate_sigma: one sweep's metrics and per-point records (every learned snapshot, or one isotropic
constant) on one split. On validation it is the race's last stage: it certifies the last block for
the candidates still running and writes the sweep's records from every stage's block, each candidate
with the stage it reached (``complete`` when it has every point). On test (``sweep_eval.test_cloud``:
every candidate, for Figure 2's cloud) it certifies every candidate on every test point.

Each split draws its own noise stream; within a split every snapshot of the sweep is certified with
the same stream (common random numbers: the snapshots differ in sigma only, not in luck).
"""

from stage import certify_for_sweeps, compute_device, run_stage, sweep_job

from nusmooth.artifacts import DATASET, RACE_BLOCK, SWEEP_METRICS, SWEEP_RECORDS
from nusmooth.sweeps import assemble_records, metrics_table


def main(snakemake):
    device, split, settings = compute_device(snakemake), snakemake.wildcards.split, snakemake.params.evaluation
    dataset = DATASET.load(snakemake.input.dataset)
    job = sweep_job(snakemake, dataset, split)
    print(f"stage {job.stage} of {job.schedule}: points {job.block.start}-{job.block.stop - 1}")
    blocks = [RACE_BLOCK.load(path) for path in getattr(snakemake.input, "blocks", [])]
    blocks.append(certify_for_sweeps(snakemake, dataset, split, job.to_certify(), device, job.active))
    # The metrics rows are computed from the very records written below (one function for every sweep number).
    records = assemble_records(blocks, job.stage_of())
    described = {"n0": settings["n0"], "n": settings["n"], "alpha": snakemake.params.alpha}
    metrics = metrics_table(
        records,
        sigma_means=job.sigma_means(),
        total_points=job.points,
        settings={**described, "sigma_space": dataset.info["pixel_space"]},
    )
    SWEEP_RECORDS.save(records, snakemake.output.records)
    SWEEP_METRICS.save(metrics, snakemake.output.metrics)
    best = metrics.loc[metrics["accuracy"].idxmax()]
    return (
        f"{len(metrics)} sigma(s), best certified-correct share {best['accuracy']:.3f} (sub-epoch {best['sub_epoch']})"
    )


run_stage(snakemake, main)
