"""Certifying a subset of the points with the full call's noise (racing's stage blocks): the active
points' votes and certificates are bit-identical to the full call's, the generator ends where the full
call leaves it, the model runs only on the full call's batches that hold an active copy, and a bad
selection is refused before the model runs."""

import numpy as np
import pandas as pd
import pytest
import torch

from nusmooth.data import ImageSplit
from nusmooth.racing import stage_block, stage_points, whole_batch_points
from nusmooth.records import certify_split
from nusmooth.smoothing import NonUniformSmoothing, sample_counts

CLASSES = 3
N0, N = 5, 13  # odd copy counts: batch edges of 7 and 48 fall inside points in both phases
POINTS = 12


class BatchRecorder(torch.nn.Module):
    """A random conv net (eval mode) that keeps a copy of every batch it is given."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, CLASSES)
        )
        self.batches = []
        self.eval()

    def forward(self, x):
        self.batches.append(x.clone())
        return self.net(x)

    def noisy_batches(self):
        """Every batch but the first, the one-point width probe each public call makes once."""
        return self.batches[1:]


def random_points(seed: int = 1) -> torch.Tensor:
    return torch.rand(POINTS, 1, 6, 6, generator=torch.Generator().manual_seed(seed))


#: The active selections every identity test runs: a block whose edges fall inside batches, one point,
#: the last points, and a scattered mask.
SELECTIONS = {
    "block": range(3, 9),
    "one point": range(5, 6),
    "tail": range(9, POINTS),
    "scattered": np.isin(np.arange(POINTS), [0, 4, 5, 11]),
}


def certify(model, points, batch_size, active=None, seed=7):
    generator = torch.Generator().manual_seed(seed)
    smoothing = NonUniformSmoothing(model, CLASSES, 0.6)
    certs = smoothing.certify_many(
        points, n0=N0, n=N, alpha=0.01, batch_size=batch_size, generator=generator, active=active
    )
    return certs, generator


def indices_of(active) -> np.ndarray:
    return np.asarray(list(active)) if isinstance(active, range) else np.flatnonzero(active)


@pytest.mark.parametrize("batch_size", [7, 48, 1000])
@pytest.mark.parametrize("selection", sorted(SELECTIONS))
def test_active_points_are_certified_bit_for_bit_as_in_the_full_call(batch_size, selection):
    points, active = random_points(), SELECTIONS[selection]
    full, full_generator = certify(BatchRecorder(), points, batch_size)
    part, part_generator = certify(BatchRecorder(), points, batch_size, active)
    chosen = indices_of(active)
    # The noise makes the votes split (else identical certificates would prove little).
    assert (full.counts_estimation.max(axis=1) < N).any()
    for field in ("counts_selection", "counts_estimation", "n_a", "prediction", "pa_lower", "area", "l2_radius"):
        np.testing.assert_array_equal(getattr(part, field), getattr(full, field)[chosen], err_msg=field)
    # Every skipped batch still drew its noise: the generator ends where the full call leaves it.
    assert torch.equal(part_generator.get_state(), full_generator.get_state())


def copy_batches(total_copies: int, batch_size: int):
    return [range(start, min(start + batch_size, total_copies)) for start in range(0, total_copies, batch_size)]


@pytest.mark.parametrize("batch_size", [7, 48])
@pytest.mark.parametrize("selection", ["block", "one point", "scattered"])
def test_the_model_runs_only_the_full_calls_batches_that_hold_an_active_copy(batch_size, selection):
    points, active = random_points(), SELECTIONS[selection]
    full_model, part_model = BatchRecorder(), BatchRecorder()
    certify(full_model, points, batch_size)
    certify(part_model, points, batch_size, active)
    chosen = set(indices_of(active).tolist())
    # The full call's batches, phase by phase (selection, then estimation), and which of them hold an active copy.
    expected = [
        any(copy // copies in chosen for copy in batch)
        for copies in (N0, N)
        for batch in copy_batches(POINTS * copies, batch_size)
    ]
    full_batches = full_model.noisy_batches()
    assert len(full_batches) == len(expected)
    kept = [batch for batch, holds in zip(full_batches, expected) if holds]
    assert len(part_model.noisy_batches()) == len(kept)
    assert selection == "scattered" or len(kept) < len(full_batches)  # a block or a point skips batches
    for seen, wanted in zip(part_model.noisy_batches(), kept):
        assert torch.equal(seen, wanted)


def test_racing_blocks_on_whole_batches_forward_exactly_their_own_copies():
    """With n0 = 6, n = 10 and batches of 8, blocks of the racing schedule rounded to whole batches (4
    points) are certified in batches that hold only their own copies."""
    unit = whole_batch_points(6, 10, 8)
    assert unit == 4
    for stage, stop in enumerate(stage_points(POINTS, unit=unit), start=1):
        model = BatchRecorder()
        block = stage_block(stage_points(POINTS, unit=unit), stage)
        smoothing = NonUniformSmoothing(model, CLASSES, 0.6)
        smoothing.certify_many(random_points(), n0=6, n=10, alpha=0.01, batch_size=8, active=block)
        assert sum(len(batch) for batch in model.noisy_batches()) == len(block) * (6 + 10)


def test_sample_counts_of_active_points_are_the_full_counts_rows():
    points = random_points()
    full = sample_counts(
        BatchRecorder(), points, 0.6, num_samples=N, num_classes=CLASSES, batch_size=7, generator=torch.Generator()
    )
    part = sample_counts(
        BatchRecorder(),
        points,
        0.6,
        num_samples=N,
        num_classes=CLASSES,
        batch_size=7,
        generator=torch.Generator(),
        active=range(2, 5),
    )
    assert torch.equal(part, full[2:5])


def test_records_of_a_block_are_the_full_records_rows():
    images = (random_points() * 255).round().to(torch.uint8)
    split = ImageSplit(images, torch.arange(POINTS) % CLASSES)
    settings = dict(num_classes=CLASSES, n0=N0, n=N, alpha=0.01, batch_size=48, limit=10, device="cpu")

    def table(active=None):
        generator = torch.Generator().manual_seed(3)
        return certify_split(BatchRecorder(), split, 0.6, generator=generator, active=active, **settings)

    full, block = table(), table(range(4, 10))
    assert block["idx"].tolist() == [4, 5, 6, 7, 8, 9]
    pd.testing.assert_frame_equal(
        block.drop(columns="time").reset_index(drop=True), full.drop(columns="time").iloc[4:10].reset_index(drop=True)
    )


@pytest.mark.parametrize(
    "active, message",
    [
        (range(0), "selects no point"),
        (range(10, 13), "reaches outside"),
        (np.zeros(POINTS, dtype=bool), "selects no point"),
        (np.ones(POINTS - 1, dtype=bool), "booleans"),
        (np.arange(POINTS), "booleans"),
    ],
)
def test_a_bad_selection_is_refused_before_the_model_runs(active, message):
    model = BatchRecorder()
    with pytest.raises(ValueError, match=message):
        certify(model, random_points(), 7, active)
    with pytest.raises(ValueError, match=message):
        sample_counts(model, random_points(), 0.6, num_samples=N, num_classes=CLASSES, batch_size=7, active=active)
    assert model.batches == []
