"""Sigma learning against its limit: SigmaOptimizer steps vs the least work any step on sigma must do.

The limit is that work on the batch a step builds, with the same model object: fresh noise for each
of the ``batch x copies`` copies, added as the step adds it (``x + noise * sigma``, flattened to
contiguous NCHW), one forward pass, and one backward pass (loss = sum of the logits) to the noisy
inputs only, inside the same :func:`nusmooth.surrogate.frozen` that SigmaOptimizer uses: no
parameter takes a gradient, so no weight gradient is computed (an earlier limit computed them, did
about 1.4 times a step's work and was beaten by the code it bounded). The inputs require grad as
the step's noisy copies do, so the model takes the same path (the MNIST CNN's channels-last pool).
What a step adds to this is its own cost: the softmax, the majority vote, the reduction of the
input gradient to sigma and the Adam update.

Both rates are in noisy copies per second, timed back to back in each of ``--rounds`` rounds (order
alternating between rounds), for the paper's MNIST CNN and ResNet-110 (random weights, last layer
scaled so that steps are not skipped). The ratio printed is the median of the rounds' ratios, with
their minimum and maximum as its noise; at or below 1 within that noise. ``--clock cpu`` times this
process's CPU seconds instead of wall seconds: steadier on a busy shared machine (with ``--threads 1``).

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
from bench_certify import add_clock_option, alternate, describe_ratio, paired_ratios, timed, use_clock  # noqa: E402

from nusmooth.forward import forward_logits  # noqa: E402
from nusmooth.networks import build_model  # noqa: E402
from nusmooth.registry import ARCHITECTURES, DATASETS  # noqa: E402
from nusmooth.memory import keep_freed_memory_for_reuse  # noqa: E402
from nusmooth.surrogate import SigmaOptimizer, frozen  # noqa: E402

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


def forward_backward_rate(
    model,
    x: torch.Tensor,
    copies: int,
    sigma: torch.Tensor,
    seconds: float,
    generator: torch.Generator,
    precision: str = "fp32",
) -> float:
    """Copies per second of the limit (module docstring): noise for ``copies`` copies of each example of
    ``x`` drawn and added as a step does, forward, and backward to the noisy copies only, parameters frozen."""

    def one_pass():
        noise = torch.randn((len(x), copies, *x.shape[1:]), generator=generator, device=x.device, dtype=x.dtype)
        noisy = (x.unsqueeze(1) + noise * sigma).flatten(0, 1).requires_grad_(True)
        with frozen(model):
            forward_logits(model, noisy, precision).sum().backward()

    return timed(one_pass, len(x) * copies, seconds, x.device)


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
    source = subprocess.run(
        ["git", "show", f"{revision}:workflow_scripts/nusmooth/surrogate.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
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
    return optimizer_class(
        model,
        shape,
        init_sigma=BENCH_SIGMA,
        lr=1e-3,
        gamma=0.5,
        num_copies=copies,
        device=device,
        generator=torch.Generator(device=device).manual_seed(0),
        **extra,
    )


def measure(
    arch: str,
    batch: int,
    copies: int,
    rounds: int,
    seconds: float,
    device,
    precision: str = "fp32",
    num_classes: int = 10,
    optimizer_classes: dict | None = None,
    prepare=None,
    shape=None,
    warm_up: bool = True,
) -> dict:
    """The limit's and each SigmaOptimizer class's rates (copies/s), timed back to back in each round.
    Returns the best limit rate under ``"limit"`` and, per class, its best rate and the median,
    minimum and maximum of its per-round ratio to the limit (:func:`bench_certify.paired_ratios`).
    ``prepare`` (e.g. ``nusmooth.forward.prepare_model`` with its options) is applied to the
    model first; ``shape`` replaces the architecture's input shape."""
    shape = shape or ARCHITECTURES[arch].input_shape
    model = benchmark_model(arch, num_classes, device)
    x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    labels = make_confident(model, x)
    if prepare is not None:
        model = prepare(model)
    optimizer_classes = optimizer_classes or {"current": SigmaOptimizer}
    optimizers = {
        name: new_optimizer(cls, model, shape, copies, device, precision) for name, cls in optimizer_classes.items()
    }
    sigma = torch.full(shape, BENCH_SIGMA, device=device)
    generator = torch.Generator(device=device).manual_seed(1)
    measurements = {"limit": lambda: forward_backward_rate(model, x, copies, sigma, seconds, generator, precision)}
    for name, optimizer in optimizers.items():
        measurements[name] = lambda optimizer=optimizer: sigma_step_rate(optimizer, x, labels, copies, seconds)
    if warm_up:  # allocator, kernel selection
        forward_backward_rate(model, x, copies, sigma, 0.0, generator, precision)
        for optimizer in optimizers.values():
            sigma_step_rate(optimizer, x, labels, copies, 0.0)
    rates = alternate(rounds, measurements)
    # Best rates: other processes on a shared machine only ever slow a run down.
    return {
        "limit": max(rates["limit"]),
        **{name: {"rate": max(rates[name]), **paired_ratios(rates[name], rates["limit"])} for name in optimizers},
    }


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
    add_clock_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    keep_freed_memory_for_reuse()
    device = torch.device("cpu")
    classes = {"current": SigmaOptimizer}
    if args.baseline:
        classes = {f"at {args.baseline}": load_surrogate_at(args.baseline).SigmaOptimizer, **classes}
    print(
        f"threads={args.threads} clock={args.clock} rounds={args.rounds} seconds={args.seconds} precision={args.precision} device={device}; "
        "ratio = median over rounds (min, max)"
    )
    for arch, batch, copies in (
        ("mnist_cnn", args.mnist_batch, args.mnist_copies),
        ("resnet110", args.resnet_batch, args.resnet_copies),
    ):
        result = measure(
            arch, batch, copies, args.rounds, args.seconds, device, args.precision, optimizer_classes=classes
        )
        line = (
            f"{arch:10s} {batch}x{copies} copies  noise+forward+input-gradient limit {result['limit']:10,.0f} copies/s"
        )
        for name in classes:
            line += f"  | {name}: {result[name]['rate']:10,.0f} copies/s {describe_ratio(result[name])}"
        print(line)


if __name__ == "__main__":
    main()
