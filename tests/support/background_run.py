"""Snakemake runs that the session makes in the background (tests/conftest.py starts them), so that they
use the cores while other tests run in the foreground; whoever reads one waits for it with
:meth:`BackgroundRun.result`. Two exist: the tiny run (support/tiny_run.py), started with the session,
which the workflow and SLURM levels compare with, and the five-dataset run (support/datasets_run.py),
started after the unit level at a lower CPU priority: nothing waits for it but its own tests, so it
takes the core that the other tests leave idle.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from support.workflow import TINY_CONFIG, snakemake_command


class BackgroundRun:
    """One working directory and the Snakemake invocations that ``work`` makes in it, in a thread.

    ``prepare(root)`` runs at :meth:`start`, in the calling thread (what must not share a process's
    torch with the tests running meanwhile, e.g. scripting a model); ``work(run, prepared)`` runs in
    the background and returns what :meth:`result` gives. ``niceness`` is added to the priority of
    every process the run starts (Snakemake and its jobs); ``starts_after_the_unit_level``: started
    by the first selected test outside tests/unit, not with the session (tests/conftest.py)."""

    def __init__(
        self,
        name: str,
        work: Callable[[BackgroundRun, object], object],
        prepare: Callable[[Path], object] | None = None,
        niceness: int = 0,
        starts_after_the_unit_level: bool = False,
    ):
        self.name, self._work, self._prepare, self.niceness = name, work, prepare, niceness
        self.starts_after_the_unit_level = starts_after_the_unit_level
        self.environ: dict[str, str] = {}
        self._lock = threading.Lock()
        self._future: Future | None = None
        self._process: subprocess.Popen | None = None
        self._stopped = False
        self.root: Path | None = None

    def start(self, environ: dict[str, str]) -> None:
        """Start the run (once; later calls do nothing) with the environment ``environ``."""
        with self._lock:
            if self._future is not None:
                return
            self._future = Future()
            self.root = Path(tempfile.mkdtemp(prefix=f"nusmooth-{self.name}-run-"))
        self.environ = dict(environ)
        try:
            prepared = self._prepare(self.root) if self._prepare else None
        except BaseException as error:
            self._future.set_exception(error)
            return
        threading.Thread(target=self._run, args=(prepared,), name=f"{self.name} run", daemon=True).start()

    def snakemake(self, workdir: Path, *args: str, configfile: Path = TINY_CONFIG) -> subprocess.CompletedProcess:
        """``snakemake ARGS...`` in ``workdir`` (support.workflow.snakemake_command), output captured."""
        command = snakemake_command(workdir, *args, configfile=configfile)
        if self.niceness:
            command = ["nice", "-n", str(self.niceness), *command]
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"the session ended before the {self.name} run")
            self._process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.environ,
                start_new_session=True,  # its jobs too are stopped with it (stop)
            )
        out, err = self._process.communicate()
        return subprocess.CompletedProcess(command, self._process.returncode, out, err)

    def _run(self, prepared) -> None:
        try:
            self._future.set_result(self._work(self, prepared))
        except BaseException as error:
            self._future.set_exception(error)

    def result(self):
        """What ``work`` returned once the run has finished; its error if it failed."""
        if self._future is None:
            raise RuntimeError(f"the {self.name} run was never started (tests/conftest.py starts it)")
        return self._future.result()

    def stop(self, remove: bool) -> None:
        """End a run still going (the session's end) and, if ``remove``, delete its directory."""
        with self._lock:
            self._stopped = True
            if self._process is not None and self._process.poll() is None:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=30)
        if remove and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
