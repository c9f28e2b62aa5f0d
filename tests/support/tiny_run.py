"""The session's tiny end-to-end run: `snakemake all` and `snakemake --report` on the tiny config
(tests/config_tiny.yaml), read by the workflow level (the `tiny_all` fixture) and by the SLURM level,
whose runs are compared with it. It starts in the background when the session starts
(support/background_run.py), at the tests' own priority: the workflow and SLURM levels wait for it.
"""

from __future__ import annotations

from pathlib import Path

from support.background_run import BackgroundRun


def run_all_and_report(run: BackgroundRun, _prepared) -> Path:
    """The run's working directory once `all` and the report are done."""
    for args in (("all", "--cores", "2", "--resources", "gpu=1"), ("--report", str(run.root / "report.html"))):
        done = run.snakemake(run.root, *args)
        assert done.returncode == 0, f"snakemake {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return run.root


#: The one tiny run of the session.
TINY_RUN = BackgroundRun("tiny", run_all_and_report)
