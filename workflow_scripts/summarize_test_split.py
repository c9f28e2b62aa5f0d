"""summarize_test_split: class balance of every split (Figure 4's majority-class line) and the mean
validation image (the background of the robust / non-robust region overlays: a display is never
shaped by test points), so that no figure job has
to load the whole prepared dataset."""

import pandas as pd
from stage import run_stage

from nusmooth.artifacts import load_dataset, save_class_counts, save_mean_val_image
from nusmooth.tables import class_counts


def main(snakemake):
    dataset = load_dataset(snakemake.input.dataset)
    tables = []
    for name, split in dataset.splits.items():
        table = class_counts(split.labels.numpy(), dataset.classes)
        table.insert(0, "split", name)
        tables.append(table)
    counts = pd.concat(tables, ignore_index=True)
    print(counts.to_string())
    val_images, _ = dataset.splits["val"].as_float()
    save_class_counts(counts, snakemake.output.class_counts)
    save_mean_val_image(val_images.mean(dim=0), len(val_images), snakemake.output.mean_image)


run_stage(snakemake, main)
