"""The file contracts (nusmooth.artifacts): every kind round-trips, keeps the bytes the stages always
wrote, names the file, the key and the rule to rerun when something is missing, detects a flipped byte
inside a tensor, and never runs a foreign pickle; every contract's rule and path are the workflow's."""

import json
import re
import struct
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
import torch
from support import RunsCodeWhenUnpickled

from nusmooth import artifacts
from nusmooth.artifacts import (
    CERTIFICATES,
    DATASET,
    FIG1_CHOICE,
    FIG1_SIGMAS,
    MEAN_VAL_IMAGE,
    MODEL,
    SNAPSHOTS,
    Fig1Sigmas,
    MeanValImage,
    SigmaSnapshots,
)
from nusmooth.data import ImageSplit, PreparedDataset
from nusmooth.io import ArtifactError, atomic_torch_save
from nusmooth.checkpoints import load_checkpoint, save_checkpoint
from nusmooth.networks import build_model
from support.workflow import REPO


def tiny_dataset() -> PreparedDataset:
    split = ImageSplit(torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8), torch.arange(6) % 2)
    return PreparedDataset(
        "toy",
        {"train": split, "val": split, "test": split},
        classes=["a", "b"],
        mean=[0.5],
        std=[0.25],
        info={"pixel_space": "[0,1] pixels"},
    )


def sigma_list():
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(1, 4, 4, generator=generator) for _ in range(3)]


CHOICE = {
    "init": 0.25,
    "isotropic_sigma": 0.3,
    "geometric_sigma": 0.28,
    "rule": "largest area",
    "sigma_space": "[0,1] pixels",
    "sub_epoch": 2,
    "val": 0.9,
    "dimension": 784,
    "sum_log_sigma": -950.5,
    "min_sigma": 0.05,
}


def table_for(spec) -> pd.DataFrame:
    """A two-row table with every column of the contract (and one more, which a reader ignores)."""
    return pd.DataFrame({column: [1, 2] for column in spec.keys} | {"extra": [0.5, 0.25]})


TABLES = [spec for spec in artifacts.ALL if spec.pattern.endswith((".tsv", ".tsv.gz"))]


def table_name(spec) -> str:
    """A file name with the contract's suffix (compressed records are read back by their .gz name)."""
    return "table.tsv.gz" if spec.pattern.endswith(".gz") else "table.tsv"


def assert_names(error: ArtifactError, path, rule: str, *fragments: str):
    message = str(error)
    assert str(path) in message and f"rule {rule}" in message and f"-R {rule}" in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert "weights_only" not in message and "safe_globals" not in message, "unsafe loading advised"


# --- round trips and unchanged bytes --------------------------------------------------------------


def test_dataset_round_trip_and_bytes(tmp_path):
    dataset = tiny_dataset()
    DATASET.save(dataset, tmp_path / "dataset.pt")
    atomic_torch_save(dataset.to_payload(), tmp_path / "before.pt")  # how prepare_data wrote it before
    assert (tmp_path / "dataset.pt").read_bytes() == (tmp_path / "before.pt").read_bytes()
    loaded = DATASET.load(tmp_path / "dataset.pt")
    assert loaded.name == "toy" and loaded.classes == ["a", "b"] and loaded.info == dataset.info
    assert torch.equal(loaded.splits["test"].images, dataset.splits["test"].images)


def test_model_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 10, [0.13], [0.31])
    save_checkpoint(
        tmp_path / "model.pt",
        model,
        arch="mnist_cnn",
        num_classes=10,
        mean=[0.13],
        std=[0.31],
        train_config={"epochs": 1},
    )
    checkpoint = MODEL.load(tmp_path / "model.pt")
    assert list(checkpoint) == list(MODEL.keys) and checkpoint["train_config"] == {"epochs": 1}
    weights = checkpoint["state_dict"]
    assert all(torch.equal(weights[key], value) for key, value in model.state_dict().items())
    rebuilt, _ = load_checkpoint(tmp_path / "model.pt")
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), model.state_dict().values()))


