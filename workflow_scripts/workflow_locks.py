"""The locks a killed run leaves behind, for the Snakefile itself (not for the stage scripts).
Imports nothing heavy: it runs at every DAG build."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

# --- locks of a killed run ----------------------------------------------------------------------
# Snakemake locks the working directory while it runs and removes the locks when it ends. A run
# killed outright (SIGKILL, a closed terminal, a crashed node) leaves them, and the next run stops
# with "Directory cannot be locked" until `--unlock`. The main process of a run that locks records who
# holds the locks (host, pid, process start time); a later run on the same host removes them only when
# that process no longer exists, so a live run is never unlocked and a rerun after any kill is the
# same command. NUSMOOTH_KEEP_LOCKS=1 turns the removal off. The policy and its reasons: README.md,
# "Locks of a killed run".

_OWNER = "nusmooth-lock-owner.json"
#: Set to anything but "" or "0" to keep every lock (Snakemake's own behaviour: `snakemake --unlock`).
KEEP_LOCKS = "NUSMOOTH_KEEP_LOCKS"


def process_start(pid: int) -> str | None:
    """A token that identifies a running process (its start time on Linux: /proc/PID/stat field 22,
    so a reused PID is another process), or None if it has ended. A zombie has ended: a killed
    process whose parent never reaps it (an orphan under an init that does not) holds nothing."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # the command name in (...) may hold spaces
            return None if fields[0] in ("Z", "X") else fields[19]
        except (OSError, IndexError):
            return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "alive"


def record_lock_owner(snakemake_dir: Path) -> None:
    """Record this process as the holder of the locks (call it only from a run that takes them)."""
    locks = Path(snakemake_dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start(os.getpid())}
    (locks / _OWNER).write_text(json.dumps(owner))


def keep_locks(environ=os.environ) -> bool:
    """True when the user opted out of removing the locks of killed runs (NUSMOOTH_KEEP_LOCKS)."""
    return environ.get(KEEP_LOCKS, "") not in ("", "0")


def clear_stale_locks(snakemake_dir: Path, environ=os.environ) -> bool:
    """Remove the locks of a run of this host whose process is gone; True if any were removed.

    Locks with no owner record, from another host, or of a process that still runs are kept, and so is
    everything when ``NUSMOOTH_KEEP_LOCKS`` is set."""
    locks = Path(snakemake_dir) / "locks"
    owner_file = locks / _OWNER
    lock_files = list(locks.glob("*.lock")) if locks.is_dir() else []
    if not owner_file.exists():
        return False
    if not lock_files:
        owner_file.unlink(missing_ok=True)
        return False
    try:
        owner = json.loads(owner_file.read_text())
    except (OSError, ValueError):
        return False
    if owner.get("host") != socket.gethostname() or process_start(int(owner["pid"])) == owner.get("start"):
        return False
    if keep_locks(environ):
        print(
            f"Kept the locks of an earlier run (pid {owner['pid']}) that is gone, because {KEEP_LOCKS} is set. "
            "Fix: run `snakemake --unlock`, or unset it, then rerun the same command.",
            file=sys.stderr,
        )
        return False
    for path in lock_files:
        path.unlink(missing_ok=True)
    owner_file.unlink(missing_ok=True)
    print(
        f"Removed the locks of an earlier run (pid {owner['pid']}) that was interrupted; continuing.", file=sys.stderr
    )
    return True
