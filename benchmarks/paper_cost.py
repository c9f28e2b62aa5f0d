"""The paper preset's cost before anyone submits it: work per stage and per figure counted from the
configuration (nusmooth.cost), hours on this CPU and on a GPU, and each GPU job's SLURM runtime.

    python benchmarks/paper_cost.py                                   # work, GPU hours at the assumed rate
    python benchmarks/paper_cost.py --rates results/cost/pass_rates.json   # + CPU hours (rule measure_pass_rates)
    python benchmarks/paper_cost.py --device-check gpu.json           # GPU hours at a device check's rates

Prints Markdown tables (the same as docs/results.md's "The paper preset's cost"), then the ratio of the
full sweep's work to this pipeline's for Figures 2 and 4 of every dataset: first for all their GPU work
(sigma learning included, which racing does not change), last for the forward passes of the
validation and test sweeps (the work that racing and certifying only the fronts on test change)."""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))

from nusmooth.provenance import read_preset  # noqa: E402
from nusmooth.results_doc import paper_cost_tables, saving_lines  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", type=Path, default=REPO / "presets" / "paper.yaml")
    parser.add_argument("--rates", type=Path, help="results/cost/pass_rates.json of a run (CPU per-pass rates)")
    parser.add_argument("--device-check", type=Path, help="JSON written by benchmarks/device_check.py --out on a GPU")
    args = parser.parse_args(argv)
    cpu = json.loads(args.rates.read_text())["rates"] if args.rates else None
    gpu = json.loads(args.device_check.read_text()) if args.device_check else None
    preset = read_preset(args.preset)
    print(paper_cost_tables(preset, cpu, gpu))
    print()
    print("\n".join(saving_lines(preset)))


if __name__ == "__main__":
    main()
