"""What every GPU job of the pipeline costs, counted from the configuration alone.

The work of a job is a count of passes through the base model, of three kinds:

- ``forward``: noisy copies classified (sampling, certification, the sweep evaluation) and clean
  images classified (the validation accuracy after every training epoch);
- ``forward_backward``: noisy copies of a sigma step (a forward pass and a backward pass to the
  noisy inputs, parameters frozen);
- ``training``: base-model training images (forward, backward to the parameters, optimiser step).

Counts depend on the configuration and the dataset's split sizes only, never on a machine. Seconds
follow from per-pass rates (measured on this CPU, or by ``benchmarks/device_check.py`` on a GPU,
or ``ASSUMED_GPU_FLOPS`` until a GPU has been measured); a SLURM job's ``runtime`` follows from its
own seconds (``runtime_minutes``).

Job sets mirror the Snakefile's DAG (``figure_jobs``); tests/workflow/test_cost_dag.py compares them
with Snakemake's own dry run. One kind of job is known only after a validation job has run: the test
certification of the isotropic envelope's constants, of which only those chosen on validation run
(``chosen_on_validation``). Before the run ``figure_jobs`` counts every constant of the grid, a bound;
after it, the jobs that ran are those of the choice (``docs/results.md`` times those). The validation sweep's racing stages are counted at their worst case
(nothing dropped: racing depends on the data, and a count must be a bound), so the sweeps' work falls
only with the test split's (the fronts' members instead of every candidate); :data:`FULL_SWEEP` gives
the pipeline as it ran before racing, for the "before" of the cost table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .model_settings import is_packaged
from .registry import (
    ARCHITECTURES,
    CERTIFIED_SPLITS,
    CHOOSING_SPLIT,
    FIG1_KINDS,
    SHOWN_SPLIT,
    SIGMA_KINDS,
    SPLITS,
    facts_for,
)

#: The three kinds of pass, in report order.
PASS_KINDS = ("forward", "forward_backward", "training")
#: Floating-point operations of each kind of pass, in forward passes (torch's flop counter gives 2.0
#: for a backward pass to the inputs with frozen parameters and 2.97-2.98 for a training step;
#: tests/unit/test_cost.py checks the counts).
FLOP_MULTIPLES = {"forward": 1.0, "forward_backward": 2.0, "training": 3.0}
#: The GPU throughput assumed for SLURM runtimes until a device check has measured one: 4 TFLOP/s
#: of float32 work without TF32, about a fifth of an A100's float32 peak (small convolution
#: networks and small batches reach a fraction of peak).
ASSUMED_GPU_FLOPS = 4e12
#: A SLURM request is this many times the job's computed time, plus START_MINUTES (reading data,
#: starting CUDA, cuDNN's algorithm search), and never below MIN_MINUTES.
SAFETY_FACTOR = 2.0
START_MINUTES = 10
MIN_MINUTES = 15
#: The request of a job whose work cannot be counted before its data are read (a dataset of your own).
FALLBACK_MINUTES = 240
#: Rules that resume from their last epoch / sub-epoch: a job longer than its partition's time limit
#: is resubmitted and goes on. The other GPU rules (evaluate_sigma, certify) start over.
RESUMABLE_RULES = ("train_base", "optimize_sigma")
GPU_RULES = (
    "train_base",
    "optimize_sigma",
    "race_stage",
    "evaluate_sigma",
    "certify_front",
    "certify",
    "certify_envelope",
)
#: The rules of the sweeps (validation and test): the forward-pass work that racing and certifying only
#: the fronts on test change.
SWEEP_RULES = ("race_stage", "evaluate_sigma", "certify_front")
#: Defaults of the keys a preset file may leave out, as schemas/config.schema.yaml gives them
#: (tests/unit/test_cost.py holds them to it).
SWEEP_DEFAULTS = {
    "racing": {"stages": [0.125, 0.25, 0.5, 1.0], "error_rate": 0.05},
    "test_front_members": 10,
    "test_cloud": False,
}
CERTIFY_BATCH_SIZE = 1000
#: The sweeps as the pipeline ran them before racing: one validation job per sweep, every candidate
#: certified on test (the "before" of the cost table, computed by the same code).
FULL_SWEEP = {"racing": {"stages": [1.0], "error_rate": 0.0}, "test_front_members": None, "test_cloud": True}


@dataclass(frozen=True)
class Work:
    """Passes through the base model, by kind."""

    forward: int = 0
    forward_backward: int = 0
    training: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(**{kind: getattr(self, kind) + getattr(other, kind) for kind in PASS_KINDS})

    def flops(self, arch: str) -> float:
        """Floating-point operations on architecture ``arch`` (forward-pass flops x the multiples)."""
        per_forward = ARCHITECTURES[arch].forward_flops
        return sum(getattr(self, kind) * FLOP_MULTIPLES[kind] * per_forward for kind in PASS_KINDS)

    def seconds(self, rates: dict[str, float]) -> float:
        """Seconds at ``rates`` (passes per second of each kind)."""
        return sum(getattr(self, kind) / rates[kind] for kind in PASS_KINDS if getattr(self, kind))


@dataclass(frozen=True)
class Job:
    """One job of the DAG: its rule and wildcards (as the Snakefile names them)."""

    rule: str
    wildcards: tuple[tuple[str, str], ...]

    def label(self) -> str:
        return self.rule + "".join(f" {key}={value}" for key, value in self.wildcards)


def path_number(value) -> str:
    """A number as it appears in paths and wildcards (``{init}``: 0.25 -> '0.25', 1.0 -> '1')."""
    return f"{value:g}"


def split_sizes(name: str, block: dict) -> dict[str, int]:
    """Images in train / val / test of built-in dataset ``name`` (or a variant or replicate of one) under
    config ``block``.

    The preparers split stratified by class, so each part may differ from these by less than one
    image per class; ImageNet's parts and the official test splits are exact."""
    pool = facts_for(name, block).pool_sizes
    source = block.get("source", {}) or {}
    if set(SPLITS) <= set(pool):  # fixed-size parts (ImageNet's subset)
        return {part: int(source.get(f"{part}_images") or pool[part]) for part in SPLITS}
    fractions = block["split"]
    carve = fractions["train"] / (fractions["train"] + fractions["val"])
    if "test" in pool:  # official test split; validation carved from the official train split
        train_pool, test = pool["train"], pool["test"]
    else:  # one pool: test cut off first, then validation from the rest
        test = round(pool["pool"] * fractions["test"])
        train_pool = pool["pool"] - test
    train = round(train_pool * carve)
    return {"train": train, "val": train_pool - train, "test": test}


