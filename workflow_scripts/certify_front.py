"""certify_front: the test metrics and per-point records of one kind's Figure 2 front members, as
choose_fronts chose them on validation (at most sweep_eval.test_front_members). Each member is
certified as the full test sweep certifies it (its sweep's test stream, a fresh generator per
candidate), so its records are that sweep's, bit for bit; nothing else is certified on test."""

from stage import certify_for_sweeps, compute_device, run_stage

from nusmooth.artifacts import DATASET, FRONT_TEST_METRICS, FRONT_TEST_RECORDS, SNAPSHOTS, VAL_FRONTS
from nusmooth.fronts import certified_members
from nusmooth.registry import SHOWN_SPLIT
from nusmooth.sweeps import NOT_RACED, assemble_records, front_candidates, metrics_table, sigma_means


def main(snakemake):
    device, settings = compute_device(snakemake), snakemake.params.evaluation
    dataset = DATASET.load(snakemake.input.dataset)
    members = certified_members(VAL_FRONTS.load(snakemake.input.fronts), snakemake.wildcards.kind)
    candidates = front_candidates(members, [SNAPSHOTS.load(path) for path in snakemake.input.snapshots])
    print(f"{len(candidates)} front member(s) to certify on {SHOWN_SPLIT}: {[c[:3] for c in candidates]}")
    certified = certify_for_sweeps(snakemake, dataset, SHOWN_SPLIT, candidates, device)
    records = assemble_records([certified], lambda candidate: NOT_RACED)
    total = len(dataset.splits[SHOWN_SPLIT])
    metrics = metrics_table(
        records,
        sigma_means=sigma_means(candidates),
        total_points=total if settings["points"] is None else min(total, settings["points"]),
        settings={
            "n0": settings["n0"],
            "n": settings["n"],
            "alpha": snakemake.params.alpha,
            "sigma_space": dataset.info["pixel_space"],
        },
    )
    FRONT_TEST_RECORDS.save(records, snakemake.output.records)
    FRONT_TEST_METRICS.save(metrics, snakemake.output.metrics)


run_stage(snakemake, main)
