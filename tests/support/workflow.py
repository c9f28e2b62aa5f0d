"""Running the real Snakefile in a scratch directory (shared by the workflow tests)."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from support import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY_CONFIG = REPO / "tests" / "config_tiny.yaml"


def snakemake_command(workdir: Path, *args: str, configfile: Path | None = TINY_CONFIG) -> list[str]:
    """``snakemake TARGETS... --directory workdir`` with this repository's Snakefile (targets first:
    --resources and --configfile are greedy)."""
    command = [SNAKEMAKE, *args, "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return command


def snakemake(
    workdir: Path, *args: str, configfile: Path | None = TINY_CONFIG, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command`, its output captured."""
    return subprocess.run(
        snakemake_command(workdir, *args, configfile=configfile), capture_output=True, text=True, timeout=timeout
    )


#: The paper preset's ImageNet and KITTI paths: a dry run reads no data, so paths that do not exist do.
PAPER_PATHS = "datasets={imagenet: {source: {path: /nonexistent/ilsvrc}}, kitti: {source: {path: /nonexistent/kitti, split_by: frame}}}"


def paper_dry_run(
    workdir: Path, target: str, *args: str, env: dict | None = None, datasets: str = PAPER_PATHS
) -> subprocess.CompletedProcess:
    """``snakemake TARGET -n ARGS...`` with the paper preset, in ``workdir`` with the default config.yaml;
    ``datasets``: the ``datasets={...}`` config override (by default the paths of PAPER_PATHS)."""
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    command = [SNAKEMAKE, target, "-n", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(
        [*command, "--config", "preset=paper", datasets], capture_output=True, text=True, timeout=600, env=env
    )


def planned_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """``(rule, wildcards)`` of every job a dry run lists, wildcards as Snakemake prints them
    ("dataset=mnist5k, init=1"; empty for a rule without wildcards). Each job's block starts with
    "rule NAME:", "localrule NAME:", "checkpoint NAME:" or "localcheckpoint NAME:"; its "wildcards:"
    line comes before the next block."""
    jobs, rule, wildcards = set(), None, ""
    for line in dry_run_output.splitlines():
        text = line.strip()
        start = re.fullmatch(r"(?:local)?(?:rule|checkpoint) (\w+):", text)
        if start:
            if rule is not None:
                jobs.add((rule, wildcards))
            rule, wildcards = start.group(1), ""
        elif rule is not None and text.startswith("wildcards:"):
            wildcards = text.removeprefix("wildcards:").strip()
    if rule is not None:
        jobs.add((rule, wildcards))
    return jobs


def grown(tmp_path: Path, change) -> Path:
    """A copy of the tiny config changed by ``change(config)``, written to ``tmp_path`` (keys sorted)."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    change(config)
    path = tmp_path / "grown.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
