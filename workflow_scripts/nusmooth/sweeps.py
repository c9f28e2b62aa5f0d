"""The sweeps as the workflow's jobs run them: the candidates of a sweep, their records on a block of
points, a raced sweep's records and metrics assembled from its stages, and Figure 2's front members
certified on test.

Every candidate is certified with a fresh generator of its sweep's stream (common random numbers: the
candidates of a sweep differ in sigma, not in luck), whichever job certifies it: a stage of the race
(``active`` = the stage's block, so the noise is the full sweep's), the last stage that assembles the
validation files, or the job that certifies a front's members on test. So a candidate's records are
the one-call sweep's, bit for bit (tests/unit/test_sweeps.py).

torch is imported only where points are certified (:func:`nusmooth.records.certify_split`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from .cost import path_number
from .evidence import SNAPSHOT_INTERVAL_COLUMNS
from .racing import CANDIDATE, raced_metrics, raced_records, stage_block
from .records import BLOCK_COLUMNS, certify_split, sweep_records
from .registry import SIGMA_KINDS

#: ``race_stage`` of records and metrics that were not raced (the test split).
NOT_RACED = 0


def sweep_candidates(kind: str, init, snapshots=None) -> list[tuple[int, object]]:
    """``(sub_epoch, sigma)`` of every candidate of a sweep: each learned snapshot of ``snapshots``
    (:class:`~nusmooth.artifacts.SigmaSnapshots`), or ``(0, constant)`` for an isotropic sweep."""
    if kind not in SIGMA_KINDS:
        raise ValueError(f"unknown sigma kind {kind!r}; kinds are {SIGMA_KINDS}")
    if kind == "isotropic":
        import torch

        return [(0, torch.tensor(float(init)))]
    if snapshots is None:
        raise ValueError("a learned sweep's candidates are its snapshots: pass the sweep's snapshots")
    return snapshots.items()


def front_candidates(members: Iterable[dict], snapshots: Iterable = ()) -> list[tuple[str, str, int, object]]:
    """``(kind, init, sub_epoch, sigma)`` of front members (:func:`nusmooth.fronts.certified_members`),
    ``init`` spelt as the sweep's paths and stream names spell it; a learned member's sigma is taken from
    its sweep's ``snapshots`` (:class:`~nusmooth.artifacts.SigmaSnapshots`, any number of sweeps)."""
    by_init = {float(saved.init): saved for saved in snapshots}
    chosen = []
    for member in members:
        kind, init, sub_epoch = str(member["kind"]), float(member["init"]), int(member["sub_epoch"])
        if kind == "learned" and init not in by_init:
            raise ValueError(f"front member {member} needs the snapshots of its sweep (init {init}); none given")
        sigmas = dict(sweep_candidates(kind, init, by_init.get(init)))
        chosen.append((kind, path_number(init), sub_epoch, sigmas[sub_epoch]))
    return chosen


def certify_candidates(
    model,
    split,
    candidates: Iterable[tuple[str, object, int, object]],
    *,
    split_name: str,
    new_generator: Callable[[str, object], object],
    active=None,
    **certify,
) -> pd.DataFrame:
    """Per-point records (:data:`~nusmooth.records.BLOCK_COLUMNS`) of every ``(kind, init, sub_epoch,
    sigma)`` in ``candidates`` on ``split``, each certified with ``new_generator(kind, init)``, a fresh
    generator of its sweep's stream; ``active`` and ``certify`` (num_classes, n0, n, alpha, batch_size,
    limit, device, precision) go to :func:`~nusmooth.records.certify_split`. No candidate: no rows."""
    frames = []
    for kind, init, sub_epoch, sigma in candidates:
        table = certify_split(
            model, split, sigma, generator=new_generator(kind, init), progress=True, active=active, **certify
        )
        frames.append(
            sweep_records(
                table, kind=kind, init=init, sub_epoch=sub_epoch, split=split_name, precision=certify["precision"]
            )
        )
        print(f"{kind} {init} sub-epoch {sub_epoch}: {int(table['correct'].sum())} of {len(table)} certified correct")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BLOCK_COLUMNS)


def assemble_records(blocks: Iterable[pd.DataFrame], stage_of: Callable[[dict], int]) -> pd.DataFrame:
    """One sweep's records from the blocks its stages certified: each candidate's rows in point order,
    candidates in sub-epoch order (the one-call sweep's order), with ``race_stage`` =
    ``stage_of(candidate)``, the last stage it ran in (:func:`nusmooth.racing.raced_records`)."""
    records = pd.concat([block for block in blocks if len(block)], ignore_index=True)
    records = records.sort_values([*CANDIDATE, "idx"], kind="stable").reset_index(drop=True)
    if records.duplicated([*CANDIDATE, "idx"]).any():
        raise ValueError("two blocks hold records of one point of one candidate: the stages' blocks overlap")
    return pd.concat(
        [
            raced_records(group, stage_of(dict(zip(CANDIDATE, key))))
            for key, group in records.groupby(list(CANDIDATE), sort=False)
        ],
        ignore_index=True,
    )


