"""prepare_data: read the dataset's raw files (verified), split them (seeded, stratified; validation
always out of the training data) and save the splits, a summary and the split membership."""

from script_setup import start

from nusmooth.datasets import prepare_dataset
from nusmooth.io import atomic_write_json

start(snakemake)
dataset, members = prepare_dataset(
    snakemake.wildcards.dataset, snakemake.params.split, snakemake.params.source, workers=snakemake.threads
)
summary = dict(dataset.info, name=dataset.name, classes=dataset.classes, mean=dataset.mean, std=dataset.std,
               input_shape=list(dataset.input_shape))
empty = [name for name, split in dataset.splits.items() if len(split) == 0]
if empty:
    print(f"WARNING: split(s) {empty} are empty: too few images per class for datasets.{dataset.name}.split; "
          "later stages need images in every split")
print({key: value for key, value in summary.items() if key not in ("class_counts", "classes")})
# Atomic writes: a killed job leaves no half-written file under a final name.
atomic_write_json(members, snakemake.output.members)
atomic_write_json(summary, snakemake.output.summary)
dataset.save(snakemake.output.dataset)
