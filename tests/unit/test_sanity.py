"""The gates that stop a meaningless run (nusmooth.sanity): a base model at chance on validation, outputs
that are probabilities or log-probabilities, a sigma sweep that learns nothing, classes without images;
each refusal names the cause and the fix, and what passes is what should."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nusmooth.checkpoints import load_checkpoint, save_checkpoint
from nusmooth.datasets import DataError, prepare_dataset
from nusmooth.networks import Normalize
from nusmooth.sanity import (
    GATE_ALPHA,
    SanityError,
    check_base_model,
    check_model_outputs,
    check_outputs,
    check_sub_epoch,
    check_validation_accuracy,
    output_kind,
)
from nusmooth.smoothing import clopper_pearson_lower
from nusmooth.surrogate import SigmaOptimizer, SigmaSweep
from nusmooth.user_models import LogOfProbabilities, model_from_config

DIGITS = ["eight", "five", "four", "nine", "one", "seven", "six", "three", "two", "zero"]  # sorted folder names
SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0}


# --- the base model's validation accuracy --------------------------------------------------------


def balanced_labels(per_class: int, classes: int = 10) -> torch.Tensor:
    return torch.arange(classes).repeat_interleave(per_class)


def test_a_model_at_chance_is_stopped_with_its_class_list_and_the_fix():
    """Issue 27, case 1: a correctly trained CNN read with the sorted folder names scored 0.104."""
    with pytest.raises(SanityError) as error:
        check_validation_accuracy(
            104, 1000, labels=balanced_labels(100), classes=DIGITS, dataset="digits", packaged=True
        )
    message = str(error.value)
    for part in (
        "validation accuracy 0.104 (104 of 1000)",
        "the majority-class rate 0.100",
        "eight, five, four, nine, one, seven, six, three, two, zero",
        "datasets.digits.source.classes",
        "datasets.digits.model.min_val_accuracy",
    ):
        assert part in message, part
    print(message)


def test_a_good_model_passes_and_the_gate_can_be_lowered_or_raised():
    labels = balanced_labels(100)
    said = check_validation_accuracy(970, 1000, labels=labels, classes=DIGITS, dataset="d", packaged=False)
    assert said.startswith("validation accuracy 0.970") and "above the majority-class rate 0.100" in said
    assert "min_val_accuracy 0" in check_validation_accuracy(
        50, 1000, labels=labels, classes=DIGITS, dataset="d", packaged=False, min_val_accuracy=0.0
    )
    with pytest.raises(SanityError, match="min_val_accuracy is 0.99.*train longer"):
        check_validation_accuracy(
            970, 1000, labels=labels, classes=DIGITS, dataset="d", packaged=False, min_val_accuracy=0.99
        )


def test_an_imbalanced_split_is_judged_against_its_majority_class_and_kitti_against_one_in_k():
    labels = torch.tensor([0] * 90 + [1] * 10)  # always answering class 0 scores 0.9
    with pytest.raises(SanityError, match="majority-class rate 0.900"):
        check_validation_accuracy(92, 100, labels=labels, classes=["car", "van"], dataset="d", packaged=False)
    # KITTI's Figure 4 draws the majority line itself: its model only has to beat 1/K.
    said = check_validation_accuracy(
        92, 100, labels=labels, classes=["car", "van"], dataset="kitti", packaged=False, majority_dominated=True
    )
    assert "1/K = 0.500" in said
    # train_base's call reads that from the registry, and a built-in dataset's fix is not source.classes.
    assert "1/K = 0.500" in check_base_model(
        0.92, labels, ["car", "van"], dataset="kitti", packaged=True, min_val_accuracy=None
    )
    with pytest.raises(SanityError, match="give weights trained on cifar10's classes in this order"):
        check_base_model(0.1, balanced_labels(10), DIGITS, dataset="cifar10", packaged=True, min_val_accuracy=None)


def test_the_gate_passes_a_model_at_chance_at_most_at_its_level():
    """The default rule is a one-sided test at GATE_ALPHA: validations of a model exactly at the majority
    rate (0.1, the worst case of 'at chance') pass at most GATE_ALPHA of the time, computed exactly over
    every count; a model at 0.2 on 1,000 points (clearly better) passes but for odds of a few in a billion."""
    n, chance = 1000, 0.1
    counts = np.arange(n + 1)
    passes = clopper_pearson_lower(counts, n, GATE_ALPHA) > chance
    from scipy.stats import binom

    assert binom.pmf(counts[passes], n, chance).sum() <= GATE_ALPHA
    assert binom.pmf(counts[passes], n, 0.2).sum() > 1 - 1e-6
    # The gate's own function agrees with that rule at the boundary count.
    boundary = int(counts[passes][0])
    labels = balanced_labels(100)
    check_validation_accuracy(boundary, n, labels=labels, classes=DIGITS, dataset="d", packaged=False)
    with pytest.raises(SanityError):
        check_validation_accuracy(boundary - 1, n, labels=labels, classes=DIGITS, dataset="d", packaged=False)


# --- what the model returns ----------------------------------------------------------------------


class Scores(nn.Module):
    """A small network whose end is chosen: logits, a softmax or a log-softmax."""

    def __init__(self, end: str = "logits", classes: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, classes))
        self.end = end

    def forward(self, x):
        scores = self.body(x)
        if self.end == "probabilities":
            return scores.softmax(1)
        if self.end == "log_probabilities":
            return scores.log_softmax(1)
        return scores


@pytest.mark.parametrize("end", ["logits", "probabilities", "log_probabilities"])
def test_the_kind_of_output_is_told_apart_on_real_images(end):
    torch.manual_seed(0)
    with torch.no_grad():
        assert output_kind(Scores(end)(torch.rand(16, 3, 8, 8))) == end


def test_probabilities_taken_for_logits_are_refused_with_the_fix():
    """Issue 27, case 2: a softmax at the model's end left every sigma sub-epoch counting nothing."""
    torch.manual_seed(0)
    model = nn.Sequential(Normalize([0.0] * 3, [1.0] * 3), Scores("probabilities"))
    with pytest.raises(SanityError) as error:
        check_model_outputs(model, torch.rand(16, 3, 8, 8), "logits", dataset="mine", described="model.source x")
    message = str(error.value)
    assert "returns probabilities on 16 validation images" in message
    assert "Fix: set datasets.mine.model.outputs: probabilities" in message
    print(message)
    with pytest.raises(SanityError, match="Fix: set datasets.mine.model.outputs: log_probabilities"):
        check_outputs(torch.rand(4, 3).log_softmax(1), "logits", dataset="mine", described="x")
    with pytest.raises(SanityError, match="model.outputs is probabilities, but x returns logits"):
        check_outputs(torch.randn(4, 3), "probabilities", dataset="mine", described="x")


