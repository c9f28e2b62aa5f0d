"""docs/results.md: the report of a run, written from the run's own tables (never typed).

Pure functions from loaded tables to Markdown, so that every sentence with a number in it is tested;
``workflow_scripts/write_results_doc.py`` loads the files (the run's facts that are not tables, such as
its commit and the seconds of each job: :mod:`nusmooth.provenance`) and writes the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import yaml

from . import cost
from .registry import ARCHITECTURES, DATASETS, SIGMA_KINDS
from .sigma_regions import border_and_centre
from .tables import largest_certifiable

#: The paper's claims this page checks, in its words' substance.
AREA_CLAIM = "the learned sigma certifies more test points than the isotropic sigma at equal certified area"
BORDER_CLAIM = "MNIST's learned sigma is large on the black border"


def vector_stats(sigma, choice: dict, n: int, alpha: float) -> dict:
    """Mean, min and max of a learned sigma vector, its border / centre means (sigma_regions), and the
    largest certified area it and its isotropic counterpart can give any point (tables.largest_certifiable)."""
    ceilings = {kind: largest_certifiable(choice, kind, n, alpha)["area"] for kind in SIGMA_KINDS}
    return {
        "mean": float(sigma.mean()),
        "min": float(sigma.min()),
        "max": float(sigma.max()),
        **border_and_centre(sigma),
        "ceiling_learned": ceilings["learned"],
        "ceiling_isotropic": ceilings["isotropic"],
    }


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def with_interval(value: float, lower: float, upper: float, digits: int = 2, sign: bool = False) -> str:
    """``0.95 [0.89, 0.98]``; ``sign`` writes a + before positive values (differences)."""
    plus = "+" if sign else ""
    return f"{value:{plus}.{digits}f} [{lower:{plus}.{digits}f}, {upper:{plus}.{digits}f}]"


def threshold_label(view: str, threshold: float) -> str:
    if view == "area":
        return "clean (any area)" if math.isinf(threshold) else f"O_CA >= {threshold:g}"
    return "clean (any radius)" if threshold <= 0 else f"r >= {threshold:g}"


def pair_label(learned: str) -> str:
    """``init 0.25`` from the learned sigma's table label (``learned: init 0.25, sub-epoch 3, mean ...``)."""
    return learned.removeprefix("learned: ").split(",")[0]


def accuracy_rows(table: pd.DataFrame, differences: pd.DataFrame, view: str) -> list[list[str]]:
    """One row per Figure-1 pair and threshold of ``view``: learned and isotropic certified accuracy
    (Wilson intervals) and their paired difference (Newcombe interval), with the points only one of
    them certifies."""
    rows = []
    for pair in differences[differences["view"] == view].itertuples():
        learned = table[(table["sigma"] == pair.learned) & (table["threshold"] == pair.threshold)].iloc[0]
        isotropic = table[(table["sigma"] == pair.isotropic) & (table["threshold"] == pair.threshold)].iloc[0]
        rows.append(
            [
                pair_label(pair.learned),
                threshold_label(view, pair.threshold),
                with_interval(learned.certified_accuracy, learned.lower, learned.upper),
                with_interval(isotropic.certified_accuracy, isotropic.lower, isotropic.upper),
                with_interval(pair.difference, pair.lower, pair.upper, sign=True),
                f"{pair.only_learned} / {pair.only_isotropic}",
            ]
        )
    return rows


def accuracy_table(table: pd.DataFrame, differences: pd.DataFrame, view: str) -> str:
    header = [
        "pair",
        "threshold",
        "learned",
        "isotropic",
        "learned - isotropic (paired)",
        "only learned / only isotropic",
    ]
    return markdown_table(header, accuracy_rows(table, differences, view))


@dataclass(frozen=True)
class Verdict:
    """Whether a run supports a claim: ``supports``, ``contradicts``, ``mixed`` or ``cannot tell``,
    and the sentence with the numbers behind it."""

    verdict: str
    because: str


