"""prepare_data: load the raw images, split them (seeded, stratified) and save them with a summary."""

from script_setup import start

from nusmooth.data import prepare_mnist5k
from nusmooth.io import atomic_write_json

start(snakemake)
split = snakemake.params.split
fractions = {part: split[part] for part in ("train", "val", "test")}
preparers = {"mnist5k": prepare_mnist5k}
dataset = preparers[snakemake.wildcards.dataset](fractions, split["seed"])
summary = dict(dataset.info, name=dataset.name, classes=dataset.classes, mean=dataset.mean, std=dataset.std,
               input_shape=list(dataset.input_shape))
print(summary)
dataset.save(snakemake.output.dataset)
atomic_write_json(summary, snakemake.output.summary)
