"""Two fronts of Figure 2 (or 4) compared with intervals: at each area, whose front reaches more accuracy.

A front is a handful of members (snapshots chosen on validation by the blanket filter), each certified
on the same test points: per point, certified correct or not, and the certified area where it is. The
question the paper's Figure 2 answers is, for each area ``t``: of the members whose mean area is at
least ``t``, how accurate is the best one, for each method? The rule (``docs/method.md``, "Verdicts")
reads it off intervals that hold all at once:

- each member's mean area gets a studentized-bootstrap interval, Bonferroni over all members of both
  fronts, with half of the error budget (``(1 - level) / 2``);
- each pair (member of ``a``, member of ``b``) gets the paired interval (Tango's, continuity-corrected)
  for the difference of their accuracies on the same points, Bonferroni over all pairs, with the other
  half.

At threshold ``t`` a member *reaches* ``t`` when its mean-area lower bound is ``>= t``, and *may reach*
it when its upper bound is. Front ``a`` wins at ``t`` when some member of ``a`` reaches ``t`` and its
accuracy interval against **every** member of ``b`` that may reach ``t`` lies above 0 (so it also wins
where no member of ``b`` may reach ``t``); ``b`` wins symmetrically; nothing is compared where no
member of either front may reach ``t``; otherwise nothing can be told. When every interval holds
(probability at least ``level``), every win is true of the population: the best accuracy among the
winner's members whose mean area is at least ``t`` exceeds the other front's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .bands import simultaneous_level
from .intervals import mean_interval, paired_counts, paired_difference_from_counts
from .verdicts import A_WINS, B_WINS, CANNOT_TELL, NOTHING


class FrontComparison(NamedTuple):
    """``members``: one row per member (``front`` "a" or "b", ``member`` index in its front, ``points``,
    ``correct``, ``accuracy``, ``mean_area``, simultaneous ``area_lower`` / ``area_upper``);
    ``verdicts``: one row per threshold (see :func:`front_verdicts`)."""

    members: pd.DataFrame
    verdicts: pd.DataFrame


def _checked_front(correct, areas, name: str) -> tuple[np.ndarray, np.ndarray]:
    correct, areas = np.asarray(correct), np.asarray(areas, dtype=np.float64)
    if correct.ndim != 2 or correct.shape != areas.shape or correct.shape[0] == 0:
        raise ValueError(
            f"{name}: correct flags and areas must both have shape (members, points) with at least one member, "
            f"got {correct.shape} and {areas.shape}"
        )
    if correct.dtype != bool and not np.all((correct == 0) | (correct == 1)):
        raise ValueError(f"{name}: correct flags must be booleans or 0/1")
    correct = correct.astype(bool)
    if np.any(correct & ~np.isfinite(areas)):
        raise ValueError(f"{name}: a point counted correct has a non-finite area; recompute the records")
    return correct, areas


def front_area_bounds(correct, areas, level: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean-area intervals of the members (rows) holding all at once with probability ``level``.

    Each member's mean area over its certified-correct points gets a studentized bootstrap interval
    (:func:`nusmooth.intervals.mean_interval`) at the Bonferroni level for the number of members, with
    enough resamples for that level and the seed ``seed + member``. A member with too few certified-correct
    points for an interval gets ``(-inf, inf)``: it may reach every area, and reaches none for sure.
    """
    correct, areas = _checked_front(correct, areas, "front")
    member_level = simultaneous_level(level, len(correct))
    resamples = max(2000, int(np.ceil(20 / (1 - member_level))))  # >= 10 resamples beyond each end
    lower, upper = np.full(len(correct), -np.inf), np.full(len(correct), np.inf)
    for member, (flags, values) in enumerate(zip(correct, areas)):
        _, low, high = mean_interval(values[flags], level=member_level, resamples=resamples, seed=seed + member)
        if not np.isnan(low):
            lower[member], upper[member] = low, high
    return lower, upper


