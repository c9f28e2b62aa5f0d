"""select_fig1_sigma: choose Figure 1's snapshot of one sweep on validation metrics only, and the
isotropic sigma it is compared with (the mean of the chosen vector, as in the paper)."""

import pandas as pd
import torch
from script_setup import run_stage

from nusmooth.io import atomic_torch_save, atomic_write_json, load_artifact
from nusmooth.selection import choose_fig1_snapshot


def main(snakemake):
    tolerance = snakemake.params.accuracy_tolerance
    saved = load_artifact(snakemake.input.snapshots, "optimize_sigma", expected_keys=("sigmas", "sub_epochs", "init", "pixel_space"))
    choice = choose_fig1_snapshot(pd.read_csv(snakemake.input.metrics, sep="\t"), tolerance)
    learned = saved["sigmas"][saved["sub_epochs"].index(choice.sub_epoch)]
    isotropic = float(learned.mean())
    record = dict(sub_epoch=choice.sub_epoch, val=choice.val, init=saved["init"], isotropic_sigma=isotropic,
                  sigma_space=saved["pixel_space"],
                  rule=f"largest validation mean area among snapshots within {tolerance} validation accuracy of the best")
    print(record)
    atomic_torch_save({"learned": learned, "isotropic": torch.tensor(isotropic)}, snakemake.output.sigmas)
    atomic_write_json(record, snakemake.output.choice)


run_stage(snakemake, main)
