"""Architectures, safe checkpoints, resumable training, pretrained packaging, and the paper preset's DAG."""

import re

import pytest
import torch
from support import RunsCodeWhenUnpickled
from torch import nn

from nusmooth.io import ArtifactError
from nusmooth.checkpoints import load_checkpoint, save_checkpoint
from nusmooth.networks import ARCHITECTURE_BUILDERS, build_model
from nusmooth.registry import ARCHITECTURES, PRETRAINED
from nusmooth.user_models import load_torchvision_resnet50, pretrained_model
from nusmooth.training import BaseTrainer, train_classifier


@pytest.mark.parametrize("arch", sorted(ARCHITECTURE_BUILDERS))
def test_forward_and_backward(arch):
    torch.manual_seed(0)
    shape = ARCHITECTURES[arch].input_shape
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


def test_resnet50_is_torchvisions_to_the_bit_from_the_same_seed():
    """Our ResNet-50 (no torchvision import in the jobs) against torchvision's: the same names and
    shapes (its pretrained state_dicts load), the same initial weights from one seed, the same output."""
    from torchvision.models import resnet50 as torchvision_resnet50

    torch.manual_seed(3)
    ours = ARCHITECTURE_BUILDERS["resnet50"](7)
    torch.manual_seed(3)
    theirs = torchvision_resnet50(weights=None, num_classes=7)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference)
    for name, tensor in reference.items():
        assert torch.equal(mine[name], tensor), name
    ours.eval(), theirs.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]


def test_checkpoint_round_trip_is_safe(tmp_path):
    model = build_model("resnet110", 10, [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        model,
        arch="resnet110",
        num_classes=10,
        mean=[0.49, 0.48, 0.45],
        std=[0.25, 0.24, 0.26],
        train_config={"epochs": 1},
    )
    torch.load(path, weights_only=True)  # tensors and plain types only
    loaded, payload = load_checkpoint(path, "cpu")
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(loaded(x), model(x)) and payload["train_config"] == {"epochs": 1}


def test_checkpoint_saved_twice_is_byte_identical(tmp_path):
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 10, [0.13], [0.31])
    first, second = tmp_path / "model.pt", tmp_path / "again" / "model_copy.pt"
    for path in (first, second):
        save_checkpoint(
            path,
            model,
            arch="mnist_cnn",
            num_classes=10,
            mean=[0.13],
            std=[0.31],
            train_config={"epochs": 2, "lr": 1.0},
        )
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
    history = train_classifier(
        model,
        data,
        data,
        epochs=2,
        batch_size=16,
        lr=1.0,
        gamma=0.5,
        device="cpu",
        generator=torch.Generator().manual_seed(0),
        on_epoch=seen.append,
    )
    torch.manual_seed(0)
    trainer = BaseTrainer(
        build_model("mnist_cnn", 10, [0.13], [0.31]),
        lr=1.0,
        gamma=0.5,
        device="cpu",
        generator=torch.Generator().manual_seed(0),
    )
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
    with pytest.raises(
        ValueError, match=re.escape(PRETRAINED.rule) + r"; got resnet50 with 19 classes.*1,000 class folders"
    ):
        pretrained_model("resnet50", 19, [0.5] * 3, [0.5] * 3, str(path))
