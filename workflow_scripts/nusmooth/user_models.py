"""Models the config names instead of training a built-in architecture from scratch: torchvision's
pretrained ResNet-50 (ImageNet), weights of your own (``model.weights``), a network of your own
(``model.source``), and the check that a model fits the dataset (one zero batch) before any work;
:func:`model_from_config` picks among them and the built-in architectures (:mod:`nusmooth.networks`).

``model.source`` names where the network comes from: "torchscript:<file>", "torchvision:<arch>" or
"module:<importable.module>:<callable>"; ``model.weights`` is a state_dict file. Nothing in a weights
file ever runs: state_dicts are read with torch.load(weights_only=True) (tensors and plain types);
a TorchScript archive holds TorchScript code (a restricted language run by torch's interpreter, not
Python pickles); a module:callable is code the user names in the config, as any import is.
"""

from __future__ import annotations

import inspect
import io
import warnings
from importlib import import_module
from pathlib import Path

import torch
from torch import nn

from .io import load_failure_reason
from .model_files import weights_file_problem
from .model_settings import ModelConfigError, describe_model, parse_model_source
from .networks import ARCHITECTURE_BUILDERS, Normalize, build_model, resnet50
from .registry import PRETRAINED


def load_torchvision_resnet50(weights_file=None) -> nn.Module:
    """torchvision's ImageNet-pretrained ResNet-50 (IMAGENET1K_V1, the weights of the paper's time):
    from ``weights_file`` (a saved torchvision ``state_dict``, loaded safely) or torchvision's download.
    Raises a RuntimeError that says what to do when neither is available."""
    model = resnet50(1000)
    if weights_file is not None:
        try:
            state = torch.load(weights_file, map_location="cpu", weights_only=True)
        except FileNotFoundError as error:
            raise RuntimeError(
                f"ResNet-50 weights file not found: {weights_file}. Fix: set datasets.imagenet.model.weights to an existing file, or null to download"
            ) from error
        except Exception as error:
            raise RuntimeError(
                f"ResNet-50 weights file {weights_file} is truncated, corrupt or not a plain state_dict: {load_failure_reason(error, weights_file)}. Fix: save it with torch.save(model.state_dict(), path)"
            ) from error
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise RuntimeError(
                f"{weights_file} does not hold torchvision ResNet-50 weights ({str(error)[:300]}). Fix: use a torchvision resnet50 state_dict"
            ) from error
        return model
    from torchvision.models import ResNet50_Weights

    try:
        state = ResNet50_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as error:
        raise RuntimeError(
            f"could not download torchvision's ResNet-50 weights ({error}). Fix: on a machine without internet, save "
            "torchvision.models.resnet50(weights='IMAGENET1K_V1').state_dict() elsewhere and set datasets.imagenet.model.weights to that file"
        ) from error
    model.load_state_dict(state)
    return model


def pretrained_model(arch: str, num_classes: int, mean, std, weights_file=None) -> nn.Sequential:
    """``Normalize`` followed by pretrained weights; only ImageNet's ResNet-50 has them here."""
    if (arch, num_classes) != (PRETRAINED.arch, PRETRAINED.num_classes):
        raise ValueError(
            f"{PRETRAINED.rule}; got {arch} with {num_classes} classes. "
            f"Fix: set model.pretrained: false, or give the ImageNet train/ folder all {PRETRAINED.num_classes:,} class folders"
        )
    return nn.Sequential(Normalize(mean, std), load_torchvision_resnet50(weights_file))


