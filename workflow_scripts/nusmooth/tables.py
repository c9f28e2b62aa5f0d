"""The numbers behind the figures, as tables: Figure 2's fronts, certified accuracy at a few areas,
class balance. Pure functions of DataFrames; the stage scripts write them."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .artifacts import FIG2_FRONT, SWEEP_METRICS
from .fronts import among, front_sizes, member_keys
from .records import certified_accuracy_curve, clean_accuracy_and_area
from .registry import CERTIFIED_SPLITS, CHOOSING_SPLIT, SHOWN_SPLIT, SIGMA_KINDS

#: Columns every sweep metrics file (``{kind}_{init}/{split}.tsv``, written by evaluate_sigma.py) has.
SWEEP_COLUMNS = list(SWEEP_METRICS.keys)

#: One snapshot (a learned sigma after a sub-epoch, or an isotropic constant): certified once per split.
SNAPSHOT = ["kind", "init", "sub_epoch"]

#: What the Figure 2/4 front tables and figures show, for the page or log that prints them.
FRONT_SPLITS_NOTE = (
    "Each method's front is chosen by the blanket filter on the validation split (val_accuracy, "
    "val_mean_area); Figures 2 and 4 draw the same snapshots' test-split metrics (test_accuracy, "
    "test_mean_area), joined in the order of the validation front, so the line may turn back where the "
    "test metrics disagree with the validation ones. A front member that certifies no test point "
    "correctly has no test area: it is listed with drawn = False and named in the figure, not drawn. "
    "Only candidates with every validation point (complete) can be on a front. At most "
    "sweep_eval.test_front_members members of a front are certified on test and listed: a front of more "
    "members (val_front_size) keeps that many, spread evenly along its validation mean area, both ends kept."
)

#: Columns of :func:`front_table`, in order.
FRONT_COLUMNS = list(FIG2_FRONT.keys)

#: The 95% interval columns of a metrics row (over the split's points; see nusmooth.evidence.snapshot_metrics).
INTERVAL_COLUMNS = ["accuracy_lower", "accuracy_upper", "mean_area_lower", "mean_area_upper"]


def check_one_precision(frames: list[pd.DataFrame], sources: list[str] | None = None) -> str:
    """The one precision all ``frames`` were computed at; a ValueError naming the files when they differ.

    Rows certified at different precisions (fp32 vs bf16 base models) are not the same experiment, so a
    table or figure must never mix them silently. ``sources`` names each frame (its file) in the error.
    """
    sources = list(sources) if sources is not None else [f"table {i}" for i in range(len(frames))]
    if len(sources) != len(frames):
        raise ValueError(f"{len(frames)} tables but {len(sources)} names for them")
    seen: dict[str, list[str]] = {}
    for frame, source in zip(frames, sources):
        if "precision" not in frame.columns:
            raise ValueError(f"{source} has no precision column; rerun the job that wrote it")
        for precision in frame["precision"].astype(str).unique():
            seen.setdefault(precision, []).append(source)
    if len(seen) > 1:
        listing = "; ".join(f"{precision}: {', '.join(files)}" for precision, files in sorted(seen.items()))
        raise ValueError(
            f"refusing to merge rows computed at different precisions ({listing}). Fix: rerun the "
            "outdated files at one compute.precision (or compare the precisions in separate runs)"
        )
    return next(iter(seen), "")


def _check_candidates(points: pd.DataFrame, fronts: dict) -> None:
    """Every candidate has one validation row; test rows belong to candidates, one per candidate; every
    front member certified on test has its test row."""
    unknown = set(points["split"]) - {CHOOSING_SPLIT, SHOWN_SPLIT}
    if unknown:
        raise ValueError(
            f"sweep metrics have rows of splits {sorted(unknown)}; only {CHOOSING_SPLIT!r} and "
            f"{SHOWN_SPLIT!r} are expected: remove those rows"
        )
    repeated = points[points.duplicated(SNAPSHOT + ["split"], keep=False)]
    if not repeated.empty:
        raise ValueError(
            f"sweep metrics list a snapshot twice on one split:\n{repeated[SNAPSHOT + ['split']].to_string()}\n"
            "each sweep metrics file must be given once; check the list of sweep metrics passed in"
        )
    validation = points[points["split"] == CHOOSING_SPLIT]
    test = points[points["split"] == SHOWN_SPLIT]
    test_only = test[~among(test, set(zip(*(validation[c] for c in SNAPSHOT))))]
    if not test_only.empty:
        raise ValueError(
            f"snapshots with test metrics but none on {CHOOSING_SPLIT!r} (fronts are chosen there): "
            f"{test_only[SNAPSHOT].values.tolist()}; rerun the validation sweep for them"
        )
    shown = set(zip(test["kind"], test["init"].astype(float), test["sub_epoch"].astype(int)))
    unshown = sorted(member_keys(fronts, "certified") - shown)
    if unshown:
        raise ValueError(
            f"front members with no {SHOWN_SPLIT!r} metrics: {unshown}; rerun the test certification of the fronts "
            "(rule certify_front, or evaluate_sigma with sweep_eval.test_cloud)"
        )


def sweep_points(metrics: list[pd.DataFrame], *, fronts: dict, sources: list[str] | None = None) -> pd.DataFrame:
    """All sweep rows of one dataset in one table: every candidate's validation row, and the test rows
    (every candidate's with ``sweep_eval.test_cloud``, else the fronts' members'), with ``on_val_front``:
    the candidate is on its kind's front chosen on validation (``fronts``, :func:`nusmooth.fronts.choose_fronts`).
    The mark is set on the validation and test rows alike, so the test rows say which points the figures
    join. ``sources``: the files the frames were read from, named when their precisions differ."""
    if not metrics:
        raise ValueError("no sweep metrics given")
    points = pd.concat(metrics, ignore_index=True)
    missing = set(SWEEP_COLUMNS) - set(points.columns)
    if missing:
        raise ValueError(f"sweep metrics lack columns {sorted(missing)}; rerun evaluate_sigma")
    check_one_precision(metrics, sources)
    _check_candidates(points, fronts)
    points["on_val_front"] = among(points, member_keys(fronts, "front"))
    return points.sort_values(["split", "kind", "init", "sub_epoch"], kind="stable").reset_index(drop=True)


def capped_note(fronts: dict) -> str:
    """A sentence for each front capped for the test split (empty when none is): how many of its
    validation members the test split certified."""
    return "".join(
        f" The {kind} front has {len(chosen['front'])} members on validation; {len(chosen['certified'])} of them, "
        "spread evenly along its validation mean area, are certified on test and listed."
        for kind, chosen in fronts["kinds"].items()
        if chosen["capped"]
    )


def _kind_order(kinds: pd.Series) -> pd.Series:
    """Learned before isotropic (SIGMA_KINDS' order, as the figures' legends), any other kind after them."""
    known = {kind: position for position, kind in enumerate(SIGMA_KINDS)}
    return kinds.map(lambda kind: known.get(kind, len(known)))


def front_table(points: pd.DataFrame, fronts: dict) -> pd.DataFrame:
    """Each method's front, one row per member certified on test: chosen on validation, shown on test.

    ``points``: the output of :func:`sweep_points` with the same ``fronts``. Per kind, the rows are in
    the order of the validation front (increasing validation area; ``front_position`` counts from 1),
    which is the order the figures join them in. ``val_*`` are the metrics that chose the member,
    ``test_*`` the ones drawn; ``drawn`` is false when the member certifies no test point correctly (no
    test area); ``val_front_size`` counts the whole validation front (more than the kind's rows when the
    front was capped). See :data:`FRONT_SPLITS_NOTE`.
    """
    if "on_val_front" not in points.columns:
        raise ValueError("points lack the on_val_front column; build them with tables.sweep_points")
    validation = points[points["split"] == CHOOSING_SPLIT]
    chosen = validation[among(validation, member_keys(fronts, "certified"))]
    shown = points[points["split"] == SHOWN_SPLIT]
    measured = ["accuracy", "mean_area", "points", *INTERVAL_COLUMNS]
    front = chosen.merge(
        shown[SNAPSHOT + measured],
        on=SNAPSHOT,
        how="left",
        suffixes=(f"_{CHOOSING_SPLIT}", f"_{SHOWN_SPLIT}"),
        validate="one_to_one",
    )
    front = front.rename(
        columns={f"{name}_{split}": f"{split}_{name}" for name in measured for split in CERTIFIED_SPLITS}
    )
    front["drawn"] = np.isfinite(front["test_mean_area"].astype(float))
    front = front.assign(kind_order=_kind_order(front["kind"]))
    front = front.sort_values(
        ["kind_order", "kind", "val_mean_area", "val_accuracy"],
        ascending=[True, True, True, False],
        kind="stable",
        na_position="first",
    )
    front["front_position"] = front.groupby("kind").cumcount() + 1
    front["val_front_size"] = front["kind"].map(front_sizes(fronts)).astype(int)
    return front[FRONT_COLUMNS].reset_index(drop=True)


def round_thresholds(areas: np.ndarray, count: int) -> np.ndarray:
    """``count`` round certified areas spread over the central 90% of the finite ``areas``.

    The scale of O_CA grows with the input dimension (hundreds for MNIST, hundreds of thousands for
    ImageNet), so a fixed list cannot serve every dataset; round numbers keep the table readable.
    """
    finite = np.asarray(areas, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or count < 1:
        return np.array([])
    lo, hi = np.quantile(finite, [0.05, 0.95])
    return round_grid(float(lo), float(hi), count)


def certified_accuracy_table(curves: dict[str, pd.DataFrame], thresholds: np.ndarray) -> pd.DataFrame:
    """Certified accuracy (correct *and* O_CA >= area) of each named certificate table at each area.

    Rows: one per curve; columns: ``sigma``, ``clean accuracy`` (area -inf), then one per area.
    """
    rows = []
    labels = threshold_labels(thresholds)
    for name, table in curves.items():
        row = {"sigma": name, "points": len(table), "clean accuracy": clean_accuracy_and_area(table)[0]}
        for label, value in zip(labels, certified_accuracy_curve(table, thresholds)):
            row[f"O_CA >= {label}"] = float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def threshold_labels(thresholds) -> list[str]:
    """The thresholds as headings show them: ``{:g}`` (6 significant digits) where that tells them
    apart, else as many more digits as the grid's step needs (an area grid near -350,000 in steps of
    0.1 needs 7), so that two thresholds never share a heading."""
    values = [float(v) for v in thresholds]
    for digits in range(6, 18):
        labels = [f"{v:.{digits}g}" for v in values]
        if len(set(labels)) == len(set(values)):
            return labels
    return [repr(v) for v in values]


def class_counts(labels: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Count and share of every class (all classes listed, zero counts included)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    total = max(int(counts.sum()), 1)
    return pd.DataFrame(
        {"class_index": np.arange(len(classes)), "class": classes, "count": counts, "share": counts / total}
    )


def majority_share(counts: pd.DataFrame) -> float:
    """The accuracy of always predicting the most frequent class."""
    return float(counts["share"].max())


def html_document(title: str, sections: list[tuple[str, pd.DataFrame]], note: str = "") -> str:
    """A small standalone HTML page of tables (what Snakemake's report shows inline)."""
    style = (
        "body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
    )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>",
        f"<h2>{html.escape(title)}</h2>",
    ]
    if note:
        parts.append(f"<p>{html.escape(note)}</p>")
    for heading, frame in sections:
        table = frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-", border=0)
        parts.append(f"<h3>{html.escape(heading)}</h3>{table}")
    parts.append("</body></html>")
    return "\n".join(parts)


