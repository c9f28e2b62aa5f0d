"""Figure 2's fronts, chosen on validation before any test point is certified: each kind's blanket over
its complete candidates (those with every validation point: racing's dropped candidates are not), and
the members the test split certifies, at most ``test_front_members`` per kind.

A front of more members than that keeps that many spread evenly along its validation mean area, both
ends always kept, so the number of test certifications is known before the run (the cost count and the
SLURM runtimes rest on it). pandas and numpy only: the job that chooses starts without torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .blanket import blanket_mask
from .racing import CANDIDATE
from .registry import CHOOSING_SPLIT, SIGMA_KINDS

#: What the choice file says of its rule.
FRONT_RULE = (
    "each kind's blanket (docs/method.md) over the validation metrics of its complete candidates; at most "
    "test_front_members members of a front are certified on test, spread evenly along its validation mean "
    "area with both ends kept"
)


def spread_evenly(areas, count: int) -> list[int]:
    """``count`` indices of ``areas`` (increasing, a front's validation mean areas in its order) spread
    evenly along them: the first and the last, then for each of ``count - 2`` evenly spaced targets
    between them the nearest area not yet taken (ties to the earlier). Every index when there are no
    more than ``count``. Positions are the ranks instead when an area is not finite or all are equal."""
    areas = np.asarray(areas, dtype=float)
    if count < 2:
        raise ValueError(f"a capped front keeps both ends: count must be >= 2, got {count}")
    if len(areas) <= count:
        return list(range(len(areas)))
    if np.any(np.diff(areas) < 0):
        raise ValueError("areas must be in increasing order (the front's order)")
    position = areas if np.all(np.isfinite(areas)) and areas[-1] > areas[0] else np.arange(len(areas), dtype=float)
    taken = {0, len(areas) - 1}
    for target in np.linspace(position[0], position[-1], count)[1:-1]:
        distance = np.abs(position - target)
        distance[sorted(taken)] = np.inf
        taken.add(int(np.argmin(distance)))
    return sorted(taken)


def _member(row) -> dict:
    return {
        "kind": str(row["kind"]),
        "init": float(row["init"]),
        "sub_epoch": int(row["sub_epoch"]),
        "accuracy": float(row["accuracy"]),
        "mean_area": float(row["mean_area"]) if np.isfinite(row["mean_area"]) else None,  # JSON has no inf
        "points": int(row["points"]),
    }


def choose_fronts(validation: pd.DataFrame, *, test_front_members: int | None) -> dict:
    """Each kind's front from the sweeps' validation metrics (every kind and constant, as the last
    racing stage writes them: ``complete`` marks the candidates with every point), and its members
    certified on test. A JSON-ready dict: ``rule``, ``test_front_members`` and per kind ``front`` (every
    member, in the front's order: increasing validation mean area, then decreasing accuracy),
    ``certified`` (the members the test split certifies) and ``capped`` (fewer certified than on the front).
    """
    missing = {*CANDIDATE, "split", "accuracy", "mean_area", "points", "complete"} - set(validation.columns)
    if missing:
        raise ValueError(f"validation metrics lack {sorted(missing)}; pass the sweeps' val.tsv files")
    if set(validation["split"]) != {CHOOSING_SPLIT}:
        raise ValueError(
            f"fronts are chosen on {CHOOSING_SPLIT!r} metrics only, got {sorted(set(validation['split']))}"
        )
    if validation.duplicated(list(CANDIDATE)).any():
        raise ValueError("a candidate appears twice in the validation metrics: pass each sweep's val.tsv once")
    complete = validation[validation["complete"].astype(bool)]
    kinds = {}
    for kind in [k for k in SIGMA_KINDS if k in set(validation["kind"])]:
        mine = complete[complete["kind"] == kind]
        if mine.empty:
            raise ValueError(f"no {kind} candidate has every validation point: racing keeps each front's members")
        front = mine[blanket_mask(mine["accuracy"].to_numpy(), mine["mean_area"].to_numpy())]
        front = front.assign(order_area=front["mean_area"].astype(float).fillna(-np.inf))
        front = front.sort_values(["order_area", "accuracy"], ascending=[True, False], kind="stable")
        members = [_member(row) for _, row in front.iterrows()]
        kept = (
            members
            if test_front_members is None
            else [members[i] for i in spread_evenly(front["order_area"], test_front_members)]
        )
        kinds[kind] = {"front": members, "certified": kept, "capped": len(kept) < len(members)}
    return {"rule": FRONT_RULE, "test_front_members": test_front_members, "kinds": kinds}


def certified_members(fronts: dict, kind: str) -> list[dict]:
    """The members of ``kind``'s front that the test split certifies (:func:`choose_fronts`)."""
    if kind not in fronts["kinds"]:
        raise ValueError(f"the fronts name no {kind} front (kinds: {sorted(fronts['kinds'])})")
    return fronts["kinds"][kind]["certified"]


def front_sizes(fronts: dict) -> dict[str, int]:
    """Members of each kind's validation front (certified on test or not)."""
    return {kind: len(chosen["front"]) for kind, chosen in fronts["kinds"].items()}


def member_keys(fronts: dict, which: str) -> set[tuple[str, float, int]]:
    """``(kind, init, sub_epoch)`` of every member of the fronts (``which="front"``) or of those certified
    on test (``which="certified"``)."""
    return {
        (m["kind"], float(m["init"]), int(m["sub_epoch"])) for chosen in fronts["kinds"].values() for m in chosen[which]
    }


def among(rows: pd.DataFrame, keys: set) -> np.ndarray:
    """Whether each row's candidate (its :data:`~nusmooth.racing.CANDIDATE` columns) is one of ``keys``."""
    candidates = zip(rows["kind"], rows["init"].astype(float), rows["sub_epoch"].astype(int))
    return np.array([key in keys for key in candidates], dtype=bool)
