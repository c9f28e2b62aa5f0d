"""Certification throughput against the raw forward rate of the same model (the limit).

Prints, measured in one run: the batched forward rate of the base model on noisy inputs (noise
drawn and added per batch, argmax taken: the least work any sampler must do), and the rate of
``certify_many`` on many test points (n0 + n noisy copies each) as a ratio to that limit, for the
paper's MNIST CNN and for a tiny linear model. The limit runs the same model object on batches of
the same size, layout (contiguous NCHW), content (copies of one point) and autograd mode (none) as
``certify_many``'s, so the model takes the same path (the MNIST CNN's pool included) and the ratio
stays at or below 1 within noise. Each round times the two back to back (order alternating
between rounds); the ratio printed is the median of the rounds' ratios, with their minimum and
maximum as its noise. ``--clock cpu`` times this process's CPU seconds instead of wall seconds:
steadier on a busy shared machine (with ``--threads 1``). Run: ``python benchmarks/bench_certify.py``.
The rate functions take a device and a precision; ``benchmarks/device_check.py`` reuses them on a GPU.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow_scripts"))
from nusmooth.forward import forward_logits  # noqa: E402
from nusmooth.networks import build_model  # noqa: E402
from nusmooth.memory import keep_freed_memory_for_reuse  # noqa: E402
from nusmooth.smoothing import NonUniformSmoothing  # noqa: E402


def tiny_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock reading covers it (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: What the rates are measured in: wall seconds (the default, and the only one that means anything
#: on a GPU), or this process's CPU seconds, which leave out the time slices a busy shared machine
#: gives to other processes (meaningful with one thread: spinning worker threads would count too).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def use_clock(name: str) -> None:
    """Measure every later rate of this process on ``CLOCKS[name]``."""
    global _clock
    _clock = CLOCKS[name]


def add_clock_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall seconds, or this process's CPU seconds (steadier on a busy machine; use with --threads 1)",
    )


def timed(call, items_per_call: int, seconds: float, device: torch.device) -> float:
    """Items per second of ``call()`` repeated for about ``seconds`` (at least once)."""
    synchronize(device)
    done, start = 0, _clock()
    while True:
        call()
        done += items_per_call
        if _clock() - start >= seconds:
            break
    synchronize(device)
    return done / (_clock() - start)


def alternate(rounds: int, measurements: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each measurement's result, ``rounds`` times: in the given order on even rounds, reversed on odd
    ones, so that a machine that speeds up or slows down during a round favours none of them."""
    results: dict[str, list[float]] = {name: [] for name in measurements}
    for index in range(rounds):
        for name in list(measurements)[:: 1 if index % 2 == 0 else -1]:
            results[name].append(measurements[name]())
    return results


def paired_ratios(rates: list[float], limits: list[float]) -> dict:
    """Median, minimum and maximum of ``rates[i] / limits[i]`` over the rounds. A round's two rates
    are timed back to back, so the speed of a shared machine, which drifts by tens of percent within
    a minute, cancels in their ratio; the spread over the rounds is the noise left."""
    ratios = sorted(rate / limit for rate, limit in zip(rates, limits, strict=True))
    return {"ratio": statistics.median(ratios), "ratio_min": ratios[0], "ratio_max": ratios[-1]}


def describe_ratio(result: dict) -> str:
    """``ratio 0.97 (min 0.93, max 1.02)`` from :func:`paired_ratios`' keys."""
    return f"ratio {result['ratio']:.3f} (min {result['ratio_min']:.3f}, max {result['ratio_max']:.3f})"


@torch.no_grad()
def forward_rate(
    model, shape, sigma, batch_size, seconds, generator, precision="fp32", device=torch.device("cpu")
) -> float:
    """Noisy copies per second of the least work any sampler must do: fresh noise per batch
    (``randn`` into a buffer, ``x + sigma * z`` fused), one forward pass (under ``precision``), argmax.

    Every batch holds copies of one point, as certify_many's do (a batch is consecutive copies of a
    point, of a few when the count per point is below the batch size): adding the noise then reads
    one cached row, not a batch of distinct points, which was slower than the code it bounds."""
    x = torch.rand(1, *shape, device=device).view(1, -1)
    flat_sigma = sigma.to(device).reshape(-1)
    noise = torch.empty(batch_size, x.shape[1], device=device)
    noisy = torch.empty_like(noise)

    def one_batch():
        torch.randn(noise.shape, generator=generator, out=noise, device=device)
        torch.addcmul(x, noise, flat_sigma, out=noisy)
        forward_logits(model, noisy.view(batch_size, *shape), precision).argmax(1)

    return timed(one_batch, batch_size, seconds, device)


def certify_rate(
    model,
    shape,
    sigma,
    points,
    n0,
    n,
    batch_size,
    generator,
    precision="fp32",
    device=torch.device("cpu"),
    num_classes=10,
) -> float:
    """Noisy copies per second of certify_many on ``points`` test points."""
    smoothing = NonUniformSmoothing(model, num_classes, sigma.to(device), precision)
    x = torch.rand(points, *shape, device=device)
    synchronize(device)
    start = _clock()
    smoothing.certify_many(x, n0=n0, n=n, alpha=0.001, batch_size=batch_size, generator=generator)
    return points * (n0 + n) / (_clock() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each forward-rate measurement")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of limit and certify back to back (order alternating)"
    )
    add_clock_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    keep_freed_memory_for_reuse()
    generator = torch.Generator().manual_seed(0)
    shape = (1, 28, 28)
    sigma = torch.full(shape, 0.25)
    models = {
        "paper MNIST CNN": (build_model("mnist_cnn", 10, [0.1307], [0.3081]).eval(), 10),
        "tiny linear": (tiny_model().eval(), 300),
    }
    print(
        f"threads={args.threads} clock={args.clock} rounds={args.rounds} seconds={args.seconds} batch={args.batch_size} n0={args.n0} n={args.n}"
    )
    for name, (model, points) in models.items():
        forward_rate(model, shape, sigma, args.batch_size, 1.0, generator)  # warm-up (allocator, kernels)
        certify_rate(model, shape, sigma, points, args.n0, args.n, args.batch_size, generator)
        rates = alternate(
            args.rounds,
            {
                "limit": lambda: forward_rate(model, shape, sigma, args.batch_size, args.seconds, generator),
                "certify": lambda: certify_rate(
                    model, shape, sigma, points, args.n0, args.n, args.batch_size, generator
                ),
            },
        )
        # Best rates: other processes on a shared machine only ever slow a run down.
        print(
            f"{name:16s} forward limit {max(rates['limit']):12,.0f} copies/s  certify {max(rates['certify']):12,.0f} copies/s  "
            f"{describe_ratio(paired_ratios(rates['certify'], rates['limit']))}  ({points} points, {args.rounds} rounds)"
        )


if __name__ == "__main__":
    main()
