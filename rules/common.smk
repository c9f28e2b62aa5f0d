# Helpers shared by every stage file: config checks, the per-job parameter blocks, and the input
# functions that name every file a script reads. Dataset facts come from nusmooth.registry.
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from nusmooth.registry import (
    ARCHITECTURES,
    CERTIFIED_SPLITS,
    DATASETS,
    PRETRAINED,
    SIGMA_KINDS,
    SPLITS,
    facts_for,
    is_configured,
)
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
from snakefile_support import (
    clear_stale_locks,
    coerce_by_schema,
    device_check_report,
    gpu_time_limit,
    preset_file,
    record_lock_owner,
)

SCHEMA = str(Path(workflow.basedir) / "schemas" / "config.schema.yaml")


# A preset (`--config preset=paper`) layers presets/<name>.yaml (beside the Snakefile) over
# config.yaml; Snakemake then re-applies --config/--configfile values on top, so the command line
# still wins. An unknown name fails listing the presets that exist.
if config.get("preset", "default") != "default":

    configfile: preset_file(Path(workflow.basedir) / "presets", config["preset"])


def fail_config(key, problem, fix):
    raise ValueError(f"config key '{key}': {problem}. Fix: {fix}")


def check_config():
    """Validate (after turning the strings of nested --config values back into numbers), fill the
    blocks of datasets left implicit, and check what the schema cannot state."""
    coerce_by_schema(config, SCHEMA)
    # Names in run_datasets without a block of their own (a typo there is then named as such).
    implicit = [n for n in config.get("run_datasets", []) if n not in config.get("datasets", {})]
    for name in implicit:
        config.setdefault("datasets", {})[name] = {}
    validate(config, SCHEMA)
    for name, block in config["datasets"].items():
        check_dataset_name(name, block, named_only_in_run_datasets=name in implicit)
        total = sum(block["split"][part] for part in SPLITS)
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            fail_config(
                f"datasets.{name}.split",
                f"train + val + test = {total:g}",
                "make the three fractions sum to 1",
            )
        missing = set(block["fig1"]["inits"]) - set(block["sigma"]["inits"])
        if missing:
            fail_config(
                f"datasets.{name}.fig1.inits",
                f"{sorted(missing)} not in datasets.{name}.sigma.inits",
                "list only constants that have a sigma sweep",
            )
        check_model(name, block["model"])
    for name in config["run_datasets"]:
        needs = facts_of(name).needs_path
        if needs and config["datasets"][name]["source"]["path"] is None:
            fail_config(
                f"datasets.{name}.source.path",
                f"{name} cannot be downloaded automatically and no local copy is set",
                f"set it to {needs}, e.g. --config 'datasets={{{name}: {{source: {{path: /data/{name}}}}}}}', "
                f"or drop {name} from run_datasets (nothing else depends on it)",
            )
        if "split_by" in facts_of(name).source_keys:
            check_split_unit(name, config["datasets"][name]["source"])


def check_split_unit(name, source):
    """A dataset split by drive needs the drive mapping; the frame split (frames of one drive in
    training and test alike) is made only when asked for. Checked here so that a dry run fails,
    before any data is read."""
    if source["split_by"] == "drive" and source["drive_mapping"] is None:
        fail_config(
            f"datasets.{name}.source.drive_mapping",
            f"not set, so {name} cannot be split by drive (source.split_by: drive, the default), "
            "and frames of one drive are not split across training, validation and test silently",
            "set it to the KITTI object devkit's mapping/ folder, or set "
            f"datasets.{name}.source.split_by to frame for the paper's frame-level split "
            "(Figure 4's caption then says so)",
        )
    if source["split_by"] == "frame" and source["drive_mapping"] is not None:
        fail_config(
            f"datasets.{name}.source.split_by",
            f"frame, but datasets.{name}.source.drive_mapping is set and would go unused",
            "set split_by to drive to split by drive, or drive_mapping to null for the frame split",
        )


def facts_of(name):
    """Dataset facts: the registry's, or those of a dataset of your own from its config block."""
    return facts_for(name, config["datasets"][name])


def check_dataset_name(name, block, named_only_in_run_datasets=False):
    """A name that is not built in is a dataset of your own: its block must say where the data is."""
    if name in DATASETS:
        if block["source"]["format"] is not None:
            fail_config(
                f"datasets.{name}.source.format",
                f"{name} is a built-in dataset, read by its own reader",
                f"remove the key, or give your copy another name (e.g. my_{name})",
            )
        return
    if not is_configured(name, block):
        fail_config(
            "run_datasets" if named_only_in_run_datasets else f"datasets.{name}",
            f"{name!r} is not a built-in dataset ({', '.join(DATASETS)}) and datasets.{name} has no source.format",
            f"fix the name, or describe your data: datasets.{name}.source.format (image_folder or "
            f"tensor_file) and datasets.{name}.source.path (docs/datasets.md)",
        )
    path = block["source"]["path"]
    if path is None or not Path(path).exists():
        fail_config(
            f"datasets.{name}.source.path",
            f"{'not set' if path is None else f'{path} does not exist'}",
            "set it to your image folder or tensor file (.pt or .npz)",
        )


# Model keys added after the first release: left out of train_base's params (and so of model.pt's
# train_config) while unset, so that the checkpoints and params of existing runs stay the same.
NEW_MODEL_KEYS = ("source", "mean", "std", "train_points")


def model_params(wildcards):
    """train_base's model block, keys sorted, without the newer keys that are unset."""
    block = dataset_config(wildcards)["model"]
    return canonical({k: v for k, v in block.items() if not (k in NEW_MODEL_KEYS and v is None)})


