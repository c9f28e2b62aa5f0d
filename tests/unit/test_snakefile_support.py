"""The Snakefile's own support: nested --config values typed by the schema, preset files, and stale locks."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snakefile_support import (
    KEEP_LOCKS,
    clear_stale_locks,
    coerce_by_schema,
    keep_locks,
    preset_file,
    process_start,
    record_lock_owner,
)
from support import REPO, make_locks, write_owner

SCHEMA = REPO / "schemas/config.schema.yaml"


def test_nested_command_line_strings_become_the_schema_types():
    config = {
        "alpha": 0.01,
        "datasets": {
            "mnist5k": {
                "sigma": {"inits": ["0.1", "0.2"], "train_points": "null", "sub_epochs": "4"},
                "source": {"path": "/data/123"},
                "model": {"pretrained": "false", "arch": "null"},
            }
        },
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


def test_locks_of_a_process_that_is_gone_are_removed(tmp_path):
    locks = make_locks(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (locks / "nusmooth-lock-owner.json").write_text(
        json.dumps({"host": socket.gethostname(), "pid": dead.pid, "start": "0"})
    )
    assert clear_stale_locks(tmp_path)
    assert list(locks.iterdir()) == []


def test_locks_of_a_killed_process_not_yet_reaped_are_removed(tmp_path):
    """A zombie (killed, its parent has not waited for it) is gone for good: it holds no lock."""
    locks = make_locks(tmp_path)
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = process_start(killed.pid)
    (locks / "nusmooth-lock-owner.json").write_text(
        json.dumps({"host": socket.gethostname(), "pid": killed.pid, "start": start})
    )
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
