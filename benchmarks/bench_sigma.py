"""Sigma learning against its limit: SigmaOptimizer steps vs the raw forward+backward of the same model.

The limit is one forward and one backward pass of the base model on a batch of the same shape as a
step's noisy copies (``batch x copies`` inputs that require grad, loss = sum of the logits, parameters
frozen as SigmaOptimizer freezes them): the least work any gradient step on sigma must do. Both rates
are in noisy copies per second, measured alternately in one run (best of ``--rounds``), for the
paper's MNIST CNN and ResNet-110 (random weights, last layer scaled so that steps are not skipped).

``--baseline REV`` also measures the SigmaOptimizer of ``git show REV:workflow_scripts/nusmooth/surrogate.py``
in the same rounds (before / after a change). Run: ``python benchmarks/bench_sigma.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_certify import timed  # noqa: E402

from nusmooth.acceleration import forward_logits  # noqa: E402
from nusmooth.models import build_model  # noqa: E402
from nusmooth.registry import ARCHITECTURES, DATASETS  # noqa: E402
from nusmooth.runtime import keep_freed_memory_for_reuse  # noqa: E402
from nusmooth.surrogate import SigmaOptimizer  # noqa: E402

#: Initial sigma (pixel units): small, so that the copies keep the model's (forced) prediction.
BENCH_SIGMA = 0.01


def benchmark_model(arch: str, num_classes: int, device) -> torch.nn.Module:
    """The architecture with seeded random weights and the normalisation of its first dataset."""
    facts = next(facts for facts in DATASETS.values() if facts.arch == arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(arch, num_classes, facts.mean, facts.std)
    return model.to(device).eval()


@torch.no_grad()
def make_confident(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Shrink the last linear layer's logits into [-1/2, 1/2] on ``x`` and put class 0 ahead by
    ``log(classes) + 4``: its softmax is then about 0.9 whatever the number of classes, and a little
    noise does not change the vote. Returns class 0 as every label. A random-weight model's
    near-uniform softmax would make SigmaOptimizer skip every step (no example counted), and a
    skipped step has no backward pass to time."""
    last = [module for module in model.modules() if isinstance(module, torch.nn.Linear)][-1]
    if last.bias is None:
        raise ValueError("the benchmark model's last linear layer needs a bias")
    scale = 0.5 / float(model(x).abs().max().clamp_min(1e-6))
    last.weight.mul_(scale)
    last.bias.mul_(scale)
    last.bias[0] += math.log(last.out_features) + 4.0
    return torch.zeros(len(x), dtype=torch.long, device=x.device)


def forward_backward_rate(model, inputs: torch.Tensor, seconds: float, precision: str = "fp32") -> float:
    """Copies per second of one forward + backward (loss = sum of the logits) on ``inputs``."""
    inputs = inputs.detach().clone().requires_grad_(True)

    def one_pass():
        inputs.grad = None
        forward_logits(model, inputs, precision).sum().backward()

    return timed(one_pass, len(inputs), seconds, inputs.device)


def sigma_step_rate(optimizer, x: torch.Tensor, labels: torch.Tensor, copies: int, seconds: float) -> float:
    """Copies per second of ``optimizer.step`` on one mini-batch; fails if a step is skipped (no backward)."""

    def one_step():
        loss, counted = optimizer.step(x, labels)
        if loss is None:
            raise RuntimeError("a sigma step was skipped (no example counted): the rate would omit the backward pass")

    return timed(one_step, len(x) * copies, seconds, x.device)


