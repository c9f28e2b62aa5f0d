"""compare_fig2_fronts: Figure 2's learned front against the isotropic one on the test points, at each
area of a grid over the members' validation mean areas: whose front surely reaches the area with more
accuracy (nusmooth.front_comparison, the rule in docs/method.md, "Verdicts"), and the verdicts as ranges."""

import numpy as np
import pandas as pd
from stage import run_stage

from nusmooth.artifacts import FIG2_FRONT, FRONT_TEST_RECORDS, FRONT_VERDICT_RANGES, FRONT_VERDICTS, SWEEP_RECORDS
from nusmooth.comparisons import VERDICT_WORDS, ranges_table
from nusmooth.front_comparison import compare_fronts, front_grid, front_members
from nusmooth.registry import SIGMA_KINDS
from nusmooth.verdicts import verdict_ranges


def main(snakemake):
    front = FIG2_FRONT.load(snakemake.input.front)
    # The fronts' own test certificates, or every sweep's with sweep_eval.test_cloud.
    files = [(FRONT_TEST_RECORDS, path) for path in getattr(snakemake.input, "front_records", [])]
    files += [(SWEEP_RECORDS, path) for path in getattr(snakemake.input, "cloud_records", [])]
    records = pd.concat([contract.load(path) for contract, path in files], ignore_index=True)
    learned, isotropic = SIGMA_KINDS
    point_ids = np.sort(records["idx"].unique())
    grid = front_grid(front, snakemake.params.band_thresholds)
    correct_a, areas_a = front_members(front, records, learned, point_ids=point_ids)
    correct_b, areas_b = front_members(front, records, isotropic, point_ids=point_ids)
    compared = compare_fronts(correct_a, areas_a, correct_b, areas_b, thresholds=grid)
    print(compared.members.to_string())
    verdicts = compared.verdicts.rename(
        columns={
            "best_a": "best_learned",
            "best_b": "best_isotropic",
            "accuracy_a": "accuracy_learned",
            "accuracy_b": "accuracy_isotropic",
        }
    )
    ranges = ranges_table(
        verdict_ranges(grid, verdicts["verdict"].to_numpy()),
        comparison="Figure 2 fronts",
        comparator=isotropic,
        view="area",
        learned_ceiling=np.nan,
    )
    precision = front["precision"].iloc[0]
    FRONT_VERDICTS.save(verdicts.assign(verdict=verdicts["verdict"].map(VERDICT_WORDS)), snakemake.output.verdicts)
    FRONT_VERDICT_RANGES.save(ranges.assign(precision=precision), snakemake.output.ranges)
    print(ranges.to_string())


run_stage(snakemake, main)
