"""The SLURM profile's functions (workflow_scripts/slurm_site.py) in-process: site settings, each rule's
request, the time limits, the preflight against stand-in `sinfo` / `sbatch` commands, and the profile
itself as Snakemake renders it. The real cluster: tests/cluster/test_slurm.py."""

import json
import os
import shutil
import stat

import pytest
from configargparse import ConfigFileParserException
from snakemake.profiles import ProfileConfigFileParser

from nusmooth.cost import GPU_RULES
from slurm_site import (
    SlurmProfileError,
    device_check_report,
    gpu_time_limit,
    preflight,
    quoted,
    rejection_fix,
    request,
    slurm_minutes,
)
from support import REPO

PROFILE = REPO / "profiles" / "slurm"


def test_time_limits_are_whole_minutes_and_the_gpu_one_falls_back():
    assert gpu_time_limit({}) is None
    assert gpu_time_limit({"NUSMOOTH_SLURM_MAX_RUNTIME": "600"}) == 600
    assert gpu_time_limit({"NUSMOOTH_SLURM_MAX_RUNTIME": "600", "NUSMOOTH_SLURM_GPU_MAX_RUNTIME": " 90 "}) == 90
    for bad in ("2-00:00:00", "0", "1.5"):
        with pytest.raises(SlurmProfileError, match="whole minutes, e.g. 2880 for 2-00:00:00"):
            gpu_time_limit({"NUSMOOTH_SLURM_GPU_MAX_RUNTIME": bad})


def test_a_cpu_rule_doubles_memory_and_runtime_on_retry_capped_by_the_limit():
    assert request(8000, runtime=30, environ={}) == {"mem_mb": "8000 * attempt", "runtime": "30 * attempt"}
    capped = request(8000, runtime=60, environ={"NUSMOOTH_SLURM_MAX_RUNTIME": "100"})
    assert capped == {"mem_mb": "8000 * attempt", "runtime": "min(60 * attempt, 100)"}


def test_a_gpu_rule_leaves_runtime_to_the_rule_and_takes_the_gpu_settings_quoted():
    assert request(16000, gpu=True, environ={}) == {"mem_mb": "16000 * attempt"}
    environ = {
        "NUSMOOTH_SLURM_GPU_PARTITION": "all",
        "NUSMOOTH_SLURM_GPU_MODEL": "a100",
        "NUSMOOTH_SLURM_GPU_CONSTRAINT": "nvidia_a100-sxm4-80gb",
    }
    assert request(16000, gpu=True, environ=environ) == {
        "mem_mb": "16000 * attempt",
        "slurm_partition": "'all'",  # unquoted, Snakemake would evaluate it as the built-in all()
        "gpu_model": "'a100'",
        "constraint": "'nvidia_a100-sxm4-80gb'",
    }
    assert quoted(7) == "'7'"
    with pytest.raises(SlurmProfileError, match="NUSMOOTH_SLURM_GPU_CONSTRAINT to the feature"):
        request(16000, gpu=True, environ={"NUSMOOTH_SLURM_GPU_MODEL": "nvidia_a100-sxm4-80gb"})


@pytest.mark.parametrize(
    "limit,minutes",
    [
        ("2-00:00:00", 2880),
        ("1-12:30:00", 2190),
        ("1:00:00", 60),
        ("30:00", 30),
        ("infinite", None),
        ("UNLIMITED", None),
    ],
)
def test_slurm_time_limits_in_minutes(limit, minutes):
    assert slurm_minutes(limit) == minutes


@pytest.mark.parametrize(
    "said,fix",
    [
        ("sbatch: error: Invalid account or account/partition combination specified", "export SBATCH_ACCOUNT="),
        ("sbatch: error: invalid partition specified: gpux", "export SBATCH_PARTITION"),
        ("sbatch: error: Requested time limit is invalid", "NUSMOOTH_SLURM_MAX_RUNTIME"),
        ("sbatch: error: something else", "docs/slurm.md"),
    ],
)
def test_each_rejection_gets_its_fix(said, fix):
    assert fix in rejection_fix(said)


