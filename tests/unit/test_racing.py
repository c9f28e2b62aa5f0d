"""Racing the validation sweep (nusmooth.racing): the schedule, the bounds (exact where they can be
checked exactly, and by simulation), the dropping rule against the blanket and Figure 1's rule, one
stage's decision from records, the records and metrics of raced candidates, and how often a race
chooses differently from the full sweep (the benchmark's simulation, small)."""

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaincinv, ndtri
from scipy.stats import hypergeom

from support.benchmark_modules import load_benchmark
from nusmooth.blanket import blanket_mask
from nusmooth.evidence import snapshot_metrics
from nusmooth.racing import (
    CANDIDATE,
    WITHOUT_REPLACEMENT_LEVEL,
    RacingPlan,
    accuracy_bounds,
    area_levels,
    decide_stage,
    drop_rule,
    mean_area_bounds,
    raced_metrics,
    raced_records,
    stage_block,
    stage_points,
    workflow_plan,
    workflow_schedule,
)
from nusmooth.selection import select_snapshot

bench = load_benchmark("bench_racing")

DIMENSION, VOTES, ALPHA = bench.DIMENSION, bench.VOTES, bench.ALPHA
POINTS = 800  # stage 1 sees 100 points: enough for a clear case to be decided there at these levels


# --- the schedule ------------------------------------------------------------------------------------------


def test_stage_points_take_each_fraction_of_the_points_and_end_with_all():
    assert stage_points(800) == (100, 200, 400, 800)
    assert stage_points(6667) == (834, 1667, 3334, 6667)
    assert stage_points(3) == (1, 2, 3)  # stages that coincide are merged
    assert stage_points(100, (0.5, 1)) == (50, 100)
    assert stage_points(400, unit=125) == (125, 250, 400)  # blocks of whole batches (whole_batch_points)
    assert stage_points(100, unit=125) == (100,)  # one stage: the full sweep
    assert [stage_block((100, 200, 400), s) for s in (1, 2, 3)] == [range(0, 100), range(100, 200), range(200, 400)]


def test_the_workflow_schedule_keeps_one_count_per_configured_stage():
    """The workflow's DAG has one job per configured stage, fixed before the data are read: stages that
    coincide stay, as stages with an empty block."""
    assert workflow_schedule(400, unit=125) == (125, 125, 250, 400)
    assert stage_points(400, unit=125) == (125, 250, 400)
    assert workflow_schedule(20, (0.5, 1.0), unit=32) == (20, 20)
    assert stage_block((125, 125, 250, 400), 2) == range(125, 125)


@pytest.mark.parametrize("fractions", [(0.5,), (0.5, 0.25, 1), (0, 1), (0.5, 1.5)])
def test_a_schedule_that_does_not_end_with_every_point_is_refused(fractions):
    with pytest.raises(ValueError, match="fractions"):
        stage_points(100, fractions)


def test_a_plan_refuses_what_it_cannot_race_with():
    settings = dict(accuracy_tolerance=0.01, fig1_inits=(), num_elements=DIMENSION, alpha=ALPHA)
    with pytest.raises(ValueError, match="non-decreasing"):
        RacingPlan(schedule=(200, 100), error_rate=0.05, **settings)
    with pytest.raises(ValueError, match="error_rate"):
        RacingPlan(schedule=(100, 200), error_rate=1.0, **settings)
    with pytest.raises(ValueError, match="stage must lie"):
        stage_block((100, 200), 3)


# --- the bounds ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0.05, 1e-3])
def test_accuracy_bounds_are_exact_hypergeometric_bounds(level):
    """Every total count K of 30 points, 10 seen: each side fails with probability at most ``level``
    (exactly computed), and with more than ``level / 3`` for some K (the bound is not loose)."""
    total, seen = 30, 10
    observed = np.arange(seen + 1)
    lower, upper = accuracy_bounds(observed, seen, total, level)
    worst = 0.0
    for count in range(total + 1):
        probability = hypergeom.pmf(observed, total, count, seen)
        above, below = probability[upper < count].sum(), probability[lower > count].sum()
        assert above <= level + 1e-12 and below <= level + 1e-12
        worst = max(worst, above, below)
    assert worst > level / 3
    assert (lower >= observed).all() and (upper <= observed + total - seen).all()


