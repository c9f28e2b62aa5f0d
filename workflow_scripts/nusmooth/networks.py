"""The network architectures of the paper. Every model takes inputs in [0, 1] pixel space:
normalisation (:class:`Normalize`) is its first layer, so sigma (and the noise) always lives in pixel
units, whatever the dataset (Cohen's convention). Checkpoints: :mod:`nusmooth.checkpoints`; models the
config names (pretrained, given weights, your own): :mod:`nusmooth.user_models`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


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


class Bottleneck(nn.Module):
    """ResNet-50's block: 1x1 (reduce), 3x3 (stride here), 1x1 (expand 4x) convolutions with batch
    norm, and the shortcut ``downsample`` (a strided 1x1 convolution + batch norm) where the shape
    changes. Attribute names and order are torchvision's, so its state_dicts load as they are."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet50(nn.Module):
    """He et al.'s ImageNet ResNet-50: a 7x7 stride-2 stem and a max pool, four stages of 3 / 4 / 6 / 3
    bottleneck blocks of widths 64 / 128 / 256 / 512 (stride 2 entering stages 2-4), global average
    pooling and a linear layer.

    Written here rather than imported from torchvision, whose import alone costs every job that loads
    the model about 2 s of CPU on these machines (it loads all its models, ops and datasets). It is
    torchvision's network to the bit: the same parameter and buffer names (its pretrained state_dicts
    load unchanged) and, from the same seed, the same initial weights, because the layers are built and
    initialised in torchvision's order (each shortcut before its block; Kaiming-normal convolutions in
    module order afterwards; tests/unit/test_models.py compares both)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.in_channels = 64
        self.layer1 = self._stage(64, 3, stride=1)
        self.layer2 = self._stage(128, 4, stride=2)
        self.layer3 = self._stage(256, 6, stride=2)
        self.layer4 = self._stage(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def _stage(self, width: int, blocks: int, stride: int) -> nn.Sequential:
        out_channels = width * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        layers = [Bottleneck(self.in_channels, width, stride, downsample)]
        self.in_channels = out_channels
        layers += [Bottleneck(out_channels, width, 1, None) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet50(num_classes: int) -> nn.Module:
    """ResNet-50, randomly initialised (pretrained weights: see :func:`load_torchvision_resnet50`)."""
    return ResNet50(num_classes)


#: The constructor of each architecture, taking ``num_classes`` (its facts: ``nusmooth.registry.ARCHITECTURES``).
ARCHITECTURE_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    "mnist_cnn": MnistCNN,
    "resnet110": resnet110,
    "resnet50": resnet50,
}


def build_model(arch: str, num_classes: int, mean: Sequence[float], std: Sequence[float]) -> nn.Sequential:
    """``Normalize(mean, std)`` followed by the named architecture."""
    if arch not in ARCHITECTURE_BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURE_BUILDERS)}")
    return nn.Sequential(Normalize(mean, std), ARCHITECTURE_BUILDERS[arch](num_classes))