def area_claim(differences: pd.DataFrame, learned_ceiling: float | None = None) -> Verdict:
    """The paired area-view differences of one dataset against AREA_CLAIM. A threshold counts for the
    claim when the whole 95% interval lies above 0, against it when below 0; thresholds where neither
    sigma certifies any point, and the clean (any area) row, say nothing about areas and are left out.
    A threshold above ``learned_ceiling`` (the largest area the learned sigma can certify at all) is
    marked as such."""
    area = differences[(differences["view"] == "area") & ~differences["threshold"].map(math.isinf)]
    informative = area[(area["accuracy_learned"] > 0) | (area["accuracy_isotropic"] > 0)]
    above = informative[informative["lower"] > 0]
    below = informative[informative["upper"] < 0]

    def listed(rows):
        return "; ".join(
            f"O_CA >= {r.threshold:g}: {with_interval(r.difference, r.lower, r.upper, sign=True)}"
            + (
                f" (beyond the learned sigma's ceiling, {learned_ceiling:.0f})"
                if learned_ceiling is not None and r.threshold > learned_ceiling
                else ""
            )
            for r in rows.itertuples()
        )

    counts = (
        f"{len(above)} of {len(informative)} area thresholds where a sigma certifies anything have a paired "
        f"interval above 0, {len(below)} below 0"
    )
    if len(informative) == 0:
        return Verdict("cannot tell", "neither sigma certifies any test point at the tabulated areas")
    if len(above) and not len(below):
        return Verdict("supports", f"{counts} ({listed(above)})")
    if len(below) and not len(above):
        return Verdict("contradicts", f"{counts} ({listed(below)})")
    if len(above) and len(below):
        return Verdict("mixed", f"{counts}: above at {listed(above)}; below at {listed(below)}")
    return Verdict("cannot tell", f"{counts}: every interval contains 0")


def border_claim(ratio: float, border_share: float, border_share_of_image: float, border: int) -> Verdict:
    """MNIST's learned vector against BORDER_CLAIM: its mean sigma on the outer ``border`` pixels over
    its mean inside, and the share of its largest-sigma pixels (the robust region) on that border
    against the border's share of the image. One learned vector: there is no interval over
    training runs, so the verdict reads the direction and size only."""
    numbers = (
        f"mean sigma on the outer {border}-pixel border is {ratio:.2f} times the mean inside it; "
        f"{100 * border_share:.0f}% of the 5% largest-sigma pixels lie on that border, which is "
        f"{100 * border_share_of_image:.0f}% of the image"
    )
    if ratio > 1 and border_share > border_share_of_image:
        return Verdict("supports", numbers)
    if ratio < 1 and border_share < border_share_of_image:
        return Verdict("contradicts", numbers)
    return Verdict("mixed", numbers)


def timed_by_rule(timed: Sequence[tuple[cost.Job, float]], name: str, block: dict) -> dict[str, tuple]:
    """Per GPU rule of one dataset: the number of timed jobs, their wall seconds summed, their work."""
    grouped = {}
    for rule in cost.GPU_RULES:
        mine = [(job, seconds) for job, seconds in timed if job.rule == rule]
        batch_size = block.get("certify_batch_size", cost.CERTIFY_BATCH_SIZE)  # the run's, beside its dataset block
        work = sum((cost.job_work(job, name, block, batch_size=batch_size) for job, _ in mine), cost.Work())
        grouped[rule] = (len(mine), sum(seconds for _, seconds in mine), work)
    return grouped


def stage_time_rows(timed: Sequence[tuple[cost.Job, float]], name: str, block: dict) -> list[list[str]]:
    """Per GPU rule of one dataset: jobs, wall seconds (sum), passes and passes per wall second."""
    rows = []
    for rule, (jobs, seconds, work) in timed_by_rule(timed, name, block).items():
        if not jobs:
            continue
        passes = ", ".join(f"{getattr(work, k):,} {k.replace('_', '+')}" for k in cost.PASS_KINDS if getattr(work, k))
        per_second = sum(getattr(work, k) for k in cost.PASS_KINDS) / seconds if seconds else float("nan")
        rows.append([rule, jobs, f"{seconds:,.0f}", passes or "none", f"{per_second:,.0f}"])
    return rows


def hours(work: cost.Work, rates: dict[str, float]) -> float:
    return work.seconds(rates) / 3600