def metrics_table(records: pd.DataFrame, *, sigma_means: dict, total_points: int, settings: dict) -> pd.DataFrame:
    """The sweep metrics rows (:data:`~nusmooth.artifacts.SWEEP_METRICS`) of every candidate of
    ``records`` (records with ``race_stage``), in their order: each from its own records
    (:func:`nusmooth.racing.raced_metrics`: ``complete`` only with all ``total_points`` points).
    ``sigma_means``: the mean sigma of each candidate by ``(kind, init, sub_epoch)``; ``settings``:
    ``n0``, ``n``, ``alpha`` and ``sigma_space``, written beside every row."""
    rows = []
    for key, group in records.groupby(list(CANDIDATE), sort=False):
        metrics = raced_metrics(group, total_points)
        kind, init, sub_epoch = key
        rows.append(
            {
                "kind": kind,
                "init": float(init),
                "sub_epoch": int(sub_epoch),
                "split": group["split"].iloc[0],
                "accuracy": metrics["accuracy"],
                "mean_area": metrics["mean_area"],
                "points": metrics["points"],
                "sigma_mean": float(sigma_means[(kind, float(init), int(sub_epoch))]),
                "n0": settings["n0"],
                "n": settings["n"],
                "alpha": settings["alpha"],
                "precision": group["precision"].iloc[0],
                "sigma_space": settings["sigma_space"],
                **{column: metrics[column] for column in SNAPSHOT_INTERVAL_COLUMNS},
                "race_stage": metrics["race_stage"],
                "complete": metrics["complete"],
            }
        )
        print(rows[-1])
    return pd.DataFrame(rows)


@dataclass(frozen=True, kw_only=True)
class SweepJob:
    """What one job of a sweep certifies: stage ``stage`` (1-based) of ``schedule`` (the points certified
    after each stage, :func:`nusmooth.racing.workflow_schedule`; one stage of every point for a split
    that is not raced) of sweep ``(kind, init)`` (``init`` as paths and stream names spell it), whose
    ``candidates`` are ``(sub_epoch, sigma)``; ``decision`` is the race's decision before this stage
    (None at stage 1 and for a sweep that reads none: every candidate runs)."""

    kind: str
    init: str
    stage: int
    schedule: tuple[int, ...]
    candidates: list
    decision: dict | None = None
    raced: bool = True

    @property
    def points(self) -> int:
        return self.schedule[-1]

    @property
    def block(self) -> range:
        return stage_block(self.schedule, self.stage)

    @property
    def active(self) -> range | None:
        """``certify_split``'s ``active``: the block, or None when it holds every point (the one-call sweep)."""
        return None if self.block == range(self.points) else self.block

    def to_certify(self) -> list[tuple[str, str, int, object]]:
        """``(kind, init, sub_epoch, sigma)`` of the candidates still running, none when the block is empty."""
        running = survivors_of(self.decision, self.kind, self.init)
        if not len(self.block):
            return []
        return [(self.kind, self.init, e, sigma) for e, sigma in self.candidates if running is None or e in running]

    def sigma_means(self) -> dict:
        return sigma_means((self.kind, self.init, e, sigma) for e, sigma in self.candidates)

    def stage_of(self) -> Callable[[dict], int]:
        """:func:`assemble_records`'s ``stage_of`` for the sweep this job ends."""
        if not self.raced:
            return lambda candidate: NOT_RACED
        return stage_reached(self.decision, len(self.schedule))

    def summary(self, num_elements: int) -> dict:
        """What this stage certified (:data:`~nusmooth.artifacts.RACE_STAGE`): the race's decisions read
        the number of points and the input dimension here, without torch."""
        return {
            "kind": self.kind,
            "init": float(self.init),
            "stage": self.stage,
            "schedule": list(self.schedule),
            "val_points": self.points,
            "num_elements": int(num_elements),
            "block": [self.block.start, self.block.stop],
            "certified": [int(e) for _, _, e, _ in self.to_certify()],
        }


def sigma_means(candidates: Iterable[tuple[str, object, int, object]]) -> dict:
    """:func:`metrics_table`'s ``sigma_means`` of ``(kind, init, sub_epoch, sigma)`` candidates."""
    return {(kind, float(init), int(e)): float(sigma.mean()) for kind, init, e, sigma in candidates}


def stage_reached(decision: dict | None, last_stage: int) -> Callable[[dict], int]:
    """``stage_of`` for :func:`assemble_records`: a candidate dropped by ``decision`` (the race's last
    decision, :func:`nusmooth.racing.decide_stage`) ran up to the stage that dropped it, any other to
    ``last_stage``; with no decision (a sweep that is never raced) every candidate ran to the end."""
    dropped = {} if decision is None else {_key(d): int(d["stage"]) for d in decision["dropped"]}

    def stage_of(candidate: dict) -> int:
        return dropped.get(_key(candidate), last_stage)

    return stage_of


def survivors_of(decision: dict | None, kind: str, init) -> set[int] | None:
    """Sub-epochs of sweep ``(kind, init)`` still running after ``decision`` (None: no decision, all run)."""
    if decision is None:
        return None
    return {int(c["sub_epoch"]) for c in decision["survivors"] if _key(c)[:2] == (kind, float(init))}


def _key(candidate: dict) -> tuple:
    return (str(candidate["kind"]), float(candidate["init"]), int(candidate["sub_epoch"]))
