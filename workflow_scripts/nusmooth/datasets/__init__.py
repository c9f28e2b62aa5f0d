"""Dataset readers, dispatched through the registry (:mod:`nusmooth.registry`).

Every preparer returns ``(PreparedDataset, members)``: the uint8 splits with their facts, and for the
record which raw items (indices in the official files, KITTI frame ids, ImageNet file paths) went
into each split. Pixels stay uint8 in [0, 255] (the [0, 1] pixel space once divided): sigma and the
noise live there for every dataset; each model normalises in its first layer.

:func:`prepare_dataset` refuses a split that leaves train, validation or test empty (a
:class:`DataError` naming the config key to change), so the data stage fails before it writes anything.
"""

from __future__ import annotations

from importlib import import_module

from ..registry import DATASETS, SPLITS, facts_for
from .common import DataError, check_nonempty_splits


def _preparer(facts):
    module, function = facts.preparer.split(":")
    return getattr(import_module(module), function)


def prepare_dataset(name: str, split: dict, source: dict | None = None, workers: int = 1):
    """Prepare dataset ``name`` from its config blocks ``split`` (fractions + seed) and ``source``.

    A name the registry does not know is a configured dataset when ``source["format"]`` is set
    (:func:`nusmooth.registry.facts_for`). Raises :class:`DataError` on unreadable raw data and on a
    split that would leave a part empty.
    """
    facts = facts_for(name, {"source": source or {}})
    fractions = {part: split[part] for part in SPLITS}
    source = source or {}
    kwargs = {key: source[key] for key in facts.source_keys if source.get(key) is not None}
    if "path" in facts.source_keys:
        kwargs.setdefault("path", None)
    if facts.decodes_images:
        kwargs["workers"] = workers
    if name not in DATASETS:
        kwargs["name"] = name
    dataset, members = _preparer(facts)(fractions, split["seed"], **kwargs)
    check_nonempty_splits(name, {part: len(data) for part, data in dataset.splits.items()})
    return dataset, members


__all__ = ["DATASETS", "DataError", "prepare_dataset"]
