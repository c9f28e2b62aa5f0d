"""optimize_sigma: learn sigma from one initial constant; save the snapshot after every sub-epoch.

A killed job resumes: after every sub-epoch the optimiser state, the random generators and the
snapshots so far go to the rule's ``params.resume`` file (not an ``output:``, which Snakemake would
delete on failure); a rerun with the same settings, data and base model continues from there and
gives the same result as an uninterrupted run. The file is removed once the outputs are written.
"""

import hashlib
import math
from pathlib import Path

import pandas as pd
import torch
from script_setup import seeded_generator, start
from tqdm import tqdm

from nusmooth.data import PreparedDataset
from nusmooth.io import atomic_torch_save, atomic_write_tsv
from nusmooth.models import load_checkpoint
from nusmooth.surrogate import SigmaOptimizer
from nusmooth.training import iterate_minibatches

device = start(snakemake)
settings = snakemake.params.sigma
init = float(snakemake.wildcards.init)
dataset = PreparedDataset.load(snakemake.input.dataset)
model, _ = load_checkpoint(snakemake.input.model, device)
train = dataset.splits["train"]
images, labels = train.images[: settings["train_points"]], train.labels[: settings["train_points"]]

optimizer = SigmaOptimizer(
    model,
    dataset.input_shape,
    init_sigma=init,
    lr=settings["lr"],
    gamma=settings["gamma"],
    num_copies=settings["n_train"],
    device=device,
    generator=seeded_generator(settings["seed"], device),
)
order = seeded_generator(settings["seed"], torch.device("cpu"))
snapshots, history = [], []

resume_path = Path(snakemake.params.resume)
# A resume state is valid only for these settings, this initial constant, data and base model.
identity = {
    "settings": dict(settings),
    "init": init,
    "model": hashlib.sha256(Path(snakemake.input.model).read_bytes()).hexdigest(),
    "labels": hashlib.sha256(labels.numpy().tobytes()).hexdigest(),
}
if resume_path.exists():
    saved = torch.load(resume_path, map_location="cpu", weights_only=True)
    if saved["identity"] == identity:
        optimizer.load_state_dict(saved["optimizer"])
        order.set_state(saved["order"])
        snapshots, history = list(saved["snapshots"]), list(saved["history"])
        print(f"resuming from {resume_path} after sub-epoch {optimizer.sub_epochs_done}")
    else:
        print(f"ignoring {resume_path}: saved with other settings, data or base model")

batches_per_sub_epoch = math.ceil(len(labels) / settings["batch_size"])
for sub_epoch in range(optimizer.sub_epochs_done + 1, settings["sub_epochs"] + 1):
    batches = iterate_minibatches(images, labels, settings["batch_size"], order)
    stats = optimizer.run_sub_epoch(tqdm(batches, total=batches_per_sub_epoch, desc=f"sub-epoch {sub_epoch}", mininterval=10))
    sigma = optimizer.sigma
    snapshots.append(sigma)
    history.append(dict(vars(stats), sigma_mean=float(sigma.mean()), sigma_min=float(sigma.min()), sigma_max=float(sigma.max())))
    print(history[-1])
    state = {"optimizer": optimizer.state_dict(), "order": order.get_state(), "snapshots": snapshots, "history": history}
    atomic_torch_save({"identity": identity, **state}, resume_path)

atomic_torch_save(
    {"init": init, "sigmas": torch.stack(snapshots), "sub_epochs": list(range(1, len(snapshots) + 1)), "pixel_space": dataset.info["pixel_space"]},
    snakemake.output.snapshots,
)
atomic_write_tsv(pd.DataFrame(history), snakemake.output.history)
resume_path.unlink(missing_ok=True)
