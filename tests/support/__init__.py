"""What the tests of every level share: where the repository and the shared test data are, and
payloads that prove a load ran (or did not run) a file's code. Fixtures live in tests/conftest.py."""

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow_scripts"

#: Real copies of the datasets for tests and benchmarks (read only): NUSMOOTH_SHARED_DATA, else the
#: folder `shared/data` beside the repository. Tests that need it skip, saying so, without it.
SHARED_DATA = Path(os.environ.get("NUSMOOTH_SHARED_DATA", REPO.parent / "shared" / "data"))
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared data folder {SHARED_DATA} not present (set NUSMOOTH_SHARED_DATA)"
)


class RunsCodeWhenUnpickled:
    """A pickle payload whose unpickling creates ``marker``: proof that loading a file ran its code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def make_locks(directory):
    """A Snakemake locks folder holding one input and one output lock."""
    locks = directory / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("results/a\n")
    (locks / "0.output.lock").write_text("results/b\n")
    return locks


def write_owner(locks, pid, start):
    """The owner record the Snakefile writes for the run holding ``locks``."""
    (locks / "nusmooth-lock-owner.json").write_text(
        json.dumps({"host": socket.gethostname(), "pid": pid, "start": start})
    )


def copy_run(source: Path, target: Path) -> Path:
    """A copy of a run directory with Snakemake's metadata (so the copy knows what is up to date)."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    return target


def mnist_with_truncated_labels(tmp_path) -> Path:
    """A copy of the shared MNIST mirror whose test-label file is cut short."""
    mirror = tmp_path / "mnist"
    shutil.copytree(SHARED_DATA / "mnist", mirror)
    target = mirror / "t10k-labels-idx1-ubyte.gz"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes()[:2000])
    return mirror
