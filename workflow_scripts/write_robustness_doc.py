"""write_robustness_doc: docs/robustness.md from a run of blocks in two training regimes and their
replicates (nusmooth.robustness_doc builds every part of the page), its figures copied under
docs/robustness/."""

import os
import platform
import shutil
from datetime import datetime, timezone

from stage import envelope_results, fig1_results, run_stage

from nusmooth import artifacts
from nusmooth.cost import Job
from nusmooth.io import atomic_write_text
from nusmooth.model_settings import training_regime
from nusmooth.provenance import benchmark_seconds, checkout_commit
from nusmooth.robustness import ReplicateEnvelope
from nusmooth.robustness_doc import BlockReport, page


def replicate_envelopes(snakemake) -> dict[str, ReplicateEnvelope]:
    """Each replicate's isotropic envelope: every grid constant's validation certificates
    (``input.envelope_validation``, in the order of ``params.envelope_constants``) and its chosen
    constants' test certificates."""
    chosen = envelope_results(snakemake)
    paths = iter(snakemake.input.envelope_validation)
    envelopes = {}
    for instance, constants in snakemake.params.envelope_constants.items():
        validation = {constant: artifacts.ENVELOPE_CERTIFICATES.load(next(paths)) for constant in constants}
        envelopes[instance] = ReplicateEnvelope(validation=validation, test=chosen[instance].test)
    return envelopes


def block_report(block: dict, results: list, envelopes: dict, snakemake) -> BlockReport:
    """One block and its replicates, loaded (``block``: one of ``params.blocks``)."""
    inputs, instances = snakemake.input, block["instances"]
    own = [i for i, name in enumerate(snakemake.params.datasets) if name in instances]
    models = [artifacts.MODEL.load(inputs.models[snakemake.params.instances.index(name)]) for name in instances]
    regimes = {training_regime(model["train_config"]) for model in models}
    if len(regimes) != 1:
        raise ValueError(f"the replicates of {block['name']} were trained in different regimes: {sorted(regimes)}")
    histories = [artifacts.BASE_HISTORY.load(inputs.histories[snakemake.params.instances.index(n)]) for n in instances]
    jobs = [j for j in snakemake.params.jobs if j["wildcards"]["dataset"] in instances]
    return BlockReport(
        name=block["name"],
        dataset=block["dataset"],
        title=block["title"],
        regime=regimes.pop(),
        train_noise=block["config"]["model"]["train_noise"],
        block=block["config"],
        instances=instances,
        base_accuracy=[float(history["val_accuracy"].iloc[-1]) for history in histories],
        results=[results[i] for i in own],
        replicates=[instances.index(snakemake.params.datasets[i]) + 1 for i in own],
        sigmas=[artifacts.FIG1_SIGMAS.load(inputs.sigmas[i]).learned.numpy() for i in own],
        envelopes=[envelopes[snakemake.params.datasets[i]] for i in own],
        convergence=artifacts.CONVERGENCE.load(inputs.convergence[snakemake.params.blocks.index(block)]),
        timed=[(Job(j["rule"], tuple(j["wildcards"].items())), benchmark_seconds(j["benchmark"])) for j in jobs],
    )


def main(snakemake):
    results, envelopes = fig1_results(snakemake), replicate_envelopes(snakemake)
    blocks = [block_report(block, results, envelopes, snakemake) for block in snakemake.params.blocks]
    for figure, copy in zip(snakemake.input.figures, snakemake.output.figures, strict=True):
        shutil.copyfile(figure, copy)
    shown = {copy.split("/")[-1].removesuffix(".png"): copy.removeprefix("docs/") for copy in snakemake.output.figures}
    text = page(
        blocks,
        figures={b.name: {kind: shown[f"{kind}_{b.name}"] for kind in ("fig1", "convergence")} for b in blocks},
        table_areas=snakemake.params.table_areas,
        command=snakemake.params.command,
        commit=checkout_commit(snakemake.output),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=f"{platform.processor() or platform.machine()} with {os.cpu_count()} CPU cores",
        config=snakemake.params.config,
    )
    atomic_write_text(text, snakemake.output.doc)
    print(text)


run_stage(snakemake, main)