def arch_of(name: str, block: dict) -> str:
    """The architecture of dataset ``name``'s model: the config's, else the dataset's (the paper's)."""
    return block["model"].get("arch") or facts_for(name, block).arch


def limited(count: int, limit: int | None) -> int:
    return count if limit is None else min(count, int(limit))


def sweep_settings(block: dict) -> dict:
    """The dataset's ``sweep_eval`` block with the schema's defaults of the keys it leaves out."""
    sweep = {**SWEEP_DEFAULTS, **block["sweep_eval"]}
    sweep["racing"] = {**SWEEP_DEFAULTS["racing"], **(block["sweep_eval"].get("racing") or {})}
    return sweep


def full_sweep(block: dict) -> dict:
    """``block`` with the sweeps as they ran before racing (:data:`FULL_SWEEP`)."""
    return {**block, "sweep_eval": {**block["sweep_eval"], **FULL_SWEEP}}


def candidates_per_sweep(block: dict, kind: str) -> int:
    """A learned sweep's snapshots (one per sub-epoch) or an isotropic sweep's one constant."""
    return int(block["sigma"]["sub_epochs"]) if kind == "learned" else 1


def validation_schedule(name: str, block: dict, batch_size: int) -> tuple[int, ...]:
    """Validation points certified after each racing stage (nusmooth.racing.workflow_schedule)."""
    from .racing import whole_batch_points, workflow_schedule  # scipy: only when a sweep is counted

    sweep = sweep_settings(block)
    points = limited(split_sizes(name, block)["val"], sweep.get("val_points"))
    return workflow_schedule(points, sweep["racing"]["stages"], whole_batch_points(sweep["n0"], sweep["n"], batch_size))


def front_members_certified(block: dict, kind: str) -> int:
    """The most front members of ``kind`` the test split certifies: ``test_front_members``, or every
    candidate of the kind when there are fewer (or no cap)."""
    cap = sweep_settings(block)["test_front_members"]
    candidates = len(block["sigma"]["inits"]) * candidates_per_sweep(block, kind)
    return candidates if cap is None else min(int(cap), candidates)


