"""The rules of the workflow's configuration, in one importable place: strings of nested ``--config``
values typed by the schema, preset files, the schema itself (with its defaults filled in), and what the
schema cannot state (split fractions, Figure 1's constants, data paths, models, KITTI's split unit, the
datasets a target needs). ``rules/common.smk`` calls them; tests/unit/test_workflow_config.py calls them
in-process.

A support module, not a part of the library: the schema is applied by Snakemake's own ``validate``,
which also fills every default (the library never imports Snakemake). Every check raises a
:class:`ConfigError` naming the config key, the problem and the fix, before any job runs. Imports
nothing heavy (no torch): it runs at every DAG build.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import yaml
from config_errors import schema_error_message

from nusmooth.instances import replicate_names
from nusmooth.model_files import module_can_be_found, torchscript_file_problem, weights_file_problem
from nusmooth.model_settings import is_packaged, parse_model_source, regime_tag
from nusmooth.registry import ARCHITECTURES, DATASETS, PRETRAINED, SPLITS, facts_for, is_configured


class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message names the key and the fix."""


def fail_config(key: str, problem: str, fix: str):
    raise ConfigError(f"config key '{key}': {problem}. Fix: {fix}")


# --- numbers inside nested --config values ----------------------------------------------------------
# Snakemake reads a nested --config value (`datasets={mnist5k: {sigma: {inits: [0.1, 0.2]}}}`) with
# YAML's base loader, which keeps every scalar a string, so the schema would reject '0.1' as "not of
# type 'number'". The schema says which type each key takes; strings are converted where it asks for
# a number, an integer, a boolean or null, and everything else is left for the schema to judge.

_NULLS = {"null", "Null", "NULL", "~", ""}
_BOOLEANS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


def coerce_by_schema(config: dict, schema_path) -> None:
    """Convert, in place, the string scalars of ``config`` that the schema types as numbers,
    integers, booleans or null."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    for key in list(config):
        config[key] = _coerce(config[key], schema.get("properties", {}).get(key, {}), schema)


def _resolve(node: dict, root: dict) -> dict:
    reference = node.get("$ref", "")
    if reference.startswith("#/"):
        for part in reference[2:].split("/"):
            root = root[part]
        return root
    return node


def _coerce(value, node, root):
    if not isinstance(node, dict):
        return value
    node = _resolve(node, root)
    if isinstance(value, dict):
        extra = node.get("additionalProperties")
        for key in list(value):
            child = node.get("properties", {}).get(key, extra if isinstance(extra, dict) else {})
            value[key] = _coerce(value[key], child, root)
        return value
    if isinstance(value, list):
        return [_coerce(item, node.get("items", {}), root) for item in value]
    if isinstance(value, str):
        return _scalar(value, node.get("type", []))
    return value


def _scalar(text: str, types):
    types = [types] if isinstance(types, str) else list(types)
    if "null" in types and text in _NULLS:
        return None
    if "boolean" in types and text in _BOOLEANS:
        return _BOOLEANS[text]
    for kind, convert in (("integer", int), ("number", float)):
        if kind in types:
            try:
                return convert(text)
            except ValueError:
                pass
    return text


# --- presets ------------------------------------------------------------------------------------


def preset_file(folder: Path, name: str) -> str:
    """``folder/<name>.yaml``; an unknown name fails listing the presets that exist and the fix
    (without this, a misspelt preset would only report a missing file)."""
    path = Path(folder) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(["default"] + sorted(p.stem for p in Path(folder).glob("*.yaml")))
        raise ConfigError(
            f"config key 'preset': unknown preset {name!r} (there is no presets/{name}.yaml). Presets: {known}. "
            f"Fix: --config preset=<one of these>, or add presets/{name}.yaml (and its name to the preset "
            "enum of schemas/config.schema.yaml)"
        )
    return str(path)


# --- the whole config ---------------------------------------------------------------------------


def check_config(config: dict, schema_path) -> None:
    """Validate ``config`` in place (after turning the strings of nested --config values back into
    numbers), fill the schema's defaults and the blocks of datasets left implicit, and check what the
    schema cannot state."""
    coerce_by_schema(config, schema_path)
    # Names in run_datasets without a block of their own (a typo there is then named as such).
    implicit = [n for n in config.get("run_datasets", []) if n not in config.get("datasets", {})]
    for name in implicit:
        config.setdefault("datasets", {})[name] = {}
    given = {name: set(block) for name, block in config.get("datasets", {}).items() if isinstance(block, dict)}
    for name in given:  # a variant reads its built-in's data, whose block then exists with its defaults
        of = config["datasets"][name].get("of")
        if isinstance(of, str) and of in DATASETS:
            config["datasets"].setdefault(of, {})
    validate_schema(config, schema_path)
    for name, block in config["datasets"].items():
        if block["of"] is None:
            check_dataset_name(name, block, named_only_in_run_datasets=name in implicit)
        else:
            share_variant_data(name, config["datasets"], given[name])
        check_split_fractions(name, block["split"])
        missing = set(block["fig1"]["inits"]) - set(block["sigma"]["inits"])
        if missing:
            fail_config(
                f"datasets.{name}.fig1.inits",
                f"{sorted(missing)} not in datasets.{name}.sigma.inits",
                "list only constants that have a sigma sweep",
            )
        check_model(name, block["model"], facts_for(name, block))
        check_train_noise(name, block["model"])
        block["title"] = regime_title(name, block)
        check_racing_stages(name, block["sweep_eval"]["racing"]["stages"])
    for name in config["run_datasets"]:
        block = config["datasets"][name]
        facts = facts_for(name, block)
        if facts.needs_path and block["source"]["path"] is None:
            fail_config(
                f"datasets.{name}.source.path",
                f"{name} cannot be downloaded automatically and no local copy is set",
                f"set it to {facts.needs_path}, e.g. --config 'datasets={{{name}: {{source: {{path: /data/{name}}}}}}}', "
                f"or drop {name} from run_datasets (nothing else depends on it)",
            )
        if "split_by" in facts.source_keys:
            check_split_unit(name, block["source"])
    add_replicates(config["datasets"])


def validate_schema(config: dict, schema_path) -> None:
    """Snakemake's schema validation (which fills the defaults, as it always has); a violation is a
    :class:`ConfigError` of one paragraph (config_errors.schema_error_message), never the validator's
    dump of the schema."""
    import jsonschema
    from snakemake.utils import validate

    try:
        validate(config, str(schema_path))
    except Exception as error:  # Snakemake's WorkflowError, raised while handling the ValidationError
        cause = error.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        raise ConfigError(schema_error_message(cause)) from None


def check_racing_stages(name: str, stages: list) -> None:
    """The race's fractions of the validation points (the schema checks each lies in (0, 1])."""
    if any(b <= a for a, b in zip(stages, stages[1:])) or stages[-1] != 1:
        fail_config(
            f"datasets.{name}.sweep_eval.racing.stages",
            f"{stages} do not increase to 1 (every validation point)",
            "list increasing fractions ending with 1, e.g. [0.125, 0.25, 0.5, 1.0], or [1.0] for no race",
        )