def load_surrogate_at(revision: str):
    """The surrogate module as it was at git ``revision``, loaded inside the current package (its
    relative imports, if any, resolve to today's modules)."""
    source = subprocess.run(["git", "show", f"{revision}:workflow_scripts/nusmooth/surrogate.py"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="surrogate-")) / "surrogate_baseline.py"
    path.write_text(source)
    name = "nusmooth.surrogate_baseline"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def new_optimizer(optimizer_class, model, shape, copies, device, precision):
    """A SigmaOptimizer at BENCH_SIGMA; ``precision`` is passed only when it is not fp32, so that a
    ``--baseline`` revision whose SigmaOptimizer has no such argument can still be measured in fp32."""
    extra = {} if precision == "fp32" else {"precision": precision}
    return optimizer_class(model, shape, init_sigma=BENCH_SIGMA, lr=1e-3, gamma=0.5, num_copies=copies, device=device,
                           generator=torch.Generator(device=device).manual_seed(0), **extra)


def measure(arch: str, batch: int, copies: int, rounds: int, seconds: float, device, precision: str = "fp32",
            num_classes: int = 10, optimizer_classes: dict | None = None, prepare=None, shape=None, warm_up: bool = True) -> dict:
    """Best-of-``rounds`` rates (copies/s) of the limit and of each SigmaOptimizer class, alternated.
    ``prepare`` (e.g. ``nusmooth.acceleration.prepare_model`` with its options) is applied to the model
    first; ``shape`` replaces the architecture's input shape."""
    shape = shape or ARCHITECTURES[arch].input_shape
    model = benchmark_model(arch, num_classes, device)
    x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    labels = make_confident(model, x)
    if prepare is not None:
        model = prepare(model)
    optimizer_classes = optimizer_classes or {"current": SigmaOptimizer}
    optimizers = {name: new_optimizer(cls, model, shape, copies, device, precision) for name, cls in optimizer_classes.items()}
    copies_batch = x.repeat_interleave(copies, dim=0)
    rates = {"limit": [], **{name: [] for name in optimizers}}
    if warm_up:  # allocator, kernel selection
        forward_backward_rate(model, copies_batch, 0.0, precision)
        for optimizer in optimizers.values():
            sigma_step_rate(optimizer, x, labels, copies, 0.0)
    # Alternate and keep the best of each: other processes on a shared machine only slow a run down.
    for _ in range(rounds):
        rates["limit"].append(forward_backward_rate(model, copies_batch, seconds, precision))
        for name, optimizer in optimizers.items():
            rates[name].append(sigma_step_rate(optimizer, x, labels, copies, seconds))
    best = {name: max(values) for name, values in rates.items()}
    return {"limit": best["limit"], **{name: {"rate": best[name], "ratio": best[name] / best["limit"]} for name in optimizers}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each timed slice")
    parser.add_argument("--mnist-batch", type=int, default=16, help="examples per step for the MNIST CNN")
    parser.add_argument("--mnist-copies", type=int, default=64, help="noisy copies per example (paper: 64)")
    parser.add_argument("--resnet-batch", type=int, default=2, help="examples per step for ResNet-110")
    parser.add_argument("--resnet-copies", type=int, default=16, help="noisy copies per example (paper: 32)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--baseline", help="git revision whose SigmaOptimizer is measured alongside (e.g. HEAD)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory_for_reuse()
    device = torch.device("cpu")
    classes = {"current": SigmaOptimizer}
    if args.baseline:
        classes = {f"at {args.baseline}": load_surrogate_at(args.baseline).SigmaOptimizer, **classes}
    print(f"threads={args.threads} rounds={args.rounds} seconds={args.seconds} precision={args.precision} device={device}")
    for arch, batch, copies in (("mnist_cnn", args.mnist_batch, args.mnist_copies), ("resnet110", args.resnet_batch, args.resnet_copies)):
        result = measure(arch, batch, copies, args.rounds, args.seconds, device, args.precision, optimizer_classes=classes)
        line = f"{arch:10s} {batch}x{copies} copies  forward+backward limit {result['limit']:10,.0f} copies/s"
        for name in classes:
            line += f"  | {name}: {result[name]['rate']:10,.0f} copies/s ratio {result[name]['ratio']:.3f}"
        print(line)


if __name__ == "__main__":
    main()
