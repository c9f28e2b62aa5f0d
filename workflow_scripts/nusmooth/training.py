"""Training base classifiers (the paper's recipe: Adadelta, learning rate x gamma per epoch)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


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
) -> list[dict]:
    """Plain cross-entropy training (no noise augmentation, as in the paper); returns per-epoch stats."""
    model.to(device)
    optimizers = {"adadelta": torch.optim.Adadelta, "sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    optimizer = optimizers[optimizer_name](model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        total_loss, seen = 0.0, 0
        for x, y in iterate_minibatches(*train, batch_size, generator):
            x, y = x.to(device), y.to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss) * len(y)
            seen += len(y)
        schedule.step()
        stats = {"epoch": epoch, "train_loss": total_loss / seen, "val_accuracy": accuracy(model, *val, device)}
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
    return history