# --- Figure 1's numbers with their intervals, at thresholds chosen on validation ------------------

#: Figure 1's two views: the record column, the threshold that gives the smoothed classifier's accuracy
#: (every certified-correct point passes it), and how a threshold reads in a table heading.
VIEWS = {
    "area": {"column": "certified_area", "start": -np.inf, "heading": "O_CA >= {}", "first": "clean accuracy"},
    "l2_radius": {"column": "l2_radius", "start": 0.0, "heading": "l2 radius >= {}", "first": "clean accuracy"},
}


def largest_certifiable(choice: dict, kind: str, n: int, alpha: float) -> dict[str, float]:
    """The largest certified area and l2 radius that Figure 1's ``kind`` sigma can give any point when
    certified with ``n`` samples at level ``alpha``: all ``n`` votes for the class give the largest
    bound, ``pA_lower = alpha ** (1 / n)``. A fact of the sigma (chosen on validation) and of the
    settings, not of any test point; ``choice`` is select_fig1_sigma's record."""
    radius = float(ndtri(alpha ** (1.0 / n)))
    dimension = choice["dimension"]
    if kind == "learned":
        sum_log, smallest = choice["sum_log_sigma"], choice["min_sigma"]
    else:
        constant = isotropic_constant(choice, kind)
        sum_log, smallest = dimension * np.log(constant), constant
    return {"area": float(sum_log + dimension * np.log(radius)), "l2_radius": radius * smallest, "dimension": dimension}


