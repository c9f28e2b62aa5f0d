"""The locks of a killed run (workflow_scripts/workflow_locks.py), removed only when their owner is gone."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflow_locks import KEEP_LOCKS, clear_stale_locks, keep_locks, process_start, record_lock_owner
from support import make_locks, write_owner


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
