"""The terminal lines of a stage job (stage.run_stage): one when it starts, its log's latest line at an
interval while it runs (a long GPU job says how far it is without its log being opened), one with its
key number when it ends, and nothing more once it has ended."""

import io
import re
import sys
import time
from types import SimpleNamespace

import pytest

from stage import DEFAULT_PROGRESS_SECONDS, PROGRESS_VARIABLE, latest_log_line, progress_interval, run_stage


def stage_job(tmp_path):
    return SimpleNamespace(rule="certify", wildcards={"dataset": "d"}, log=[str(tmp_path / "job.log")], threads=1)


def test_a_running_job_repeats_its_latest_log_line_on_the_terminal(tmp_path, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # run_stage points both at the log; restored after
    monkeypatch.setenv(PROGRESS_VARIABLE, "0.2")

    def main(snakemake):
        print("sub-epoch 1 of 3", flush=True)
        time.sleep(0.7)
        print("sub-epoch 2 of 3", flush=True)
        time.sleep(0.7)
        return "sigma mean 0.4"

    run_stage(stage_job(tmp_path), main)
    after = terminal.getvalue()
    time.sleep(0.6)  # the reporting thread has stopped with the job
    lines = terminal.getvalue().splitlines()
    assert terminal.getvalue() == after
    assert lines[0].endswith("certify (dataset=d): started")
    assert re.search(r"certify \(dataset=d\): done in \d+ s: sigma mean 0.4$", lines[-1])
    progress = [line for line in lines[1:-1] if "certify (dataset=d): running for" in line]
    assert len(progress) == len(lines) - 2 >= 4
    assert any(line.endswith(": sub-epoch 1 of 3") for line in progress)
    assert progress[-1].endswith(": sub-epoch 2 of 3")


def test_no_progress_lines_when_turned_off(tmp_path, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setenv(PROGRESS_VARIABLE, "0")
    run_stage(stage_job(tmp_path), lambda snakemake: time.sleep(0.3))
    lines = [line.split("] ", 1)[1] for line in terminal.getvalue().splitlines()]
    assert lines[0] == "certify (dataset=d): started" and len(lines) == 2
    assert re.fullmatch(r"certify \(dataset=d\): done in \d+ s", lines[1])


@pytest.mark.parametrize(
    "written, latest",
    [
        ("", ""),
        ("epoch 1\n\n", "epoch 1"),
        ("sub-epoch 3:   0%|  | 0/63\rsub-epoch 3:  70%|▉ | 44/63\r", "sub-epoch 3:  70%|▉ | 44/63"),
        ("x" * 300 + "\n", "x" * 160),
    ],
)
def test_the_latest_line_is_a_progress_bars_latest_state_cut_to_the_width(tmp_path, written, latest):
    log = tmp_path / "job.log"
    log.write_text(written, encoding="utf-8")
    assert latest_log_line(str(log)) == latest
    assert latest_log_line(str(tmp_path / "not-yet.log")) == ""


def test_the_interval_is_read_once_and_a_wrong_value_is_named_with_the_fix():
    assert progress_interval({}) == DEFAULT_PROGRESS_SECONDS
    assert progress_interval({PROGRESS_VARIABLE: " 30 "}) == 30.0
    assert progress_interval({PROGRESS_VARIABLE: "0"}) == 0.0
    for wrong in ("two minutes", "-5", "nan"):
        with pytest.raises(SystemExit, match=f"{PROGRESS_VARIABLE}='{wrong}' is not a number of seconds. Fix: "):
            progress_interval({PROGRESS_VARIABLE: wrong})


def test_a_failing_job_ends_with_its_error_and_no_progress_line_after_it(tmp_path, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setenv(PROGRESS_VARIABLE, "0.05")

    def main(snakemake):
        print("epoch 1", flush=True)
        time.sleep(0.3)
        raise ValueError("the model is at chance. Fix: train longer")

    with pytest.raises(SystemExit):
        run_stage(stage_job(tmp_path), main)
    time.sleep(0.2)
    text = terminal.getvalue()
    assert "running for" in text  # it did report while running
    assert "running for" not in text.split("Error in rule certify")[1]
    assert text.rstrip().endswith(f"(full log: {tmp_path / 'job.log'})")
