"""Noise-trained base models (BaseTrainer's train_noise) and replicates: the noise is drawn from its own
stream and added to the training images only, no noise changes nothing, and two replicates (two
instance names, the same settings) give different models and sigmas, each reproducible byte for byte."""

import io

import pytest
import torch
from torch import nn

from nusmooth.networks import build_model
from nusmooth.seeds import stream_name, stream_seed
from nusmooth.surrogate import SigmaOptimizer, SigmaSweep
from nusmooth.training import BaseTrainer, iterate_minibatches

IMAGES = torch.randint(0, 256, (12, 1, 2, 2), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
LABELS = torch.randint(0, 2, (12,), generator=torch.Generator().manual_seed(2))


class Recorder(nn.Module):
    """A linear classifier that keeps every input it is given, with the mode it was in."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, x.detach().clone()))
        return self.linear(x.flatten(1))


def trainer(model, noise: float, noise_seed: int | None = 5) -> BaseTrainer:
    return BaseTrainer(
        model,
        lr=0.5,
        gamma=0.5,
        device="cpu",
        generator=torch.Generator().manual_seed(0),
        train_noise=noise,
        noise_generator=None if noise_seed is None else torch.Generator().manual_seed(noise_seed),
    )


def test_noise_is_the_noise_streams_draws_added_to_training_images_only():
    torch.manual_seed(0)
    noisy = trainer(Recorder(), 0.25)
    noisy.run_epoch((IMAGES, LABELS), (IMAGES, LABELS), batch_size=5)
    training = [x for mode, x in noisy.model.seen if mode]
    evaluation = [x for mode, x in noisy.model.seen if not mode]
    # The batches in the order stream's order, each plus 0.25 x the noise stream's next draws.
    clean = [x for x, _ in iterate_minibatches(IMAGES, LABELS, 5, torch.Generator().manual_seed(0))]
    draws = torch.Generator().manual_seed(5)
    assert len(training) == len(clean) == 3
    for seen, x in zip(training, clean):
        assert torch.equal(seen, x + 0.25 * torch.randn(x.shape, generator=draws))
    # Validation (the recorded accuracy) sees the clean images.
    assert torch.equal(torch.cat(evaluation), IMAGES.float() / 255)
    # The batch order does not depend on the noise: the order stream is where a noiseless run leaves it.
    quiet = trainer(Recorder(), 0.0, noise_seed=None)
    quiet.run_epoch((IMAGES, LABELS), (IMAGES, LABELS), batch_size=5)
    assert torch.equal(noisy.generator.get_state(), quiet.generator.get_state())


def test_no_noise_draws_nothing_and_trains_exactly_as_before():
    torch.manual_seed(0)
    quiet = trainer(Recorder(), 0.0)
    torch.manual_seed(0)
    before = BaseTrainer(Recorder(), lr=0.5, gamma=0.5, device="cpu", generator=torch.Generator().manual_seed(0))
    for run in (quiet, before):
        run.run_epoch((IMAGES, LABELS), (IMAGES, LABELS), batch_size=5)
    assert torch.equal(quiet.noise_generator.get_state(), torch.Generator().manual_seed(5).get_state())
    assert quiet.history == before.history
    for a, b in zip(quiet.model.state_dict().values(), before.model.state_dict().values()):
        assert torch.equal(a, b)


def test_noise_needs_its_own_stream_and_a_standard_deviation():
    with pytest.raises(ValueError, match="noise_generator"):
        trainer(Recorder(), 0.25, noise_seed=None)
    with pytest.raises(ValueError, match=">= 0"):
        trainer(Recorder(), -0.1)


def test_a_resumed_noisy_training_continues_the_noise_stream():
    def fresh():
        torch.manual_seed(0)
        return trainer(Recorder(), 0.25)

    straight = fresh()
    for _ in range(2):
        straight.run_epoch((IMAGES, LABELS), (IMAGES, LABELS), batch_size=5)
    first = fresh()
    first.run_epoch((IMAGES, LABELS), (IMAGES, LABELS), batch_size=5)
    resumed = fresh()
    resumed.load_state_dict(first.state_dict())
    resumed.run_epoch((IMAGES, LABELS), (IMAGES, LABELS), batch_size=5)
    assert resumed.history == straight.history
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


# --- replicates: two instance names, the same settings --------------------------------------------


def seeded(stage: str, **parts) -> torch.Generator:
    """The generator a stage script makes for the stream (stage.stream_generator, without its log line)."""
    return torch.Generator().manual_seed(stream_seed(0, *stream_name(stage, **parts)))


def trained_replicate(name: str) -> bytes:
    """train_base's path for dataset ``name`` with noise augmentation, one epoch of two steps: the
    bytes of the trained weights."""
    images = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(16) % 10
    torch.manual_seed(stream_seed(0, *stream_name("train_base", dataset=name, purpose="init and dropout")))
    model = build_model("mnist_cnn", 10, [0.13], [0.31])
    run = BaseTrainer(
        model,
        lr=1.0,
        gamma=0.5,
        device="cpu",
        generator=seeded("train_base", dataset=name, purpose="order"),
        train_noise=0.25,
        noise_generator=seeded("train_base", dataset=name, purpose="noise"),
    )
    run.run_epoch((images, labels), (images[:4], labels[:4]), batch_size=8)
    buffer = io.BytesIO()
    torch.save(run.model.state_dict(), buffer)
    return buffer.getvalue()


def test_two_replicates_train_different_models_each_reproducible_byte_for_byte():
    first, again, second = trained_replicate("mnist"), trained_replicate("mnist"), trained_replicate("mnist-r2")
    assert first == again
    assert first != second


def learned_replicate(name: str) -> torch.Tensor:
    """optimize_sigma's path for dataset ``name``: two sub-epochs from 0.25, noise and order streams
    named by the dataset; the snapshots."""
    model = nn.Linear(6, 2)  # logits (0, 4 x_0): only the first feature matters
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0] * 6, [4.0] + [0.0] * 5]))
        model.bias.zero_()
    optimizer = SigmaOptimizer(
        model.eval(),
        (6,),
        init_sigma=0.25,
        lr=0.05,
        gamma=0.5,
        num_copies=8,
        generator=seeded("optimize_sigma", dataset=name, init="0.25", purpose="noise"),
    )
    images = torch.randint(128, 256, (24, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    sweep = SigmaSweep(
        optimizer,
        images,
        torch.ones(24, dtype=torch.long),
        batch_size=8,
        order=seeded("optimize_sigma", dataset=name, init="0.25", purpose="order"),
    )
    for _ in range(2):
        sweep.run_sub_epoch()
    return torch.stack(sweep.snapshots)


def test_two_replicates_learn_different_sigmas_each_reproducible_bit_for_bit():
    first, again, second = learned_replicate("mnist"), learned_replicate("mnist"), learned_replicate("mnist-r2")
    assert torch.equal(first, again)
    assert not torch.equal(first, second)
