"""The SLURM site settings, in one importable place: the environment variables of
``profiles/slurm/config.yaml`` read and checked, each rule's request, and the preflight that asks
SLURM whether it would take the jobs before anything is submitted. The profile imports this module
(its ``__definitions__`` find this folder from the profile's own path, since Snakemake loads a profile
before the workflow puts ``workflow_scripts`` on the path); ``rules/common.smk`` reads the GPU
partition's time limit and the device check report here; tests/unit/test_slurm_site.py calls every
function in-process. Imports nothing heavy: it runs whenever the profile or the Snakefile is loaded.

The variables (documented in the profile and docs/slurm.md): SBATCH_ACCOUNT, SBATCH_PARTITION,
NUSMOOTH_SLURM_GPU_PARTITION, NUSMOOTH_SLURM_MAX_RUNTIME, NUSMOOTH_SLURM_GPU_MAX_RUNTIME,
NUSMOOTH_SLURM_GPU_MODEL, NUSMOOTH_SLURM_GPU_CONSTRAINT, NUSMOOTH_SLURM_DEVICE_CHECK and
NUSMOOTH_SLURM_SKIP_CHECK.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from nusmooth.cost import GPU_RULES  # the profile asks for each of them (its set-resources loop)

CPU_LIMIT_VARIABLE = "NUSMOOTH_SLURM_MAX_RUNTIME"
GPU_LIMIT_VARIABLE = "NUSMOOTH_SLURM_GPU_MAX_RUNTIME"
DEVICE_CHECK_VARIABLE = "NUSMOOTH_SLURM_DEVICE_CHECK"


class SlurmProfileError(ValueError):
    """A site setting that SLURM or the plugin would reject; the message says which and the fix."""


def site(variable: str, fallback: str | None = None, environ=os.environ) -> str | None:
    """An environment setting, or the fallback variable's, or None when neither is set."""
    value = environ.get(variable, "").strip()
    return value or (site(fallback, environ=environ) if fallback else None)


def quoted(value) -> str:
    """A string as a Python literal: Snakemake evaluates resource values as Python expressions (a
    partition named `all` would otherwise become the built-in function all())."""
    return repr(str(value))


def minutes_limit(variable: str, fallback: str | None = None, environ=os.environ) -> int | None:
    """A time limit in whole minutes from the environment, None when unset."""
    value = site(variable, fallback, environ)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise SlurmProfileError(
            f"{variable}={value!r}: give the partition's time limit in whole minutes, "
            "e.g. 2880 for 2-00:00:00 (`sinfo -o '%P %l'` lists the limits)"
        )
    return int(value)


def cpu_time_limit(environ=os.environ) -> int | None:
    """The time limit of the partition of every job, in minutes; None when unset (no cap)."""
    return minutes_limit(CPU_LIMIT_VARIABLE, environ=environ)


def gpu_time_limit(environ=os.environ) -> int | None:
    """The GPU partition's time limit in minutes (else the partition's of every job); None when unset."""
    return minutes_limit(GPU_LIMIT_VARIABLE, CPU_LIMIT_VARIABLE, environ)


def gpu_model(environ=os.environ) -> str | None:
    model = site("NUSMOOTH_SLURM_GPU_MODEL", environ=environ)
    if model and not re.fullmatch(r"[A-Za-z0-9_.]+", model):
        raise SlurmProfileError(
            f"NUSMOOTH_SLURM_GPU_MODEL={model!r}: the SLURM executor plugin accepts GPU model names of "
            "letters, digits, '_' and '.' only. Ask for such GPUs by node feature instead: unset it and set "
            "NUSMOOTH_SLURM_GPU_CONSTRAINT to the feature (`sinfo -o '%N %f %G'` lists features and GPU types)"
        )
    return model


def request(mem_mb: int, runtime: int | None = None, gpu: bool = False, environ=os.environ) -> dict:
    """One rule's SLURM request (set-resources); runtime in minutes, mem_mb in MB.

    Memory doubles on each retry (an OUT_OF_MEMORY kill needs more). A CPU rule's runtime doubles
    too, capped by the partition's limit (sbatch would reject the job or it would pend forever).
    GPU rules leave runtime to the rule itself: each job asks for a runtime scaled by its own
    work, capped by the same limit (rules/common.smk, gpu_runtime; docs/slurm.md)."""
    limit = gpu_time_limit(environ) if gpu else cpu_time_limit(environ)
    entry = {"mem_mb": f"{mem_mb} * attempt"}
    if runtime is not None:
        entry["runtime"] = f"min({runtime} * attempt, {limit})" if limit is not None else f"{runtime} * attempt"
    if gpu and site("NUSMOOTH_SLURM_GPU_PARTITION", environ=environ):
        entry["slurm_partition"] = quoted(site("NUSMOOTH_SLURM_GPU_PARTITION", environ=environ))
    if gpu and gpu_model(environ):
        entry["gpu_model"] = quoted(gpu_model(environ))
    if gpu and site("NUSMOOTH_SLURM_GPU_CONSTRAINT", environ=environ):
        entry["constraint"] = quoted(site("NUSMOOTH_SLURM_GPU_CONSTRAINT", environ=environ))
    return entry


# The longest runtime a CPU job asks for without a cap, retry included (summarize_test_split: 60 * 2),
# and a GPU one: the paper preset's longest GPU job (KITTI's sigma sweeps) asks for less than 300
# minutes at the GPU rate nusmooth.cost assumes (docs/slurm.md, "Runtime of each job").
LONGEST = {False: 120, True: 300}


