"""docs/results.md: the report of a run, written from the run's own tables (never typed).

Pure functions from loaded tables to Markdown, so that every sentence with a number in it is tested;
``workflow_scripts/write_results_doc.py`` loads the files (the run's facts that are not tables, such as
its commit and the seconds of each job: :mod:`nusmooth.provenance`) and writes the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml
from scipy.special import ndtri

from . import cost
from .claims import Verdict, border_claim, curve_claim, front_claim, learning_claim, region_means, regions_claim
from .comparisons import COMPARATOR_NAMES, ENVELOPE_LABEL, SHORT_NAMES, ranges_of
from .envelope import chosen_constants
from .registry import ARCHITECTURES, COMPARATORS, FIG1_KINDS, STRONGEST_COMPARATOR, facts_for
from .sigma_regions import border_and_centre
from .tables import isotropic_constant, largest_certifiable
from .verdicts import describe_verdicts

#: The paper's claims this page checks, in its words' substance.
AREA_CLAIM = "the learned sigma certifies more test points than an isotropic sigma at equal certified area (Figure 1)"
FRONT_CLAIM = "significantly better robustness guarantees than isotropic smoothing (Figure 2's fronts)"
BORDER_CLAIM = "MNIST's learned sigma is large on the black border (Figure 3)"
REGIONS_CLAIM = (
    "Fashion-MNIST's sigma is low on the left side and the bottom right corner, high in the centre and the top "
    "right (section 5.3)"
)
LEARNING_CLAIM = "the accuracy stays close to its accuracy at initialization while sigma is learned (section 4.2)"


def semi_axes_beyond_box(sigma, n: int, alpha: float) -> int:
    """How many semi-axes ``sigma_i * Phi^-1(pA_lower)`` of the largest region ``sigma`` can certify
    (``pA_lower = alpha ** (1 / n)``) are longer than the side 1 of the pixel box [0,1]^D: along those
    the certified ellipsoid reaches outside the images' space, and O_CA counts that volume too."""
    return int(np.sum(np.asarray(sigma, dtype=float) * float(ndtri(alpha ** (1.0 / n))) > 1.0))


