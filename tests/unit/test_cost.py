"""nusmooth.cost: the work of every job counted from the configuration (closed forms on the paper
preset), the FLOPs behind it, and the SLURM runtime each job asks for."""

import numpy as np
import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from support import REPO

from nusmooth import cost
from nusmooth.datasets.common import carve_validation, split_pool
from nusmooth.networks import build_model
from nusmooth.registry import ARCHITECTURES, DATASETS

PRESET = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())
MNIST = PRESET["datasets"]["mnist"]


def job(rule, **wildcards):
    return cost.Job(rule, tuple(wildcards.items()))


def test_mnist_jobs_of_the_paper_preset_in_closed_form():
    """53,333 / 6,667 / 10,000 images; 20 constants, 5 sub-epochs, 64 copies; sweeps n0 + n = 576 on
    every validation point (racing's four stages, at their worst case: nothing dropped; blocks of whole
    batches of 125 points) and on the test points of at most 10 front members per kind; Figure 1
    n0 + n = 1,100 on the 10,000 test points."""
    assert cost.split_sizes("mnist", MNIST) == {"train": 53333, "val": 6667, "test": 10000}
    assert cost.job_work(job("train_base", dataset="mnist"), "mnist", MNIST) == cost.Work(
        training=14 * 53333, forward=14 * 6667
    )
    sweep = job("optimize_sigma", dataset="mnist", init="0.3081")
    assert cost.job_work(sweep, "mnist", MNIST) == cost.Work(forward_backward=5 * 53333 * 64)
    assert cost.validation_schedule("mnist", MNIST, 1000) == (875, 1750, 3375, 6667)
    stages = [job("race_stage", dataset="mnist", kind="learned", init="0.3081", stage=str(s)) for s in (1, 2, 3)]
    assert [cost.job_work(j, "mnist", MNIST).forward for j in stages] == [5 * b * 576 for b in (875, 875, 1625)]
    last = job("evaluate_sigma", dataset="mnist", kind="isotropic", init="0.3081", split="val")
    assert cost.job_work(last, "mnist", MNIST) == cost.Work(forward=1 * (6667 - 3375) * 576)
    front = job("certify_front", dataset="mnist", kind="learned")
    assert cost.job_work(front, "mnist", MNIST) == cost.Work(forward=10 * 10000 * 576)
    certify = job("certify", dataset="mnist", init="0.3081", kind="learned")
    assert cost.job_work(certify, "mnist", MNIST) == cost.Work(forward=10000 * 1100)
    envelope_val = job("certify_envelope", dataset="mnist", constant="0.12", split="val")
    envelope_test = job("certify_envelope", dataset="mnist", constant="0.12", split="test")
    assert cost.job_work(envelope_val, "mnist", MNIST) == cost.Work(forward=1000 * 1100)  # fig1.envelope.val_points
    assert cost.job_work(envelope_test, "mnist", MNIST) == cost.Work(forward=10000 * 1100)
    assert cost.chosen_on_validation(envelope_test) and not cost.chosen_on_validation(envelope_val)
    jobs = cost.figure_jobs("mnist", MNIST)
    # Figure 1: 2 constants x (learned, arithmetic and geometric mean), the envelope's 7 constants on
    # validation and, as a bound, on test; the sweeps: three racing stages and the last per sweep.
    assert len(jobs["all"]) == 1 + 20 + 20 * 2 * 4 + 2 + 2 * 3 + 7 * 2
    assert len(jobs["fig1"]) == 1 + 2 + 2 * 2 * 4 + 2 * 3 + 7 * 2 and len(jobs["fig3"]) == 1 + 2 + 2 * 4
    assert set(jobs["fig2"]) | set(jobs["fig1"]) == set(jobs["all"]) and "fig4" not in jobs
    assert "fig4" in cost.figure_jobs("kitti", PRESET["datasets"]["kitti"])
    work = cost.stage_work("mnist", MNIST)
    assert work["race_stage"].forward + work["evaluate_sigma"].forward == 20 * (5 + 1) * 6667 * 576
    assert work["certify_front"].forward == 2 * 10 * 10000 * 576


