"""Fixtures shared by every test level (tests/unit, tests/workflow, tests/cluster); plain helpers are
in tests/support. Makes the library (workflow_scripts/nusmooth) and the tests' support package
importable, as the stage scripts see the library, and runs the tiny end-to-end workflow once per test
session for every test that reads it."""

import sys
from pathlib import Path

import pytest

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "workflow_scripts")]

from support.workflow import snakemake  # noqa: E402 (needs the path above)


@pytest.fixture(scope="session")
def tiny_all(tmp_path_factory):
    """A working directory where `snakemake all` and `snakemake --report` ran on the tiny config.

    Tests must not change it: copy it first (:func:`support.copy_run`) to grow, damage or rerun a run.
    """
    workdir = tmp_path_factory.mktemp("tiny_all")
    result = snakemake(workdir, "all", "--cores", "2", "--resources", "gpu=1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = snakemake(workdir, "--report", str(workdir / "report.html"))
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    return workdir