def vector_stats(sigma, choice: dict, n: int, alpha: float) -> dict:
    """Mean, min and max of a learned sigma vector, its border / centre means (sigma_regions), the
    regions of section 5.3 (claims.region_means), the largest certified area it and its isotropic
    counterparts can give any point (tables.largest_certifiable), and how many semi-axes of those
    largest regions leave the pixel box (learned, and each isotropic constant: all or none)."""
    ceilings = {kind: largest_certifiable(choice, kind, n, alpha)["area"] for kind in FIG1_KINDS}
    beyond = {"learned": semi_axes_beyond_box(sigma, n, alpha)}
    for kind in FIG1_KINDS[1:]:
        beyond[kind] = semi_axes_beyond_box(np.full(np.shape(sigma), isotropic_constant(choice, kind)), n, alpha)
    return {
        "mean": float(sigma.mean()),
        "min": float(sigma.min()),
        "max": float(sigma.max()),
        "dimension": int(np.size(sigma)),
        **border_and_centre(sigma),
        "regions": region_means(sigma),
        **{f"ceiling_{kind}": ceilings[kind] for kind in FIG1_KINDS},
        **{f"beyond_box_{kind}": beyond[kind] for kind in FIG1_KINDS},
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


def _cell(table: pd.DataFrame, sigma: str, threshold: float) -> pd.Series:
    return table[(table["sigma"] == sigma) & (table["threshold"] == threshold)].iloc[0]


def accuracy_rows(table: pd.DataFrame, differences: pd.DataFrame, view: str) -> list[list[str]]:
    """One row per Figure-1 pair and threshold of ``view``: the learned sigma's certified accuracy and
    each comparator's (Wilson intervals; the envelope's with the constant chosen there), then learned
    minus each comparator (Tango's paired interval, pointwise)."""
    rows = []
    mine = differences[differences["view"] == view]
    for (learned, threshold), group in mine.groupby(["learned", "threshold"], sort=False):
        by = {row.comparator: row for row in group.itertuples()}
        cells = [pair_label(learned), threshold_label(view, threshold)]
        learned_row = _cell(table, learned, threshold)
        cells.append(with_interval(learned_row.certified_accuracy, learned_row.lower, learned_row.upper))
        for comparator in COMPARATORS:
            sigma = ENVELOPE_LABEL if comparator == STRONGEST_COMPARATOR else by[comparator].isotropic
            row = _cell(table, sigma, threshold)
            shown = with_interval(row.certified_accuracy, row.lower, row.upper)
            cells.append(f"{shown} (sigma {row.constant:.3g})" if comparator == STRONGEST_COMPARATOR else shown)
        for comparator in COMPARATORS:
            pair = by[comparator]
            cells.append(with_interval(pair.difference, pair.lower, pair.upper, sign=True))
        rows.append(cells)
    return rows


def accuracy_table(table: pd.DataFrame, differences: pd.DataFrame, view: str) -> str:
    names = [SHORT_NAMES[c] for c in COMPARATORS]
    header = ["pair", "threshold", "learned", *names, *(f"learned - {name}" for name in names)]
    return markdown_table(header, accuracy_rows(table, differences, view))


#: How each view's thresholds read in a verdict sentence.
VIEW_METRICS = {"area": ("O_CA", "{:.0f}"), "l2_radius": ("r", "{:.3g}")}


def range_rows(ranges: pd.DataFrame) -> list[list[str]]:
    """One row per (pair, comparator, view) of VERDICT_RANGES: the ranges in words (verdicts.describe_verdicts)."""
    rows = []
    for (comparison, view, comparator), group in ranges.groupby(["comparison", "view", "comparator"], sort=False):
        metric, number_format = VIEW_METRICS[view]
        words = describe_verdicts(
            ranges_of(group), "learned", SHORT_NAMES[comparator], metric, number_format=number_format
        )
        ceiling = number_format.format(group["learned_ceiling"].iloc[0])
        rows.append([comparison, "area" if view == "area" else "l2 radius", SHORT_NAMES[comparator], words, ceiling])
    return rows


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
        figure = "fig4" if facts_for(name, block).majority_dominated else "fig2"
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
    "certify_envelope": "constant and split (test: only the constants chosen on validation; counted: all)",
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
    #: VERDICT_RANGES: where the learned sigma and each comparator win (Figure 1).
    ranges: pd.DataFrame
    front: pd.DataFrame
    #: FRONT_VERDICT_RANGES: where each of Figure 2's fronts wins.
    front_ranges: pd.DataFrame
    #: LEARNING_ACCURACY: each sub-epoch's validation accuracy against the accuracy at initialization.
    learning: pd.DataFrame
    #: ENVELOPE_CHOICE: the envelope's constant at each threshold, chosen on validation.
    envelope: pd.DataFrame
    regions: pd.DataFrame
    choices: list[dict]
    #: Per Figure-1 vector (same order as ``choices``): :func:`vector_stats`.
    sigma_stats: list[dict]
    #: (job, wall seconds) of every GPU job, from Snakemake's benchmark files.
    timed: list[tuple[cost.Job, float]]
    prepare_seconds: float


#: The datasets whose learned sigma the border claim and section 5.3's region claim are about.
BORDER_DATASETS, REGIONS_DATASETS = ("mnist", "mnist5k"), ("fashion_mnist",)


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
                f"{stats['mean']:.3f} / {choice['geometric_sigma']:.3f}",
                f"{stats['min']:.3f} / {stats['max']:.3f}",
                f"{stats['border_sigma']:.3f} / {stats['centre_sigma']:.3f}",
                f"{stats['border_centre_ratio']:.2f}",
                f"{stats['ceiling_learned']:.0f} / {stats['ceiling_isotropic']:.0f}",
                f"{stats['beyond_box_learned']} / {stats['beyond_box_isotropic']} / {stats['beyond_box_geometric']}"
                f" of {stats['dimension']}",
            ]
        )
    return rows


def learning_rows(learning: pd.DataFrame) -> list[list[str]]:
    return [
        [
            f"{r.init:g}",
            r.sub_epoch,
            r.points,
            f"{r.accuracy_initial:.3f}",
            f"{r.accuracy_learned:.3f}",
            with_interval(r.difference, r.lower, r.upper, sign=True),
            r.verdict,
        ]
        for r in learning.itertuples()
    ]


def robust_border_share(report: DatasetReport, init) -> tuple[float, float]:
    robust = report.regions[(report.regions["group"].str.startswith("robust")) & (report.regions["init"] == init)]
    row = robust.iloc[0]
    return float(row.border_share), float(row.border_share_of_image)