def job_work(job: Job, name: str, block: dict, *, batch_size: int = CERTIFY_BATCH_SIZE) -> Work:
    """Passes of one job of dataset ``name`` (config ``block``; ``batch_size``: the config's
    ``certify_batch_size``, which rounds the racing stages' blocks to whole batches). A racing stage
    counts every candidate of its sweep (its worst case: nothing dropped)."""
    sizes, wildcards = split_sizes(name, block), dict(job.wildcards)
    if job.rule == "train_base":
        if is_packaged(block["model"]):
            return Work()
        epochs = int(block["model"]["epochs"])
        train = limited(sizes["train"], block["model"].get("train_points"))
        return Work(training=epochs * train, forward=epochs * sizes["val"])
    if job.rule == "optimize_sigma":
        sigma = block["sigma"]
        points = limited(sizes["train"], sigma.get("train_points"))
        return Work(forward_backward=int(sigma["sub_epochs"]) * points * int(sigma["n_train"]))
    if job.rule in SWEEP_RULES:
        sweep = sweep_settings(block)
        per_point = int(sweep["n0"]) + int(sweep["n"])
        if job.rule == "certify_front":
            points = limited(sizes["test"], sweep.get("test_points"))
            return Work(forward=front_members_certified(block, wildcards["kind"]) * points * per_point)
        candidates = candidates_per_sweep(block, wildcards["kind"])
        if wildcards.get("split") == "test":
            return Work(forward=candidates * limited(sizes["test"], sweep.get("test_points")) * per_point)
        schedule = validation_schedule(name, block, batch_size)
        stage = int(wildcards["stage"]) if job.rule == "race_stage" else len(schedule)
        start = schedule[stage - 2] if stage > 1 else 0
        return Work(forward=candidates * (schedule[stage - 1] - start) * per_point)
    if job.rule == "certify":
        fig1 = block["fig1"]
        return Work(forward=limited(sizes["test"], fig1.get("test_points")) * (int(fig1["n0"]) + int(fig1["n"])))
    if job.rule == "certify_envelope":
        fig1, split = block["fig1"], wildcards["split"]
        limit = fig1["envelope"]["val_points"] if split == CHOOSING_SPLIT else fig1.get("test_points")
        return Work(forward=limited(sizes[split], limit) * (int(fig1["n0"]) + int(fig1["n"])))
    raise ValueError(f"no work is counted for rule {job.rule!r} (GPU rules: {', '.join(GPU_RULES)})")


def _job(rule: str, **wildcards) -> Job:
    return Job(rule, tuple(wildcards.items()))


def figure_jobs(name: str, block: dict) -> dict[str, list[Job]]:
    """The GPU jobs each figure of dataset ``name`` needs, each figure counted alone (as
    ``snakemake figures/<figure>`` on an empty results folder would run them), and ``all``."""
    inits = [path_number(i) for i in block["sigma"]["inits"]]
    fig1_inits = [path_number(i) for i in block["fig1"]["inits"]]
    train = [_job("train_base", dataset=name)]

    def sigma(chosen):
        return [_job("optimize_sigma", dataset=name, init=i) for i in chosen]

    sweep = sweep_settings(block)
    stages = len(sweep["racing"]["stages"])

    def validation(chosen, kinds):  # the racing stages, then the last stage (evaluate_sigma, val)
        raced = [
            _job("race_stage", dataset=name, kind=k, init=i, stage=str(s))
            for k in kinds
            for i in chosen
            for s in range(1, stages)
        ]
        return raced + [
            _job("evaluate_sigma", dataset=name, kind=k, init=i, split=CHOOSING_SPLIT) for k in kinds for i in chosen
        ]

    if sweep["test_cloud"]:  # every candidate on test
        test = [
            _job("evaluate_sigma", dataset=name, kind=k, init=i, split=SHOWN_SPLIT) for k in SIGMA_KINDS for i in inits
        ]
    else:  # the fronts' members only
        test = [_job("certify_front", dataset=name, kind=k) for k in SIGMA_KINDS]
    certify = [_job("certify", dataset=name, init=i, kind=k) for i in fig1_inits for k in FIG1_KINDS]
    # The envelope: every constant on validation; on test, the chosen ones (here every one, a bound).
    envelope = [
        _job("certify_envelope", dataset=name, constant=c, split=s)
        for s in CERTIFIED_SPLITS
        for c in envelope_constants(block)
    ]
    # Figure 1: the validation sweep of each Figure-1 constant chooses the snapshot (learned) and
    # sets the display thresholds (both kinds); then the learned vector and its isotropic counterparts
    # are certified on test, and the envelope beside them. Figure 1's sweeps read none of the race's
    # decisions (they run to the end), so they need no other sweep.
    figure1 = train + sigma(fig1_inits) + validation(fig1_inits, SIGMA_KINDS) + certify + envelope
    figure3 = train + sigma(fig1_inits) + validation(fig1_inits, ["learned"])  # the chosen vectors
    fronts = train + sigma(inits) + validation(inits, SIGMA_KINDS) + test
    front_figure = "fig4" if facts_for(name, block).majority_dominated else "fig2"
    everything = list(dict.fromkeys(figure1 + fronts))
    return {"fig1": figure1, front_figure: fronts, "fig3": figure3, "all": everything}


def envelope_constants(block: dict) -> list[str]:
    """The isotropic envelope's grid of dataset config ``block``, as its paths name them."""
    return [path_number(c) for c in block["fig1"]["envelope"]["constants"]]


