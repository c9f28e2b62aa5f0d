"""decide_race: one racing stage's decision for one dataset: from every validation record of every
sweep so far, which candidates go on to the next stage (nusmooth.racing.decide_stage: the error rate
is split over every candidate and deciding stage; Figure 1's constants are protected). Reads no model
and no data: the stages' summaries give the points and the input dimension."""

import pandas as pd
from stage import run_stage

from nusmooth.artifacts import RACE_BLOCK, RACE_DECISION, RACE_STAGE
from nusmooth.racing import decide_stage, workflow_plan


def main(snakemake):
    stage = int(snakemake.wildcards.stage)
    plan = workflow_plan(
        [RACE_STAGE.load(path) for path in snakemake.input.stages],
        error_rate=snakemake.params.error_rate,
        alpha=snakemake.params.alpha,
        protected_inits=snakemake.params.protected_inits,
    )
    blocks = [RACE_BLOCK.load(path) for path in snakemake.input.blocks]
    # A block of no candidate (all dropped, or an empty stage) has no rows and no column types: left out.
    records = pd.concat([block for block in blocks if len(block)], ignore_index=True)
    previous = RACE_DECISION.load(snakemake.input.previous) if hasattr(snakemake.input, "previous") else None
    decision = decide_stage(records, plan, stage, previous)
    print(
        f"stage {stage} ({decision['points']} points): {len(decision['survivors'])} of {decision['candidates']} go on"
    )
    for dropped in decision["dropped"]:
        print(f"dropped: {dropped}")
    RACE_DECISION.save(decision, snakemake.output.decision)


run_stage(snakemake, main)
