# Helpers shared by every stage file: the preset, the config check (its rules: workflow_scripts/
# workflow_config.py), the per-job parameter blocks, and the input functions that name every file a
# script reads. Dataset facts come from nusmooth.registry.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from nusmooth.registry import CERTIFIED_SPLITS, DATASETS, SIGMA_KINDS, facts_for
from nusmooth.cost import (
    FALLBACK_MINUTES,
    GPU_RULES,
    Job,
    arch_of,
    device_check_rates,
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
    """One sweep's settings: the sigma block without the list of initial constants."""
    return canonical({k: v for k, v in dataset_config(wildcards)["sigma"].items() if k != "inits"})


def fig1_certify_params(wildcards):
    """Figure 1's certification settings, without the list of constants or the selection rule."""
    fig1 = dataset_config(wildcards)["fig1"]
    return {key: fig1[key] for key in sorted(("n0", "n", "test_points", "seed"))}


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
        "dataset": f"results/data/{wildcards.dataset}/dataset.pt",
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
        "dataset": f"results/data/{name}/dataset.pt",
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


def fig1_pairs(datasets):
    """(dataset, init) of every Figure-1 vector, in a fixed order shared by inputs and params."""
    return [(d, i) for d in datasets for i in fig1_inits(d)]


def fig1_files(datasets, name):
    return [f"results/certify/{d}/fig1_init_{i}/{name}" for d, i in fig1_pairs(datasets)]


def fig1_validation_records(datasets, kind):
    """Validation records of each Figure-1 vector's sweep (scripts keep the chosen snapshot's rows):
    thresholds and x-ranges come from them, never from test."""
    return [f"results/sweep/{d}/{kind}_{i}/val_records.tsv.gz" for d, i in fig1_pairs(datasets)]


def fig1_inputs(datasets):
    """Input function: the choice, both certificate tables and the sigmas of each Figure-1 vector,
    and the validation records their thresholds and x-ranges are taken from."""

    def inputs(wildcards):
        chosen = datasets if datasets is not None else [wildcards.dataset]
        return {
            "choices": fig1_files(chosen, "choice.json"),
            "learned": fig1_files(chosen, "learned.tsv"),
            "isotropic": fig1_files(chosen, "isotropic.tsv"),
            "val_learned": fig1_validation_records(chosen, "learned"),
            "val_isotropic": fig1_validation_records(chosen, "isotropic"),
        }

    return inputs


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
        "class_counts": expand("results/data/{dataset}/class_counts.tsv", dataset=fig4_datasets()),
    }


def final_outputs():
    """Everything the default target (`all`) builds: every figure and table of the configured datasets."""
    datasets = config["run_datasets"]
    figures = ["fig1", "fig1_l2", "fig3"] + ["fig2"] * bool(fig2_datasets())
    figures += ["fig4"] * bool(fig4_datasets())
    figures += [f"fig1_{d}" for d in datasets] + [f"regions_{d}" for d in datasets]
    tables = [f"results/tables/{d}/{name}.html" for d in datasets for name in ("fig2_front", "certified_accuracy")]
    tables += [
        f"results/tables/{d}/{name}.tsv" for d in datasets for name in ("certified_accuracy_l2", "paired_differences")
    ]
    regions = [f"results/sigma_regions/{d}/summary.html" for d in datasets]
    return [f"figures/{name}.{ext}" for name in figures for ext in ("pdf", "png")] + tables + regions


# --- SLURM runtime of the GPU jobs (slurm_site: the rates and the cap) ---------------------------
DEVICE_CHECK_REPORT = device_check_report()
GPU_TIME_LIMIT = gpu_time_limit()


def gpu_runtime(rule):
    """Resource function: the minutes a job of ``rule`` asks SLURM for, scaled by the job's own work
    (nusmooth.cost.job_runtime_minutes). A dataset of your own has no known size before its data are
    read: its jobs ask for FALLBACK_MINUTES."""

    def runtime(wildcards, attempt):
        name = wildcards.dataset
        if name not in DATASETS:
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
    "front": "results/tables/{dataset}/fig2_front.tsv",
    "regions": "results/sigma_regions/{dataset}/summary.tsv",
}


def results_doc_shown():
    """(figure under figures/, its copy's name under docs/results/) of every image the page shows."""
    datasets = config["run_datasets"]
    names = [f"fig1_{d}" for d in datasets] + [f"regions_{d}" for d in datasets] + ["fig1_l2", "fig3"]
    return [(f"figures/{name}.png", f"docs/results/{name}.png") for name in names + ["fig2"] * bool(fig2_datasets())]


def results_doc_figures():
    return [copy for _, copy in results_doc_shown()]


def results_doc_jobs(wildcards):
    """Params: every GPU job of each dataset (nusmooth.cost's job list) with its benchmark file."""
    benchmark = {name: getattr(rules, name).benchmark for name in GPU_RULES}
    check_results_doc_datasets(config["run_datasets"])
    listed = []
    for dataset in config["run_datasets"]:
        for job in figure_jobs(dataset, config["datasets"][dataset])["all"]:
            values = dict(job.wildcards)
            listed.append({"rule": job.rule, "wildcards": values, "benchmark": benchmark[job.rule].format(**values)})
    return listed


def results_doc_inputs(wildcards):
    datasets = config["run_datasets"]
    inputs = {name: [pattern.format(dataset=d) for d in datasets] for name, pattern in RESULTS_DOC_TABLES.items()}
    inputs |= {
        "choices": fig1_files(datasets, "choice.json"),
        "sigmas": fig1_files(datasets, "sigmas.pt"),
        "figures": [figure for figure, _ in results_doc_shown()],
        "benchmarks": [job["benchmark"] for job in results_doc_jobs(wildcards)],
        "prepare": [rules.prepare_data.benchmark.format(dataset=d) for d in datasets],
    }
    return inputs


def results_command():
    """Params: the command that regenerates docs/results.md from this configuration."""
    preset = config.get("preset", "default")
    paths = {d: config["datasets"][d]["source"]["path"] for d in config["run_datasets"]}
    given = ", ".join(f"{d}: {{source: {{path: {p}}}}}" for d, p in paths.items() if p is not None)
    command = f"snakemake docs/results.md --cores 2 --resources gpu=1 --config preset={preset}"
    return command + (f" 'datasets={{{given}}}'" if given else "")