#: The entry of select_fig1_sigma's record that holds each isotropic kind's constant.
ISOTROPIC_CONSTANTS = {"isotropic": "isotropic_sigma", "geometric": "geometric_sigma"}


def isotropic_constant(choice: dict, kind: str) -> float:
    """The constant sigma of Figure 1's isotropic ``kind`` (registry.FIG1_KINDS) tied to one learned vector."""
    if kind not in ISOTROPIC_CONSTANTS:
        raise ValueError(f"{kind!r} is not an isotropic kind of Figure 1; kinds: {sorted(ISOTROPIC_CONSTANTS)}")
    return float(choice[ISOTROPIC_CONSTANTS[kind]])


def round_grid(lo: float, hi: float, count: int) -> np.ndarray:
    """``count`` round numbers spread from ``lo`` to ``hi`` (one when the span is empty)."""
    if count < 1 or not (np.isfinite(lo) and np.isfinite(hi)):
        return np.array([])
    if hi - lo <= 0:
        return np.array([float(np.round(lo, 2))])
    step = 10.0 ** np.floor(np.log10((hi - lo) / max(count - 1, 1)))
    # + 0.0 turns a rounded -0.0 into 0.0, which headings and verdicts would write "-0".
    return np.unique(np.round(np.linspace(lo, hi, count) / step) * step) + 0.0


