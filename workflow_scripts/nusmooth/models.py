"""Base classifiers. Every model takes inputs in [0, 1] pixel space: normalisation is its first layer,
so sigma (and the noise) always lives in pixel units, whatever the dataset (Cohen's convention)."""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable, Sequence
from importlib import import_module

import torch
from torch import nn

from .artifacts import MODEL
from .io import load_failure_reason
from .model_settings import ModelConfigError, describe_model, parse_model_source
from .registry import ARCHITECTURES, PRETRAINED


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; the first layer of every model here."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MaxPool2x2ReLU(nn.Module):
    """``relu(max_pool2d(x, 2))`` for even heights and widths.

    Equal, bit for bit, to the ``ReLU, MaxPool2d(2)`` pair it replaces: both are monotone, so their
    order does not change the result, and a maximum is exact. Without gradients (every noisy copy
    counted for a certificate) it is two elementwise maxima (row pairs, then column pairs) and a ReLU
    on the pooled, 4x smaller tensor: on CPU PyTorch's NCHW max pool also computes argmax indices and
    was a third of the MNIST CNN's forward time; the maxima take a fifth of the pool's time. With
    gradients (training, learning sigma) it is the max pool, whose backward is about four times faster
    than that of elementwise maxima, on a channels-last copy; the gradients are the pair's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"MaxPool2x2ReLU needs an even height and width, got {tuple(x.shape[-2:])}")
        if torch.is_grad_enabled() and x.requires_grad:
            # The channels-last max pool (forward and backward) is faster than the NCHW one, even with
            # the two layout copies; it picks the same maximum, so the gradients are bit-identical.
            pooled = nn.functional.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2)
            return torch.relu(pooled).contiguous()
        # Rows first: each maximum then reads whole contiguous rows, the fastest order measured.
        rows = x.unflatten(-2, (x.shape[-2] // 2, 2))
        pairs = torch.maximum(rows[..., 0, :], rows[..., 1, :])
        return torch.maximum(pairs[..., 0::2], pairs[..., 1::2]).relu_()


class MnistCNN(nn.Module):
    """The paper's MNIST / Fashion-MNIST CNN (PyTorch's MNIST example): two 3x3 convolutions, a max
    pool and two linear layers, for 1 x 28 x 28 inputs. (The second ReLU and the pool are one module,
    :class:`MaxPool2x2ReLU`; parameter names are those of the original layer order.)"""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3),
            MaxPool2x2ReLU(),
            nn.Dropout(0.25),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(9216, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity shortcut (a 1x1 convolution + batch norm
    where the shape changes, He et al.'s option B, as in Cohen et al.'s CIFAR ResNets)."""

    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet of depth ``6 n + 2``: a 3x3 stem with 16 channels, three stages of
    ``n`` basic blocks with 16 / 32 / 64 channels (stride 2 entering stages 2 and 3), global average
    pooling and a linear layer. Depth 110 (n = 18) is the paper's CIFAR-10 model."""

    def __init__(self, depth: int = 110, num_classes: int = 10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, in_channels = [], 16
        for stage, channels in enumerate((16, 32, 64)):
            for index in range(blocks):
                layers.append(BasicBlock(in_channels, channels, stride=2 if stage > 0 and index == 0 else 1))
                in_channels = channels
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def resnet110(num_classes: int) -> nn.Module:
    return CifarResNet(110, num_classes)


def resnet50(num_classes: int) -> nn.Module:
    """torchvision's ResNet-50 architecture, randomly initialised (pretrained weights: see
    :func:`load_torchvision_resnet50`)."""
    from torchvision.models import resnet50 as torchvision_resnet50

    return torchvision_resnet50(weights=None, num_classes=num_classes)


#: Architecture name -> constructor taking ``num_classes``. Other modules add their architectures here.
#: The constructor of each architecture (its facts: ``nusmooth.registry.ARCHITECTURES``).
ARCHITECTURE_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    "mnist_cnn": MnistCNN,
    "resnet110": resnet110,
    "resnet50": resnet50,
}

#: Input shape ``(C, H, W)`` each architecture is built for (its datasets' images).
INPUT_SHAPES = {name: facts.input_shape for name, facts in ARCHITECTURES.items()}


def build_model(arch: str, num_classes: int, mean: Sequence[float], std: Sequence[float]) -> nn.Sequential:
    """``Normalize(mean, std)`` followed by the named architecture."""
    if arch not in ARCHITECTURE_BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURE_BUILDERS)}")
    return nn.Sequential(Normalize(mean, std), ARCHITECTURE_BUILDERS[arch](num_classes))


#: Keys every checkpoint written by :func:`save_checkpoint` holds (the contract: nusmooth.artifacts.MODEL).
CHECKPOINT_KEYS = MODEL.keys


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
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


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


# --- models described by the config alone (datasets.<name>.model.source / .weights) ---------------
# ``model.source`` names where the network comes from: "torchscript:<file>", "torchvision:<arch>" or
# "module:<importable.module>:<callable>"; ``model.weights`` is a state_dict file. Nothing in a weights
# file ever runs: state_dicts are read with torch.load(weights_only=True) (tensors and plain types);
# a TorchScript archive holds TorchScript code (a restricted language run by torch's interpreter, not
# Python pickles); a module:callable is code the user names in the config, as any import is.


def read_state_dict(path, key: str = "model.weights") -> dict:
    """A state_dict from ``path`` by a safe load (no code in the file runs); a dict holding one under
    ``state_dict`` (as this pipeline's model.pt, or a training checkpoint) is unwrapped."""
    fix = f"set {key} to a file written by torch.save(model.state_dict(), path)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ModelConfigError(f"{key}: file not found: {path}. Fix: {fix}") from error
    except Exception as error:
        raise ModelConfigError(
            f"{key}: {path} is not a model's weights: {load_failure_reason(error, path)}. Fix: {fix}"
        ) from error
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


def check_model_fits(model: nn.Module, input_shape, num_classes: int, dataset: str, described: str) -> None:
    """One forward pass of a zero batch of the dataset's ``input_shape``: the model must take it and
    return ``num_classes`` scores per image. A ModelConfigError naming the key and the fix otherwise.
    ``described`` says which model it is (for the message)."""
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
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != num_classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelConfigError(
            f"datasets.{dataset}.model: {described} returns {got} for a batch of 2 images; {dataset} has {num_classes} "
            f"classes, so it must return (2, {num_classes}). Fix: give a model with {num_classes} outputs, or set "
            f"datasets.{dataset}.source.classes to the model's classes"
        )


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


def model_from_config(settings: dict, *, num_classes: int, mean, std, input_shape, dataset: str) -> nn.Sequential:
    """The model block's model, ``Normalize(mean, std)`` first: pretrained (ImageNet), given weights or
    TorchScript (packaged), or freshly initialised (to train; the caller seeds torch first). Tried on
    one zero batch of ``input_shape`` (eval mode, no gradients: no random number is drawn, so trained
    weights do not change) before it is returned: a ModelConfigError names the key and the fix."""
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
    return model