def read_state_dict(path, key: str = "model.weights") -> dict:
    """A state_dict from ``path`` by a safe load (no code in the file runs); a dict holding one under
    ``state_dict`` (as this pipeline's model.pt, or a training checkpoint) is unwrapped. Errors are
    raised without torch's own (``from None``): its text advises an unsafe load."""
    fix = f"set {key} to a file written by torch.save(model.state_dict(), path)"
    if not Path(path).is_file():
        raise ModelConfigError(f"{key}: file not found: {path}. Fix: {fix}")
    problem = weights_file_problem(path)
    if problem is not None:
        raise ModelConfigError(f"{key}: {problem}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ModelConfigError(
            f"{key}: {path} is not a model's weights: {load_failure_reason(error, path)}. Fix: {fix}"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelConfigError(f"{key}: {path} holds a {type(state).__name__}, not a state_dict of tensors. Fix: {fix}")
    return state


def load_state_into(network: nn.Module, state: dict, path, key: str = "model.weights") -> None:
    """Load ``state`` (strictly) into ``network``; a ModelConfigError naming the mismatch otherwise."""
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise ModelConfigError(
            f"{key}: {path} does not fit the configured architecture ({str(error)[:400]}). Fix: give the weights of "
            "this architecture with this many classes, or change model.source / model.arch"
        ) from error


def read_torchscript(path, key: str = "model.source") -> nn.Module:
    """A TorchScript archive (``torch.jit.save``); a ModelConfigError when the file is not one."""
    data = path if isinstance(path, (bytes, bytearray)) else None
    try:
        if data is None:
            with open(path, "rb") as handle:
                data = handle.read()
        with warnings.catch_warnings():  # torch deprecates TorchScript; the user's file is one all the same
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*", category=FutureWarning)
            return torch.jit.load(io.BytesIO(data), map_location="cpu")
    except FileNotFoundError as error:
        raise ModelConfigError(
            f"{key}: TorchScript file not found: {path}. Fix: set {key} to torchscript:<existing file>"
        ) from error
    except Exception as error:
        raise ModelConfigError(
            f"{key}: {path if data is None or not isinstance(path, (bytes, bytearray)) else 'the stored archive'} is not a "
            f"TorchScript archive ({type(error).__name__}). Fix: save the model with torch.jit.save(torch.jit.script(model), path) "
            "(or torch.jit.trace)"
        ) from error


def _import_callable(target: str):
    module_name, _, attribute = target.rpartition(":")
    if not module_name:
        raise ModelConfigError(
            f"model.source module:{target} needs module:<importable.module>:<callable>. Fix: e.g. module:mypackage.nets:build"
        )
    try:
        return getattr(import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ModelConfigError(
            f"model.source module:{target}: cannot import it ({error}). Fix: make {module_name} importable (PYTHONPATH) and name an existing callable"
        ) from error


def _call_builder(builder, num_classes: int) -> nn.Module:
    """``builder(num_classes=K)`` when it takes that keyword, else ``builder()``."""
    try:
        takes = "num_classes" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        takes = False
    network = builder(num_classes=num_classes) if takes else builder()
    if not isinstance(network, nn.Module):
        raise ModelConfigError(
            f"model.source: the callable returned a {type(network).__name__}, not a torch.nn.Module. Fix: return the network"
        )
    return network


def configured_network(source: str, num_classes: int, torchscript: bytes | None = None) -> nn.Module:
    """The network (without normalisation) that ``model.source`` names, freshly built (torchvision,
    module) or read (TorchScript: ``torchscript`` bytes when given, else the file)."""
    kind, rest = parse_model_source(source)
    if kind == "torchscript":
        return read_torchscript(torchscript if torchscript is not None else rest)
    if kind == "torchvision":
        import torchvision

        try:
            return torchvision.models.get_model(rest, weights=None, num_classes=num_classes)
        except ValueError as error:
            raise ModelConfigError(
                f"model.source torchvision:{rest}: {error}. Fix: name a torchvision architecture (torchvision.models.list_models())"
            ) from error
    return _call_builder(_import_callable(rest), num_classes)


def given_weights_model(arch: str, source: str | None, *, num_classes: int, mean, std, weights) -> nn.Sequential:
    """``Normalize`` + the network of ``model.source`` (or the built-in ``arch``), with ``model.weights``
    loaded when set. A state_dict saved from this pipeline's model (``Normalize`` included, keys
    ``0.*`` / ``1.*``) or from the bare network both load."""
    network = configured_network(source, num_classes) if source else ARCHITECTURE_BUILDERS[arch](num_classes)
    model = nn.Sequential(Normalize(mean, std), network)
    if weights is not None:
        state = read_state_dict(weights)
        whole = all(k.startswith(("0.", "1.")) for k in state) and any(k.startswith("0.") for k in state)
        load_state_into(model if whole else network, state, weights)
    return model


class LogOfProbabilities(nn.Module):
    """The log of a model's probabilities (``model.outputs: probabilities``), used as its logits: the
    argmax stays, and a softmax gives the probabilities back. Clamped at the smallest positive float,
    so that a probability of 0 gives a finite logit and a zero gradient instead of NaN."""

    def forward(self, probabilities: torch.Tensor) -> torch.Tensor:
        return probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny).log()


def with_outputs_as_logits(model: nn.Sequential, outputs: str) -> nn.Sequential:
    """``model`` whose scores are logits: :class:`LogOfProbabilities` appended for ``"probabilities"``
    (log-probabilities and logits are used as they are)."""
    return nn.Sequential(*model, LogOfProbabilities()) if outputs == "probabilities" else model


def raw_scores(model: nn.Sequential) -> nn.Sequential:
    """``model`` without the :class:`LogOfProbabilities` that :func:`with_outputs_as_logits` appended."""
    return model[:-1] if isinstance(model[-1], LogOfProbabilities) else model


def _scores_problem(out, num_classes: int, dataset: str) -> tuple[str, str] | None:
    """What is wrong with a forward pass's result ``out`` for a batch of 2 images, and its own fix."""
    if isinstance(out, (tuple, list)):
        return (
            f"a {type(out).__name__} of {len(out)} items, not one tensor of scores",
            f"make forward return only the (N, {num_classes}) scores (e.g. a wrapper module whose forward returns "
            "model(x)[0]), and save that model",
        )
    if not isinstance(out, torch.Tensor):
        return f"a {type(out).__name__}, not a tensor of scores", f"make forward return the (N, {num_classes}) scores"
    if out.dim() != 2 or out.shape[0] != 2:
        return (
            f"scores of shape {tuple(out.shape)}, not one row per image",
            f"flatten or squeeze the extra dimensions at the model's end, so that it returns (N, {num_classes})",
        )
    if out.shape[1] != num_classes:
        return (
            f"{tuple(out.shape)}; {dataset} has {num_classes} classes, so it must return (2, {num_classes})",
            f"give a model with {num_classes} outputs, or set datasets.{dataset}.source.classes to the model's classes",
        )
    return None


def check_model_fits(model: nn.Module, input_shape, num_classes: int, dataset: str, described: str) -> None:
    """One forward pass of a zero batch of the dataset's ``input_shape``: the model must take it and
    return one tensor of ``num_classes`` scores per image. A ModelConfigError naming the key and the fix
    otherwise. ``described`` says which model it is (for the message)."""
    shape = tuple(int(v) for v in input_shape)
    probe = torch.zeros((2, *shape))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(probe)
    except Exception as error:
        raise ModelConfigError(
            f"datasets.{dataset}.model: {described} cannot take the images of {dataset}, shape (C, H, W) = {shape} "
            f"({type(error).__name__}: {str(error).splitlines()[0][:300]}). Fix: give a model built for {shape[0]}-channel "
            f"{shape[1]}x{shape[2]} images, or change datasets.{dataset}.source.input_shape (or the image size of the source)"
        ) from error
    finally:
        model.train(was_training)
    problem = _scores_problem(out, num_classes, dataset)
    if problem is not None:
        what, fix = problem
        raise ModelConfigError(
            f"datasets.{dataset}.model: for a batch of 2 images, {described} returns {what}. Fix: {fix}"
        )


def model_from_config(
    settings: dict, *, num_classes: int, mean, std, input_shape, dataset: str, probe: torch.Tensor | None = None
) -> nn.Sequential:
    """The model block's model, ``Normalize(mean, std)`` first: pretrained (ImageNet), given weights or
    TorchScript (packaged), or freshly initialised (to train; the caller seeds torch first). Tried on
    one zero batch of ``input_shape`` (eval mode, no gradients: no random number is drawn, so trained
    weights do not change) before it is returned: a ModelConfigError names the key and the fix. A model
    whose ``outputs`` are probabilities gets their log as logits (:func:`with_outputs_as_logits`);
    ``probe`` (real images in [0, 1]) checks that its scores are the kind ``outputs`` declares
    (:func:`nusmooth.sanity.check_model_outputs`)."""
    if settings["pretrained"]:
        return pretrained_model(settings["arch"], num_classes, mean, std, settings["weights"])
    if settings.get("source") or settings.get("weights") is not None:
        model = given_weights_model(
            settings["arch"],
            settings.get("source"),
            num_classes=num_classes,
            mean=mean,
            std=std,
            weights=settings.get("weights"),
        )
    else:
        model = build_model(settings["arch"], num_classes, mean, std)
    check_model_fits(model, input_shape, num_classes, dataset, describe_model(settings))
    model = with_outputs_as_logits(model, settings.get("outputs", "logits"))
    if probe is not None:
        from .sanity import check_model_outputs  # sanity reads this module's raw_scores

        check_model_outputs(
            model, probe, settings.get("outputs", "logits"), dataset=dataset, described=describe_model(settings)
        )
    return model
