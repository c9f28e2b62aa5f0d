"""The paper's ImageNet subset, from a user-provided ILSVRC-2012 folder in ImageFolder layout
(``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG``).

* training subset: ``train_images`` images drawn at random (seeded) from ``train/``;
* validation subset (every choice of sigma): ``val_images`` more from ``train/``, disjoint from it;
* test subset: ``test_images`` drawn at random from ``val/``. (The authors sampled their test images
  from the train folder the pretrained model had seen; ILSVRC's validation set avoids that.)

Every image: resize the shorter side to 256, centre-crop 224 (torchvision's evaluation transform),
uint8. Class index = position of the class folder in the sorted list of ``train/``'s folders, which
is torchvision's ImageNet class order when all 1,000 wnid folders are present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import ImageSplit, PreparedDataset
from ..registry import dataset_facts
from .common import DataError, base_info, decode_all, missing, open_rgb, pil_to_uint8_chw

EXTENSIONS = {".jpeg", ".jpg", ".png"}
FIX = "set datasets.imagenet.source.path to an ILSVRC-2012 folder holding train/ and val/ in ImageFolder layout (one folder per class)"


def list_images(folder: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[str, int]]]:
    """Class folder names and ``(relative path, class index)`` of every image, sorted."""
    if not folder.is_dir():
        raise missing(folder, "ImageNet folder", FIX)
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(f"{folder} has class folders not in train/: {unknown[:5]}. Fix: {FIX}")
    items = []
    for name in found:
        for path in sorted((folder / name).iterdir()):
            if path.suffix.lower() in EXTENSIONS:
                items.append((f"{folder.name}/{name}/{path.name}", classes.index(name)))
    if not items:
        raise DataError(f"no images in {folder}. Fix: {FIX}")
    return classes, items


def prepare_imagenet(
    fractions: dict[str, float], seed: int, path=None, train_images: int = 5000, val_images: int = 1000,
    test_images: int = 1000, resize: int = 256, crop: int = 224, workers: int = 1,
) -> tuple[PreparedDataset, dict]:
    if path is None:
        raise DataError(
            "dataset imagenet has no data path (ILSVRC-2012 cannot be downloaded automatically). Fix: " + FIX
            + "; or leave imagenet out of run_datasets (nothing else depends on it)"
        )
    root = Path(path)
    classes, train_pool = list_images(root / "train")
    _, test_pool = list_images(root / "val", classes)
    rng = np.random.default_rng(seed)
    if train_images + val_images > len(train_pool) or test_images > len(test_pool):
        raise DataError(
            f"{root} has {len(train_pool)} train / {len(test_pool)} val images; asked for {train_images} + {val_images} "
            f"from train/ and {test_images} from val/. Fix: lower datasets.imagenet.source.*_images or use the full folder"
        )
    drawn = rng.choice(len(train_pool), train_images + val_images, replace=False)
    chosen = {
        "train": [train_pool[i] for i in drawn[:train_images]],
        "val": [train_pool[i] for i in drawn[train_images:]],
        "test": [test_pool[i] for i in rng.choice(len(test_pool), test_images, replace=False)],
    }
    from torchvision import transforms

    transform = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop)])

    def decode(item):
        return pil_to_uint8_chw(transform(open_rgb(root / item[0], "replace the image with an intact copy")))

    splits = {
        name: ImageSplit(torch.from_numpy(np.stack(decode_all(items, decode, workers))), torch.tensor([c for _, c in items], dtype=torch.int64))
        for name, items in chosen.items()
    }
    info = base_info(
        f"ILSVRC-2012 subset of {root}: train/val from train/ (disjoint), test from val/", fractions, seed, splits, classes,
    )
    # 1,000 classes: per-class counts would swamp the summary; record how many classes each split covers.
    info["distinct_classes"] = {name: int(len(torch.unique(s.labels))) for name, s in splits.items()}
    del info["class_counts"]
    info.update({"transform": f"resize {resize}, center crop {crop}", "train_folder_classes": len(classes)})
    members = {name: [p for p, _ in items] for name, items in chosen.items()}
    facts = dataset_facts("imagenet")
    return PreparedDataset("imagenet", splits, classes, list(facts.mean), list(facts.std), info), members
