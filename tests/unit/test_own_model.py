"""Your own data and your own model from configuration alone: the configured dataset readers and their
split rules, the configured model sources, every mismatch stopped with the key and the fix, safe loads,
and the seeded stratified subset of model.train_points."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nusmooth.data import stratified_subset
from nusmooth.datasets import DataError, prepare_dataset
from nusmooth.checkpoints import configured_checkpoint_extras, load_checkpoint, save_checkpoint
from nusmooth.model_settings import ModelConfigError
from nusmooth.networks import Normalize
from nusmooth.user_models import check_model_fits, given_weights_model, read_state_dict
from nusmooth.registry import DATASETS, facts_for, title_of

SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0}


def write_folder(root, classes=("cat", "dog"), per_class=10, size=(12, 10), mode="RGB"):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            value = 40 + 150 * c + i
            Image.new(mode, size, value if mode == "L" else (value, value, 255 - value)).save(
                root / name / f"{i:03d}.png"
            )


# --- datasets ------------------------------------------------------------------------------------


def test_facts_of_a_configured_dataset_come_from_its_block():
    block = {"title": "My cells", "source": {"format": "image_folder", "path": "/x", "input_shape": [3, 8, 8]}}
    facts = facts_for("cells", block)
    assert (facts.title, facts.channels, facts.input_shape, facts.majority_dominated) == (
        "My cells",
        3,
        (3, 8, 8),
        False,
    )
    assert facts_for("cifar10", block) is DATASETS["cifar10"]
    with pytest.raises(ValueError, match="source.format"):
        facts_for("cells", {"source": {}})
    assert title_of("cells", {"cells": "My cells"}) == "My cells" and title_of("cells") == "cells"


def test_image_folder_pool_is_split_seeded_and_stratified(tmp_path):
    write_folder(tmp_path)
    source = {"format": "image_folder", "path": str(tmp_path)}
    dataset, members = prepare_dataset("pets", SPLIT, source)
    again, _ = prepare_dataset("pets", SPLIT, source)
    assert dataset.classes == ["cat", "dog"] and dataset.input_shape == (3, 10, 12)
    assert {s: len(d) for s, d in dataset.splits.items()} == {"train": 12, "val": 4, "test": 4}
    for split in ("train", "val", "test"):
        assert torch.equal(dataset.splits[split].images, again.splits[split].images)
        assert torch.bincount(dataset.splits[split].labels).tolist() == [len(dataset.splits[split]) // 2] * 2
    assert not set(members["test"]) & (set(members["train"]) | set(members["val"]))
    assert dataset.mean == [0.0] * 3 and dataset.std == [1.0] * 3  # no normalisation unless configured


def test_given_test_folder_is_the_test_split_and_validation_is_carved_from_train(tmp_path):
    write_folder(tmp_path / "train", per_class=10)
    write_folder(tmp_path / "test", per_class=3)
    source = {"format": "image_folder", "path": str(tmp_path), "input_shape": [1, 6, 6], "classes": ["dog", "cat"]}
    dataset, members = prepare_dataset("pets", SPLIT, source)
    assert sorted(members["test"]) == sorted(f"test/{c}/{i:03d}.png" for c in ("cat", "dog") for i in range(3))
    assert all(m.startswith("train/") for m in members["train"] + members["val"])
    assert dataset.input_shape == (1, 6, 6) and dataset.classes == ["dog", "cat"]
    assert {s: len(d) for s, d in dataset.splits.items()} == {
        "train": 16,
        "val": 4,
        "test": 6,
    }  # 2.5 val per class rounds to 2


def test_images_of_different_sizes_need_input_shape(tmp_path):
    write_folder(tmp_path)
    Image.new("RGB", (5, 5)).save(tmp_path / "cat" / "odd.png")
    with pytest.raises(DataError, match=r"source\.input_shape"):
        prepare_dataset("pets", SPLIT, {"format": "image_folder", "path": str(tmp_path)})


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_tensor_file_values_are_mapped_from_value_range(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(30, 8, 8, 3)).astype(np.float32)  # NHWC in [-1, 1]
    labels = np.arange(30) % 3
    path = tmp_path / f"data{suffix}"
    if suffix == ".pt":
        torch.save(
            {"images": torch.from_numpy(images), "labels": torch.from_numpy(labels), "classes": ["a", "b", "c"]}, path
        )
    else:
        np.savez(path, images=images, labels=labels)
    source = {"format": "tensor_file", "path": str(path), "input_shape": [3, 8, 8], "value_range": [-1, 1]}
    dataset, _ = prepare_dataset("blobs", SPLIT, source)
    assert dataset.input_shape == (3, 8, 8) and len(dataset.classes) == 3
    pool = torch.cat([dataset.splits[s].images for s in ("train", "val", "test")]).float() / 255
    expected = torch.from_numpy((images.transpose(0, 3, 1, 2) + 1) / 2)
    assert pool.shape == expected.shape and abs(pool.mean() - expected.mean()) < 1 / 255
    with pytest.raises(DataError, match=r"outside the default \[0.0, 1.0\].*source\.value_range"):
        prepare_dataset("blobs", SPLIT, dict(source, value_range=None))
    with pytest.raises(DataError, match=r"input_shape is \[1, 8, 8\]"):
        prepare_dataset("blobs", SPLIT, dict(source, input_shape=[1, 8, 8]))


def test_tensor_file_with_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save(
        {"images": torch.zeros(4, 1, 2, 2), "labels": torch.zeros(4, dtype=torch.long), "x": Boom(str(marker))}, path
    )
    with pytest.raises(DataError, match="without running code"):
        prepare_dataset("evil", SPLIT, {"format": "tensor_file", "path": str(path)})
    assert not marker.exists()


class Boom:
    """A pickled object whose loading would create a file (what a malicious payload would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --- models --------------------------------------------------------------------------------------


class Tiny(nn.Module):
    def __init__(self, num_classes=3, channels=3):
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))

    def forward(self, x):
        return self.head(self.conv(x))


