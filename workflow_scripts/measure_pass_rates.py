"""measure_pass_rates: passes per second of each kind (forward, forward + backward to the inputs,
training) of the paper's three architectures on this machine, for docs/results.md's cost table."""

import platform

import torch
from stage import run_stage

from nusmooth.artifacts import PASS_RATES
from nusmooth.pass_rates import BATCHES, measure


def main(snakemake):
    rates = {}
    for arch in BATCHES:
        rates[arch] = measure(arch)
        print(arch, rates[arch], flush=True)
    machine = f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    PASS_RATES.save({"machine": machine, "batches": BATCHES, "rates": rates}, snakemake.output.rates)


run_stage(snakemake, main)
