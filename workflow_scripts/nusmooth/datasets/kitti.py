"""KITTI 2D object as an image classification dataset (the paper's construction).

Every image of ``training/image_2`` gets the class of its most frequent object in
``training/label_2/<frame>.txt`` (original KITTI format: one object per line, the first token is the
class name). ``DontCare`` regions are not objects and are not counted; ties go to the class whose
first object comes first in the file; an image with no counted object (empty label file, or
``DontCare`` only) is skipped and listed in the report. Images are resized to 224 x 224 (not
aspect-preserving, as the authors did), uint8 in [0, 255], i.e. [0, 1] once divided.

An unknown class name is an *error* naming the file and line, not a skip: the KITTI label format
has a closed list of classes, so an unknown name means a wrong or damaged file (or another dataset's
labels), and skipping it would silently change the label of that image. Every line, ``DontCare``
included, must have the format's field count before it is counted or skipped.

Split. The 7,481 training frames are taken from a few dozen drives, and frames of one drive are
near-duplicates. With the object devkit's ``mapping/`` folder (``source.drive_mapping``) the split is
by drive: every frame of a drive lands in one split, so the test set holds drives the model has never
seen. The paper split by frame (seeded, stratified by class): frames of one drive then fall on both
sides, and test accuracy is optimistic. That split is never a silent fallback: without a mapping the
caller must ask for it (``source.split_by: frame``), and ``info["split_unit"]`` says which was made.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..data import ImageSplit, PreparedDataset
from ..registry import SPLITS, dataset_facts
from .common import (
    DataError,
    base_info,
    check_nonempty_splits,
    decode_all,
    missing,
    open_rgb,
    pil_to_uint8_chw,
    split_groups,
    split_pool,
)

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
        if name not in CLASSES and name != IGNORED:
            raise DataError(
                f"{label_file}, line {number}: unknown KITTI class {name!r} (known: {CLASSES + [IGNORED]}). "
                "Fix: point datasets.kitti.source.path at the original KITTI 2D object training folder"
            )
        # Checked before DontCare lines are skipped: a short line of any class means a damaged file.
        if len(tokens) not in (FIELDS, FIELDS + 1):
            raise DataError(
                f"{label_file}, line {number}: {len(tokens)} fields, a KITTI label line has {FIELDS}. Fix: restore the original label file"
            )
        if name != IGNORED:
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
    fix = (
        "set datasets.kitti.source.path to the KITTI 2D object folder that holds training/image_2 and training/label_2"
    )
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
        raise DataError(
            f"frame {frame} has no {which} ({len(unpaired)} unpaired frame(s) in {root / 'training'}). Fix: use a complete copy"
        )
    frames, targets, skipped = [], [], {}
    for frame in sorted(images):
        name = majority_class(labels[frame])
        if name is None:
            skipped[frame] = "no counted object (empty label file or DontCare only)"
            continue
        frames.append(frame)
        targets.append(CLASSES.index(name))
    return frames, targets, skipped


MAPPING_FIX = (
    "set datasets.kitti.source.drive_mapping to the mapping/ folder of the KITTI object devkit (devkit_object.zip) "
    "that matches this training set, unmodified; or set it to null and datasets.kitti.source.split_by to frame "
    "to split by frame"
)
FRAME_SPLIT_NOTE = (
    "frame-level random split, as in the paper (asked for with source.split_by: frame): frames of one drive "
    "(near-duplicates) can fall in both training and test; set datasets.kitti.source.drive_mapping to split by drive"
)
SPLIT_UNITS = ("drive", "frame")


def check_split_choice(split_by: str, drive_mapping) -> None:
    """Refuse a split the config did not ask for: by drive without a mapping (which would otherwise fall
    back to the frame split and put frames of one drive in training and test without a word), and by
    frame with a mapping (which would leave the mapping silently unused)."""
    if split_by not in SPLIT_UNITS:
        raise DataError(f"datasets.kitti.source.split_by is {split_by!r}. Fix: set it to one of {list(SPLIT_UNITS)}")
    if split_by == "drive" and drive_mapping is None:
        raise DataError(
            "datasets.kitti.source.drive_mapping is not set, so KITTI cannot be split by drive (source.split_by: drive, "
            "the default), and splitting frames of one drive across training, validation and test is not done silently. "
            "Fix: set datasets.kitti.source.drive_mapping to the KITTI object devkit's mapping/ folder, or set "
            "datasets.kitti.source.split_by to frame for the paper's frame-level split (Figure 4's caption then says so)"
        )
    if split_by == "frame" and drive_mapping is not None:
        raise DataError(
            f"datasets.kitti.source.split_by is frame, but datasets.kitti.source.drive_mapping is set ({drive_mapping}) and "
            "would go unused. Fix: set split_by to drive to split by drive, or drive_mapping to null for the frame split"
        )


def read_drive_mapping(folder) -> list[str]:
    """The drive of every KITTI object training frame, from the devkit's ``mapping/`` folder: element
    ``i`` is the drive of frame ``i`` (file ``{i:06d}.png``).

    ``train_rand.txt`` is one comma-separated line of 1-based indices, the i-th giving the line of
    ``train_mapping.txt`` for frame i; each ``train_mapping.txt`` line is ``<date> <drive> <frame>``
    (e.g. ``2011_09_26 2011_09_26_drive_0005_sync 0000000109``). ``folder`` may also be the devkit
    folder that holds ``mapping/``. Any malformed line is a :class:`DataError` naming file and line.
    """
    folder = mapping_folder(folder)
    drives = _read_mapping_lines(folder / "train_mapping.txt")
    return [drives[index - 1] for index in _read_permutation(folder / "train_rand.txt", len(drives))]


def mapping_folder(folder) -> Path:
    """The folder holding ``train_rand.txt``: ``folder`` itself, or its ``mapping/`` subfolder."""
    folder = Path(folder)
    if not (folder / "train_rand.txt").exists() and (folder / "mapping").is_dir():
        return folder / "mapping"
    return folder


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError as error:
        raise missing(path, "KITTI devkit mapping file", MAPPING_FIX) from error


def _read_mapping_lines(path: Path) -> list[str]:
    """The drive named on every line of ``train_mapping.txt``, in line order."""
    drives = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        tokens = line.split()
        if len(tokens) != 3 or not tokens[2].isdigit():
            raise DataError(
                f"{path}, line {number}: {line.strip()!r} is not '<date> <drive> <frame>' "
                f"(e.g. '2011_09_26 2011_09_26_drive_0005_sync 0000000109'). Fix: {MAPPING_FIX}"
            )
        date, drive, _ = tokens
        # The devkit's drive names carry the date; a bare drive number identifies a drive only with its date.
        drives.append(drive if drive.startswith(date) else f"{date}/{drive}")
    if not drives:
        raise DataError(f"{path} is empty. Fix: {MAPPING_FIX}")
    return drives


def _read_permutation(path: Path, lines: int) -> list[int]:
    """The 1-based indices of ``train_rand.txt``, in frame order, each checked against ``lines``."""
    indices: list[int] = []
    first_frame: dict[int, int] = {}
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        for token in (t.strip() for t in line.split(",")):
            if not token:
                continue
            frame = len(indices)
            if not token.isdigit() or not 1 <= int(token) <= lines:
                raise DataError(
                    f"{path}, line {number}: entry {frame + 1} (frame {frame:06d}) is {token!r}, not a line number of "
                    f"train_mapping.txt (1..{lines}). Fix: {MAPPING_FIX}"
                )
            index = int(token)
            if index in first_frame:
                raise DataError(
                    f"{path}, line {number}: index {index} is given to frames {first_frame[index]:06d} and {frame:06d}; "
                    f"train_rand.txt is a permutation. Fix: {MAPPING_FIX}"
                )
            first_frame[index] = frame
            indices.append(index)
    if not indices:
        raise DataError(f"{path} is empty. Fix: {MAPPING_FIX}")
    return indices


def drives_of(frames: list[str], folder) -> list[str]:
    """The drive of each frame id, from the devkit mapping; a :class:`DataError` for a frame it does
    not cover (or a frame id that is not a number, which the mapping cannot index)."""
    drive_of_frame = read_drive_mapping(folder)
    drives = []
    for frame in frames:
        if not frame.isdigit():
            raise DataError(
                f"KITTI frame {frame!r} is not numbered like 000123, so the drive mapping cannot index it. Fix: {MAPPING_FIX}"
            )
        if int(frame) >= len(drive_of_frame):
            raise DataError(
                f"frame {frame} is not covered by {mapping_folder(folder) / 'train_rand.txt'}: it lists {len(drive_of_frame)} frames "
                f"(000000..{len(drive_of_frame) - 1:06d}). Fix: {MAPPING_FIX}"
            )
        drives.append(drive_of_frame[int(frame)])
    return drives


def split_frames(
    frames: list[str], labels: np.ndarray, fractions: dict[str, float], seed: int, drive_mapping=None
) -> tuple[dict[str, np.ndarray], dict]:
    """Indices into ``frames`` of each split, and the facts of how they were split (for ``info``).

    By drive when ``drive_mapping`` (the devkit's ``mapping/`` folder) is given, else by frame.
    Raises :class:`DataError` when a split would be empty.
    """
    if drive_mapping is None:
        parts = split_pool(labels, fractions, seed)
        check_nonempty_splits("kitti", {name: len(index) for name, index in parts.items()})
        return parts, {"split_unit": "frame", "split_note": FRAME_SPLIT_NOTE}
    drives = np.asarray(drives_of(frames, drive_mapping))
    parts = split_groups(drives, fractions, seed)
    split_drives = {name: sorted(set(drives[index].tolist())) for name, index in parts.items()}
    check_nonempty_splits(
        "kitti",
        {name: len(index) for name, index in parts.items()},
        f"The split is by drive (every drive whole in one split): {len(set(drives.tolist()))} drive(s) hold the {len(frames)} labelled frames.",
    )
    return parts, {
        "split_unit": "drive",
        "drive_mapping": str(mapping_folder(drive_mapping)),
        "drives": split_drives,
        "drive_counts": {name: len(names) for name, names in split_drives.items()},
    }


def prepare_kitti(
    fractions: dict[str, float],
    seed: int,
    *,
    path=None,
    image_size: int = 224,
    drive_mapping=None,
    split_by: str = "drive",
    workers: int = 1,
) -> tuple[PreparedDataset, dict]:
    """Relabel, split (by drive with ``drive_mapping``, or by frame when ``split_by`` is ``"frame"``;
    test first, validation out of the training part) and load."""
    if path is None:
        raise DataError(
            "dataset kitti has no data path. Fix: download the KITTI 2D object benchmark (left colour images and "
            "training labels) and set datasets.kitti.source.path to the folder that holds training/"
        )
    check_split_choice(split_by, drive_mapping)  # before any file is read
    root = Path(path)
    frames, targets, skipped = relabel(root)
    if skipped:
        print(f"skipped {len(skipped)} image(s) without a counted object: {sorted(skipped)[:20]}")
    labels = np.asarray(targets, dtype=np.int64)
    parts, split_facts = split_frames(frames, labels, fractions, seed, drive_mapping)
    image_dir = root / "training" / "image_2"

    def decode(frame):
        image = open_rgb(image_dir / f"{frame}.png", "replace the image with the original KITTI file")
        return pil_to_uint8_chw(image.resize((image_size, image_size), resample=_bilinear()))

    splits, members = {}, {}
    for name in SPLITS:
        index = parts[name]
        chosen = [frames[i] for i in index]
        splits[name] = ImageSplit(
            torch.from_numpy(np.stack(decode_all(chosen, decode, workers))), torch.from_numpy(labels[index])
        )
        members[name] = chosen
    info = base_info(
        f"KITTI 2D object, majority-class relabeling of {root / 'training'}", fractions, seed, splits, CLASSES
    )
    info.update(
        {
            "class_mapping": {name: index for index, name in enumerate(CLASSES)},
            "relabeling": "most frequent object class per image; DontCare excluded; ties to the first object in the file",
            "labelled_images": len(frames),
            "skipped": skipped,
            "image_size": [image_size, image_size],
            "resize": "bilinear, not aspect-preserving",
            **split_facts,
        }
    )
    # ResNet-50 from scratch; ImageNet statistics as its normalisation layer (a natural-image default).
    facts = dataset_facts("kitti")
    return (
        PreparedDataset("kitti", splits, classes=CLASSES, mean=list(facts.mean), std=list(facts.std), info=info),
        members,
    )


def _bilinear():
    from PIL import Image

    return Image.Resampling.BILINEAR