def build_tiny(num_classes):
    return Tiny(num_classes)


def test_torchscript_model_round_trips_through_the_checkpoint(tmp_path):
    script = tmp_path / "tiny.ts"
    torch.jit.save(torch.jit.script(Tiny(3).eval()), script)
    settings = {"source": f"torchscript:{script}", "arch": None}
    model = given_weights_model(None, settings["source"], num_classes=3, mean=[0.5] * 3, std=[0.25] * 3, weights=None)
    check_model_fits(model, (3, 8, 8), 3, "blobs", "model.source")
    save_checkpoint(
        tmp_path / "model.pt",
        model,
        arch=settings["source"],
        num_classes=3,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        train_config=settings,
        extras=configured_checkpoint_extras(settings),
    )
    script.unlink()  # the checkpoint stands alone
    loaded, payload = load_checkpoint(tmp_path / "model.pt")
    x = torch.rand(5, 3, 8, 8)
    assert torch.equal(loaded(x), model.eval()(x)) and payload["source"] == settings["source"]


@pytest.mark.parametrize("source", ["torchvision:resnet18", f"module:{__name__}:build_tiny"])
def test_state_dict_weights_load_into_a_named_architecture(tmp_path, source):
    first = given_weights_model(None, source, num_classes=3, mean=[0.0] * 3, std=[1.0] * 3, weights=None)
    torch.save(first[1].state_dict(), tmp_path / "w.pt")  # the bare network's state_dict
    second = given_weights_model(None, source, num_classes=3, mean=[0.0] * 3, std=[1.0] * 3, weights=tmp_path / "w.pt")
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(first.eval()(x), second.eval()(x))
    save_checkpoint(
        tmp_path / "model.pt",
        second,
        arch=source,
        num_classes=3,
        mean=[0.0] * 3,
        std=[1.0] * 3,
        train_config={"source": source},
        extras=configured_checkpoint_extras({"source": source}),
    )
    assert torch.equal(load_checkpoint(tmp_path / "model.pt")[0](x), second(x))


def test_builtin_checkpoints_gain_no_keys(tmp_path):
    assert configured_checkpoint_extras({"arch": "mnist_cnn", "source": None}) == {}


def test_wrong_class_count_names_the_key_and_fix():
    model = nn.Sequential(Normalize([0.0] * 3, [1.0] * 3), Tiny(5))
    with pytest.raises(
        ModelConfigError, match=r"returns \(2, 5\).*has 3 classes.*Fix: give a model with 3 outputs"
    ) as error:
        check_model_fits(model, (3, 8, 8), 3, "blobs", "model.source torchscript:x.ts")
    print(error.value)


def test_wrong_input_shape_names_the_key_and_fix():
    model = nn.Sequential(Normalize([0.0], [1.0]), Tiny(3, channels=1))
    with pytest.raises(
        ModelConfigError, match=r"cannot take the images of blobs, shape \(C, H, W\) = \(3, 8, 8\).*Fix"
    ) as error:
        check_model_fits(model, (3, 8, 8), 3, "blobs", "model.source module:x:y")
    print(error.value)


