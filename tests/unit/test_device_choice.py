"""stage.compute_device: which device a stage runs on, and the stop when a scheduler assigned a
GPU that torch cannot use (instead of hours on the CPU until the job's time limit)."""

import warnings
from types import SimpleNamespace

import pytest
import torch

from stage import ALLOW_CPU_VARIABLE, GpuUnusableError, assigned_gpu, compute_device


def job(gpu=0):
    """The parts of Snakemake's `snakemake` object that compute_device reads."""
    return SimpleNamespace(threads=torch.get_num_threads(), resources={"gpu": gpu} if gpu else {})


@pytest.fixture
def cuda(monkeypatch):
    """Set what torch.cuda.is_available() answers (and the warning a too-old driver makes torch print)."""
    state = {"available": False, "warning": None}

    def is_available():
        if state["warning"]:
            warnings.warn(state["warning"])
        return state["available"]

    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    return state


@pytest.fixture
def cuda_device(monkeypatch):
    """torch.device('cuda') without a GPU: a stand-in that compute_device returns unchanged."""
    made = []
    real = torch.device

    def device(kind):
        made.append(kind)
        return real("cpu") if kind == "cuda" else real(kind)

    monkeypatch.setattr(torch, "device", device)
    return made


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, None),
        ({"CUDA_VISIBLE_DEVICES": ""}, None),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
        ({"SLURM_JOB_GPUS": "NoDevFiles"}, None),
        ({"SLURM_JOB_GPUS": "3"}, "SLURM_JOB_GPUS=3"),
        ({"CUDA_VISIBLE_DEVICES": "0,1"}, "CUDA_VISIBLE_DEVICES=0,1"),
        ({"SLURM_STEP_GPUS": "1", "CUDA_VISIBLE_DEVICES": "0"}, "SLURM_STEP_GPUS=1"),
    ],
)
def test_assigned_gpu_reads_the_scheduler_variables(environ, expected):
    assert assigned_gpu(environ) == expected


def test_no_gpu_assigned_and_no_cuda_runs_on_the_cpu(cuda):
    """A local run on a machine without a GPU: the CPU, as always (with or without the gpu resource)."""
    assert compute_device(job(gpu=1), environ={}).type == "cpu"
    assert compute_device(job(gpu=0), environ={}).type == "cpu"


def test_assigned_gpu_that_torch_cannot_use_stops_with_cause_and_fix(cuda, monkeypatch):
    cuda["warning"] = "The NVIDIA driver on your system is too old (found version 11040)."
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    with pytest.raises(GpuUnusableError) as error:
        compute_device(job(gpu=1), environ={"SLURM_JOB_GPUS": "0", "CUDA_VISIBLE_DEVICES": "0"})
    message = str(error.value)
    assert "SLURM_JOB_GPUS=0" in message  # what says a GPU was assigned
    assert "CUDA 12.8" in message and "driver" in message and "found version 11040" in message  # the cause
    assert "download.pytorch.org/whl/cu" in message and f"{ALLOW_CPU_VARIABLE}=1" in message  # the fixes


def test_cpu_only_torch_is_named_as_the_cause(cuda, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(GpuUnusableError, match="CPU-only build"):
        compute_device(job(gpu=1), environ={"CUDA_VISIBLE_DEVICES": "0"})


def test_the_gres_route_is_guarded_too(cuda):
    """A job that got its GPU through --gres=gpu:1 (no `gpu` resource in the rule) is checked as well."""
    with pytest.raises(GpuUnusableError):
        compute_device(job(gpu=0), environ={"SLURM_JOB_GPUS": "0"})


def test_explicit_opt_out_runs_on_the_cpu(cuda):
    environ = {"SLURM_JOB_GPUS": "0", ALLOW_CPU_VARIABLE: "1"}
    assert compute_device(job(gpu=1), environ=environ).type == "cpu"
    environ[ALLOW_CPU_VARIABLE] = "yes"  # only "1" opts out: anything else is not a clear yes
    with pytest.raises(GpuUnusableError):
        compute_device(job(gpu=1), environ=environ)


@pytest.mark.parametrize("gpu, environ", [(1, {}), (0, {"SLURM_JOB_GPUS": "0"}), (0, {"CUDA_VISIBLE_DEVICES": "0"})])
def test_cuda_is_used_when_asked_for_or_assigned_and_available(cuda, cuda_device, gpu, environ):
    cuda["available"] = True
    compute_device(job(gpu=gpu), environ=environ)
    assert cuda_device == ["cuda"]


def test_cuda_is_not_used_without_request_or_assignment(cuda, cuda_device):
    cuda["available"] = True
    compute_device(job(gpu=0), environ={})
    assert cuda_device == ["cpu"]