def slurm_minutes(limit: str) -> int | None:
    """A SLURM time limit (``[days-]hours:minutes:seconds`` and its shorter forms) in whole minutes;
    None for an unlimited one (``infinite``, ``UNLIMITED``)."""
    if not re.fullmatch(r"(\d+-)?[\d:]+", limit):
        return None
    days, _, clock = limit.rpartition("-")
    seconds = 0
    for part in clock.split(":"):
        seconds = seconds * 60 + int(part)
    return (seconds + 86400 * int(days or 0)) // 60


def partition_minutes(partition: str | None) -> int | None:
    """The partition's time limit in minutes (sinfo; the default partition when None), None if unlimited."""
    done = subprocess.run(["sinfo", "-h", "-o", "%P %l"], capture_output=True, text=True, timeout=30)
    for name, limit in (line.split() for line in done.stdout.splitlines() if line.strip()):
        if (name.rstrip("*") == partition) if partition else name.endswith("*"):
            return slurm_minutes(limit)
    return None


def rejection_fix(said: str) -> str:
    """The fix for what ``sbatch --test-only`` said when it would reject a job."""
    said = said.lower()
    if "account" in said:
        return (
            "export SBATCH_ACCOUNT=<an account you may use in that partition> (yours: "
            "`sacctmgr -n show associations user=$USER format=account,partition`)"
        )
    if "partition" in said:
        return "export SBATCH_PARTITION (and NUSMOOTH_SLURM_GPU_PARTITION for the GPU rules) to one of your partitions (`sinfo -s`)"
    if "time limit" in said:
        return "export NUSMOOTH_SLURM_MAX_RUNTIME / NUSMOOTH_SLURM_GPU_MAX_RUNTIME: the partition's limit in minutes"
    return "see docs/slurm.md, 'Before your first submission'"


def preflight(gpu: bool, environ=os.environ) -> None:
    """Ask SLURM whether it would take this profile's jobs, before anything is submitted: the
    partition's time limit (sinfo) against the runtime asked for, then account, partition and
    GPU request (sbatch --test-only queues nothing). Stops with the fix where SLURM would not.
    Skipped without sbatch (not a SLURM host) and inside SLURM jobs."""
    if site("NUSMOOTH_SLURM_SKIP_CHECK", environ=environ) == "1" or site("SLURM_JOB_ID", environ=environ):
        return
    if not shutil.which("sbatch"):
        return
    kind = "GPU" if gpu else "CPU"
    if gpu:
        partition = site("NUSMOOTH_SLURM_GPU_PARTITION", "SBATCH_PARTITION", environ)
    else:
        partition = site("SBATCH_PARTITION", environ=environ)
    limit = gpu_time_limit(environ) if gpu else cpu_time_limit(environ)
    asked = min(LONGEST[gpu], limit) if limit else LONGEST[gpu]
    try:
        allowed = partition_minutes(partition)
        if allowed is not None and asked > allowed:
            variable = GPU_LIMIT_VARIABLE if gpu else CPU_LIMIT_VARIABLE
            raise SlurmProfileError(
                f"{kind} jobs would ask for {asked} minutes but partition {partition or '(default)'} allows "
                f"{allowed}: SLURM would reject them or leave them pending forever. Fix: export {variable}={allowed}"
            )
        account, constraint = site("SBATCH_ACCOUNT", environ=environ), site(
            "NUSMOOTH_SLURM_GPU_CONSTRAINT", environ=environ
        )
        call = ["sbatch", "--test-only", "--wrap", "true", f"--time={asked}"]
        call += [f"--account={account}"] if account else []
        call += [f"--partition={partition}"] if partition else []
        if gpu:
            call += [f"--gpus={gpu_model(environ)}:1" if gpu_model(environ) else "--gpus=1"]
            call += [f"--constraint={constraint}"] if constraint else []
        done = subprocess.run(call, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return  # an unresponsive controller: the submission itself will say more
    if done.returncode == 0:
        return
    said = (done.stderr or done.stdout).strip()
    raise SlurmProfileError(
        f"SLURM would reject the {kind} jobs (`{' '.join(call)}`): {said}\nFix: {rejection_fix(said)}. "
        "(NUSMOOTH_SLURM_SKIP_CHECK=1 skips this check.)"
    )


# --- the rates that size each GPU job's runtime -----------------------------------------------------
# Each GPU job asks SLURM for a runtime scaled by its own work (nusmooth.cost), at the rates of a
# device check report when NUSMOOTH_SLURM_DEVICE_CHECK names one, else at the GPU throughput that
# nusmooth.cost assumes; capped by gpu_time_limit(). Locally the value is unused. docs/slurm.md,
# "Runtime of each job", has the table for the paper preset.


def device_check_report(environ=os.environ) -> dict | None:
    """The device check report named by NUSMOOTH_SLURM_DEVICE_CHECK, None when unset."""
    path = site(DEVICE_CHECK_VARIABLE, environ=environ)
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise SlurmProfileError(
            f"{DEVICE_CHECK_VARIABLE}={path}: cannot read it as a device check report ({error}). Fix: point it at "
            "the JSON that `python benchmarks/device_check.py --out FILE` wrote, or unset it"
        ) from None
