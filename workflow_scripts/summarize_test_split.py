"""summarize_test_split: class balance of every split (Figure 4's majority-class line) and the mean
validation image (the background of the robust / non-robust region overlays: a display is never
shaped by test points), so that no figure job has
to load the whole prepared dataset."""

import pandas as pd
from stage import run_stage

from nusmooth.artifacts import CLASS_COUNTS, DATASET, MEAN_VAL_IMAGE, MeanValImage
from nusmooth.tables import class_counts


def main(snakemake):
    dataset = DATASET.load(snakemake.input.dataset)
    tables = []
    for name, split in dataset.splits.items():
        table = class_counts(split.labels.numpy(), dataset.classes)
        table.insert(0, "split", name)
        tables.append(table)
    counts = pd.concat(tables, ignore_index=True)
    print(counts.to_string())
    val_images, _ = dataset.splits["val"].as_float()
    CLASS_COUNTS.save(counts, snakemake.output.class_counts)
    MEAN_VAL_IMAGE.save(MeanValImage(val_images.mean(dim=0), len(val_images)), snakemake.output.mean_image)


run_stage(snakemake, main)
