"""Running the real Snakefile in a scratch directory (shared by the workflow tests)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY_CONFIG = REPO / "tests" / "config_tiny.yaml"


def snakemake(workdir: Path, *args: str, configfile: Path | None = TINY_CONFIG, timeout: int = 900) -> subprocess.CompletedProcess:
    """``snakemake TARGETS... --directory workdir`` with this repository's Snakefile (targets first:
    --resources and --configfile are greedy)."""
    command = [SNAKEMAKE, *args, "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
