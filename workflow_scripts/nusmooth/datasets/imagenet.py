"""The paper's ImageNet subset, from a user-provided ILSVRC-2012 folder in ImageFolder layout
(``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG``).

* training subset (sigma optimisation only; the base model is pretrained): ``train_images`` images
  drawn at random (seeded) from ``train/``;
* validation subset (every choice of sigma): ``val_images`` images drawn at random from ``val/``;
* test subset: ``test_images`` more from ``val/``, disjoint from the validation ones.

The pretrained ResNet-50 was trained on ILSVRC's ``train/``: validation or test images from there would
be images it has fitted, which inflates accuracy and certified area and biases every choice of sigma
made on them. So both held-out subsets come from ``val/``, which the model has not seen. (The authors
drew their test images from ``train/``.) The summary records which folder each split came from.

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
from .common import DataError, base_info, check_nonempty_splits, decode_all, missing, open_rgb, pil_to_uint8_chw

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


def check_pool_sizes(root: Path, sizes: dict[str, int], train_pool: int, held_out_pool: int) -> None:
    """The requested subsets fit in their folders: ``train_images`` in ``train/``, ``val_images +
    test_images`` in ``val/``; a :class:`DataError` naming the keys and counts otherwise."""
    fix = "lower the datasets.imagenet.source key(s) named above, or point datasets.imagenet.source.path at the full ILSVRC-2012 folder"
    if sizes["train"] > train_pool:
        raise DataError(
            f"{root / 'train'} holds {train_pool} images; datasets.imagenet.source.train_images asks for {sizes['train']}. Fix: {fix}"
        )
    held_out = sizes["val"] + sizes["test"]
    if held_out > held_out_pool:
        raise DataError(
            f"{root / 'val'} holds {held_out_pool} images; datasets.imagenet.source.val_images ({sizes['val']}) + "
            f"datasets.imagenet.source.test_images ({sizes['test']}) = {held_out} must fit in it (validation and test "
            f"are disjoint draws from val/). Fix: {fix}"
        )


def prepare_imagenet(
    fractions: dict[str, float],
    seed: int,
    *,
    path=None,
    train_images: int = 5000,
    val_images: int = 1000,
    test_images: int = 1000,
    resize: int = 256,
    crop: int = 224,
    workers: int = 1,
) -> tuple[PreparedDataset, dict]:
    if path is None:
        raise DataError(
            "dataset imagenet has no data path (ILSVRC-2012 cannot be downloaded automatically). Fix: "
            + FIX
            + "; or leave imagenet out of run_datasets (nothing else depends on it)"
        )
    root = Path(path)
    sizes = {"train": train_images, "val": val_images, "test": test_images}
    check_nonempty_splits("imagenet", sizes)
    classes, train_pool = list_images(root / "train")
    _, held_out_pool = list_images(root / "val", classes)
    check_pool_sizes(root, sizes, len(train_pool), len(held_out_pool))
    rng = np.random.default_rng(seed)
    train_draw = rng.choice(len(train_pool), train_images, replace=False)
    # One draw without replacement for both held-out subsets: validation and test are disjoint.
    held_out_draw = rng.choice(len(held_out_pool), val_images + test_images, replace=False)
    chosen = {
        "train": [train_pool[i] for i in train_draw],
        "val": [held_out_pool[i] for i in held_out_draw[:val_images]],
        "test": [held_out_pool[i] for i in held_out_draw[val_images:]],
    }
    from torchvision import transforms

    transform = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop)])

    def decode(item):
        return pil_to_uint8_chw(transform(open_rgb(root / item[0], "replace the image with an intact copy")))

    splits = {
        name: ImageSplit(
            torch.from_numpy(np.stack(decode_all(items, decode, workers))),
            torch.tensor([c for _, c in items], dtype=torch.int64),
        )
        for name, items in chosen.items()
    }
    info = base_info(
        f"ILSVRC-2012 subset of {root}: train from train/; val and test from val/ (disjoint)",
        fractions,
        seed,
        splits,
        classes,
    )
    # 1,000 classes: per-class counts would swamp the summary; record how many classes each split covers.
    info["distinct_classes"] = {name: int(len(torch.unique(s.labels))) for name, s in splits.items()}
    del info["class_counts"]
    info.update(
        {
            "transform": f"resize {resize}, center crop {crop}",
            "train_folder_classes": len(classes),
            "split_folders": {"train": "train/", "val": "val/", "test": "val/"},
        }
    )
    members = {name: [p for p, _ in items] for name, items in chosen.items()}
    facts = dataset_facts("imagenet")
    return (
        PreparedDataset("imagenet", splits, classes=classes, mean=list(facts.mean), std=list(facts.std), info=info),
        members,
    )