def test_accuracy_bounds_are_the_count_itself_on_every_point_and_every_possibility_at_level_zero():
    assert [b.tolist() for b in accuracy_bounds([0, 4, 9], 9, 9, 1e-6)] == [[0, 4, 9], [0, 4, 9]]
    assert [b.tolist() for b in accuracy_bounds([0, 3, 5], 5, 10, 0.0)] == [[0, 3, 5], [5, 8, 10]]


@pytest.mark.parametrize("level", [1e-3, 1e-5])
def test_clopper_pearson_holds_for_fractions_of_a_finite_set_seen_without_replacement(level):
    """Why the mean-area bound may treat the certified-correct points as sampled with replacement: for
    every set of up to 60 points, every number of them marked and every number seen, the one-sided
    binomial bound fails with hypergeometric probability at most its level (computed exactly)."""
    assert level <= WITHOUT_REPLACEMENT_LEVEL
    worst = 0.0
    for size in range(1, 61):
        seen = np.arange(1, size + 1)[:, None, None]
        marked = np.arange(size + 1)[None, :, None]
        observed = np.arange(size + 1)[None, None, :]
        probability = hypergeom.pmf(observed, size, marked, seen)
        with np.errstate(invalid="ignore", divide="ignore"):
            upper = np.where(observed >= seen, 1.0, betaincinv(observed + 1, np.maximum(seen - observed, 1), 1 - level))
            lower = np.where(observed <= 0, 0.0, betaincinv(np.maximum(observed, 1), seen - observed + 1, level))
        fraction = marked / size
        worst = max(
            worst, (probability * (upper < fraction)).sum(-1).max(), (probability * (lower > fraction)).sum(-1).max()
        )
    assert worst <= level


def test_the_area_levels_are_the_certificates_areas():
    lowest, steps = area_levels(DIMENSION, VOTES, ALPHA)
    votes = np.arange(lowest, VOTES + 1)
    bound = betaincinv(votes, VOTES - votes + 1, ALPHA)
    assert bound[0] > 0.5 >= betaincinv(lowest - 1, VOTES - lowest + 2, ALPHA)
    np.testing.assert_allclose(np.cumsum(steps), DIMENSION * np.log(ndtri(bound[1:]) / ndtri(bound[0])))
    assert area_levels(DIMENSION, 10, ALPHA) == (10, pytest.approx(np.array([])))  # only unanimity certifies


def test_mean_area_bounds_in_closed_form():
    """Every correct point seen at the top level: the upper bound is the observed mean and the lower one
    moves each level's fraction to its Clopper-Pearson lower bound ``level' ** (1 / k)``."""
    _, steps = area_levels(DIMENSION, VOTES, ALPHA)
    k, level = 50, 1e-4
    tail = np.full(len(steps), k)
    lower, upper = mean_area_bounds(tail, k, 10.0, steps, level)
    assert upper == 10.0
    assert lower == pytest.approx(10.0 - steps.sum() * (1 - (level / len(steps)) ** (1 / k)))
    assert mean_area_bounds(tail * 0, 0, np.nan, steps, level) == (-np.inf, np.inf)


def test_mean_area_bounds_cover_the_mean_of_a_skewed_finite_set():
    """A set of 1,000 correct points, most at the top level and a long tail down to the lowest; 4,000
    random subsets of 60 seen. Each side fails at most ``level`` of the time (its levels are capped, so
    it fails far less: the check is against an error in the bound's direction or size, which would fail
    often), and the lower bound is informative (within the area's range)."""
    rng = np.random.default_rng(5)
    _, steps = area_levels(DIMENSION, VOTES, ALPHA)
    levels = len(steps)
    population = np.minimum(rng.geometric(0.6, 1000) - 1, levels)  # votes lost from n, truncated
    areas = np.concatenate([[0.0], np.cumsum(steps)])[levels - population]
    seen = np.argpartition(rng.random((4000, 1000)), 60, axis=1)[:, :60]
    lost = population[seen]
    tail = (lost[:, :, None] <= levels - 1 - np.arange(levels)).sum(axis=1)
    lower, upper = mean_area_bounds(tail, 60, areas[seen].mean(axis=1), steps, 0.01)
    truth = areas.mean()
    assert (upper < truth).mean() <= 0.01 and (lower > truth).mean() <= 0.01
    assert (truth - lower).mean() < steps.sum() / 2 and (upper >= lower).all()


