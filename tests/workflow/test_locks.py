"""Lock clearing through the real Snakefile: a live run's locks are kept, a gone run's removed (or kept
under NUSMOOTH_KEEP_LOCKS), and only a run that takes the locks records itself as their owner."""

import json
import os
import socket
import subprocess
import sys
import time

from workflow_locks import KEEP_LOCKS, process_start
from support import REPO, make_locks, write_owner
from support.workflow import SNAKEMAKE, TINY_CONFIG, snakemake


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
    command = [
        SNAKEMAKE,
        target,
        "--cores",
        "1",
        "--forcerun",
        "prepare_data",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(TINY_CONFIG),
    ]
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