def check_split_fractions(name: str, split: dict) -> None:
    total = sum(split[part] for part in SPLITS)
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        fail_config(f"datasets.{name}.split", f"train + val + test = {total:g}", "make the three fractions sum to 1")


def check_split_unit(name: str, source: dict) -> None:
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


def check_dataset_name(name: str, block: dict, named_only_in_run_datasets: bool = False) -> None:
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


# --- variants and replicates (nusmooth.instances) ------------------------------------------------

#: The keys of a dataset block that a variant takes from the built-in dataset it is ``of``: its data.
VARIANT_DATA_KEYS = ("source", "split")


def share_variant_data(name: str, datasets: dict, given: set) -> None:
    """Variant ``name`` (``datasets.<name>.of``) of a built-in dataset: its block takes the built-in's
    data settings (so the cost of its jobs is counted from them); the variant may not set its own."""
    of = datasets[name]["of"]
    if name in DATASETS:
        fail_config(
            f"datasets.{name}.of",
            f"{name} is a built-in dataset; a variant of one needs a name of its own",
            f"name the variant, e.g. datasets.{name}_noise: {{of: {name}, model: {{train_noise: 0.25}}}}",
        )
    if of not in DATASETS:
        fail_config(
            f"datasets.{name}.of",
            f"{of!r} is not a built-in dataset ({', '.join(DATASETS)}); a variant reads a built-in's data",
            "name one of these, or describe data of your own in datasets.<name>.source (docs/datasets.md)",
        )
    for key in VARIANT_DATA_KEYS:
        if key in given:
            fail_config(
                f"datasets.{name}.{key}",
                f"set on a variant of {of}, which reads {of}'s prepared data",
                f"set it in datasets.{of}.{key} (shared by both blocks, so that they are compared on the same points)",
            )
        datasets[name][key] = copy.deepcopy(datasets[of][key])


def regime_title(name: str, block: dict) -> str | None:
    """The panel title of a block: its own; else, for a variant or a noise-trained base model, the
    dataset's title over the way its base model was trained (two lines); else None (the registry's)."""
    if block["title"] is not None or (block["of"] is None and not block["model"]["train_noise"]):
        return block["title"]
    return f"{facts_for(name, block).title}\n{regime_tag(block['model'])}"


def add_replicates(datasets: dict) -> None:
    """A block of every replicate ``r >= 2`` of each block (``replicates``), named by
    :func:`nusmooth.instances.replicate_name`: a copy of the block's settings (its own dicts), so that
    every input function reads an instance as it reads a dataset."""
    for name, block in list(datasets.items()):
        for instance in replicate_names(name, block["replicates"])[1:]:
            datasets[instance] = copy.deepcopy(block)


# --- the model block ----------------------------------------------------------------------------

#: Model keys added after the first release, with the value that leaves a run as it was: left out of
#: train_base's params (and so of model.pt's train_config) at that value, so that the checkpoints and
#: params of existing runs stay the same.
NEW_MODEL_KEYS = {
    "source": None,
    "mean": None,
    "std": None,
    "train_points": None,
    "outputs": "logits",
    "min_val_accuracy": None,
    # No noise augmentation: the paper's training, the checkpoints of every earlier run.
    "train_noise": 0,
}

