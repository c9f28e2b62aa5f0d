"""Every dataset through the whole DAG to its figures, in one `snakemake all` for the module:
Fashion-MNIST and CIFAR-10 from the shared data folder, an ImageNet-layout folder and a KITTI folder
built here from the shared samples, and a dataset of your own (an image folder) with a TorchScript
model of your own. One run instead of one per dataset: each job's cost is mostly its start (Python,
torch, the model), so five runs paid five times for every shared figure and for Snakemake's own start;
the shared figures (Figures 1-3 over the four datasets that are not majority-dominated, Figure 4 for
KITTI) are drawn with several datasets at once, which no single-dataset run draws.

The run is tiny (a few dozen training images, one epoch, n0 = 8, n = 16, six certified points) and
each test checks what its dataset can get wrong: every figure and table of `rule all` exists, its
model.pt records what trained or packaged it, and the data went where the split rules say. The
readers themselves are tested on the same files in test_datasets.py.
"""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from support import SHARED_DATA as DATA
from support import needs_shared_data as needs_data
from support.workflow import snakemake

#: Toy sizes shared by every dataset: the DAG and every script run, the numbers mean nothing. One epoch
#: on 32 images leaves a model at chance, and sigma counts no training point: the gates that stop such a
#: run (nusmooth.sanity; tests/workflow/test_run_health.py) are lowered on purpose, as a user who means it would.
TOY = {
    "model": {"epochs": 1, "batch_size": 16, "train_points": 32, "min_val_accuracy": 0},
    "sigma": {
        "inits": [0.25],
        "sub_epochs": 1,
        "n_train": 2,
        "train_points": 8,
        "batch_size": 8,
        "stop_when_nothing_counts": False,
    },
    # One racing stage: six points are one block anyway (the tiny run races in two).
    "sweep_eval": {"n0": 8, "n": 16, "val_points": 6, "test_points": 6, "racing": {"stages": [1.0]}},
    "fig1": {
        "inits": [0.25],
        "n0": 8,
        "n": 16,
        "test_points": 6,
        "envelope": {"constants": [0.25], "val_points": 6},  # one: the tiny run chooses among two
    },
}


def toy(block: dict) -> dict:
    """``block`` with the toy settings merged in (its own values win)."""
    merged = {key: dict(value) for key, value in TOY.items()}
    for key, value in block.items():
        merged[key] = dict(merged.get(key, {}), **value) if isinstance(value, dict) else value
    return merged


def imagenet_folder(root: Path) -> Path:
    """ImageFolder layout from the 20 shared ImageNet images (class index in the file name): every image
    in train/ and in val/ (validation and test are drawn, disjoint, from val/)."""
    for part in ("train", "val"):
        for image in sorted((DATA / "imagenet_sample").glob("*.jpg")):
            folder = root / part / f"n{int(image.stem.rsplit('_', 1)[1]):08d}"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(image, folder / image.name)
    return root


def kitti_folder(root: Path, copies: int = 5) -> Path:
    """A KITTI object folder of ``copies`` x the six shared frames (renumbered), so that every class has
    enough frames for non-empty validation and test splits."""
    images, labels = root / "training" / "image_2", root / "training" / "label_2"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    sample = DATA / "kitti_sample" / "training"
    frames = sorted(p.stem for p in (sample / "image_2").glob("*.png"))
    for copy in range(copies):
        for index, frame in enumerate(frames):
            new = f"{copy * len(frames) + index:06d}"
            shutil.copy(sample / "image_2" / f"{frame}.png", images / f"{new}.png")
            shutil.copy(sample / "label_2" / f"{frame}.txt", labels / f"{new}.txt")
    return root


