"""What a dataset's model block (``datasets.<name>.model``) says, read without torch: which kind of
source ``model.source`` names, whether the model is packaged or trained (and how: its training
regime), and how messages name it.
The config check (at every DAG build), the cost of a run and train_base read it here alike.

``model.source`` names where the network comes from: ``torchscript:<file>``, ``torchvision:<arch>`` or
``module:<importable.module>:<callable>``; ``model.weights`` is a state_dict file
(:mod:`nusmooth.user_models` builds and loads them).
"""

from __future__ import annotations

#: ``model.source`` kinds.
SOURCE_KINDS = ("torchscript", "torchvision", "module")


class ModelConfigError(ValueError):
    """A configured model does not fit the dataset or its file is not a model; the message names the
    config key and the fix. Raised before any training, certification or sigma search."""


def parse_model_source(source: str) -> tuple[str, str]:
    """``"kind:rest"`` -> ``(kind, rest)``; a ModelConfigError naming the kinds otherwise."""
    kind, _, rest = str(source).partition(":")
    if kind not in SOURCE_KINDS or not rest:
        raise ModelConfigError(
            f"model.source {source!r} is not one of torchscript:<file>, torchvision:<architecture>, "
            "module:<importable.module>:<callable>. Fix: set model.source to one of these forms"
        )
    return kind, rest


def is_packaged(model: dict) -> bool:
    """train_base packages the model instead of training it: pretrained, given weights, or TorchScript."""
    source = model.get("source")
    return bool(
        model.get("pretrained")
        or model.get("weights") is not None
        or (source and parse_model_source(source)[0] == "torchscript")
    )


def describe_model(model: dict) -> str:
    """How the model block names its model (for messages)."""
    return f"model.source {model['source']}" if model.get("source") else f"architecture {model['arch']}"


def training_regime(model: dict) -> str:
    """How the base model of a model block (or of a model file's ``train_config``) was trained, in
    words for titles and captions: with Gaussian noise augmentation of ``model.train_noise``, or without
    noise, as in the paper (a ``train_config`` without the key is the paper's training)."""
    if is_packaged(model):
        return "base model packaged, not trained here"
    noise = model.get("train_noise") or 0
    if noise:
        return f"base model trained with Gaussian noise, sigma {noise:g}"
    return "base model trained without noise, as in the paper"


def regime_tag(model: dict) -> str:
    """:func:`training_regime` short enough for a panel title."""
    if is_packaged(model):
        return "packaged base model"
    noise = model.get("train_noise") or 0
    return f"noise-trained base model, sigma {noise:g}" if noise else "base model trained without noise"
