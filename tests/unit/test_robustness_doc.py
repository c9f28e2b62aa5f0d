"""docs/robustness.md's parts from hand-made replicates: the answer per dataset and regime, the cells of
every replicate with the spread over them, the convergence sentence, and the page as a whole."""

import numpy as np
import pandas as pd

from nusmooth.convergence import COLUMNS
from nusmooth.instances import replicate_names
from nusmooth.model_settings import training_regime
from nusmooth.robustness import LOST, NEITHER, SURVIVES, paired_rows
from nusmooth.robustness_doc import (
    BlockReport,
    answers,
    convergence_summary,
    dataset_grids,
    every_block_differences,
    page,
)
from support.replicates import fig1_result, replicate_envelope


def convergence(replicates: int, capped: int = 0) -> pd.DataFrame:
    """Three sub-epochs per replicate whose validation mean area settles inside its interval; the
    last ``capped`` replicates end with 10 of 784 entries at the step cap."""
    rows = []
    for replicate in range(1, replicates + 1):
        for sub_epoch, area in zip((1, 2, 3), (-700.0, -520.0, -510.0)):
            at_cap = 10 if replicate > replicates - capped and sub_epoch == 3 else 0
            values = {column: 0.0 for column in COLUMNS}
            values |= {"sub_epoch": sub_epoch, "step_budget": 0.5 * sub_epoch, "entries": 784, "at_cap": at_cap}
            values |= {"val_mean_area": area, "val_mean_area_lower": area - 30, "val_mean_area_upper": area + 30}
            rows.append({"instance": f"r{replicate}", "replicate": replicate, "init": 0.25, **values})
    return pd.DataFrame(rows)


WEAK_ENVELOPE, STRONG_ENVELOPE = (0.4, 0.25), (0.95, 0.9)


def block(
    name: str,
    noise: float,
    learned_shares: list[float],
    capped: int = 0,
    isotropic_areas=(-2000, -800),
    envelope=WEAK_ENVELOPE,
):
    k = len(learned_shares)
    sigma = np.full((1, 28, 28), 0.2)
    sigma[:, :3] = 1.0
    return BlockReport(
        name=name,
        dataset="mnist",
        title="MNIST",
        regime=training_regime({"train_noise": noise}),
        train_noise=noise,
        block={"fig1": {"n0": 100, "n": 500, "envelope": {"constants": [0.25, 0.5]}}, "alpha": 0.001},
        instances=replicate_names(name, k),
        base_accuracy=[0.99] * k,
        results=[fig1_result(10 * len(name) + i, share, isotropic_areas) for i, share in enumerate(learned_shares)],
        replicates=list(range(1, k + 1)),
        sigmas=[sigma * (1 + 0.1 * i) for i in range(k)],
        envelopes=[replicate_envelope(10 * len(name) + i, envelope) for i in range(k)],
        convergence=convergence(k, capped),
        timed=[],
    )


def test_the_advantage_survives_when_the_noise_trained_replicates_all_show_it():
    blocks = [block("mnist", 0.0, [0.95, 0.93, 0.94]), block("mnist_noise", 0.25, [0.9, 0.92, 0.91])]
    envelope, arithmetic_mean = answers(blocks, every_block_differences(blocks, dataset_grids(blocks, 5)))
    assert envelope[:4] == ["MNIST", "0.25", "the isotropic envelope", f"**{SURVIVES}**"]  # the answer: first
    assert arithmetic_mean[:4] == ["MNIST", "0.25", "the isotropic sigma at its mean", f"**{SURVIVES}**"]
    for row in (envelope, arithmetic_mean):
        paper, noise = row[4].split("<br>")
        assert paper.startswith("base model trained without noise, as in the paper (k = 3): ")
        assert noise.startswith("base model trained with Gaussian noise, sigma 0.25 (k = 3): ")
        for sentence in (paper, noise):
            assert "the learned sigma wins for O_CA from" in sentence
            assert "where it wins, the mean gain over replicates runs from" in sentence


def test_it_does_not_survive_when_noise_training_leaves_no_gain_at_any_area():
    # with noise training the isotropic sigmas certify as often, and as large areas, as the learned one
    noisy = block("mnist_noise", 0.25, [0.6, 0.6, 0.6], isotropic_areas=(-1500, -200), envelope=STRONG_ENVELOPE)
    blocks = [block("mnist", 0.0, [0.95, 0.93, 0.94]), noisy]
    envelope, arithmetic_mean = answers(blocks, every_block_differences(blocks, dataset_grids(blocks, 5)))
    assert envelope[3] == arithmetic_mean[3] == f"**{LOST}**"


def test_the_answer_is_the_envelopes_when_only_the_arithmetic_mean_is_beaten():
    """The paper's comparator loses everywhere but the envelope, the strongest, certifies as much: the
    page's first row (the answer) says no advantage, the arithmetic mean's row says it survives."""
    blocks = [
        block(n, noise, [0.9, 0.92, 0.91], envelope=STRONG_ENVELOPE)
        for n, noise in (("mnist", 0), ("mnist_noise", 0.25))
    ]
    envelope, arithmetic_mean = answers(blocks, every_block_differences(blocks, dataset_grids(blocks, 5)))
    assert envelope[2:4] == ["the isotropic envelope", f"**{NEITHER}**"]
    assert arithmetic_mean[2:4] == ["the isotropic sigma at its mean", f"**{SURVIVES}**"]


def test_convergence_is_counted_over_every_sweep_with_the_rule():
    blocks = [block("mnist", 0.0, [0.95, 0.93], capped=1), block("mnist_noise", 0.25, [0.9])]
    assert convergence_summary(blocks) == (
        "Sigma learning converged by the rule in 2 of 3 sweeps (converged: 2; stopped at its step budget: 1); "
        "1 of 3 sweeps end with an entry at the step cap."
    )


def test_the_page_shows_every_replicates_difference_and_the_spread_over_them():
    blocks = [block("mnist", 0.0, [0.95, 0.93, 0.94]), block("mnist_noise", 0.25, [0.9])]
    figures = {b.name: {"fig1": f"robustness/fig1_{b.name}.png", "convergence": "c.png"} for b in blocks}
    text = page(
        blocks,
        figures=figures,
        table_areas=5,
        command="snakemake docs/robustness.md",
        commit="abc",
        generated="now",
        machine="here",
        config={"datasets": {"mnist": {}, "mnist-r2": {}, "mnist_noise": {}}, "alpha": 0.001},
    )
    clean = [paired_rows(r, []).iloc[0]["difference"] for r in blocks[0].results]  # learned minus isotropic accuracy
    assert "| AM | 0.25 | clean (any area) | r1: " in text and f"r3: {clean[2]:+.2f} [" in text
    assert "| envelope | 0.25 | clean (any area) | r1: " in text and "] (sigma 0.25); r2: " in text
    mean = np.mean(clean)
    assert f"{mean:+.2f} [" in text and f"(range {min(clean):+.2f} to {max(clean):+.2f})" in text
    assert "(one replicate)" in text  # the noise-trained block of k = 1
    assert "### base model trained with Gaussian noise, sigma 0.25 (`mnist_noise`, k = 1)" in text
    assert "mnist-r2" not in text.split("## Configuration")[1]  # replicates' blocks are copies: left out
    assert "](robustness/fig1_mnist.png)" in text