#: The same for the sigma block (optimize_sigma's params).
NEW_SIGMA_KEYS = {"stop_when_nothing_counts": True}


def _without_unchanged(block: dict, new_keys: dict) -> dict:
    return {key: value for key, value in block.items() if not (key in new_keys and value == new_keys[key])}


def recorded_model_settings(model: dict) -> dict:
    """train_base's model block as it is passed and recorded: without the newer keys that are unset."""
    return _without_unchanged(model, NEW_MODEL_KEYS)


def recorded_sigma_settings(sigma: dict) -> dict:
    """optimize_sigma's sigma block: without the list of constants and the newer keys at their defaults."""
    return _without_unchanged({key: value for key, value in sigma.items() if key != "inits"}, NEW_SIGMA_KEYS)


def check_train_noise(name: str, model: dict) -> None:
    """Noise augmentation is a way of training: a packaged model (pretrained, given weights, TorchScript)
    is not trained here."""
    if model["train_noise"] and is_packaged(model):
        fail_config(
            f"datasets.{name}.model.train_noise",
            f"{model['train_noise']:g}, but the model is packaged (model.pretrained, model.weights or a TorchScript "
            "model.source), not trained here",
            "set train_noise to 0, or leave the weights out so that train_base trains the model",
        )


def check_configured_model(name: str, model: dict, facts) -> None:
    """model.source / model.weights: files exist and the keys go together (no torch here: the
    model itself is loaded and tried on one batch at the start of train_base)."""
    source, weights = model["source"], model["weights"]
    if source is not None:
        kind, rest = parse_model_source(source)
        if kind == "torchscript" and not Path(rest).is_file():
            fail_config(
                f"datasets.{name}.model.source",
                f"TorchScript file {rest} does not exist",
                "set it to torchscript:<a file written by torch.jit.save>",
            )
        problem = torchscript_file_problem(rest) if kind == "torchscript" else None
        if problem is not None:
            raise ConfigError(f"config key 'datasets.{name}.model.source': {problem}")
        if kind == "module":
            check_module_source(name, rest)
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
    problem = weights_file_problem(weights) if weights is not None else None
    if problem is not None:
        raise ConfigError(f"config key 'datasets.{name}.model.weights': {problem}")
    for key in ("mean", "std"):
        channels = facts.channels
        if model[key] is not None and channels and len(model[key]) != channels:
            fail_config(
                f"datasets.{name}.model.{key}",
                f"{len(model[key])} values for {channels}-channel images",
                f"give {channels} values (one per channel), or null for the dataset's",
            )


def check_module_source(name: str, target: str) -> None:
    """``module:<module>:<callable>``: the module must be found where train_base will import it from (the
    same Python path), checked without importing it (its packages may import torch)."""
    module_name, _, attribute = target.rpartition(":")
    if not module_name or not attribute:
        fail_config(
            f"datasets.{name}.model.source",
            f"module:{target} does not name a module and a callable",
            "write module:<importable.module>:<callable>, e.g. module:mypackage.nets:build",
        )
    if not module_can_be_found(module_name):
        fail_config(
            f"datasets.{name}.model.source",
            f"module {module_name} cannot be found on the Python path (module:{target})",
            f"make it importable where snakemake runs (PYTHONPATH=<the folder holding {module_name.split('.')[0]}>, "
            "or pip install the package), or fix the module's name",
        )


def check_model(name: str, model: dict, facts) -> None:
    """The architecture defaults to the paper's (filled in ``model``) and must take the dataset's
    channels. Only checks settings: reading data is the prepare_data job's work (a dry run reads no data)."""
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


# --- what a target needs ------------------------------------------------------------------------


def check_fig2_datasets(fig2: list, fig4: list) -> None:
    """figures/fig2.pdf needs a dataset that is not majority-dominated."""
    if not fig2:
        fail_config(
            "run_datasets",
            f"figures/fig2.pdf needs a dataset that is not majority-dominated ({', '.join(fig4)} go to Figure 4)",
            "add one (e.g. mnist5k) or ask only for figures/fig4.pdf",
        )


def check_fig4_datasets(fig4: list) -> None:
    """Figure 4 exists only for KITTI: asking for it otherwise fails before any work is done."""
    if not fig4:
        fail_config(
            "run_datasets",
            "figures/fig4.pdf is the KITTI figure, but kitti is not configured",
            "add kitti to run_datasets, or leave figures/fig4.pdf out of the targets",
        )


def check_results_doc_datasets(run_datasets: list) -> None:
    """docs/results.md counts each stage's work from a built-in dataset's sizes."""
    for dataset in run_datasets:
        if dataset not in DATASETS:
            fail_config(
                "run_datasets",
                f"docs/results.md reports built-in datasets only (their sizes give each stage's work), and "
                f"{dataset} is a dataset of your own",
                "ask for `all` (every figure and table, with intervals) or drop it from run_datasets for this target",
            )
