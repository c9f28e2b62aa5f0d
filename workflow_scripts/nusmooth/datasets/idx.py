"""MNIST and Fashion-MNIST from their official IDX files (gzip or plain), from a local mirror folder
or downloaded by torchvision. Hard checks: magic number, dimensions, exact byte length (truncation),
gzip CRC (corruption), label range. Soft check: the MD5 of the uncompressed content is compared with
the known copies below and recorded in the summary."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..data import PreparedDataset
from ..registry import dataset_facts
from .common import DataError, base_info, md5_hex, missing, official_splits

FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
COUNTS = {"train": 60000, "test": 10000}

#: MD5 of the *uncompressed* IDX content of the copies in the project's shared data folder. For MNIST
#: the test images and both label files there are byte-identical to the official files (the train
#: images were rebuilt from lossless PNGs); Fashion-MNIST is Debian's copy of Zalando's release.
#: A mismatch is logged and recorded, not fatal: another faithful copy may differ byte-wise.
KNOWN_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

CLASSES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}
TORCHVISION_CLASS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _read_bytes(path: Path, fix: str) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as error:
        raise missing(path, "IDX file", fix) from error
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as error:
        raise DataError(f"{path} is truncated (gzip stream ends early). Fix: {fix}") from error
    except (OSError, zlib.error) as error:  # bad magic or CRC mismatch
        raise DataError(f"{path} is corrupt ({error}). Fix: {fix}") from error


def read_idx(
    path, expected_dims: tuple[int, ...], fix: str = "replace the file with a fresh copy"
) -> tuple[np.ndarray, str]:
    """An IDX file (ubyte data) as a uint8 array of the expected dimensions, and the MD5 of its
    uncompressed content. Raises :class:`DataError` naming the file on any mismatch."""
    path = Path(path)
    data = _read_bytes(path, fix)
    ndim = len(expected_dims)
    if len(data) < 4 + 4 * ndim or data[:2] != b"\x00\x00" or data[2] != 0x08 or data[3] != ndim:
        raise DataError(f"{path} is not an IDX ubyte file with {ndim} dimension(s) (bad header). Fix: {fix}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims != tuple(expected_dims):
        raise DataError(f"{path} has dimensions {dims}, expected {tuple(expected_dims)}. Fix: {fix}")
    body = data[4 + 4 * ndim :]
    size = int(np.prod(dims))
    if len(body) != size:
        raise DataError(f"{path} holds {len(body)} data bytes, expected {size} (truncated or padded). Fix: {fix}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims), md5_hex(data)


def find_idx(folder: Path, name: str) -> Path:
    """``name.gz`` or ``name`` (uncompressed) in ``folder``; the .gz path if neither exists."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.exists():
            return candidate
    return folder / f"{name}.gz"


def download_raw_folder(dataset: str, download_root) -> Path:
    """Let torchvision download (and MD5-check) the official gzip files; return its raw folder."""
    import torchvision

    cls = getattr(torchvision.datasets, TORCHVISION_CLASS[dataset])
    try:
        for train in (True, False):
            cls(str(download_root), train=train, download=True)
    except Exception as error:  # torchvision raises RuntimeError/URLError variants
        raise DataError(
            f"could not download {dataset} into {download_root} ({error}). Fix: on a machine without internet, "
            f"set datasets.{dataset}.source.path to a folder holding the four official IDX files"
        ) from error
    return Path(download_root) / TORCHVISION_CLASS[dataset] / "raw"


def read_official(dataset: str, folder) -> tuple[dict, dict]:
    """The four official files of ``dataset`` in ``folder``: arrays and checksum report."""
    folder = Path(folder)
    if not folder.is_dir():
        raise missing(
            folder,
            f"{dataset} folder",
            f"set datasets.{dataset}.source.path to the folder of the four official IDX files, or null to download",
        )
    arrays, checks = {}, {}
    for (split, kind), name in FILES.items():
        n = COUNTS[split]
        path = find_idx(folder, name)
        fix = f"replace {path.name} in {folder} with the official file (or set datasets.{dataset}.source.path: null to download it)"
        array, md5 = read_idx(path, (n, 28, 28) if kind == "images" else (n,), fix)
        if kind == "labels" and array.max() > 9:
            raise DataError(f"{path} holds label {int(array.max())}; labels are 0..9. Fix: {fix}")
        arrays[split, kind] = array
        known = KNOWN_MD5[dataset][name]
        checks[name] = {"file": str(path), "uncompressed_md5": md5, "matches_known_copy": md5 == known}
        if md5 != known:
            print(f"note: uncompressed MD5 of {path} is {md5}, the known copy's is {known}; structure checks passed")
    return arrays, checks


def prepare_idx_dataset(
    dataset: str, fractions: dict[str, float], seed: int, path=None, download_root="resources/downloads"
) -> tuple[PreparedDataset, dict]:
    """MNIST or Fashion-MNIST: official train split -> train + val (seeded, stratified); official test
    split -> test. ``path`` = local mirror folder, or None to download with torchvision."""
    folder = Path(path) if path is not None else download_raw_folder(dataset, download_root)
    arrays, checks = read_official(dataset, folder)
    splits, members = official_splits(
        arrays["train", "images"][:, None],
        arrays["train", "labels"],
        arrays["test", "images"][:, None],
        arrays["test", "labels"],
        fractions=fractions,
        seed=seed,
    )
    origin = f"local mirror {folder}" if path is not None else f"torchvision download into {folder}"
    info = base_info(
        f"{dataset} official IDX files ({origin}); val carved from the official train split",
        fractions,
        seed,
        splits,
        CLASSES[dataset],
    )
    info["files"] = checks
    # Both datasets use MNIST's statistics, as the authors did; it is the model's first layer here.
    facts = dataset_facts(dataset)
    return (
        PreparedDataset(
            dataset, splits, classes=CLASSES[dataset], mean=list(facts.mean), std=list(facts.std), info=info
        ),
        members,
    )


def prepare_mnist(fractions: dict[str, float], seed: int, **source) -> tuple[PreparedDataset, dict]:
    return prepare_idx_dataset("mnist", fractions, seed, **source)


def prepare_fashion_mnist(fractions: dict[str, float], seed: int, **source) -> tuple[PreparedDataset, dict]:
    return prepare_idx_dataset("fashion_mnist", fractions, seed, **source)
