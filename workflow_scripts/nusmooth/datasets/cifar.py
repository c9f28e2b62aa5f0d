"""CIFAR-10 in one of two layouts:

* the official python version, ``cifar-10-batches-py/`` (from torchvision's download or a mirror),
  checked against the official MD5 of every batch and unpickled with a restricted unpickler that only
  rebuilds numpy arrays, lists, dicts and strings (a pickle can otherwise run arbitrary code);
* ``{train,test}/{class}/*.jpg`` as a folder or a ``.tar``/``.tar.gz`` file. Such copies are usually
  re-encoded (the project's shared copy is JPEG quality 75, lossy): fine for tests and benchmarks,
  not for reporting CIFAR-10 numbers, and the summary says so.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..data import PreparedDataset
from ..registry import dataset_facts
from .common import DataError, base_info, decode_all, md5_hex, missing, official_splits

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
COUNTS = {"train": 50000, "test": 10000}
BATCHES = {  # official MD5 of each file of cifar-10-python.tar.gz (as torchvision checks them)
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
PICKLE_DIR = "cifar-10-batches-py"


class _ArraysOnly(pickle.Unpickler):
    allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_pickle_batches(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    fix = "replace the file with the one from the official cifar-10-python.tar.gz (or set datasets.cifar10.source.path: null to download it)"
    parts: dict[str, list] = {"train": [], "test": []}
    checks = {}
    for name, official_md5 in BATCHES.items():
        path = folder / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError as error:
            raise missing(path, "CIFAR-10 batch", fix) from error
        digest = md5_hex(raw)
        if digest != official_md5:
            raise DataError(
                f"{path} has MD5 {digest}, the official file {official_md5} (truncated or corrupt). Fix: {fix}"
            )
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
        images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
        parts["test" if name == "test_batch" else "train"].append((images, labels))
        checks[name] = {"file": str(path), "md5": digest, "official": True}
    arrays = {s: (np.concatenate([i for i, _ in p]), np.concatenate([l for _, l in p])) for s, p in parts.items()}
    return arrays, checks


def _decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1).copy()


def _members(source: Path):
    """``(split, class, name, bytes-or-path)`` of every image in a folder or tarball layout."""
    if source.is_dir():
        for path in sorted(source.glob("*/*/*")):
            if path.is_file():
                yield path.parts[-3], path.parts[-2], path.name, path
        return
    try:
        with tarfile.open(source) as archive:
            for member in archive:
                parts = Path(member.name).parts
                if member.isfile() and len(parts) >= 3:
                    yield parts[-3], parts[-2], parts[-1], archive.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(
            f"{source} is truncated or not a readable tar archive ({error}). Fix: replace it with a complete copy"
        ) from error


def read_image_layout(source: Path, workers: int = 1):
    """Images of a ``{train,test}/{class}/*.jpg`` folder or tarball, sorted by split, class, file name."""
    found = sorted(_members(source), key=lambda m: (m[0], m[1], m[2]))
    arrays, checks = {}, {}
    for split in ("train", "test"):
        items = [m for m in found if m[0] == split]
        classes = sorted({m[1] for m in items})
        if classes != sorted(CLASSES):
            raise DataError(
                f"{source}: {split}/ holds class folders {classes}, expected the ten CIFAR-10 classes {sorted(CLASSES)}. "
                "Fix: point datasets.cifar10.source.path at a copy in {train,test}/{class}/*.jpg layout"
            )
        if len(items) != COUNTS[split]:
            raise DataError(
                f"{source}: {split}/ holds {len(items)} images, the official split {COUNTS[split]}. Fix: use a complete copy"
            )

        def decode(item):
            _, _, name, payload = item
            data = payload.read_bytes() if isinstance(payload, Path) else payload
            try:
                return _decode_jpeg(data)
            except Exception as error:
                raise DataError(
                    f"{source}: image {split}/{item[1]}/{name} is corrupt ({error}). Fix: use a complete copy"
                ) from error

        images = decode_all(items, decode, workers)
        bad = [(m, im.shape) for m, im in zip(items, images) if im.shape != (3, 32, 32)]
        if bad:
            (_, cls, name, _), shape = bad[0]
            raise DataError(
                f"{source}: {split}/{cls}/{name} has shape {shape}, not (3, 32, 32). Fix: use a CIFAR-10 copy"
            )
        # Alphabetical folder order is the official label order (airplane=0 ... truck=9).
        labels = np.array([CLASSES.index(m[1]) for m in items], dtype=np.int64)
        arrays[split] = (np.stack(images), labels)
        checks[split] = {"images": len(items)}
    return arrays, checks


def download_pickle_folder(download_root) -> Path:
    import torchvision

    try:
        for train in (True, False):
            torchvision.datasets.CIFAR10(str(download_root), train=train, download=True)
    except Exception as error:
        raise DataError(
            f"could not download CIFAR-10 into {download_root} ({error}). Fix: on a machine without internet, set "
            "datasets.cifar10.source.path to a local cifar-10-batches-py folder (or a {train,test}/{class}/*.jpg copy)"
        ) from error
    return Path(download_root) / PICKLE_DIR


def prepare_cifar10(
    fractions: dict[str, float], seed: int, path=None, download_root="resources/downloads", workers: int = 1
) -> tuple[PreparedDataset, dict]:
    """CIFAR-10: official train split -> train + val (seeded, stratified), official test split -> test.

    ``path``: a ``cifar-10-batches-py`` folder (or a folder containing one), a JPEG folder or tarball;
    None downloads the official python version with torchvision.
    """
    if path is None:
        source, layout = download_pickle_folder(download_root), "pickle"
    else:
        source = Path(path)
        if not source.exists():
            raise missing(
                source,
                "CIFAR-10 copy",
                "set datasets.cifar10.source.path to an existing folder or tarball, or null to download",
            )
        if (source / PICKLE_DIR).is_dir():
            source = source / PICKLE_DIR
        layout = "pickle" if (source / "data_batch_1").exists() or source.name == PICKLE_DIR else "images"
    if layout == "pickle":
        arrays, checks = read_pickle_batches(source)
        origin = f"official python batches in {source} (MD5-checked, lossless)"
    else:
        arrays, checks = read_image_layout(source, workers)
        origin = f"image-file copy {source}: re-encoded images (lossy if JPEG), not for reporting CIFAR-10 numbers"
    splits, members = official_splits(*arrays["train"], *arrays["test"], fractions=fractions, seed=seed)
    info = base_info(f"CIFAR-10 {origin}; val carved from the official train split", fractions, seed, splits, CLASSES)
    info["files"] = checks
    info["lossless"] = layout == "pickle"
    facts = dataset_facts("cifar10")
    return (
        PreparedDataset("cifar10", splits, classes=CLASSES, mean=list(facts.mean), std=list(facts.std), info=info),
        members,
    )