# --- the dropping rule against the blanket and Figure 1's rule ---------------------------------------------


def random_instances(rng, instances: int, candidates: int, total: int):
    """True counts and areas with ties (a small grid of values), and bounds around them."""
    count = rng.integers(0, total + 1, (instances, candidates))
    area = rng.integers(0, 8, (instances, candidates)).astype(float) * 10
    width = rng.integers(0, 4, (4, instances, candidates))
    return count, area, (count - width[0], count + width[1], area - 10 * width[2], area + 10 * width[3])


def violations(count, area, bounds, kind, fig1_sweep, total, tolerance):
    """Instances where the rule dropped a blanket member or changed Figure 1's choice, and all drops."""
    decision = drop_rule(
        *bounds,
        running=np.ones(count.shape, dtype=bool),
        kind=kind,
        fig1_sweep=fig1_sweep,
        protected=np.zeros(count.shape[-1], dtype=bool),
        total=total,
        tolerance=tolerance,
    )
    wrong = 0
    for i in range(len(count)):
        kept = ~decision["dropped"][i]
        for code in np.unique(kind):
            members = np.flatnonzero(kind == code)
            on_front = members[blanket_mask(count[i, members] / total, area[i, members])]
            wrong += int(not kept[on_front].all())
        members = np.flatnonzero(fig1_sweep == 0)
        if kept[members].all():
            continue  # nothing dropped from the sweep: the same choice by construction
        sweep = pd.DataFrame(
            {"sub_epoch": members, "accuracy": count[i, members] / total, "mean_area": area[i, members]}
        )
        survivors = sweep[kept[members]]
        wrong += int(survivors.empty or select_snapshot(sweep, tolerance) != select_snapshot(survivors, tolerance))
    return wrong, int(decision["dropped"].sum())


def test_bounds_that_hold_never_drop_a_blanket_member_or_change_figure_1s_choice():
    """500 random instances of 8 candidates (two kinds; three learned ones are a Figure 1 sweep) with
    ties in accuracy and area and bounds that contain the truth: the rule drops many candidates and never
    one that the blanket keeps or that changes the sweep's choice. Bounds that miss the truth do."""
    rng = np.random.default_rng(0)
    total, tolerance = 20, 0.1  # a tolerance of two points: eligibility is decided on the grid's ties
    kind = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    fig1_sweep = np.array([0, 0, 0, -1, -1, -1, -1, -1])
    count, area, bounds = random_instances(rng, 500, len(kind), total)
    wrong, dropped = violations(count, area, bounds, kind, fig1_sweep, total, tolerance)
    assert wrong == 0 and dropped > 500
    shifted = (bounds[0] + 3, bounds[1] - 3, bounds[2] + 30, bounds[3] - 30)  # the truth outside
    assert violations(count, area, shifted, kind, fig1_sweep, total, tolerance)[0] > 25


def two_candidates(accuracy_lower, kind):
    """The rule's decision for two candidates whose accuracy bounds touch or not (``accuracy_lower``), the
    first with far more area."""
    return drop_rule(
        accuracy_lower,
        [12, 10],
        [100.0, 0.0],
        [110.0, 5.0],
        running=[True, True],
        kind=kind,
        fig1_sweep=[-1, -1],
        protected=[False, False],
        total=20,
        tolerance=0.0,
    )


def test_a_candidate_that_could_share_the_top_accuracy_is_kept():
    """The blanket keeps every point at the maximum accuracy: an accuracy lower bound equal to the
    other's upper bound rules nothing out, however much area it has."""
    assert not two_candidates([10, 9], kind=[0, 0])["dropped"].any()
    assert two_candidates([11, 9], kind=[0, 0])["dropped"].tolist() == [False, True]
    assert not two_candidates([11, 9], kind=[0, 1])["dropped"].any()  # another kind's candidate: another front


