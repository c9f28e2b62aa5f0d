# Helpers shared by every stage file (config access, consistency checks, path builders).
import math


def fail_config(key, problem, fix):
    raise ValueError(f"config key '{key}': {problem}. Fix: {fix}")


def check_config():
    """Cross-key rules that a JSON schema cannot state; fills the blocks of datasets left implicit."""
    for name in config["run_datasets"]:
        config["datasets"].setdefault(name, {})
    validate(
        config, "../schemas/config.schema.yaml"
    )  # fills defaults of the blocks just added
    for name, block in config["datasets"].items():
        total = sum(block["split"][part] for part in ("train", "val", "test"))
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


# --- datasets, architectures and data paths (issue 3) ---
PAPER_ARCH = {
    "mnist5k": "mnist_cnn",
    "mnist": "mnist_cnn",
    "fashion_mnist": "mnist_cnn",
    "cifar10": "resnet110",
    "imagenet": "resnet50",
    "kitti": "resnet50",
}
ARCH_CHANNELS = {"mnist_cnn": 1, "resnet110": 3, "resnet50": 3}
DATASET_CHANNELS = {
    "mnist5k": 1,
    "mnist": 1,
    "fashion_mnist": 1,
    "cifar10": 3,
    "imagenet": 3,
    "kitti": 3,
}
DATA_WITHOUT_DOWNLOAD = {
    "imagenet": "an ILSVRC-2012 folder with train/ and val/ in ImageFolder layout",
    "kitti": "the KITTI 2D object folder holding training/image_2 and training/label_2",
}


def check_datasets():
    """Architecture defaults and compatibility; data paths that cannot be downloaded. Only checks
    that paths are set: reading them is the prepare_data job's work (a dry run reads no data).
    """
    for name, block in config["datasets"].items():
        model = block["model"]
        if model["arch"] is None:
            model["arch"] = PAPER_ARCH[name]
        if ARCH_CHANNELS[model["arch"]] != DATASET_CHANNELS[name]:
            fail_config(
                f"datasets.{name}.model.arch",
                f"{model['arch']} takes {ARCH_CHANNELS[model['arch']]}-channel images, {name} has {DATASET_CHANNELS[name]}",
                f"use {PAPER_ARCH[name]} (or null for the paper's architecture)",
            )
        if model["pretrained"] and (name != "imagenet" or model["arch"] != "resnet50"):
            fail_config(
                f"datasets.{name}.model.pretrained",
                "pretrained weights exist only for resnet50 on imagenet",
                "set it to false",
            )
    for name in config["run_datasets"]:
        if (
            name in DATA_WITHOUT_DOWNLOAD
            and config["datasets"][name]["source"]["path"] is None
        ):
            fail_config(
                f"datasets.{name}.source.path",
                f"{name} cannot be downloaded automatically and no local copy is set",
                f"set it to {DATA_WITHOUT_DOWNLOAD[name]}, e.g. --config 'datasets={{{name}: {{source: {{path: /data/{name}}}}}}}', "
                f"or drop {name} from run_datasets (nothing else depends on it)",
            )


# --- end issue 3 ---


check_config()
check_datasets()


def fmt(value):
    """A number as it appears in paths and wildcards (0.25 -> '0.25', 1.0 -> '1')."""
    return f"{value:g}"


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def sigma_inits(dataset):
    return [fmt(v) for v in config["datasets"][dataset]["sigma"]["inits"]]


def fig1_inits(dataset):
    return [fmt(v) for v in config["datasets"][dataset]["fig1"]["inits"]]


def sweep_metrics(dataset):
    """Every Figure-2 point of a dataset: learned snapshots and isotropic constants."""
    return expand(
        "results/sweep/{dataset}/{kind}_{init}/metrics.tsv",
        dataset=dataset,
        kind=["learned", "isotropic"],
        init=sigma_inits(dataset),
    )


def fig1_certificates(dataset):
    return expand(
        "results/certify/{dataset}/fig1_init_{init}/{kind}.tsv",
        dataset=dataset,
        init=fig1_inits(dataset),
        kind=["learned", "isotropic"],
    )


# --- Figures, tables and report (issue 4) ---------------------------------------------------------

#: Datasets dominated by one class (paper, Figure 4): drawn apart, next to the majority-class accuracy.
MAJORITY_DOMINATED = ["kitti"]


def fig2_datasets():
    return [d for d in config["run_datasets"] if d not in MAJORITY_DOMINATED]


def fig4_datasets():
    return [d for d in config["run_datasets"] if d in MAJORITY_DOMINATED]


def fig1_choices(dataset):
    return expand(
        "results/certify/{dataset}/fig1_init_{init}/choice.json",
        dataset=dataset,
        init=fig1_inits(dataset),
    )


def fig1_sigmas(dataset):
    return expand(
        "results/certify/{dataset}/fig1_init_{init}/sigmas.pt",
        dataset=dataset,
        init=fig1_inits(dataset),
    )


def fig2_points(datasets):
    return expand("results/tables/{dataset}/fig2_points.tsv", dataset=datasets)


def fig2_inputs(wildcards):
    if not fig2_datasets():
        fail_config(
            "run_datasets",
            f"figures/fig2.pdf needs a dataset other than {MAJORITY_DOMINATED}",
            "add one (e.g. mnist5k) or ask only for figures/fig4.pdf",
        )
    return {"points": fig2_points(fig2_datasets())}


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
        "class_counts": expand(
            "results/data/{dataset}/class_counts.tsv", dataset=fig4_datasets()
        ),
    }


def final_outputs():
    """Everything the final target (`all`) builds - every figure and table of the configured datasets."""
    datasets = config["run_datasets"]
    figures = ["fig1", "fig3"] + ["fig2"] * bool(fig2_datasets())
    figures += ["fig4"] * bool(fig4_datasets())
    figures += [f"fig1_{d}" for d in datasets] + [f"regions_{d}" for d in datasets]
    tables = [
        f"results/tables/{d}/{name}.html"
        for d in datasets
        for name in ("fig2_front", "certified_accuracy")
    ]
    regions = [f"results/features/{d}/summary.html" for d in datasets]
    return (
        [f"figures/{name}.{ext}" for name in figures for ext in ("pdf", "png")]
        + tables
        + regions
    )