def display_grid(
    validation: list[pd.DataFrame], ceilings: list[dict[str, float]], count: int, *, band_count: int | None = None
) -> dict[str, dict]:
    """Figure 1's x-range and the tables' thresholds of each view, from nothing a test point decided.

    The thresholds' low end is the 5% quantile of the values certified on *validation* (the chosen
    learned snapshot's and the isotropic sweep's records; areas finite, radii positive); the high end is
    the largest value Figure 1's sigmas can certify at all (:func:`largest_certifiable`). The validation
    sweeps certify with fewer samples than Figure 1, so their largest values sit below Figure 1's:
    the ceiling, not the validation maximum, closes the range. The figure's range starts further left,
    at the smallest validation value (so that the curve's clean plateau shows), unless that lies more
    than half the thresholds' span below their low end (a point certified with pA_lower just above 1/2
    has an area far below every other: it would squeeze the curve into a corner).

    When validation certified nothing, the area view spans the areas of radii from a tenth of the
    largest certifiable one to it (``dimension * ln 10`` below the ceiling: the ceilings carry the input
    dimension), and the l2 view starts at 0. Returns ``{view: {"range": (lo, hi), "thresholds": array,
    "from_validation": bool}}``, with ``"band"`` too when ``band_count`` is given: ``band_count`` round
    thresholds over the same span, the grid every simultaneous band, verdict and envelope choice runs over.
    """
    if not validation or not ceilings:
        raise ValueError(
            "the display grid needs validation records and Figure 1's sigmas: thresholds never come from test"
        )
    grid = {}
    for view, spec in VIEWS.items():
        values = np.concatenate([frame[spec["column"]].to_numpy(dtype=float) for frame in validation])
        values = values[np.isfinite(values) & ((values > 0) if view == "l2_radius" else True)]
        hi = max(ceiling[view] for ceiling in ceilings)
        if values.size:
            lo = min(float(np.quantile(values, 0.05)), hi)
            left = min(max(float(values.min()), lo - 0.5 * (hi - lo)), lo)
        else:
            decade = max(ceiling.get("dimension", 1) for ceiling in ceilings) * np.log(10.0)
            lo = left = 0.0 if view == "l2_radius" else hi - decade
        margin = 0.05 * max(hi - left, 1e-9)
        shown = (max(left - margin, 0.0) if view == "l2_radius" else left - margin, hi + margin)
        # A round threshold at the view's start (r >= 0, when the low end rounds down to 0) would repeat
        # the clean-accuracy row that every table already starts with.
        thresholds = round_grid(lo, hi, count)
        grid[view] = {
            "range": shown,
            "thresholds": thresholds[thresholds > spec["start"]],
            "from_validation": bool(values.size),
        }
        if band_count is not None:
            band = round_grid(lo, hi, band_count)
            grid[view]["band"] = band[band > spec["start"]]
    return grid


