"""The configuration's rules (workflow_scripts/workflow_config.py), called in-process on configs layered
as the Snakefile layers them (config.yaml, a preset, then the command line's files and values). One dry
run per wiring path checks that the Snakefile calls them: tests/workflow/test_workflow.py (config and
preset) and tests/workflow/test_workflow_figures.py (a target's datasets)."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config

from nusmooth.model_files import module_can_be_found, torch_file_kind
from nusmooth.model_settings import regime_tag, training_regime
from support import REPO
from workflow_config import (
    ConfigError,
    check_config,
    check_fig2_datasets,
    check_fig4_datasets,
    check_results_doc_datasets,
    coerce_by_schema,
    preset_file,
    recorded_model_settings,
)

SCHEMA = REPO / "schemas/config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
TINY = yaml.safe_load((REPO / "tests/config_tiny.yaml").read_text())


def layered(*layers: dict, preset: str | None = None) -> dict:
    """config.yaml, then the preset's file, then each layer, merged key by key as Snakemake merges
    configfiles and --config values."""
    config = copy.deepcopy(DEFAULT)
    if preset is not None:
        update_config(config, yaml.safe_load((REPO / "presets" / f"{preset}.yaml").read_text()))
    for layer in layers:
        update_config(config, copy.deepcopy(layer))
    return config


def refusal(config: dict) -> str:
    """The message check_config stops with (the schema's or a rule of its own)."""
    with pytest.raises((ConfigError, WorkflowError)) as refused:
        check_config(config, SCHEMA)
    return str(refused.value)


# Moved from a dry run each (tests/workflow/test_workflow.py): every value is refused naming its key.
BAD_VALUES = [
    ({"alpha": 0.7}, "alpha"),
    ({"alpha": 0.0}, "alpha"),
    ({"run_datasets": ["imagenett"]}, "run_datasets"),
    ({"datasets": {"mnist5k": {"sigma": {"inits": [-0.1]}}}}, "inits"),
    ({"datasets": {"mnist5k": {"fig1": {"n0": 0}}}}, "n0"),
    ({"datasets": {"mnist5k": {"sweep_eval": {"n": 0}}}}, "'datasets.mnist5k.sweep_eval.n'"),
    ({"datasets": {"mnist5k": {"split": {"train": 0.5, "val": 0.2, "test": 0.2}}}}, "datasets.mnist5k.split"),
    ({"datasets": {"mnist5k": {"fig1": {"inits": [0.33]}}}}, "datasets.mnist5k.fig1.inits"),
    ({"datasets": {"mnist5k": {"sigma": {"lr": "fast"}}}}, "lr"),
    ({"typo_key": 1}, "typo_key"),
    ({"datasets": {"mnist5k": {"sweep_eval": {"racing": {"stages": [0.5, 0.25, 1.0]}}}}}, "racing.stages"),
    ({"datasets": {"mnist5k": {"sweep_eval": {"racing": {"stages": [0.25, 0.5]}}}}}, "racing.stages"),
    ({"datasets": {"mnist5k": {"sweep_eval": {"racing": {"error_rate": 1.0}}}}}, "error_rate"),
    ({"datasets": {"mnist5k": {"sweep_eval": {"test_front_members": 1}}}}, "test_front_members"),
]


@pytest.mark.parametrize("override,key", BAD_VALUES)
def test_a_bad_value_is_refused_naming_its_key(override, key):
    assert key in refusal(layered(TINY, override))


@pytest.mark.parametrize("layers", [[], [TINY]], ids=["config.yaml", "config_tiny.yaml"])
def test_the_shipped_configs_pass_and_get_the_papers_architecture(layers):
    config = layered(*layers)
    check_config(config, SCHEMA)
    model = config["datasets"]["mnist5k"]["model"]
    assert model["arch"] == "mnist_cnn" and config["datasets"]["mnist5k"]["sigma"]["n_train"] >= 1  # defaults filled


def test_train_base_records_only_the_model_keys_it_always_recorded():
    """Unset keys added after the first release stay out of model.pt's train_config (its bytes stay)."""
    config = layered(TINY)
    check_config(config, SCHEMA)
    recorded = recorded_model_settings(config["datasets"]["mnist5k"]["model"])
    assert set(recorded) == {
        "arch",
        "batch_size",
        "epochs",
        "gamma",
        "lr",
        "optimizer",
        "pretrained",
        "seed",
        "weights",
    }
    with_mean = dict(config["datasets"]["mnist5k"]["model"], mean=[0.5])
    assert recorded_model_settings(with_mean)["mean"] == [0.5]


def test_nested_command_line_strings_become_the_schema_types():
    config = {
        "alpha": 0.01,
        "datasets": {
            "mnist5k": {
                "sigma": {"inits": ["0.1", "0.2"], "train_points": "null", "sub_epochs": "4"},
                "source": {"path": "/data/123"},
                "model": {"pretrained": "false", "arch": "null"},
            }
        },
    }
    coerce_by_schema(config, SCHEMA)
    block = config["datasets"]["mnist5k"]
    assert block["sigma"] == {"inits": [0.1, 0.2], "train_points": None, "sub_epochs": 4}
    assert block["source"]["path"] == "/data/123"  # a string key stays a string
    assert block["model"] == {"pretrained": False, "arch": None}


def test_a_word_where_a_number_belongs_is_left_for_the_schema_to_reject():
    config = {"datasets": {"mnist5k": {"sigma": {"lr": "fast"}}}}
    coerce_by_schema(config, SCHEMA)
    assert config["datasets"]["mnist5k"]["sigma"]["lr"] == "fast"


def test_a_preset_is_a_file_of_the_presets_folder_and_an_unknown_one_lists_them(tmp_path):
    (tmp_path / "paper.yaml").write_text("preset: paper\n")
    (tmp_path / "small.yaml").write_text("preset: small\n")
    assert preset_file(tmp_path, "small") == str(tmp_path / "small.yaml")
    with pytest.raises(ConfigError) as refused:
        preset_file(tmp_path, "papr")
    assert "unknown preset 'papr'" in str(refused.value) and "Presets: default, paper, small." in str(refused.value)
    assert "Fix: --config preset=" in str(refused.value)


def test_an_unknown_preset_lists_the_presets_of_the_repository():
    with pytest.raises(ConfigError) as refused:
        preset_file(REPO / "presets", "papr")
    message = str(refused.value)
    assert "unknown preset 'papr'" in message and "Presets: default, cpu, paper" in message
    assert "preset=<one of these>" in message


# --- datasets and models of your own (were dry runs in tests/workflow/test_workflow_datasets.py) ------


def own_dataset(tmp_path, model: dict) -> dict:
    (tmp_path / "images").mkdir(exist_ok=True)
    block = {"source": {"format": "image_folder", "path": str(tmp_path / "images")}, "model": model}
    return {"run_datasets": ["own"], "datasets": {"own": block}}


def test_an_unknown_dataset_name_lists_the_built_in_ones():
    message = refusal(layered({"run_datasets": ["cifar100"], "datasets": {"cifar100": {}}}))
    assert "config key 'datasets.cifar100'" in message and "mnist5k, mnist, fashion_mnist, cifar10" in message
    assert "datasets.cifar100.source.format" in message


def test_a_configured_model_file_is_checked_before_any_job(tmp_path):
    absent_script = own_dataset(tmp_path, {"source": f"torchscript:{tmp_path}/absent.ts"})
    assert "config key 'datasets.own.model.source'" in refusal(layered(absent_script))
    assert "config key 'datasets.own.model'" in refusal(layered(own_dataset(tmp_path, {})))  # no model at all
    absent_weights = own_dataset(tmp_path, {"arch": "mnist_cnn", "weights": str(tmp_path / "absent.pt")})
    assert "config key 'datasets.own.model.weights'" in refusal(layered(absent_weights))


def test_the_results_page_of_an_own_dataset_is_refused_with_the_fix(tmp_path):
    """docs/results.md counts each stage's work from a built-in dataset's sizes: an own dataset gets a
    config error naming the alternative, not a KeyError."""
    config = layered(own_dataset(tmp_path, {"arch": "mnist_cnn"}))
    check_config(config, SCHEMA)  # the config itself is fine: only this target is refused
    with pytest.raises(ConfigError) as refused:
        check_results_doc_datasets(config["run_datasets"])
    assert "config key 'run_datasets'" in str(refused.value) and "ask for `all`" in str(refused.value)
    check_results_doc_datasets(["mnist", "fashion_mnist"])


def test_each_front_figure_needs_its_datasets():
    with pytest.raises(ConfigError, match="kitti is not configured"):
        check_fig4_datasets([])
    with pytest.raises(ConfigError, match=r"not majority-dominated \(kitti go to Figure 4\)"):
        check_fig2_datasets([], ["kitti"])
    check_fig2_datasets(["mnist5k"], [])
    check_fig4_datasets(["kitti"])


# --- the paper preset's paths and KITTI's split (were dry runs in tests/workflow/test_presets.py) -----


def paper(tmp_path, kitti_source: dict, imagenet: bool = True) -> dict:
    """The paper preset with data folders that do not exist (the check reads no data) and, for ImageNet,
    a weights file that torch.save wrote but that holds no ResNet-50 (the check reads only its container)."""
    import torch

    datasets = {"kitti": {"source": {"path": "/nonexistent/kitti", **kitti_source}}}
    if imagenet:
        torch.save({"w": torch.zeros(1)}, tmp_path / "r50.pth")
        datasets["imagenet"] = {
            "source": {"path": "/nonexistent/ilsvrc"},
            "model": {"weights": str(tmp_path / "r50.pth")},
        }
    return layered({"datasets": datasets}, preset="paper")


def test_the_paper_preset_without_an_imagenet_path_says_what_to_set(tmp_path):
    message = refusal(paper(tmp_path, {"split_by": "frame"}, imagenet=False))
    assert "datasets.imagenet.source.path" in message and "drop imagenet from run_datasets" in message


def test_kitti_split_must_be_chosen(tmp_path):
    """Without the drive mapping, the KITTI split is by frame only when asked for; a mapping with the
    frame split is refused too; a mapping alone or the frame split alone passes."""
    message = refusal(paper(tmp_path, {}))
    assert "config key 'datasets.kitti.source.drive_mapping'" in message
    assert "mapping/ folder" in message and "datasets.kitti.source.split_by to frame" in message
    message = refusal(paper(tmp_path, {"drive_mapping": "/nonexistent/mapping", "split_by": "frame"}))
    assert "config key 'datasets.kitti.source.split_by'" in message and "would go unused" in message
    check_config(paper(tmp_path, {"drive_mapping": "/nonexistent/mapping"}), SCHEMA)
    check_config(paper(tmp_path, {"split_by": "frame"}), SCHEMA)


# --- a schema violation in one paragraph (issue 27, case 4) ---------------------------------------

TYPOS = [
    ({"datasets": {"mnist5k": {"fig1": {"test_point": 20}}}}, "datasets.mnist5k.fig1.test_point", "test_points"),
    ({"datasets": {"mnist5k": {"source": {"fromat": "image_folder"}}}}, "datasets.mnist5k.source.fromat", "format"),
    ({"datasets": {"mnist5k": {"sorce": {"path": "/data"}}}}, "datasets.mnist5k.sorce", "source"),
    ({"run_dataset": ["mnist5k"]}, "run_dataset", "run_datasets"),
]


@pytest.mark.parametrize("override,key,closest", TYPOS, ids=[typo[1].rsplit(".", 1)[-1] for typo in TYPOS])
def test_a_misspelt_key_names_its_path_and_the_closest_key_in_one_paragraph(override, key, closest):
    message = refusal(layered(override))
    assert message.startswith(f"config key '{key}': not a key ") and f"Did you mean '{closest}'?" in message
    assert "\n" not in message and len(message) < 700  # one paragraph, not the schema (70 to 1,728 lines)
    assert "'description'" not in message and "Failed validating" not in message
    print(message)


def test_a_wrong_type_or_value_names_what_the_key_takes():
    message = refusal(layered({"datasets": {"mnist5k": {"fig1": {"n": [1000]}}}}))
    assert message.startswith("config key 'datasets.mnist5k.fig1.n': [1000] is a list, expected an integer.")
    assert "Estimation samples" in message and "\n" not in message
    message = refusal(layered({"datasets": {"mnist5k": {"model": {"outputs": "probability"}}}}))
    assert "is not one of logits, probabilities, log_probabilities (did you mean 'probabilities'?)" in message


# --- what a dry run knows of a configured model (issue 27, cases 5 and 6) --------------------------


def test_a_module_source_that_cannot_be_found_is_refused_before_any_job(tmp_path):
    message = refusal(layered(own_dataset(tmp_path, {"source": "module:no_such_package.nets:build"})))
    assert "config key 'datasets.own.model.source': module no_such_package.nets cannot be found" in message
    assert "PYTHONPATH" in message
    message = refusal(layered(own_dataset(tmp_path, {"source": "module:json.no_such_module:build"})))
    assert "module json.no_such_module cannot be found" in message
    check_config(layered(own_dataset(tmp_path, {"source": "module:json.decoder:JSONDecoder"})), SCHEMA)


def test_a_module_is_found_without_running_its_package(tmp_path, monkeypatch):
    """Finding the module must not run its packages' __init__ (it may import torch at every DAG build)."""
    package = tmp_path / "heavy_models"
    package.mkdir()
    (package / "__init__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    (package / "nets.py").write_text("def build(num_classes):\n    raise AssertionError\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_can_be_found("heavy_models.nets") and not module_can_be_found("heavy_models.other")
    assert not (tmp_path / "ran").exists()


def test_model_files_are_told_apart_by_their_container(tmp_path):
    import torch

    torch.save({"w": torch.ones(2)}, tmp_path / "weights.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "model.ts")
    (tmp_path / "notes.txt").write_text("not a model\n")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "weights.pt").read_bytes()[:100])
    kinds = {name: torch_file_kind(tmp_path / name) for name in ("weights.pt", "legacy.pt", "model.ts", "notes.txt")}
    assert kinds == {
        "weights.pt": "torch.save",
        "legacy.pt": "torch.save",
        "model.ts": "torchscript",
        "notes.txt": "other",
    }
    assert torch_file_kind(tmp_path / "cut.pt") == "other"


def test_a_torchscript_file_as_weights_and_weights_as_torchscript_are_refused_at_the_dry_run(tmp_path):
    import torch

    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "model.ts")
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "weights.pt")
    message = refusal(layered(own_dataset(tmp_path, {"arch": "mnist_cnn", "weights": str(tmp_path / "model.ts")})))
    assert "config key 'datasets.own.model.weights'" in message and "it is a TorchScript archive" in message
    assert f"Fix: set model.source to torchscript:{tmp_path / 'model.ts'} and model.weights to null" in message
    message = refusal(layered(own_dataset(tmp_path, {"source": f"torchscript:{tmp_path / 'weights.pt'}"})))
    assert "is not a TorchScript archive: torch.save wrote it" in message and "model.weights" in message
    (tmp_path / "notes.txt").write_text("not a model\n")
    message = refusal(layered(own_dataset(tmp_path, {"source": f"torchscript:{tmp_path / 'notes.txt'}"})))
    assert "is not a TorchScript archive" in message


