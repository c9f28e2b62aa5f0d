"""The session's five-dataset run: `snakemake all` over every dataset that the dataset tests
(tests/workflow/test_workflow_datasets.py) assert on, in one run in the background
(support/background_run.py). It starts with the first test outside the unit level (the unit level and
the runs started with the session keep both cores busy; the workflow level's dry runs and single jobs
leave one idle), at nice 19: nothing but its own tests, which run after the other workflow tests,
waits for it, so it takes the core the other tests leave idle instead of holding the session for its
three to four minutes.

Fashion-MNIST and CIFAR-10 from the shared data folder, an ImageNet-layout folder and a KITTI folder
built here from the shared samples, and a dataset of your own (an image folder) with a TorchScript
model of your own. One run instead of one per dataset: each job's cost is mostly its start (Python,
torch, the model), so five runs paid five times for every shared figure and for Snakemake's own start;
the shared figures (Figures 1-3 over the four datasets that are not majority-dominated, Figure 4 for
KITTI) are drawn with several datasets at once, which no single-dataset run draws.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from support import SHARED_DATA as DATA
from support.background_run import BackgroundRun

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


def write_folders_and_config(root: Path) -> Path:
    """The datasets' folders, the TorchScript model and the run's config.yaml in ``root`` (in the
    session's thread: scripting the model uses torch, which the tests use meanwhile)."""
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
    return script


def run_all(run: BackgroundRun, script: Path) -> Run:
    """`snakemake all` over every dataset (--keep-going: one broken dataset does not hide what the
    others built); its outcome is checked by each dataset's test (Run.check)."""
    work = run.root / "run"
    work.mkdir()
    # Two jobs at a time, one thread each: a toy job's cost is its start (Python, torch), which one
    # thread does, and with the default `gpu=1` the compute jobs ran one after the other on 2 cores. Its
    # numbers are compared with no other run's, so the thread count (which moves them) is free here.
    done = run.snakemake(
        work,
        "all",
        "--cores",
        "2",
        "--max-threads",
        "1",
        "--keep-going",
        "--resources",
        "gpu=2",
        configfile=run.root / "config.yaml",
    )
    return Run(work, done.returncode, done.stdout + done.stderr, script)


#: The one five-dataset run of the session.
DATASETS_RUN = BackgroundRun(
    "datasets", run_all, prepare=write_folders_and_config, niceness=19, starts_after_the_unit_level=True
)
