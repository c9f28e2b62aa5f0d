"""Reported numbers with their 95% intervals, computed from per-point certificate records.

A *record* table has one row per certified test point; the functions here read these columns:

- ``idx``: the point's id in its split (pairs two tables certified on the same points);
- ``correct``: 1 (or True) where the smoothed prediction is certified (``pA_lower > 0.5``) and equals
  the label, else 0 (a wrong or abstained point);
- the metric: ``certified_area`` (the paper's O_CA; ``-inf`` without a region), ``l2_radius``
  (``Phi^-1(pA_lower) * min(sigma)``, 0 without a region) or ``geometric_mean_radius``
  (``exp(O_CA / D)``), as :mod:`nusmooth.smoothing` computes them.

Every interval is over test points, not over the noise (see :mod:`nusmooth.intervals` and the
"Intervals" section of ``docs/method.md``). pandas and numpy only: plot and table jobs import this.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bands import paired_band_from_counts
from .intervals import mean_interval, paired_counts, paired_difference_from_counts, proportion_interval

#: Record column holding each metric a curve can be drawn against.
METRIC_COLUMNS = {"area": "certified_area", "l2_radius": "l2_radius", "geometric_mean_radius": "geometric_mean_radius"}
POINT_ID = "idx"
CORRECT = "correct"


def _metric_column(metric: str) -> str:
    if metric not in METRIC_COLUMNS:
        raise ValueError(f"metric must be one of {sorted(METRIC_COLUMNS)}, got {metric!r}")
    return METRIC_COLUMNS[metric]


def _checked(records: pd.DataFrame, metric: str, name: str = "records") -> tuple[np.ndarray, np.ndarray]:
    """``(correct, metric values)`` of a record table, after checking what the numbers rest on."""
    column = _metric_column(metric)
    missing = [c for c in (POINT_ID, CORRECT, column) if c not in records.columns]
    if missing:
        raise ValueError(
            f"{name} lack the column(s) {missing} (has {list(records.columns)}). Fix: pass the per-point "
            f"certificate records, with {POINT_ID!r}, {CORRECT!r} and {column!r} for metric={metric!r}"
        )
    if records[POINT_ID].duplicated().any():
        duplicated = records.loc[records[POINT_ID].duplicated(), POINT_ID].unique()[:5].tolist()
        raise ValueError(f"{name} list some points more than once (ids {duplicated}); each test point must be one row")
    correct = records[CORRECT].to_numpy()
    if not np.all((correct == 0) | (correct == 1)):
        raise ValueError(f"{name}: {CORRECT!r} must be 0/1 or booleans")
    correct = correct.astype(bool)
    values = records[column].to_numpy(dtype=np.float64)
    if np.any(correct & ~np.isfinite(values)):
        raise ValueError(
            f"{name}: a point counted correct has a non-finite {column!r}; a correct point is certified and has a "
            "finite region. The records are inconsistent: recompute them from the certificates"
        )
    return correct, values


def _certified_at(correct: np.ndarray, values: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """``(thresholds, (T, P) booleans)``: point p certified correct with metric >= threshold t.

    A wrong or abstained point never counts, whatever its metric; ``-inf`` (area) or ``0`` (radius)
    as a threshold gives the smoothed classifier's accuracy."""
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if thresholds.ndim != 1 or np.any(np.isnan(thresholds)):
        raise ValueError("thresholds must be a one-dimensional list of numbers (no NaN)")
    return thresholds, correct[None, :] & (values[None, :] >= thresholds[:, None])


def curve_with_band(
    records: pd.DataFrame, thresholds, metric: str = "area", level: float = 0.95, method: str = "wilson"
) -> pd.DataFrame:
    """Figure 1's curve with a pointwise band: certified accuracy at each threshold of ``metric``.

    Returns one row per threshold: ``threshold``, ``certified`` (points certified correct with metric
    >= threshold), ``points`` (all test points, abstentions included), ``certified_accuracy``
    (``certified / points``) and ``lower`` / ``upper``, the ``level`` interval of that proportion over
    test points (Wilson by default, ``method="clopper-pearson"`` for the exact one). The band is
    pointwise: each threshold's interval holds at ``level`` on its own, not all of them together.
    """
    correct, values = _checked(records, metric)
    thresholds, certified = _certified_at(correct, values, thresholds)
    counts = certified.sum(axis=1)
    accuracy, lower, upper = proportion_interval(counts, len(correct), level, method)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "certified": counts,
            "points": len(correct),
            "certified_accuracy": accuracy,
            "lower": lower,
            "upper": upper,
        }
    )


