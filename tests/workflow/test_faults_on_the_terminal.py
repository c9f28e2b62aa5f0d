"""Workflow faults: the message of each bad input or damaged file reaches the terminal (not only a
log), and nothing is left under a final output name (no half-written file, no temporary file).
Library faults: tests/unit/test_faults.py; kills of a running workflow: test_interrupts.py,
test_resume.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from support import RunsCodeWhenUnpickled, copy_run, mnist_with_truncated_labels, needs_shared_data
from support.workflow import TINY_CONFIG, snakemake


def write_config(path: Path, change) -> Path:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config))
    return path


def run_failing(workdir, target, configfile=TINY_CONFIG):
    result = snakemake(workdir, target, "--cores", "2", "--resources", "gpu=1", configfile=configfile)
    assert result.returncode != 0, result.stdout[-2000:]
    return result.stderr


def assert_nothing_left(workdir: Path, *outputs: str):
    for output in outputs:
        assert not (workdir / output).exists(), f"{output} exists after the failure"
    assert not list(workdir.glob("results/**/.*.tmp")), "a temporary file was left behind"


SNAPSHOTS = "results/sigma/mnist5k/init_0.25/snapshots.pt"


def test_damaged_model_is_named_on_the_terminal_with_the_rule_to_rerun(tiny_all, tmp_path):
    for damage in ("truncated", "malicious"):
        workdir = copy_run(tiny_all, tmp_path / damage)
        model = workdir / "results/models/mnist5k/model.pt"
        if damage == "truncated":
            model.write_bytes(model.read_bytes()[:3000])
        else:
            torch.save({"state_dict": RunsCodeWhenUnpickled(workdir / "pwned")}, model)
        terminal = run_failing(workdir, SNAPSHOTS)
        assert "Error in rule optimize_sigma" in terminal and "results/models/mnist5k/model.pt is damaged" in terminal
        assert "-R train_base" in terminal and "weights_only" not in terminal
        assert_nothing_left(workdir, SNAPSHOTS)
        assert not (workdir / "pwned").exists()


def test_truncated_resume_file_is_discarded_and_the_job_starts_fresh(tiny_all, tmp_path):
    workdir = copy_run(tiny_all, tmp_path / "run")
    (workdir / SNAPSHOTS).unlink()
    resume = workdir / "results/sigma/mnist5k/init_0.25/resume.pt"
    resume.write_bytes((workdir / "results/models/mnist5k/model.pt").read_bytes()[:1500])
    result = snakemake(workdir, SNAPSHOTS, "--cores", "2", "--resources", "gpu=1")
    assert result.returncode == 0, result.stderr[-3000:]
    log = (workdir / "logs/optimize_sigma/mnist5k/init_0.25.log").read_text()
    assert "cannot be used" in log and "starting afresh" in log
    assert not resume.exists()
    assert (workdir / SNAPSHOTS).read_bytes() == (tiny_all / SNAPSHOTS).read_bytes()


DATA_OUTPUTS = ("dataset.pt", "summary.json", "splits.json")


def test_an_empty_split_stops_the_data_stage_with_the_key_to_change(tmp_path):
    config = write_config(
        tmp_path / "config.yaml",
        lambda c: c["datasets"]["mnist5k"].update(split={"train": 0.998, "val": 0.001, "test": 0.001, "seed": 0}),
    )
    workdir = tmp_path / "run"
    terminal = run_failing(workdir, "results/data/mnist5k/dataset.pt", configfile=config)
    assert "Error in rule prepare_data" in terminal and "datasets.mnist5k.split" in terminal and "test 0" in terminal
    assert_nothing_left(workdir, *(f"results/data/mnist5k/{name}" for name in DATA_OUTPUTS))


@needs_shared_data
def test_a_truncated_raw_file_is_named_on_the_terminal(tmp_path):
    mirror = mnist_with_truncated_labels(tmp_path)
    config = write_config(
        tmp_path / "config.yaml",
        lambda c: c.update(run_datasets=["mnist"], datasets={"mnist": {"source": {"path": str(mirror)}}}),
    )
    workdir = tmp_path / "run"
    terminal = run_failing(workdir, "results/data/mnist/dataset.pt", configfile=config)
    assert "DataError" in terminal and "t10k-labels-idx1-ubyte.gz is truncated" in terminal and "Fix" in terminal
    assert_nothing_left(workdir, *(f"results/data/mnist/{name}" for name in DATA_OUTPUTS))


def tmpfs(folder: Path, size: str):
    """Mount a tmpfs of ``size`` on ``folder``, or skip saying why it cannot be done here."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")


def test_a_full_disk_is_named_and_leaves_nothing_half_written(tmp_path):
    workdir = tmp_path / "small_disk"
    tmpfs(workdir, "1m")
    try:
        terminal = run_failing(workdir, "results/data/mnist5k/dataset.pt")
        assert "no space left on the device holding" in terminal and "results/data/mnist5k" in terminal
        assert_nothing_left(workdir, "results/data/mnist5k/dataset.pt")
    finally:
        subprocess.run(["umount", str(workdir)], check=False)
