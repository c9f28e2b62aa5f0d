"""plot_fig1 / plot_fig1_dataset: certified accuracy vs certified area, the learned sigma (solid) vs
the isotropic sigma equal to its mean (dashed), one panel per dataset, with pointwise 95% bands over
the test points; plot_fig1 also draws the l2-radius companion (figures/fig1_l2). The x-ranges come
from validation records and from the largest value each sigma can certify, never from test points."""

from stage import fig1_results, run_stage

from nusmooth.plotting import fig1_banded, fig1_panel_from_results, save
from nusmooth.registry import SIGMA_KINDS, title_of
from nusmooth.tables import check_one_precision, display_grid, largest_certifiable


def main(snakemake):
    results = fig1_results(snakemake)
    precision = check_one_precision([f for r in results for f in r.frames], [s for r in results for s in r.sources])
    by_dataset = {}
    for result, n in zip(results, snakemake.params.n, strict=True):
        rows, validation, ceilings = by_dataset.setdefault(result.dataset, ([], [], []))
        rows.append({"choice": result.choice, "learned": result.learned, "isotropic": result.isotropic})
        validation.extend(result.validation)
        ceilings += [largest_certifiable(result.choice, kind, n, snakemake.params.alpha) for kind in SIGMA_KINDS]
    views = {"area": (snakemake.output.pdf, snakemake.output.png)}
    if hasattr(snakemake.output, "l2_pdf"):
        views["l2_radius"] = (snakemake.output.l2_pdf, snakemake.output.l2_png)
    # One grid per dataset serves both views (only its ranges are drawn here).
    grids = {
        dataset: display_grid(validation, ceilings, 2) for dataset, (_, validation, ceilings) in by_dataset.items()
    }
    for view, (pdf, png) in views.items():
        panels = [
            dict(
                fig1_panel_from_results(dataset, rows),
                title=title_of(dataset, snakemake.params.titles),
                x_range=grids[dataset][view]["range"],
            )
            for dataset, (rows, _, _) in by_dataset.items()
        ]
        save(fig1_banded(panels, view, precision), pdf, png)


run_stage(snakemake, main)
