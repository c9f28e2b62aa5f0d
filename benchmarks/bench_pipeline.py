"""Wall time of the default pipeline (config.yaml) from scratch, in a scratch directory.

Prints the total wall time of ``snakemake figures/fig1.pdf --cores 4 --resources gpu=1`` and the
seconds of every benchmarked job (Snakemake's ``benchmark:`` files). Run on demand:
``python benchmarks/bench_pipeline.py [--target figures/fig1.pdf] [--keep DIR]``.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="figures/fig1.pdf")
    parser.add_argument("--cores", default="4")
    parser.add_argument("--keep", type=Path, help="run in this directory (kept) instead of a temporary one")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="nus-pipeline-"))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    command = [
        snakemake,
        args.target,
        "--cores",
        args.cores,
        "--resources",
        "gpu=1",
        "-s",
        str(REPO / "Snakefile"),
        "--configfile",
        str(REPO / "config.yaml"),
        "--directory",
        str(workdir),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    print(f"default pipeline ({args.target}): {wall:.1f} s wall, in {workdir}")
    rows = []
    for path in sorted((workdir / "benchmarks/results").rglob("*.tsv")):
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[0])
        rows.append((str(path.relative_to(workdir / "benchmarks/results").with_suffix("")), seconds))
    for job, seconds in rows:
        print(f"  {job:55s} {seconds:8.1f} s")
    print(f"  {'sum of benchmarked jobs':55s} {sum(s for _, s in rows):8.1f} s")


if __name__ == "__main__":
    main()
