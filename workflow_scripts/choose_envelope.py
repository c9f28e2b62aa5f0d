"""choose_envelope: the isotropic envelope of one dataset, chosen on validation only. At each threshold
of Figure 1's band grid and of its tables (fixed by validation records and the sigmas' ceilings,
tables.display_grid; nusmooth.envelope.choice_thresholds) and at each view's start, the constant of
the grid with the largest validation certified accuracy (nusmooth.envelope.choose_envelope). No test
record is read."""

from stage import run_stage

from nusmooth.artifacts import ENVELOPE_CERTIFICATES, ENVELOPE_CHOICE, FIG1_CHOICE, SWEEP_RECORDS
from nusmooth.envelope import choice_thresholds, choose_envelope, chosen_constants
from nusmooth.registry import FIG1_KINDS
from nusmooth.tables import check_one_precision, display_grid, largest_certifiable


def main(snakemake):
    inputs, alpha = snakemake.input, snakemake.params.alpha
    validation, ceilings = [], []
    for choice_path, learned, isotropic, n in zip(
        inputs.choices, inputs.val_learned, inputs.val_isotropic, snakemake.params.n, strict=True
    ):
        choice = FIG1_CHOICE.load(choice_path)
        records = SWEEP_RECORDS.load(learned)
        validation += [records[records["sub_epoch"] == choice["sub_epoch"]], SWEEP_RECORDS.load(isotropic)]
        ceilings += [largest_certifiable(choice, kind, n, alpha) for kind in FIG1_KINDS]
    grid = display_grid(validation, ceilings, snakemake.params.table_areas, band_count=snakemake.params.band_thresholds)
    certificates = {
        constant: ENVELOPE_CERTIFICATES.load(path)
        for constant, path in zip(snakemake.params.constants, inputs.validation, strict=True)
    }
    precision = check_one_precision(list(certificates.values()), list(inputs.validation))
    choice = choose_envelope(certificates, choice_thresholds(grid)).assign(precision=precision)
    print(choice.to_string())
    print(f"constants chosen (certified on test): {chosen_constants(choice)}")
    ENVELOPE_CHOICE.save(choice, snakemake.output.choice)


run_stage(snakemake, main)
