"""Figure 1's learned sigmas against their three comparators, as tables: paired differences at the
tables' thresholds, the simultaneous band over the whole grid, and the verdicts as ranges.

For each learned vector (a *pair* of Figure 1) and each comparator of :data:`nusmooth.registry.COMPARATORS`
(the isotropic sigma at its arithmetic mean, at its geometric mean, and the dataset's isotropic envelope,
:mod:`nusmooth.envelope`), in both views (certified area and l2 radius):

- :func:`compare_pairs` gives the learned-minus-comparator difference at the view's start and at the
  tables' few thresholds with its pointwise paired interval (``paired_differences.tsv``), the same over
  the whole band grid with the simultaneous band and the verdict at each threshold (``paired_bands.tsv``),
  and the verdict ranges (``verdict_ranges.tsv``), by the rule of ``docs/method.md`` ("Verdicts").

Each band holds at 95% over its own grid: every (pair, comparator, view) is a question of its own.
pandas and numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .envelope import VIEW_STARTS, constants_at, envelope_curve, envelope_flags
from .evidence import POINT_ID, certified_flags, curve_with_band, paired_band_from_flags, paired_difference_from_flags
from .registry import COMPARATOR_KINDS, COMPARATORS, GEOMETRIC_COMPARATOR, PAPER_COMPARATOR, STRONGEST_COMPARATOR
from .tables import html_document, isotropic_constant, largest_certifiable, with_intervals_wide
from .verdicts import A_WINS, B_WINS, CANNOT_TELL, NOTHING, VerdictRange, band_verdicts, verdict_ranges

#: How a verdict of ``learned - comparator`` reads in the tables.
VERDICT_WORDS = {
    A_WINS: "learned wins",
    B_WINS: "comparator wins",
    CANNOT_TELL: "cannot tell",
    NOTHING: "nothing to compare",
}
#: Names of the comparators in the page's words.
COMPARATOR_NAMES = {
    PAPER_COMPARATOR: "the arithmetic mean (AM)",
    GEOMETRIC_COMPARATOR: "the geometric mean (GM)",
    STRONGEST_COMPARATOR: "the envelope",
}
SHORT_NAMES = {
    PAPER_COMPARATOR: "AM",
    GEOMETRIC_COMPARATOR: "GM",
    STRONGEST_COMPARATOR: "envelope",
    "isotropic": "isotropic front",
}


@dataclass(frozen=True, kw_only=True)
class Pair:
    """One learned vector of Figure 1 and the records of its comparators tied to it.

    ``comparison``: its name in the tables (``init 0.25``); ``learned``: the learned sigma's label;
    ``records``: test certificates by kind (``learned``, and ``am`` / ``gm``); ``labels``: the label of
    each one's sigma; ``constants``: the AM and GM constants; ``ceilings``: the largest value the
    learned sigma can certify, per view."""

    comparison: str
    learned: str
    records: dict
    labels: dict
    constants: dict
    ceilings: dict


#: The label of the envelope's curve in the certified-accuracy tables.
ENVELOPE_LABEL = "isotropic envelope"


def fig1_pair(result, n: int, alpha: float) -> Pair:
    """The :class:`Pair` of one Figure-1 vector (artifacts.Fig1Result) certified with ``n`` and ``alpha``."""
    choice = result.choice
    init = f"{choice['init']:g}"
    labels = {"learned": f"learned: init {init}, sub-epoch {choice['sub_epoch']}, mean {choice['isotropic_sigma']:.4g}"}
    records, constants = {"learned": result.learned}, {}
    for comparator, kind in COMPARATOR_KINDS.items():
        constants[comparator] = isotropic_constant(choice, kind)
        labels[comparator] = f"isotropic {constants[comparator]:.4g} ({comparator.upper()}, init {init})"
        records[comparator] = getattr(result, kind)
    return Pair(
        comparison=f"init {init}",
        learned=labels["learned"],
        records=records,
        labels=labels,
        constants=constants,
        ceilings=largest_certifiable(choice, "learned", n, alpha),
    )


def accuracy_tables(pairs: list[Pair], envelope, grids: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """Per view: the certified accuracy with its Wilson interval of every learned sigma, its AM and GM
    comparators and the envelope, at the view's start and the tables' thresholds; one row per (sigma,
    threshold), ``constant`` the isotropic sigma (the envelope's: the one chosen at that threshold)."""
    tables = {}
    for view, grid in grids.items():
        shown = np.concatenate([[VIEW_STARTS[view]], np.asarray(grid["thresholds"], dtype=float)])
        frames = []
        for pair in pairs:
            for kind in ("learned", *COMPARATOR_KINDS):
                constant = pair.constants.get(kind, np.nan)
                curve = curve_with_band(pair.records[kind], shown, view).assign(constant=constant)
                frames.append(curve.assign(sigma=pair.labels[kind]))
        frames.append(envelope_curve(envelope.test, envelope.choice, view, shown).assign(sigma=ENVELOPE_LABEL))
        table = pd.concat(frames, ignore_index=True).assign(view=view)
        first = ["sigma", "view"]
        tables[view] = table[first + [c for c in table.columns if c not in first]]
    return tables


def _comparator_flags(pair: Pair, comparator: str, envelope, view: str, *, thresholds, ids) -> tuple:
    """(flags, sigma label per threshold) of one comparator on the learned sigma's test points."""
    if comparator == STRONGEST_COMPARATOR:
        _, flags = envelope_flags(envelope.test, envelope.choice, view, thresholds, point_ids=ids)
        labels = [f"isotropic {c:.4g} (envelope)" for c in constants_at(envelope.choice, view, thresholds)]
        return flags, labels
    _, flags = certified_flags(pair.records[comparator], thresholds, view, point_ids=ids, name=pair.labels[comparator])
    return flags, [pair.labels[comparator]] * len(thresholds)


def _named(frame: pd.DataFrame, pair: Pair, comparator: str, view: str, labels) -> pd.DataFrame:
    frame = frame.rename(
        columns={
            "accuracy_a": "accuracy_learned",
            "accuracy_b": "accuracy_isotropic",
            "only_a": "only_learned",
            "only_b": "only_isotropic",
        }
    )
    frame.insert(0, "learned", pair.learned)
    frame.insert(1, "comparator", comparator)
    frame.insert(2, "isotropic", labels)
    frame.insert(3, "view", view)
    return frame


def compare_pairs(
    pairs: list[Pair], envelope, grids: dict[str, dict], *, level: float = 0.95
) -> dict[str, pd.DataFrame]:
    """Every pair against every comparator in both views; ``grids``: per view, ``"thresholds"`` (the
    tables') and ``"band"`` (the band grid, fixed before any test record is read: tables.display_grid).

    Returns ``{"differences", "bands", "ranges"}``: the rows of PAIRED_DIFFERENCES (view start, then
    the tables' thresholds), of PAIRED_BANDS (the band grid) and of VERDICT_RANGES (without precision).
    """
    differences, bands, ranges = [], [], []
    for pair in pairs:
        ids = pair.records["learned"][POINT_ID]
        for view, grid in grids.items():
            shown = np.concatenate([[VIEW_STARTS[view]], np.asarray(grid["thresholds"], dtype=float)])
            band_grid = np.asarray(grid["band"], dtype=float)
            _, learned_shown = certified_flags(pair.records["learned"], shown, view, name=pair.learned)
            _, learned_band = certified_flags(pair.records["learned"], band_grid, view, name=pair.learned)
            for comparator in COMPARATORS:
                flags, labels = _comparator_flags(pair, comparator, envelope, view, thresholds=shown, ids=ids)
                table = paired_difference_from_flags(shown, learned_shown, flags, level=level)
                differences.append(_named(table, pair, comparator, view, labels))
                flags, labels = _comparator_flags(pair, comparator, envelope, view, thresholds=band_grid, ids=ids)
                band = _named(
                    paired_band_from_flags(band_grid, learned_band, flags, level=level), pair, comparator, view, labels
                )
                certified_any = (band["accuracy_learned"] > 0) | (band["accuracy_isotropic"] > 0)
                verdicts = band_verdicts(band["band_lower"], band["band_upper"], certified_any.to_numpy())
                bands.append(band.assign(verdict=[VERDICT_WORDS[v] for v in verdicts]))
                ranges.append(
                    ranges_table(
                        verdict_ranges(band_grid, verdicts),
                        comparison=pair.comparison,
                        comparator=comparator,
                        view=view,
                        learned_ceiling=pair.ceilings[view],
                    )
                )
    return {
        "differences": pd.concat(differences, ignore_index=True),
        "bands": pd.concat(bands, ignore_index=True),
        "ranges": pd.concat(ranges, ignore_index=True),
    }


def ranges_table(
    ranges: list[VerdictRange], *, comparison: str, comparator: str, view: str, learned_ceiling: float
) -> pd.DataFrame:
    """Verdict ranges as rows of VERDICT_RANGES (``grid``: the number of thresholds they cover)."""
    return pd.DataFrame(
        {
            "comparison": comparison,
            "comparator": comparator,
            "view": view,
            "verdict": [VERDICT_WORDS[r.verdict] for r in ranges],
            "first": [r.first for r in ranges],
            "last": [r.last for r in ranges],
            "thresholds": [r.thresholds for r in ranges],
            "grid": sum(r.thresholds for r in ranges),
            "learned_ceiling": learned_ceiling,
        }
    )


def ranges_of(table: pd.DataFrame) -> list[VerdictRange]:
    """The VerdictRange list of one (comparison, comparator, view) of a VERDICT_RANGES table, in grid order."""
    words = {word: verdict for verdict, word in VERDICT_WORDS.items()}
    return [
        VerdictRange(words[r.verdict], float(r.first), float(r.last), int(r.thresholds))
        for r in table.sort_values("first").itertuples()
    ]


def comparison_html(
    dataset: str, precision: str, tables: dict[str, pd.DataFrame], compared: dict, *, first_note: str = ""
) -> str:
    """The tables of :func:`accuracy_tables` and :func:`compare_pairs` as the report's HTML page;
    ``first_note`` opens its note (tables.nothing_certified_note: why a run's tables are zeros)."""
    note = (
        f"{dataset} ({precision}): fraction of test points certified correct with certified area O_CA (or l2 radius "
        "Phi^-1(pA_lower) min sigma) at least the column's value; 'clean accuracy' counts every certified-correct point. "
        "Brackets: 95% interval over the test points (Wilson for an accuracy, Tango's paired interval with a continuity "
        "correction for a difference: both sigmas are certified on the same test points), not over the noise. Thresholds: "
        "round numbers over the values certified on validation. sigma in [0,1] pixel units. Comparators: the isotropic "
        "sigma at the learned vector's arithmetic mean (AM, the paper's), at its geometric mean (GM, the same largest "
        "certifiable area), and the isotropic envelope (at each threshold the constant of a grid chosen on validation). "
        "A negative difference means the comparator certifies more points at that threshold. The verdict ranges read "
        "the simultaneous 95% band over the whole band grid (docs/method.md, 'Verdicts')."
    )
    sections = [
        ("Certified accuracy at fixed areas", with_intervals_wide(tables["area"], "sigma", "certified_accuracy")),
        (
            "Certified accuracy at fixed l2 radii",
            with_intervals_wide(tables["l2_radius"], "sigma", "certified_accuracy"),
        ),
    ]
    differences = compared["differences"].assign(
        pair=lambda d: d["learned"].str.split(",").str[0] + " - " + d["comparator"].map(SHORT_NAMES)
    )
    for view, label in (("area", "areas"), ("l2_radius", "l2 radii")):
        mine = differences[differences["view"] == view]
        sections.append(
            (
                f"Learned minus each comparator at fixed {label} (paired)",
                with_intervals_wide(mine, "pair", "difference"),
            )
        )
    sections.append(("Verdict ranges (simultaneous 95% band over the band grid)", compared["ranges"]))
    note = " ".join(filter(None, [first_note, note]))
    return html_document(f"Certified accuracy at fixed areas and radii: {dataset}", sections, note)
