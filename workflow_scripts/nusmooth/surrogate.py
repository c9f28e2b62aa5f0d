"""Learning sigma: the differentiable certified-area surrogate and its optimiser (paper section 4).

NOTHING IN THIS MODULE IS A CERTIFICATE. The surrogate replaces the Clopper-Pearson bound by a mean
softmax probability so that gradients reach sigma; certify with :mod:`nusmooth.smoothing`.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from tqdm import tqdm

from .forward import check_precision, forward_logits
from .smoothing import require_eval_mode
from .training import iterate_minibatches

#: pA_hat is clamped to [PA_CLAMP, 1 - PA_CLAMP] before Phi^-1, as the authors did.
PA_CLAMP = 1e-7


def smoothed_softmax_surrogate(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    sigma: torch.Tensor,
    *,
    num_copies: int,
    generator: torch.Generator | None = None,
    precision: str = "fp32",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable estimate of pA for a batch. NOT A CERTIFICATE: no confidence bound is taken.

    Draws ``num_copies`` noisy copies ``x + sigma * z`` of each example (reparameterised, so the
    result is differentiable in ``sigma``) and returns

    - ``pa_hat`` ``(B,)``: mean softmax probability of the true class over the copies;
    - ``hard_prediction`` ``(B,)``: the majority vote of the copies' argmax (ties: lowest class).

    All ``B * num_copies`` copies go through the model in one forward pass, so that a small batch of
    examples still fills the device.

    Args:
        x: ``(B, *S)`` clean inputs; labels: ``(B,)``; sigma: broadcastable to ``S``.
        precision: ``"fp32"`` or ``"bf16"`` (the model's forward under bf16 autocast; noise, softmax
            and the gradient to sigma stay float32). Sigma is then learned for the bf16 classifier.
    """
    batch = x.shape[0]
    noise = torch.randn((batch, num_copies, *x.shape[1:]), generator=generator, device=x.device, dtype=x.dtype)
    # Deliberately not addcmul: its fused multiply-add rounds differently from this expression, which
    # would change float32 results (and resumed runs against saved ones) for a gain too small to see.
    noisy = (x.unsqueeze(1) + noise * sigma).flatten(0, 1)
    logits = forward_logits(model, noisy, precision).view(batch, num_copies, -1)
    probabilities = logits.softmax(dim=-1)
    pa_hat = probabilities.gather(2, labels.view(batch, 1, 1).expand(batch, num_copies, 1)).squeeze(2).mean(dim=1)
    return pa_hat, _majority_vote(logits.detach())


def _majority_vote(logits: torch.Tensor) -> torch.Tensor:
    """Most frequent argmax class over the copies ``(B, K, C) -> (B,)``; ties go to the lowest class."""
    predictions = logits.argmax(dim=-1)
    votes = torch.zeros(logits.shape[0], logits.shape[-1], dtype=torch.int32, device=logits.device)
    votes.scatter_add_(1, predictions, torch.ones_like(predictions, dtype=torch.int32))
    return votes.argmax(dim=1)


def surrogate_certified_area(log_sigma: torch.Tensor, pa_hat: torch.Tensor) -> torch.Tensor:
    """``sum log sigma + D log Phi^-1(clamp(pa_hat))`` per example ``(B,)``. NOT A CERTIFICATE."""
    clamped = pa_hat.clamp(PA_CLAMP, 1 - PA_CLAMP)
    return log_sigma.sum() + log_sigma.numel() * torch.log(torch.special.ndtri(clamped))


def surrogate_loss(log_sigma, pa_hat, hard_prediction, labels) -> tuple[torch.Tensor | None, int]:
    """Minus the mean surrogate area over the examples that count, and how many counted.

    An example counts when the majority vote is its label and ``pa_hat > 0.5`` (strictly, so that
    ``Phi^-1`` is positive and its log finite). Returns ``(None, 0)`` when none counts: skip the batch.
    """
    counted = (hard_prediction == labels) & (pa_hat > 0.5)
    num_counted = int(counted.sum())
    if num_counted == 0:
        return None, 0
    return -surrogate_certified_area(log_sigma, pa_hat[counted]).mean(), num_counted


@dataclass
class SubEpochStats:
    """What one pass over the training data did."""

    sub_epoch: int
    learning_rate: float
    mean_loss: float
    counted_fraction: float
    skipped_batches: int


@contextmanager
def frozen(model: torch.nn.Module):
    """Parameters take no gradient inside the block (backward computes only what reaches sigma, and
    the model's ``.grad`` stay untouched); their ``requires_grad`` is restored afterwards."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)


class SigmaOptimizer:
    """Adam on ``log sigma`` (so sigma > 0 by construction), learning rate x gamma per sub-epoch.

    The base model must already be in eval mode and on ``device``; it is used frozen (its parameters
    take no gradient during a step) and left exactly as the caller gave it. A fresh instance per
    initial constant, as in the paper: optimiser and schedule state never carry across constants.
    ``precision="bf16"`` runs the model's forward under bf16 autocast (see
    :func:`smoothed_softmax_surrogate`); sigma is then learned for that bf16 classifier.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        input_shape: tuple[int, ...],
        *,
        init_sigma: float,
        lr: float,
        gamma: float,
        num_copies: int,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
        precision: str = "fp32",
    ):
        self.precision = check_precision(precision)
        if init_sigma <= 0:
            raise ValueError(f"init_sigma must be > 0, got {init_sigma}")
        require_eval_mode(model)
        self.device = torch.device(device)
        misplaced = {str(p.device) for p in model.parameters() if p.device.type != self.device.type}
        if misplaced:
            raise ValueError(
                f"the base model's parameters are on {sorted(misplaced)}, sigma is learned on {self.device}. "
                f"Fix: move the model first (model.to({str(self.device)!r}))"
            )
        self.model = model
        self.log_sigma = torch.full(input_shape, math.log(init_sigma), device=self.device, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.log_sigma], lr=lr)
        self.schedule = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=gamma)
        self.num_copies = num_copies
        self.generator = generator
        self.sub_epochs_done = 0

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this optimiser stands (tensors and plain data)."""
        return {
            "log_sigma": self.log_sigma.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "sub_epochs_done": self.sub_epochs_done,
            "generator": None if self.generator is None else self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.log_sigma.copy_(state["log_sigma"].to(self.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.sub_epochs_done = state["sub_epochs_done"]
        if self.generator is not None and state["generator"] is not None:
            self.generator.set_state(state["generator"])

    @property
    def sigma(self) -> torch.Tensor:
        """Current sigma (a detached CPU copy)."""
        return self.log_sigma.detach().exp().cpu()

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[float | None, int]:
        """One Adam step on a mini-batch; returns (loss or None when skipped, examples counted)."""
        x, labels = x.to(self.device), labels.to(self.device)
        with frozen(self.model):
            pa_hat, hard = smoothed_softmax_surrogate(
                self.model,
                x,
                labels,
                self.log_sigma.exp(),
                num_copies=self.num_copies,
                generator=self.generator,
                precision=self.precision,
            )
            loss, counted = surrogate_loss(self.log_sigma, pa_hat, hard, labels)
            if loss is None:
                return None, 0
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self.optimizer.step()
        return float(loss.detach()), counted

    def run_sub_epoch(self, batches) -> SubEpochStats:
        """One pass over ``batches`` (an iterable of (x, labels)), then the learning-rate decay."""
        losses, counted, seen, skipped = [], 0, 0, 0
        learning_rate = self.optimizer.param_groups[0]["lr"]
        for x, labels in batches:
            loss, num_counted = self.step(x, labels)
            seen += len(labels)
            counted += num_counted
            if loss is None:
                skipped += 1
            else:
                losses.append(loss)
        self.schedule.step()
        self.sub_epochs_done += 1
        return SubEpochStats(
            sub_epoch=self.sub_epochs_done,
            learning_rate=learning_rate,
            mean_loss=sum(losses) / len(losses) if losses else float("nan"),
            counted_fraction=counted / max(seen, 1),
            skipped_batches=skipped,
        )


class SigmaSweep:
    """One sweep of sigma learning from one constant: ``optimizer`` run over ``(images, labels)``
    (uint8) in mini-batches of ``batch_size`` in the order drawn from ``order``, sub-epoch by sub-epoch,
    keeping the sigma after each (the snapshots) and its statistics (the history).

    Resumable (:func:`nusmooth.resume.resumed_steps`): :meth:`state_dict` holds the optimiser, the
    order stream, the snapshots and the history; :meth:`load_state_dict` on a fresh sweep continues
    from the next sub-epoch exactly as an uninterrupted run would.
    """

    def __init__(
        self, optimizer: SigmaOptimizer, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, order
    ):
        self.optimizer, self.images, self.labels = optimizer, images, labels
        self.batch_size, self.order = batch_size, order
        self.snapshots: list[torch.Tensor] = []
        self.history: list[dict] = []

    @property
    def steps_done(self) -> int:
        return self.optimizer.sub_epochs_done

    def run_sub_epoch(self) -> dict:
        """One sub-epoch; returns (and records) its statistics with the new sigma's mean, min and max."""
        batches = tqdm(
            iterate_minibatches(self.images, self.labels, self.batch_size, self.order),
            total=math.ceil(len(self.labels) / self.batch_size),
            desc=f"sub-epoch {self.steps_done + 1}",
            mininterval=10,
        )
        stats = self.optimizer.run_sub_epoch(batches)
        sigma = self.optimizer.sigma
        self.snapshots.append(sigma)
        self.history.append(
            dict(
                vars(stats), sigma_mean=float(sigma.mean()), sigma_min=float(sigma.min()), sigma_max=float(sigma.max())
            )
        )
        return self.history[-1]

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "order": self.order.get_state(),
            "snapshots": self.snapshots,
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.order.set_state(state["order"])
        self.snapshots, self.history = list(state["snapshots"]), list(state["history"])
