# Helpers shared by every stage file: the preset, the config check (its rules: workflow_scripts/
# workflow_config.py), the per-job parameter blocks, and the input functions that name every file a
# script reads. Dataset facts come from nusmooth.registry.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from nusmooth.instances import INSTANCE_PATTERN, data_owner, replicate_names
from nusmooth.model_settings import regime_tag
from nusmooth.registry import (
    CERTIFIED_SPLITS,
    CHOOSING_SPLIT,
    FIG1_KINDS,
    SHOWN_SPLIT,
    SIGMA_KINDS,
    facts_for,
)
from nusmooth.artifacts import ENVELOPE_CHOICE
from nusmooth.cost import (
    FALLBACK_MINUTES,
    GPU_RULES,
    Job,
    arch_of,
    chosen_on_validation,
    device_check_rates,
    envelope_constants,
    figure_jobs,
    job_runtime_minutes,
    path_number,
)
from slurm_site import device_check_report, gpu_time_limit
from workflow_locks import clear_stale_locks, record_lock_owner
from workflow_config import (
    check_config,
    check_fig2_datasets,
    check_fig4_datasets,
    check_results_doc_datasets,
    preset_file,
    recorded_model_settings,
    recorded_sigma_settings,
)

SCHEMA = str(Path(workflow.basedir) / "schemas" / "config.schema.yaml")


# A preset (`--config preset=paper`) layers presets/<name>.yaml (beside the Snakefile) over
# config.yaml; Snakemake then re-applies --config/--configfile values on top, so the command line
# still wins. An unknown name fails listing the presets that exist.
if config.get("preset", "default") != "default":

    configfile: preset_file(Path(workflow.basedir) / "presets", config["preset"])


check_config(config, SCHEMA)
if workflow.is_main_process:
    clear_stale_locks(Path(".snakemake"))


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def facts_of(name):
    """Dataset facts: the registry's, or those of a dataset of your own from its config block."""
    return facts_for(name, config["datasets"][name])


def data_path(dataset, name):
    """The prepared data file ``name`` that ``dataset`` reads, under results/data/<owner>/: its own, the
    built-in's for a variant, its block's for a replicate (nusmooth.instances.data_owner), so that data
    are never prepared twice and every instance of a block is compared on the same points."""
    return f"results/data/{data_owner(dataset, config['datasets'])}/{name}"


def data_file(name):
    """Input function: :func:`data_path` of the job's dataset."""

    def path(wildcards):
        return data_path(wildcards.dataset, name)

    return path


# --- each job's own parameters: a change elsewhere in the config must not rerun it ----------------
# Snakemake compares a job's params with the last run's as written, key order included; blocks are
# passed with sorted keys so that reordering a config file (or a YAML dump of it) reruns nothing.


def canonical(value):
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def model_params(wildcards):
    """train_base's model block, keys sorted, as it is recorded (workflow_config.recorded_model_settings)."""
    return canonical(recorded_model_settings(dataset_config(wildcards)["model"]))


def block_params(name):
    """Params function: the dataset's config block ``name``, keys sorted."""

    def params(wildcards):
        return canonical(dataset_config(wildcards)[name])

    return params


def source_params(wildcards):
    """Only the source keys this dataset's reader takes."""
    source = dataset_config(wildcards)["source"]
    return {key: source[key] for key in sorted(facts_of(wildcards.dataset).source_keys)}


def sweep_eval_params(wildcards):
    """One split's sweep certification settings: the other split's point count is not a param, so
    changing it never reruns this split. The validation split is raced in stages (their fractions);
    the test split is not."""
    block = dataset_config(wildcards)["sweep_eval"]
    settings = {"n0": block["n0"], "n": block["n"], "seed": block["seed"], "points": block[f"{wildcards.split}_points"]}
    if wildcards.split == "val":
        settings["stages"] = block["racing"]["stages"]
    return canonical(settings)


def race_params(wildcards):
    """A racing stage's certification settings: the validation split's (its error rate is the decisions')."""
    block = dataset_config(wildcards)["sweep_eval"]
    return canonical(
        {
            "n0": block["n0"],
            "n": block["n"],
            "seed": block["seed"],
            "points": block["val_points"],
            "stages": block["racing"]["stages"],
        }
    )


