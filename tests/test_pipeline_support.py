"""The Snakefile's own support: nested --config values typed by the schema, preset files, and stale locks."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snakefile_support import (KEEP_LOCKS, clear_stale_locks, coerce_by_schema, keep_locks, preset_file, process_start,
                              record_lock_owner)
from workflow import REPO, SNAKEMAKE, TINY_CONFIG, snakemake

SCHEMA = REPO / "schemas/config.schema.yaml"


def test_nested_command_line_strings_become_the_schema_types():
    config = {
        "alpha": 0.01,
        "datasets": {"mnist5k": {"sigma": {"inits": ["0.1", "0.2"], "train_points": "null", "sub_epochs": "4"},
                                 "source": {"path": "/data/123"}, "model": {"pretrained": "false", "arch": "null"}}},
    }
    coerce_by_schema(config, SCHEMA)
    block = config["datasets"]["mnist5k"]
    assert block["sigma"] == {"inits": [0.1, 0.2], "train_points": None, "sub_epochs": 4}
    assert block["source"]["path"] == "/data/123"  # a string key stays a string
    assert block["model"] == {"pretrained": False, "arch": None}


def test_a_word_where_a_number_belongs_is_left_for_the_schema_to_reject():
    config = {"datasets": {"mnist5k": {"sigma": {"lr": "fast"}}}}
    coerce_by_schema(config, SCHEMA)
    assert config["datasets"]["mnist5k"]["sigma"]["lr"] == "fast"


def test_a_preset_is_a_file_of_the_presets_folder_and_an_unknown_one_lists_them(tmp_path):
    (tmp_path / "paper.yaml").write_text("preset: paper\n")
    (tmp_path / "small.yaml").write_text("preset: small\n")
    assert preset_file(tmp_path, "small") == str(tmp_path / "small.yaml")
    with pytest.raises(ValueError) as refused:
        preset_file(tmp_path, "papr")
    assert "unknown preset 'papr'" in str(refused.value) and "Presets: default, paper, small." in str(refused.value)
    assert "Fix: --config preset=" in str(refused.value)


def make_locks(directory):
    locks = directory / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("results/a\n")
    (locks / "0.output.lock").write_text("results/b\n")
    return locks


def test_locks_of_a_process_that_is_gone_are_removed(tmp_path):
    locks = make_locks(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (locks / "nusmooth-lock-owner.json").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "start": "0"}))
    assert clear_stale_locks(tmp_path)
    assert list(locks.iterdir()) == []


def test_locks_of_a_killed_process_not_yet_reaped_are_removed(tmp_path):
    """A zombie (killed, its parent has not waited for it) is gone for good: it holds no lock."""
    locks = make_locks(tmp_path)
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = process_start(killed.pid)
    (locks / "nusmooth-lock-owner.json").write_text(json.dumps({"host": socket.gethostname(), "pid": killed.pid, "start": start}))
    assert start is not None and not clear_stale_locks(tmp_path), "a running owner's locks are kept"
    killed.kill()
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{killed.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed child never became a zombie"
            time.sleep(0.05)
        assert clear_stale_locks(tmp_path)
        assert list(locks.iterdir()) == []
    finally:
        killed.wait()


def test_locks_of_a_live_process_are_kept(tmp_path):
    locks = make_locks(tmp_path)
    record_lock_owner(tmp_path)  # this test process plays the running Snakemake
    assert not clear_stale_locks(tmp_path)
    assert (locks / "0.input.lock").exists()


def test_locks_without_an_owner_or_from_another_host_are_kept(tmp_path):
    locks = make_locks(tmp_path)
    assert not clear_stale_locks(tmp_path)
    (locks / "nusmooth-lock-owner.json").write_text(json.dumps({"host": "elsewhere", "pid": os.getpid(), "start": "0"}))
    assert not clear_stale_locks(tmp_path)
    assert (locks / "0.output.lock").exists()


def write_owner(locks, pid, start):
    (locks / "nusmooth-lock-owner.json").write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "start": start}))


def ended_pid():
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


@pytest.mark.parametrize("value, kept", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_keep_locks_opts_out_of_removing_the_locks_of_a_gone_run(tmp_path, capsys, value, kept):
    locks = make_locks(tmp_path)
    write_owner(locks, ended_pid(), "0")
    assert keep_locks({KEEP_LOCKS: value}) is kept
    assert clear_stale_locks(tmp_path, environ={KEEP_LOCKS: value}) is not kept
    assert (locks / "0.input.lock").exists() is kept
    message = capsys.readouterr().err
    assert ("Kept the locks" in message and "snakemake --unlock" in message) if kept else "Removed the locks" in message


def test_the_snakefile_keeps_a_live_runs_locks_and_removes_a_gone_runs(tmp_path, monkeypatch):
    """Through the real Snakefile (a dry run parses it as the main process): locks whose recorded
    owner still runs are kept; once it has ended they are kept under NUSMOOTH_KEEP_LOCKS, else removed."""
    locks = make_locks(tmp_path / ".snakemake")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        write_owner(locks, live.pid, process_start(live.pid))
        result = snakemake(tmp_path, "figures/fig1.pdf", "-n")
        assert (locks / "0.input.lock").exists(), result.stderr[-3000:]
        assert "Removed the locks" not in result.stderr
    finally:
        live.kill()
        live.wait()
    monkeypatch.setenv(KEEP_LOCKS, "1")
    result = snakemake(tmp_path, "figures/fig1.pdf", "-n")
    assert "Kept the locks" in result.stderr and (locks / "0.input.lock").exists(), result.stderr[-3000:]
    monkeypatch.delenv(KEEP_LOCKS)
    result = snakemake(tmp_path, "figures/fig1.pdf", "-n")
    assert result.returncode == 0 and "Removed the locks" in result.stderr, result.stderr[-3000:]
    assert not list(locks.glob("*.lock"))


def test_only_a_run_that_takes_the_locks_records_itself_as_their_owner(tmp_path):
    """A --nolock run holds no lock, so it must not name itself owner (its end would then make a
    concurrent locking run's locks look stale). A locking run's record lives while it runs (Snakemake
    deletes the whole locks folder at a clean end)."""
    owner = tmp_path / ".snakemake/locks/nusmooth-lock-owner.json"
    target = "results/data/mnist5k/dataset.pt"
    result = snakemake(tmp_path, target, "--cores", "1", "--nolock")
    assert result.returncode == 0 and (tmp_path / target).exists(), result.stderr[-3000:]
    assert not owner.exists(), "a --nolock run recorded itself as the owner of locks it does not hold"
    command = [SNAKEMAKE, target, "--cores", "1", "--forcerun", "prepare_data", "-s", str(REPO / "Snakefile"),
               "--directory", str(tmp_path), "--configfile", str(TINY_CONFIG)]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    recorded = None
    while run.poll() is None and recorded is None:
        try:
            recorded = json.loads(owner.read_text())
        except (OSError, ValueError):
            time.sleep(0.02)
    stderr = run.communicate(timeout=600)[1]
    assert run.returncode == 0, stderr[-3000:]
    assert recorded is not None, "the locking run never recorded its owner"
    assert recorded["host"] == socket.gethostname() and recorded["pid"] != os.getpid()
