"""A dataset described by the config alone (``datasets.<name>.source.format``), for your own data.

Two formats:

* ``image_folder``: ``path/<class>/<image>`` (one pool), or ``path/train/<class>/...`` with
  ``val/`` and ``test/`` beside it when the data comes split (either may be missing: it is then cut
  from ``train/``). Any format PIL reads; images are converted to ``input_shape``'s channels (1: grey,
  3: RGB; without ``input_shape``: grey when every image is grey) and resized to its height and width
  (without it, every image must have the first one's size).
* ``tensor_file``: a ``.pt`` file (read with ``torch.load(weights_only=True)``: tensors and plain types
  only, no code runs) or an ``.npz`` file (read with ``allow_pickle=False``) holding ``images`` and
  ``labels`` (one pool), or ``train_images`` / ``train_labels`` and optionally ``val_*`` / ``test_*``,
  and optionally ``classes``. Images ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``; their values lie
  in ``value_range`` (default [0, 255] for 8-bit integers, [0, 1] for floats) and are mapped to [0, 1],
  the pixel space sigma lives in, then stored as 8-bit like every prepared dataset.

Splits follow the built-in datasets' rules: one pool is split like KITTI's frames (seeded, stratified:
test first, then validation out of the rest in the ratio val : train); a given test folder is the test
split and validation is carved from train (like an official test split); given validation and test
are used as they are. Every choice of sigma is made on validation; test is only reported.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..data import ImageSplit, PreparedDataset, base_info, stratified_split
from ..registry import SPLITS
from ..sanity import empty_classes
from .common import DataError, carve_validation, decode_all, missing, split_pool

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _fix(name: str, key: str, what: str) -> str:
    return f"set datasets.{name}.source.{key} {what}"


# --- image folders ------------------------------------------------------------------------------


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def _list_part(folder: Path) -> list[tuple[Path, str]]:
    return [
        (path, cls)
        for cls in _class_folders(folder)
        for path in sorted((folder / cls).iterdir())
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]


def _refuse_empty_class_folders(name: str, folders: dict[str, Path]) -> None:
    """A class folder without images would be dropped from the class list, shifting the label of every
    class sorted after it (a model trained on the full list would then be misread): refused, naming it."""
    empty = [
        str((folder / cls).relative_to(folder.parent if part != "pool" else folder))
        for part, folder in folders.items()
        for cls in _class_folders(folder)
        if not any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in (folder / cls).iterdir())
    ]
    if empty:
        raise DataError(
            f"dataset {name}: class folders without images: {', '.join(empty)}. A class without images cannot be "
            "learned or certified, and dropping it would shift the label of every class after it. Fix: add its "
            f"images ({', '.join(sorted(IMAGE_SUFFIXES))}), or remove the folder (and the class from "
            f"datasets.{name}.source.classes)"
        )


def read_image_folder(name: str, root: Path, input_shape, workers: int):
    """``{part: (uint8 images, class names, ids)}`` with part "pool" or the given train/val/test."""
    given = {part: root / part for part in SPLITS if (root / part).is_dir()}
    if given and "train" not in given:
        raise DataError(
            f"{root} has {sorted(given)} folders but no train/. Fix: add train/<class>/ images, or put the class folders directly in {root}"
        )
    _refuse_empty_class_folders(name, given or {"pool": root})
    listed = {part: _list_part(folder) for part, folder in given.items()} if given else {"pool": _list_part(root)}
    for part, items in listed.items():
        if not items:
            where = root / part if part != "pool" else root
            raise DataError(
                f"no images in class folders under {where} (dataset {name}). Fix: one folder per class holding the images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
    from PIL import Image

    first = Image.open(next(iter(listed.values()))[0][0])
    if input_shape:
        channels, size = int(input_shape[0]), (int(input_shape[2]), int(input_shape[1]))
    else:
        channels, size = (1 if first.mode in ("1", "L", "I", "I;16", "F") else 3), first.size
    if channels not in (1, 3):
        raise DataError(
            f"dataset {name}: images can be read with 1 or 3 channels, not {channels}. Fix: {_fix(name, 'input_shape', 'to [1, H, W] or [3, H, W]')}"
        )
    mode = "L" if channels == 1 else "RGB"

    def decode(item):
        path = item[0]
        try:
            with Image.open(path) as image:
                image.load()
                image = image.convert(mode)
        except FileNotFoundError as error:
            raise missing(path, "image file", "restore it or remove it from the folder") from error
        except Exception as error:
            raise DataError(
                f"image file {path} is truncated or corrupt ({error}). Fix: replace or remove it"
            ) from error
        if image.size != size:
            if not input_shape:
                raise DataError(
                    f"{path} is {image.size[0]}x{image.size[1]} (width x height), the first image {size[0]}x{size[1]}. "
                    f"Fix: {_fix(name, 'input_shape', '[C, H, W] to resize every image to one size')}"
                )
            image = image.resize(size, Image.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        return array[None].copy() if array.ndim == 2 else array.transpose(2, 0, 1).copy()

    parts = {}
    for part, items in listed.items():
        images = np.stack(decode_all(items, decode, workers))
        ids = [str(path.relative_to(root)) for path, _ in items]
        parts[part] = (images, [cls for _, cls in items], ids)
    return parts


# --- tensor files -------------------------------------------------------------------------------


def _load_tensor_file(name: str, path: Path) -> dict:
    fix = "save a dict of tensors / arrays (images, labels[, classes]) with torch.save or numpy.savez"
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        if path.suffix == ".pt":
            payload = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise DataError(f"dataset {name}: {path} is neither .pt nor .npz. Fix: {fix}")
    except DataError:
        raise
    except Exception as error:
        raise DataError(
            f"dataset {name}: {path} could not be read as a tensor file without running code ({str(error)[:200]}). Fix: {fix}"
        ) from error
    if not isinstance(payload, dict):
        raise DataError(f"dataset {name}: {path} holds a {type(payload).__name__}, not a dict. Fix: {fix}")
    return payload


def _as_nchw(name: str, images: np.ndarray, input_shape, key: str) -> np.ndarray:
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise DataError(
            f"dataset {name}: {key} has shape {images.shape}; expected (N, H, W), (N, C, H, W) or (N, H, W, C). Fix: reshape it"
        )
    if input_shape:
        shape = tuple(int(v) for v in input_shape)
        if images.shape[1:] == shape:
            return images
        if images.shape[1:] == (shape[1], shape[2], shape[0]):
            return images.transpose(0, 3, 1, 2)
        raise DataError(
            f"dataset {name}: {key} has images of shape {images.shape[1:]}, but datasets.{name}.source.input_shape is "
            f"{list(shape)}. Fix: {_fix(name, 'input_shape', f'to {list(images.shape[1:])} (C, H, W) or null to read it from the data')}"
        )
    if images.shape[1] in (1, 3):
        return images
    if images.shape[3] in (1, 3):
        return images.transpose(0, 3, 1, 2)
    raise DataError(
        f"dataset {name}: cannot tell the channels of {key} with shape {images.shape}. Fix: {_fix(name, 'input_shape', '[C, H, W]')}"
    )


def _to_uint8(name: str, images: np.ndarray, value_range, key: str) -> np.ndarray:
    """Values in ``value_range`` (default by dtype) -> uint8 in [0, 255] (= [0, 1] pixels after /255)."""
    if value_range is None:
        if images.dtype == np.uint8:
            return images
        value_range = (0, 255) if np.issubdtype(images.dtype, np.integer) else (0.0, 1.0)
        stated = f"the default [{value_range[0]}, {value_range[1]}] for {images.dtype} data"
    else:
        stated = f"datasets.{name}.source.value_range [{value_range[0]}, {value_range[1]}]"
    low, high = float(value_range[0]), float(value_range[1])
    values = images.astype(np.float64)
    seen = (float(values.min()), float(values.max())) if values.size else (low, high)
    if not np.isfinite(values).all() or seen[0] < low or seen[1] > high:
        # The range seen is the usual example itself when the data is 8-bit in floats: name it once.
        examples = " or ".join(dict.fromkeys(["[0, 255]", f"[{seen[0]:g}, {seen[1]:g}]"]))
        raise DataError(
            f"dataset {name}: {key} has values in [{seen[0]:g}, {seen[1]:g}], outside {stated}. "
            f"Fix: {_fix(name, 'value_range', f'to the range the data is stored in (e.g. {examples})')}"
        )
    return np.round((values - low) / (high - low) * 255.0).astype(np.uint8)


def read_tensor_file(name: str, path: Path, input_shape, value_range):
    payload = _load_tensor_file(name, path)
    if "images" in payload:
        keys = {"pool": ("images", "labels")}
    elif "train_images" in payload:
        keys = {part: (f"{part}_images", f"{part}_labels") for part in SPLITS if f"{part}_images" in payload}
    else:
        raise DataError(
            f"dataset {name}: {path} has keys {sorted(payload)}; it needs images and labels (or train_images and train_labels). Fix: save those keys"
        )
    parts = {}
    for part, (image_key, label_key) in keys.items():
        if label_key not in payload:
            raise DataError(
                f"dataset {name}: {path} has {image_key} but no {label_key}. Fix: save the labels under {label_key}"
            )
        images = np.asarray(
            payload[image_key].numpy() if isinstance(payload[image_key], torch.Tensor) else payload[image_key]
        )
        labels = np.asarray(
            payload[label_key].numpy() if isinstance(payload[label_key], torch.Tensor) else payload[label_key]
        )
        if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"dataset {name}: {label_key} must be {len(images)} integer class indices, got {labels.dtype} {labels.shape}. Fix: save one integer label per image"
            )
        images = _to_uint8(name, _as_nchw(name, images, input_shape, image_key), value_range, image_key)
        parts[part] = (
            np.ascontiguousarray(images),
            labels.astype(np.int64),
            [f"{part}[{i}]" for i in range(len(labels))],
        )
    classes = payload.get("classes")
    return parts, [str(c) for c in classes] if classes is not None else None


# --- splits -------------------------------------------------------------------------------------


def _refuse_empty_classes(name: str, class_counts: dict, fractions: dict[str, float]) -> None:
    """Every class needs training images (else the model never learns it) and validation and test
    images (else the choices and the certified accuracy say nothing about it)."""
    empty = empty_classes(class_counts)
    if empty:
        listed = "; ".join(f"{split}: {', '.join(classes)}" for split, classes in empty.items())
        totals = {
            cls: sum(counts[cls] for counts in class_counts.values()) for cls in next(iter(class_counts.values()))
        }
        needed = math.ceil(1 / min(fractions.values()))
        raise DataError(
            f"dataset {name}: classes without images in a split ({listed}); their image counts in all: "
            f"{', '.join(f'{cls} {totals[cls]}' for cls in dict.fromkeys(c for cs in empty.values() for c in cs))}. "
            "Every class needs training, validation and test images. Fix: add images of these classes (a pool split "
            f"{fractions['train']:g} / {fractions['val']:g} / {fractions['test']:g} needs at least {needed} per class), "
            f"or remove them from datasets.{name}.source.classes (and their folders or labels)"
        )


def assemble_splits(parts: dict, fractions: dict[str, float], seed: int) -> dict[str, tuple]:
    """``{split: (images, labels, ids)}`` by the built-in datasets' rules (see the module docstring)."""

    def take(part, index):
        images, labels, ids = parts[part] if isinstance(part, str) else part
        return images[index], labels[index], [ids[i] for i in index]

    if "pool" in parts:
        index = split_pool(parts["pool"][1], fractions, seed)
        return {split: take("pool", index[split]) for split in SPLITS}
    pool = parts["train"]
    out = {}
    if "test" in parts:
        out["test"] = take("test", np.random.default_rng(seed).permutation(len(parts["test"][1])))
    else:
        first = stratified_split(pool[1], {"rest": 1.0 - fractions["test"], "test": fractions["test"]}, seed)
        out["test"], pool = take(pool, first["test"]), take(pool, first["rest"])
    if "val" in parts:
        out["val"] = take("val", np.random.default_rng(seed + 1).permutation(len(parts["val"][1])))
        out["train"] = take(pool, np.random.default_rng(seed + 2).permutation(len(pool[1])))
    else:
        second = carve_validation(pool[1], fractions, seed + 1)
        out["train"], out["val"] = take(pool, second["train"]), take(pool, second["val"])
    return {split: out[split] for split in SPLITS}


