"""KITTI 2D object as an image classification dataset (the paper's construction).

Every image of ``training/image_2`` gets the class of its most frequent object in
``training/label_2/<frame>.txt`` (original KITTI format: one object per line, the first token is the
class name). ``DontCare`` regions are not objects and are not counted; ties go to the class whose
first object comes first in the file; an image with no counted object (empty label file, or
``DontCare`` only) is skipped and listed in the report. Images are resized to 224 x 224 (not
aspect-preserving, as the authors did), uint8 in [0, 255], i.e. [0, 1] once divided.

An unknown class name is an *error* naming the file and line, not a skip: the KITTI label format
has a closed list of classes, so an unknown name means a wrong or damaged file (or another dataset's
labels), and skipping it would silently change the label of that image.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..data import ImageSplit, PreparedDataset
from ..registry import dataset_facts
from .common import DataError, base_info, decode_all, missing, open_rgb, pil_to_uint8_chw, split_pool

#: Class index order (KITTI's devkit order); DontCare is excluded.
CLASSES = ["Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc"]
IGNORED = "DontCare"
FIELDS = 15  # class + 14 numbers in training label files (16 with a score in result files)


def majority_class(label_file) -> str | None:
    """The image label of one KITTI label file, or None if it has no counted object."""
    label_file = Path(label_file)
    names = []
    for number, line in enumerate(label_file.read_text().splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        name = tokens[0]
        if name == IGNORED:
            continue
        if name not in CLASSES:
            raise DataError(
                f"{label_file}, line {number}: unknown KITTI class {name!r} (known: {CLASSES + [IGNORED]}). "
                "Fix: point datasets.kitti.source.path at the original KITTI 2D object training folder"
            )
        if len(tokens) not in (FIELDS, FIELDS + 1):
            raise DataError(f"{label_file}, line {number}: {len(tokens)} fields, a KITTI label line has {FIELDS}. Fix: restore the original label file")
        names.append(name)
    if not names:
        return None
    counts = Counter(names)
    top = max(counts.values())
    return next(name for name in names if counts[name] == top)  # ties: first occurrence in the file


def relabel(root) -> tuple[list[str], list[int], dict[str, str]]:
    """Frame ids and class indices of every image with a counted object, plus the skipped frames
    with the reason. ``root`` is the KITTI folder holding ``training/image_2`` and ``training/label_2``."""
    root = Path(root)
    images_dir, labels_dir = root / "training" / "image_2", root / "training" / "label_2"
    fix = "set datasets.kitti.source.path to the KITTI 2D object folder that holds training/image_2 and training/label_2"
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            raise missing(folder, "KITTI folder", fix)
    images = {p.stem: p for p in images_dir.glob("*.png")}
    labels = {p.stem: p for p in labels_dir.glob("*.txt")}
    if not images:
        raise DataError(f"no .png images in {images_dir}. Fix: {fix}")
    unpaired = sorted(set(images) ^ set(labels))
    if unpaired:
        frame = unpaired[0]
        which = "label file" if frame in images else "image"
        raise DataError(f"frame {frame} has no {which} ({len(unpaired)} unpaired frame(s) in {root / 'training'}). Fix: use a complete copy")
    frames, targets, skipped = [], [], {}
    for frame in sorted(images):
        name = majority_class(labels[frame])
        if name is None:
            skipped[frame] = "no counted object (empty label file or DontCare only)"
            continue
        frames.append(frame)
        targets.append(CLASSES.index(name))
    return frames, targets, skipped


def prepare_kitti(fractions: dict[str, float], seed: int, path=None, image_size: int = 224, workers: int = 1) -> tuple[PreparedDataset, dict]:
    """Relabel, split (seeded 90/10-style pool split, validation out of the training part) and load."""
    if path is None:
        raise DataError(
            "dataset kitti has no data path. Fix: download the KITTI 2D object benchmark (left colour images and "
            "training labels) and set datasets.kitti.source.path to the folder that holds training/"
        )
    root = Path(path)
    frames, targets, skipped = relabel(root)
    if skipped:
        print(f"skipped {len(skipped)} image(s) without a counted object: {sorted(skipped)[:20]}")
    labels = np.asarray(targets, dtype=np.int64)
    parts = split_pool(labels, fractions, seed)
    image_dir = root / "training" / "image_2"

    def decode(frame):
        image = open_rgb(image_dir / f"{frame}.png", "replace the image with the original KITTI file")
        return pil_to_uint8_chw(image.resize((image_size, image_size), resample=_bilinear()))

    splits, members = {}, {}
    for name in ("train", "val", "test"):
        index = parts[name]
        chosen = [frames[i] for i in index]
        pixels = decode_all(chosen, decode, workers)
        stacked = torch.from_numpy(np.stack(pixels)) if pixels else torch.zeros((0, 3, image_size, image_size), dtype=torch.uint8)
        splits[name] = ImageSplit(stacked, torch.from_numpy(labels[index]))
        members[name] = chosen
    info = base_info(f"KITTI 2D object, majority-class relabeling of {root / 'training'}", fractions, seed, splits, CLASSES)
    info.update({
        "class_mapping": {name: index for index, name in enumerate(CLASSES)},
        "relabeling": "most frequent object class per image; DontCare excluded; ties to the first object in the file",
        "labelled_images": len(frames),
        "skipped": skipped,
        "image_size": [image_size, image_size],
        "resize": "bilinear, not aspect-preserving",
    })
    # ResNet-50 from scratch; ImageNet statistics as its normalisation layer (a natural-image default).
    facts = dataset_facts("kitti")
    return PreparedDataset("kitti", splits, CLASSES, list(facts.mean), list(facts.std), info), members


def _bilinear():
    from PIL import Image

    return Image.Resampling.BILINEAR
