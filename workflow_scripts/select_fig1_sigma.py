"""select_fig1_sigma: choose Figure 1's snapshot of one sweep on validation metrics only, and the
isotropic sigma it is compared with (the mean of the chosen vector, as in the paper)."""

from stage import run_stage

from nusmooth.artifacts import load_snapshots, load_sweep_metrics, save_fig1_choice, save_fig1_sigmas
from nusmooth.selection import choose_fig1_snapshot


def main(snakemake):
    tolerance = snakemake.params.accuracy_tolerance
    saved = load_snapshots(snakemake.input.snapshots)
    choice = choose_fig1_snapshot(load_sweep_metrics(snakemake.input.metrics), tolerance)
    learned = saved.at(choice.sub_epoch)
    isotropic = float(learned.mean())
    # sum log sigma, min sigma and D fix the largest area / l2 radius this sigma can certify (Figure 1's
    # x-range and the tables' thresholds come from them and from validation, never from test points).
    record = dict(
        sub_epoch=choice.sub_epoch,
        val=choice.val,
        init=saved.init,
        isotropic_sigma=isotropic,
        sigma_space=saved.pixel_space,
        dimension=learned.numel(),
        sum_log_sigma=float(learned.double().log().sum()),
        min_sigma=float(learned.min()),
        rule=f"largest validation mean area among snapshots within {tolerance} validation accuracy of the best",
    )
    print(record)
    save_fig1_sigmas(learned, isotropic, snakemake.output.sigmas)
    save_fig1_choice(record, snakemake.output.choice)


run_stage(snakemake, main)