def test_the_full_sweep_is_the_pipeline_before_racing():
    """One validation and one test job per sweep, every candidate on every point."""
    full = cost.full_sweep(MNIST)
    jobs = cost.figure_jobs("mnist", full)
    assert (
        len(jobs["all"]) == 1 + 20 + 20 * 2 * 2 + 2 * 3 + 7 * 2
        and {j.rule for j in jobs["all"]} & {"race_stage"} == set()
    )
    learned = job("evaluate_sigma", dataset="mnist", kind="learned", init="0.3081", split="test")
    assert cost.job_work(learned, "mnist", full) == cost.Work(forward=5 * 10000 * 576)
    assert cost.stage_work("mnist", full)["evaluate_sigma"].forward == 20 * (5 + 1) * (6667 + 10000) * 576
    # The validation work is the same (racing is counted at its worst case); the test work falls from
    # 120 candidates to 20 front members: (6,667 + 10,000) / (6,667 + 10,000 / 6) = 2.0.
    before = cost.figure_work("mnist", full, rules=cost.SWEEP_RULES)["fig2"].forward
    after = cost.figure_work("mnist", MNIST, rules=cost.SWEEP_RULES)["fig2"].forward
    assert before / after == pytest.approx(120 * 16667 / (120 * 6667 + 20 * 10000))


def test_the_sweep_defaults_are_the_schemas():
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    sweep = schema["$defs"]["dataset"]["properties"]["sweep_eval"]["properties"]
    assert cost.SWEEP_DEFAULTS == {
        "racing": {key: value["default"] for key, value in sweep["racing"]["properties"].items()},
        "test_front_members": sweep["test_front_members"]["default"],
        "test_cloud": sweep["test_cloud"]["default"],
    }
    assert cost.CERTIFY_BATCH_SIZE == schema["properties"]["certify_batch_size"]["default"]


def test_a_packaged_model_costs_no_training():
    imagenet = PRESET["datasets"]["imagenet"]
    assert cost.job_work(job("train_base", dataset="imagenet"), "imagenet", imagenet) == cost.Work()
    assert cost.split_sizes("imagenet", imagenet) == {"train": 5000, "val": 1000, "test": 1000}


@pytest.mark.parametrize("name", ["mnist", "cifar10", "kitti"])
def test_split_sizes_agree_with_the_dataset_preparers(name):
    """The sizes counted are the sizes the real preparers cut (one class: no stratification rounding)."""
    block = PRESET["datasets"][name]
    fractions = {part: block["split"][part] for part in ("train", "val", "test")}
    pool = DATASETS[name].pool_sizes
    if "pool" in pool:
        parts = split_pool(np.zeros(pool["pool"], dtype=np.int64), fractions, 0)
        expected = {part: len(index) for part, index in parts.items()}
    else:
        parts = carve_validation(np.zeros(pool["train"], dtype=np.int64), fractions, 0)
        expected = {"train": len(parts["train"]), "val": len(parts["val"]), "test": pool["test"]}
    assert cost.split_sizes(name, block) == expected


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_forward_flops_and_multiples_are_torch_flop_counts(arch):
    """The registry's FLOPs per forward pass, and the forward+backward (to the inputs) and training
    multiples, as torch's flop counter counts them."""
    shape, classes = ARCHITECTURES[arch].input_shape, ARCHITECTURES[arch].benchmark_classes
    model = build_model(arch, classes, [0.5] * shape[0], [0.25] * shape[0]).eval()
    with FlopCounterMode(display=False) as forward:
        with torch.no_grad():
            model(torch.rand(1, *shape))
    assert forward.get_total_flops() == ARCHITECTURES[arch].forward_flops
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with FlopCounterMode(display=False) as to_inputs:
        model(torch.rand(1, *shape, requires_grad=True)).sum().backward()
    assert to_inputs.get_total_flops() / forward.get_total_flops() == pytest.approx(
        cost.FLOP_MULTIPLES["forward_backward"], rel=0.02
    )
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    with FlopCounterMode(display=False) as training:
        model.train()(torch.rand(2, *shape)).sum().backward()
    assert training.get_total_flops() / 2 / forward.get_total_flops() == pytest.approx(
        cost.FLOP_MULTIPLES["training"], rel=0.02
    )