def readable(value: float) -> str:
    """Three significant digits, thousands written out (1,390 rather than 1.39e+03)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def cpu_hours(work: cost.Work, cpu_rates: dict[str, dict] | None, arch: str) -> str:
    return readable(hours(work, cpu_rates[arch])) if cpu_rates else "not measured"


def paper_cost_tables(preset: dict, cpu_rates: dict[str, dict] | None, gpu_report: dict | None) -> str:
    """The paper preset's work per stage and per figure, hours at this CPU's measured rates and on a
    GPU (a device check's rates when ``gpu_report`` is given, else ``cost.ASSUMED_GPU_FLOPS``), and
    the SLURM runtime each job of a stage asks for; the last row sums every dataset's ``all``. Each
    figure's work is given before (the full sweep, :data:`nusmooth.cost.FULL_SWEEP`) and after."""
    stage_rows, figure_rows = [], []
    total = {"jobs": 0, "before": 0.0, "pflop": 0.0, "cpu": 0.0, "gpu_before": 0.0, "gpu": 0.0}
    batch_size = preset.get("certify_batch_size", cost.CERTIFY_BATCH_SIZE)
    for name in preset["run_datasets"]:
        block = preset["datasets"][name]
        arch = cost.arch_of(name, block)
        gpu = cost.device_check_rates(gpu_report, arch) if gpu_report else cost.assumed_gpu_rates(arch)
        jobs = cost.figure_jobs(name, block)
        for rule, work in cost.stage_work(name, block, batch_size=batch_size).items():
            mine = [job for job in jobs["all"] if job.rule == rule]
            if not mine:
                continue
            minutes = [cost.job_runtime_minutes(job, name, block, rates=gpu, batch_size=batch_size) for job in mine]
            how = "resumes" if rule in cost.RESUMABLE_RULES else "one job per " + SPLIT_UNITS[rule]
            stage_rows.append(
                [
                    name,
                    rule,
                    len(mine),
                    ", ".join(f"{getattr(work, k):,}" for k in cost.PASS_KINDS),
                    readable(work.flops(arch) / 1e15),
                    cpu_hours(work, cpu_rates, arch),
                    readable(hours(work, gpu)),
                    f"{min(minutes)}-{max(minutes)}" if min(minutes) != max(minutes) else f"{minutes[0]}",
                    how,
                ]
            )
        per_figure = cost.figure_work(name, block, batch_size=batch_size)
        before = cost.figure_work(name, cost.full_sweep(block), batch_size=batch_size)
        for figure, work in per_figure.items():
            figure_rows.append(
                [
                    name,
                    figure,
                    len(jobs[figure]),
                    readable(before[figure].flops(arch) / 1e15),
                    readable(work.flops(arch) / 1e15),
                    cpu_hours(work, cpu_rates, arch),
                    readable(hours(before[figure], gpu)),
                    readable(hours(work, gpu)),
                ]
            )
        everything = per_figure["all"]
        total["jobs"] += len(jobs["all"])
        total["before"] += before["all"].flops(arch) / 1e15
        total["pflop"] += everything.flops(arch) / 1e15
        total["cpu"] += hours(everything, cpu_rates[arch]) if cpu_rates else 0.0
        total["gpu_before"] += hours(before["all"], gpu)
        total["gpu"] += hours(everything, gpu)
    figure_rows.append(
        [
            "**every dataset**",
            "all",
            total["jobs"],
            readable(total["before"]),
            readable(total["pflop"]),
            readable(total["cpu"]) if cpu_rates else "not measured",
            readable(total["gpu_before"]),
            readable(total["gpu"]),
        ]
    )
    gpu_label = "GPU hours (device check)" if gpu_report else "GPU hours (assumed rate)"
    stages = markdown_table(
        [
            "dataset",
            "rule",
            "jobs",
            "passes: forward, forward+backward, training",
            "PFLOP",
            "CPU hours (this machine)",
            gpu_label,
            "SLURM runtime per job (min)",
            "longer than the limit",
        ],
        stage_rows,
    )
    figures = markdown_table(
        [
            "dataset",
            "figure (alone)",
            "GPU jobs",
            "PFLOP before (full sweep)",
            "PFLOP",
            "CPU hours (this machine)",
            f"{gpu_label} before",
            gpu_label,
        ],
        figure_rows,
    )
    return stages + "\n\n" + figures


def front_figure_savings(preset: dict) -> dict[str, float]:
    """Figures 2 and 4 of every dataset of ``preset``, the full sweep's work over this pipeline's (FLOPs):
    ``all`` every GPU job (sigma learning included, which racing does not change), ``sweeps`` the
    forward passes of the validation and test sweeps (what it changes)."""
    sums = {"all": [0.0, 0.0], "sweeps": [0.0, 0.0]}
    batch_size = preset.get("certify_batch_size", cost.CERTIFY_BATCH_SIZE)
    for name in preset["run_datasets"]:
        block, arch = preset["datasets"][name], cost.arch_of(name, preset["datasets"][name])
        figure = "fig4" if DATASETS[name].majority_dominated else "fig2"
        for part, rules in (("all", cost.GPU_RULES), ("sweeps", cost.SWEEP_RULES)):
            for side, setting in enumerate((cost.full_sweep(block), block)):
                work = cost.figure_work(name, setting, batch_size=batch_size, rules=rules)[figure]
                sums[part][side] += work.flops(arch) if part == "all" else cost.Work(forward=work.forward).flops(arch)
    return {part: before / after for part, (before, after) in sums.items()}


def saving_lines(preset: dict) -> list[str]:
    """The two ratios of :func:`front_figure_savings`, the sweeps' last (the figure this issue changes)."""
    savings = front_figure_savings(preset)
    return [
        f"Figures 2 and 4, every dataset, all GPU work (sigma learning included, which racing does not change): "
        f"full sweep / this pipeline = {savings['all']:.2f}",
        f"Figures 2 and 4, every dataset, forward-pass FLOPs of the validation and test sweeps: "
        f"full sweep / this pipeline = {savings['sweeps']:.2f}",
    ]


#: What each non-resumable GPU rule is split by (one job each), for the cost table.
SPLIT_UNITS = {
    "race_stage": "kind, constant and racing stage",
    "evaluate_sigma": "kind, constant and split",
    "certify_front": "kind (its front's members)",
    "certify": "constant and kind",
}


def rates_table(cpu_rates: dict[str, dict], machine: str) -> str:
    rows = [
        [arch, *(f"{1000 / rates[k]:.3g}" for k in cost.PASS_KINDS), f"{ARCHITECTURES[arch].forward_flops / 1e9:.3g}"]
        for arch, rates in cpu_rates.items()
    ]
    header = [
        "architecture",
        "ms per forward pass",
        "ms per forward+backward",
        "ms per training image",
        "GFLOP/forward",
    ]
    return f"Measured on {machine}:\n\n" + markdown_table(header, rows)


def config_yaml(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=True, default_flow_style=None, width=110).rstrip()


@dataclass(kw_only=True)
class DatasetReport:
    """What the page says about one dataset, loaded from the run's files."""

    name: str
    title: str
    block: dict
    area: pd.DataFrame
    l2: pd.DataFrame
    differences: pd.DataFrame
    front: pd.DataFrame
    regions: pd.DataFrame
    choices: list[dict]
    #: Per Figure-1 vector (same order as ``choices``): sigma_regions.border_and_centre plus the
    #: learned vector's mean, min and max.
    sigma_stats: list[dict]
    #: (job, wall seconds) of every GPU job, from Snakemake's benchmark files.
    timed: list[tuple[cost.Job, float]]
    prepare_seconds: float


def front_rows(front: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in front.sort_values(["kind", "front_position"]).itertuples():
        sub_epoch = f", sub-epoch {r.sub_epoch}" if r.kind == "learned" else ""
        rows.append(
            [
                r.kind,
                f"{r.init:g}{sub_epoch}",
                f"{r.sigma_mean:.3f}",
                with_interval(r.test_accuracy, r.test_accuracy_lower, r.test_accuracy_upper),
                with_interval(r.test_mean_area, r.test_mean_area_lower, r.test_mean_area_upper, digits=0),
            ]
        )
    return rows


def sigma_rows(report: DatasetReport) -> list[list[str]]:
    rows = []
    for choice, stats in zip(report.choices, report.sigma_stats, strict=True):
        rows.append(
            [
                f"{choice['init']:g}",
                choice["sub_epoch"],
                f"{stats['mean']:.3f}",
                f"{stats['min']:.3f} / {stats['max']:.3f}",
                f"{stats['border_sigma']:.3f} / {stats['centre_sigma']:.3f}",
                f"{stats['border_centre_ratio']:.2f}",
                f"{stats['ceiling_learned']:.0f} / {stats['ceiling_isotropic']:.0f}",
            ]
        )
    return rows


def robust_border_share(report: DatasetReport, init) -> tuple[float, float]:
    robust = report.regions[(report.regions["group"].str.startswith("robust")) & (report.regions["init"] == init)]
    row = robust.iloc[0]
    return float(row.border_share), float(row.border_share_of_image)


def claims(reports: Sequence[DatasetReport]) -> list[tuple[str, str, Verdict]]:
    """(claim, dataset and Figure-1 pair, verdict) of every check this run allows."""
    found = []
    for r in reports:
        for learned, differences in r.differences.groupby("learned", sort=False):
            stats = next(st for c, st in zip(r.choices, r.sigma_stats) if pair_label(learned) == f"init {c['init']:g}")
            verdict = area_claim(differences, stats["ceiling_learned"])
            found.append((AREA_CLAIM, f"{r.title}, {pair_label(learned)}", verdict))
    for r in reports:
        if r.name in ("mnist", "mnist5k"):
            choice, stats = r.choices[0], r.sigma_stats[0]
            share, of_image = robust_border_share(r, choice["init"])
            verdict = border_claim(stats["border_centre_ratio"], share, of_image, stats["border"])
            found.append((BORDER_CLAIM, r.title, verdict))
    return found


def dataset_section(report: DatasetReport, figures: dict[str, str]) -> str:
    fig1 = report.block["fig1"]
    points = int(report.area["points"].iloc[0])
    parts = [
        f"## {report.title}",
        f"![Figure 1, {report.title}]({figures['fig1']})",
        f"Figure 1's sigmas certified on {points:,} test points with n0 = {fig1['n0']}, n = {fig1['n']}, "
        f"alpha = {report.block['alpha']}; each cell is the certified accuracy with its 95% Wilson interval over "
        "the test points, the difference is learned minus isotropic with Newcombe's paired 95% interval. "
        "The isotropic sigma is the mean of the learned vector.",
        "**Certified area** (`O_CA = sum log sigma + D log Phi^-1(pA_lower)`, sigma in [0,1] pixel units):",
        accuracy_table(report.area, report.differences, "area"),
        "**l2 radius** (`r = Phi^-1(pA_lower) min sigma`, the largest l2 ball inside the certified ellipsoid):",
        accuracy_table(report.l2, report.differences, "l2_radius"),
        "**The learned sigma** (the snapshot chosen on validation; border = the outer pixels, 1/8 of the side):",
        markdown_table(
            [
                "init",
                "sub-epoch",
                "mean",
                "min / max",
                "border / centre mean",
                "border / centre ratio",
                "largest certifiable O_CA, learned / isotropic",
            ],
            sigma_rows(report),
        ),
        f"![Robust and non-robust regions, {report.title}]({figures['regions']})",
        "**Figure 2's fronts** (chosen on validation, shown on "
        f"{int(report.front['test_points'].iloc[0]):,} test points with n = {int(report.front['n'].iloc[0])}; "
        "accuracy with Wilson and mean area with BCa 95% intervals):",
        markdown_table(["kind", "init", "mean sigma", "test accuracy", "test mean O_CA"], front_rows(report.front)),
    ]
    return "\n\n".join(parts)


def timing_section(reports: Sequence[DatasetReport]) -> str:
    rows, total = [], 0.0
    for report in reports:
        rows.append([report.title, "prepare_data", 1, f"{report.prepare_seconds:,.0f}", "", ""])
        total += report.prepare_seconds
        for row in stage_time_rows(report.timed, report.name, report.block):
            rows.append([report.title, *row])
        total += sum(seconds for _, seconds in report.timed)
    table = markdown_table(["dataset", "rule", "jobs", "wall seconds", "passes", "passes per second"], rows)
    return (
        f"{table}\n\nSum over these jobs: {total / 60:,.1f} minutes (Snakemake's benchmark files; the plots and tables "
        "run as local jobs of seconds each and are not timed)."
    )


def page(
    reports: Sequence[DatasetReport],
    *,
    figures: dict[str, dict[str, str]],
    shared_figures: dict[str, str],
    command: str,
    commit: str,
    generated: str,
    machine: str,
    config: dict,
    cost_section: str,
) -> str:
    claim_rows = [[claim, title, f"**{v.verdict}**", v.because] for claim, title, v in claims(reports)]
    parts = [
        "# Results: " + ", ".join(r.title for r in reports),
        "<!-- Generated by workflow_scripts/write_results_doc.py (rule results_doc) from the run's tables. "
        "Do not edit: rerun the command below. -->",
        f"Generated {generated} at commit `{commit}` on {machine}, by\n\n```\n{command}\n```\n\n"
        "Every number below is read from the run's tables (`results/tables/`, `results/sigma_regions/`) and "
        "Snakemake's benchmark files; the configuration is at the end. Intervals are 95% and over the test "
        'points, not over the noise of certification or of training (docs/method.md, "Intervals").',
        "## The paper's claims, checked",
        markdown_table(["claim", "dataset", "this run", "numbers"], claim_rows),
        "A paired interval entirely above 0 counts for the learned sigma, entirely below 0 against it; "
        "an interval containing 0 cannot tell. Near the top of the area range the isotropic sigma with the "
        "same mean can certify areas the learned one cannot reach at all: its sum of log sigma is larger "
        "(arithmetic mean >= geometric mean); each dataset's table of the learned sigma gives both ceilings. "
        "The border verdict reads one learned vector: no interval over training runs exists for it.",
    ]
    parts += [dataset_section(report, figures[report.name]) for report in reports]
    parts += [
        "## Figures over both datasets",
        f"Figure 1 in the l2 view:\n\n![Figure 1, l2 radius]({shared_figures['fig1_l2']})",
        f"Figure 2:\n\n![Figure 2]({shared_figures['fig2']})",
        f"Figure 3:\n\n![Figure 3]({shared_figures['fig3']})",
        "## Wall time of each stage",
        timing_section(reports),
        "## The paper preset's cost",
        cost_section,
        "## Configuration",
        f"```yaml\n{config_yaml(config)}\n```",
    ]
    return "\n\n".join(parts) + "\n"


def sizing_rows(reports: Sequence[DatasetReport], cpu_rates: dict[str, dict]) -> list[list[str]]:
    """This run's GPU-rule work per dataset, the minutes it predicts at the measured per-pass rates,
    and the minutes the jobs took (their start-up included)."""
    rows = []
    for report in reports:
        rates = cpu_rates[cost.arch_of(report.name, report.block)]
        for rule, (_, seconds, work) in timed_by_rule(report.timed, report.name, report.block).items():
            rows.append([report.title, rule, f"{work.seconds(rates) / 60:.1f}", f"{seconds / 60:.1f}"])
    return rows


def cost_section(
    preset: dict, cpu_rates: dict[str, dict], machine: str, reports: Sequence[DatasetReport], gpu_report=None
) -> str:
    largest = max(
        cost.job_runtime_minutes(job, name, preset["datasets"][name])
        for name in preset["run_datasets"]
        for job in cost.figure_jobs(name, preset["datasets"][name])["all"]
    )
    gpu = (
        "GPU hours use the rates of the device check report given"
        if gpu_report
        else f"No GPU has been measured: GPU hours assume {cost.ASSUMED_GPU_FLOPS / 1e12:g} TFLOP/s of float32 work "
        "for every architecture (about a fifth of an A100's float32 peak, TF32 off); `benchmarks/device_check.py` "
        "on the GPU measures the real rates, and `NUSMOOTH_SLURM_DEVICE_CHECK=<its JSON>` makes the SLURM "
        "requests use them"
    )
    return "\n\n".join(
        [
            "Work is counted from `presets/paper.yaml` by `nusmooth.cost` (also printed by "
            "`python benchmarks/paper_cost.py`): passes through the base model of each kind, exact for the "
            "configuration (split sizes may differ by less than one image per class from stratified rounding). "
            "PFLOP = passes x the architecture's forward FLOPs x 1 (forward), 2 (forward + backward to the "
            "input) or 3 (training). Per-pass times on this CPU (`nusmooth.pass_rates`, float32, random weights):",
            rates_table(cpu_rates, machine),
            f"{gpu}. Each GPU job asks SLURM for max({cost.MIN_MINUTES}, {cost.START_MINUTES} + "
            f"{cost.SAFETY_FACTOR:g} x its computed minutes), capped by the partition's limit. The validation "
            "sweep's racing stages are counted at their worst case (nothing dropped: racing depends on the data), "
            "the test split at `sweep_eval.test_front_members` members per front; *before* is the full sweep as the "
            "pipeline ran it before racing (every candidate on every validation and test point: "
            "`nusmooth.cost.FULL_SWEEP`), counted by the same code.",
            paper_cost_tables(preset, cpu_rates, gpu_report),
            "\n".join(f"- {line}" for line in saving_lines(preset)),
            f"The longest single request is {largest} minutes. `train_base` and `optimize_sigma` save their state "
            "after every epoch / sub-epoch: a job that runs past its limit is resubmitted and goes on. "
            "`race_stage`, `evaluate_sigma`, `certify_front` and `certify` start over, so they are split into small "
            "jobs (one per kind, constant and racing stage; per kind, constant and split; per kind; per constant and "
            "kind); a partition limit below the computed time of one of them stops the run before anything is "
            "submitted, naming the job and the fix.",
            "**How this run was sized.** The CPU preset's work at the per-pass rates above predicts each stage's "
            "minutes; what the jobs took (start-up of every job included):",
            markdown_table(
                ["dataset", "rule", "predicted minutes", "measured minutes"], sizing_rows(reports, cpu_rates)
            ),
        ]
    )
