"""Racing the validation sweep: how often it changes what the full sweep chooses, the work it saves, and
what certifying a block with the full sweep's noise costs.

1. Simulation (``nusmooth.racing`` on synthetic sweeps whose certificates are drawn, not computed): 30
   candidates of two kinds (four learned sweeps of five snapshots, two of them Figure 1's, and ten
   isotropic constants) on ``--points`` validation points, raced ``--races`` times, each race on fresh
   points. A race *mismatches* when a front (per kind) or a Figure 1 choice taken from the survivors'
   full metrics differs from the one taken from every candidate's. Prints the mismatch rate with its 95%
   Clopper-Pearson interval next to the error rate the race was planned with, the same for the plug-in
   rule (bounds of zero width: a candidate is dropped when its estimates are dominated), and the share
   of the candidates x points the full sweep certifies that racing certifies.
2. The noise-skip overhead (``--real``): the MNIST CNN (random weights: the forward pass costs the same)
   certifies ``--real-points`` MNIST-5k validation points (``--n0`` / ``--n`` copies, the paper's sweep
   by default), then each stage's block with ``active``, the stages rounded to whole batches (the noise
   of every point is drawn, the model runs on the block's batches only); prints the seconds of each
   (wall and CPU), of drawing the full call's noise alone, each block's overhead over the full call's
   rate per point, and whether every block's certificates equal the full call's.

Run: ``python benchmarks/bench_racing.py`` (simulation only, under a minute on 2 cores) or
``python benchmarks/bench_racing.py --real`` (adds the overhead measurement, a few minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaincinv, ndtri

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow_scripts"))
from nusmooth.blanket import blanket_mask  # noqa: E402
from nusmooth.racing import (  # noqa: E402
    RacingPlan,
    area_levels,
    candidate_roles,
    drop_rule,
    stage_block,
    stage_bounds,
    stage_points,
    whole_batch_points,
)
from nusmooth.selection import select_snapshot  # noqa: E402

#: The synthetic sweeps' certificate settings (MNIST's input dimension, a small n to keep it fast).
DIMENSION, VOTES, ALPHA = 784, 64, 0.001
FIG1_INITS = (0.12, 0.25)
TOLERANCE = 0.01  # Figure 1's accuracy tolerance


def synthetic_sweeps() -> pd.DataFrame:
    """30 candidates: ``kind``, ``init``, ``sub_epoch``, ``sigma`` (a constant with the candidate's
    ``sum log sigma``), ``accuracy`` (certified-correct probability) and ``tail`` (how fast the vote
    counts of correct points fall below n: the chance of each further vote lost).

    Learned 0.12 (Figure 1's) gains area and a little accuracy with every snapshot: near-ties. Learned
    0.25 (Figure 1's) trades accuracy for area: a front. Learned 0.4 never learns: dominated, clearly by
    the other sweeps. Learned 0.55 trades hard: the front's large-area end. The isotropic constants
    trade accuracy for area, two of them nearly tied.
    """
    rows = []
    for epoch in range(1, 6):
        rows.append(("learned", 0.12, epoch, 0.12 * (1 + 0.2 * epoch), 0.985 + 0.002 * epoch))
        rows.append(("learned", 0.25, epoch, 0.25 * (1 + 0.15 * epoch), 0.96 - 0.01 * epoch))
        rows.append(("learned", 0.4, epoch, 0.2 + 0.005 * epoch, 0.85))
        rows.append(("learned", 0.55, epoch, 0.55 * (1 + 0.1 * epoch), 0.8 - 0.05 * epoch))
    constants = [0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.31, 0.4, 0.5, 0.55]
    for constant in constants:
        rows.append(("isotropic", constant, 0, constant, 0.99 - 0.9 * (constant - 0.1) ** 2))
    table = pd.DataFrame(rows, columns=["kind", "init", "sub_epoch", "sigma", "accuracy"])
    table.loc[table["init"] == 0.31, "accuracy"] = table.loc[table["init"] == 0.3, "accuracy"].to_numpy() - 0.002
    table["tail"] = 0.15 + 0.8 * table["sigma"]
    return table.sort_values(["kind", "init", "sub_epoch"]).reset_index(drop=True)


def level_areas() -> tuple[int, np.ndarray]:
    """The lowest certifying vote count and ``D log Phi^-1(pA_lower)`` at each count from it to n."""
    lowest, _ = area_levels(DIMENSION, VOTES, ALPHA)
    votes = np.arange(lowest, VOTES + 1)
    return lowest, DIMENSION * np.log(ndtri(betaincinv(votes, VOTES - votes + 1, ALPHA)))


def draw_points(sweeps: pd.DataFrame, races: int, points: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(correct, votes)`` of shape ``(races, candidates, points)``: whether each point is certified
    correct and its vote count ``n_A`` (from the lowest certifying count to n, truncated-geometric).
    Candidates share each point's two uniforms, as sigmas certified with common random numbers share
    easy and hard points."""
    lowest, _ = level_areas()
    levels = VOTES - lowest
    hardness, luck = rng.random((2, races, 1, points))
    accuracy = sweeps["accuracy"].to_numpy()[None, :, None]
    tail = sweeps["tail"].to_numpy()[None, :, None]
    correct = hardness < accuracy
    # Inverse CDF of P(lost votes = t) proportional to tail^t, t = 0..levels.
    lost = np.floor(np.log1p(-luck * (1 - tail ** (levels + 1))) / np.log(tail)).astype(np.int64)
    return correct, (VOTES - np.minimum(lost, levels)).astype(np.int16)


def point_areas(sweeps: pd.DataFrame, votes: np.ndarray) -> np.ndarray:
    lowest, areas = level_areas()
    offset = DIMENSION * np.log(sweeps["sigma"].to_numpy())[None, :, None]
    return offset + areas[votes - lowest]


def statistics(correct, votes, areas, seen: int):
    """Certified-correct counts, tail counts per area level and mean areas of every candidate on the
    first ``seen`` points (``(races, candidates)``, ``(..., L)``, ``(...)``)."""
    lowest, level_area = level_areas()
    hit = correct[..., :seen]
    count = hit.sum(axis=-1)
    races, candidates = count.shape
    bins = len(level_area)
    slot = (np.arange(races * candidates).reshape(races, candidates, 1) * bins + votes[..., :seen] - lowest)[hit]
    at_level = np.bincount(slot, minlength=races * candidates * bins).reshape(races, candidates, bins)
    tail = at_level[..., ::-1].cumsum(axis=-1)[..., ::-1][..., 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, (areas[..., :seen] * hit).sum(axis=-1) / np.maximum(count, 1), np.nan)
    return count, tail, mean


def plug_in_bounds(correct, tail, mean, steps, *, plan: RacingPlan, stage: int, level: float):
    """Zero-width "bounds": the estimates themselves (accuracy scaled to every point). Unsound on purpose."""
    estimate = np.round(correct * plan.val_points / plan.schedule[stage - 1])
    return estimate, estimate, mean, mean


def groups(sweeps: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """What a race must leave unchanged: each kind's front and each Figure 1 sweep's choice, as
    ``(what, candidate mask)``."""
    fronts = [("front", (sweeps["kind"] == kind).to_numpy()) for kind in sweeps["kind"].unique()]
    learned = (sweeps["kind"] == "learned").to_numpy()
    return fronts + [("fig1", learned & (sweeps["init"] == init).to_numpy()) for init in FIG1_INITS]


def choice(what: str, members: np.ndarray, accuracy: np.ndarray, area: np.ndarray, tolerance: float):
    """The front (indices the blanket keeps) or Figure 1's snapshot (:func:`select_snapshot`) among ``members``."""
    if what == "front":
        return frozenset(members[blanket_mask(accuracy[members], area[members])].tolist())
    metrics = pd.DataFrame({"sub_epoch": members, "accuracy": accuracy[members], "mean_area": area[members]})
    return select_snapshot(metrics, tolerance) if len(members) else None


def mismatched(groups_, accuracy: np.ndarray, area: np.ndarray, running: np.ndarray, tolerance: float) -> bool:
    """Whether the survivors' full metrics choose differently from every candidate's (a group that lost no
    candidate chooses the same by construction)."""
    for what, mask in groups_:
        if (mask & ~running).any():
            every, kept = np.flatnonzero(mask), np.flatnonzero(mask & running)
            if choice(what, every, accuracy, area, tolerance) != choice(what, kept, accuracy, area, tolerance):
                return True
    return False


def simulate(
    sweeps: pd.DataFrame, plan: RacingPlan, races: int, seed: int, bounds=stage_bounds, chunk: int = 100
) -> dict:
    """Race ``races`` synthetic validation sweeps with ``plan`` (``bounds``: :func:`stage_bounds` or a
    stand-in with its signature), ``chunk`` races at a time. Returns ``races``, ``mismatches`` (races
    whose fronts or Figure 1 choices differ from the full sweep's), ``certified_share`` (certified
    points over candidates x points) and ``dropped_by_stage``."""
    rng = np.random.default_rng(seed)
    mismatches, certified, dropped_by_stage = 0, 0, np.zeros(len(plan.schedule) - 1, dtype=int)
    checked = groups(sweeps)
    for size in [chunk] * (races // chunk) + ([races % chunk] if races % chunk else []):
        correct, votes = draw_points(sweeps, size, plan.val_points, rng)
        running, reached = race(sweeps, plan, correct, votes, bounds)
        count, _, mean = statistics(correct, votes, point_areas(sweeps, votes), plan.val_points)
        accuracy = count / plan.val_points
        mismatches += sum(
            mismatched(checked, accuracy[r], mean[r], running[r], plan.accuracy_tolerance) for r in range(size)
        )
        certified += int(reached.sum())
        dropped_by_stage += [(reached == seen).sum() for seen in plan.schedule[:-1]]
    return {
        "races": races,
        "mismatches": int(mismatches),
        "certified_share": certified / (races * len(sweeps) * plan.val_points),
        "dropped_by_stage": dropped_by_stage.tolist(),
    }


def race(sweeps: pd.DataFrame, plan: RacingPlan, correct, votes, bounds=stage_bounds):
    """One race per leading index of ``correct`` / ``votes`` (:func:`draw_points`): the survivors
    ``(races, candidates)`` and the points each candidate was certified on."""
    areas = point_areas(sweeps, votes)
    roles = candidate_roles(sweeps["kind"], sweeps["init"], plan)
    _, steps = area_levels(DIMENSION, VOTES, ALPHA)
    level = plan.stage_level(len(sweeps))
    running = np.ones(correct.shape[:2], dtype=bool)
    reached = np.full(correct.shape[:2], plan.val_points)
    for stage, seen in enumerate(plan.schedule[:-1], start=1):
        count, tail, mean = statistics(correct, votes, areas, seen)
        acc_lo, acc_up, area_lo, area_up = bounds(count, tail, mean, steps, plan=plan, stage=stage, level=level)
        decision = drop_rule(
            acc_lo,
            acc_up,
            area_lo,
            area_up,
            running=running,
            **roles,
            total=plan.val_points,
            tolerance=plan.accuracy_tolerance,
        )
        reached[decision["dropped"]] = seen
        running &= ~decision["dropped"]
    return running, reached


def simulation_plan(points: int, error_rate: float, fig1_inits=FIG1_INITS, tolerance=TOLERANCE) -> RacingPlan:
    """The plan of a race of the synthetic sweeps (the tests race their own candidates with other inits)."""
    return RacingPlan(
        schedule=stage_points(points),
        error_rate=error_rate,
        accuracy_tolerance=tolerance,
        fig1_inits=fig1_inits,
        num_elements=DIMENSION,
        alpha=ALPHA,
    )


def rate_interval(count: int, total: int) -> tuple[float, float]:
    """Two-sided 95% Clopper-Pearson interval of ``count / total``."""
    lower = 0.0 if count == 0 else betaincinv(count, total - count + 1, 0.025)
    upper = 1.0 if count == total else betaincinv(count + 1, total - count, 0.975)
    return float(lower), float(upper)


def print_simulation(name: str, result: dict, error_rate: float) -> None:
    lower, upper = rate_interval(result["mismatches"], result["races"])
    print(
        f"{name:10s} mismatches {result['mismatches']:5d} / {result['races']} races = "
        f"{result['mismatches'] / result['races']:.4f} [95% CI {lower:.4f}, {upper:.4f}] (error rate {error_rate}); "
        f"certified share {result['certified_share']:.3f}; dropped per stage {result['dropped_by_stage']}"
    )


def noise_skip_overhead(points: int, n0: int, n: int, batch_size: int, threads: int) -> None:
    """Seconds (wall, and this process's CPU) of the full certification of ``points`` MNIST-5k validation
    points, of drawing its noise alone, and of each stage's block with ``active`` (MNIST CNN, random
    weights), the stages rounded to whole batches (:func:`whole_batch_points`). A block's overhead is its
    time minus the full call's time per point times its points; drawing the noise of the points it
    skips is what it costs."""
    import torch

    from nusmooth.datasets.mnist5k import prepare_mnist5k
    from nusmooth.models import build_model
    from nusmooth.runtime import keep_freed_memory_for_reuse
    from nusmooth.smoothing import NonUniformSmoothing

    torch.set_num_threads(threads)
    keep_freed_memory_for_reuse()
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 10, [0.1307], [0.3081]).eval()
    dataset = prepare_mnist5k({"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    images, _ = dataset.splits["val"].as_float(points)
    smoothing = NonUniformSmoothing(model, 10, 0.25)

    def timed(work):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    def certify(active=None):
        generator = torch.Generator().manual_seed(1)
        return smoothing.certify_many(
            images, n0=n0, n=n, alpha=ALPHA, batch_size=batch_size, generator=generator, active=active
        )

    def draw_noise():
        generator, noise = torch.Generator().manual_seed(1), torch.empty(batch_size, images[0].numel())
        for copies in (n0, n):
            for start in range(0, points * copies, batch_size):
                size = min(batch_size, points * copies - start)
                torch.randn((size, noise.shape[1]), generator=generator, out=noise[:size])

    full, wall, cpu = timed(certify)
    _, noise_wall, noise_cpu = timed(draw_noise)
    print(
        f"full call: {points} points x {n0 + n} copies, {wall:.1f} s wall / {cpu:.1f} s CPU; drawing its noise "
        f"alone: {noise_wall:.2f} s wall / {noise_cpu:.2f} s CPU ({noise_wall / wall:.1%} of the full call)"
    )
    schedule = stage_points(points, unit=whole_batch_points(n0, n, batch_size))
    print(f"schedule {schedule} (blocks of whole batches of {batch_size} copies)")
    for stage in range(1, len(schedule) + 1):
        block = stage_block(schedule, stage)
        certs, block_wall, block_cpu = timed(lambda: certify(block))
        share = len(block) / points
        same = all(
            np.array_equal(getattr(certs, field), getattr(full, field)[block.start : block.stop])
            for field in ("counts_selection", "counts_estimation", "pa_lower")
        )
        print(
            f"stage {stage} block {block.start}..{block.stop - 1}: {block_wall:.1f} s wall / {block_cpu:.1f} s CPU; "
            f"overhead {block_wall - share * wall:+.1f} s wall / {block_cpu - share * cpu:+.1f} s CPU "
            f"(noise of the skipped points: {(1 - share) * noise_wall:.2f} s wall); identical certificates: {same}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--races", type=int, default=2000, help="simulated races (0: no simulation)")
    parser.add_argument("--points", type=int, default=800, help="validation points per simulated sweep")
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", action="store_true", help="also measure the noise-skip overhead on MNIST-5k")
    parser.add_argument("--real-points", type=int, default=375)
    parser.add_argument("--n0", type=int, default=64, help="selection copies per point (the paper's sweeps: 64)")
    parser.add_argument("--n", type=int, default=512, help="estimation copies per point (the paper's sweeps: 512)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.races:
        sweeps = synthetic_sweeps()
        plan = simulation_plan(args.points, args.error_rate)
        print(f"simulation: {len(sweeps)} candidates, {args.points} validation points, schedule {plan.schedule}")
        start = time.perf_counter()
        print_simulation("racing", simulate(sweeps, plan, args.races, args.seed), args.error_rate)
        print_simulation("plug-in", simulate(sweeps, plan, args.races, args.seed, plug_in_bounds), args.error_rate)
        print(f"({time.perf_counter() - start:.0f} s)")
    if args.real:
        noise_skip_overhead(args.real_points, args.n0, args.n, args.batch_size, args.threads)


if __name__ == "__main__":
    main()
