"""select_fig1_sigma: choose Figure 1's snapshot of one sweep on validation metrics only, and the
isotropic sigmas tied to it: the arithmetic mean of the chosen vector (the paper's comparator) and its
geometric mean (the same sum of log sigma)."""

from stage import run_stage

from nusmooth.artifacts import FIG1_CHOICE, FIG1_SIGMAS, Fig1Sigmas, SNAPSHOTS, SWEEP_METRICS
from nusmooth.selection import choose_fig1_snapshot, isotropic_counterparts


def main(snakemake):
    tolerance = snakemake.params.accuracy_tolerance
    saved = SNAPSHOTS.load(snakemake.input.snapshots)
    choice = choose_fig1_snapshot(SWEEP_METRICS.load(snakemake.input.metrics), tolerance)
    learned = saved.at(choice.sub_epoch)
    counterparts = isotropic_counterparts(learned.double().numpy())
    # sum log sigma, min sigma and D fix the largest area / l2 radius this sigma can certify (Figure 1's
    # x-range and the tables' thresholds come from them and from validation, never from test points).
    record = dict(
        sub_epoch=choice.sub_epoch,
        val=choice.val,
        init=saved.init,
        **counterparts,
        sigma_space=saved.pixel_space,
        dimension=learned.numel(),
        sum_log_sigma=float(learned.double().log().sum()),
        min_sigma=float(learned.min()),
        rule=f"largest validation mean area among snapshots within {tolerance} validation accuracy of the best",
    )
    print(record)
    sigmas = Fig1Sigmas.of(
        learned, isotropic=counterparts["isotropic_sigma"], geometric=counterparts["geometric_sigma"]
    )
    FIG1_SIGMAS.save(sigmas, snakemake.output.sigmas)
    FIG1_CHOICE.save(record, snakemake.output.choice)


run_stage(snakemake, main)
