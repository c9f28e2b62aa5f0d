"""tabulate_certified_accuracy: Figure 1's learned sigmas of one dataset against their three comparators
(the isotropic sigma at the vector's arithmetic mean, at its geometric mean, and the isotropic envelope)
in both views: certified accuracy at a few thresholds with Wilson intervals, the learned-minus-comparator
differences there with paired intervals, the same over the whole band grid with the simultaneous 95%
band, and the verdicts as ranges (nusmooth.comparisons). Every threshold comes from validation records
and the sigmas' ceilings (tables.display_grid), never from test points."""

from stage import envelope_results, fig1_results, run_stage

from nusmooth.artifacts import (
    CERTIFIED_ACCURACY,
    CERTIFIED_ACCURACY_L2,
    PAIRED_BANDS,
    PAIRED_DIFFERENCES,
    VERDICT_RANGES,
)
from nusmooth.comparisons import accuracy_tables, compare_pairs, comparison_html, fig1_pair
from nusmooth.io import atomic_write_text
from nusmooth.registry import FIG1_KINDS
from nusmooth.tables import check_one_precision, display_grid, largest_certifiable, nothing_certified_note


def main(snakemake):
    results = fig1_results(snakemake)
    envelope = envelope_results(snakemake)[snakemake.wildcards.dataset]
    frames = [f for r in results for f in r.frames] + envelope.frames[1:]
    precision = check_one_precision(frames, [s for r in results for s in r.sources] + envelope.sources[1:])
    ceilings = [
        largest_certifiable(r.choice, kind, n, snakemake.params.alpha)
        for r, n in zip(results, snakemake.params.n, strict=True)
        for kind in FIG1_KINDS
    ]
    validation = [frame for r in results for frame in r.validation]
    grids = display_grid(
        validation, ceilings, snakemake.params.table_areas, band_count=snakemake.params.band_thresholds
    )
    pairs = [fig1_pair(r, n, snakemake.params.alpha) for r, n in zip(results, snakemake.params.n, strict=True)]
    tables = {
        view: table.assign(precision=precision) for view, table in accuracy_tables(pairs, envelope, grids).items()
    }
    compared = {
        name: table.assign(precision=precision) for name, table in compare_pairs(pairs, envelope, grids).items()
    }
    print(compared["differences"].to_string(), compared["ranges"].to_string(), sep="\n")
    CERTIFIED_ACCURACY.save(tables["area"], snakemake.output.tsv)
    CERTIFIED_ACCURACY_L2.save(tables["l2_radius"], snakemake.output.l2)
    PAIRED_DIFFERENCES.save(compared["differences"], snakemake.output.differences)
    PAIRED_BANDS.save(compared["bands"], snakemake.output.bands)
    VERDICT_RANGES.save(compared["ranges"], snakemake.output.ranges)
    # A run that certifies nothing gets its tables of zeros, saying so first.
    curves = {f"{pair.comparison} {kind}": records for pair in pairs for kind, records in pair.records.items()}
    nothing = nothing_certified_note(grids, curves)
    html = comparison_html(snakemake.wildcards.dataset, precision, tables, compared, first_note=nothing)
    atomic_write_text(html, snakemake.output.html)


run_stage(snakemake, main)