def front_verdicts(correct_a, bounds_a, correct_b, bounds_b, *, thresholds, level: float) -> pd.DataFrame:
    """The verdict at each area threshold from the members' correct flags and mean-area bounds.

    ``correct_a``: ``(members of a, points)`` flags; ``bounds_a``: ``(lower, upper)`` arrays of its
    members' mean areas (simultaneous, :func:`front_area_bounds`); the same for ``b`` on the same points.
    ``level``: the simultaneous level of the accuracy differences, over all pairs of members.

    Returns one row per threshold: ``threshold``, ``verdict`` (one of :data:`nusmooth.verdicts.VERDICTS`),
    ``best_a`` / ``best_b`` (the member of each front that the verdict rests on: the most accurate one
    that wins, else the most accurate one that reaches ``t``; -1 when none reaches it) and their
    ``accuracy_a`` / ``accuracy_b`` (NaN for -1).
    """
    correct_a, _ = _checked_front(correct_a, np.zeros(np.shape(correct_a)), "front a")
    correct_b, _ = _checked_front(correct_b, np.zeros(np.shape(correct_b)), "front b")
    if correct_a.shape[1] != correct_b.shape[1]:
        raise ValueError(
            f"both fronts must be certified on the same points, got {correct_a.shape[1]} and {correct_b.shape[1]}"
        )
    lower_a, upper_a = (np.asarray(b, dtype=np.float64) for b in bounds_a)
    lower_b, upper_b = (np.asarray(b, dtype=np.float64) for b in bounds_b)
    if lower_a.shape != (len(correct_a),) or lower_b.shape != (len(correct_b),):
        raise ValueError("each front needs one (lower, upper) mean-area bound per member")
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    pair_a, pair_b = np.broadcast_arrays(correct_a[:, None, :], correct_b[None, :, :])
    pair_level = simultaneous_level(level, pair_a.shape[0] * pair_a.shape[1])
    _, difference_lower, difference_upper = paired_difference_from_counts(
        *paired_counts(pair_a, pair_b), level=pair_level
    )  # (members of a, members of b)
    accuracy_a, accuracy_b = correct_a.mean(axis=1), correct_b.mean(axis=1)
    # (thresholds, members): reaches for sure / may reach.
    reach_a, maybe_a = lower_a >= thresholds[:, None], upper_a >= thresholds[:, None]
    reach_b, maybe_b = lower_b >= thresholds[:, None], upper_b >= thresholds[:, None]
    # A member of a wins at t when it reaches t and is above every member of b that may reach t.
    winner_a = reach_a & np.all((difference_lower > 0)[None, :, :] | ~maybe_b[:, None, :], axis=2)
    winner_b = reach_b & np.all((difference_upper < 0)[None, :, :] | ~maybe_a[:, :, None], axis=1)
    verdicts = np.full(len(thresholds), CANNOT_TELL, dtype=object)
    verdicts[winner_a.any(axis=1)] = A_WINS
    verdicts[winner_b.any(axis=1)] = B_WINS
    verdicts[~maybe_a.any(axis=1) & ~maybe_b.any(axis=1)] = NOTHING

    def best(winner, reach, accuracy):
        chosen = np.where(winner.any(axis=1, keepdims=True), winner, reach)
        index = np.where(chosen.any(axis=1), np.argmax(np.where(chosen, accuracy, -1.0), axis=1), -1)
        return index, np.where(index >= 0, accuracy[np.maximum(index, 0)], np.nan)

    best_a, best_accuracy_a = best(winner_a, reach_a, accuracy_a)
    best_b, best_accuracy_b = best(winner_b, reach_b, accuracy_b)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "verdict": verdicts,
            "best_a": best_a,
            "best_b": best_b,
            "accuracy_a": best_accuracy_a,
            "accuracy_b": best_accuracy_b,
        }
    )