def test_probabilities_declared_become_logits_with_the_same_argmax_and_softmax(tmp_path):
    torch.manual_seed(0)
    net = Scores("probabilities")
    torch.save(net.state_dict(), tmp_path / "w.pt")
    settings = {
        "pretrained": False,
        "arch": None,
        "source": f"module:{__name__}:probability_network",
        "weights": str(tmp_path / "w.pt"),
        "outputs": "probabilities",
    }
    model = model_from_config(
        settings, num_classes=3, mean=[0.0] * 3, std=[1.0] * 3, input_shape=(3, 8, 8), dataset="m"
    )
    assert isinstance(model[-1], LogOfProbabilities)
    images = torch.rand(16, 3, 8, 8)
    check_model_outputs(model, images, "probabilities", dataset="m", described="x")  # checks the raw scores
    with torch.no_grad():
        logits, probabilities = model.eval()(images), net.eval()(images)
    assert torch.equal(logits.argmax(1), probabilities.argmax(1))
    torch.testing.assert_close(logits.softmax(1), probabilities)
    # A probability of exactly 0 gives a finite logit and a finite gradient.
    zero = torch.tensor([[0.0, 1.0]], requires_grad=True)
    LogOfProbabilities()(zero).softmax(1)[0, 1].backward()
    assert torch.isfinite(zero.grad).all()
    # model.pt rebuilds the conversion from its recorded train_config.
    save_checkpoint(
        tmp_path / "model.pt",
        model,
        arch="x",
        num_classes=3,
        mean=[0.0] * 3,
        std=[1.0] * 3,
        train_config=settings,
        extras={"source": settings["source"]},
    )
    loaded, _ = load_checkpoint(tmp_path / "model.pt")
    assert torch.equal(loaded(images), logits)


def probability_network(num_classes):
    return Scores("probabilities", num_classes)


# --- sigma learning ------------------------------------------------------------------------------


def history_row(**values):
    row = dict(sub_epoch=1, learning_rate=0.02, mean_loss=500.0, counted_fraction=0.8)
    row.update(sigma_mean=0.26, sigma_min=0.24, sigma_max=0.28)
    row.update(values)
    return row