def test_work_turns_into_seconds_and_flops():
    work = cost.Work(forward=1000, forward_backward=100, training=10)
    rates = {"forward": 500.0, "forward_backward": 50.0, "training": 5.0}
    assert work.seconds(rates) == pytest.approx(2 + 2 + 2)
    per = ARCHITECTURES["mnist_cnn"].forward_flops
    assert work.flops("mnist_cnn") == pytest.approx(per * (1000 + 2 * 100 + 3 * 10))
    assert cost.Work(forward=1) + cost.Work(training=2) == cost.Work(forward=1, training=2)


def test_runtime_scales_with_work_resumes_without_doubling_and_respects_the_cap():
    hour = 3600.0
    assert cost.runtime_minutes(0) == cost.MIN_MINUTES
    assert cost.runtime_minutes(hour) == cost.START_MINUTES + cost.SAFETY_FACTOR * 60
    assert cost.runtime_minutes(hour, attempt=2) == 2 * (cost.START_MINUTES + cost.SAFETY_FACTOR * 60)
    assert cost.runtime_minutes(hour, attempt=2, resumable=True) == cost.START_MINUTES + cost.SAFETY_FACTOR * 60
    assert cost.runtime_minutes(10 * hour, limit=60, resumable=True) == 60


def test_larger_jobs_ask_for_more_time():
    cifar = PRESET["datasets"]["cifar10"]
    small = job("evaluate_sigma", dataset="cifar10", kind="isotropic", init="0.25", split="val")
    large = job("evaluate_sigma", dataset="cifar10", kind="learned", init="0.25", split="test")
    assert cost.job_runtime_minutes(small, "cifar10", cifar) < cost.job_runtime_minutes(large, "cifar10", cifar)


def test_a_job_that_cannot_resume_and_cannot_fit_stops_with_the_fix():
    cifar = PRESET["datasets"]["cifar10"]
    learned = job("evaluate_sigma", dataset="cifar10", kind="learned", init="0.25", split="test")
    with pytest.raises(cost.RuntimeLimitError) as raised:
        cost.job_runtime_minutes(learned, "cifar10", cifar, limit=30)
    message = str(raised.value)
    assert "evaluate_sigma" in message and "30" in message and "datasets.cifar10.sweep_eval" in message
    sweep = job("optimize_sigma", dataset="cifar10", init="0.25")
    assert cost.job_runtime_minutes(sweep, "cifar10", cifar, limit=30) == 30  # resumes: capped, no error


def test_device_check_rates_replace_the_assumption():
    report = {
        "architectures": {
            "mnist_cnn": {
                "precisions": {
                    "fp32": {"certify_copies_per_s": 1e5, "sigma_copies_per_s": 4e4, "train_images_per_s": 2e4}
                }
            }
        }
    }
    assert cost.device_check_rates(report, "mnist_cnn") == {
        "forward": 1e5,
        "forward_backward": 4e4,
        "training": 2e4,
    }
    sweep = job("optimize_sigma", dataset="mnist", init="0.3081")
    seconds = 5 * 53333 * 64 / 4e4
    assert cost.job_runtime_minutes(
        sweep, "mnist", MNIST, rates=cost.device_check_rates(report, "mnist_cnn")
    ) == cost.runtime_minutes(seconds, resumable=True)
