"""Dataset readers, dispatched through the registry (:mod:`nusmooth.registry`).

Every preparer returns ``(PreparedDataset, members)``: the uint8 splits with their facts, and for the
record which raw items (indices in the official files, KITTI frame ids, ImageNet file paths) went
into each split. Pixels stay uint8 in [0, 255] (the [0, 1] pixel space once divided): sigma and the
noise live there for every dataset; each model normalises in its first layer.
"""

from __future__ import annotations

from importlib import import_module

from ..registry import DATASETS, dataset_facts
from .common import DataError


def _preparer(name: str):
    module, function = dataset_facts(name).preparer.split(":")
    return getattr(import_module(module), function)


def prepare_dataset(name: str, split: dict, source: dict | None = None, workers: int = 1):
    """Prepare dataset ``name`` from its config blocks ``split`` (fractions + seed) and ``source``."""
    facts = dataset_facts(name)
    fractions = {part: split[part] for part in ("train", "val", "test")}
    source = source or {}
    kwargs = {key: source[key] for key in facts.source_keys if source.get(key) is not None}
    if "path" in facts.source_keys:
        kwargs.setdefault("path", None)
    if facts.decodes_images:
        kwargs["workers"] = workers
    return _preparer(name)(fractions, split["seed"], **kwargs)


__all__ = ["DATASETS", "DataError", "prepare_dataset"]