def test_snapshots_round_trip_and_bytes(tmp_path):
    sigmas = sigma_list()
    SNAPSHOTS.save(SigmaSnapshots.of_sweep(sigmas, "0.25", "[0,1] pixels"), tmp_path / "snapshots.pt")
    before = {"init": 0.25, "sigmas": torch.stack(sigmas), "sub_epochs": [1, 2, 3], "pixel_space": "[0,1] pixels"}
    atomic_torch_save(before, tmp_path / "before.pt")
    assert (tmp_path / "snapshots.pt").read_bytes() == (tmp_path / "before.pt").read_bytes()
    loaded = SNAPSHOTS.load(tmp_path / "snapshots.pt")
    assert loaded.init == 0.25 and loaded.sub_epochs == [1, 2, 3] and loaded.pixel_space == "[0,1] pixels"
    assert torch.equal(loaded.at(2), sigmas[1])
    assert [epoch for epoch, _ in loaded.items()] == [1, 2, 3] and torch.equal(loaded.items()[2][1], sigmas[2])


def test_fig1_sigmas_round_trip_and_bytes(tmp_path):
    learned = sigma_list()[0]
    isotropic, geometric = float(learned.mean()), float(learned.log().mean().exp())
    FIG1_SIGMAS.save(Fig1Sigmas.of(learned, isotropic=isotropic, geometric=geometric), tmp_path / "sigmas.pt")
    before = {"learned": learned, "isotropic": torch.tensor(isotropic), "geometric": torch.tensor(geometric)}
    atomic_torch_save(before, tmp_path / "before.pt")
    assert (tmp_path / "sigmas.pt").read_bytes() == (tmp_path / "before.pt").read_bytes()
    loaded = FIG1_SIGMAS.load(tmp_path / "sigmas.pt")
    assert torch.equal(loaded.of_kind("learned"), learned) and float(loaded.of_kind("isotropic")) == isotropic
    assert float(loaded.of_kind("geometric")) == geometric
    with pytest.raises(ValueError, match="unknown sigma kind"):
        loaded.of_kind("mean")


def test_mean_val_image_round_trip_and_bytes(tmp_path):
    image = sigma_list()[0]
    MEAN_VAL_IMAGE.save(MeanValImage(image, 7), tmp_path / "mean_val_image.pt")
    atomic_torch_save({"mean_image": image, "points": 7}, tmp_path / "before.pt")
    assert (tmp_path / "mean_val_image.pt").read_bytes() == (tmp_path / "before.pt").read_bytes()
    loaded = MEAN_VAL_IMAGE.load(tmp_path / "mean_val_image.pt")
    assert torch.equal(loaded.mean_image, image) and loaded.points == 7


def test_fig1_choice_round_trip(tmp_path):
    FIG1_CHOICE.save(CHOICE, tmp_path / "choice.json")
    assert FIG1_CHOICE.load(tmp_path / "choice.json") == CHOICE
    with pytest.raises(ValueError, match=r"lacks \['val'\]"):
        FIG1_CHOICE.save({k: v for k, v in CHOICE.items() if k != "val"}, tmp_path / "other.json")
    assert not (tmp_path / "other.json").exists()


@pytest.mark.parametrize("spec", TABLES, ids=[spec.rule + ":" + spec.pattern.rsplit("/", 1)[1] for spec in TABLES])
def test_table_round_trip(tmp_path, spec):
    frame = table_for(spec)
    spec.save(frame, tmp_path / table_name(spec))
    pd.testing.assert_frame_equal(spec.load(tmp_path / table_name(spec)), frame)
    with pytest.raises(ValueError, match=f"lacks columns \\['{spec.keys[0]}'\\]"):
        spec.save(frame.drop(columns=spec.keys[0]), tmp_path / "other.tsv")


# --- missing keys, columns and files --------------------------------------------------------------

TORCH_KINDS = {
    DATASET: lambda: tiny_dataset().to_payload(),
    SNAPSHOTS: lambda: {"init": 0.25, "sigmas": torch.stack(sigma_list()), "sub_epochs": [1, 2, 3], "pixel_space": "x"},
    FIG1_SIGMAS: lambda: {"learned": sigma_list()[0], "isotropic": torch.tensor(0.5), "geometric": torch.tensor(0.4)},
    MEAN_VAL_IMAGE: lambda: {"mean_image": sigma_list()[0], "points": 7},
    MODEL: lambda: {
        "arch": "mnist_cnn",
        "num_classes": 10,
        "mean": [0.1],
        "std": [0.3],
        "train_config": {},
        "state_dict": {},
    },
}


