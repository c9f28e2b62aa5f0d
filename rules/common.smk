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


check_config()


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
