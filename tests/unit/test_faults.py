"""The fault suite: every bad input and damaged file found by a fault campaign, in two tables.

Each row names the fault, provokes it, and checks (1) the message fragment the user must see - on the
terminal for workflow faults, not only in a log - and (2) that nothing is left behind under a final
output name (no half-written file, no temporary file). Kills of a running workflow at every stage are
in test_interrupts.py and test_resume.py; the full-disk and damaged-file cases of the io layer in
detail in test_io.py.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from support import SHARED_DATA as DATA
from support import RunsCodeWhenUnpickled, mnist_with_truncated_labels

from nusmooth.datasets import DataError, prepare_dataset
from nusmooth.io import ArtifactError
from nusmooth.checkpoints import load_checkpoint, save_checkpoint
from nusmooth.networks import build_model
from nusmooth.smoothing import NonUniformSmoothing, certify


class Recorder(torch.nn.Module):
    """An eval-mode model that remembers whether it was ever called."""

    def __init__(self, width: int = 2):
        super().__init__()
        self.width, self.calls = width, 0
        self.eval()

    def forward(self, x):
        self.calls += 1
        return torch.zeros(x.shape[0], self.width)


# --- library faults -----------------------------------------------------------------------------


def certify_points(points, sigma=0.25, model=None, **kwargs):
    model = model if model is not None else Recorder()
    try:
        certify(model, points, sigma, n0=4, n=16, alpha=0.01, num_classes=2, batch_size=8, **kwargs)
    finally:
        assert model.calls == 0, "the model ran before the fault was refused"


def dropout_model_in_train_mode():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(4, 2))
    try:
        certify(model, torch.rand(2, 1, 2, 2), 0.25, n0=4, n=16, alpha=0.01, num_classes=2)
    finally:
        assert model.training, "the caller's model must stay in the mode it was in"


def wrong_output_width():
    NonUniformSmoothing(Recorder(width=3), 2, 0.25).certify_many(torch.rand(2, 4), n0=4, n=16, alpha=0.01, batch_size=8)


def saved_model(tmp_path) -> Path:
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        build_model("mnist_cnn", 10, [0.1307], [0.3081]),
        arch="mnist_cnn",
        num_classes=10,
        mean=[0.1307],
        std=[0.3081],
        train_config={},
    )
    return path


def truncated_model(tmp_path):
    path = saved_model(tmp_path)
    path.write_bytes(path.read_bytes()[:3000])
    load_checkpoint(path)


def malicious_model(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"state_dict": RunsCodeWhenUnpickled(tmp_path / "pwned")}, path)
    try:
        load_checkpoint(path)
    finally:
        assert not (tmp_path / "pwned").exists(), "the pickle's code ran"


def truncated_idx(tmp_path):
    prepare_dataset(
        "mnist",
        {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0},
        {"path": str(mnist_with_truncated_labels(tmp_path))},
    )


def kitti_copy(tmp_path) -> Path:
    root = tmp_path / "kitti"
    shutil.copytree(DATA / "kitti_sample", root)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def kitti_label_line(tmp_path, line: str):
    root = kitti_copy(tmp_path)
    label = root / "training/label_2/000002.txt"
    label.write_text(label.read_text() + line)
    prepare_dataset(
        "kitti", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0}, {"path": str(root), "split_by": "frame"}
    )


def kitti_default_split(tmp_path):
    prepare_dataset(
        "kitti",
        {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0},
        {"path": str(kitti_copy(tmp_path)), "split_by": "frame"},
    )


def mnist5k_degenerate_split(tmp_path):
    prepare_dataset("mnist5k", {"train": 0.998, "val": 0.001, "test": 0.001, "seed": 0})


@dataclass
class Fault:
    name: str
    provoke: object  # callable(tmp_path) raising
    error: type
    fragments: tuple[str, ...]
    data: bool = False


LIBRARY_FAULTS = [
    Fault(
        "a NaN point",
        lambda t: certify_points(torch.full((1, 4), float("nan"))),
        ValueError,
        ("contain NaN or inf", "Fix"),
    ),
    Fault(
        "points scaled to [0, 255]",
        lambda t: certify_points(torch.rand(2, 4) * 255),
        ValueError,
        ("outside input_range", "Fix"),
    ),
    Fault("negative points", lambda t: certify_points(torch.rand(2, 4) - 1), ValueError, ("outside input_range",)),
    Fault(
        "uint8 points", lambda t: certify_points(torch.zeros(2, 4, dtype=torch.uint8)), ValueError, (".float() / 255",)
    ),
    Fault(
        "a 3-channel sigma on 1-channel points",
        lambda t: certify_points(torch.rand(2, 1, 2, 2), torch.full((3, 2, 2), 0.25)),
        ValueError,
        ("does not fit points of shape", "Fix"),
    ),
    Fault(
        "a dropout model in training mode",
        lambda t: dropout_model_in_train_mode(),
        ValueError,
        ("training mode", "model.eval()"),
    ),
    Fault(
        "a model whose output width is not num_classes",
        lambda t: wrong_output_width(),
        ValueError,
        ("num_classes=2", "Fix"),
    ),
    Fault("a truncated model.pt", truncated_model, ArtifactError, ("is damaged", "-R train_base")),
    Fault(
        "a malicious pickle as model.pt",
        malicious_model,
        ArtifactError,
        ("was not written by this pipeline", "-R train_base"),
    ),
    Fault(
        "a truncated IDX file", truncated_idx, DataError, ("t10k-labels-idx1-ubyte.gz is truncated", "Fix"), data=True
    ),
    Fault(
        "an unknown KITTI class",
        lambda t: kitti_label_line(t, "Bus 0.00 0 1 1 1 1 1 1 1 1 1 1 1 1\n"),
        DataError,
        ("unknown KITTI class 'Bus'", "000002.txt, line"),
        data=True,
    ),
    Fault(
        "a DontCare line with the wrong number of fields",
        lambda t: kitti_label_line(t, "DontCare -1 -1\n"),
        DataError,
        ("000002.txt, line", "3 fields"),
        data=True,
    ),
    Fault(
        "the 6-frame KITTI sample under the default split",
        kitti_default_split,
        DataError,
        ("would be empty", "datasets.kitti.split"),
        data=True,
    ),
    Fault(
        "mnist5k split 0.998 / 0.001 / 0.001", mnist5k_degenerate_split, DataError, ("datasets.mnist5k.split", "test 0")
    ),
]


@pytest.mark.parametrize("fault", LIBRARY_FAULTS, ids=[f.name for f in LIBRARY_FAULTS])
def test_library_fault_is_refused_with_its_fix(fault, tmp_path):
    if fault.data and not DATA.is_dir():
        pytest.skip(f"shared data folder {DATA} not present (set NUSMOOTH_SHARED_DATA)")
    with pytest.raises(fault.error) as caught:
        fault.provoke(tmp_path)
    message = str(caught.value)
    for fragment in fault.fragments:
        assert fragment in message, message
    assert "weights_only=False" not in message and "safe_globals" not in message, "unsafe loading advised"
    assert not list(tmp_path.rglob(".*.tmp")), "a temporary file was left behind"


# --- workflow faults: the message reaches the terminal, nothing is left under a final name ---------
