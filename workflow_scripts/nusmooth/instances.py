"""The datasets a config block runs as: variants of a built-in dataset, and replicates of a block.

- A **variant** (``datasets.<name>.of: <built-in>``) is a block of its own that reads a built-in
  dataset's prepared data and facts (reader, architecture, sizes) and trains, learns sigma and
  certifies with its own settings: ``mnist_noise: {of: mnist, model: {train_noise: 0.25}}`` is MNIST
  with a noise-trained base model beside ``mnist`` in the paper's regime, on the same points.
- A **replicate** repeats a block's whole training: ``datasets.<name>.replicates: k`` runs replicate 1
  as ``<name>`` itself (today's paths and seeds) and replicate ``r >= 2`` as the *instance*
  ``<name>-r<r>``. Every random stream a stage draws is named by its dataset
  (:data:`nusmooth.seeds.STREAM_PARTS`: the base model's initialisation and dropout, its batch order and
  noise augmentation, sigma learning's noise and batch order, the validation sweep's and Figure 1's
  certification), so the instance name alone gives each replicate streams of its own, while its
  settings are the block's. Replicates read the prepared data of the block they repeat (the same
  split, the same test points), so the paired comparisons of every replicate are over the same points.

Names of datasets never contain ``-`` (the schema's pattern), so an instance name is never a dataset's.
No torch: the Snakefile reads this module when it builds the DAG.
"""

from __future__ import annotations

import re

#: Between a block's name and its replicate number in an instance's name (``mnist-r2``).
REPLICATE_MARK = "-r"
#: A dataset name or an instance name, for the Snakefile's ``{dataset}`` wildcard.
INSTANCE_PATTERN = r"[a-z0-9_]+(?:-r(?:[2-9]|[1-9][0-9]+))?"
_INSTANCE = re.compile(r"(?P<name>[a-z0-9_]+)-r(?P<replicate>[1-9][0-9]*)")


def replicate_name(name: str, replicate: int) -> str:
    """The dataset name replicate ``replicate`` of block ``name`` runs under: ``name`` itself for the
    first, ``<name>-r<replicate>`` for the others."""
    if "-" in name:
        raise ValueError(f"{name!r} is an instance name already; replicates are named from a block's name")
    if isinstance(replicate, bool) or not isinstance(replicate, int) or replicate < 1:
        raise ValueError(f"a replicate is numbered from 1, got {replicate!r}")
    return name if replicate == 1 else f"{name}{REPLICATE_MARK}{replicate}"


def replicate_names(name: str, replicates: int) -> list[str]:
    """The names of every replicate of block ``name`` (``datasets.<name>.replicates``), first to last."""
    return [replicate_name(name, replicate) for replicate in range(1, replicates + 1)]


def split_replicate(instance: str) -> tuple[str, int]:
    """``(block name, replicate number)`` of an instance name: ``mnist-r2`` -> ``("mnist", 2)``,
    ``mnist`` -> ``("mnist", 1)``. ``mnist-r1`` is not a name: replicate 1 runs as ``mnist``."""
    found = _INSTANCE.fullmatch(instance)
    if found is None:
        if "-" in instance:
            raise ValueError(f"{instance!r} is not a replicate's name (<dataset>-r<2, 3, ...>)")
        return instance, 1
    replicate = int(found["replicate"])
    if replicate == 1:
        raise ValueError(f"{instance!r} is not a replicate's name: replicate 1 runs as {found['name']!r}")
    return found["name"], replicate


def data_owner(instance: str, datasets: dict) -> str:
    """The dataset whose prepared data (``results/data/<owner>/``) ``instance`` reads: the built-in
    dataset of a variant (``of``), else the block itself; replicates read their block's owner's."""
    name, _ = split_replicate(instance)
    return datasets[name].get("of") or name
