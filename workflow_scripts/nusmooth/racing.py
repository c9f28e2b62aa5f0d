"""Racing the validation sweep: every candidate is certified on a first block of validation points, and
only the candidates that could still matter go on to the next block.

A *candidate* is one sigma of one dataset's sweeps: a learned snapshot (kind ``learned``, its initial
constant ``init``, its ``sub_epoch``) or an isotropic constant (kind ``isotropic``, sub-epoch 0). A
candidate *matters* when, on all ``val_points`` validation points (the full sweep), it could be on its
kind's front (the blanket, :mod:`nusmooth.blanket`) or be, or decide, Figure 1's choice of its sweep
(:func:`nusmooth.selection.select_snapshot`). After each stage but the last, a candidate is dropped when
bounds that hold together with probability at least ``1 - error_rate`` show that it does not matter;
the survivors are certified on every validation point, so the fronts and Figure 1's choices taken from
their full metrics are those of the full sweep whenever the bounds hold. The rule, the bounds and why
they are sound: ``docs/method.md``, "Racing the validation sweep".

The pieces, in the order a pipeline uses them: :func:`stage_points` (the schedule; with
:func:`whole_batch_points` its blocks fill whole forward batches), :func:`stage_block` (the points a stage
certifies: pass it as ``active`` to :func:`nusmooth.records.certify_split`, whose noise is then the full
sweep's), :func:`decide_stage` (survivors from every record so far, a JSON-ready
dict), :func:`raced_records` and :func:`raced_metrics` (records and metrics rows that say how far a
candidate went). The array functions underneath (:func:`accuracy_bounds`, :func:`mean_area_bounds`,
:func:`drop_rule`) take any leading axes, so a simulation races many synthetic sweeps at once.

numpy, pandas and scipy only (no torch): the decision job imports it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .registry import CHOOSING_SPLIT, SIGMA_KINDS

#: The columns that name a candidate in records and decisions.
CANDIDATE = ("kind", "init", "sub_epoch")

#: The default stages: these fractions of the validation points, certified in turn.
DEFAULT_FRACTIONS = (1 / 8, 1 / 4, 1 / 2, 1.0)

#: The largest one-sided level at which a Clopper-Pearson bound is used for a fraction of a finite set of
#: points seen without replacement (the set of certified-correct points). Below it the binomial bound is
#: at least as wide as the exact one (Hoeffding 1956; checked exhaustively in tests/unit/test_racing.py);
#: at 0.2 it is not (one marked point in a set of 59, 13 seen).
WITHOUT_REPLACEMENT_LEVEL = 1e-3

#: Slack on the accuracy tolerance of Figure 1's rule, always in the direction that keeps a candidate.
_TOLERANCE_SLACK = 1e-9


def stage_points(val_points: int, fractions=DEFAULT_FRACTIONS, unit: int = 1) -> tuple[int, ...]:
    """The number of validation points certified after each stage: each fraction ``f`` of the points
    (increasing, the last 1), rounded up to a multiple of ``unit`` (at most ``val_points``), with repeats
    merged (few points make stages coincide). With ``unit`` from :func:`whole_batch_points` every block
    fills whole forward batches, so no copy of a point outside the block is forwarded."""
    return tuple(sorted(set(workflow_schedule(val_points, fractions, unit))))


def workflow_schedule(val_points: int, fractions=DEFAULT_FRACTIONS, unit: int = 1) -> tuple[int, ...]:
    """:func:`stage_points` with one count per fraction, repeats kept: the workflow runs one job per
    configured stage whatever the number of points (its DAG is fixed before any data are read), so a
    stage whose count repeats the previous one certifies an empty block and decides nothing."""
    fractions = [float(f) for f in fractions]
    if val_points < 1 or unit < 1:
        raise ValueError(f"val_points and unit must be >= 1, got {val_points} and {unit}")
    if not fractions or fractions[-1] != 1.0 or any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"stage fractions must lie in (0, 1] and end with 1 (all points), got {fractions}")
    if any(b <= a for a, b in zip(fractions, fractions[1:])):
        raise ValueError(f"stage fractions must increase, got {fractions}")
    return tuple(min(math.ceil(f * val_points / unit) * unit, val_points) for f in fractions)


def whole_batch_points(n0: int, n: int, batch_size: int) -> int:
    """The fewest points whose copies fill whole forward batches in both phases (``n0`` and ``n`` copies
    per point, ``batch_size`` per batch): a block that starts and ends at multiples of it is certified
    in exactly the full call's batches that hold its copies (:func:`nusmooth.smoothing.active_mask`)."""
    return math.lcm(batch_size // math.gcd(batch_size, n0), batch_size // math.gcd(batch_size, n))


def stage_block(schedule, stage: int) -> range:
    """The validation points stage ``stage`` (1-based) certifies: from the previous stage's count to its own."""
    if not 1 <= stage <= len(schedule):
        raise ValueError(f"stage must lie in 1..{len(schedule)} for the schedule {tuple(schedule)}, got {stage}")
    return range(schedule[stage - 2] if stage > 1 else 0, schedule[stage - 1])


@dataclass(frozen=True, kw_only=True)
class RacingPlan:
    """What a race is decided with, fixed before any record exists.

    ``schedule``: validation points after each stage (:func:`stage_points`, or :func:`workflow_schedule`
    whose repeated counts are stages with an empty block; the last is ``val_points``).
    ``error_rate``: the probability that racing drops a candidate that matters, at most (union bound); 0
    switches dropping off (every candidate is certified on every point: the full sweep).
    ``accuracy_tolerance`` and ``fig1_inits``: Figure 1's rule and the learned sweeps it chooses in.
    ``protected_inits``: constants whose candidates (both kinds) are never dropped. The workflow protects
    Figure 1's sweeps whole, so that Figure 1 reads the full sweep's records of its own sweeps and waits
    for no other sweep (its ``fig1_inits`` is then empty: no choice is left to preserve).
    ``num_elements`` (the input dimension D), ``alpha`` and the records' ``n`` fix the certified areas a
    point can have (:func:`area_levels`).
    """

    schedule: tuple[int, ...]
    error_rate: float
    accuracy_tolerance: float
    fig1_inits: tuple[float, ...]
    num_elements: int
    alpha: float
    protected_inits: tuple[float, ...] = ()

    def __post_init__(self):
        schedule = tuple(int(m) for m in self.schedule)
        if not schedule or schedule[0] < 1 or any(b < a for a, b in zip(schedule, schedule[1:])):
            raise ValueError(f"schedule must be non-decreasing point counts >= 1, got {self.schedule}")
        if not 0 <= self.error_rate < 1:
            raise ValueError(f"error_rate must lie in [0, 1), got {self.error_rate}")
        if self.accuracy_tolerance < 0:
            raise ValueError(f"accuracy_tolerance must be >= 0, got {self.accuracy_tolerance}")
        if self.num_elements < 1 or not 0 < self.alpha < 0.5:
            raise ValueError(
                f"num_elements (the input dimension) must be >= 1 and alpha in (0, 0.5), got {self.num_elements} "
                f"and {self.alpha}"
            )
        object.__setattr__(self, "schedule", schedule)
        object.__setattr__(self, "fig1_inits", tuple(float(i) for i in self.fig1_inits))
        object.__setattr__(self, "protected_inits", tuple(float(i) for i in self.protected_inits))

    @property
    def val_points(self) -> int:
        return self.schedule[-1]

    def deciding(self, stage: int) -> bool:
        """Whether stage ``stage`` (1-based) may drop candidates: it certified new points, and not yet all."""
        new_points = stage == 1 or self.schedule[stage - 1] > self.schedule[stage - 2]
        return new_points and self.schedule[stage - 1] < self.val_points

    def stage_level(self, candidates: int) -> float:
        """Bonferroni: each (candidate, deciding stage) gets ``error_rate / (candidates x deciding stages)``
        for its four one-sided bounds (accuracy and mean area, lower and upper)."""
        deciding = sum(self.deciding(stage) for stage in range(1, len(self.schedule) + 1))
        return self.error_rate / (candidates * max(deciding, 1))


def workflow_plan(stage_summaries, *, error_rate: float, alpha: float, protected_inits=()) -> RacingPlan:
    """The plan of a workflow's race from what its stage jobs certified (one summary per sweep of one
    stage: :meth:`nusmooth.sweeps.SweepJob.summary`), which must agree on the schedule and the input
    dimension. ``protected_inits``: Figure 1's constants, whose sweeps run to the end (the plan then needs
    no Figure 1 rule: ``fig1_inits`` is empty)."""
    summaries = list(stage_summaries)
    if not summaries:
        raise ValueError("no stage summaries: a race needs at least one sweep")
    layouts = {(tuple(s["schedule"]), int(s["num_elements"])) for s in summaries}
    if len(layouts) != 1:
        raise ValueError(
            f"the sweeps' stages disagree on the schedule or the input dimension: {sorted(layouts)}; rerun the "
            "race_stage jobs of one configuration"
        )
    ((schedule, num_elements),) = layouts
    return RacingPlan(
        schedule=schedule,
        error_rate=error_rate,
        accuracy_tolerance=0.0,
        fig1_inits=(),
        num_elements=num_elements,
        alpha=alpha,
        protected_inits=tuple(protected_inits),
    )


# --- bounds on the full sweep's metrics from its first points ------------------------------------------


def accuracy_bounds(correct, seen: int, total: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the number of certified-correct points among all ``total`` validation points, from the
    ``correct`` (array, any shape) among the first ``seen``.

    The validation split is in a seeded random order, so the first ``seen`` points are a uniformly random
    subset of the ``total``: given the total count K, ``correct`` is hypergeometric (``total``, K,
    ``seen``). Each bound is the exact one-sided inversion at ``level``: the upper bound is the largest K
    with ``P(X <= correct) > level``, the lower the smallest with ``P(X >= correct) > level``. With
    ``seen == total`` both are ``correct``; at level 0 they are the counts that are possible at all.
    """
    from scipy.stats import hypergeom  # slow to import; only the decision job needs it

    correct = np.asarray(correct, dtype=np.int64)
    if not 1 <= seen <= total or np.any(correct < 0) or np.any(correct > seen):
        raise ValueError(f"need 0 <= correct <= seen <= total and seen >= 1, got seen={seen}, total={total}")
    # One inversion per distinct count, then a lookup (many candidates or simulated races share counts).
    counts, where = np.unique(correct, return_inverse=True)
    unseen = total - seen
    low, high = counts.copy(), counts + unseen  # upper bound: largest K with P(X <= k) > level
    while np.any(low < high):
        middle = (low + high + 1) // 2
        plausible = hypergeom.cdf(counts, total, middle, seen) > level
        low, high = np.where(plausible, middle, low), np.where(plausible, high, middle - 1)
    upper = low
    low, high = counts.copy(), counts + unseen  # lower bound: smallest K with P(X >= k) > level
    while np.any(low < high):
        middle = (low + high) // 2
        plausible = hypergeom.sf(counts - 1, total, middle, seen) > level
        low, high = np.where(plausible, low, middle + 1), np.where(plausible, middle, high)
    return low[where].reshape(correct.shape), upper[where].reshape(correct.shape)


def area_levels(num_elements: int, n: int, alpha: float) -> tuple[int, np.ndarray]:
    """The certified areas a correct point can have, relative to its sigma: ``(lowest, steps)``.

    A certified point has ``n_A`` in ``lowest..n`` (``lowest``: the smallest count whose Clopper-Pearson
    bound exceeds 1/2), and its area is ``sum log sigma + D log Phi^-1(pA_lower(n_A))``. ``steps[i]`` is
    the area gained from ``n_A = lowest + i`` to ``lowest + i + 1``: the same for every sigma.
    """
    from scipy.special import betaincinv, ndtri  # here: the Snakefile counts a sweep's work without scipy

    votes = np.arange(1, n + 1)
    # The certificate's bound (nusmooth.smoothing.clopper_pearson_lower; that module imports torch).
    bound = betaincinv(votes, n - votes + 1, alpha)
    certifying = bound > 0.5
    if not certifying.any():
        raise ValueError(f"no vote count certifies with n={n} and alpha={alpha}; the sweep certifies nothing")
    log_radius = np.log(ndtri(bound[certifying]))
    return int(votes[certifying][0]), num_elements * np.diff(log_radius)


def mean_area_level(level: float, levels: int) -> float:
    """The one-sided level of each area level's fraction when a mean-area bound has ``level`` in all
    (Bonferroni over the ``levels``, capped at :data:`WITHOUT_REPLACEMENT_LEVEL`)."""
    return min(level / max(levels, 1), WITHOUT_REPLACEMENT_LEVEL)


def mean_area_bounds(tail_counts, correct, observed_mean, steps, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the mean certified area over all the certified-correct points of the full sweep.

    ``tail_counts`` ``(..., L)``: how many of the ``correct`` certified-correct points seen have
    ``n_A >= lowest + i + 1`` (``i = 0..L-1``; :func:`area_levels`); ``observed_mean`` their mean area;
    ``steps`` the L area steps. The points seen are a uniformly random subset of all the correct points,
    and the mean area is ``lowest area + sum_i steps[i] * q_i`` with ``q_i`` the fraction of them at
    level ``i + 1`` or above. Each ``q_i`` gets a one-sided Clopper-Pearson bound at ``level / L`` (capped
    at :data:`WITHOUT_REPLACEMENT_LEVEL`), so the two bounds are the mean with every fraction at its
    upper (lower) bound. With no correct point seen the bounds are ``(-inf, inf)``.
    """
    from scipy.special import betaincinv  # here: the Snakefile counts a sweep's work without scipy

    tail = np.asarray(tail_counts, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)[..., None]
    steps = np.asarray(steps, dtype=np.float64)
    per_level = mean_area_level(level, len(steps))
    seen = np.maximum(correct, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        upper = np.where(tail >= correct, 1.0, betaincinv(tail + 1, np.maximum(correct - tail, 1), 1 - per_level))
        lower = np.where(tail <= 0, 0.0, betaincinv(np.maximum(tail, 1), correct - tail + 1, per_level))
    fraction = tail / seen
    observed_mean = np.asarray(observed_mean, dtype=np.float64)
    none_seen = correct[..., 0] == 0
    mean_upper = np.where(none_seen, np.inf, observed_mean + ((upper - fraction) * steps).sum(axis=-1))
    mean_lower = np.where(none_seen, -np.inf, observed_mean - ((fraction - lower) * steps).sum(axis=-1))
    return mean_lower, mean_upper


# --- the dropping rule ---------------------------------------------------------------------------------------


def _first_true(matrix: np.ndarray) -> np.ndarray:
    """Index along the second-to-last axis of the first True in each column, or -1 (``(..., C, C) -> (..., C)``)."""
    return np.where(matrix.any(axis=-2), matrix.argmax(axis=-2), -1)


def drop_rule(
    accuracy_lower,
    accuracy_upper,
    area_lower,
    area_upper,
    *,
    running,
    kind,
    fig1_sweep,
    protected,
    total: int,
    tolerance: float,
) -> dict[str, np.ndarray]:
    """Which running candidates to drop, from bounds on their full-sweep metrics; arrays ``(..., C)``.

    ``accuracy_*`` bound certified-correct counts out of ``total``, ``area_*`` mean areas; ``kind`` is a
    code per candidate (fronts are per kind), ``fig1_sweep`` the index of its Figure 1 sweep or -1,
    ``protected`` marks candidates never dropped. A candidate is dropped when all hold:

    - *off the front*: another running candidate of its kind has an accuracy lower bound above its
      accuracy upper bound and a mean-area lower bound at least its mean-area upper bound (then it has
      strictly more accuracy and no less area, so this candidate is below the maximum accuracy and
      dominated: the blanket does not keep it);
    - *not Figure 1's* (candidates of a Figure 1 sweep only): its accuracy upper bound is below the
      largest accuracy lower bound of its sweep (it cannot be the sweep's most accurate, so the
      tolerance's reference stays), and either it is below that bound minus the tolerance (it cannot be
      eligible) or a candidate of its sweep that is eligible whatever the best accuracy is (accuracy
      lower bound at least the sweep's largest upper bound minus the tolerance) has a mean-area lower
      bound above its mean-area upper bound (the choice takes the largest area; ties go to the earliest,
      so only a strictly larger area rules it out);
    - it is running and not protected.

    Returns ``dropped`` (booleans), ``front_by`` and ``fig1_by`` (the index of the candidate that rules
    it out, -1 where none does; ``fig1_by`` is -1 for a drop by ineligibility and outside Figure 1's sweeps).
    """
    acc_lo, acc_up, area_lo, area_up, running, kind, fig1_sweep, protected = np.broadcast_arrays(
        *(np.asarray(a) for a in (accuracy_lower, accuracy_upper, area_lower, area_upper)),
        np.asarray(running, dtype=bool),
        np.asarray(kind),
        np.asarray(fig1_sweep),
        np.asarray(protected, dtype=bool),
    )
    count = acc_lo.shape[-1]
    others = ~np.eye(count, dtype=bool)
    # [..., d, c]: candidate d rules candidate c out.
    same_kind = (kind[..., :, None] == kind[..., None, :]) & others & running[..., :, None]
    dominates = (
        same_kind & (acc_lo[..., :, None] > acc_up[..., None, :]) & (area_lo[..., :, None] >= area_up[..., None, :])
    )
    front_by = _first_true(dominates)
    fig1_free = fig1_sweep < 0
    fig1_by = np.full(acc_lo.shape, -1)
    margin = total * (tolerance + _TOLERANCE_SLACK)
    for sweep in np.unique(fig1_sweep[fig1_sweep >= 0]):
        members = (fig1_sweep == sweep) & running
        best_lower = np.where(members, acc_lo, -np.inf).max(axis=-1, keepdims=True)
        best_upper = np.where(members, acc_up, -np.inf).max(axis=-1, keepdims=True)
        eligible_for_sure = members & (acc_lo >= best_upper - total * tolerance + total * _TOLERANCE_SLACK)
        larger_area = eligible_for_sure[..., :, None] & (area_lo[..., :, None] > area_up[..., None, :]) & others
        beaten_by = _first_true(larger_area)
        ineligible = acc_up < best_lower - margin
        not_chosen = (acc_up < best_lower) & (ineligible | (beaten_by >= 0))
        in_sweep = fig1_sweep == sweep
        fig1_free = np.where(in_sweep, not_chosen, fig1_free)
        fig1_by = np.where(in_sweep & ~ineligible, beaten_by, fig1_by)
    dropped = running & ~protected & (front_by >= 0) & fig1_free
    return {"dropped": dropped, "front_by": np.where(dropped, front_by, -1), "fig1_by": np.where(dropped, fig1_by, -1)}


def stage_bounds(correct, tail_counts, observed_mean, steps, *, plan: RacingPlan, stage: int, level: float):
    """``(accuracy lower, accuracy upper, mean-area lower, mean-area upper)`` of candidates after stage
    ``stage``, each side at ``level / 4`` (:meth:`RacingPlan.stage_level`); accuracy as certified-correct
    counts out of ``val_points``. Arrays of any leading shape (:func:`accuracy_bounds`, :func:`mean_area_bounds`)."""
    accuracy = accuracy_bounds(correct, plan.schedule[stage - 1], plan.val_points, level / 4)
    return (*accuracy, *mean_area_bounds(tail_counts, correct, observed_mean, steps, level / 4))


def candidate_roles(kind, init, plan: RacingPlan) -> dict[str, np.ndarray]:
    """:func:`drop_rule`'s ``kind`` codes, ``fig1_sweep`` indices and ``protected`` marks of candidates
    given by their kinds and initial constants: a learned candidate of one of Figure 1's constants is in
    that constant's sweep; an isotropic candidate of one of them is protected (Figure 1's thresholds and
    x-range read all its validation records); every candidate of a constant in ``protected_inits`` is too."""
    kind, init = np.asarray(kind), np.asarray(init, dtype=float)
    unknown = sorted(set(kind.tolist()) - set(SIGMA_KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; kinds are {SIGMA_KINDS}")
    learned = kind == SIGMA_KINDS[0]
    sweep = np.array([plan.fig1_inits.index(i) if i in plan.fig1_inits else -1 for i in init.tolist()], dtype=int)
    return {
        "kind": (~learned).astype(int),
        "fig1_sweep": np.where(learned, sweep, -1),
        "protected": (~learned & (sweep >= 0)) | np.isin(init, plan.protected_inits),
    }


# --- one stage's decision from records -----------------------------------------------------------------------


def _candidate_key(row) -> dict:
    return {"kind": str(row["kind"]), "init": float(row["init"]), "sub_epoch": int(row["sub_epoch"])}


def _finite_or_none(value: float):
    """JSON has no infinity: an unbounded side is written as null."""
    return float(value) if np.isfinite(value) else None


def candidate_statistics(records: pd.DataFrame, plan: RacingPlan, stage: int, running: pd.DataFrame) -> pd.DataFrame:
    """Per running candidate (rows of ``running``, columns :data:`CANDIDATE`): its points so far, certified-
    correct count, mean area over them, and the counts of correct points at each area level above the lowest."""
    seen = plan.schedule[stage - 1]
    rows = records[records["idx"] < seen].merge(running, on=list(CANDIDATE))
    votes = rows["n"].unique()
    if len(votes) != 1:
        raise ValueError(f"the records mix estimation counts n = {sorted(votes)}; a race compares one sweep setting")
    lowest, steps = area_levels(plan.num_elements, int(votes[0]), plan.alpha)
    correct = rows["correct"].astype(bool)
    if (rows.loc[correct, "n_a"] < lowest).any():
        raise ValueError(
            f"a point counted correct has n_A below {lowest}, the smallest count that certifies with n={votes[0]} "
            f"and alpha={plan.alpha}: the plan's alpha is not the records'. Fix: race with the sweep's own alpha"
        )
    statistics = []
    if rows[list(CANDIDATE)].drop_duplicates().shape[0] != len(running):
        raise ValueError(f"some running candidates have no records of the first {seen} validation points")
    for key, group in rows.groupby(list(CANDIDATE), sort=True):
        if sorted(group["idx"]) != list(range(seen)):
            raise ValueError(
                f"candidate {dict(zip(CANDIDATE, key))} lacks records of some of the first {seen} validation points "
                f"(has {group['idx'].nunique()}); stage {stage} decides only once every running candidate has them. "
                "Fix: certify the stage's block for it first"
            )
        hit = group["correct"].astype(bool).to_numpy()
        at_level = np.bincount(group["n_a"].to_numpy()[hit] - lowest, minlength=len(steps) + 1)
        statistics.append(
            {
                **dict(zip(CANDIDATE, key)),
                "points": seen,
                "correct": int(hit.sum()),
                "mean_area": float(group["certified_area"].to_numpy()[hit].mean()) if hit.any() else np.nan,
                "tail": at_level[::-1].cumsum()[::-1][1:],  # correct points at each level above the lowest, or higher
            }
        )
    table = pd.DataFrame(statistics)
    table.attrs["steps"] = steps
    return table


def decide_stage(records: pd.DataFrame, plan: RacingPlan, stage: int, previous: dict | None = None) -> dict:
    """Stage ``stage``'s decision (1-based) from every record so far: which candidates go on.

    ``records``: per-point validation records (:func:`nusmooth.records.sweep_records`'s columns) of every
    candidate of one dataset, the dropped ones included (they fix the number of candidates the error
    rate is split over); only the points before the stage's count are read. ``previous``: the decision
    of stage ``stage - 1`` (None at stage 1); its dropped candidates stay dropped. Once every point is
    seen nothing is dropped (the survivors' metrics are then the full sweep's), nor at a stage that
    certified no new point (:meth:`RacingPlan.deciding`). Deterministic: the same records give the same dict.

    Returns a JSON-ready dict: ``stage``, ``points``, ``plan``, ``candidates`` (how many were raced),
    ``levels`` (the one-sided levels used),
    ``survivors`` (candidates), ``dropped`` (every candidate dropped so far, with the ``stage`` and the
    candidates ``front_by`` / ``fig1_by`` that ruled it out) and ``bounds`` (per running candidate:
    points, correct, mean area, and the four bounds; accuracy as fractions of ``val_points``, an
    unbounded side as null).
    """
    if stage == 1 and previous is not None:
        raise ValueError("stage 1 has no previous decision; pass previous=None")
    if stage > 1 and (previous or {}).get("stage") != stage - 1:
        raise ValueError(
            f"stage {stage} continues the decision of stage {stage - 1}, got "
            f"{'none' if previous is None else 'stage ' + str(previous.get('stage'))}; pass that stage's decision"
        )
    missing = [c for c in (*CANDIDATE, "idx", "correct", "n_a", "n", "certified_area") if c not in records.columns]
    if missing:
        raise ValueError(f"records lack the column(s) {missing}; pass the sweeps' per-point validation records")
    if "split" in records.columns and set(records["split"]) != {CHOOSING_SPLIT}:
        raise ValueError(
            f"racing decides on {CHOOSING_SPLIT!r} records only, got splits {sorted(set(records['split']))}; "
            "pass the validation records"
        )
    candidates = records[list(CANDIDATE)].drop_duplicates().sort_values(list(CANDIDATE)).reset_index(drop=True)
    if previous is not None and len(candidates) != previous["candidates"]:
        raise ValueError(
            f"the records name {len(candidates)} candidates, the race started with {previous['candidates']}: the "
            "error rate is split over all of them. Fix: pass every record so far, the dropped candidates' included"
        )
    dropped_before = [] if previous is None else previous["dropped"]
    gone = {tuple(d[c] for c in CANDIDATE) for d in dropped_before}
    running = candidates[[tuple(row) not in gone for row in candidates.itertuples(index=False)]].reset_index(drop=True)
    table = candidate_statistics(records, plan, stage, running)
    level = plan.stage_level(len(candidates))
    tail = np.array(table["tail"].tolist(), dtype=np.float64).reshape(len(table), -1)
    acc_lo, acc_up, area_lo, area_up = stage_bounds(
        table["correct"].to_numpy(),
        tail,
        table["mean_area"].to_numpy(),
        table.attrs["steps"],
        plan=plan,
        stage=stage,
        level=level,
    )
    if plan.error_rate > 0 and plan.deciding(stage):
        decision = drop_rule(
            acc_lo,
            acc_up,
            area_lo,
            area_up,
            running=np.ones(len(table), dtype=bool),
            **candidate_roles(table["kind"], table["init"], plan),
            total=plan.val_points,
            tolerance=plan.accuracy_tolerance,
        )
    else:  # dropping switched off, all points seen, or no new point: every running candidate goes on
        decision = {"dropped": np.zeros(len(table), dtype=bool)}
    keys = [_candidate_key(row) for _, row in table.iterrows()]
    dropped_now = [
        {
            **keys[c],
            "stage": stage,
            "front_by": keys[int(decision["front_by"][c])],
            "fig1_by": keys[int(decision["fig1_by"][c])] if decision["fig1_by"][c] >= 0 else None,
        }
        for c in np.flatnonzero(decision["dropped"])
    ]
    bounds = [
        {
            **keys[c],
            "points": int(table["points"][c]),
            "correct": int(table["correct"][c]),
            "mean_area": _finite_or_none(table["mean_area"][c]),
            "accuracy_lower": float(acc_lo[c]) / plan.val_points,
            "accuracy_upper": float(acc_up[c]) / plan.val_points,
            "mean_area_lower": _finite_or_none(area_lo[c]),
            "mean_area_upper": _finite_or_none(area_up[c]),
        }
        for c in range(len(table))
    ]
    return {
        "stage": stage,
        "points": plan.schedule[stage - 1],
        "plan": asdict(plan),  # RacingPlan(**decision["plan"]) rebuilds it
        "candidates": len(candidates),
        "levels": {
            "per_candidate_and_stage": level,
            "accuracy_side": level / 4,
            "mean_area_side": level / 4,
            "mean_area_per_area_level": mean_area_level(level / 4, len(table.attrs["steps"])),
        },
        "survivors": [keys[c] for c in range(len(table)) if not decision["dropped"][c]],
        "dropped": [*dropped_before, *dropped_now],
        "bounds": bounds,
    }


# --- records and metrics of raced candidates ---------------------------------------------------------------


def raced_records(records: pd.DataFrame, stage_reached: int) -> pd.DataFrame:
    """One candidate's records of every point it was certified on, with ``race_stage``: the last stage it
    ran in (the schedule's length for a survivor)."""
    return records.assign(race_stage=int(stage_reached))


def raced_metrics(records: pd.DataFrame, total_points: int) -> dict:
    """A candidate's metrics row from its raced records (:func:`raced_records`): the sweep's numbers over
    the points it was certified on (:func:`nusmooth.evidence.snapshot_metrics`), its ``race_stage``, and
    ``complete``: True only when it has every one of the ``total_points`` points (``val_points``). A dropped candidate's row is marked by
    ``complete = False`` and ``points`` below ``val_points``; its accuracy and mean area are those of its
    first points, with intervals over them, and no front or choice may read them as full-sweep numbers."""
    from .evidence import snapshot_metrics  # here: its intervals bring scipy, which the Snakefile does without

    stages = records["race_stage"].unique()
    if len(stages) != 1:
        raise ValueError(f"one candidate's raced records carry one race_stage, got {sorted(stages)}")
    metrics = snapshot_metrics(records)
    return {**metrics, "race_stage": int(stages[0]), "complete": bool(metrics["points"] == total_points)}