def chosen_on_validation(job: Job) -> bool:
    """A job that runs only when a validation job chose it (an envelope constant's test certification):
    the DAG lists it only after the choice, and ``figure_jobs`` counts it as a bound."""
    return job.rule == "certify_envelope" and dict(job.wildcards)["split"] == SHOWN_SPLIT


def stage_work(name: str, block: dict, *, batch_size: int = CERTIFY_BATCH_SIZE) -> dict[str, Work]:
    """Work of each GPU rule of dataset ``name`` summed over its jobs (everything once)."""
    totals = {rule: Work() for rule in GPU_RULES}
    for job in figure_jobs(name, block)["all"]:
        totals[job.rule] += job_work(job, name, block, batch_size=batch_size)
    return totals


def figure_work(name: str, block: dict, *, batch_size: int = CERTIFY_BATCH_SIZE, rules=GPU_RULES) -> dict[str, Work]:
    """Work of each figure's jobs (:func:`figure_jobs`), counting the jobs of ``rules`` only (the sweeps':
    :data:`SWEEP_RULES`)."""
    total = {}
    for figure, jobs in figure_jobs(name, block).items():
        mine = [job for job in jobs if job.rule in rules]
        total[figure] = sum((job_work(job, name, block, batch_size=batch_size) for job in mine), Work())
    return total


def assumed_gpu_rates(arch: str) -> dict[str, float]:
    """Passes per second of each kind on a GPU of ``ASSUMED_GPU_FLOPS``."""
    per_forward = ARCHITECTURES[arch].forward_flops
    return {kind: ASSUMED_GPU_FLOPS / (FLOP_MULTIPLES[kind] * per_forward) for kind in PASS_KINDS}


def measured_rates(measured: dict) -> dict[str, float]:
    """Passes per second of each kind from the rates ``benchmarks/device_check.py`` measures for one
    architecture and precision."""
    return {
        "forward": measured["certify_copies_per_s"],
        "forward_backward": measured["sigma_copies_per_s"],
        "training": measured["train_images_per_s"],
    }


def device_check_rates(report: dict, arch: str, precision: str = "fp32") -> dict[str, float]:
    """Passes per second of each kind from a ``benchmarks/device_check.py`` JSON report."""
    return measured_rates(report["architectures"][arch]["precisions"][precision])


def runtime_minutes(seconds: float, attempt: int = 1, resumable: bool = False, limit: int | None = None) -> int:
    """The SLURM runtime (minutes) of a job that computes for ``seconds`` at the rates assumed.

    A retry of a job that starts over asks for twice as much per attempt; one that resumes asks for
    the same again (it goes on where it stopped). ``limit`` (the partition's) caps every request."""
    minutes = max(MIN_MINUTES, math.ceil(START_MINUTES + SAFETY_FACTOR * seconds / 60))
    if not resumable:
        minutes *= attempt
    return min(minutes, limit) if limit else minutes


#: The keys that shrink a job that cannot resume, by rule (RuntimeLimitError's fix).
FEWER_POINTS = {
    "race_stage": "sweep_eval.val_points, or more sweep_eval.racing.stages",
    "evaluate_sigma": "sweep_eval.val_points / test_points",
    "certify_front": "sweep_eval.test_points / test_front_members",
    "certify": "fig1.test_points",
    "certify_envelope": "fig1.envelope.val_points / fig1.test_points",
}


class RuntimeLimitError(ValueError):
    """A job that cannot resume needs more time than the partition allows."""


def job_runtime_minutes(
    job: Job,
    name: str,
    block: dict,
    *,
    rates: dict[str, float] | None = None,
    attempt: int = 1,
    limit=None,
    batch_size: int = CERTIFY_BATCH_SIZE,
) -> int:
    """The SLURM runtime of ``job`` (see ``runtime_minutes``). A job that starts over when stopped
    and whose computed time alone (no margin, no start-up) exceeds ``limit`` could never finish: that
    raises RuntimeLimitError. Shorter ones are capped at the limit."""
    seconds = job_work(job, name, block, batch_size=batch_size).seconds(
        rates or assumed_gpu_rates(arch_of(name, block))
    )
    resumable = job.rule in RESUMABLE_RULES
    if limit and not resumable and seconds / 60 > limit:
        raise RuntimeLimitError(
            f"{job.label()} computes for about {math.ceil(seconds / 60)} minutes on a GPU (nusmooth.cost) but the "
            "GPU partition allows "
            f"{limit}, and {job.rule} cannot resume. Fix: use a partition with a longer limit "
            "(NUSMOOTH_SLURM_GPU_PARTITION, NUSMOOTH_SLURM_GPU_MAX_RUNTIME), or certify fewer points "
            f"(datasets.{name}.{FEWER_POINTS[job.rule]})"
        )
    return runtime_minutes(seconds, attempt, resumable=resumable, limit=limit)
