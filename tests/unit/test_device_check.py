"""benchmarks/device_check.py: its quick run on the CPU, and the paper workload it extrapolates to."""

import json
import math
import subprocess
import sys
import pytest
import yaml

from support import REPO

from nusmooth.cost import GPU_RULES

sys.path.insert(0, str(REPO / "benchmarks"))
import device_check  # noqa: E402

PRESET = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())
RATES = (
    "limit_copies_per_s",
    "certify_copies_per_s",
    "sigma_copies_per_s",
    "forward_backward_copies_per_s",
    "train_images_per_s",
    "certify_ratio",
    "sigma_ratio",
)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("device_check") / "report.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "device_check.py"), "--quick", "--device", "cpu", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(run.stdout) == report, "stdout must be exactly the JSON written to --out"
    return report


def test_quick_run_reports_every_rate_of_every_architecture_and_precision(quick_report):
    assert quick_report["quick"] is True and quick_report["goals_apply"] is False
    assert quick_report["machine"].startswith("CPU") and quick_report["torch"]
    architectures = quick_report["architectures"]
    assert set(architectures) == {"mnist_cnn", "resnet110", "resnet50"}
    assert architectures["mnist_cnn"]["input_shape"] == [1, 28, 28]
    assert architectures["resnet110"]["input_shape"] == [3, 32, 32]
    for arch, entry in architectures.items():
        assert set(entry["precisions"]) == {"fp32", "bf16"}, arch
        for precision, rates in entry["precisions"].items():
            for key in RATES:
                assert math.isfinite(rates[key]) and rates[key] > 0, (arch, precision, key, rates[key])


def test_quick_run_extrapolates_every_stage_and_figure_of_the_paper_preset(quick_report):
    assert set(quick_report["hours"]) == set(PRESET["run_datasets"])
    for name, per_precision in quick_report["hours"].items():
        for precision, hours in per_precision.items():
            stages, figures = hours["stages"], hours["figures"]
            assert set(stages) == set(GPU_RULES)
            pretrained = PRESET["datasets"][name]["model"].get("pretrained", False)
            assert (stages["train_base"] == 0) == pretrained, (name, stages["train_base"])
            assert all(math.isfinite(v) and v > 0 for key, v in stages.items() if key != "train_base"), (
                name,
                stages,
            )
            sweep_figure = "fig4" if name == "kitti" else "fig2"
            assert set(figures) == {"fig1", "fig3", sweep_figure, "all"}, (name, figures)
            # Figure 1 needs only a few of the sweeps; everything together costs the most.
            assert figures["fig3"] < figures["fig1"] < figures[sweep_figure] < figures["all"]
            assert figures["all"] == pytest.approx(sum(stages.values()), rel=1e-3)  # printed to 4 digits
    goals = quick_report["goals"]
    assert set(goals["certify_at_least_0.9_of_limit"]["values"]) == {
        f"{a}/{p}" for a in ("mnist_cnn", "resnet110", "resnet50") for p in ("fp32", "bf16")
    }
    assert set(goals["bf16_at_least_2x_fp32_on_resnets"]["values"]) == {"resnet110", "resnet50"}
    assert set(goals["mnist_figure2_sweep_under_1_hour"]["values"]) == {"fp32", "bf16"}


def test_workload_reads_the_preset_numbers():
    workloads = device_check.paper_workloads()
    mnist, imagenet = workloads["mnist"], workloads["imagenet"]
    sigma = PRESET["datasets"]["mnist"]["sigma"]
    assert mnist["inits"] == len(sigma["inits"]) == 20
    assert (mnist["sub_epochs"], mnist["n_train"], mnist["sigma_batch"]) == (
        sigma["sub_epochs"],
        sigma["n_train"],
        sigma["batch_size"],
    )
    assert (
        mnist["sweep_copies"]
        == PRESET["datasets"]["mnist"]["sweep_eval"]["n0"] + PRESET["datasets"]["mnist"]["sweep_eval"]["n"]
    )
    assert mnist["train_epochs"] == PRESET["datasets"]["mnist"]["model"]["epochs"]
    assert imagenet["train_epochs"] == 0, "ImageNet's ResNet-50 is pretrained: no training stage"
    assert imagenet["sizes"] == {"train": 5000, "val": 1000, "test": 1000}