def test_a_sub_epoch_that_counts_nothing_stops_the_sweep_with_the_causes():
    with pytest.raises(SanityError) as error:
        check_sub_epoch(
            history_row(mean_loss=math.nan, counted_fraction=0.0, sigma_mean=0.5, sigma_min=0.5, sigma_max=0.5),
            init=0.5,
            dataset="mine",
        )
    message = str(error.value)
    assert "sub-epoch 1: no training point counted" in message and "stayed at 0.5" in message
    assert "drop 0.5 from datasets.mine.sigma.inits" in message and "stop_when_nothing_counts: false" in message
    print(message)
    check_sub_epoch(history_row(counted_fraction=0.0), init=0.5, dataset="mine", stop_when_nothing_counts=False)
    check_sub_epoch(history_row(), init=0.25, dataset="mine")


def test_a_loss_or_sigma_that_is_not_finite_always_stops_the_sweep():
    with pytest.raises(SanityError, match="the loss is nan.*NaN or infinite scores"):
        check_sub_epoch(history_row(mean_loss=math.nan), init=0.25, dataset="m", stop_when_nothing_counts=False)
    with pytest.raises(SanityError, match="sigma overflowed"):
        check_sub_epoch(history_row(sigma_max=math.inf), init=0.25, dataset="m")


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step:UserWarning")  # no step: nothing counted
def test_a_model_returning_probabilities_learns_no_sigma_and_the_gate_says_so():
    """The issue's symptom reproduced with a real sweep: the surrogate's softmax of probabilities is
    nearly flat, so no point counts, sigma stays at its constant, and check_sub_epoch stops it. 32 points
    of 3 classes suffice: with the softmax flat to within e/(e+2) < 0.58 of a 3-way split, no copy reaches 0.5."""
    torch.manual_seed(0)
    model = nn.Sequential(Normalize([0.0] * 3, [1.0] * 3), Scores("probabilities")).eval()
    images = (torch.rand(32, 3, 8, 8) * 255).to(torch.uint8)
    labels = model(images.float() / 255).argmax(1)  # the model is right on every clean point
    optimizer = SigmaOptimizer(model, (3, 8, 8), init_sigma=0.25, lr=0.02, gamma=0.5, num_copies=4)
    sweep = SigmaSweep(optimizer, images, labels, batch_size=16, order=torch.Generator().manual_seed(0))
    stats = sweep.run_sub_epoch()
    assert stats["counted_fraction"] == 0.0 and stats["sigma_min"] == stats["sigma_max"] == pytest.approx(0.25)
    with pytest.raises(SanityError, match="no training point counted"):
        check_sub_epoch(stats, init=0.25, dataset="mine")


# --- classes without images ----------------------------------------------------------------------


def write_class(root, name, count, value):
    (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("L", (6, 6), value + i).save(root / name / f"{i:02d}.png")


def test_an_empty_class_folder_is_refused_not_dropped(tmp_path):
    """Issue 27, case 3: an empty folder used to vanish from the class list, shifting every later label."""
    write_class(tmp_path, "cat", 10, 20)
    (tmp_path / "cow").mkdir()
    write_class(tmp_path, "dog", 10, 200)
    with pytest.raises(DataError) as error:
        prepare_dataset("pets", SPLIT, {"format": "image_folder", "path": str(tmp_path)})
    assert "class folders without images: cow" in str(error.value) and "remove the folder" in str(error.value)
    print(error.value)


def test_a_class_without_validation_or_training_images_is_refused(tmp_path):
    write_class(tmp_path, "cat", 10, 20)
    write_class(tmp_path, "dog", 2, 200)  # 0.6 / 0.2 / 0.2 of 2 images leaves validation without a dog
    source = {"format": "image_folder", "path": str(tmp_path)}
    with pytest.raises(
        DataError, match=r"classes without images in a split \(val: dog; test: dog\).*dog 2.*at least 5 per class"
    ):
        prepare_dataset("pets", SPLIT, source)
    write_class(tmp_path, "dog", 10, 200)
    with pytest.raises(DataError, match=r"\(train: bird; val: bird; test: bird\)"):
        prepare_dataset("pets", SPLIT, dict(source, classes=["cat", "dog", "bird"]))
    dataset, _ = prepare_dataset("pets", SPLIT, source)
    assert dataset.classes == ["cat", "dog"]
