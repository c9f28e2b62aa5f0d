"""plot_fig1 / plot_fig1_dataset: certified accuracy vs certified area, each learned sigma (solid) against
its three comparators (the isotropic sigma at its arithmetic mean, dashed; at its geometric mean, dotted;
the dataset's isotropic envelope, dash-dot), one panel per dataset, with pointwise 95% bands over the
test points; plot_fig1 also draws the l2-radius companion (figures/fig1_l2). The x-ranges and the
envelope's grid come from validation records and the sigmas' ceilings, never from test points."""

from stage import envelope_results, fig1_results, run_stage

from nusmooth.envelope import chosen_constants, envelope_curve
from nusmooth.plotting import fig1_banded, fig1_panel_from_results, save
from nusmooth.registry import FIG1_KINDS, title_of
from nusmooth.tables import check_one_precision, display_grid, largest_certifiable


def main(snakemake):
    results, envelopes = fig1_results(snakemake), envelope_results(snakemake)
    frames = [f for r in results for f in r.frames] + [f for e in envelopes.values() for f in e.frames[1:]]
    precision = check_one_precision(frames)
    by_dataset = {}
    for result, n in zip(results, snakemake.params.n, strict=True):
        rows, validation, ceilings = by_dataset.setdefault(result.dataset, ([], [], []))
        rows.append({kind: getattr(result, kind) for kind in FIG1_KINDS} | {"choice": result.choice})
        validation.extend(result.validation)
        ceilings += [largest_certifiable(result.choice, kind, n, snakemake.params.alpha) for kind in FIG1_KINDS]
    views = {"area": (snakemake.output.pdf, snakemake.output.png)}
    if hasattr(snakemake.output, "l2_pdf"):
        views["l2_radius"] = (snakemake.output.l2_pdf, snakemake.output.l2_png)
    # One grid per dataset serves both views: its ranges, and the band grid the envelope was chosen on.
    grids = {
        dataset: display_grid(validation, ceilings, 2, band_count=snakemake.params.band_thresholds)
        for dataset, (_, validation, ceilings) in by_dataset.items()
    }
    for view, (pdf, png) in views.items():
        panels = []
        for dataset, (rows, _, _) in by_dataset.items():
            envelope = envelopes[dataset]
            band = envelope_curve(envelope.test, envelope.choice, view, grids[dataset][view]["band"])
            drawn = {"band": band, "constants": len(snakemake.params.envelope_constants[dataset])}
            panel = fig1_panel_from_results(dataset, rows, drawn)
            panel.update(title=title_of(dataset, snakemake.params.titles), x_range=grids[dataset][view]["range"])
            panels.append(panel)
        print({dataset: chosen_constants(e.choice) for dataset, e in envelopes.items()})
        save(fig1_banded(panels, view, precision), pdf, png)


run_stage(snakemake, main)
