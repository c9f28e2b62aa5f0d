"""Training base classifiers (the paper's recipe: Adadelta, learning rate x gamma per epoch)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn
from tqdm import tqdm


def iterate_minibatches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator | None, shuffle: bool = True):
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


def train_classifier(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    batch_size: int,
    lr: float,
    gamma: float,
    device,
    generator: torch.Generator,
    optimizer_name: str = "adadelta",
    on_epoch: Callable[[dict], None] | None = None,
    resume_state: dict | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
    progress: bool = False,
    eval_batch_size: int | None = None,
) -> list[dict]:
    """Plain cross-entropy training (no noise augmentation, as in the paper); returns per-epoch stats.

    After every epoch ``on_checkpoint`` receives the full training state (weights, optimiser,
    schedule, shuffling and dropout RNG states, history); passing that dict back as
    ``resume_state`` continues from the next epoch exactly as an uninterrupted run would (on the
    same device; on another one it continues with the same weights and optimiser state). ``progress`` shows a tqdm bar per epoch on stderr (the rule's log).
    """
    model.to(device)
    optimizers = {"adadelta": torch.optim.Adadelta, "sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    optimizer = optimizers[optimizer_name](model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    history, first_epoch = [], 1
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        schedule.load_state_dict(resume_state["schedule"])
        generator.set_state(resume_state["generator"])
        torch.set_rng_state(resume_state["cpu_rng"])
        cuda_rng = resume_state.get("cuda_rng")
        if torch.cuda.is_available() and cuda_rng is not None and len(cuda_rng) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_rng)
        history = list(resume_state["history"])
        first_epoch = resume_state["epoch"] + 1
    batches = -(-len(train[1]) // batch_size)
    for epoch in range(first_epoch, epochs + 1):
        model.train()
        total_loss, seen = 0.0, 0
        bar = tqdm(iterate_minibatches(*train, batch_size, generator), total=batches, desc=f"epoch {epoch}/{epochs}",
                   disable=not progress, mininterval=10, file=sys.stderr)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach().item() * len(y)
            seen += len(y)
        schedule.step()
        val_accuracy = accuracy(model, *val, device, eval_batch_size or batch_size)
        stats = {"epoch": epoch, "train_loss": total_loss / seen, "val_accuracy": val_accuracy}
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
        if on_checkpoint is not None:
            on_checkpoint({
                "epoch": epoch,
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "generator": generator.get_state(),
                "cpu_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "history": history,
            })
    return history