def _aligned_to(point_ids, records: pd.DataFrame, name: str, *, reference: str = "the other") -> pd.DataFrame:
    """``records`` reordered to ``point_ids``; refused unless both hold the same points."""
    ids_a, ids_b = pd.Index(point_ids), pd.Index(records[POINT_ID])
    only_a, only_b = ids_a.difference(ids_b), ids_b.difference(ids_a)
    if len(only_a) or len(only_b):
        raise ValueError(
            f"a paired difference needs both methods certified on the same test points, but {len(only_a)} point(s) "
            f"are only in {reference} (e.g. {only_a[:5].tolist()}) and {len(only_b)} only in {name} (e.g. "
            f"{only_b[:5].tolist()}). Fix: certify both on the same split and limit, or select the common points first"
        )
    return records.set_index(POINT_ID).loc[ids_a].reset_index()


def certified_flags(
    records: pd.DataFrame,
    thresholds,
    metric: str = "area",
    *,
    point_ids=None,
    name: str = "records",
    reference: str = "the other",
) -> tuple[np.ndarray, np.ndarray]:
    """``(thresholds, (T, P) booleans)``: point p certified correct with metric >= threshold t.

    With ``point_ids`` (those of ``reference``) the points are taken in that order and must be exactly
    those of ``records`` (what pairs two methods' flags); otherwise in the records' order."""
    _checked(records, metric, name)
    if point_ids is not None:
        records = _aligned_to(point_ids, records, name, reference=reference)
    correct, values = _checked(records, metric, name)
    return _certified_at(correct, values, thresholds)


def _difference_frame(thresholds, points: int, cells, *, difference, lower, upper) -> pd.DataFrame:
    both, only_a, only_b, _ = cells
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy_a, accuracy_b = (both + only_a) / points, (both + only_b) / points
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "points": points,
            "accuracy_a": accuracy_a,
            "accuracy_b": accuracy_b,
            "only_a": only_a,
            "only_b": only_b,
            "difference": difference,
            "lower": lower,
            "upper": upper,
        }
    )


def paired_difference_from_flags(thresholds, certified_a, certified_b, level: float = 0.95) -> pd.DataFrame:
    """:func:`paired_differences` from ``(T, P)`` flags of two methods on the same points (same order):
    the pointwise paired interval at each threshold, each on its own."""
    cells = paired_counts(np.asarray(certified_a), np.asarray(certified_b))
    difference, lower, upper = paired_difference_from_counts(*cells, level=level)
    points = np.shape(certified_a)[-1]
    return _difference_frame(thresholds, points, cells, difference=difference, lower=lower, upper=upper)


def paired_band_from_flags(thresholds, certified_a, certified_b, level: float = 0.95) -> pd.DataFrame:
    """:func:`paired_difference_from_flags` plus ``band_lower`` / ``band_upper``, the simultaneous band
    over all ``T`` thresholds at once (:func:`nusmooth.bands.paired_band_from_counts`)."""
    cells = paired_counts(np.asarray(certified_a), np.asarray(certified_b))
    band = paired_band_from_counts(*cells, level=level)
    points = np.shape(certified_a)[-1]
    frame = _difference_frame(thresholds, points, cells, difference=band.estimate, lower=band.lower, upper=band.upper)
    return frame.assign(band_lower=band.band_lower, band_upper=band.band_upper)


def _paired_flags(records_a: pd.DataFrame, records_b: pd.DataFrame, thresholds, metric: str) -> tuple:
    thresholds, certified_a = certified_flags(records_a, thresholds, metric, name="records_a")
    _, certified_b = certified_flags(
        records_b, thresholds, metric, point_ids=records_a[POINT_ID], name="records_b", reference="records_a"
    )
    return thresholds, certified_a, certified_b


