"""tabulate_certified_accuracy: certified accuracy of Figure 1's sigmas at a few certified areas and
at a few l2 radii, each with its Wilson 95% interval over the test points, and the learned-minus-
isotropic difference at each with Newcombe's paired 95% interval, for one dataset. The thresholds are
round numbers spanning the central 90% of the values certified on *validation* (the chosen learned
snapshot's and the isotropic sweep's records of the same constants), never test points."""

import json

import pandas as pd
from script_setup import run_stage

from nusmooth.io import atomic_write_text, atomic_write_tsv
from nusmooth.summaries import (certified_accuracy_intervals, check_one_precision, html_document, paired_difference_table,
                                validation_thresholds, with_intervals_wide)


def read_figure1(inputs):
    """``(curves, pairs, validation records, precision)`` of the Figure-1 vectors named by ``inputs``."""
    curves, pairs, validation, frames, sources = {}, [], [], [], []
    for choice_path, learned, isotropic, val_learned, val_isotropic in zip(
            inputs.choices, inputs.learned, inputs.isotropic, inputs.val_learned, inputs.val_isotropic, strict=True):
        choice = json.load(open(choice_path))
        learned_name = f"learned: init {choice['init']:g}, sub-epoch {choice['sub_epoch']}, mean {choice['isotropic_sigma']:.4g}"
        isotropic_name = f"isotropic {choice['isotropic_sigma']:.4g}"
        curves[learned_name], curves[isotropic_name] = pd.read_csv(learned, sep="\t"), pd.read_csv(isotropic, sep="\t")
        pairs.append((learned_name, curves[learned_name], isotropic_name, curves[isotropic_name]))
        chosen = pd.read_csv(val_learned, sep="\t")
        validation += [chosen[chosen["sub_epoch"] == choice["sub_epoch"]], pd.read_csv(val_isotropic, sep="\t")]
        frames += [curves[learned_name], curves[isotropic_name], *validation[-2:]]
        sources += [learned, isotropic, val_learned, val_isotropic]
    return curves, pairs, validation, check_one_precision(frames, sources)


def main(snakemake):
    curves, pairs, validation, precision = read_figure1(snakemake.input)
    thresholds = validation_thresholds(validation, snakemake.params.table_areas)
    tables = {view: certified_accuracy_intervals(curves, thresholds[view], view).assign(precision=precision) for view in thresholds}
    differences = pd.concat([paired_difference_table(pairs, thresholds[view], view) for view in thresholds], ignore_index=True)
    differences["precision"] = precision
    print(pd.concat(tables.values()).to_string(), differences.to_string(), sep="\n")
    atomic_write_tsv(tables["area"], snakemake.output.tsv)
    atomic_write_tsv(tables["l2_radius"], snakemake.output.l2)
    atomic_write_tsv(differences, snakemake.output.differences)
    dataset = snakemake.wildcards.dataset
    note = (f"{dataset} ({precision}): fraction of test points certified correct with certified area O_CA (or l2 radius "
            "Phi^-1(pA_lower) min sigma) at least the column's value; 'clean accuracy' counts every certified-correct point. "
            "Brackets: 95% interval over the test points (Wilson for an accuracy, Newcombe's paired interval for a "
            "difference: both sigmas are certified on the same test points), not over the noise. Thresholds: round numbers "
            "over the values certified on validation. sigma in [0,1] pixel units; the isotropic sigma is the mean of the "
            "learned vector. A negative difference means the isotropic sigma certifies more points at that threshold.")
    sections = [("Certified accuracy at fixed areas", with_intervals_wide(tables["area"], "sigma", "certified_accuracy")),
                ("Certified accuracy at fixed l2 radii", with_intervals_wide(tables["l2_radius"], "sigma", "certified_accuracy"))]
    for view, label in (("area", "areas"), ("l2_radius", "l2 radii")):
        mine = differences[differences["view"] == view]
        sections.append((f"Learned minus isotropic at fixed {label} (paired)", with_intervals_wide(mine, "learned", "difference")))
    atomic_write_text(html_document(f"Certified accuracy at fixed areas and radii: {dataset}", sections, note),
                      snakemake.output.html)


run_stage(snakemake, main)
