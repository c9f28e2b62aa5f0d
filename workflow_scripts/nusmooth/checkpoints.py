"""The base model's checkpoint (``model.pt``, contract :data:`nusmooth.artifacts.MODEL`): the weights
with everything that rebuilds the model, written and read by the contract (checked, safe load)."""

from __future__ import annotations

import torch
from torch import nn

from .artifacts import MODEL
from .model_settings import parse_model_source
from .networks import Normalize, build_model
from .user_models import configured_network, with_outputs_as_logits


def save_checkpoint(
    path, model: nn.Module, *, arch: str, num_classes: int, mean, std, train_config: dict, extras: dict | None = None
) -> None:
    """Save weights with everything needed to rebuild the model; loadable with ``weights_only=True``.
    The same model and settings always give the same bytes. ``extras`` (a configured model's
    ``source`` and TorchScript bytes: :func:`configured_checkpoint_extras`) go beside the contract's keys."""
    payload = {
        "arch": arch,
        "num_classes": num_classes,
        "mean": list(mean),
        "std": list(std),
        "train_config": train_config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    payload.update(extras or {})
    MODEL.save(payload, path)


def load_checkpoint(path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_checkpoint` on ``device`` (safe load: tensors only; the
    returned payload's tensors stay on the CPU). Raises :class:`nusmooth.io.ArtifactError` (naming
    the rule to rerun) for a missing or damaged file."""
    payload = MODEL.load(path)
    if payload.get("source"):
        script = payload.get("torchscript")
        network = configured_network(
            payload["source"], payload["num_classes"], bytes(script.numpy().tobytes()) if script is not None else None
        )
        model = nn.Sequential(Normalize(payload["mean"], payload["std"]), network)
    else:
        model = build_model(payload["arch"], payload["num_classes"], payload["mean"], payload["std"])
    # model.outputs (recorded in train_config when not logits): probabilities get their log as logits.
    model = with_outputs_as_logits(model, payload["train_config"].get("outputs", "logits"))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


def configured_checkpoint_extras(settings: dict) -> dict:
    """Keys a checkpoint of a configured model adds to the contract's: ``source`` (how to rebuild the
    network) and, for TorchScript, the archive's bytes as a uint8 tensor (so model.pt stands alone).
    Empty for a built-in architecture, whose checkpoints keep their bytes."""
    source = settings.get("source")
    if not source:
        return {}
    extras = {"source": source}
    kind, rest = parse_model_source(source)
    if kind == "torchscript":
        with open(rest, "rb") as handle:
            extras["torchscript"] = torch.frombuffer(bytearray(handle.read()), dtype=torch.uint8)
    return extras