def front_test_params(wildcards):
    """The test split's sweep certification settings, for the fronts' members."""
    block = dataset_config(wildcards)["sweep_eval"]
    return canonical({"n0": block["n0"], "n": block["n"], "seed": block["seed"], "points": block["test_points"]})


def protected_inits(wildcards):
    """Params: Figure 1's constants, whose sweeps the race never drops (sorted: a reordered list reruns nothing)."""
    return sorted(float(i) for i in dataset_config(wildcards)["fig1"]["inits"])


def sigma_params(wildcards):
    """One sweep's settings: the sigma block without the list of initial constants (and the newer keys
    at their defaults: workflow_config.recorded_sigma_settings)."""
    return canonical(recorded_sigma_settings(dataset_config(wildcards)["sigma"]))


def fig1_certify_params(wildcards):
    """Figure 1's certification settings, without the list of constants or the selection rule."""
    fig1 = dataset_config(wildcards)["fig1"]
    return {"n": fig1["n"], "n0": fig1["n0"], "points": fig1["test_points"], "seed": fig1["seed"]}


def envelope_certify_params(wildcards):
    """An envelope constant's certification: Figure 1's settings, on the validation points that choose
    (fig1.envelope.val_points) or on Figure 1's test points."""
    fig1 = dataset_config(wildcards)["fig1"]
    points = fig1["envelope"]["val_points"] if wildcards.split == CHOOSING_SPLIT else fig1["test_points"]
    return {"n": fig1["n"], "n0": fig1["n0"], "points": points, "seed": fig1["seed"]}


def compute_params(wildcards):
    return canonical(config["compute"])


def training_compute_params(wildcards):
    """Base training always runs in fp32 (bf16 training would change the model, not just its
    evaluation); it takes the speed-only options."""
    return {key: config["compute"][key] for key in sorted(("channels_last", "cudnn_benchmark"))}


