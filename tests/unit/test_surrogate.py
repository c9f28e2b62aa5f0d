"""The training surrogate and the sigma optimiser."""

import math

import pytest
import torch
from scipy.stats import binom, norm

from nusmooth.smoothing import ABSTAIN, certify
from nusmooth.surrogate import (
    SigmaOptimizer,
    SigmaSweep,
    smoothed_softmax_surrogate,
    surrogate_certified_area,
    surrogate_loss,
)


def first_feature_classifier(scale: float = 4.0) -> torch.nn.Module:
    """Logits (0, scale * x_0): only the first of the input features matters."""
    model = torch.nn.Linear(6, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
        model.weight[1, 0] = scale
    return model.eval()


def test_the_surrogate_over_claims_where_the_certificate_does_not():
    """Why the surrogate is not a certificate: read as pA_lower, its pa_hat is a mean with no
    confidence bound, so it exceeds the true pA about half the time, far above alpha; ``certify`` on
    as many copies of the same points claims too much at most an alpha fraction of the time."""
    s, examples, copies, alpha = 0.5, 2000, 64, 0.01
    model = first_feature_classifier(scale=1000.0).eval()  # sharp logits: softmax ~ the hard vote
    x, labels = torch.full((examples, 6), 0.5), torch.ones(examples, dtype=torch.long)
    sigma = torch.full((6,), s)
    true_pa = float(norm.cdf(0.5 / s))  # class 1 iff x_0 + s * z > 0, with x_0 = 0.5
    true_area = 6 * math.log(s) + 6 * math.log(norm.ppf(true_pa))
    limit = binom.ppf(1 - 1e-6, examples, alpha)  # what a sound bound may not exceed

    pa_hat, hard = smoothed_softmax_surrogate(
        model, x, labels, sigma, num_copies=copies, generator=torch.Generator().manual_seed(0)
    )
    # pa_hat is a mean of `copies` draws of (almost) Bernoulli(Phi(1)): the margin x_0 = 0.5 is one
    # sigma. Its mean and spread pin that down; a surrogate that skipped the noise would say 1 everywhere.
    assert true_pa == pytest.approx(norm.cdf(1.0))
    standard_error = math.sqrt(true_pa * (1 - true_pa) / (examples * copies))
    assert abs(float(pa_hat.mean()) - true_pa) < 6 * standard_error
    assert float(pa_hat.var()) == pytest.approx(true_pa * (1 - true_pa) / copies, rel=0.2)
    over_claims = (hard == 1) & (pa_hat > true_pa)
    assert int(over_claims.sum()) > limit
    area = surrogate_certified_area(torch.log(sigma), pa_hat)
    assert torch.equal((hard == 1) & (area > true_area), over_claims)

    certs = certify(
        model, x, sigma, n0=16, n=copies, alpha=alpha, batch_size=4096, generator=torch.Generator().manual_seed(1)
    )
    certified = certs.prediction != ABSTAIN
    false = certified & ((certs.prediction != 1) | (certs.phi_inv_pa_lower > norm.ppf(true_pa)))
    assert certified.mean() > 0.5, "the comparison must exercise many certificates"
    assert int(false.sum()) <= limit


def test_tiny_sigma_gives_the_clean_softmax():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    x, labels = torch.randn(4, 6), torch.tensor([0, 1, 2, 1])
    pa_hat, hard = smoothed_softmax_surrogate(
        model, x, labels, torch.full((6,), 1e-6), num_copies=16, generator=torch.Generator().manual_seed(0)
    )
    clean = model(x).softmax(1)
    torch.testing.assert_close(pa_hat, clean[torch.arange(4), labels], atol=1e-5, rtol=0)
    torch.testing.assert_close(hard, clean.argmax(1))


def test_batched_surrogate_equals_one_example_at_a_time():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    x, labels, sigma = torch.randn(3, 6), torch.tensor([0, 2, 1]), torch.rand(6) + 0.1
    batched, _ = smoothed_softmax_surrogate(
        model, x, labels, sigma, num_copies=5, generator=torch.Generator().manual_seed(4)
    )
    # The batch draws (3, 5, 6) normals in one call; slice the same stream per example.
    noise = torch.randn((3, 5, 6), generator=torch.Generator().manual_seed(4))
    for i in range(3):
        probabilities = model(x[i] + noise[i] * sigma).softmax(1)[:, labels[i]]
        assert float(batched[i].detach()) == pytest.approx(float(probabilities.detach().mean()), rel=1e-6)


def test_gradient_reaches_every_element_of_sigma():
    model = first_feature_classifier()
    x, labels = torch.full((8, 6), 0.5), torch.ones(8, dtype=torch.long)
    log_sigma = torch.full((6,), math.log(0.3), requires_grad=True)
    pa_hat, hard = smoothed_softmax_surrogate(
        model, x, labels, log_sigma.exp(), num_copies=32, generator=torch.Generator().manual_seed(0)
    )
    loss, counted = surrogate_loss(log_sigma, pa_hat, hard, labels)
    assert counted == 8
    loss.backward()
    grad = log_sigma.grad
    assert torch.isfinite(grad).all() and (grad != 0).all()
    # The informative feature's gradient also carries the pA term: it differs from the others'.
    assert not torch.isclose(grad[0], grad[1])
    torch.testing.assert_close(grad[1:], torch.full((5,), -1.0))  # d(-sum log sigma)/d log sigma_i


def test_batch_with_no_counted_example_is_skipped():
    log_sigma = torch.zeros(3, requires_grad=True)
    loss, counted = surrogate_loss(log_sigma, torch.tensor([0.9, 0.4]), torch.tensor([1, 0]), torch.tensor([0, 0]))
    assert loss is None and counted == 0


def test_sigma_stays_positive_and_learns_which_feature_matters():
    model = first_feature_classifier()
    x, labels = torch.full((64, 6), 0.5), torch.ones(64, dtype=torch.long)
    optimizer = SigmaOptimizer(
        model, (6,), init_sigma=0.2, lr=0.5, gamma=0.9, num_copies=16, generator=torch.Generator().manual_seed(0)
    )
    batches = [(x[i : i + 16], labels[i : i + 16]) for i in range(0, 64, 16)]
    learning_rates = []
    for _ in range(5):
        stats = optimizer.run_sub_epoch(batches)
        learning_rates.append(stats.learning_rate)
        assert (optimizer.sigma > 0).all()
    assert learning_rates == pytest.approx([0.5 * 0.9**k for k in range(5)])
    sigma = optimizer.sigma
    # Irrelevant features grow freely; the one the model reads must stay small to keep pA high.
    assert sigma[1:].min() > 5 * sigma[0]
    assert all(p.grad is None for p in model.parameters()), "the base model must stay frozen"
    assert (
        all(p.requires_grad for p in model.parameters()) and not model.training
    ), "the caller's model is left as given"


def test_a_model_in_training_mode_or_on_another_device_is_refused():
    with pytest.raises(ValueError, match=r"training mode.*model\.eval\(\)"):
        SigmaOptimizer(first_feature_classifier().train(), (6,), init_sigma=0.2, lr=0.1, gamma=0.5, num_copies=4)
    with pytest.raises(ValueError, match="move the model first"):
        SigmaOptimizer(first_feature_classifier(), (6,), init_sigma=0.2, lr=0.1, gamma=0.5, num_copies=4, device="meta")


def test_init_sigma_must_be_positive():
    with pytest.raises(ValueError, match="init_sigma"):
        SigmaOptimizer(first_feature_classifier(), (6,), init_sigma=0.0, lr=0.1, gamma=0.5, num_copies=4)


def fresh_optimizer() -> SigmaOptimizer:
    """A small optimiser built as a new process would build it (same seed every time)."""
    return SigmaOptimizer(
        first_feature_classifier(),
        (6,),
        init_sigma=0.3,
        lr=0.2,
        gamma=0.7,
        num_copies=8,
        generator=torch.Generator().manual_seed(7),
    )


def test_a_resumed_optimiser_continues_exactly_as_an_uninterrupted_one():
    x, labels = torch.rand(32, 6), torch.ones(32, dtype=torch.long)
    batches = [(x[i : i + 8], labels[i : i + 8]) for i in range(0, 32, 8)]

    uninterrupted = fresh_optimizer()
    for _ in range(3):
        uninterrupted.run_sub_epoch(batches)

    first = fresh_optimizer()
    first.run_sub_epoch(batches)
    state = first.state_dict()
    resumed = fresh_optimizer()
    resumed.load_state_dict(state)
    for _ in range(2):
        resumed.run_sub_epoch(batches)
    assert resumed.sub_epochs_done == 3
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(uninterrupted.optimizer.param_groups[0]["lr"])
    torch.testing.assert_close(resumed.sigma, uninterrupted.sigma, rtol=0, atol=0)


def test_a_resumed_sweep_keeps_every_snapshot_and_the_batch_order():
    """A sweep restored from its state after one sub-epoch ends with the snapshots and history of an
    uninterrupted one (the batch order stream included)."""
    images, labels = torch.randint(0, 256, (24, 6), dtype=torch.uint8), torch.ones(24, dtype=torch.long)

    def fresh():
        return SigmaSweep(fresh_optimizer(), images, labels, batch_size=8, order=torch.Generator().manual_seed(3))

    uninterrupted = fresh()
    for _ in range(3):
        uninterrupted.run_sub_epoch()
    first = fresh()
    first.run_sub_epoch()
    resumed = fresh()
    resumed.load_state_dict(first.state_dict())
    for _ in range(2):
        resumed.run_sub_epoch()
    assert resumed.steps_done == 3 and resumed.history == uninterrupted.history
    for mine, theirs in zip(resumed.snapshots, uninterrupted.snapshots, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
