"""What every dataset reader shares: the error type, the pool split, checksums, parallel image decoding."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..data import ImageSplit, PreparedDataset, base_info, stratified_split
from ..registry import SPLITS


class DataError(RuntimeError):
    """A raw data file is missing, truncated, corrupt or not in the expected layout.

    The message names the file and says how to fix it; raised before anything is written.
    """


def missing(path, what: str, fix: str) -> DataError:
    return DataError(f"{what} not found: {path}. Fix: {fix}")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def split_pool(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Two-stage seeded stratified split of a pool that has no official test split (KITTI).

    First the test part (``fractions["test"]`` of the pool) is cut off, then validation is carved from
    the rest in the ratio ``val : train``: so a 0.8 / 0.1 / 0.1 split is the paper's 90/10 train/test
    split with a validation set taken out of the 90 %.
    """
    first = stratified_split(labels, {"rest": 1.0 - fractions["test"], "test": fractions["test"]}, seed)
    rest = first["rest"]
    second = carve_validation(labels[rest], fractions, seed + 1)
    return {"train": rest[second["train"]], "val": rest[second["val"]], "test": first["test"]}


def split_groups(groups: Sequence[str], fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Seeded split of a pool whose items come in groups (KITTI drives): each group goes whole to one part.

    The same two stages as :func:`split_pool`, with fractions counted in items: test takes about
    ``fractions["test"]`` of the items, then validation about ``val / (train + val)`` of the rest.
    Groups are visited in a seeded random order and each one joins the part when that brings the
    part's item count closer to its target, so a part overshoots by less than half a group. Each
    part's indices are shuffled (seeded), as in :func:`~nusmooth.data.stratified_split`.
    """
    names, group_of, sizes = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names)).tolist()
    test = _take_groups(order, sizes, fractions["test"] * len(group_of))
    rest = [g for g in order if g not in test]
    share = fractions["val"] / (fractions["train"] + fractions["val"])
    val = _take_groups(rest, sizes, share * sum(sizes[g] for g in rest))
    chosen = {"train": [g for g in rest if g not in val], "val": list(val), "test": list(test)}
    return {part: rng.permutation(np.flatnonzero(np.isin(group_of, members))) for part, members in chosen.items()}


def _take_groups(order: Sequence[int], sizes: np.ndarray, target: float) -> set[int]:
    """Groups, visited in ``order``, whose sizes add up to about ``target`` (greedy)."""
    taken, count = set(), 0
    for group in order:
        if abs(count + sizes[group] - target) < abs(count - target):
            taken.add(group)
            count += sizes[group]
    return taken


def check_nonempty_splits(dataset: str, counts: Mapping[str, int], detail: str = "") -> None:
    """Raise :class:`DataError` when a split would be empty: every later stage needs images in all three.

    The message names the config key to change and the count of every split; ``detail`` adds how the
    split was made (e.g. by drive).
    """
    empty = [name for name in SPLITS if counts.get(name, 0) == 0]
    if not empty:
        return
    sizes = ", ".join(f"{name} {counts.get(name, 0)}" for name in SPLITS)
    if dataset == "imagenet":
        fix = "raise " + " and ".join(f"datasets.imagenet.source.{name}_images" for name in empty)
    else:
        fix = f"change datasets.{dataset}.split (larger fractions for {', '.join(empty)}) or use a larger copy of the data"
    detail = f" {detail}" if detail else ""
    raise DataError(
        f"dataset {dataset}: split(s) {', '.join(empty)} would be empty (images per split: {sizes}).{detail} Fix: {fix}"
    )


def carve_validation(train_labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Seeded stratified split of a training pool into train and val in the ratio ``train : val``."""
    val = fractions["val"] / (fractions["train"] + fractions["val"])
    return stratified_split(train_labels, {"train": 1.0 - val, "val": val}, seed)


def official_splits(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    fractions: dict[str, float],
    seed: int,
) -> tuple[dict[str, ImageSplit], dict[str, list[int]]]:
    """Splits of a dataset with an official test split: test = the official test split; validation is
    carved (seeded, stratified) out of the official *train* split, never out of the test split.

    Returns the splits and, for the record, each split's indices in its official file (in split order).
    """
    parts = carve_validation(train_labels, fractions, seed)
    # The whole official test split, in a seeded random order: downstream stages certify the first k
    # test points when asked for fewer, and some copies (class folders) are sorted by class.
    parts["test"] = np.random.default_rng(seed).permutation(len(test_labels))
    splits = {name: _split(train_images, train_labels, idx) for name, idx in parts.items() if name != "test"}
    splits["test"] = _split(test_images, test_labels, parts["test"])
    members = {name: idx.tolist() for name, idx in parts.items()}
    return {name: splits[name] for name in SPLITS}, members


def _split(images: np.ndarray, labels: np.ndarray, index: np.ndarray) -> ImageSplit:
    return ImageSplit(
        torch.from_numpy(np.ascontiguousarray(images[index])), torch.from_numpy(labels[index].astype(np.int64))
    )


def decode_all(paths: Sequence, decode: Callable, workers: int) -> list:
    """``decode(path)`` for every path, in order, on ``workers`` threads (PIL releases the GIL)."""
    if workers <= 1:
        return [decode(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(decode, paths, chunksize=64))


def open_rgb(path, fix: str):
    """Open an image file fully (so truncation is detected now), as RGB; a clear error otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError as error:
        raise missing(path, "image file", fix) from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataError(f"image file {path} is truncated or corrupt ({error}). Fix: {fix}") from error


def pil_to_uint8_chw(image) -> np.ndarray:
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()


__all__ = [
    "DataError",
    "PreparedDataset",
    "base_info",
    "carve_validation",
    "check_nonempty_splits",
    "decode_all",
    "md5_hex",
    "missing",
    "official_splits",
    "open_rgb",
    "pil_to_uint8_chw",
    "split_groups",
    "split_pool",
]
