"""What bf16 does to Figure 1: certify a finished run's Figure-1 sigmas in fp32 and in bf16.

Reads a working directory where the default run (or any run) made Figure 1 (`results/models`,
`results/data`, `results/certify/<dataset>/fig1_init_*/sigmas.pt`), certifies the same test points
with the same noise stream in both precisions, and prints per sigma the certified accuracy (correct
with O_CA >= each area) for each, the number of points whose prediction or certification differs,
and the binomial standard error of an accuracy at that number of points, so that a difference can be
read against sampling noise. Run on demand:

    python benchmarks/precision_effect.py --run DIR [--dataset mnist5k] [--inits 0.25] [--n 1000]

On a CPU without bf16 instructions bf16 is emulated and about ten times slower than fp32.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow_scripts"))
from nusmooth.artifacts import DATASET  # noqa: E402
from nusmooth.records import certified_accuracy_curve, certify_split  # noqa: E402
from nusmooth.registry import SIGMA_KINDS  # noqa: E402
from nusmooth.io import load_artifact  # noqa: E402
from nusmooth.checkpoints import load_checkpoint  # noqa: E402
from nusmooth.memory import keep_freed_memory_for_reuse  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="working directory of a finished run")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--inits", nargs="+", default=["0.25"], help="Figure-1 constants to certify")
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--areas", type=float, nargs="+", default=[-600.0, -400.0, -200.0, 0.0, 200.0])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory_for_reuse()
    results = args.run / "results"
    dataset = DATASET.load(results / "data" / args.dataset / "dataset.pt")
    model, _ = load_checkpoint(results / "models" / args.dataset / "model.pt")
    split = dataset.splits["test"]
    thresholds = np.array([-np.inf, *args.areas])
    print(
        f"{args.dataset}: {args.points} test points, n0={args.n0}, n={args.n}, alpha={args.alpha}; "
        f"standard error of an accuracy near 0.9 at this size: {np.sqrt(0.09 / args.points):.3f}"
    )
    print(
        f"{'sigma':28s} {'precision':9s} "
        + " ".join(f"{'clean' if t == -np.inf else f'>={t:g}':>8s}" for t in thresholds)
        + "   seconds"
    )
    for init in args.inits:
        sigmas = load_artifact(
            results / "certify" / args.dataset / f"fig1_init_{init}" / "sigmas.pt", "select_fig1_sigma"
        )
        for kind in SIGMA_KINDS:
            tables = {}
            for precision in ("fp32", "bf16"):
                start = time.perf_counter()
                generator = torch.Generator().manual_seed(0)  # the same noise for both precisions
                tables[precision] = certify_split(
                    model,
                    split,
                    sigmas[kind],
                    num_classes=len(dataset.classes),
                    n0=args.n0,
                    n=args.n,
                    alpha=args.alpha,
                    batch_size=1000,
                    limit=args.points,
                    device="cpu",
                    generator=generator,
                    precision=precision,
                )
                curve = certified_accuracy_curve(tables[precision], thresholds)
                print(
                    f"{f'{kind} (init {init})':28s} {precision:9s} "
                    + " ".join(f"{v:8.3f}" for v in curve)
                    + f"   {time.perf_counter() - start:7.1f}"
                )
            fp32, bf16 = tables["fp32"], tables["bf16"]
            print(
                f"{'':28s} differing predictions: {(fp32['predict'] != bf16['predict']).sum()}, "
                f"differing certified-correct: {(fp32['correct'] != bf16['correct']).sum()}, "
                f"largest |O_CA difference| where both certify: "
                f"{np.nanmax(np.abs(np.where(fp32['correct'] & bf16['correct'], fp32['certified_area'] - bf16['certified_area'], np.nan))):.3f}"
            )


if __name__ == "__main__":
    main()