def stand_in(folder, name, script):
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def slurm_commands(tmp_path, monkeypatch):
    """Stand-in sinfo (a default partition of 2 days, a 1-minute GPU one) and sbatch (refuses any
    account but `mine`, writes its arguments to calls.txt) first on the PATH."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    stand_in(bin_folder, "sinfo", 'printf "main* 2-00:00:00\\nshort 1:00\\n"\n')
    stand_in(
        bin_folder,
        "sbatch",
        f'echo "$@" >> {tmp_path}/calls.txt\n'
        'case "$*" in *--account=*) ;; *) exit 0;; esac\n'
        'case "$*" in *--account=mine*) exit 0;; esac\n'
        'echo "sbatch: error: Invalid account or account/partition combination specified" >&2; exit 1\n',
    )
    monkeypatch.setenv("PATH", f"{bin_folder}:{os.environ['PATH']}")
    return tmp_path / "calls.txt"


def test_preflight_asks_sbatch_and_stops_with_the_fix(slurm_commands):
    preflight(gpu=False, environ={})
    preflight(gpu=True, environ={"SBATCH_ACCOUNT": "mine", "NUSMOOTH_SLURM_GPU_MODEL": "a100"})
    calls = slurm_commands.read_text().splitlines()
    assert calls == [
        "--test-only --wrap true --time=120",
        "--test-only --wrap true --time=300 --account=mine --gpus=a100:1",
    ]
    with pytest.raises(SlurmProfileError) as refused:
        preflight(gpu=False, environ={"SBATCH_ACCOUNT": "theirs"})
    assert "SLURM would reject the CPU jobs" in str(refused.value) and "export SBATCH_ACCOUNT=" in str(refused.value)


def test_preflight_compares_the_runtime_asked_for_with_the_partitions_limit(slurm_commands):
    with pytest.raises(SlurmProfileError, match="allows 1: .*Fix: export NUSMOOTH_SLURM_GPU_MAX_RUNTIME=1"):
        preflight(gpu=True, environ={"NUSMOOTH_SLURM_GPU_PARTITION": "short"})
    preflight(gpu=True, environ={"NUSMOOTH_SLURM_GPU_PARTITION": "short", "NUSMOOTH_SLURM_GPU_MAX_RUNTIME": "1"})
    assert slurm_commands.read_text().splitlines() == ["--test-only --wrap true --time=1 --partition=short --gpus=1"]


def test_preflight_is_skipped_on_request_and_inside_slurm_jobs(slurm_commands):
    preflight(gpu=True, environ={"NUSMOOTH_SLURM_SKIP_CHECK": "1", "NUSMOOTH_SLURM_GPU_PARTITION": "short"})
    preflight(gpu=True, environ={"SLURM_JOB_ID": "12", "NUSMOOTH_SLURM_GPU_PARTITION": "short"})
    assert not slurm_commands.exists()


def test_the_device_check_report_is_read_or_refused_with_the_fix(tmp_path):
    assert device_check_report({}) is None
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"architectures": {}}))
    assert device_check_report({"NUSMOOTH_SLURM_DEVICE_CHECK": str(report)}) == {"architectures": {}}
    with pytest.raises(SlurmProfileError, match="NUSMOOTH_SLURM_DEVICE_CHECK=.*absent.json.*device_check.py --out"):
        device_check_report({"NUSMOOTH_SLURM_DEVICE_CHECK": str(tmp_path / "absent.json")})


def rendered(profile_file) -> dict:
    """The profile as Snakemake reads it (YTE, then its key=value lists)."""
    with open(profile_file) as stream:
        return ProfileConfigFileParser().parse(stream)


def test_the_profile_asks_for_each_gpu_rule_with_the_sites_gpu_settings(monkeypatch):
    monkeypatch.setenv("NUSMOOTH_SLURM_SKIP_CHECK", "1")
    monkeypatch.setenv("NUSMOOTH_SLURM_GPU_PARTITION", "gpu")
    monkeypatch.setenv("SBATCH_ACCOUNT", "all")
    profile = rendered(PROFILE / "config.yaml")
    resources = profile["set-resources"]
    for rule in GPU_RULES:
        assert f"{rule}:mem_mb=16000 * attempt" in resources and f"{rule}:slurm_partition='gpu'" in resources
    assert not any(entry.startswith(f"{rule}:runtime") for entry in resources for rule in GPU_RULES)
    assert "prepare_data:runtime=30 * attempt" in resources
    assert {entry.split(":")[0] for entry in resources} == set(GPU_RULES) | {"prepare_data", "summarize_test_split"}
    assert profile["default-resources"] == ["slurm_account='all'"]


def test_a_copy_of_the_profile_outside_the_repository_says_where_to_keep_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NUSMOOTH_SLURM_SKIP_CHECK", "1")
    copy = shutil.copytree(PROFILE, tmp_path / "mysite")
    monkeypatch.chdir(REPO)  # run from the repository's root: found there
    assert rendered(copy / "config.yaml")["executor"] == "slurm"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigFileParserException, match="keep the profile .* under the repository's profiles/"):
        rendered(copy / "config.yaml")
