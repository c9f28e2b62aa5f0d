"""choose_fronts: each kind's Figure 2 (or 4) front of one dataset, chosen on the validation metrics
of every sweep (the blanket over the candidates with every validation point), and the members the test
split certifies: at most sweep_eval.test_front_members per kind, spread evenly along the front's
validation mean area (nusmooth.fronts). Reads no test metric."""

import pandas as pd
from stage import run_stage

from nusmooth.artifacts import SWEEP_METRICS, VAL_FRONTS
from nusmooth.fronts import choose_fronts


def main(snakemake):
    validation = pd.concat([SWEEP_METRICS.load(path) for path in snakemake.input.metrics], ignore_index=True)
    fronts = choose_fronts(validation, test_front_members=snakemake.params.test_front_members)
    for kind, chosen in fronts["kinds"].items():
        print(f"{kind}: {len(chosen['front'])} member(s) on the validation front, {len(chosen['certified'])} certified")
    VAL_FRONTS.save(fronts, snakemake.output.fronts)


run_stage(snakemake, main)