# --- training regimes, variants and replicates ------------------------------------------------------

NOISY_VARIANT = {
    "run_datasets": ["mnist5k", "mnist5k_noise"],
    "datasets": {"mnist5k_noise": {"of": "mnist5k", "replicates": 3, "model": {"train_noise": 0.25}}},
}


def test_a_variant_reads_its_built_ins_data_and_its_title_names_its_training():
    config = layered(TINY, NOISY_VARIANT)
    check_config(config, SCHEMA)
    variant, own = config["datasets"]["mnist5k_noise"], config["datasets"]["mnist5k"]
    assert variant["split"] == own["split"] and variant["source"] == own["source"]
    assert variant["split"] is not own["split"]  # its own dicts: Snakemake updates config dicts in place
    assert variant["title"] == "MNIST (5k subset)\nnoise-trained base model, sigma 0.25"
    assert own["title"] is None  # the paper's regime keeps its title (and its figures)
    assert variant["model"]["epochs"] == 14  # everything but the data is its own (the schema's default)


def test_replicates_run_as_copies_of_their_block_under_their_own_names():
    config = layered(TINY, NOISY_VARIANT)
    check_config(config, SCHEMA)
    names = [name for name in config["datasets"] if name.startswith("mnist5k_noise")]
    assert names == ["mnist5k_noise", "mnist5k_noise-r2", "mnist5k_noise-r3"]
    copy_of = config["datasets"]["mnist5k_noise-r3"]
    assert (
        copy_of == config["datasets"]["mnist5k_noise"]
        and copy_of["model"] is not config["datasets"]["mnist5k_noise"]["model"]
    )
    assert "mnist5k-r2" not in config["datasets"]  # replicates: 1, the default


