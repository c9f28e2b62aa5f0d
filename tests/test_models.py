"""Architectures, safe checkpoints, resumable training, pretrained packaging, and the paper preset's DAG."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import RunsCodeWhenUnpickled
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

from nusmooth.io import ArtifactError  # noqa: E402
from nusmooth.models import (  # noqa: E402
    ARCHITECTURE_BUILDERS,
    INPUT_SHAPES,
    build_model,
    load_checkpoint,
    load_torchvision_resnet50,
    pretrained_model,
    save_checkpoint,
)
from nusmooth.registry import PRETRAINED  # noqa: E402
from nusmooth.training import BaseTrainer, train_classifier  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURE_BUILDERS))
def test_forward_and_backward(arch):
    torch.manual_seed(0)
    shape = INPUT_SHAPES[arch]
    model = build_model(arch, 7, [0.5] * shape[0], [0.25] * shape[0])
    x = torch.rand(2, *shape, requires_grad=True)  # batch 2 keeps ResNet-50 at 224 cheap on CPU
    logits = model(x)
    assert logits.shape == (2, 7)
    logits.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert x.grad.abs().sum() > 0  # sigma's gradient flows through the input


def test_resnet110_is_110_layers_deep():
    model = ARCHITECTURE_BUILDERS["resnet110"](10)
    convs = [m for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and "shortcut" not in name]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 110
    assert sorted({m.out_channels for m in convs}) == [16, 32, 64]


def test_checkpoint_round_trip_is_safe(tmp_path):
    model = build_model("resnet110", 10, [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, arch="resnet110", num_classes=10, mean=[0.49, 0.48, 0.45], std=[0.25, 0.24, 0.26], train_config={"epochs": 1})
    torch.load(path, weights_only=True)  # tensors and plain types only
    loaded, payload = load_checkpoint(path, "cpu")
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(loaded(x), model(x)) and payload["train_config"] == {"epochs": 1}


def test_checkpoint_saved_twice_is_byte_identical(tmp_path):
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 10, [0.13], [0.31])
    first, second = tmp_path / "model.pt", tmp_path / "again" / "model_copy.pt"
    for path in (first, second):
        save_checkpoint(path, model, arch="mnist_cnn", num_classes=10, mean=[0.13], std=[0.31], train_config={"epochs": 2, "lr": 1.0})
    assert first.read_bytes() == second.read_bytes()


def test_truncated_checkpoint_names_the_rule_to_rerun(tmp_path):
    model = build_model("mnist_cnn", 10, [0.13], [0.31])
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, arch="mnist_cnn", num_classes=10, mean=[0.13], std=[0.31], train_config={})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ArtifactError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert f"{path} is damaged" in message and "rule train_base" in message and "-R train_base" in message
    assert "weights_only" not in message


def test_training_resumes_exactly(tmp_path):
    """Killed after epoch 1 and resumed = run straight through (weights, shuffling, dropout)."""
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (64,))
    data = (images, labels)

    def trainer():
        torch.manual_seed(0)
        model = build_model("mnist_cnn", 10, [0.13], [0.31])
        return BaseTrainer(model, lr=1.0, gamma=0.5, device="cpu", generator=torch.Generator().manual_seed(0))

    straight = trainer()
    straight_history = [straight.run_epoch(data, data, batch_size=16) for _ in range(2)]
    first = trainer()
    first.run_epoch(data, data, batch_size=16)
    path = tmp_path / "resume.pt"
    torch.save(first.state_dict(), path)
    torch.manual_seed(123)  # the resumed process's own global RNG: the saved state must replace it
    resumed = trainer()  # as a new process would build it
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.epochs_done == 1
    resumed.run_epoch(data, data, batch_size=16)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history == straight_history == straight.history
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_train_classifier_runs_the_trainer_epoch_by_epoch():
    images = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    data = (images, torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(2)))
    seen = []
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 10, [0.13], [0.31])
    history = train_classifier(model, data, data, epochs=2, batch_size=16, lr=1.0, gamma=0.5, device="cpu",
                               generator=torch.Generator().manual_seed(0), on_epoch=seen.append)
    torch.manual_seed(0)
    trainer = BaseTrainer(build_model("mnist_cnn", 10, [0.13], [0.31]), lr=1.0, gamma=0.5, device="cpu",
                          generator=torch.Generator().manual_seed(0))
    assert history == seen == [trainer.run_epoch(data, data, batch_size=16) for _ in range(2)]


def test_pretrained_resnet50_from_a_local_file(tmp_path):
    # No pretrained weights can be downloaded here: a randomly initialised torchvision ResNet-50
    # state_dict stands in for the real file (same format as torchvision's weights).
    reference = ARCHITECTURE_BUILDERS["resnet50"](1000).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    model = pretrained_model("resnet50", 1000, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], str(path)).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model[1](x), reference(x))
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(RuntimeError, match=r"resnet50\.pth is truncated, corrupt"):
        load_torchvision_resnet50(str(path))
    with pytest.raises(RuntimeError, match=r"weights file not found"):
        load_torchvision_resnet50(str(tmp_path / "missing.pth"))
    torch.save({"state_dict": RunsCodeWhenUnpickled(tmp_path / "pwned")}, path)
    with pytest.raises(RuntimeError, match=r"not a torch file of tensors") as caught:
        load_torchvision_resnet50(str(path))
    assert "safe_globals" not in str(caught.value) and "weights_only" not in str(caught.value), "unsafe loading advised"
    assert not (tmp_path / "pwned").exists(), "the pickle's code ran"
    with pytest.raises(ValueError, match=re.escape(PRETRAINED.rule) + r"; got resnet50 with 19 classes.*1,000 class folders"):
        pretrained_model("resnet50", 19, [0.5] * 3, [0.5] * 3, str(path))


def dry_run(workdir: Path, *config: str) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text((ROOT / "config.yaml").read_text())
    command = [SNAKEMAKE, "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "figures/fig1.pdf"]
    return subprocess.run([*command, "--config", *config], capture_output=True, text=True, timeout=300)


def test_paper_preset_dry_run_lists_every_dataset(tmp_path):
    # Data paths point at folders that do not exist: a dry run must not read any data.
    result = dry_run(
        tmp_path,
        "preset=paper",
        "datasets={imagenet: {source: {path: /nonexistent/ilsvrc}, model: {weights: /nonexistent/r50.pth}},"
        " kitti: {source: {path: /nonexistent/kitti, split_by: frame}}}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    for dataset in ("mnist", "fashion_mnist", "cifar10", "imagenet", "kitti"):
        for path in ("results/data/{}/dataset.pt", "results/models/{}/model.pt"):
            assert path.format(dataset) in log
    assert "results/certify/mnist/fig1_init_0.15405/learned.tsv" in log  # 0.5 in the authors' units
    assert "results/certify/kitti/fig1_init_0.25/isotropic.tsv" in log
    assert "mnist5k" not in log
    counts = {line.split()[0]: int(line.split()[1]) for line in log.splitlines() if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["prepare_data"] == 5 and counts["train_base"] == 5 and counts["plot_fig1"] == 1
    assert counts["certify"] == 2 * 2 * 5  # learned + isotropic, two Figure-1 constants per dataset


def test_paper_preset_without_imagenet_path_says_what_to_set(tmp_path):
    result = dry_run(tmp_path, "preset=paper", "datasets={kitti: {source: {path: /nonexistent/kitti, split_by: frame}}}")
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert "datasets.imagenet.source.path" in log and "drop imagenet from run_datasets" in log


def test_paper_preset_kitti_split_must_be_chosen_before_any_work(tmp_path):
    """Without the drive mapping, the KITTI split is by frame only when asked for: a dry run stops at
    the config check, naming the key and both fixes; a mapping with the frame split is refused too."""
    imagenet = "imagenet: {source: {path: /nonexistent/ilsvrc}, model: {weights: /nonexistent/r50.pth}}"
    (tmp_path / "unchosen").mkdir()
    result = dry_run(tmp_path / "unchosen", "preset=paper", f"datasets={{{imagenet}, kitti: {{source: {{path: /nonexistent/kitti}}}}}}")
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
