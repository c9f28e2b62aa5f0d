"""Every dataset through the whole DAG to its figures: the session's five-dataset run
(support/datasets_run.py: Fashion-MNIST, CIFAR-10, an ImageNet-layout folder, a KITTI folder and a
dataset of your own with a TorchScript model of your own, in one `snakemake all` that runs in the
background beside the workflow level, support/background_run.py).

The run is tiny (a few dozen training images, one epoch, n0 = 8, n = 16, six certified points) and
each test checks what its dataset can get wrong: every figure and table of `rule all` exists, its
model.pt records what trained or packaged it, and the data went where the split rules say. The
readers themselves are tested on the same files in test_datasets.py.
"""

from pathlib import Path

import torch
import yaml

from support import needs_shared_data as needs_data
from support.datasets_run import Run, bright_dark_folder
from support.workflow import snakemake


def assert_all_figures(run: Run, name: str, figure: str = "fig2") -> None:
    run.check()
    work = run.work
    for stem in ("fig1", "fig1_l2", "fig3", figure, f"fig1_{name}", f"regions_{name}"):
        for ext in ("pdf", "png"):
            assert (work / "figures" / f"{stem}.{ext}").stat().st_size > 1000, f"{stem}.{ext}"
    tables = ("certified_accuracy.html", "certified_accuracy_l2.tsv", "paired_differences.tsv", "verdict_ranges.tsv")
    for table in ("fig2_front.html", "front_verdict_ranges.tsv", "accuracy_during_learning.tsv", *tables):
        assert (work / "results" / "tables" / name / table).is_file(), table


def checkpoint(work: Path, name: str) -> dict:
    return torch.load(work / "results" / "models" / name / "model.pt", weights_only=True)


def summary(work: Path, name: str) -> dict:
    return yaml.safe_load((work / "results" / "data" / name / "summary.json").read_text())


@needs_data
def test_fashion_mnist_through_the_dag(datasets_run):
    assert_all_figures(datasets_run, "fashion_mnist")
    facts = summary(datasets_run.work, "fashion_mnist")
    assert facts["counts"]["test"] == 10000 and facts["counts"]["train"] + facts["counts"]["val"] == 60000
    model = checkpoint(datasets_run.work, "fashion_mnist")
    assert model["arch"] == "mnist_cnn" and model["train_config"]["train_points"] == 32


@needs_data
def test_cifar10_resnet110_through_the_dag(datasets_run):
    assert_all_figures(datasets_run, "cifar10")
    assert checkpoint(datasets_run.work, "cifar10")["arch"] == "resnet110"
    assert summary(datasets_run.work, "cifar10")["counts"]["test"] == 10000


@needs_data
def test_imagenet_layout_through_the_dag(datasets_run):
    assert_all_figures(datasets_run, "imagenet")
    facts = summary(datasets_run.work, "imagenet")
    assert facts["counts"] == {"train": 12, "val": 6, "test": 6} and facts["input_shape"] == [3, 32, 32]
    assert checkpoint(datasets_run.work, "imagenet")["arch"] == "resnet50"


@needs_data
def test_kitti_folder_through_the_dag(datasets_run):
    assert_all_figures(datasets_run, "kitti", figure="fig4")
    facts = summary(datasets_run.work, "kitti")
    assert sum(facts["counts"].values()) == 30 and min(facts["counts"].values()) > 0
    assert facts["split_unit"] == "frame"


def test_own_dataset_and_torchscript_model_through_the_dag(datasets_run):
    assert_all_figures(datasets_run, "bright_dark")
    model = checkpoint(datasets_run.work, "bright_dark")
    assert (
        model["source"] == f"torchscript:{datasets_run.script}"
        and model["torchscript"].numel() == datasets_run.script.stat().st_size
    )
    facts = summary(datasets_run.work, "bright_dark")
    assert facts["classes"] == ["dark", "bright"] and facts["counts"] == {"train": 18, "val": 6, "test": 6}
    # The packaged model is the given one: it is right on every (noise-free) validation image.
    history = (datasets_run.work / "results" / "models" / "bright_dark" / "history.tsv").read_text().splitlines()
    assert history[1].split("\t")[-1] == "1.0"


def dry_run_error(tmp_path: Path, datasets: dict) -> str:
    config = {"run_datasets": list(datasets), "datasets": datasets}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "all", "-n", configfile=tmp_path / "config.yaml", timeout=120)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_an_unknown_dataset_name_lists_the_built_in_ones(tmp_path):
    output = dry_run_error(tmp_path, {"cifar100": {}})
    assert "config key 'datasets.cifar100'" in output and "mnist5k, mnist, fashion_mnist, cifar10" in output
    assert "datasets.cifar100.source.format" in output


def test_a_configured_model_file_is_checked_at_the_dry_run(tmp_path):
    root = bright_dark_folder(tmp_path / "images", per_class=2)
    block = {
        "source": {"format": "image_folder", "path": str(root)},
        "model": {"source": f"torchscript:{tmp_path}/absent.ts"},
    }
    assert "datasets.own.model.source" in dry_run_error(tmp_path, {"own": block})
    block["model"] = {}
    assert "datasets.own.model" in dry_run_error(tmp_path, {"own": block})  # no model named at all
    block["model"] = {"arch": "mnist_cnn", "weights": str(tmp_path / "absent.pt")}
    assert "datasets.own.model.weights" in dry_run_error(tmp_path, {"own": block})


def test_the_results_page_of_an_own_dataset_is_refused_with_the_fix(tmp_path):
    """docs/results.md counts each stage's work from a built-in dataset's sizes: an own dataset gets a
    config error naming the alternative at the dry run, not a KeyError."""
    root = bright_dark_folder(tmp_path / "images", per_class=2)
    block = {"source": {"format": "image_folder", "path": str(root)}, "model": {"arch": "mnist_cnn"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"run_datasets": ["own"], "datasets": {"own": block}}))
    result = snakemake(tmp_path, "docs/results.md", "-n", configfile=tmp_path / "config.yaml", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "config key 'run_datasets'" in output and "ask for `all`" in output, output[
        -2000:
    ]
    assert "KeyError" not in output
