"""write_results_doc: docs/results.md from the run's tables, its figures copied under docs/results/,
the wall time of every GPU job (Snakemake's benchmark files), this machine's per-pass rates and the
paper preset's cost (nusmooth.results_doc builds every part of the page)."""

import shutil
from datetime import datetime, timezone

from stage import run_stage

from nusmooth import artifacts
from nusmooth.cost import Job
from nusmooth.io import atomic_write_text
from nusmooth.provenance import benchmark_seconds, checkout_commit, read_preset
from nusmooth.registry import title_of
from nusmooth.results_doc import DatasetReport, cost_section, page, vector_stats


def own_fig1_files(files, name, snakemake) -> list:
    """The files of dataset ``name`` among one per Figure-1 vector (``params.fig1_datasets``: the dataset of each)."""
    return [path for path, dataset in zip(files, snakemake.params.fig1_datasets, strict=True) if dataset == name]


def dataset_report(name, position, snakemake) -> DatasetReport:
    inputs = snakemake.input
    choices = [artifacts.FIG1_CHOICE.load(p) for p in own_fig1_files(inputs.choices, name, snakemake)]
    sigmas = [artifacts.FIG1_SIGMAS.load(p).learned.numpy() for p in own_fig1_files(inputs.sigmas, name, snakemake)]
    jobs = [j for j in snakemake.params.jobs if j["wildcards"]["dataset"] == name]
    config = snakemake.params.config
    block = {**config["datasets"][name], "alpha": config["alpha"], "certify_batch_size": config["certify_batch_size"]}
    return DatasetReport(
        name=name,
        title=title_of(name, snakemake.params.titles),
        block=block,
        area=artifacts.CERTIFIED_ACCURACY.load(inputs.area[position]),
        l2=artifacts.CERTIFIED_ACCURACY_L2.load(inputs.l2[position]),
        differences=artifacts.PAIRED_DIFFERENCES.load(inputs.differences[position]),
        ranges=artifacts.VERDICT_RANGES.load(inputs.ranges[position]),
        front=artifacts.FIG2_FRONT.load(inputs.front[position]),
        front_ranges=artifacts.FRONT_VERDICT_RANGES.load(inputs.front_ranges[position]),
        learning=artifacts.LEARNING_ACCURACY.load(inputs.learning[position]),
        envelope=artifacts.ENVELOPE_CHOICE.load(inputs.envelope_choices[position]),
        regions=artifacts.REGION_SUMMARY.load(inputs.regions[position]),
        choices=choices,
        sigma_stats=[vector_stats(s, c, block["fig1"]["n"], block["alpha"]) for s, c in zip(sigmas, choices)],
        timed=[(Job(j["rule"], tuple(j["wildcards"].items())), benchmark_seconds(j["benchmark"])) for j in jobs],
        prepare_seconds=benchmark_seconds(snakemake.input.prepare[position]),
    )


def main(snakemake):
    reports = [dataset_report(name, i, snakemake) for i, name in enumerate(snakemake.params.datasets)]
    rates = artifacts.PASS_RATES.load(snakemake.input.pass_rates)
    preset = read_preset(snakemake.input.paper_preset)
    for figure, copy in zip(snakemake.input.figures, snakemake.output.figures, strict=True):
        shutil.copyfile(figure, copy)
    relative = {
        copy.split("/")[-1].removesuffix(".png"): copy.removeprefix("docs/") for copy in snakemake.output.figures
    }
    text = page(
        reports,
        figures={
            r.name: {"fig1": relative[f"fig1_{r.name}"], "regions": relative[f"regions_{r.name}"]} for r in reports
        },
        shared_figures=relative,
        command=snakemake.params.command,
        commit=checkout_commit(snakemake.output),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=rates["machine"],
        config=snakemake.params.config,
        cost_section=cost_section(preset, rates["rates"], rates["machine"], reports),
    )
    atomic_write_text(text, snakemake.output.doc)
    print(text)


run_stage(snakemake, main)