class Brightness(torch.nn.Module):
    """A classifier of your own: bright (class 1) or dark (class 0) images, by mean pixel value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.mean(dim=(1, 2, 3)) - 0.5) * 20.0
        return torch.stack([-score, score], dim=1)


def bright_dark_folder(root: Path, per_class: int = 15) -> Path:
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for label, (name, level) in enumerate((("dark", 0.3), ("bright", 0.7))):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = (level + 0.15 * torch.rand(16, 16, 3, generator=generator) - 0.075).clamp(0, 1)
            Image.fromarray((pixels * 255).round().to(torch.uint8).numpy()).save(root / name / f"{index:02d}.png")
    return root


def shared_data_blocks(root: Path) -> dict[str, dict]:
    """The datasets read from the shared data folder (none without it: their tests skip, saying so)."""
    if not DATA.is_dir():
        return {}
    return {
        # Validation is carved from the official train split: small shares keep train_base's accuracy
        # pass short (1,200 Fashion-MNIST images; about 100 CIFAR-10 images, as ResNet-110 is slow on
        # a CPU); the tests assert the totals, which the shares do not change.
        "fashion_mnist": {
            "source": {"path": str(DATA / "fashion-mnist")},
            "split": {"train": 0.97, "val": 0.02, "test": 0.01},
        },
        "cifar10": {
            "source": {"path": str(DATA / "cifar10" / "cifar10_jpg_q75.tar.gz")},
            "split": {"train": 0.988, "val": 0.002, "test": 0.01},
        },
        "imagenet": {
            "source": {
                "path": str(imagenet_folder(root / "ilsvrc")),
                "train_images": 12,
                "val_images": 6,
                "test_images": 6,
                "resize": 36,
                "crop": 32,
            },
            "model": {"train_points": None},
        },
        "kitti": {
            "source": {"path": str(kitti_folder(root / "kitti")), "image_size": 32, "split_by": "frame"},
            "model": {"train_points": None},
        },
    }


@dataclass
class Run:
    work: Path
    returncode: int
    log: str
    script: Path  # the TorchScript model of the own dataset

    def check(self) -> None:
        """The run finished; else the failed jobs (rule and dataset) and the end of the log."""
        failed = re.findall(r"Error in rule (\w+):(?:.|\n)*?wildcards: (.*)", self.log)
        assert self.returncode == 0, f"failed jobs {failed}:\n{self.log[-6000:]}"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    """`snakemake all` over every dataset of this module (--keep-going: one broken dataset does not
    hide what the others built)."""
    root = tmp_path_factory.mktemp("datasets")
    script = root / "brightness.ts"
    torch.jit.save(torch.jit.script(Brightness()), script)
    blocks = shared_data_blocks(root)
    blocks["bright_dark"] = {
        "title": "Bright or dark",
        "source": {
            "format": "image_folder",
            "path": str(bright_dark_folder(root / "images")),
            "classes": ["dark", "bright"],
        },
        "model": {"source": f"torchscript:{script}", "train_points": None},
    }
    config = {
        "run_datasets": list(blocks),
        "certify_batch_size": 64,
        "datasets": {n: toy(b) for n, b in blocks.items()},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    work = root / "run"
    work.mkdir()
    # Two jobs at a time, one thread each: a toy job's cost is its start (Python, torch), which one
    # thread does, and with the default `gpu=1` the compute jobs ran one after the other on 2 cores. Its
    # numbers are compared with no other run's, so the thread count (which moves them) is free here.
    result = snakemake(
        work,
        "all",
        "--cores",
        "2",
        "--max-threads",
        "1",
        "--keep-going",
        "--resources",
        "gpu=2",
        configfile=root / "config.yaml",
        timeout=1800,
    )
    return Run(work, result.returncode, result.stdout + result.stderr, script)


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
def test_fashion_mnist_through_the_dag(run):
    assert_all_figures(run, "fashion_mnist")
    facts = summary(run.work, "fashion_mnist")
    assert facts["counts"]["test"] == 10000 and facts["counts"]["train"] + facts["counts"]["val"] == 60000
    model = checkpoint(run.work, "fashion_mnist")
    assert model["arch"] == "mnist_cnn" and model["train_config"]["train_points"] == 32


@needs_data
def test_cifar10_resnet110_through_the_dag(run):
    assert_all_figures(run, "cifar10")
    assert checkpoint(run.work, "cifar10")["arch"] == "resnet110"
    assert summary(run.work, "cifar10")["counts"]["test"] == 10000


@needs_data
def test_imagenet_layout_through_the_dag(run):
    assert_all_figures(run, "imagenet")
    facts = summary(run.work, "imagenet")
    assert facts["counts"] == {"train": 12, "val": 6, "test": 6} and facts["input_shape"] == [3, 32, 32]
    assert checkpoint(run.work, "imagenet")["arch"] == "resnet50"


@needs_data
def test_kitti_folder_through_the_dag(run):
    assert_all_figures(run, "kitti", figure="fig4")
    facts = summary(run.work, "kitti")
    assert sum(facts["counts"].values()) == 30 and min(facts["counts"].values()) > 0
    assert facts["split_unit"] == "frame"


def test_own_dataset_and_torchscript_model_through_the_dag(run):
    assert_all_figures(run, "bright_dark")
    model = checkpoint(run.work, "bright_dark")
    assert model["source"] == f"torchscript:{run.script}" and model["torchscript"].numel() == run.script.stat().st_size
    facts = summary(run.work, "bright_dark")
    assert facts["classes"] == ["dark", "bright"] and facts["counts"] == {"train": 18, "val": 6, "test": 6}
    # The packaged model is the given one: it is right on every (noise-free) validation image.
    history = (run.work / "results" / "models" / "bright_dark" / "history.tsv").read_text().splitlines()
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