@pytest.mark.parametrize("spec", TORCH_KINDS, ids=[spec.rule for spec in TORCH_KINDS])
def test_torch_file_missing_a_key_names_file_key_and_rule(tmp_path, spec):
    payload = TORCH_KINDS[spec]
    path = tmp_path / spec.pattern.rsplit("/", 1)[1]
    atomic_torch_save(payload(), path)
    spec.load(path)  # complete: loads
    key = spec.keys[-1]
    atomic_torch_save({k: v for k, v in payload().items() if k != key}, path)
    with pytest.raises(ArtifactError) as caught:
        spec.load(path)
    assert_names(caught.value, path, spec.rule, f"lacks ['{key}'], keys")


def test_choice_missing_a_key_names_file_key_and_rule(tmp_path):
    path = tmp_path / "choice.json"
    path.write_text(json.dumps({k: v for k, v in CHOICE.items() if k != "isotropic_sigma"}))
    with pytest.raises(ArtifactError) as caught:
        FIG1_CHOICE.load(path)
    assert_names(caught.value, path, "select_fig1_sigma", "lacks ['isotropic_sigma'], keys")
    path.write_text('{"init": 0.25,')  # cut short
    with pytest.raises(ArtifactError) as caught:
        FIG1_CHOICE.load(path)
    assert_names(caught.value, path, "select_fig1_sigma", "is not JSON")


@pytest.mark.parametrize("spec", TABLES, ids=[spec.rule + ":" + spec.pattern.rsplit("/", 1)[1] for spec in TABLES])
def test_table_missing_a_column_names_file_column_and_rule(tmp_path, spec):
    path = tmp_path / table_name(spec)
    column = spec.keys[-1]
    table_for(spec).drop(columns=column).to_csv(path, sep="\t", index=False)  # compressed by the suffix
    with pytest.raises(ArtifactError) as caught:
        spec.load(path)
    assert_names(caught.value, path, spec.rule, f"lacks ['{column}'], columns")
    path.write_text("")
    with pytest.raises(ArtifactError) as caught:
        spec.load(path)
    assert_names(caught.value, path, spec.rule, "not a tab-separated table")


@pytest.mark.parametrize(
    "spec", [FIG1_CHOICE, CERTIFICATES, SNAPSHOTS], ids=lambda spec: spec.pattern.rsplit("/", 1)[1]
)
def test_missing_file_names_the_rule_that_writes_it(tmp_path, spec):
    with pytest.raises(ArtifactError, match=f"does not exist. Fix: run snakemake so that rule {spec.rule} writes it"):
        spec.load(tmp_path / "absent")


def test_wrong_dtype_or_rank_names_the_key(tmp_path):
    path = tmp_path / "sigmas.pt"
    rest = {"isotropic": torch.tensor(0.5), "geometric": torch.tensor(0.4)}
    atomic_torch_save({"learned": torch.zeros(4, 4), **rest}, path)
    with pytest.raises(ArtifactError, match=r"'learned' has 2 dimensions \(4, 4\), not 3") as caught:
        FIG1_SIGMAS.load(path)
    assert_names(caught.value, path, "select_fig1_sigma")
    atomic_torch_save({"learned": torch.zeros(1, 4, 4, dtype=torch.int64), **rest}, path)
    with pytest.raises(ArtifactError, match=r"'learned' has dtype torch.int64, not floating"):
        FIG1_SIGMAS.load(path)


# --- damaged and foreign files --------------------------------------------------------------------


def data_offset(path, record: str) -> int:
    """Where the bytes of ``record`` start inside the zip archive ``path`` (after its local header)."""
    with zipfile.ZipFile(path) as archive:
        header = archive.getinfo(record).header_offset
    raw = path.read_bytes()
    assert raw[header : header + 4] == b"PK\x03\x04"
    name_length, extra_length = struct.unpack("<HH", raw[header + 26 : header + 30])
    return header + 30 + name_length + extra_length