def compare_fronts(
    correct_a, areas_a, correct_b, areas_b, *, thresholds, level: float = 0.95, seed: int = 0
) -> FrontComparison:
    """Front ``a`` against front ``b`` at each area threshold, every verdict holding at once at ``level``.

    ``correct_*``: ``(members, points)`` flags, certified correct (abstain = wrong) on the same test
    points for both fronts; ``areas_*``: the certified areas, finite where correct. The error budget
    ``1 - level`` is split in halves between the mean-area intervals (:func:`front_area_bounds`, over
    the members of both fronts) and the accuracy differences (:func:`front_verdicts`, over the pairs).
    Deterministic given ``seed``. Read the verdicts as ranges with :func:`nusmooth.verdicts.verdict_ranges`.
    """
    correct_a, areas_a = _checked_front(correct_a, areas_a, "front a")
    correct_b, areas_b = _checked_front(correct_b, areas_b, "front b")
    half = 1 - (1 - level) / 2
    lower, upper = front_area_bounds(
        np.concatenate([correct_a, correct_b]), np.concatenate([areas_a, areas_b]), half, seed
    )
    members_a = len(correct_a)
    bounds_a, bounds_b = (lower[:members_a], upper[:members_a]), (lower[members_a:], upper[members_a:])
    verdicts = front_verdicts(correct_a, bounds_a, correct_b, bounds_b, thresholds=thresholds, level=half)
    correct = np.concatenate([correct_a, correct_b])
    areas = np.concatenate([areas_a, areas_b])
    counts = correct.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_area = np.where(counts > 0, np.where(correct, areas, 0.0).sum(axis=1) / np.maximum(counts, 1), np.nan)
    members = pd.DataFrame(
        {
            "front": ["a"] * members_a + ["b"] * len(correct_b),
            "member": list(range(members_a)) + list(range(len(correct_b))),
            "points": correct.shape[1],
            "correct": counts,
            "accuracy": counts / correct.shape[1],
            "mean_area": mean_area,
            "area_lower": lower,
            "area_upper": upper,
        }
    )
    return FrontComparison(members, verdicts)


# --- Figure 2's front tables and sweep records (tabulate_fig2's and evaluate_sigma's files) -------------

#: What identifies a front member among a sweep's records.
MEMBER = ["kind", "init", "sub_epoch"]


def front_members(front: pd.DataFrame, records: pd.DataFrame, kind: str, *, point_ids) -> tuple[np.ndarray, np.ndarray]:
    """``(correct, areas)``, each ``(members, points)``, of the front of ``kind`` in ``front`` (a
    FIG2_FRONT table, in its order) from the sweeps' test ``records`` (SWEEP_RECORDS rows), points in
    the order of ``point_ids``; every member must have been certified on exactly those points."""
    mine = front[front["kind"] == kind].sort_values("front_position")
    if mine.empty:
        raise ValueError(f"the front table has no {kind} member; rerun tabulate_fig2")
    correct, areas = [], []
    for member in mine.itertuples():
        rows = records[
            (records["kind"] == kind) & (records["init"] == member.init) & (records["sub_epoch"] == member.sub_epoch)
        ]
        if len(rows) != len(point_ids) or set(rows["idx"]) != set(point_ids):
            raise ValueError(
                f"{kind} front member init {member.init:g} sub-epoch {member.sub_epoch}: its test records hold "
                f"{len(rows)} points, not the {len(point_ids)} every member is compared on; rerun certify_front"
            )
        rows = rows.set_index("idx").loc[list(point_ids)]
        correct.append(rows["correct"].to_numpy().astype(bool))
        areas.append(np.where(correct[-1], rows["certified_area"].to_numpy(dtype=float), -np.inf))
    return np.array(correct), np.array(areas)


def front_grid(front: pd.DataFrame, count: int) -> np.ndarray:
    """``count`` round areas spanning the front members' *validation* mean areas (the grid is fixed by
    what chose the fronts, never by test records); empty when validation certified no member's point
    (nothing to compare the fronts at: the tables are then empty, not an error)."""
    from .tables import round_grid

    areas = front["val_mean_area"].to_numpy(dtype=float)
    areas = areas[np.isfinite(areas)]
    if areas.size == 0:
        return np.array([])
    return round_grid(float(areas.min()), float(areas.max()), count)
