"""Datasets as the pipeline stores them: uint8 images ``(N, C, H, W)`` in [0, 255] and int64 labels,
one record per split. ``as_float`` turns images into the [0, 1] pixel space that sigma lives in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field

import numpy as np
import torch

# SPLITS (the parts of every prepared dataset) and PIXEL_SPACE (where sigma lives): see nusmooth.registry.
from .registry import PIXEL_SPACE, SPLITS


@dataclass
class ImageSplit:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def as_float(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``limit`` images as float32 in [0, 1], and their labels."""
        return self.images[:limit].float().div_(255.0), self.labels[:limit]


@dataclass
class PreparedDataset:
    """Splits plus the facts every downstream result records (classes, normalisation, provenance)."""

    name: str
    splits: dict[str, ImageSplit]
    _: KW_ONLY
    classes: list[str]
    mean: list[float]
    std: list[float]
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.splits[SPLITS[0]].images.shape[1:])

    def to_payload(self) -> dict:
        payload = {"name": self.name, "classes": self.classes, "mean": self.mean, "std": self.std, "info": self.info}
        for split, data in self.splits.items():
            payload[f"{split}_images"] = data.images
            payload[f"{split}_labels"] = data.labels
        return payload

    @classmethod
    def from_payload(cls, payload: dict) -> PreparedDataset:
        splits = {
            s: ImageSplit(payload[f"{s}_images"], payload[f"{s}_labels"]) for s in SPLITS if f"{s}_images" in payload
        }
        return cls(
            payload["name"],
            splits,
            classes=payload["classes"],
            mean=payload["mean"],
            std=payload["std"],
            info=payload.get("info", {}),
        )


def stratified_split(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Seeded stratified split of ``range(len(labels))`` into named parts of the given fractions.

    Within every class the indices are shuffled with ``seed`` and cut by cumulative fraction (the
    last part takes the rounding remainder), so each part keeps the class proportions. Each part's
    indices are then shuffled (seeded) so that its first k points are a stratified-ish subsample too.
    """
    if abs(sum(fractions.values()) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in fractions}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum([0.0, *fractions.values()]) * len(members)).astype(int)
        for (name, _), lo, hi in zip(fractions.items(), bounds[:-1], bounds[1:]):
            parts[name].append(members[lo:hi])
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


def base_info(
    source: str, fractions: dict[str, float], seed: int, splits: dict[str, ImageSplit], classes: Sequence[str]
) -> dict:
    """Facts every prepared dataset records: provenance, noise space, split settings, class counts."""
    return {
        "source": source,
        "pixel_space": PIXEL_SPACE,
        "split_seed": seed,
        "split_fractions": fractions,
        "counts": {name: len(split) for name, split in splits.items()},
        "class_counts": {
            name: {
                classes[c]: int(n) for c, n in enumerate(torch.bincount(split.labels, minlength=len(classes)).tolist())
            }
            for name, split in splits.items()
        },
    }


def stratified_subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` indices of ``labels`` (all when ``count >= len(labels)``), drawn per class in
    proportion to its size (largest remainders get the leftover places, ties to the lower class),
    seeded; every class keeps at least one index when ``count`` allows. Returned in a seeded order."""
    labels = np.asarray(labels)
    if count >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * count / len(labels)
    take = np.floor(exact).astype(int)
    if count >= len(classes):
        take = np.maximum(take, 1)
    while take.sum() > count:  # the minimum of one overshot: trim the largest shares
        take[np.argmax(take - exact)] -= 1
    for index in np.argsort(-(exact - take), kind="stable")[: count - take.sum()]:
        take[index] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return rng.permutation(np.concatenate(chosen))


def training_subset(split: ImageSplit, count: int | None, seed: int) -> ImageSplit:
    """``split`` itself when ``count`` is None, else a seeded stratified subset of ``count`` images."""
    if count is None:
        return split
    keep = torch.from_numpy(stratified_subset(split.labels.numpy(), count, seed))
    return ImageSplit(split.images[keep], split.labels[keep])
