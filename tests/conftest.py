"""Make the library (workflow_scripts/nusmooth) importable from the tests, as the stage scripts see
it, and run the tiny end-to-end workflow once per test session for every test that reads it."""

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))


@pytest.fixture(scope="session")
def tiny_all(tmp_path_factory):
    """A working directory where `snakemake all` and `snakemake --report` ran on the tiny config.

    Tests must not change it: copy it first (:func:`copy_run`) to grow, damage or rerun a run.
    """
    from workflow import snakemake

    workdir = tmp_path_factory.mktemp("tiny_all")
    result = snakemake(workdir, "all", "--cores", "2", "--resources", "gpu=1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = snakemake(workdir, "--report", str(workdir / "report.html"))
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    return workdir


def copy_run(source: Path, target: Path) -> Path:
    """A copy of a run directory with Snakemake's metadata (so the copy knows what is up to date)."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    return target


class RunsCodeWhenUnpickled:
    """A pickle payload whose unpickling creates ``marker``: proof that loading a file ran its code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