def test_a_weights_file_that_is_not_a_model_is_refused_without_running_it(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("these are not weights\n")
    with pytest.raises(
        ModelConfigError, match=r"model.weights: .*notes.txt is not a model's weights.*Fix: set model.weights"
    ) as error:
        read_state_dict(text)
    print(error.value)
    marker, evil = tmp_path / "ran", tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "x": Boom(str(marker))}, evil)
    with pytest.raises(ModelConfigError, match="not a model's weights"):
        read_state_dict(evil)
    assert not marker.exists()
    with pytest.raises(ModelConfigError, match="not a TorchScript archive"):
        given_weights_model(None, f"torchscript:{text}", num_classes=3, mean=[0.0] * 3, std=[1.0] * 3, weights=None)


def test_weights_of_another_architecture_name_the_mismatch(tmp_path):
    torch.save(Tiny(3).state_dict(), tmp_path / "w.pt")
    with pytest.raises(ModelConfigError, match="does not fit the configured architecture"):
        given_weights_model("resnet110", None, num_classes=10, mean=[0.0] * 3, std=[1.0] * 3, weights=tmp_path / "w.pt")


# --- model.train_points ----------------------------------------------------------------------------


def test_train_points_subset_is_seeded_stratified_and_exact():
    labels = np.repeat(np.arange(10), [100, 100, 100, 100, 100, 50, 50, 50, 25, 25])
    subset = stratified_subset(labels, 140, seed=3)
    assert len(subset) == len(set(subset.tolist())) == 140
    assert np.array_equal(subset, stratified_subset(labels, 140, seed=3))
    assert not np.array_equal(np.sort(subset), np.sort(stratified_subset(labels, 140, seed=4)))
    counts = np.bincount(labels[subset], minlength=10)
    assert counts.tolist() == [20, 20, 20, 20, 20, 10, 10, 10, 5, 5]
    assert np.array_equal(stratified_subset(labels, 10_000, seed=0), np.arange(len(labels)))


# --- messages that fit the case (issue 27, case 6) --------------------------------------------------


class Pair(nn.Module):
    """A model returning a tuple (scores and features), as many research models do."""

    def __init__(self):
        super().__init__()
        self.net = Tiny(3)

    def forward(self, x):
        return self.net(x), x.mean(dim=(2, 3))


def test_a_model_returning_a_tuple_is_told_to_return_its_scores_not_to_set_classes():
    model = nn.Sequential(Normalize([0.0] * 3, [1.0] * 3), Pair())
    with pytest.raises(ModelConfigError) as error:
        check_model_fits(model, (3, 8, 8), 3, "blobs", "model.source module:x:y")
    message = str(error.value)
    assert "returns a tuple of 2 items, not one tensor of scores" in message and "model(x)[0]" in message
    assert "source.classes" not in message
    print(message)


def test_a_torchscript_file_given_as_weights_says_so_without_torchs_advice(tmp_path):
    torch.jit.save(torch.jit.script(Tiny(3)), tmp_path / "tiny.ts")
    with pytest.raises(ModelConfigError) as error:
        read_state_dict(tmp_path / "tiny.ts")
    message = str(error.value)
    assert "it is a TorchScript archive" in message and "model.source to torchscript:" in message
    assert error.value.__context__ is None  # told before torch.load runs: no torch error (or advice) in the log
    assert "weights_only" not in message


def test_reading_a_torchscript_model_warns_of_nothing(tmp_path, recwarn):
    torch.jit.save(torch.jit.script(Tiny(3)), tmp_path / "tiny.ts")
    recwarn.clear()
    given_weights_model(
        None, f"torchscript:{tmp_path / 'tiny.ts'}", num_classes=3, mean=[0.0] * 3, std=[1.0] * 3, weights=None
    )
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def test_the_value_range_message_names_each_example_once(tmp_path):
    images = np.linspace(0, 255, 30 * 4 * 4).reshape(30, 4, 4).astype(np.float32)  # 8-bit values stored as floats
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(30) % 3)
    with pytest.raises(DataError) as error:
        prepare_dataset("floats", SPLIT, {"format": "tensor_file", "path": str(tmp_path / "d.npz")})
    assert str(error.value).count("[0, 255]") == 2  # the values seen, and one example (was: the example twice)
    assert "(e.g. [0, 255])" in str(error.value)
