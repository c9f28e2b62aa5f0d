"""Kill the whole workflow at several stages, rerun the same command each time (no --unlock, no
--rerun-incomplete): the run finishes, and every output - every .pt file byte for byte - equals an
uninterrupted run's.

The command is the README's, Figure 1 on the tiny config: every stage it kills at (training, sigma
learning, the snapshot choice, a certificate, a figure being written) is in Figure 1's DAG, which is
half of `all`'s; the session's tiny run (`all`) holds the uninterrupted outputs it is compared with."""

import os
import signal
import subprocess
import time
from pathlib import Path

from support.workflow import REPO, SNAKEMAKE, TINY_CONFIG
from support.workflow_outputs import differences, output_files

TARGET = "figures/fig1.pdf"
COMMAND = [TARGET, "--cores", "2", "--resources", "gpu=1"]


def start(workdir: Path, log: Path) -> subprocess.Popen:
    command = [
        SNAKEMAKE,
        *COMMAND,
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(TINY_CONFIG),
    ]
    return subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(workdir: Path, log: Path, condition, what: str, timeout: float = 900) -> None:
    """Run the command until ``condition(workdir)`` holds, then SIGKILL its whole process group."""
    process = start(workdir, log)
    deadline = time.monotonic() + timeout
    try:
        while not condition(workdir):
            assert process.poll() is None, f"the run ended before {what}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{what} never happened"
            time.sleep(0.005)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def exists(relative: str):
    return lambda workdir: (workdir / relative).exists()


def figure_being_written(workdir: Path) -> bool:
    return any((workdir / "figures").glob(".*.tmp")) if (workdir / "figures").is_dir() else False


KILLS = [
    ("train_base after its first epoch", exists("results/models/mnist5k/resume.pt")),
    ("optimize_sigma after its first sub-epoch", lambda w: any((w / "results/sigma/mnist5k").glob("init_*/resume.pt"))),
    ("the moment sigmas.pt appeared", exists("results/certify/mnist5k/fig1_init_0.25/sigmas.pt")),
    ("a certify job at work", exists("logs/certify/mnist5k/fig1_init_0.25/learned.log")),
    ("mid-write of a figure", figure_being_written),
]


def test_runs_killed_at_every_stage_finish_with_the_same_command(tiny_all, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    for number, (what, condition) in enumerate(KILLS):
        kill_when(workdir, tmp_path / f"kill{number}.out", condition, what)
    final = start(workdir, tmp_path / "final.out")
    assert final.wait(timeout=1800) == 0, (tmp_path / "final.out").read_text()[-4000:]

    written = output_files(workdir)
    assert TARGET in written
    # Every file the run wrote is the uninterrupted run's (a job's missing output would have failed it).
    assert differences(tiny_all, workdir, names=written) == []
    pt_files = [name for name in written if name.endswith(".pt")]
    # Every stage's .pt: the data, the base model, the sigma snapshots and Figure 1's chosen sigmas.
    assert {name.rsplit("/", 1)[1] for name in pt_files} == {"dataset.pt", "model.pt", "snapshots.pt", "sigmas.pt"}
    for name in pt_files:
        assert (workdir / name).read_bytes() == (tiny_all / name).read_bytes(), name
    resumed = (workdir / "logs/train_base/mnist5k.log").read_text() + "".join(
        p.read_text() for p in (workdir / "logs/optimize_sigma/mnist5k").glob("*.log")
    )
    assert "resuming from" in resumed
    assert not list((workdir / "results").rglob("resume.pt"))