def titles_of(datasets):
    """Params: the panel title of each dataset that sets datasets.<name>.title (others: the built-in
    title), so only a changed title redraws a figure."""

    def titles(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        return {d: config["datasets"][d]["title"] for d in chosen if config["datasets"][d]["title"] is not None}

    return titles


# --- the files a job reads ----------------------------------------------------------------------


def sigma_inits(dataset):
    return [path_number(v) for v in config["datasets"][dataset]["sigma"]["inits"]]


def fig1_inits(dataset):
    return [path_number(v) for v in config["datasets"][dataset]["fig1"]["inits"]]


def race_stage_count(dataset):
    """The configured racing stages of a dataset's validation sweeps: jobs race_stage 1..count-1, then
    evaluate_sigma (split val) as the last stage."""
    return len(config["datasets"][dataset]["sweep_eval"]["racing"]["stages"])


def sweep_inputs(wildcards):
    """A learned sweep is certified from its snapshots; an isotropic constant needs only the model."""
    inputs = {
        "dataset": data_path(wildcards.dataset, "dataset.pt"),
        "model": f"results/models/{wildcards.dataset}/model.pt",
    }
    if wildcards.kind == "learned":
        inputs["snapshots"] = f"results/sigma/{wildcards.dataset}/init_{wildcards.init}/snapshots.pt"
    return inputs


def raced(wildcards):
    """Whether the sweep of the wildcards reads the race's decisions: not Figure 1's sweeps, which run to
    the end, so that Figure 1 needs its own sweeps only."""
    return wildcards.init not in fig1_inits(wildcards.dataset)


def race_stage_inputs(wildcards):
    """Stage s of a raced sweep goes on with the candidates the decision of stage s - 1 kept."""
    inputs = sweep_inputs(wildcards)
    stage = int(wildcards.stage)
    if stage > 1 and raced(wildcards):
        inputs["decision"] = f"results/sweep/{wildcards.dataset}/race/decision_{stage - 1}.json"
    return inputs


def stage_blocks(dataset, kind, init, stages):
    return [f"results/sweep/{dataset}/{kind}_{init}/val_stage{s}_records.tsv.gz" for s in stages]


def evaluate_inputs(wildcards):
    """On validation, the race's last stage: the earlier stages' blocks of the sweep and the last
    decision (a raced sweep); on test, the model and the sigmas only."""
    inputs = sweep_inputs(wildcards)
    last = race_stage_count(wildcards.dataset)
    if wildcards.split == "val" and last > 1:
        inputs["blocks"] = stage_blocks(wildcards.dataset, wildcards.kind, wildcards.init, range(1, last))
        if raced(wildcards):
            inputs["decision"] = f"results/sweep/{wildcards.dataset}/race/decision_{last - 1}.json"
    return inputs


def sweeps(dataset):
    """(kind, init) of every sweep of a dataset."""
    return [(kind, init) for kind in SIGMA_KINDS for init in sigma_inits(dataset)]


def decide_inputs(wildcards):
    """Stage s's decision reads every sweep's records of stages 1..s, their stage-s summaries (the
    points and the input dimension) and the decision of stage s - 1."""
    stage, name = int(wildcards.stage), wildcards.dataset
    inputs = {
        "stages": [f"results/sweep/{name}/{kind}_{init}/val_stage{stage}.json" for kind, init in sweeps(name)],
        "blocks": [path for kind, init in sweeps(name) for path in stage_blocks(name, kind, init, range(1, stage + 1))],
    }
    if stage > 1:
        inputs["previous"] = f"results/sweep/{name}/race/decision_{stage - 1}.json"
    return inputs


def validation_metrics(wildcards):
    """Every sweep's validation metrics: the candidates the fronts are chosen from."""
    return [f"results/sweep/{wildcards.dataset}/{kind}_{init}/val.tsv" for kind, init in sweeps(wildcards.dataset)]


def certify_front_inputs(wildcards):
    """A kind's front members on test: the model, the fronts, and every learned sweep's snapshots (any
    of them may hold a member)."""
    name = wildcards.dataset
    snapshots = [f"results/sigma/{name}/init_{init}/snapshots.pt" for init in sigma_inits(name)]
    return {
        "dataset": data_path(name, "dataset.pt"),
        "model": f"results/models/{name}/model.pt",
        "fronts": f"results/sweep/{name}/val_fronts.json",
        "snapshots": snapshots if wildcards.kind == "learned" else [],
    }


def fig2_table_inputs(wildcards):
    """Figure 2's points: every sweep's validation metrics and the fronts chosen on them; on test, the
    fronts' members, or every candidate with sweep_eval.test_cloud."""
    name = wildcards.dataset
    inputs = {"metrics": validation_metrics(wildcards), "fronts": f"results/sweep/{name}/val_fronts.json"}
    if config["datasets"][name]["sweep_eval"]["test_cloud"]:
        inputs["cloud"] = [f"results/sweep/{name}/{kind}_{init}/test.tsv" for kind, init in sweeps(name)]
    else:
        inputs["front_tests"] = [f"results/sweep/{name}/front_{kind}/test.tsv" for kind in SIGMA_KINDS]
    return inputs


def cloud_splits(datasets):
    """Params: the split of each panel's faint markers (test with sweep_eval.test_cloud, else validation)."""
    return ["test" if config["datasets"][d]["sweep_eval"]["test_cloud"] else "val" for d in datasets]


def front_test_records(wildcards):
    """The test records Figure 2's front members are read from: the fronts' own certificates, or every
    sweep's with sweep_eval.test_cloud (the members are among them)."""
    name = wildcards.dataset
    if config["datasets"][name]["sweep_eval"]["test_cloud"]:
        return {
            "cloud_records": [
                f"results/sweep/{name}/{kind}_{init}/{SHOWN_SPLIT}_records.tsv.gz" for kind, init in sweeps(name)
            ]
        }
    return {"front_records": [f"results/sweep/{name}/front_{kind}/test_records.tsv.gz" for kind in SIGMA_KINDS]}


def sweep_validation_records(kind):
    """Input function: the validation records of every sweep of ``kind``, in sigma.inits' order."""

    def files(wildcards):
        return [
            f"results/sweep/{wildcards.dataset}/{kind}_{i}/val_records.tsv.gz" for i in sigma_inits(wildcards.dataset)
        ]

    return files


def fig1_pairs(datasets):
    """(dataset, init) of every Figure-1 vector, in a fixed order shared by inputs and params."""
    return [(d, i) for d in datasets for i in fig1_inits(d)]


def fig1_files(datasets, name):
    return [f"results/certify/{d}/fig1_init_{i}/{name}" for d, i in fig1_pairs(datasets)]


def fig1_validation_records(datasets, kind):
    """Validation records of each Figure-1 vector's sweep (scripts keep the chosen snapshot's rows):
    thresholds and x-ranges come from them, never from test."""
    return [f"results/sweep/{d}/{kind}_{i}/val_records.tsv.gz" for d, i in fig1_pairs(datasets)]


def fig1_inputs(datasets, certificates=True):
    """Input function: the choice of each Figure-1 vector and the validation records its thresholds and
    x-ranges are taken from; with ``certificates``, the test certificates of every vector and of the
    isotropic sigmas tied to it, and each dataset's envelope choice (its test certificates:
    envelope_test_inputs)."""

    def inputs(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        files = {
            "choices": fig1_files(chosen, "choice.json"),
            "val_learned": fig1_validation_records(chosen, "learned"),
            "val_isotropic": fig1_validation_records(chosen, "isotropic"),
        }
        if certificates:
            files |= {kind: fig1_files(chosen, f"{kind}.tsv") for kind in FIG1_KINDS}
            files["envelope_choices"] = [ENVELOPE_CHOICE.pattern.format(dataset=d) for d in chosen]
        return files

    return inputs


def envelope_test_inputs(datasets):
    """Input function: the test certificates of each dataset's chosen envelope constants. Apart from
    fig1_inputs: only this list waits for the choose_envelope checkpoint, so a dry run still plans
    every other job."""

    def inputs(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        return [path for d in chosen for path in envelope_test_files(d)]

    return inputs


# --- the isotropic envelope (rules/certify.smk) --------------------------------------------------


def envelope_file(dataset, constant, split):
    return f"results/certify/{dataset}/envelope/sigma_{constant}/{split}.tsv"


def envelope_files(split):
    """Input function: every constant's certificates on ``split`` (validation: the whole grid)."""

    def files(wildcards):
        constants = envelope_constants(dataset_config(wildcards))
        return [envelope_file(wildcards.dataset, c, split) for c in constants]

    return files


def envelope_constants_param(wildcards):
    """Params: the grid's constants, in the order of envelope_files' files."""
    return [float(c) for c in envelope_constants(dataset_config(wildcards))]


def envelope_grids(datasets):
    """Params: each dataset's envelope grid (how many constants the envelope chose from, in the legend)."""

    def grids(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        return {d: envelope_constants(config["datasets"][d]) for d in chosen}

    return grids


def envelope_choice(dataset):
    """The envelope's choice file of ``dataset``, once the checkpoint has written it."""
    return checkpoints.choose_envelope.get(dataset=dataset).output.choice


def chosen_envelope_constants(dataset):
    """The constants chosen on validation (nusmooth.envelope.chosen_constants' order), as paths name them."""
    choice = ENVELOPE_CHOICE.load(envelope_choice(dataset))  # Snakemake waits here until the checkpoint ran
    # Imported only once a choice exists: nusmooth.envelope brings scipy, 0.35 s of a Snakemake start.
    from nusmooth.envelope import chosen_constants

    return [path_number(c) for c in chosen_constants(choice)]


def envelope_test_files(dataset):
    return [envelope_file(dataset, c, SHOWN_SPLIT) for c in chosen_envelope_constants(dataset)]


def fig1_sigma_inputs(datasets):
    def inputs(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        return {
            "choices": fig1_files(chosen, "choice.json"),
            "sigmas": fig1_files(chosen, "sigmas.pt"),
        }

    return inputs


def fig1_sample_counts(datasets):
    """Params: Figure 1's certification sample count ``n`` of each Figure-1 input (same order as the
    inputs); with ``alpha`` it fixes the largest area / radius each sigma can certify (the x-range).
    """

    def counts(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        return [config["datasets"][d]["fig1"]["n"] for d, _ in fig1_pairs(chosen)]

    return counts


def fig1_keys(datasets):
    """Params that say which dataset each Figure-1 input belongs to (same order as the inputs)."""

    def keys(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        return [d for d, _ in fig1_pairs(chosen)]

    return keys


# --- Figures 2 and 4 ----------------------------------------------------------------------------


def fig2_datasets():
    return [d for d in config["run_datasets"] if not facts_of(d).majority_dominated]


def fig4_datasets():
    return [d for d in config["run_datasets"] if facts_of(d).majority_dominated]


def fig2_points(datasets):
    return expand("results/tables/{dataset}/fig2_points.tsv", dataset=datasets)


def fig2_fronts(datasets):
    return expand("results/tables/{dataset}/fig2_front.tsv", dataset=datasets)


def fig2_inputs(wildcards):
    check_fig2_datasets(fig2_datasets(), fig4_datasets())
    return {
        "points": fig2_points(fig2_datasets()),
        "fronts": fig2_fronts(fig2_datasets()),
    }


def fig4_inputs(wildcards):
    """Figure 4 exists only for KITTI: asking for it otherwise fails before any work is done."""
    check_fig4_datasets(fig4_datasets())
    return {
        "points": fig2_points(fig4_datasets()),
        "fronts": fig2_fronts(fig4_datasets()),
        "class_counts": [data_path(d, "class_counts.tsv") for d in fig4_datasets()],
    }


def final_outputs():
    """Everything the default target (`all`) builds: every figure and table of the configured datasets,
    and the Figure-1 tables of their replicates."""
    datasets = config["run_datasets"]
    figures = ["fig1", "fig1_l2", "fig3"] + ["fig2"] * bool(fig2_datasets())
    figures += ["fig4"] * bool(fig4_datasets())
    figures += [f"fig1_{d}" for d in datasets] + [f"regions_{d}" for d in datasets]
    tables = [f"results/tables/{d}/{name}.html" for d in datasets for name in ("fig2_front", "certified_accuracy")]
    tables += [
        f"results/tables/{d}/{name}.tsv"
        for d in datasets
        for name in ("certified_accuracy_l2", "paired_differences", "accuracy_during_learning")
    ]
    tables += [f"results/tables/{d}/front_verdict_ranges.tsv" for d in fig2_datasets() + fig4_datasets()]
    regions = [f"results/sigma_regions/{d}/summary.html" for d in datasets]
    figures += [f"convergence_{d}" for d in datasets]
    tables += [
        f"results/tables/{instance}/{name}"
        for instance in replicate_instances()
        for name in ("certified_accuracy.html", "certified_accuracy_l2.tsv", "paired_differences.tsv")
    ]
    return [f"figures/{name}.{ext}" for name in figures for ext in ("pdf", "png")] + tables + regions


def print_run_summary():
    """The run summary (nusmooth.run_summary) on the terminal, when there is one to print."""
    from nusmooth.run_summary import run_summary

    figures = [path for path in final_outputs() if path.startswith("figures/") and path.endswith(".pdf")]
    summary = run_summary(Path("."), config["run_datasets"], figures)
    if summary:
        print(f"\n{summary}\n", file=sys.stderr)


# --- SLURM runtime of the GPU jobs (slurm_site: the rates and the cap) ---------------------------
DEVICE_CHECK_REPORT = device_check_report()
GPU_TIME_LIMIT = gpu_time_limit()


def gpu_runtime(rule):
    """Resource function: the minutes a job of ``rule`` asks SLURM for, scaled by the job's own work
    (nusmooth.cost.job_runtime_minutes). A dataset of your own has no known size before its data are
    read: its jobs ask for FALLBACK_MINUTES (a variant or replicate of a built-in dataset has its sizes)."""

    def runtime(wildcards, attempt):
        name = wildcards.dataset
        if not facts_of(name).pool_sizes:
            return min(FALLBACK_MINUTES, GPU_TIME_LIMIT or FALLBACK_MINUTES)
        block = config["datasets"][name]
        rates = None
        if DEVICE_CHECK_REPORT is not None:
            rates = device_check_rates(DEVICE_CHECK_REPORT, arch_of(name, block))
        job = Job(rule, tuple(wildcards.items()))
        return job_runtime_minutes(
            job,
            name,
            block,
            rates=rates,
            attempt=attempt,
            limit=GPU_TIME_LIMIT,
            batch_size=config["certify_batch_size"],
        )

    return runtime


# --- docs/results.md (rules/docs.smk) -------------------------------------------------------------
#: The tables the page reads, by input name (one file per dataset, in run_datasets order).
RESULTS_DOC_TABLES = {
    "area": "results/tables/{dataset}/certified_accuracy.tsv",
    "l2": "results/tables/{dataset}/certified_accuracy_l2.tsv",
    "differences": "results/tables/{dataset}/paired_differences.tsv",
    "ranges": "results/tables/{dataset}/verdict_ranges.tsv",
    "front": "results/tables/{dataset}/fig2_front.tsv",
    "front_ranges": "results/tables/{dataset}/front_verdict_ranges.tsv",
    "learning": "results/tables/{dataset}/accuracy_during_learning.tsv",
    "regions": "results/sigma_regions/{dataset}/summary.tsv",
}


def results_doc_shown():
    """(figure under figures/, its copy's name under docs/results/) of every image the page shows."""
    datasets = config["run_datasets"]
    names = [f"fig1_{d}" for d in datasets] + [f"regions_{d}" for d in datasets] + ["fig1_l2", "fig3"]
    return [(f"figures/{name}.png", f"docs/results/{name}.png") for name in names + ["fig2"] * bool(fig2_datasets())]


def results_doc_figures():
    return [copy for _, copy in results_doc_shown()]


def gpu_job_records(jobs):
    """Each job as the page reads it: its rule, wildcards and benchmark file."""
    benchmark = {name: getattr(rules, name).benchmark for name in GPU_RULES}
    return [
        {
            "rule": job.rule,
            "wildcards": dict(job.wildcards),
            "benchmark": benchmark[job.rule].format(**dict(job.wildcards)),
        }
        for job in jobs
    ]


def planned_gpu_jobs():
    """Every GPU job of the configured datasets that the DAG plans before any job has run (nusmooth.cost)."""
    check_results_doc_datasets(config["run_datasets"])
    jobs = []
    for dataset in config["run_datasets"]:
        jobs += [j for j in figure_jobs(dataset, config["datasets"][dataset])["all"] if not chosen_on_validation(j)]
    return jobs


def chosen_envelope_jobs(datasets):
    """The envelope's test jobs its choice asked for (known once choose_envelope has run)."""
    return [
        Job("certify_envelope", (("dataset", d), ("constant", c), ("split", SHOWN_SPLIT)))
        for d in datasets
        for c in chosen_envelope_constants(d)
    ]


def results_doc_jobs(wildcards):
    """Params: every GPU job of each dataset that ran, with its benchmark file."""
    return gpu_job_records(planned_gpu_jobs() + chosen_envelope_jobs(config["run_datasets"]))


def envelope_benchmarks(datasets):
    """Input function: the benchmark files of the envelope's test jobs of ``datasets`` (apart from the
    other inputs: they wait for the checkpoint)."""

    def benchmarks(wildcards):
        return [job["benchmark"] for job in gpu_job_records(chosen_envelope_jobs(datasets))]

    return benchmarks


def results_doc_inputs(wildcards):
    datasets = config["run_datasets"]
    inputs = {name: [pattern.format(dataset=d) for d in datasets] for name, pattern in RESULTS_DOC_TABLES.items()}
    inputs |= {
        "envelope_choices": [ENVELOPE_CHOICE.pattern.format(dataset=d) for d in datasets],
        "choices": fig1_files(datasets, "choice.json"),
        "sigmas": fig1_files(datasets, "sigmas.pt"),
        "figures": [figure for figure, _ in results_doc_shown()],
        "benchmarks": [job["benchmark"] for job in gpu_job_records(planned_gpu_jobs())],
        "prepare": [rules.prepare_data.benchmark.format(dataset=d) for d in datasets],
    }
    return inputs


def results_command():
    """Params: the command that regenerates docs/results.md from this configuration."""
    return page_command("docs/results.md")


# --- replicates, sigma learning's convergence, docs/robustness.md (rules/robustness.smk) ------------


def instances_of(name):
    """The dataset name of every replicate of block ``name``, replicate 1 (the block itself) first."""
    return replicate_names(name, config["datasets"][name]["replicates"])


def replicate_instances():
    """Replicates 2, 3, ... of every dataset of run_datasets (`all` builds their Figure-1 tables)."""
    return [instance for name in config["run_datasets"] for instance in instances_of(name)[1:]]


def convergence_sweeps(name):
    """Params: instance, replicate and constant of every Figure-1 sweep of block ``name`` and its
    replicates, in the order of convergence_inputs."""
    return [
        {"instance": instance, "replicate": replicate, "init": float(init)}
        for replicate, instance in enumerate(instances_of(name), start=1)
        for init in config["datasets"][name]["fig1"]["inits"]
    ]


def convergence_inputs(wildcards):
    """The history, snapshots and validation metrics of every sweep of convergence_sweeps, and the
    data summary (its training points give the steps per sub-epoch)."""
    sweeps = convergence_sweeps(wildcards.dataset)
    return {
        "summary": data_path(wildcards.dataset, "summary.json"),
        "histories": [f"results/sigma/{s['instance']}/init_{path_number(s['init'])}/history.tsv" for s in sweeps],
        "snapshots": [f"results/sigma/{s['instance']}/init_{path_number(s['init'])}/snapshots.pt" for s in sweeps],
        "validation": [f"results/sweep/{s['instance']}/learned_{path_number(s['init'])}/val.tsv" for s in sweeps],
    }


def regime_title(wildcards):
    """Params: the block's title, naming how its base model was trained (a noise-trained block's and a
    variant's own title names it already: workflow_config.regime_title)."""
    block = dataset_config(wildcards)
    return block["title"] or f"{facts_of(wildcards.dataset).title}\n{regime_tag(block['model'])}"


def robustness_instances():
    """Every replicate of every block of run_datasets, block by block."""
    return [instance for name in config["run_datasets"] for instance in instances_of(name)]


def robustness_blocks():
    """Params: every block of run_datasets with its replicates, the dataset whose data it reads, that
    dataset's title, and its config block (with alpha)."""
    blocks = []
    for name in config["run_datasets"]:
        owner = data_owner(name, config["datasets"])
        blocks.append(
            {
                "name": name,
                "dataset": owner,
                "title": facts_of(owner).title,
                "instances": instances_of(name),
                "config": {**config["datasets"][name], "alpha": config["alpha"]},
            }
        )
    return blocks


def robustness_shown():
    """(figure under figures/, its copy under docs/robustness/) of every image docs/robustness.md shows."""
    names = [f"{kind}_{name}" for name in config["run_datasets"] for kind in ("fig1", "convergence")]
    return [(f"figures/{name}.png", f"docs/robustness/{name}.png") for name in names]


def robustness_planned_jobs():
    """Figure 1's GPU jobs (nusmooth.cost) of every replicate that the DAG plans before any job has run
    (the envelope's test jobs wait for its choice: chosen_envelope_jobs)."""
    return [
        job
        for instance in robustness_instances()
        for job in figure_jobs(instance, config["datasets"][instance])["fig1"]
        if not chosen_on_validation(job)
    ]


def robustness_jobs(wildcards):
    """Params: Figure 1's GPU jobs of every replicate that ran, with their benchmark files."""
    return gpu_job_records(robustness_planned_jobs() + chosen_envelope_jobs(robustness_instances()))


def robustness_inputs(wildcards):
    instances = robustness_instances()
    return fig1_inputs(instances)(wildcards) | {
        "sigmas": fig1_files(instances, "sigmas.pt"),
        "models": [f"results/models/{instance}/model.pt" for instance in instances],
        "histories": [f"results/models/{instance}/history.tsv" for instance in instances],
        "convergence": [f"results/convergence/{name}/sub_epochs.tsv" for name in config["run_datasets"]],
        "figures": [figure for figure, _ in robustness_shown()],
        "benchmarks": [job["benchmark"] for job in gpu_job_records(robustness_planned_jobs())],
        "envelope_validation": [
            envelope_file(instance, constant, CHOOSING_SPLIT)
            for instance in instances
            for constant in envelope_constants(config["datasets"][instance])
        ],
    }


def robustness_envelope_constants():
    """Params: each replicate's envelope grid, in the order of robustness_inputs' envelope_validation."""
    return {
        instance: [float(c) for c in envelope_constants(config["datasets"][instance])]
        for instance in robustness_instances()
    }


def page_command(target):
    """The command that regenerates the page ``target`` from this configuration: its preset and the
    data path of each dataset whose data the run reads (a variant's are its built-in's)."""
    preset = config.get("preset", "default")
    owners = dict.fromkeys(data_owner(name, config["datasets"]) for name in config["run_datasets"])
    paths = {d: config["datasets"][d]["source"]["path"] for d in owners}
    given = ", ".join(f"{d}: {{source: {{path: {p}}}}}" for d, p in paths.items() if p is not None)
    command = f"snakemake {target} --cores 2 --resources gpu=1 --config preset={preset}"
    return command + (f" 'datasets={{{given}}}'" if given else "")
