"""select_fig1_sigma: choose Figure 1's snapshot of one sweep on validation metrics only, and the
isotropic sigma it is compared with (the mean of the chosen vector, as in the paper)."""

import pandas as pd
import torch
from script_setup import start

from nusmooth.io import atomic_torch_save, atomic_write_json
from nusmooth.selection import select_snapshot

start(snakemake)
metrics = pd.read_csv(snakemake.input.metrics, sep="\t")
saved = torch.load(snakemake.input.snapshots, weights_only=True)
validation = metrics[metrics["split"] == "val"]
sub_epoch = select_snapshot(validation, snakemake.params.accuracy_tolerance)
learned = saved["sigmas"][saved["sub_epochs"].index(sub_epoch)]
isotropic = float(learned.mean())
choice = {
    "init": saved["init"],
    "sub_epoch": sub_epoch,
    "rule": f"largest validation mean area among snapshots within {snakemake.params.accuracy_tolerance} "
    "validation accuracy of the best",
    "val": validation[validation["sub_epoch"] == sub_epoch].iloc[0][["accuracy", "mean_area"]].to_dict(),
    "isotropic_sigma": isotropic,
    "sigma_space": saved["pixel_space"],
}
print(choice)
atomic_torch_save({"learned": learned, "isotropic": torch.tensor(isotropic)}, snakemake.output.sigmas)
atomic_write_json(choice, snakemake.output.choice)