def prepare_configured(
    fractions: dict[str, float],
    seed: int,
    *,
    name: str = "configured",
    format: str = "image_folder",
    path=None,
    classes=None,
    input_shape=None,
    value_range=None,
    mean=None,
    std=None,
    workers: int = 1,
) -> tuple[PreparedDataset, dict]:
    """Read and split a configured dataset (``datasets.<name>.source``); see the module docstring."""
    if path is None:
        raise DataError(f"dataset {name} has no data path. Fix: set datasets.{name}.source.path")
    root = Path(path)
    if not root.exists():
        raise missing(
            root,
            f"data of dataset {name}",
            f"set datasets.{name}.source.path to an existing {format.replace('_', ' ')}",
        )
    if format == "image_folder":
        if not root.is_dir():
            raise DataError(
                f"dataset {name}: {root} is not a folder. Fix: point source.path at a folder of class folders, or set source.format: tensor_file"
            )
        found = read_image_folder(name, root, input_shape, workers)
        names = sorted({cls for _, found_classes, _ in found.values() for cls in found_classes})
        order = list(classes) if classes else names
        unknown = sorted(set(names) - set(order))
        if unknown:
            raise DataError(
                f"dataset {name}: class folders {unknown} are not in datasets.{name}.source.classes {order}. Fix: list every class folder there, or set it to null"
            )
        parts = {
            part: (images, np.array([order.index(c) for c in found_classes], dtype=np.int64), ids)
            for part, (images, found_classes, ids) in found.items()
        }
    elif format == "tensor_file":
        parts, file_classes = read_tensor_file(name, root, input_shape, value_range)
        largest = max(int(labels.max()) for _, labels, _ in parts.values() if len(labels))
        order = [str(c) for c in classes] if classes else file_classes or [str(c) for c in range(largest + 1)]
        if min(int(labels.min()) for _, labels, _ in parts.values() if len(labels)) < 0 or largest >= len(order):
            raise DataError(
                f"dataset {name}: labels run up to {largest}, but there are {len(order)} classes {order[:10]}. "
                f"Fix: {_fix(name, 'classes', 'to one name per label 0..K-1 (or null to number them)')}"
            )
    else:
        raise DataError(f"dataset {name}: unknown source.format {format!r}. Fix: use image_folder or tensor_file")
    splits_data = assemble_splits(parts, fractions, seed)
    splits = {
        s: ImageSplit(torch.from_numpy(np.ascontiguousarray(im)), torch.from_numpy(lab))
        for s, (im, lab, _) in splits_data.items()
    }
    channels = splits["train"].images.shape[1]
    mean = [float(v) for v in mean] if mean else [0.0] * channels
    std = [float(v) for v in std] if std else [1.0] * channels
    if len(mean) != channels or len(std) != channels:
        raise DataError(
            f"dataset {name}: mean {mean} / std {std} need one value per channel ({channels}). Fix: {_fix(name, 'mean and std', f'to {channels} values each')}"
        )
    given = [p for p in SPLITS if p in parts]
    origin = f"{format} {root}" + (
        f" with given {'/'.join(given)} parts" if given else " (one pool, split seeded and stratified)"
    )
    info = base_info(origin, fractions, seed, splits, order)
    _refuse_empty_classes(name, info["class_counts"], fractions)
    info.update({"format": format, "given_parts": given})
    members = {s: ids for s, (_, _, ids) in splits_data.items()}
    return PreparedDataset(name, splits, classes=order, mean=mean, std=std, info=info), members