def paired_differences(
    records_a: pd.DataFrame, records_b: pd.DataFrame, thresholds, metric: str = "area", level: float = 0.95
) -> pd.DataFrame:
    """Difference in certified accuracy, ``a - b``, at each threshold, with a paired interval.

    ``records_a`` and ``records_b`` are certificates of the same test points (joined on ``idx``; a
    point in one but not the other is an error), e.g. a learned sigma and its isotropic counterpart.
    Because each point is certified under both, the interval is Tango's paired score interval with a continuity correction
    (:func:`nusmooth.intervals.paired_difference_from_counts`), over test points; it is pointwise (each
    threshold on its own; :func:`paired_difference_band` adds the band over all of them).

    Returns one row per threshold: ``threshold``, ``points``, ``accuracy_a``, ``accuracy_b``,
    ``only_a`` / ``only_b`` (points certified correct at that threshold by one of the two only: the
    discordant pairs the difference rests on), ``difference`` and ``lower`` / ``upper``.
    """
    return paired_difference_from_flags(*_paired_flags(records_a, records_b, thresholds, metric), level=level)


def paired_difference_band(
    records_a: pd.DataFrame, records_b: pd.DataFrame, thresholds, metric: str = "area", level: float = 0.95
) -> pd.DataFrame:
    """:func:`paired_differences` with a simultaneous band over the whole grid of ``thresholds``.

    The columns of :func:`paired_differences`, then ``band_lower`` / ``band_upper``: an interval per
    threshold such that all of them cover their population differences at once with probability at
    least ``level`` (Bonferroni over the grid, :func:`nusmooth.bands.paired_band_from_counts`). The
    band is what a verdict over the grid reads (:func:`nusmooth.verdicts.band_verdicts`); pass the
    whole display grid, not a few thresholds picked after looking.
    """
    return paired_band_from_flags(*_paired_flags(records_a, records_b, thresholds, metric), level=level)


def front_point_with_intervals(
    records: pd.DataFrame, metric: str = "area", level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """A Figure 2 / 4 point with intervals: clean accuracy and the mean metric of the certified-correct points.

    Returns ``points``, ``correct`` (certified correct), ``accuracy`` (``correct / points``; an
    abstention is wrong) with its Wilson interval ``accuracy_lower`` / ``accuracy_upper``, and
    ``mean_<metric>`` (e.g. ``mean_area``: the mean over the certified-correct points, NaN when there
    is none) with its studentized bootstrap interval ``mean_<metric>_lower`` / ``_upper`` over those
    points (``resamples`` resamples, seeded by ``seed``: the same records give the same interval; NaN
    with fewer than :data:`nusmooth.intervals.MIN_MEAN_POINTS` such points).
    """
    correct, values = _checked(records, metric)
    accuracy, accuracy_lower, accuracy_upper = proportion_interval(int(correct.sum()), len(correct), level)
    mean, mean_lower, mean_upper = mean_interval(values[correct], level, resamples=resamples, seed=seed)
    name = f"mean_{metric}"
    return {
        "points": len(correct),
        "correct": int(correct.sum()),
        "accuracy": accuracy,
        "accuracy_lower": accuracy_lower,
        "accuracy_upper": accuracy_upper,
        name: mean,
        f"{name}_lower": mean_lower,
        f"{name}_upper": mean_upper,
    }


#: Interval columns a sweep metrics row carries after its existing ones (see :func:`snapshot_metrics`).
SNAPSHOT_INTERVAL_COLUMNS = ["accuracy_lower", "accuracy_upper", "mean_area_lower", "mean_area_upper"]


def snapshot_metrics(records: pd.DataFrame) -> dict[str, float]:
    """A sweep metrics row's numbers, from one snapshot's per-point records on one split.

    ``accuracy``, ``mean_area`` and ``points`` are the values Figure 2 has always drawn (abstain =
    wrong; mean area over the certified-correct points), now with their 95% intervals over the points
    (:func:`front_point_with_intervals`: Wilson for the accuracy, studentized bootstrap for the mean area).
    The one function every sweep number comes from, so a table can be recomputed from the records.
    """
    point = front_point_with_intervals(records, "area")
    return {key: point[key] for key in ["accuracy", "mean_area", "points", *SNAPSHOT_INTERVAL_COLUMNS]}