@pytest.mark.parametrize(
    "block,key,words",
    [
        ({"of": "mnist5"}, "datasets.mnist5k_noise.of", "'mnist5' is not a built-in dataset"),
        ({"of": "mnist5k", "split": {"seed": 1}}, "datasets.mnist5k_noise.split", "set it in datasets.mnist5k.split"),
        ({"of": "mnist5k", "source": {"path": "/data"}}, "datasets.mnist5k_noise.source", "reads mnist5k's prepared"),
    ],
    ids=["unknown of", "split on a variant", "source on a variant"],
)
def test_a_variant_that_cannot_read_its_data_is_refused_with_the_fix(block, key, words):
    message = refusal(layered(TINY, {"datasets": {"mnist5k_noise": block}}))
    assert key in message and words in message and "Fix:" in message


def test_a_variant_under_a_built_in_name_and_noise_on_packaged_weights_are_refused(tmp_path):
    message = refusal(layered(TINY, {"datasets": {"mnist": {"of": "mnist5k"}}}))
    assert "datasets.mnist.of" in message and "needs a name of its own" in message
    import torch

    weights = tmp_path / "w.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), weights)  # a real weights file: an empty one is refused first
    message = refusal(
        layered(TINY, {"datasets": {"mnist5k": {"model": {"train_noise": 0.25, "weights": str(weights)}}}})
    )
    assert "datasets.mnist5k.model.train_noise" in message and "packaged" in message


def test_no_noise_is_left_out_of_the_recorded_settings_and_noise_is_recorded():
    config = layered(TINY)
    check_config(config, SCHEMA)
    model = config["datasets"]["mnist5k"]["model"]
    assert model["train_noise"] == 0 and "train_noise" not in recorded_model_settings(model)
    assert recorded_model_settings(dict(model, train_noise=0.25))["train_noise"] == 0.25
    # What a model file's train_config says of its training, in the words of titles and captions.
    assert training_regime(recorded_model_settings(model)) == "base model trained without noise, as in the paper"
    noisy = recorded_model_settings(dict(model, train_noise=0.25))
    assert training_regime(noisy) == "base model trained with Gaussian noise, sigma 0.25"
    assert regime_tag(noisy) == "noise-trained base model, sigma 0.25"
    assert regime_tag(recorded_model_settings(model)) == "base model trained without noise"