def nothing_certified_note(grid: dict, curves: dict[str, pd.DataFrame]) -> str:
    """The sentences a table page adds when validation or test certified nothing (its zeros are then
    the result, not a fault); empty otherwise. ``grid``: :func:`display_grid`'s; ``curves``: the test
    records of each sigma."""
    sentences = []
    if not any(view["from_validation"] for view in grid.values()):
        sentences.append(
            "No validation point was certified correct, so the thresholds do not come from validation: they "
            "span the areas of radii from a tenth of the largest certifiable radius to it (l2 radii from 0)."
        )
    if not any(bool(np.asarray(records["correct"]).any()) for records in curves.values()):
        sentences.append(
            "No test point was certified correct by any sigma: every certified accuracy below is 0, and so is "
            "every difference."
        )
    return " ".join(sentences)


def _threshold_headings(table: pd.DataFrame) -> list[str]:
    """Each row's column heading: the view's first heading at its start, else the threshold's label
    among its view's (:func:`threshold_labels`, so that no two thresholds share a heading)."""
    labels = {}
    for view, thresholds in table.groupby("view")["threshold"]:
        grid = sorted({float(t) for t in thresholds} - {VIEWS[view]["start"]})
        labels[view] = dict(zip(grid, threshold_labels(grid)))
    return [
        VIEWS[v]["first"] if t == VIEWS[v]["start"] else VIEWS[v]["heading"].format(labels[v][float(t)])
        for v, t in zip(table["view"], table["threshold"])
    ]


def with_intervals_wide(table: pd.DataFrame, row: str, value: str) -> pd.DataFrame:
    """A long interval table as a page shows it: one row per ``row``, one column per threshold, cells
    ``value [lower, upper]``."""
    cells = table.assign(
        heading=_threshold_headings(table),
        cell=[f"{x:.3f} [{lo:.3f}, {hi:.3f}]" for x, lo, hi in zip(table[value], table["lower"], table["upper"])],
    )
    order = list(dict.fromkeys(cells["heading"]))
    wide = cells.pivot(index=row, columns="heading", values="cell")
    return wide.loc[list(dict.fromkeys(cells[row])), order].reset_index()
