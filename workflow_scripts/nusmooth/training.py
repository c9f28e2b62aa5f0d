"""Training base classifiers (the paper's recipe: Adadelta, learning rate x gamma per epoch), with or
without Gaussian noise augmentation of the training images (Cohen et al.'s training)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn
from tqdm import tqdm


def iterate_minibatches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator | None, shuffle: bool = True
):
    """Yield ``(float images in [0,1], labels)`` mini-batches from uint8 images; seeded shuffling."""
    order = torch.randperm(len(labels), generator=generator) if shuffle else torch.arange(len(labels))
    for start in range(0, len(labels), batch_size):
        index = order[start : start + batch_size]
        yield images[index].float().div_(255.0), labels[index]


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device, batch_size: int = 512) -> float:
    """Clean (noise-free) accuracy of the base classifier."""
    model.eval()
    correct = 0
    for x, y in iterate_minibatches(images, labels, batch_size, None, shuffle=False):
        correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    return correct / max(len(labels), 1)


class BaseTrainer:
    """Cross-entropy training of a base classifier, one epoch per :meth:`run_epoch`: the optimiser
    steps, then the learning rate decays by ``gamma``.

    ``train_noise`` > 0 adds Gaussian noise of that standard deviation to every training image, in
    [0,1] pixel space (before the model's normalisation) and unclamped, as Cohen et al. train; the noise
    is drawn from ``noise_generator`` (on ``device``), a stream of its own, so the batch order and
    dropout draw what they would draw without it. The validation accuracy is measured on clean images.
    0 (the default) is the paper's training: no noise is drawn, nothing else changes.

    Resumes as :class:`nusmooth.surrogate.SigmaOptimizer` does: :meth:`state_dict` holds everything
    needed to continue (weights, optimiser, schedule, the shuffling stream ``generator``, the noise
    stream, the global CPU and CUDA random states that dropout draws from, the history);
    :meth:`load_state_dict` on a fresh trainer continues from the next epoch exactly as an
    uninterrupted run would (on the same device; on another one, with the same weights and optimiser
    state).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float,
        gamma: float,
        device,
        generator: torch.Generator,
        optimizer_name: str = "adadelta",
        train_noise: float = 0.0,
        noise_generator: torch.Generator | None = None,
    ):
        if train_noise < 0:
            raise ValueError(f"train_noise is a standard deviation, >= 0; got {train_noise}")
        if train_noise > 0 and noise_generator is None:
            raise ValueError("noise augmentation needs a noise_generator: a stream of its own (nusmooth.seeds)")
        optimizers = {"adadelta": torch.optim.Adadelta, "sgd": torch.optim.SGD, "adam": torch.optim.Adam}
        self.model = model.to(device)
        self.device = device
        self.optimizer = optimizers[optimizer_name](self.model.parameters(), lr=lr)
        self.schedule = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=gamma)
        self.generator = generator
        self.train_noise = float(train_noise)
        self.noise_generator = noise_generator
        self.history: list[dict] = []

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def steps_done(self) -> int:
        """Epochs done, as :func:`nusmooth.resume.resumed_steps` counts steps."""
        return self.epochs_done

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this trainer stands (tensors and plain data)."""
        return {
            "epoch": self.epochs_done,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "generator": self.generator.get_state(),
            "noise_generator": None if self.noise_generator is None else self.noise_generator.get_state(),
            "cpu_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.generator.set_state(state["generator"])
        if self.noise_generator is not None:
            self.noise_generator.set_state(state["noise_generator"])
        torch.set_rng_state(state["cpu_rng"])
        cuda_rng = state.get("cuda_rng")
        if torch.cuda.is_available() and cuda_rng is not None and len(cuda_rng) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_rng)
        self.history = list(state["history"])

    def run_epoch(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        *,
        batch_size: int,
        epochs: int | None = None,
        progress: bool = False,
        eval_batch_size: int | None = None,
    ) -> dict:
        """One pass over ``train`` (uint8 images, labels) in the generator's order (each batch with its
        noise when ``train_noise`` is set), the learning-rate decay, then the clean accuracy on ``val``;
        returns (and records) the epoch's stats.
        ``epochs`` only labels the progress bar (``progress``: a tqdm bar on stderr, the rule's log)."""
        epoch = self.epochs_done + 1
        self.model.train()
        total_loss, seen = 0.0, 0
        batches = -(-len(train[1]) // batch_size)
        bar = tqdm(
            iterate_minibatches(*train, batch_size, self.generator),
            total=batches,
            desc=f"epoch {epoch}/{epochs or '?'}",
            disable=not progress,
            mininterval=10,
            file=sys.stderr,
        )
        for x, y in bar:
            x, y = x.to(self.device), y.to(self.device)
            if self.train_noise:
                x = x + self.train_noise * torch.randn(
                    x.shape, generator=self.noise_generator, device=x.device, dtype=x.dtype
                )
            loss = nn.functional.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.detach().item() * len(y)
            seen += len(y)
        self.schedule.step()
        val_accuracy = accuracy(self.model, *val, self.device, eval_batch_size or batch_size)
        stats = {"epoch": epoch, "train_loss": total_loss / seen, "val_accuracy": val_accuracy}
        self.history.append(stats)
        return stats


def train_classifier(
    model: nn.Module,
    train,
    val,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    gamma: float,
    device,
    generator: torch.Generator,
    optimizer_name: str = "adadelta",
    on_epoch: Callable[[dict], None] | None = None,
    progress: bool = False,
    eval_batch_size: int | None = None,
) -> list[dict]:
    """:class:`BaseTrainer` for ``epochs`` epochs in one go (no resume); returns per-epoch stats."""
    trainer = BaseTrainer(model, lr=lr, gamma=gamma, device=device, generator=generator, optimizer_name=optimizer_name)
    for _ in range(epochs):
        stats = trainer.run_epoch(
            train, val, batch_size=batch_size, epochs=epochs, progress=progress, eval_batch_size=eval_batch_size
        )
        if on_epoch is not None:
            on_epoch(stats)
    return trainer.history