# --- one stage's decision from records ----------------------------------------------------------------------


def candidate_records(kind, init, sub_epoch, *, sigma, accuracy, lost=0, points=POINTS, variant=0.0):
    """Validation records of one candidate: ``accuracy`` of the points certified correct (spread evenly
    along the order, so every stage sees about that share), each with ``lost`` votes below n (its area
    from the certificate's formulas for a constant ``sigma``); the others abstain. ``variant`` shifts
    which points are correct (a near-tie of another candidate)."""
    idx = np.arange(points)
    correct = ((idx * 0.6180339887 + variant) % 1.0) < accuracy
    n_a = np.where(correct, VOTES - lost, VOTES // 2)
    pa_lower = betaincinv(n_a, VOTES - n_a + 1, ALPHA)
    phi = np.where(correct, ndtri(pa_lower), np.nan)
    area = np.where(correct, DIMENSION * np.log(sigma * np.where(correct, phi, 1.0)), -np.inf)
    return pd.DataFrame(
        {
            "kind": kind,
            "init": float(init),
            "sub_epoch": sub_epoch,
            "split": "val",
            "idx": idx,
            "label": 0,
            "predict": np.where(correct, 0, -1),
            "n_a": n_a,
            "n": VOTES,
            "pa_lower": pa_lower,
            "phi_inv_pa_lower": phi,
            "certified_area": area,
            "correct": correct.astype(int),
        }
    )


def plan_for(fig1_inits=(), error_rate=0.05, tolerance=0.01):
    return bench.simulation_plan(POINTS, error_rate, fig1_inits, tolerance)


def race_all(records: pd.DataFrame, plan: RacingPlan) -> list[dict]:
    """Every stage's decision, each reading only the records a real race would have by then."""
    decisions, previous = [], None
    for stage in range(1, len(plan.schedule) + 1):
        dropped = pd.DataFrame((previous or {}).get("dropped", []), columns=[*CANDIDATE, "stage"])
        last = records.merge(dropped, on=list(CANDIDATE), how="left")["stage"].fillna(stage).astype(int)
        reached = np.asarray(plan.schedule)[last.to_numpy() - 1]
        previous = decide_stage(records[records["idx"].to_numpy() < reached], plan, stage, previous)
        decisions.append(previous)
    return decisions


def named(candidates) -> set:
    return {(c["kind"], c["init"], c["sub_epoch"]) for c in candidates}


@pytest.fixture(scope="module")
def clear_and_close():
    """A leader; a learned candidate far below it in accuracy and area; an isotropic one as bad (another
    front); and a near-tie of the leader."""
    return pd.concat(
        [
            candidate_records("learned", 0.12, 1, sigma=0.3, accuracy=1.0),
            candidate_records("learned", 0.5, 1, sigma=0.2, accuracy=0.5, lost=14),
            candidate_records("isotropic", 0.2, 0, sigma=0.2, accuracy=0.5, lost=14),
            candidate_records("learned", 0.12, 2, sigma=0.301, accuracy=0.995, variant=0.3),
        ],
        ignore_index=True,
    )


def test_a_clearly_dominated_candidate_is_dropped_after_the_first_stage(clear_and_close):
    decisions = race_all(clear_and_close, plan_for())
    first = decisions[0]
    assert [(d["kind"], d["init"], d["stage"]) for d in first["dropped"]] == [("learned", 0.5, 1)]
    assert first["dropped"][0]["front_by"] == {"kind": "learned", "init": 0.12, "sub_epoch": 1}
    assert first["dropped"][0]["fig1_by"] is None
    # The isotropic twin is just as bad but alone on its front; the near-tie stays to the end.
    assert named(decisions[-1]["survivors"]) == {("learned", 0.12, 1), ("learned", 0.12, 2), ("isotropic", 0.2, 0)}
    assert decisions[-1]["dropped"] == first["dropped"]
    assert [d["points"] for d in decisions] == [100, 200, 400, 800]


def test_a_decision_is_json_and_depends_only_on_the_records(clear_and_close):
    plan = plan_for()
    decision = decide_stage(clear_and_close, plan, 1)
    shuffled = clear_and_close.sample(frac=1.0, random_state=1)
    assert json.dumps(decide_stage(shuffled, plan, 1), allow_nan=False) == json.dumps(decision, allow_nan=False)
    assert RacingPlan(**json.loads(json.dumps(decision["plan"]))) == plan
    bounds = {(b["kind"], b["init"], b["sub_epoch"]): b for b in decision["bounds"]}
    leader = bounds[("learned", 0.12, 1)]
    assert leader["points"] == 100 and leader["correct"] == 100
    assert leader["accuracy_lower"] < 1.0 == leader["accuracy_upper"]
    assert leader["mean_area_lower"] < leader["mean_area"] == pytest.approx(leader["mean_area_upper"])


def test_switching_dropping_off_keeps_every_candidate(clear_and_close):
    decisions = race_all(clear_and_close, plan_for(error_rate=0.0))
    assert all(not d["dropped"] for d in decisions)
    assert len(decisions[-1]["survivors"]) == 4


def test_figure_1s_possible_choices_are_never_dropped(clear_and_close):
    """The dominated learned sweep made one of Figure 1's: its best snapshot is the sweep's choice, so it
    stays; a snapshot that cannot be eligible goes, and with a wide tolerance one that is certainly
    beaten in area by a certainly eligible one goes."""
    ineligible = pd.concat([clear_and_close, candidate_records("learned", 0.5, 2, sigma=0.1, accuracy=0.1, lost=14)])
    dropped = race_all(ineligible, plan_for(fig1_inits=(0.5,)))[-1]["dropped"]
    assert [(d["init"], d["sub_epoch"], d["fig1_by"]) for d in dropped] == [(0.5, 2, None)]
    beaten = pd.concat([clear_and_close, candidate_records("learned", 0.5, 3, sigma=0.1, accuracy=0.3, lost=14)])
    dropped = race_all(beaten, plan_for(fig1_inits=(0.5,), tolerance=0.5))[-1]["dropped"]
    assert [(d["init"], d["sub_epoch"]) for d in dropped] == [(0.5, 3)]
    assert dropped[0]["fig1_by"] == {"kind": "learned", "init": 0.5, "sub_epoch": 1}
    # An isotropic constant that is Figure 1's is protected (Figure 1's thresholds read all its records);
    # the same candidate of another constant is dropped.
    isotropic = pd.concat(
        [
            clear_and_close,
            candidate_records("isotropic", 0.3, 0, sigma=0.3, accuracy=1.0),
            candidate_records("isotropic", 0.5, 0, sigma=0.1, accuracy=0.3, lost=14),
        ]
    )
    assert ("isotropic", 0.5, 0) in named(race_all(isotropic, plan_for(fig1_inits=(0.5,)))[-1]["survivors"])
    assert ("isotropic", 0.5, 0) not in named(race_all(isotropic, plan_for())[-1]["survivors"])


def test_a_stage_with_an_empty_block_decides_nothing_and_costs_no_error(clear_and_close):
    """(100, 100, 800): the second stage certified no new point, so it drops nothing, and the error rate
    is split over the one deciding stage, as for the schedule (100, 800)."""
    settings = dict(accuracy_tolerance=0.01, fig1_inits=(), num_elements=DIMENSION, alpha=ALPHA)
    repeated = RacingPlan(schedule=(100, 100, 800), error_rate=0.05, **settings)
    merged = RacingPlan(schedule=(100, 800), error_rate=0.05, **settings)
    assert [repeated.deciding(s) for s in (1, 2, 3)] == [True, False, False]
    assert repeated.stage_level(4) == merged.stage_level(4) == 0.05 / 4
    first = decide_stage(clear_and_close, repeated, 1)
    second = decide_stage(clear_and_close, repeated, 2, first)
    assert first["dropped"] and second["dropped"] == first["dropped"] and second["survivors"] == first["survivors"]
    assert second["stage"] == 2 and second["points"] == 100


def test_protected_constants_are_never_dropped(clear_and_close):
    """The workflow protects Figure 1's sweeps whole: the dominated learned sweep of 0.5 stays when 0.5 is
    protected, and still rules others out as a running candidate."""
    plan = bench.simulation_plan(POINTS, 0.05)
    protected = RacingPlan(**{**asdict(plan), "protected_inits": (0.5,)})
    assert named(race_all(clear_and_close, plan)[0]["dropped"]) == {("learned", 0.5, 1)}
    assert race_all(clear_and_close, protected)[0]["dropped"] == []


def test_the_workflow_plan_comes_from_the_stages_summaries():
    summary = {"schedule": [125, 250, 400], "num_elements": 784}
    plan = workflow_plan([summary, summary], error_rate=0.05, alpha=ALPHA, protected_inits=[0.25])
    assert plan.schedule == (125, 250, 400) and plan.num_elements == 784 and plan.protected_inits == (0.25,)
    assert plan.fig1_inits == ()  # Figure 1's sweeps are protected whole: no choice left to preserve
    with pytest.raises(ValueError, match="disagree"):
        workflow_plan([summary, {**summary, "schedule": [400]}], error_rate=0.05, alpha=ALPHA)


def test_records_that_cannot_decide_a_stage_are_refused(clear_and_close):
    plan = plan_for()
    first = decide_stage(clear_and_close, plan, 1)
    with pytest.raises(ValueError, match="certify the stage's block"):
        decide_stage(clear_and_close[clear_and_close["idx"] < 150], plan, 2, first)
    without_the_dropped = clear_and_close[clear_and_close["init"] != first["dropped"][0]["init"]]
    with pytest.raises(ValueError, match="the dropped candidates' included"):
        decide_stage(without_the_dropped, plan, 2, first)
    with pytest.raises(ValueError, match="continues the decision of stage 1"):
        decide_stage(clear_and_close, plan, 2)
    with pytest.raises(ValueError, match="validation records"):
        decide_stage(clear_and_close.assign(split="test"), plan, 1)


def test_records_certified_with_another_alpha_are_refused(clear_and_close):
    plan = RacingPlan(
        schedule=(100, 800), error_rate=0.05, accuracy_tolerance=0.01, fig1_inits=(), num_elements=DIMENSION, alpha=1e-6
    )
    with pytest.raises(ValueError, match="alpha"):
        decide_stage(clear_and_close, plan, 1)


# --- records and metrics of raced candidates ----------------------------------------------------------------


def test_a_raced_candidates_metrics_come_from_its_records_and_say_how_far_it_went(clear_and_close):
    plan = plan_for()
    dropped = candidate_records("learned", 0.5, 1, sigma=0.2, accuracy=0.5, lost=14)
    partial = raced_records(dropped[dropped["idx"] < 100], 1)
    assert (partial["race_stage"] == 1).all()
    row = raced_metrics(partial, plan.val_points)
    assert row == {**snapshot_metrics(partial), "race_stage": 1, "complete": False}
    assert row["points"] == 100
    survivor = raced_records(candidate_records("learned", 0.12, 1, sigma=0.3, accuracy=1.0), 4)
    assert raced_metrics(survivor, plan.val_points)["complete"] is True
    with pytest.raises(ValueError, match="one race_stage"):
        raced_metrics(pd.concat([partial, survivor]), plan.val_points)


# --- how often racing chooses differently from the full sweep ---------------------------------------------------


def test_racing_rarely_chooses_differently_from_the_full_sweep():
    """300 simulated races of the benchmark's 30 candidates on 800 points: the share of races whose fronts
    or Figure 1 choices differ from the full sweep's is at most the planned error rate plus three binomial
    standard errors; racing drops candidates (the check is not empty), and the plug-in rule, which drops
    on estimates alone, mismatches in far more races (the simulation can see a wrong rule)."""
    error_rate, races = 0.05, 300
    plan = bench.simulation_plan(POINTS, error_rate)
    sweeps = bench.synthetic_sweeps()
    result = bench.simulate(sweeps, plan, races, seed=1)
    assert result["mismatches"] / races <= error_rate + 3 * np.sqrt(error_rate * (1 - error_rate) / races)
    assert result["certified_share"] < 0.97 and sum(result["dropped_by_stage"]) >= races
    plug_in = bench.simulate(sweeps, plan, 100, seed=2, bounds=bench.plug_in_bounds)
    assert plug_in["mismatches"] / 100 > 0.15
