"""The SLURM level starts in the background when the session starts and its tests run last
(slurm_level.py says why). These hooks are called for the whole session, whichever levels it runs:
nothing starts unless a `slurm` test is selected, and nothing for `--collect-only`."""

import tempfile
from pathlib import Path

import pytest
from slurm_level import SlurmLevel

LEVEL: SlurmLevel | None = None


def is_slurm(item) -> bool:
    return item.get_closest_marker("slurm") is not None


def pytest_collection_modifyitems(items):
    """The SLURM level's tests last, in their order (a stable sort): their runs get the whole session."""
    items.sort(key=is_slurm)


def pytest_collection_finish(session):
    global LEVEL
    if session.config.option.collectonly or not any(is_slurm(item) for item in session.items):
        return
    LEVEL = SlurmLevel(Path(tempfile.mkdtemp(prefix="nusmooth-slurm-level-")))
    LEVEL.start()


def pytest_sessionfinish(session):
    if LEVEL is None:
        return
    LEVEL.stop()
    if session.testsfailed == 0:
        LEVEL.cleanup()
    else:  # kept, with the daemons' logs, for diagnosis
        kept = f"the SLURM level's runs are kept in {LEVEL.root}" + (
            f", the test cluster's configuration and logs in {LEVEL.cluster.root}" if LEVEL.cluster else ""
        )
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(kept)


@pytest.fixture
def slurm_level() -> SlurmLevel:
    return LEVEL
