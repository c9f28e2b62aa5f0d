"""Fixtures shared by every test level (tests/unit, tests/workflow, tests/cluster); plain helpers are
in tests/support. Makes the library (workflow_scripts/nusmooth) and the tests' support package
importable, as the stage scripts see the library, and makes what several tests read once per session:
the tiny end-to-end run and the five-dataset run (made in the background: support/background_run.py),
and the paper preset's dry run through the SLURM profile."""

import os
import sys
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning, in this process and in every process the tests start
# (Snakemake, its jobs, SLURM's jobs: they inherit the environment). The session runs many torch
# processes of two threads each on two cores: a thread waiting for its descheduled partner spun for
# nothing, about 40% more CPU time for the same work (a two-thread convolution beside a busy core:
# 3.6-3.9 CPU-s spinning, 2.1-2.6 passive, in the same wall time). Arithmetic is unchanged: results
# are bit for bit the same. Set before torch loads its OpenMP runtime, which reads it once.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "workflow_scripts")]

from support import REPO  # noqa: E402 (needs the path above)
from support.datasets_run import DATASETS_RUN  # noqa: E402
from support.tiny_run import TINY_RUN  # noqa: E402
from support.workflow import paper_dry_run  # noqa: E402

#: The background runs, by the fixture that reads each: the tiny run starts with the session (the
#: workflow and SLURM levels wait for it), the five-dataset run with the first test outside the unit
#: level (BackgroundRun.starts_after_the_unit_level; support/datasets_run.py says why).
BACKGROUND_RUNS = {"tiny_all": TINY_RUN, "datasets_run": DATASETS_RUN}
UNIT_LEVEL = Path(__file__).resolve().parent / "unit"
WANTED: list = []  # the background runs that the selected tests read


@pytest.hookimpl(tryfirst=True)  # before tests/cluster/conftest.py puts the SLURM level's tests last
def pytest_collection_modifyitems(items):
    """The five-dataset run's tests after the other tests (a stable sort): the run, at a lower
    priority, has the rest of the session to use the cores the other tests leave idle."""
    items.sort(key=lambda item: "datasets_run" in getattr(item, "fixturenames", ()))


def pytest_collection_finish(session):
    """Note each background run that a selected test reads and start those that start with the session
    (the SLURM level starts the tiny run for itself)."""
    if session.config.option.collectonly:
        return
    for fixture, run in BACKGROUND_RUNS.items():
        if any(fixture in getattr(item, "fixturenames", ()) for item in session.items):
            WANTED.append(run)
            if not run.starts_after_the_unit_level:
                run.start(os.environ)


def pytest_runtest_setup(item):
    if UNIT_LEVEL not in Path(item.path).parents:
        for run in WANTED:
            run.start(os.environ)  # once: later calls do nothing


@pytest.hookimpl(trylast=True)  # after tests/cluster/conftest.py has stopped the runs that copy it
def pytest_sessionfinish(session):
    for run in BACKGROUND_RUNS.values():
        run.stop(remove=session.testsfailed == 0)


@pytest.fixture(scope="session")
def tiny_all():
    """A working directory where `snakemake all` and `snakemake --report` ran on the tiny config.

    Tests must not change it: copy it first (:func:`support.copy_run`) to grow, damage or rerun a run.
    """
    return TINY_RUN.result()


@pytest.fixture(scope="session")
def datasets_run():
    """The five-dataset run (support/datasets_run.Run): `snakemake all` over Fashion-MNIST, CIFAR-10,
    an ImageNet-layout folder, a KITTI folder and an image folder of your own. Tests must not change it."""
    DATASETS_RUN.start(os.environ)  # already started, unless this test's setup came first
    return DATASETS_RUN.result()


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
