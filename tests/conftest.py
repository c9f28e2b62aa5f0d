"""Fixtures shared by every test level (tests/unit, tests/workflow, tests/cluster); plain helpers are
in tests/support. Makes the library (workflow_scripts/nusmooth) and the tests' support package
importable, as the stage scripts see the library, and makes what several tests read once per session:
the tiny end-to-end run (started in the background when the session starts, support/tiny_run.py),
and the paper preset's dry run through the SLURM profile."""

import os
import sys
from pathlib import Path

import pytest

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "workflow_scripts")]

from support import REPO  # noqa: E402 (needs the path above)
from support.tiny_run import TINY_RUN  # noqa: E402
from support.workflow import paper_dry_run  # noqa: E402


def pytest_collection_finish(session):
    """Start the tiny run when a selected test reads it (the SLURM level starts it for itself)."""
    if not session.config.option.collectonly and any(
        "tiny_all" in getattr(item, "fixturenames", ()) for item in session.items
    ):
        TINY_RUN.start(os.environ)


@pytest.hookimpl(trylast=True)  # after tests/cluster/conftest.py has stopped the runs that copy it
def pytest_sessionfinish(session):
    TINY_RUN.stop(remove=session.testsfailed == 0)


@pytest.fixture(scope="session")
def tiny_all():
    """A working directory where `snakemake all` and `snakemake --report` ran on the tiny config.

    Tests must not change it: copy it first (:func:`support.copy_run`) to grow, damage or rerun a run.
    """
    return TINY_RUN.result()


@pytest.fixture(scope="session")
def paper_dag(tmp_path_factory):
    """`snakemake all -n` of the paper preset with the SLURM profile (no check of a cluster, GPU jobs
    capped at 1,000 minutes): the whole 1,000-job DAG and each job's resources, planned once."""
    env = {**os.environ, "NUSMOOTH_SLURM_SKIP_CHECK": "1", "NUSMOOTH_SLURM_GPU_MAX_RUNTIME": "1000"}
    done = paper_dry_run(
        tmp_path_factory.mktemp("paper_dag"), "all", "--profile", str(REPO / "profiles/slurm"), env=env
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done
