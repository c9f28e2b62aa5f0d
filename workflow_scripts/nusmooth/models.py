"""Base classifiers. Every model takes inputs in [0, 1] pixel space: normalisation is its first layer,
so sigma (and the noise) always lives in pixel units, whatever the dataset (Cohen's convention)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; the first layer of every model here."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MnistCNN(nn.Module):
    """The paper's MNIST / Fashion-MNIST CNN (PyTorch's MNIST example): two 3x3 convolutions, a max
    pool and two linear layers, for 1 x 28 x 28 inputs."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(9216, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


#: Architecture name -> constructor taking ``num_classes``. Other modules add their architectures here.
ARCHITECTURES: dict[str, Callable[[int], nn.Module]] = {"mnist_cnn": MnistCNN}


def build_model(arch: str, num_classes: int, mean: Sequence[float], std: Sequence[float]) -> nn.Sequential:
    """``Normalize(mean, std)`` followed by the named architecture."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    return nn.Sequential(Normalize(mean, std), ARCHITECTURES[arch](num_classes))


def save_checkpoint(path, model: nn.Module, arch: str, num_classes: int, mean, std, train_config: dict) -> None:
    """Save weights with everything needed to rebuild the model; loadable with ``weights_only=True``."""
    from .io import atomic_torch_save

    payload = {
        "arch": arch,
        "num_classes": num_classes,
        "mean": list(mean),
        "std": list(std),
        "train_config": train_config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_torch_save(payload, path)


def load_checkpoint(path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_checkpoint` on ``device`` (safe load: tensors only)."""
    payload = torch.load(path, map_location=device, weights_only=True)
    model = build_model(payload["arch"], payload["num_classes"], payload["mean"], payload["std"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload
