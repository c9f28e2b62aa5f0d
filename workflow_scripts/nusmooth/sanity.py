"""Gates that stop a run whose result would be meaningless, before the expensive stages, each with
the cause and the fix: a base model no better than chance on validation, a model whose outputs are
probabilities or log-probabilities where logits are expected, a sigma sweep that learns nothing, and
a class without images in a split.

Every gate raises :class:`SanityError` (or the reader's :class:`~nusmooth.datasets.common.DataError`)
before the stage writes anything, so a stopped run leaves no output behind and the same command,
once the cause is fixed (or the gate lowered on purpose), continues where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from .smoothing import clopper_pearson_lower

#: One-sided level of the accuracy gate: the model passes when the Clopper-Pearson lower bound of its
#: validation accuracy at this level lies above the reference rate (chance). 0.001 is the certificates'
#: own default alpha: a model that passes is better than chance with the confidence the run certifies with.
GATE_ALPHA = 0.001

#: ``model.outputs`` values: what the model's forward returns.
OUTPUT_KINDS = ("logits", "probabilities", "log_probabilities")

#: How closely a row must sum to 1 (probabilities) or log-sum-exp to 0 (log-probabilities) to be one:
#: float32 softmax rows sum to 1 within a few 1e-7; logits of a real model never do over a batch.
ROW_TOLERANCE = 1e-4

#: Validation images the output check runs the model on (real images: a zero batch can fool it).
OUTPUT_PROBE_IMAGES = 16


class SanityError(RuntimeError):
    """A run whose result would be meaningless; the message names the cause and the fix."""


# --- the base model's validation accuracy --------------------------------------------------------


def chance_rate(labels: torch.Tensor, num_classes: int, majority_dominated: bool) -> tuple[float, str]:
    """The rate a model must beat and its name: the majority class's share of ``labels`` (always
    predicting the most frequent class), or 1/K for a dataset whose figure draws the majority line
    itself (KITTI's Figure 4: a model near the majority class is that figure's subject)."""
    if majority_dominated or len(labels) == 0:
        return 1.0 / num_classes, f"1/K = {1.0 / num_classes:.3f}"
    counts = torch.bincount(labels, minlength=num_classes)
    return float(counts.max()) / len(labels), f"the majority-class rate {float(counts.max()) / len(labels):.3f}"


def _class_list(classes: Sequence[str], shown: int = 12) -> str:
    listed = ", ".join(str(c) for c in classes[:shown])
    return listed + (f", ... ({len(classes)} classes)" if len(classes) > shown else "")


def check_validation_accuracy(
    correct: int,
    total: int,
    *,
    labels: torch.Tensor,
    classes: Sequence[str],
    dataset: str,
    packaged: bool,
    own_dataset: bool = True,
    majority_dominated: bool = False,
    min_val_accuracy: float | None = None,
) -> str:
    """Stop when the base model is at or near chance on validation; return the line that says it passed.

    ``min_val_accuracy`` None: the default rule, the one-sided (1 - :data:`GATE_ALPHA`) Clopper-Pearson
    lower bound of ``correct / total`` must lie above :func:`chance_rate`; a number: the accuracy
    itself must reach it (0 turns the gate off). ``packaged``: the model was given, not trained here
    (its class order is then the first suspect); ``own_dataset``: a dataset of your own, whose class
    order ``source.classes`` sets (a built-in dataset's is fixed).
    """
    accuracy = correct / max(total, 1)
    chance, chance_name = chance_rate(labels, len(classes), majority_dominated)
    lower = clopper_pearson_lower(correct, total, GATE_ALPHA) if total else 0.0
    if min_val_accuracy is None:
        if chance > 1 / len(classes) + 1e-12:
            chance_name += f" (1/K = {1 / len(classes):.3f})"
        elif not chance_name.startswith("1/K"):
            chance_name += ", which is 1/K here"
        passed, rule = (
            lower > chance,
            f"its {100 * (1 - GATE_ALPHA):g}% lower bound {lower:.3f} is not above {chance_name}",
        )
    else:
        passed, rule = (
            accuracy >= min_val_accuracy,
            f"datasets.{dataset}.model.min_val_accuracy is {min_val_accuracy:g}",
        )
    said = f"validation accuracy {accuracy:.3f} ({correct} of {total})"
    if passed:
        if min_val_accuracy is None:
            return f"{said}: its lower bound {lower:.3f} is above {chance_name}"
        return f"{said}: at least model.min_val_accuracy {min_val_accuracy:g}"
    if not packaged:
        cause = "training did not learn (too few epochs or training points, a learning rate too high or too low)"
        fix = f"train longer (datasets.{dataset}.model.epochs, train_points, lr)"
    elif own_dataset:
        cause = (
            "a model trained elsewhere must see the classes in its own order: labels follow "
            f"datasets.{dataset}.source.classes, or the sorted folder names when it is null"
        )
        fix = f"set datasets.{dataset}.source.classes to the class names in the model's output order"
    else:
        cause = f"the given weights were trained with another class order or for other data than {dataset}"
        fix = f"give weights trained on {dataset}'s classes in this order"
    raise SanityError(
        f"dataset {dataset}: the base model is at or near chance: {said}, and {rule}, so every certificate "
        f"and figure after it would be meaningless. Classes in label order: {_class_list(classes)}. Likely "
        f"cause: {cause}. Fix: {fix}; or, for a weak model you mean to certify, set "
        f"datasets.{dataset}.model.min_val_accuracy to the accuracy you accept (0 turns this check off)"
    )


def check_base_model(
    val_accuracy: float, labels: torch.Tensor, classes: Sequence[str], *, dataset: str, packaged: bool, min_val_accuracy
) -> str:
    """:func:`check_validation_accuracy` of train_base's model, from its validation accuracy and labels;
    the dataset's facts (its own or built in, majority-dominated) come from the registry."""
    from .registry import DATASETS

    built_in = DATASETS.get(dataset)
    return check_validation_accuracy(
        round(val_accuracy * len(labels)),
        len(labels),
        labels=labels,
        classes=classes,
        dataset=dataset,
        packaged=packaged,
        own_dataset=built_in is None,
        majority_dominated=built_in is not None and built_in.majority_dominated,
        min_val_accuracy=min_val_accuracy,
    )


# --- what the model returns ----------------------------------------------------------------------


def output_kind(scores: torch.Tensor) -> str:
    """``"probabilities"`` when every row is non-negative and sums to 1, ``"log_probabilities"`` when
    every row is non-positive with log-sum-exp 0, else ``"logits"``."""
    scores = scores.detach().double()
    if scores.dim() != 2 or not torch.isfinite(scores).all():
        return "logits"
    ones = torch.ones(len(scores), dtype=scores.dtype)
    if (scores >= 0).all() and torch.allclose(scores.sum(1), ones, atol=ROW_TOLERANCE, rtol=0):
        return "probabilities"
    zeros = torch.zeros(len(scores), dtype=scores.dtype)
    if (scores <= ROW_TOLERANCE).all() and torch.allclose(scores.logsumexp(1), zeros, atol=ROW_TOLERANCE, rtol=0):
        return "log_probabilities"
    return "logits"


#: Why each kind of output needs the config's word, and what the pipeline does with it once given.
_OUTPUT_FIXES = {
    "probabilities": (
        "every row is non-negative and sums to 1: a softmax at the model's end. Smoothing takes a softmax "
        "of the scores when it learns sigma, and a softmax of probabilities is nearly flat, so no training "
        "point would count and sigma would never move",
        "set datasets.{dataset}.model.outputs: probabilities (their log is then used as logits: the same "
        "argmax, and a softmax that gives the probabilities back), or remove the softmax from the model",
    ),
    "log_probabilities": (
        "every row is non-positive and its log-sum-exp is 0: a log-softmax at the model's end",
        "set datasets.{dataset}.model.outputs: log_probabilities (used as logits as they are: their softmax "
        "gives the probabilities back), or remove the log-softmax from the model",
    ),
}


def check_outputs(scores: torch.Tensor, declared: str, *, dataset: str, described: str) -> None:
    """Stop when the model's raw ``scores`` on a batch of real images are not what ``declared``
    (``model.outputs``) says: probabilities or log-probabilities taken for logits, or the reverse."""
    if declared not in OUTPUT_KINDS:
        raise SanityError(
            f"datasets.{dataset}.model.outputs is {declared!r}. Fix: use one of {', '.join(OUTPUT_KINDS)}"
        )
    seen = output_kind(scores)
    if seen == declared:
        return
    rows = f"{described} returns {seen.replace('_', '-')} on {len(scores)} validation images"
    if declared == "logits":
        why, fix = _OUTPUT_FIXES[seen]
        raise SanityError(f"datasets.{dataset}.model: {rows}: {why}. Fix: {fix.format(dataset=dataset)}")
    raise SanityError(
        f"datasets.{dataset}.model.outputs is {declared}, but {rows}, not {declared.replace('_', '-')} "
        f"(rows of probabilities are non-negative and sum to 1; of log-probabilities, non-positive with "
        f"log-sum-exp 0). Fix: set datasets.{dataset}.model.outputs to {seen}"
    )


# --- sigma learning ------------------------------------------------------------------------------


def check_sub_epoch(stats: Mapping, *, init: float, dataset: str, stop_when_nothing_counts: bool = True) -> None:
    """Stop a sigma sweep whose sub-epoch (``stats``: a row of the sweep's history) went wrong: a loss
    or sigma that is not finite, or no training point counted (no gradient reached sigma, so it did
    not move), unless ``stop_when_nothing_counts`` is false."""
    where = f"dataset {dataset}, sigma sweep from {init:g}, sub-epoch {stats['sub_epoch']}"
    sigma = [stats[key] for key in ("sigma_mean", "sigma_min", "sigma_max")]
    if not all(math.isfinite(v) for v in sigma) or (
        stats["counted_fraction"] > 0 and not math.isfinite(stats["mean_loss"])
    ):
        raise SanityError(
            f"{where}: the loss is {stats['mean_loss']} and sigma's mean / min / max are {sigma}: the base model "
            "returns NaN or infinite scores on noisy images, or sigma overflowed. Fix: check that the model is finite "
            f"on noisy [0,1] images, or lower datasets.{dataset}.sigma.lr"
        )
    if stats["counted_fraction"] == 0 and stop_when_nothing_counts:
        raise SanityError(
            f"{where}: no training point counted (a point counts when the majority of its noisy copies is its "
            "label and their mean softmax of the label is above 0.5), so no gradient reached sigma and it stayed "
            f"at {init:g}: a 'learned' sigma equal to its constant. Likely causes: sigma {init:g} is too large "
            "for this model (it is wrong on noisy copies), the model is wrong on the training points (its "
            "validation accuracy is in logs/train_base; check the class order), or it returns probabilities "
            f"(model.outputs). Fix: drop {init:g} from datasets.{dataset}.sigma.inits (and fig1.inits), use a "
            "model trained with noise, or set datasets.{dataset}.sigma.stop_when_nothing_counts: false to keep "
            "the unchanged sigma on purpose".replace("{dataset}", dataset)
        )


# --- classes without images ----------------------------------------------------------------------


def empty_classes(class_counts: Mapping[str, Mapping[str, int]]) -> dict[str, list[str]]:
    """``{split: [classes with no image there]}`` of a prepared dataset's ``info["class_counts"]``
    (splits without an empty class are left out)."""
    return {
        split: [name for name, count in counts.items() if count == 0]
        for split, counts in class_counts.items()
        if any(count == 0 for count in counts.values())
    }


def check_model_outputs(model: torch.nn.Sequential, images: torch.Tensor, declared: str, **names) -> None:
    """:func:`check_outputs` on ``model``'s raw scores (before the log that ``model.outputs:
    probabilities`` adds) for ``images``, in eval mode without gradients (no random number is drawn);
    the model's mode is restored. ``names``: ``dataset`` and ``described``, for the message."""
    from .user_models import raw_scores

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores = raw_scores(model)(images)
    finally:
        model.train(was_training)
    check_outputs(scores, declared, **names)
