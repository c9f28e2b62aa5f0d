"""summarize_test_split: class balance of every split (Figure 4's majority-class line) and the mean
validation image (the background of the robust / non-robust region overlays: a display is never
shaped by test points), so that no figure job has
to load the whole prepared dataset."""

import pandas as pd
from script_setup import run_stage

from nusmooth.data import PreparedDataset
from nusmooth.io import atomic_torch_save, atomic_write_tsv
from nusmooth.summaries import class_counts


def main(snakemake):
    dataset = PreparedDataset.load(snakemake.input.dataset)
    tables = []
    for name, split in dataset.splits.items():
        table = class_counts(split.labels.numpy(), dataset.classes)
        table.insert(0, "split", name)
        tables.append(table)
    counts = pd.concat(tables, ignore_index=True)
    print(counts.to_string())
    val_images, _ = dataset.splits["val"].as_float()
    atomic_write_tsv(counts, snakemake.output.class_counts)
    atomic_torch_save({"mean_image": val_images.mean(dim=0), "points": len(val_images)}, snakemake.output.mean_image)


run_stage(snakemake, main)
