"""Presets through the real Snakefile (dry runs): the paper preset plans every dataset, says which path
to set, makes KITTI's split a choice, and the command line beats the preset."""

import subprocess
from pathlib import Path

import torch

from support import REPO
from support.workflow import SNAKEMAKE


def dry_run(workdir: Path, *config: str) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    command = [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "figures/fig1.pdf"]
    return subprocess.run([*command, "--config", *config], capture_output=True, text=True, timeout=300)


def imagenet_block(tmp_path: Path) -> str:
    """ImageNet with a data folder that does not exist (a dry run reads no data) and a weights file that
    torch.save wrote but that holds no ResNet-50: the config check reads only its container."""
    weights = tmp_path / "r50.pth"
    torch.save({"w": torch.zeros(1)}, weights)
    return f"imagenet: {{source: {{path: /nonexistent/ilsvrc}}, model: {{weights: {weights}}}}}"


def test_paper_preset_dry_run_lists_every_dataset(paper_dag):
    """The paper preset's whole DAG (`all`; tests/conftest.py plans it once for this file and
    test_cost_dag.py) has every dataset's branch and Figure 1's certifications."""
    log = paper_dag.stdout + paper_dag.stderr
    for dataset in ("mnist", "fashion_mnist", "cifar10", "imagenet", "kitti"):
        for path in ("results/data/{}/dataset.pt", "results/models/{}/model.pt"):
            assert path.format(dataset) in log
    assert "results/certify/mnist/fig1_init_0.15405/learned.tsv" in log  # 0.5 in the authors' units
    assert "results/certify/kitti/fig1_init_0.25/isotropic.tsv" in log
    assert "mnist5k" not in log
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in log.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert counts["prepare_data"] == 5 and counts["train_base"] == 5 and counts["plot_fig1"] == 1
    assert counts["certify"] == 3 * 2 * 5  # learned, arithmetic and geometric mean; two Figure-1 constants per dataset
    # The envelope's grid on validation (its test jobs follow the choose_envelope checkpoint).
    assert counts["certify_envelope"] == 2 * 7 + 3 * 4 and counts["choose_envelope"] == 5


def test_paper_preset_without_imagenet_path_says_what_to_set(tmp_path):
    result = dry_run(
        tmp_path, "preset=paper", "datasets={kitti: {source: {path: /nonexistent/kitti, split_by: frame}}}"
    )
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert "datasets.imagenet.source.path" in log and "drop imagenet from run_datasets" in log


def test_paper_preset_kitti_split_must_be_chosen_before_any_work(tmp_path):
    """Without the drive mapping, the KITTI split is by frame only when asked for: a dry run stops at
    the config check, naming the key and both fixes; a mapping with the frame split is refused too."""
    imagenet = imagenet_block(tmp_path)
    (tmp_path / "unchosen").mkdir()
    result = dry_run(
        tmp_path / "unchosen",
        "preset=paper",
        f"datasets={{{imagenet}, kitti: {{source: {{path: /nonexistent/kitti}}}}}}",
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config key 'datasets.kitti.source.drive_mapping'" in log
    assert "mapping/ folder" in log and "datasets.kitti.source.split_by to frame" in log
    assert "prepare_data" not in log  # stopped before planning any job
    (tmp_path / "both").mkdir()
    both = "kitti: {source: {path: /nonexistent/kitti, drive_mapping: /nonexistent/mapping, split_by: frame}}"
    result = dry_run(tmp_path / "both", "preset=paper", f"datasets={{{imagenet}, {both}}}")
    log = result.stdout + result.stderr
    assert result.returncode != 0 and "config key 'datasets.kitti.source.split_by'" in log and "would go unused" in log
    (tmp_path / "mapped").mkdir()
    mapped = "kitti: {source: {path: /nonexistent/kitti, drive_mapping: /nonexistent/mapping}}"
    result = dry_run(tmp_path / "mapped", "preset=paper", f"datasets={{{imagenet}, {mapped}}}")
    assert result.returncode == 0, result.stderr[-3000:]


def test_command_line_beats_preset_and_default_stays_mnist5k(tmp_path):
    result = dry_run(tmp_path, "preset=paper", "run_datasets=[fashion_mnist]")
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "results/models/fashion_mnist/model.pt" in log and "results/models/mnist/model.pt" not in log
    (tmp_path / "default").mkdir()
    default = dry_run(tmp_path / "default", "preset=default")
    assert default.returncode == 0, default.stderr[-3000:]
    assert "results/models/mnist5k/model.pt" in default.stdout + default.stderr


def test_cpu_preset_plans_full_mnist_and_fashion_mnist_up_to_the_results_page(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    command = [SNAKEMAKE, "docs/results.md", "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    result = subprocess.run([*command, "--config", "preset=cpu"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in log.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert counts["prepare_data"] == 2 and counts["certify"] == 2 * 2 * 3
    # Per dataset, constant and kind: three racing stages, then the last (evaluate_sigma, validation);
    # the test split certifies each kind's front members (one job per kind).
    assert counts["race_stage"] == 2 * 3 * 2 * 3 and counts["evaluate_sigma"] == 2 * 3 * 2
    assert counts["certify_envelope"] == 2 * 7  # each dataset's envelope grid on validation
    assert counts["decide_race"] == 2 * 3 and counts["certify_front"] == 2 * 2
    assert counts["results_doc"] == 1 and counts["measure_pass_rates"] == 1
    assert "results/certify/fashion_mnist/fig1_init_0.25/learned.tsv" in log and "mnist5k" not in log


def test_robustness_preset_plans_both_regimes_and_every_replicate_up_to_its_page(tmp_path):
    """docs/robustness.md's one command: 6 replicates (MNIST 1 + 3, Fashion-MNIST 1 + 1) of Figure 1's
    jobs on two prepared datasets (a variant's and a replicate's data are their built-in's), a
    convergence figure per block, and the page."""
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    command = [SNAKEMAKE, "docs/robustness.md", "-n", "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(tmp_path), "--config", "preset=robustness"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in log.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert counts["prepare_data"] == 2 and counts["train_base"] == 6 and counts["optimize_sigma"] == 6
    # One racing stage (Figure 1's sweeps are never dropped); Figure 1's three kinds and the envelope's
    # four constants on validation (its test jobs, and the page, wait for its choice: the page asks
    # for no test job or benchmark file of a constant the choice did not take).
    assert counts["evaluate_sigma"] == 6 * 2 and "race_stage" not in counts and counts["plot_convergence"] == 4
    assert counts["certify"] == 6 * 3 and counts["certify_envelope"] == 6 * 4 and counts["choose_envelope"] == 6
    assert "results/models/mnist-r2/model.pt" not in log  # the paper regime's MNIST block runs once
    assert counts["robustness_doc"] == 1 and "results/models/mnist_noise-r3/model.pt" in log
    assert "results/data/mnist_noise" not in log and "mnist5k" not in log