def claims(reports: Sequence[DatasetReport]) -> list[tuple[str, str, str, Verdict]]:
    """(claim, dataset and what of it, comparator, verdict) of every check this run allows; Figure 1's
    strongest comparator first for each learned vector (the headline)."""
    found = []
    order = [STRONGEST_COMPARATOR] + [c for c in COMPARATORS if c != STRONGEST_COMPARATOR]
    for r in reports:
        area = r.ranges[r.ranges["view"] == "area"]
        for comparison, ranges in area.groupby("comparison", sort=False):
            for comparator in order:
                verdict = curve_claim(ranges[ranges["comparator"] == comparator], SHORT_NAMES[comparator], "O_CA")
                found.append((AREA_CLAIM, f"{r.title}, {comparison}", COMPARATOR_NAMES[comparator], verdict))
    for r in reports:
        found.append((FRONT_CLAIM, r.title, "the isotropic front", front_claim(r.front_ranges)))
    for r in reports:
        for choice, stats in zip(r.choices, r.sigma_stats, strict=True):
            where = f"{r.title}, init {choice['init']:g}"
            if r.name in BORDER_DATASETS:
                share, of_image = robust_border_share(r, choice["init"])
                verdict = border_claim(stats["border_centre_ratio"], share, of_image, stats["border"])
                found.append((BORDER_CLAIM, where, "", verdict))
            if r.name in REGIONS_DATASETS:
                found.append((REGIONS_CLAIM, where, "", regions_claim(stats["regions"])))
    for r in reports:
        for init, rows in r.learning.groupby("init", sort=True):
            verdict = learning_claim(rows)
            found.append((LEARNING_CLAIM, f"{r.title}, init {init:g}", "the sweep at its initial constant", verdict))
    return found


def envelope_sentence(report: DatasetReport) -> str:
    envelope = report.block["fig1"]["envelope"]
    chosen = ", ".join(f"{c:g}" for c in chosen_constants(report.envelope))
    grid = ", ".join(f"{c:g}" for c in envelope["constants"])
    points = int(report.envelope["val_points"].iloc[0])
    return (
        f"The envelope chose on {points:,} validation points among the constants {grid}; it took {chosen}, and only "
        "those were certified on test."
    )


