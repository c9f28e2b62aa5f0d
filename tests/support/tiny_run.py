"""The session's tiny end-to-end run: `snakemake all` and `snakemake --report` on the tiny config
(tests/config_tiny.yaml), read by the workflow level (the `tiny_all` fixture) and by the SLURM level,
whose runs are compared with it.

It starts in a background thread when the session starts (tests/conftest.py), so that it runs beside
the unit level and the SLURM level can use it as soon as it is done; whoever needs it waits for it
with :meth:`TinyRun.result`.
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

from support.workflow import snakemake_command


class TinyRun:
    def __init__(self):
        self._lock = threading.Lock()
        self._future: Future | None = None
        self._process: subprocess.Popen | None = None
        self._stopped = False
        self.workdir: Path | None = None

    def start(self, environ: dict[str, str]) -> None:
        """Start the run (once; later calls do nothing) with the environment ``environ``."""
        with self._lock:
            if self._future is not None:
                return
            self._future = Future()
            self.workdir = Path(tempfile.mkdtemp(prefix="nusmooth-tiny-run-"))
        threading.Thread(target=self._run, args=(dict(environ),), name="tiny run", daemon=True).start()

    def _snakemake(self, *args: str, environ: dict[str, str]) -> None:
        with self._lock:
            if self._stopped:
                raise RuntimeError("the session ended before the tiny run")
            self._process = subprocess.Popen(
                snakemake_command(self.workdir, *args),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environ,
                start_new_session=True,  # its jobs too are stopped with it (stop)
            )
        out, err = self._process.communicate()
        assert self._process.returncode == 0, f"snakemake {' '.join(args)} failed:\n{out[-3000:]}{err[-3000:]}"

    def _run(self, environ: dict[str, str]) -> None:
        try:
            self._snakemake("all", "--cores", "2", "--resources", "gpu=1", environ=environ)
            self._snakemake("--report", str(self.workdir / "report.html"), environ=environ)
            self._future.set_result(self.workdir)
        except BaseException as error:
            self._future.set_exception(error)

    def result(self) -> Path:
        """The run's working directory once it has finished; its error if it failed."""
        if self._future is None:
            raise RuntimeError("the tiny run was never started (tests/conftest.py starts it)")
        return self._future.result()

    def stop(self, remove: bool) -> None:
        """End a run still going (the session's end) and, if ``remove``, delete its directory."""
        with self._lock:
            self._stopped = True
            if self._process is not None and self._process.poll() is None:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=30)
        if remove and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


#: The one tiny run of the session.
TINY_RUN = TinyRun()