def check_configured_model(name, model, facts):
    """model.source / model.weights: files exist and the keys go together (no torch here: the
    model itself is loaded and tried on one batch at the start of train_base)."""
    source, weights = model["source"], model["weights"]
    if source is not None:
        kind, _, rest = source.partition(":")
        if kind == "torchscript" and not Path(rest).is_file():
            fail_config(
                f"datasets.{name}.model.source",
                f"TorchScript file {rest} does not exist",
                "set it to torchscript:<a file written by torch.jit.save>",
            )
        if kind == "torchscript" and weights is not None:
            fail_config(
                f"datasets.{name}.model.weights",
                "set together with a TorchScript model.source, which carries its own weights",
                "set model.weights to null",
            )
        if model["pretrained"]:
            fail_config(
                f"datasets.{name}.model.pretrained",
                "true together with model.source",
                "set pretrained to false and the weights in model.weights",
            )
    if weights is not None and not Path(weights).is_file():
        fail_config(
            f"datasets.{name}.model.weights",
            f"file {weights} does not exist",
            "set it to a state_dict file (torch.save(model.state_dict(), path)), or null to train",
        )
    for key in ("mean", "std"):
        channels = facts.channels
        if model[key] is not None and channels and len(model[key]) != channels:
            fail_config(
                f"datasets.{name}.model.{key}",
                f"{len(model[key])} values for {channels}-channel images",
                f"give {channels} values (one per channel), or null for the dataset's",
            )


def check_model(name, model):
    """The architecture defaults to the paper's and must take the dataset's channels. Only checks
    settings: reading data is the prepare_data job's work (a dry run reads no data)."""
    facts = facts_of(name)
    check_configured_model(name, model, facts)
    if model["source"] is not None:
        return
    if model["arch"] is None:
        model["arch"] = facts.arch
    if model["arch"] is None:
        fail_config(
            f"datasets.{name}.model",
            f"{name} is a dataset of your own and names no model",
            f"set datasets.{name}.model.source (torchscript:<file>, torchvision:<arch> or "
            f"module:<module>:<callable>) or datasets.{name}.model.arch ({', '.join(ARCHITECTURES)})",
        )
    channels = ARCHITECTURES[model["arch"]].channels
    if facts.channels is not None and channels != facts.channels:
        fail_config(
            f"datasets.{name}.model.arch",
            f"{model['arch']} takes {channels}-channel images, {name} has {facts.channels}",
            f"use {facts.arch} (or null for the paper's architecture)",
        )
    pretrained = (PRETRAINED.dataset, PRETRAINED.arch)
    if model["pretrained"] and (name, model["arch"]) != pretrained:
        fail_config(f"datasets.{name}.model.pretrained", PRETRAINED.rule, "set it to false")


check_config()
if workflow.is_main_process:
    clear_stale_locks(Path(".snakemake"))


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


# --- each job's own parameters: a change elsewhere in the config must not rerun it ----------------
# Snakemake compares a job's params with the last run's as written, key order included; blocks are
# passed with sorted keys so that reordering a config file (or a YAML dump of it) reruns nothing.


def canonical(value):
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


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
    changing it never reruns this split."""
    block = dataset_config(wildcards)["sweep_eval"]
    return canonical(
        {
            "n0": block["n0"],
            "n": block["n"],
            "seed": block["seed"],
            "points": block[f"{wildcards.split}_points"],
        }
    )


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


def evaluate_inputs(wildcards):
    """A learned sweep is certified from its snapshots; an isotropic constant needs only the model."""
    inputs = {
        "dataset": f"results/data/{wildcards.dataset}/dataset.pt",
        "model": f"results/models/{wildcards.dataset}/model.pt",
    }
    if wildcards.kind == "learned":
        inputs["snapshots"] = f"results/sigma/{wildcards.dataset}/init_{wildcards.init}/snapshots.pt"
    return inputs


def sweep_metrics(wildcards):
    """Every Figure-2 point of a dataset: learned snapshots and isotropic constants, on validation
    (which chooses the fronts) and test (which the figures show)."""
    return expand(
        "results/sweep/{dataset}/{kind}_{init}/{split}.tsv",
        dataset=wildcards.dataset,
        kind=SIGMA_KINDS,
        init=sigma_inits(wildcards.dataset),
        split=CERTIFIED_SPLITS,
    )


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
    if not fig2_datasets():
        fail_config(
            "run_datasets",
            f"figures/fig2.pdf needs a dataset that is not majority-dominated ({', '.join(fig4_datasets())} "
            "go to Figure 4)",
            "add one (e.g. mnist5k) or ask only for figures/fig4.pdf",
        )
    return {
        "points": fig2_points(fig2_datasets()),
        "fronts": fig2_fronts(fig2_datasets()),
    }


def fig4_inputs(wildcards):
    """Figure 4 exists only for KITTI: asking for it otherwise fails before any work is done."""
    if not fig4_datasets():
        fail_config(
            "run_datasets",
            "figures/fig4.pdf is the KITTI figure, but kitti is not configured",
            "add kitti to run_datasets, or leave figures/fig4.pdf out of the targets",
        )
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


# --- SLURM runtime of the GPU jobs (snakefile_support: the rates and the cap) ---------------------
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
        return job_runtime_minutes(job, name, block, rates=rates, attempt=attempt, limit=GPU_TIME_LIMIT)

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
    listed = []
    for dataset in config["run_datasets"]:
        if dataset not in DATASETS:
            fail_config(
                "run_datasets",
                f"docs/results.md reports built-in datasets only (their sizes give each stage's work), and "
                f"{dataset} is a dataset of your own",
                "ask for `all` (every figure and table, with intervals) or drop it from run_datasets for this target",
            )
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