def dataset_section(report: DatasetReport, figures: dict[str, str]) -> str:
    fig1 = report.block["fig1"]
    points = int(report.area["points"].iloc[0])
    grid = int(report.ranges["grid"].iloc[0])
    parts = [
        f"## {report.title}",
        f"![Figure 1, {report.title}]({figures['fig1']})",
        f"Figure 1's sigmas certified on {points:,} test points with n0 = {fig1['n0']}, n = {fig1['n']}, "
        f"alpha = {report.block['alpha']}. Each learned sigma against three isotropic comparators: AM, the constant "
        "at its arithmetic mean (the paper's); GM, at its geometric mean (the same sum of log sigma, so the same "
        "largest certifiable area); and the envelope, at each threshold the constant of a grid with the best "
        f"certified accuracy on validation (the strongest: docs/method.md). {envelope_sentence(report)} Each cell is "
        "a certified accuracy with its 95% Wilson interval over the test points (the envelope's with the constant "
        "chosen at that threshold); a difference is learned minus the comparator with Tango's paired 95% interval "
        "(pointwise: the verdicts below read the simultaneous band).",
        "**Certified area** (`O_CA = sum log sigma + D log Phi^-1(pA_lower)`, sigma in [0,1] pixel units):",
        accuracy_table(report.area, report.differences, "area"),
        "**l2 radius** (`r = Phi^-1(pA_lower) min sigma`, the largest l2 ball inside the certified ellipsoid):",
        accuracy_table(report.l2, report.differences, "l2_radius"),
        f"**Where each side wins** (the simultaneous 95% band of learned minus comparator over {grid} thresholds "
        'of each view, from the validation range to the largest certifiable value; docs/method.md, "Verdicts"):',
        markdown_table(
            ["pair", "view", "comparator", "verdict ranges", "learned sigma's ceiling"], range_rows(report.ranges)
        ),
        "**The learned sigma** (the snapshot chosen on validation; border = the outer pixels, 1/8 of the side; the "
        "last column counts the semi-axes `sigma_i Phi^-1(pA_lower)` of the largest region each sigma can certify "
        "that are longer than the pixel box's side 1, where O_CA counts volume outside the images' space):",
        markdown_table(
            [
                "init",
                "sub-epoch",
                "mean: AM / GM",
                "min / max",
                "border / centre mean",
                "border / centre ratio",
                "largest certifiable O_CA: learned and GM / AM",
                "semi-axes beyond the box: learned / AM / GM",
            ],
            sigma_rows(report),
        ),
        f"![Robust and non-robust regions, {report.title}]({figures['regions']})",
        "**Accuracy while sigma is learned** (validation accuracy after each sub-epoch against the sweep at the "
        "initial constant, on the same validation points; the difference's interval holds for all sub-epochs of a "
        "sweep at once; close = within the tolerance):",
        markdown_table(
            ["init", "sub-epoch", "points", "at the initial constant", "after the sub-epoch", "difference", "verdict"],
            learning_rows(report.learning),
        ),
        "**Figure 2's fronts** (chosen on validation, shown on "
        f"{int(report.front['test_points'].iloc[0]):,} test points with n = {int(report.front['n'].iloc[0])}; "
        "accuracy with Wilson and mean area with studentized bootstrap 95% intervals):",
        markdown_table(["kind", "init", "mean sigma", "test accuracy", "test mean O_CA"], front_rows(report.front)),
        f"Compared: {front_claim(report.front_ranges).because}.",
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


#: How the claims table reads, in words (the rules themselves: nusmooth.claims and docs/method.md).
CLAIM_RULES = (
    "How to read the verdicts (docs/method.md, \"The paper's claims, checked\"). Figure 1's claim is read per "
    "learned sigma and comparator from the simultaneous 95% band over the whole grid of thresholds: **supports** "
    "when the learned sigma wins somewhere within its reach (up to its ceiling, the largest area it can certify at "
    "all) and the comparator nowhere there, **contradicts** the reverse, **mixed** both, **cannot tell** neither; "
    "the ranges are given in full, and a comparator's win beyond the learned sigma's ceiling is stated but not "
    "counted (the learned sigma certifies nothing there by construction: the AM constant reaches further, since the "
    "arithmetic mean is at least the geometric one). The first row of each learned sigma is the headline: the "
    "envelope is by construction the best isotropic constant of its grid at every threshold on validation, the "
    "strongest of the three. Figure 2's claim reads the fronts' comparison the same way. The border, region and "
    "learning verdicts read one learned vector or one sweep: they rest on one training run, and no interval over "
    "training runs exists for them."
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
    claim_rows = [
        [claim, title, comparator, f"**{v.verdict}**", v.because] for claim, title, comparator, v in claims(reports)
    ]
    parts = [
        "# Results: " + ", ".join(r.title for r in reports),
        "<!-- Generated by workflow_scripts/write_results_doc.py (rule results_doc) from the run's tables. "
        "Do not edit: rerun the command below. -->",
        f"Generated {generated} at commit `{commit}` on {machine}, by\n\n```\n{command}\n```\n\n"
        "Every number below is read from the run's tables (`results/tables/`, `results/sigma_regions/`) and "
        "Snakemake's benchmark files; the configuration is at the end. Intervals are 95% and over the test "
        'points, not over the noise of certification or of training (docs/method.md, "Intervals").',
        "## The paper's claims, checked",
        markdown_table(["claim", "dataset", "compared with", "this run", "numbers"], claim_rows),
        CLAIM_RULES,
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


def predicted_minutes(reports: Sequence[DatasetReport], cpu_rates: dict[str, dict]) -> float:
    """The minutes nusmooth.cost predicts for every GPU job of the run's configuration at ``cpu_rates``,
    before any job has run: the envelope's test certification counted for every constant of its grid."""
    total = 0.0
    for report in reports:
        rates = cpu_rates[cost.arch_of(report.name, report.block)]
        total += cost.figure_work(report.name, report.block)["all"].seconds(rates) / 60
    return total


def sizing_sentence(reports: Sequence[DatasetReport], cpu_rates: dict[str, dict]) -> str:
    measured = sum(seconds for report in reports for _, seconds in report.timed) / 60
    chosen = sum(len(chosen_constants(r.envelope)) for r in reports)
    grid = sum(len(r.block["fig1"]["envelope"]["constants"]) for r in reports)
    return (
        f"Before the run, `nusmooth.cost` predicts {predicted_minutes(reports, cpu_rates):.1f} minutes of GPU-rule "
        f"work at these rates, counting the envelope's test certification for all {grid} constants of its grids (a "
        f"bound: the validation choice took {chosen}); the GPU jobs took {measured:.1f} minutes (the table above; "
        "data preparation and the local jobs of seconds each come on top)."
    )


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
            sizing_sentence(reports, cpu_rates),
        ]
    )
