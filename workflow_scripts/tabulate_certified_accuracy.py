"""tabulate_certified_accuracy: certified accuracy of Figure 1's sigmas at a few certified areas and
at a few l2 radii, each with its Wilson 95% interval over the test points, and the learned-minus-
isotropic difference at each with Newcombe's paired 95% interval, for one dataset. The thresholds are
round numbers from the 5% quantile of the values certified on *validation* (the chosen learned
snapshot's and the isotropic sweep's records of the same constants) to the largest value the sigmas
can certify at all (tables.display_grid), never from test points."""

import pandas as pd
from stage import fig1_results, run_stage

from nusmooth.artifacts import CERTIFIED_ACCURACY, CERTIFIED_ACCURACY_L2, PAIRED_DIFFERENCES
from nusmooth.io import atomic_write_text
from nusmooth.registry import SIGMA_KINDS
from nusmooth.tables import (
    certified_accuracy_intervals,
    check_one_precision,
    display_grid,
    html_document,
    largest_certifiable,
    nothing_certified_note,
    paired_difference_table,
    with_intervals_wide,
)


def main(snakemake):
    results = fig1_results(snakemake)
    precision = check_one_precision([f for r in results for f in r.frames], [s for r in results for s in r.sources])
    curves, pairs, ceilings = {}, [], []
    for result, n in zip(results, snakemake.params.n, strict=True):
        choice = result.choice
        learned = (
            f"learned: init {choice['init']:g}, sub-epoch {choice['sub_epoch']}, mean {choice['isotropic_sigma']:.4g}"
        )
        isotropic = f"isotropic {choice['isotropic_sigma']:.4g}"
        curves[learned], curves[isotropic] = result.learned, result.isotropic
        pairs.append((learned, result.learned, isotropic, result.isotropic))
        ceilings += [largest_certifiable(choice, kind, n, snakemake.params.alpha) for kind in SIGMA_KINDS]
    grid = display_grid([frame for r in results for frame in r.validation], ceilings, snakemake.params.table_areas)
    thresholds = {view: grid[view]["thresholds"] for view in grid}
    tables = {
        view: certified_accuracy_intervals(curves, thresholds[view], view).assign(precision=precision)
        for view in thresholds
    }
    differences = pd.concat(
        [paired_difference_table(pairs, thresholds[view], view) for view in thresholds], ignore_index=True
    )
    differences["precision"] = precision
    print(pd.concat(tables.values()).to_string(), differences.to_string(), sep="\n")
    CERTIFIED_ACCURACY.save(tables["area"], snakemake.output.tsv)
    CERTIFIED_ACCURACY_L2.save(tables["l2_radius"], snakemake.output.l2)
    PAIRED_DIFFERENCES.save(differences, snakemake.output.differences)
    dataset = snakemake.wildcards.dataset
    note = (
        f"{dataset} ({precision}): fraction of test points certified correct with certified area O_CA (or l2 radius "
        "Phi^-1(pA_lower) min sigma) at least the column's value; 'clean accuracy' counts every certified-correct point. "
        "Brackets: 95% interval over the test points (Wilson for an accuracy, Newcombe's paired interval for a "
        "difference: both sigmas are certified on the same test points), not over the noise. Thresholds: round numbers "
        "over the values certified on validation. sigma in [0,1] pixel units; the isotropic sigma is the mean of the "
        "learned vector. A negative difference means the isotropic sigma certifies more points at that threshold."
    )
    # A run that certifies nothing gets its tables of zeros, saying so first.
    note = " ".join(filter(None, [nothing_certified_note(grid, curves), note]))
    sections = [
        ("Certified accuracy at fixed areas", with_intervals_wide(tables["area"], "sigma", "certified_accuracy")),
        (
            "Certified accuracy at fixed l2 radii",
            with_intervals_wide(tables["l2_radius"], "sigma", "certified_accuracy"),
        ),
    ]
    for view, label in (("area", "areas"), ("l2_radius", "l2 radii")):
        mine = differences[differences["view"] == view]
        sections.append(
            (f"Learned minus isotropic at fixed {label} (paired)", with_intervals_wide(mine, "learned", "difference"))
        )
    atomic_write_text(
        html_document(f"Certified accuracy at fixed areas and radii: {dataset}", sections, note), snakemake.output.html
    )


run_stage(snakemake, main)
