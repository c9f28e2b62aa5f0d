"""prepare_data: read the dataset's raw files (verified), split them (seeded, stratified; validation
never out of a test split) and save the splits, a summary and the split membership."""

from stage import run_stage

from nusmooth.artifacts import DATASET
from nusmooth.datasets import prepare_dataset
from nusmooth.io import atomic_write_json


def main(snakemake):
    dataset, members = prepare_dataset(
        snakemake.wildcards.dataset, snakemake.params.split, snakemake.params.source, workers=snakemake.threads
    )
    summary = dict(
        dataset.info,
        name=dataset.name,
        classes=dataset.classes,
        mean=dataset.mean,
        std=dataset.std,
        input_shape=list(dataset.input_shape),
    )
    print({key: value for key, value in summary.items() if key not in ("class_counts", "classes")})
    atomic_write_json(members, snakemake.output.members)
    atomic_write_json(summary, snakemake.output.summary)
    DATASET.save(dataset, snakemake.output.dataset)


run_stage(snakemake, main)
