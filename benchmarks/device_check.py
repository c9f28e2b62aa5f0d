"""One device check: sampling and sigma-learning rates against their limits, and the paper's GPU-hours.

For each architecture (the paper's MNIST CNN at 1x28x28, ResNet-110 at 3x32x32, ResNet-50 at
3x224x224; random weights) and each precision (fp32, bf16), measured in alternating timed slices:

- ``limit_copies_per_s``: noise drawn and added + one forward pass + argmax, per noisy copy;
- ``certify_ratio``: ``certify_many`` (n0 + n copies per point, the paper's Figure-1 n0 and n) / limit;
- ``sigma_ratio``: ``SigmaOptimizer`` steps / noise + forward + backward to the noisy inputs of the same
  batch, parameters frozen (see bench_sigma.py);
- both ratios are the median over the rounds of the two rates timed back to back, ``*_ratio_min`` and
  ``*_ratio_max`` their spread;
- ``train_images_per_s``: base-model training steps (forward under the precision, backward, optimiser).

From these rates and the paper preset (``presets/paper.yaml``, dataset sizes from
``nusmooth.registry``), the hours each stage and each figure of the paper's full run would take on
this device. Prints one JSON object on stdout (progress on stderr).

Run on a GPU: ``python benchmarks/device_check.py`` (planned for about 5 minutes on one modern GPU, at most 8; a smoke test
of the whole check on a CPU: ``--quick``, under 2 minutes). Options: ``--out FILE`` also writes the
JSON to a file; ``--compile`` measures ``torch.compile``d models; ``--no-channels-last``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))
import bench_sigma  # noqa: E402
from bench_certify import certify_rate, forward_rate, paired_ratios, timed  # noqa: E402

from nusmooth.cost import arch_of, figure_work, limited, measured_rates, split_sizes, stage_work  # noqa: E402
from nusmooth.forward import PRECISIONS, configure_backends, forward_logits, prepare_model  # noqa: E402
from nusmooth.registry import ARCHITECTURES  # noqa: E402
from nusmooth.memory import keep_freed_memory_for_reuse  # noqa: E402

CHECKED_ARCHITECTURES = ("mnist_cnn", "resnet110", "resnet50")
PAPER_PRESET = REPO / "presets" / "paper.yaml"


@dataclass(frozen=True)
class Effort:
    """How long and how large the timed slices are."""

    seconds: float  # each timed slice runs at least this long (0: one call)
    rounds: int  # alternating limit / measured rounds, best of each kept
    certify_batch: int  # noisy copies per forward pass while counting (config certify_batch_size)
    quick: bool  # a smoke test: tiny batches, no warm-up, ResNet-50 at QUICK_RESNET50_SHAPE

    def batch(self, paper_value: int, quick_value: int) -> int:
        return quick_value if self.quick else paper_value

    def shape(self, arch: str) -> tuple[int, ...]:
        return QUICK_RESNET50_SHAPE if self.quick and arch == "resnet50" else ARCHITECTURES[arch].input_shape


FULL = Effort(seconds=2.0, rounds=2, certify_batch=1000, quick=False)
QUICK = Effort(seconds=0.0, rounds=1, certify_batch=2, quick=True)
#: ResNet-50's input in quick runs: 224 x 224 alone would take minutes on two CPU cores in bf16.
QUICK_RESNET50_SHAPE = (3, 32, 32)


# --- the paper's workload ----------------------------------------------------------------------------


def workload(name: str, block: dict) -> dict:
    """The counts that decide the cost of every stage of dataset ``name`` in the preset."""
    sizes = split_sizes(name, block)
    model, sigma, sweep, fig1 = block["model"], block["sigma"], block["sweep_eval"], block["fig1"]
    return {
        "arch": arch_of(name, block),
        "sizes": sizes,
        "train_epochs": 0 if model.get("pretrained") else int(model["epochs"]),
        "train_batch": int(model["batch_size"]),
        "optimizer": model.get("optimizer", "adam"),
        "inits": len(sigma["inits"]),
        "sub_epochs": int(sigma["sub_epochs"]),
        "sigma_batch": int(sigma["batch_size"]),
        "n_train": int(sigma["n_train"]),
        "sigma_points": limited(sizes["train"], sigma.get("train_points")),
        "sweep_copies": int(sweep["n0"]) + int(sweep["n"]),
        "sweep_points": limited(sizes["val"], sweep.get("val_points"))
        + limited(sizes["test"], sweep.get("test_points")),
        "fig1_inits": len(fig1["inits"]),
        "fig1_n0": int(fig1["n0"]),
        "fig1_n": int(fig1["n"]),
        "fig1_copies": int(fig1["n0"]) + int(fig1["n"]),
        "fig1_points": limited(sizes["test"], fig1.get("test_points")),
    }


def paper_workloads(preset_path: Path = PAPER_PRESET) -> dict[str, dict]:
    preset = yaml.safe_load(preset_path.read_text())
    return {name: workload(name, preset["datasets"][name]) for name in preset["run_datasets"]}


def stage_hours(name: str, block: dict, rates: dict) -> dict[str, float]:
    """Hours of each GPU rule of one dataset (all its jobs, nusmooth.cost's work) at ``rates``."""
    return {rule: work.seconds(rates) / 3600 for rule, work in stage_work(name, block).items()}


def figure_hours(name: str, block: dict, rates: dict) -> dict[str, float]:
    """Hours of each figure of one dataset counted alone (every figure needs the base model), and
    of everything at once (``all``: training and Figure 1's sweeps shared)."""
    return {figure: work.seconds(rates) / 3600 for figure, work in figure_work(name, block).items()}


# --- measurements ------------------------------------------------------------------------------------


def first_workload(workloads: dict, arch: str, needs: str | None = None) -> dict:
    """The first dataset's workload using ``arch`` (and, with ``needs``, a non-zero value there)."""
    return next(w for w in workloads.values() if w["arch"] == arch and (needs is None or w[needs]))


def train_rate(arch: str, batch: int, optimizer_name: str, precision: str, device, effort: Effort, prepare) -> float:
    """Images per second of base-model training steps (cross-entropy, backward, optimiser step)."""
    model = prepare(bench_sigma.benchmark_model(arch, ARCHITECTURES[arch].benchmark_classes, device).train())
    optimizers = {"adadelta": torch.optim.Adadelta, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    optimizer = optimizers[optimizer_name](model.parameters(), lr=1e-3)
    x = torch.rand(batch, *effort.shape(arch), device=device)
    labels = torch.randint(0, ARCHITECTURES[arch].benchmark_classes, (batch,), device=device)

    def one_step():
        loss = torch.nn.functional.cross_entropy(forward_logits(model, x, precision), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if not effort.quick:
        timed(one_step, batch, 0.0, device)  # warm-up
    return timed(one_step, batch, effort.seconds, device)


def points_filling_whole_batches(wanted: float, n0: int, n: int, batch: int) -> int:
    """About ``wanted`` points (at least one step), rounded so that both the n0 and the n copies of all
    points fill whole batches: a partial last batch would be a new shape, which cuDNN autotuning
    would time inside the measurement."""
    step = math.lcm(batch // math.gcd(batch, n0), batch // math.gcd(batch, n))
    return step * max(1, round(wanted / step))


def certify_rates(arch: str, n0: int, n: int, precision: str, device, effort: Effort, prepare) -> dict:
    """The noise+forward limit and certify_many's rate, back to back per round: the best of each and
    the median (min, max) of the rounds' ratios."""
    shape = effort.shape(arch)
    model = prepare(bench_sigma.benchmark_model(arch, ARCHITECTURES[arch].benchmark_classes, device))
    sigma = torch.full(shape, 0.25)
    generator = torch.Generator(device=device).manual_seed(0)
    if not effort.quick:
        forward_rate(model, shape, sigma, effort.certify_batch, 0.0, generator, precision, device)  # warm-up
    limits, rates = [], []
    for _ in range(effort.rounds):
        limits.append(
            forward_rate(model, shape, sigma, effort.certify_batch, effort.seconds, generator, precision, device)
        )
        points = points_filling_whole_batches(limits[-1] * effort.seconds / (n0 + n), n0, n, effort.certify_batch)
        rates.append(
            certify_rate(
                model,
                shape,
                sigma,
                points,
                n0,
                n,
                effort.certify_batch,
                generator,
                precision,
                device,
                ARCHITECTURES[arch].benchmark_classes,
            )
        )
    ratios = paired_ratios(rates, limits)
    return {
        "limit_copies_per_s": max(limits),
        "certify_copies_per_s": max(rates),
        **{key.replace("ratio", "certify_ratio"): value for key, value in ratios.items()},
    }


def measure_architecture(
    arch: str, precision: str, workloads: dict, device, effort: Effort, channels_last: bool, compile: bool
) -> dict:
    """Every rate of one architecture under one precision, with the preset's batch shapes."""
    started = time.perf_counter()
    options = {"channels_last": channels_last, "compile": compile}

    def prepare(model):
        return prepare_model(model, **options)

    work, train_work = first_workload(workloads, arch), first_workload(workloads, arch, needs="train_epochs")
    rates = certify_rates(
        arch, effort.batch(work["fig1_n0"], 1), effort.batch(work["fig1_n"], 1), precision, device, effort, prepare
    )
    sigma = bench_sigma.measure(
        arch,
        effort.batch(work["sigma_batch"], 1),
        effort.batch(work["n_train"], 2),
        effort.rounds,
        effort.seconds,
        device,
        precision,
        ARCHITECTURES[arch].benchmark_classes,
        prepare=prepare,
        shape=effort.shape(arch),
        warm_up=not effort.quick,
    )
    rates.update(
        sigma_copies_per_s=sigma["current"]["rate"],
        forward_backward_copies_per_s=sigma["limit"],
        train_images_per_s=train_rate(
            arch,
            effort.batch(train_work["train_batch"], 2),
            train_work["optimizer"],
            precision,
            device,
            effort,
            prepare,
        ),
    )
    rates.update(
        sigma_ratio=sigma["current"]["ratio"],
        sigma_ratio_min=sigma["current"]["ratio_min"],
        sigma_ratio_max=sigma["current"]["ratio_max"],
        options=options,
        seconds_measuring=time.perf_counter() - started,
    )
    return rates


# --- the report ------------------------------------------------------------------------------------------


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def goals(measured: dict, hours: dict) -> dict:
    """The GPU goals, each with its numbers and whether this run met it."""
    certify = {
        f"{arch}/{precision}": round(r["certify_ratio"], 3)
        for arch, per in measured.items()
        for precision, r in per.items()
    }
    speedup = {
        arch: measured[arch]["bf16"]["limit_copies_per_s"] / measured[arch]["fp32"]["limit_copies_per_s"]
        for arch in ("resnet110", "resnet50")
        if arch in measured
    }
    mnist_sweep = {precision: per["stages"]["optimize_sigma"] for precision, per in hours.get("mnist", {}).items()}
    return {
        "certify_at_least_0.9_of_limit": {
            "values": certify,
            "met": bool(certify) and all(v >= 0.9 for v in certify.values()),
        },
        "bf16_at_least_2x_fp32_on_resnets": {
            "values": {k: round(v, 3) for k, v in speedup.items()},
            "met": bool(speedup) and all(v >= 2 for v in speedup.values()),
        },
        "mnist_figure2_sweep_under_1_hour": {
            "values": {k: round(v, 4) for k, v in mnist_sweep.items()},
            "met_with": [k for k, v in mnist_sweep.items() if v < 1],
        },
    }


def run(device: torch.device, effort: Effort, channels_last: bool, compile: bool, log=sys.stderr) -> dict:
    configure_backends(device, cudnn_benchmark=True)
    preset = yaml.safe_load(PAPER_PRESET.read_text())
    workloads = paper_workloads()
    measured: dict[str, dict] = {}
    for arch in CHECKED_ARCHITECTURES:
        measured[arch] = {}
        for precision in PRECISIONS:
            measured[arch][precision] = measure_architecture(
                arch, precision, workloads, device, effort, channels_last, compile
            )
            print(f"{arch} {precision}: {json.dumps(measured[arch][precision])}", file=log, flush=True)
    hours = {}
    for name, work in workloads.items():
        hours[name] = {}
        for precision in PRECISIONS:
            rates = measured_rates(measured[work["arch"]][precision])
            block = preset["datasets"][name]
            hours[name][precision] = {
                "stages": stage_hours(name, block, rates),
                "figures": figure_hours(name, block, rates),
            }
    return {
        "machine": machine(device),
        "device": str(device),
        "torch": torch.__version__,
        "quick": effort.quick,
        "note": "rates in noisy copies (or training images) per second; quick runs use tiny batches and single "
        "calls, so their rates and hours show that the check runs, not what the device can do",
        "settings": {
            "seconds_per_slice": effort.seconds,
            "rounds": effort.rounds,
            "certify_batch": effort.certify_batch,
        },
        "architectures": {
            arch: {"input_shape": list(effort.shape(arch)), "precisions": per} for arch, per in measured.items()
        },
        "workloads": workloads,
        "hours": hours,
        "goals": goals(measured, hours),
        "goals_apply": device.type == "cuda" and not effort.quick,
    }


def significant(value, digits: int = 4):
    """``value`` with every float rounded to ``digits`` significant digits (timings are not more precise)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: significant(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [significant(item, digits) for item in value]
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny batches and single calls: a smoke test, also on a CPU"
    )
    parser.add_argument("--device", help="cuda or cpu (default: cuda when visible)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the timed models")
    parser.add_argument("--no-channels-last", action="store_true", help="keep the ResNets' weights NCHW")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory_for_reuse()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    report = run(device, QUICK if args.quick else FULL, not args.no_channels_last, args.compile)
    text = json.dumps(significant(report), indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