def test_a_flipped_byte_inside_a_tensor_is_detected(tmp_path):
    path = tmp_path / "snapshots.pt"
    sigmas = sigma_list()
    SNAPSHOTS.save(SigmaSnapshots.of_sweep(sigmas, 0.25, "[0,1] pixels"), path)
    record = "archive/data/0"  # the stacked sigmas: the only tensor storage in the file
    raw = bytearray(path.read_bytes())
    raw[data_offset(path, record) + 9] ^= 0x01  # one bit of one float's mantissa
    path.write_bytes(bytes(raw))
    # torch's reader alone takes the damaged file: a silently different sigma (the old load path).
    changed = torch.load(path, map_location="cpu", weights_only=True)["sigmas"]
    assert not torch.equal(changed, torch.stack(sigmas)) and torch.allclose(changed, torch.stack(sigmas), atol=1e-5)
    with pytest.raises(ArtifactError) as caught:
        SNAPSHOTS.load(path)
    assert_names(caught.value, path, "optimize_sigma", f"record {record} fails its CRC-32 check")


def test_saves_record_checksums_even_when_a_user_turned_them_off(tmp_path):
    serialization = torch.serialization
    before = serialization.get_crc32_options()
    serialization.set_crc32_options(False)
    try:
        MEAN_VAL_IMAGE.save(MeanValImage(sigma_list()[0], 7), tmp_path / "mean_val_image.pt")
        assert serialization.get_crc32_options() is False, "the user's setting is restored"
    finally:
        serialization.set_crc32_options(before)
    with zipfile.ZipFile(tmp_path / "mean_val_image.pt") as archive:
        assert archive.testzip() is None and all(info.CRC != 0 for info in archive.infolist() if info.file_size)


def test_a_foreign_pickle_never_runs_and_is_named(tmp_path):
    marker, path = tmp_path / "code_ran", tmp_path / "sigmas.pt"
    torch.save({"learned": RunsCodeWhenUnpickled(marker), "isotropic": torch.tensor(0.5)}, path)
    with pytest.raises(ArtifactError) as caught:
        FIG1_SIGMAS.load(path)
    assert not marker.exists(), "loading must not run the pickle's code"
    assert_names(caught.value, path, "select_fig1_sigma", "not a torch file of tensors and plain data", "io.open")


# --- the contracts and the workflow ---------------------------------------------------------------


def rule_outputs() -> dict[str, list[str]]:
    """rule name -> the paths its ``output:`` block names, from rules/*.smk (checkpoints are rules too)."""
    outputs = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?:rule|checkpoint) ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            section = re.search(r"^    output:\n((?:        .*\n)+)", block, re.M)
            paths = re.findall(r'"([^"]+)"', section.group(1)) if section else []
            outputs[name] = [path for path in paths if not path.startswith("../")]
    return outputs


@pytest.mark.parametrize("spec", artifacts.ALL, ids=[spec.pattern for spec in artifacts.ALL])
def test_each_contract_names_the_rule_that_writes_its_file(spec):
    outputs = rule_outputs()
    assert spec.rule in outputs, f"no rule {spec.rule} in rules/*.smk (renamed?)"
    assert spec.pattern in outputs[spec.rule], f"rule {spec.rule} does not write {spec.pattern}: {outputs[spec.rule]}"


STAGE_SCRIPTS = sorted(
    path for path in (REPO / "workflow_scripts").glob("*.py") if "def main(snakemake)" in path.read_text()
)


@pytest.mark.parametrize("script", STAGE_SCRIPTS, ids=[path.name for path in STAGE_SCRIPTS])
def test_stage_scripts_read_and_write_files_only_through_the_contracts(script):
    source = script.read_text()
    for call in ("json.load", "open(", "read_csv", "torch.load", "torch.save", "load_artifact", "atomic_torch_save"):
        assert call not in source, f"{script.name} calls {call}: read and write files through nusmooth.artifacts"


def test_the_datasets_module_and_the_contracts_do_not_import_each_other():
    """nusmooth.data is read by the contracts (a prepared dataset is DATASET's record), never the reverse."""
    code = "import sys, nusmooth.data; assert 'nusmooth.artifacts' not in sys.modules, 'artifacts was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "workflow_scripts")}
    )
    assert result.returncode == 0, result.stderr


def test_the_contracts_import_without_torch():
    code = "import sys, nusmooth.artifacts; assert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "workflow_scripts")}
    )
    assert result.returncode == 0, result.stderr
