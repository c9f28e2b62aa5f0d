"""docs/robustness.md: does the learned sigma's advantage survive noise training and another training
run? Pure functions from a run's loaded files to Markdown (every sentence with a number in it is
tested); ``workflow_scripts/write_robustness_doc.py`` loads the files and writes the page. The
statistics and the rules are :mod:`nusmooth.robustness` and :mod:`nusmooth.convergence`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import cost
from .instances import split_replicate
from .comparisons import SHORT_NAMES
from .convergence import CAP_SHARE, CONVERGED, MOST_AT_CAP, convergence_verdict
from .registry import PAPER_COMPARATOR, STRONGEST_COMPARATOR
from .results_doc import config_yaml, markdown_table, timed_by_rule, with_interval
from .robustness import (
    COMPARATORS,
    LEVEL,
    NOT_ASSESSED,
    area_ranges,
    common_grid,
    paired_rows,
    replicate_spread,
    survival,
    threshold_verdicts,
)
from .sigma_regions import border_and_centre
from .verdicts import A_WINS, B_WINS, CANNOT_TELL, NOTHING, describe_verdicts

LEARNED = "the learned sigma"
#: Each comparator in the page's words (nusmooth.robustness.COMPARATORS); in tables, comparisons.SHORT_NAMES.
COMPARATOR_WORDS = {STRONGEST_COMPARATOR: "the isotropic envelope", PAPER_COMPARATOR: "the isotropic sigma at its mean"}
VERDICT_WORDS = {A_WINS: "learned wins", B_WINS: "comparator wins", CANNOT_TELL: "cannot tell", NOTHING: "nothing"}


@dataclass(kw_only=True)
class BlockReport:
    """One block of the run (a dataset in one training regime) and its replicates, loaded."""

    name: str
    #: The dataset whose data it reads (nusmooth.instances.data_owner) and that dataset's title.
    dataset: str
    title: str
    #: How its base models were trained (model_settings.training_regime of every model file's train_config).
    regime: str
    train_noise: float
    #: Its config block (with ``alpha`` added).
    block: dict
    #: The dataset name of each replicate, replicate 1 first.
    instances: list[str]
    #: Each replicate's base model: clean validation accuracy after its last epoch.
    base_accuracy: list[float]
    #: Figure 1's vectors (nusmooth.artifacts.Fig1Result), each with the replicate it belongs to, its
    #: learned sigma and its replicate's isotropic envelope (nusmooth.robustness.ReplicateEnvelope).
    results: list
    replicates: list[int]
    sigmas: list[np.ndarray]
    envelopes: list
    #: The convergence table of every Figure-1 sweep of the block (artifacts.CONVERGENCE).
    convergence: pd.DataFrame
    #: (job, wall seconds) of every GPU job of Figure 1 of every replicate (Snakemake's benchmark files).
    timed: list

    @property
    def k(self) -> int:
        return len(self.instances)

    @property
    def inits(self) -> list[float]:
        return sorted({r.choice["init"] for r in self.results})


def dataset_grids(blocks: Sequence[BlockReport], count: int) -> dict[str, np.ndarray]:
    """The common area thresholds of each dataset: every replicate of every block of it (robustness.common_grid)."""
    grids = {}
    for dataset in dict.fromkeys(b.dataset for b in blocks):
        mine = [b for b in blocks if b.dataset == dataset]
        pairs = [(r, b.block["fig1"]["n"]) for b in mine for r in b.results]
        grids[dataset] = common_grid(
            [r for r, _ in pairs], [n for _, n in pairs], alpha=mine[0].block["alpha"], count=count
        )
    return grids


def block_differences(block: BlockReport, thresholds) -> pd.DataFrame:
    """Every replicate's paired rows (robustness.paired_rows) of every Figure-1 constant of ``block``
    against every comparator (column ``comparator``)."""
    frames = [
        paired_rows(result, thresholds, comparator, envelope).assign(
            comparator=comparator, init=result.choice["init"], replicate=replicate
        )
        for comparator in COMPARATORS
        for result, replicate, envelope in zip(block.results, block.replicates, block.envelopes, strict=True)
    ]
    return pd.concat(frames, ignore_index=True)


def every_block_differences(blocks: Sequence[BlockReport], grids: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """{block name: :func:`block_differences` at its dataset's thresholds}: computed once for the page (each
    chooses every replicate's envelope again), read by the answer and by the dataset's section."""
    return {b.name: block_differences(b, grids[b.dataset]) for b in blocks}


def block_verdicts(differences: pd.DataFrame) -> dict:
    """{(comparator, init): robustness.threshold_verdicts} of one block's :func:`block_differences`."""
    return {key: threshold_verdicts(mine) for key, mine in differences.groupby(["comparator", "init"], sort=False)}


def threshold_label(threshold: float) -> str:
    return "clean (any area)" if math.isinf(threshold) else f"O_CA >= {threshold:g}"


def spread_text(spread: dict, digits: int = 2, sign: bool = True) -> str:
    """``+0.21 [+0.15, +0.27] (range +0.19 to +0.24)``, or the one value with ``k = 1``."""
    plus = "+" if sign else ""
    if spread["replicates"] < 2:
        return f"{spread['mean']:{plus}.{digits}f} (one replicate)"
    interval = with_interval(spread["mean"], spread["t_lower"], spread["t_upper"], digits, sign)
    return f"{interval} (range {spread['min']:{plus}.{digits}f} to {spread['max']:{plus}.{digits}f})"


def replicate_cell(row) -> str:
    """``r2: +0.05 [+0.01, +0.09]``, with the envelope's constant at that threshold: ``(sigma 0.5)``."""
    cell = f"r{row.replicate}: {with_interval(row.difference, row.lower, row.upper, sign=True)}"
    return cell + (f" (sigma {row.constant:g})" if row.comparator == STRONGEST_COMPARATOR else "")


def difference_rows(block: BlockReport, differences: pd.DataFrame) -> list[list[str]]:
    """One row per comparator, constant and threshold: each replicate's difference with its paired 95%
    interval, the mean over replicates with its t-interval and range, and the verdict across replicates."""
    rows = []
    verdicts = block_verdicts(differences)
    for comparator in COMPARATORS:
        for init in block.inits:
            mine = differences[(differences["comparator"] == comparator) & (differences["init"] == init)]
            at_threshold = verdicts[(comparator, init)].set_index("threshold")
            for threshold, at in mine.groupby("threshold", sort=True):
                row = at_threshold.loc[threshold]
                rows.append(
                    [
                        SHORT_NAMES[comparator],
                        f"{init:g}",
                        threshold_label(threshold),
                        "; ".join(replicate_cell(r) for r in at.sort_values("replicate").itertuples()),
                        spread_text(row.to_dict()),
                        VERDICT_WORDS[row["verdict"]],
                    ]
                )
    return rows


def difference_table(block: BlockReport, differences: pd.DataFrame) -> str:
    header = [
        "comparator",
        "init",
        "threshold",
        "learned - comparator per replicate (paired 95%)",
        f"mean over replicates [{LEVEL:.0%} t-interval] (range)",
        "across replicates",
    ]
    return markdown_table(header, difference_rows(block, differences))


def sigma_rows(block: BlockReport) -> list[list[str]]:
    """Per constant: the learned sigma's mean and border / centre ratio in each replicate, with their
    spread over replicates (a fact of the learned vector: no interval over test points exists)."""
    rows = []
    for init in block.inits:
        chosen = [(r, s) for r, s in zip(block.results, block.sigmas) if r.choice["init"] == init]
        means = [float(s.mean()) for _, s in chosen]
        ratios = [border_and_centre(s)["border_centre_ratio"] for _, s in chosen]
        rows.append(
            [
                f"{init:g}",
                ", ".join(f"{m:.3f}" for m in means),
                spread_text(replicate_spread(means), digits=3, sign=False),
                ", ".join(f"{q:.2f}" for q in ratios),
                spread_text(replicate_spread(ratios), sign=False),
            ]
        )
    return rows


def convergence_rows(block: BlockReport) -> list[list[str]]:
    rows = []
    for (init, replicate), sweep in block.convergence.groupby(["init", "replicate"], sort=True):
        last = sweep.sort_values("sub_epoch").iloc[-1]
        verdict, because = convergence_verdict(sweep)
        rows.append(
            [
                f"{init:g}",
                replicate,
                int(last.sub_epoch),
                f"{last.step_budget:.2f}",
                f"{int(last.at_cap)} / {int(last.entries)}",
                f"**{verdict}**",
                because,
            ]
        )
    return rows


def convergence_summary(blocks: Sequence[BlockReport]) -> str:
    """How many sweeps converged by the rule, in one sentence with the numbers."""
    verdicts = [
        convergence_verdict(sweep)[0]
        for b in blocks
        for _, sweep in b.convergence.groupby(["init", "replicate"], sort=True)
    ]
    capped = sum(
        int(sweep.sort_values("sub_epoch").iloc[-1].at_cap > 0)
        for b in blocks
        for _, sweep in b.convergence.groupby(["init", "replicate"])
    )
    counts = "; ".join(f"{v}: {verdicts.count(v)}" for v in dict.fromkeys(verdicts))
    return (
        f"Sigma learning converged by the rule in {verdicts.count(CONVERGED)} of {len(verdicts)} sweeps ({counts}); "
        f"{capped} of {len(verdicts)} sweeps end with an entry at the step cap."
    )


def regime_sentence(block: BlockReport, verdicts: pd.DataFrame, comparator: str) -> str:
    """What one block shows at one constant against one comparator: its win ranges, and the mean gain
    over replicates where the learned sigma wins (smallest and largest, with their t-intervals)."""
    ranges = describe_verdicts(
        area_ranges(verdicts), LEARNED, COMPARATOR_WORDS[comparator], "O_CA", nothing="neither certifies any test point"
    )
    wins = verdicts[(verdicts["verdict"] == A_WINS) & np.isfinite(verdicts["threshold"])]
    text = f"{block.regime} (k = {block.k}): {ranges}"
    if len(wins):
        low, high = wins.loc[wins["mean"].idxmin()], wins.loc[wins["mean"].idxmax()]
        text += (
            f"; where it wins, the mean gain over replicates runs from {spread_text(low.to_dict())} at "
            f"{threshold_label(low.threshold)} to {spread_text(high.to_dict())} at {threshold_label(high.threshold)}"
        )
    clean = verdicts[~np.isfinite(verdicts["threshold"])].iloc[0]
    return text + f"; clean accuracy: {spread_text(clean.to_dict())}"


def answers(blocks: Sequence[BlockReport], differences: dict[str, pd.DataFrame]) -> list[list[str]]:
    """One row per dataset, noise-trained block, constant and comparator (the envelope's first: it
    decides): the survival verdict and each regime's sentence; ``differences``: every block's
    (:func:`every_block_differences`)."""
    rows = []
    verdicts = {}
    for b in blocks:
        for (comparator, init), found in block_verdicts(differences[b.name]).items():
            verdicts[(b.name, comparator, init)] = found
    for dataset in dict.fromkeys(b.dataset for b in blocks):
        mine = [b for b in blocks if b.dataset == dataset]
        paper = next((b for b in mine if not b.train_noise), None)
        noisy = [b for b in mine if b.train_noise] or [None]
        for noise in noisy:
            for init in (noise or paper).inits:
                for comparator in COMPARATORS:
                    found = {b.name: verdicts.get((b.name, comparator, init)) for b in (paper, noise) if b is not None}
                    answer = survival(
                        found.get(paper.name) if paper else None, found.get(noise.name) if noise else None
                    )
                    sentences = [regime_sentence(b, found[b.name], comparator) for b in (paper, noise) if b is not None]
                    rows.append(
                        [
                            mine[0].title,
                            f"{init:g}",
                            COMPARATOR_WORDS[comparator],
                            f"**{answer}**" if answer != NOT_ASSESSED else answer,
                            "<br>".join(sentences),
                        ]
                    )
    return rows


def runs_rows(blocks: Sequence[BlockReport]) -> list[list[str]]:
    return [
        [
            b.title,
            f"`{b.name}`",
            b.regime,
            b.k,
            ", ".join(f"`{i}`" for i in b.instances),
            ", ".join(f"{a:.4f}" for a in b.base_accuracy),
            ", ".join(f"{i:g}" for i in b.inits),
        ]
        for b in blocks
    ]


def timing_rows(blocks: Sequence[BlockReport]) -> tuple[list[list[str]], float]:
    rows, total = [], 0.0
    for b in blocks:
        for rule in cost.GPU_RULES:
            jobs = seconds = 0
            for instance in b.instances:
                mine = [(job, s) for job, s in b.timed if dict(job.wildcards)["dataset"] == instance]
                counted, spent, _ = timed_by_rule(mine, instance, b.block)[rule]
                jobs, seconds = jobs + counted, seconds + spent
            if jobs:
                rows.append([f"`{b.name}`", rule, jobs, f"{seconds:,.0f}"])
                total += seconds
    return rows, total


def dataset_section(
    dataset_blocks: Sequence[BlockReport], differences: dict[str, pd.DataFrame], figures: dict[str, dict[str, str]]
) -> str:
    title = dataset_blocks[0].title
    parts = [f"## {title}"]
    for b in dataset_blocks:
        fig1 = b.block["fig1"]
        points = int(b.results[0].learned.shape[0])
        parts += [
            f"### {b.regime} (`{b.name}`, k = {b.k})",
            f"![Figure 1, {b.title}, replicate 1]({figures[b.name]['fig1']})",
            f"Learned minus comparator certified accuracy on {points:,} test points (n0 = {fig1['n0']}, n = "
            f"{fig1['n']}, alpha = {b.block['alpha']}), at the thresholds shared by every replicate and regime of "
            f"{title} (round numbers over their validation records); replicate r's cell is its difference with "
            "Tango's paired 95% interval over the test points; the verdict across replicates reads each "
            "replicate's simultaneous band over these thresholds and the t-interval over replicates "
            '(docs/method.md, "Replicates and training regimes"). Two comparators: the replicate\'s isotropic '
            f"envelope (at each threshold the constant of {envelope_grid(b)} with the most certified validation "
            "points there, its constant in brackets), which decides the answer, and the isotropic sigma at the "
            "learned vector's arithmetic mean (AM, the paper's).",
            difference_table(b, differences[b.name]),
            "**The learned sigma** (the snapshot chosen on validation; border = the outer pixels, 1/8 of the side; "
            "one value per replicate, so no interval over test points exists):",
            markdown_table(
                [
                    "init",
                    "mean per replicate",
                    "mean over replicates [t-interval] (range)",
                    "border / centre ratio per replicate",
                    "over replicates",
                ],
                sigma_rows(b),
            ),
            f"**Sigma learning per sub-epoch** (the step cap: an entry moved at least {CAP_SHARE:g} x the sum of "
            "Adam's learning rates over the steps taken):",
            f"![Sigma learning, {b.title}]({figures[b.name]['convergence']})",
            markdown_table(
                ["init", "replicate", "sub-epochs", "step budget", "entries at the cap", "verdict", "numbers"],
                convergence_rows(b),
            ),
        ]
    return "\n\n".join(parts)


def page(
    blocks: Sequence[BlockReport],
    *,
    figures: dict[str, dict[str, str]],
    table_areas: int,
    command: str,
    commit: str,
    generated: str,
    machine: str,
    config: dict,
) -> str:
    differences = every_block_differences(blocks, dataset_grids(blocks, table_areas))
    timing, total = timing_rows(blocks)
    parts = [
        "# Robustness: does the learned sigma's advantage survive noise training and another training run?",
        "<!-- Generated by workflow_scripts/write_robustness_doc.py (rule robustness_doc) from the run's files. "
        "Do not edit: rerun the command below. -->",
        f"Generated {generated} at commit `{commit}` on {machine}, by\n\n```\n{command}\n```\n\n"
        f"The Figure-1 jobs of every replicate took {total / 60:,.1f} minutes of wall time (Snakemake's benchmark "
        "files; data preparation, plots and tables not counted). Every number below is read from the run's files; "
        "the configuration is at the end.",
        "## What was run",
        "Each block is one dataset in one training regime (as recorded in every base model's file), trained k "
        "times with every random stream its own (replicate r >= 2 runs as the dataset `<block>-r<r>`); every "
        "replicate of a dataset is certified on the same validation and test points.",
        markdown_table(
            [
                "dataset",
                "block",
                "base model",
                "k",
                "replicates",
                "base model's clean validation accuracy",
                "Figure-1 constants",
            ],
            runs_rows(blocks),
        ),
        "## The answer",
        markdown_table(["dataset", "init", "against", "noise training", "each regime"], answers(blocks, differences)),
        "The advantage **survives** noise training when, with the noise-trained base models, the learned sigma "
        "wins at one area threshold or more; it **does not survive** when it wins somewhere in the paper's regime "
        "but nowhere with noise training. The answer is the envelope's: at each threshold it takes the isotropic "
        "constant of a grid that certifies the most validation points there (chosen on validation, reported on "
        "test), the strongest isotropic comparator; the arithmetic mean's, the paper's comparator, is shown "
        "beside it. The learned sigma wins at a threshold when every replicate's "
        "simultaneous band lies above 0 and, with two replicates or more, so does the t-interval of the mean over "
        f"replicates ({LEVEL:.0%}, k - 1 degrees of freedom). Near the top of the area range the isotropic sigma "
        "at the mean can certify areas the learned one cannot reach at all (arithmetic mean >= geometric mean).",
        convergence_summary(blocks)
        + f" A sweep converged when the last sub-epoch changed its validation mean certified area by less than the "
        f"last snapshot's 95% interval and fewer than {MOST_AT_CAP:.0%} of sigma's entries sit at the step cap.",
    ]
    for dataset in dict.fromkeys(b.dataset for b in blocks):
        parts.append(dataset_section([b for b in blocks if b.dataset == dataset], differences, figures))
    parts += [
        "## Wall time of each stage",
        markdown_table(["block", "rule", "jobs (every replicate)", "wall seconds"], timing),
        "## Configuration",
        "Without the blocks of replicates 2, 3, ... (copies of their block's, run under their own names):",
        f"```yaml\n{config_yaml(without_replicates(config))}\n```",
    ]
    return "\n\n".join(parts) + "\n"


def envelope_grid(block: BlockReport) -> str:
    """``0.25, 0.5``: the constants the block's envelope chooses from."""
    return ", ".join(f"{c:g}" for c in block.block["fig1"]["envelope"]["constants"])


def without_replicates(config: dict) -> dict:
    """The configuration as written: the blocks of replicates r >= 2 (copies of their block) left out."""
    return {**config, "datasets": {k: v for k, v in config["datasets"].items() if split_replicate(k)[1] == 1}}
