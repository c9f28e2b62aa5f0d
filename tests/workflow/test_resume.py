"""A killed sigma optimisation resumes from its last sub-epoch, after an unrelated change of the
config too, with the same command, and ends exactly as an uninterrupted run.

Both runs start from copies of the session's tiny run: its prepared data and base model are up to date
for the configurations below, which change only the sigma settings, so only optimize_sigma runs."""

import os
import signal
import subprocess
import time

import pytest
import torch
import yaml

from support import copy_run
from support.workflow import REPO, SNAKEMAKE, TINY_CONFIG, snakemake

TARGET = "results/sigma/mnist5k/init_0.25/snapshots.pt"
RESUME = "results/sigma/mnist5k/init_0.25/resume.pt"


def write_config(path, grow=False):
    """The tiny configuration with sub-epochs long enough (a few seconds) to be interrupted; `grow`
    adds a sigma constant, a change that does not concern the init-0.25 sweep."""
    settings = yaml.safe_load(TINY_CONFIG.read_text())
    settings["datasets"]["mnist5k"]["sigma"].update(sub_epochs=3, train_points=384, n_train=8)
    if grow:
        settings["datasets"]["mnist5k"]["sigma"]["inits"].append(1.0)
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("config")
    return write_config(folder / "resume.yaml"), write_config(folder / "grown.yaml", grow=True)


def test_killed_sigma_job_resumes_to_the_same_snapshots(tiny_all, tmp_path, configs):
    config, grown = configs
    reference = copy_run(tiny_all, tmp_path / "reference")
    result = snakemake(reference, TARGET, "--cores", "2", "--resources", "gpu=1", configfile=config)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "rule optimize_sigma:" in output and "rule train_base:" not in output, output[-6000:]  # only sigma ran

    interrupted = copy_run(tiny_all, tmp_path / "interrupted")
    command = [
        SNAKEMAKE,
        TARGET,
        "--cores",
        "2",
        "--resources",
        "gpu=1",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(interrupted),
        "--configfile",
        str(config),
    ]
    with open(tmp_path / "first.out", "w") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 600
        try:
            while not (interrupted / RESUME).exists():  # written after sub-epoch 1
                assert first.poll() is None, (tmp_path / "first.out").read_text()[-3000:]
                assert time.monotonic() < deadline, "sub-epoch 1 never finished"
                time.sleep(0.05)
            os.killpg(first.pid, signal.SIGKILL)  # no clean-up at all: the harshest interruption
            first.wait(timeout=60)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
    assert not (interrupted / TARGET).exists()  # the copy's snapshots.pt too: Snakemake removes it first

    # The same command (no --unlock, no --rerun-incomplete), with a grown config: the sweep resumes.
    second = snakemake(interrupted, TARGET, "--cores", "2", "--resources", "gpu=1", configfile=grown)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    log_text = (interrupted / "logs/optimize_sigma/mnist5k/init_0.25.log").read_text()
    assert "resuming from" in log_text
    assert not (interrupted / RESUME).exists(), "the resume file is removed once the outputs exist"

    expected = torch.load(reference / TARGET, weights_only=True)
    actual = torch.load(interrupted / TARGET, weights_only=True)
    assert actual["sub_epochs"] == expected["sub_epochs"] == [1, 2, 3]
    torch.testing.assert_close(actual["sigmas"], expected["sigmas"], rtol=0, atol=0)
    assert (interrupted / TARGET).read_bytes() == (reference / TARGET).read_bytes()
