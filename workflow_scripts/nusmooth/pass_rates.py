"""Passes per second of each kind (``nusmooth.cost.PASS_KINDS``) of the paper's architectures on this
machine, random weights: what a stage costs here, per pass. Sizes are moderate so that the whole
measurement takes about a minute on two CPU cores; each rate is the best of ``rounds`` timed slices
of at least ``seconds`` after one warm-up call."""

from __future__ import annotations

import time

import torch

from .networks import build_model
from .registry import ARCHITECTURES

#: Batch of each kind per architecture: noisy copies per forward pass, copies per sigma step
#: (forward + backward to the inputs), training images per step.
BATCHES = {
    "mnist_cnn": {"forward": 1000, "forward_backward": 1024, "training": 128},
    "resnet110": {"forward": 100, "forward_backward": 64, "training": 32},
    "resnet50": {"forward": 8, "forward_backward": 8, "training": 8},
}


def _rate(step, batch: int, seconds: float, rounds: int) -> float:
    step()  # warm-up: allocations, kernel choice
    best = 0.0
    for _ in range(rounds):
        calls, started = 0, time.perf_counter()
        while True:
            step()
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
        best = max(best, calls * batch / elapsed)
    return best


def measure(arch: str, *, seconds: float = 2.0, rounds: int = 2, seed: int = 0) -> dict[str, float]:
    """Passes per second of each kind for ``arch`` (float32, on the CPU)."""
    torch.manual_seed(seed)
    shape, batches = ARCHITECTURES[arch].input_shape, BATCHES[arch]
    channels = shape[0]
    model = build_model(arch, ARCHITECTURES[arch].benchmark_classes, [0.5] * channels, [0.25] * channels)
    image = torch.rand(1, *shape)
    sigma = torch.full(shape, 0.25)

    model.eval()

    def forward():
        with torch.no_grad():
            noisy = image + torch.randn(batches["forward"], *shape) * sigma
            model(noisy).argmax(dim=1)

    def forward_backward():
        noisy = (image + torch.randn(batches["forward_backward"], *shape) * sigma).requires_grad_(True)
        model(noisy).softmax(dim=1)[:, 0].mean().backward()

    rates = {"forward": _rate(forward, batches["forward"], seconds, rounds)}
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    rates["forward_backward"] = _rate(forward_backward, batches["forward_backward"], seconds, rounds)
    for parameter in model.parameters():
        parameter.requires_grad_(True)

    model.train()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    images = torch.rand(batches["training"], *shape)
    labels = torch.randint(0, ARCHITECTURES[arch].benchmark_classes, (batches["training"],))

    def training():
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rates["training"] = _rate(training, batches["training"], seconds, rounds)
    return rates
