"""Files: byte-reproducible atomic writes, full disks, damaged intermediate files, resume state."""

import errno
import os
import subprocess
import traceback

import pandas as pd
import pytest
import torch
from support import RunsCodeWhenUnpickled

from nusmooth.artifacts import DATASET
from nusmooth.data import ImageSplit, PreparedDataset
from nusmooth.io import (
    ArtifactError,
    DiskFullError,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    atomic_write_tsv,
    load_artifact,
)
from nusmooth.checkpoints import load_checkpoint, save_checkpoint
from nusmooth.networks import build_model
from nusmooth.resume import ResumeFile, content_fingerprint, resumed_steps

TORCH_ZIP_SHORT_WRITE = "[enforce fail at inline_container.cc:672] . unexpected pos 1792 vs 1686"


def sample_object():
    return {
        "sigma": torch.linspace(0.1, 0.9, 50).view(2, 25),
        "labels": torch.arange(7),
        "history": [{"epoch": 1, "loss": 0.5}],
    }


def tiny_dataset() -> PreparedDataset:
    split = ImageSplit(torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8), torch.arange(6) % 2)
    return PreparedDataset(
        "toy", {"train": split, "val": split, "test": split}, classes=["a", "b"], mean=[0.5], std=[0.25]
    )


def write_with(writer: str, path, size: int = 10) -> None:
    """Write ``size``-ish bytes (at least) of content with one of io.py's four writers."""
    if writer == "torch":
        atomic_torch_save({"x": torch.zeros(max(size // 4, 1))}, path)
    elif writer == "text":
        atomic_write_text("x" * size, path)
    elif writer == "json":
        atomic_write_json({"values": "y" * size}, path)
    else:
        atomic_write_tsv(pd.DataFrame({"a": range(max(size // 8, 1))}), path)


WRITERS = ("torch", "text", "json", "tsv")


# --- reproducible, atomic writes ----------------------------------------------------------------


def test_same_object_saves_to_identical_bytes(tmp_path):
    first, second = tmp_path / "a.pt", tmp_path / "other" / "b.pt"
    atomic_torch_save(sample_object(), first)
    atomic_torch_save(sample_object(), second)
    assert first.read_bytes() == second.read_bytes()
    loaded = torch.load(second, weights_only=True)
    assert torch.equal(loaded["sigma"], sample_object()["sigma"]) and loaded["history"] == [{"epoch": 1, "loss": 0.5}]


@pytest.mark.parametrize("writer", WRITERS)
def test_writer_replaces_the_file_and_leaves_no_temporary(tmp_path, writer):
    target = tmp_path / "out" / f"result.{writer}"
    write_with(writer, target, size=10)
    write_with(writer, target, size=400)
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert target.stat().st_size >= 100  # the second, larger content replaced the first
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_text_is_written_as_utf8_with_newline_ends(tmp_path):
    atomic_write_text("naïve σ\nline two\n", tmp_path / "t.txt")
    assert (tmp_path / "t.txt").read_bytes() == "naïve σ\nline two\n".encode("utf-8")


@pytest.mark.parametrize("writer", WRITERS)
def test_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch, writer):
    """fsync of the temporary file must come before os.replace, or a crash could leave an empty file."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        events.append(("fsync", os.fstat(descriptor).st_size))
        real_fsync(descriptor)

    def replace(source, target):
        events.append(("replace", os.path.getsize(source)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_with(writer, tmp_path / "f", size=100)
    kinds = [kind for kind, _ in events]
    assert "replace" in kinds and "fsync" in kinds[: kinds.index("replace")]
    assert events[0][1] == (tmp_path / "f").stat().st_size > 0  # the file fsynced is the complete file


# --- a full disk ----------------------------------------------------------------------------------


def assert_disk_full_handled(error: DiskFullError, target, old_bytes: bytes):
    message = str(error)
    assert "no space left on the device holding" in message and str(target.parent.resolve()) in message
    assert "free space" in message and "rerun the same command" in message
    assert error.errno == errno.ENOSPC
    assert target.read_bytes() == old_bytes, "the older file at the final path must stay intact"
    assert [p.name for p in target.parent.iterdir()] == [target.name], "the temporary file must be removed"


@pytest.mark.parametrize("failure", ["torch_zip_error", "enospc"])
def test_full_disk_during_torch_save(tmp_path, monkeypatch, failure):
    target = tmp_path / "model.pt"
    atomic_torch_save({"old": torch.ones(3)}, target)
    old_bytes = target.read_bytes()

    def failing_save(obj, handle):
        handle.write(b"PK\x03\x04 half an archive")  # something half-written reaches the temporary file
        handle.flush()
        if failure == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise RuntimeError(TORCH_ZIP_SHORT_WRITE)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(DiskFullError) as caught:
        atomic_torch_save({"new": torch.zeros(10)}, target)
    assert_disk_full_handled(caught.value, target, old_bytes)


@pytest.mark.parametrize("writer", WRITERS)
def test_full_disk_when_flushing_any_writer(tmp_path, monkeypatch, writer):
    target = tmp_path / "out.file"
    target.write_bytes(b"older complete result\n")

    def fsync(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFullError) as caught:
        write_with(writer, target, size=100)
    assert_disk_full_handled(caught.value, target, b"older complete result\n")


def test_other_write_errors_pass_through_unchanged(tmp_path, monkeypatch):
    def fsync(descriptor):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as caught:
        atomic_write_text("x", tmp_path / "t.txt")
    assert not isinstance(caught.value, DiskFullError) and caught.value.errno == errno.EIO
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted in a temporary folder (needs root and permission to mount)."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tiny tmpfs, and mounting one needs root")
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tiny tmpfs here (a real full disk is tested only where one can): {mounted.stderr.strip()}"
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("writer", WRITERS)
def test_full_disk_for_real_on_a_tiny_tmpfs(tiny_tmpfs, writer):
    target = tiny_tmpfs / "result"
    write_with(writer, target, size=10)
    old_bytes = target.read_bytes()
    with pytest.raises(DiskFullError) as caught:
        write_with(writer, target, size=200_000)  # three times the device's size
    assert_disk_full_handled(caught.value, target, old_bytes)
    write_with(writer, target, size=1000)  # the failed attempt's space was given back
    assert target.read_bytes() != old_bytes


# --- damaged intermediate files -------------------------------------------------------------------


def assert_names_file_and_fix(error: ArtifactError, path, producer: str, exists: bool = True):
    message = str(error)
    assert str(path) in message and f"rule {producer}" in message
    if exists:  # a file that is there must go (Snakemake would take it as up to date) or be forced
        assert f"-R {producer}" in message and f"delete {path}" in message
    else:
        assert f"snakemake {path} --cores" in message
    printed = "".join(traceback.format_exception(error))
    assert "weights_only" not in printed, "never advise (even in a chained traceback) an unsafe load"


def damage(path, kind: str) -> None:
    if kind == "truncated":
        atomic_torch_save(sample_object(), path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "random_bytes":
        path.write_bytes(
            torch.randint(0, 256, (4096,), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
            .numpy()
            .tobytes()
        )
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("sample\tlabel\n1\t2\n")


@pytest.mark.parametrize("kind", ["truncated", "random_bytes", "empty", "text"])
def test_damaged_file_is_named_with_its_fix(tmp_path, kind):
    path = tmp_path / "snapshots.pt"
    damage(path, kind)
    with pytest.raises(ArtifactError, match="is damaged or was not written by this pipeline") as caught:
        load_artifact(path, "optimize_sigma")
    assert_names_file_and_fix(caught.value, path, "optimize_sigma")


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "sigmas.pt"
    torch.save({"learned": RunsCodeWhenUnpickled(marker)}, path)
    with pytest.raises(ArtifactError) as caught:
        load_artifact(path, "select_fig1_sigma")
    assert not marker.exists(), "loading must not run the pickle's code"
    assert_names_file_and_fix(caught.value, path, "select_fig1_sigma")
    # The same file does run code when unpickled unsafely: the test's payload is live.
    torch.load(path, weights_only=False)["learned"].close()
    assert marker.exists()


def test_missing_file_is_named_with_its_fix(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist") as caught:
        load_artifact(tmp_path / "missing.pt", "train_base")
    assert_names_file_and_fix(caught.value, tmp_path / "missing.pt", "train_base", exists=False)
    with pytest.raises(ArtifactError, match="is a folder"):
        load_artifact(tmp_path, "train_base")


def test_a_torch_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    DATASET.save(tiny_dataset(), path)  # a dataset where a model belongs
    with pytest.raises(ArtifactError, match=r"not written by rule train_base.*lacks \['arch'") as caught:
        load_checkpoint(path)
    assert_names_file_and_fix(caught.value, path, "train_base")


def test_dataset_load_names_prepare_data(tmp_path):
    path = tmp_path / "dataset.pt"
    dataset = tiny_dataset()
    DATASET.save(dataset, path)
    assert torch.equal(DATASET.load(path).splits["val"].images, dataset.splits["val"].images)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ArtifactError) as caught:
        DATASET.load(path)
    assert_names_file_and_fix(caught.value, path, "prepare_data")


def test_load_artifact_round_trip(tmp_path):
    atomic_torch_save(sample_object(), tmp_path / "s.pt")
    loaded = load_artifact(tmp_path / "s.pt", "optimize_sigma", expected_keys=("sigma", "labels"))
    assert torch.equal(loaded["labels"], torch.arange(7))


# --- content fingerprints -------------------------------------------------------------------------


def test_fingerprint_is_by_content():
    a = {"settings": {"lr": 0.1, "epochs": 3}, "data": (torch.arange(6).view(2, 3), torch.ones(2))}
    b = {"data": [torch.arange(6).view(2, 3).t().contiguous().t(), torch.ones(2)], "settings": {"epochs": 3, "lr": 0.1}}
    assert content_fingerprint(a) == content_fingerprint(b)  # key order, list vs tuple, memory layout
    assert content_fingerprint(torch.arange(6).view(3, 2).t()) == content_fingerprint(
        torch.tensor([[0, 2, 4], [1, 3, 5]])
    )


@pytest.mark.parametrize(
    "left, right",
    [
        (torch.zeros(3), torch.zeros(3, dtype=torch.float64)),
        (torch.zeros(2, 3), torch.zeros(3, 2)),
        (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5])),
        (1, 1.0),
        (1, True),
        (["ab", "c"], ["a", "bc"]),
        ({"a": 1}, {"b": 1}),
        ([[1], 2], [1, [2]]),
        (None, 0),
    ],
)
def test_fingerprint_tells_different_content_apart(left, right):
    assert content_fingerprint(left) != content_fingerprint(right)


def test_fingerprint_refuses_what_it_cannot_hash():
    with pytest.raises(TypeError, match="cannot hash a object"):
        content_fingerprint({"x": object()})


# --- resume files ---------------------------------------------------------------------------------


def training_state():
    generator = torch.Generator().manual_seed(3)
    return {
        "epoch": 2,
        "generator": generator.get_state(),
        "model": {"w": torch.randn(4, 4)},
        "history": [{"epoch": 1}, {"epoch": 2}],
    }


def test_resume_round_trip(tmp_path, capsys):
    path = tmp_path / "resume.pt"
    identity = {"settings": {"epochs": 5}, "data": torch.arange(10)}
    assert ResumeFile(path, identity).load() is None  # nothing saved yet
    state = training_state()
    ResumeFile(path, identity).save(state)
    loaded = ResumeFile(path, {"data": torch.arange(10), "settings": {"epochs": 5}}).load()
    assert loaded["epoch"] == 2 and loaded["history"] == state["history"]
    assert torch.equal(loaded["generator"], state["generator"]) and torch.equal(
        loaded["model"]["w"], state["model"]["w"]
    )
    assert f"resuming from {path}" in capsys.readouterr().out
    ResumeFile(path, identity).remove()
    assert not path.exists()
    ResumeFile(path, identity).remove()  # removing twice is fine


class CountingJob:
    """A resumable job whose state is the list of the steps it ran (a stand-in for a trainer)."""

    def __init__(self):
        self.ran = []

    @property
    def steps_done(self) -> int:
        return len(self.ran)

    def state_dict(self) -> dict:
        return {"ran": list(self.ran)}

    def load_state_dict(self, state: dict) -> None:
        self.ran = list(state["ran"])


def test_a_job_killed_in_a_step_resumes_at_that_step(tmp_path):
    resume = ResumeFile(tmp_path / "resume.pt", {"settings": {"steps": 5}})
    job = CountingJob()
    with pytest.raises(KeyboardInterrupt):
        for step in resumed_steps(resume, job, 5):
            if step == 3:
                raise KeyboardInterrupt  # killed during step 3: steps 1 and 2 were saved
            job.ran.append(step)
    resumed = CountingJob()  # as a new process would build it
    steps = []
    for step in resumed_steps(resume, resumed, 5):
        steps.append(step)
        resumed.ran.append(step)
    assert steps == [3, 4, 5] and resumed.ran == [1, 2, 3, 4, 5]
    assert resume.load() == {"ran": [1, 2, 3, 4, 5]}  # saved after the last step too
    assert list(resumed_steps(resume, CountingJob(), 5)) == []  # a finished job has no step left


def test_resume_state_for_another_identity_is_ignored_then_overwritten(tmp_path, capsys):
    path = tmp_path / "resume.pt"
    ResumeFile(path, {"settings": {"epochs": 5}}).save(training_state())
    other = ResumeFile(path, {"settings": {"epochs": 6}})
    assert other.load() is None
    out = capsys.readouterr().out
    assert f"ignoring resume file {path}" in out and "other settings" in out
    assert path.exists()  # kept until the new run saves its own state
    other.save({"epoch": 1})
    assert other.load() == {"epoch": 1}
    assert ResumeFile(path, {"settings": {"epochs": 5}}).load() is None


@pytest.mark.parametrize("damaged", ["truncated", "not_a_resume_file"])
def test_unusable_resume_file_warns_and_starts_fresh(tmp_path, capsys, damaged):
    path = tmp_path / "resume.pt"
    resume = ResumeFile(path, {"settings": {"epochs": 5}})
    if damaged == "truncated":
        resume.save(training_state())
        path.write_bytes(path.read_bytes()[:500])
    else:
        torch.save({"identity": {"settings": {}}, "optimizer": {}}, path)  # an older layout, without "state"
    assert resume.load() is None
    out = capsys.readouterr().out
    assert "WARNING" in out and str(path) in out and "starting afresh" in out
    assert "weights_only" not in out
    assert not path.exists()
    assert resume.load() is None  # and the next run is not wedged by it
    assert capsys.readouterr().out == ""


def test_content_identical_model_keeps_the_resume_state_valid(tmp_path):
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 10, [0.13], [0.31])
    payload = {
        "arch": "mnist_cnn",
        "num_classes": 10,
        "mean": [0.13],
        "std": [0.31],
        "train_config": {},
        "state_dict": model.state_dict(),
    }
    first, second = tmp_path / "first" / "model.pt", tmp_path / "second" / "model.pt"
    save_checkpoint(first, model, arch="mnist_cnn", num_classes=10, mean=[0.13], std=[0.31], train_config={})
    second.parent.mkdir()
    torch.save(payload, second)  # torch's own path-named zip records: other bytes, same weights
    assert first.read_bytes() != second.read_bytes()
    path = tmp_path / "resume.pt"
    ResumeFile(path, {"model": load_checkpoint(first)[0], "init": 0.25}).save({"sub_epoch": 3})
    assert ResumeFile(path, {"model": load_checkpoint(second)[0], "init": 0.25}).load() == {"sub_epoch": 3}
    changed = load_checkpoint(second)[0]
    with torch.no_grad():
        changed[1].classifier[-1].bias[0] += 1e-6
    assert ResumeFile(path, {"model": changed, "init": 0.25}).load() is None
