"""Certification: closed forms, reduction to Cohen et al., and statistical soundness."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import beta, binom, norm

from nusmooth import ABSTAIN, NonUniformSmoothing, certified_area, certify, clopper_pearson_lower, in_certified_region
from nusmooth.smoothing import sample_counts


class LinearBinary(torch.nn.Module):
    """f(x) = [w.x + b > 0] as two logits (class 1 when positive). Under N(0, diag(sigma^2)) noise
    pA(class 1) = Phi((w.x + b) / ||w * sigma||) exactly, and g is the same linear rule."""

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        score = x.flatten(1) @ self.w.flatten() + self.b
        return torch.stack([torch.zeros_like(score), score], dim=1)

    def true_pa(self, x, sigma) -> float:
        margin = float((x.flatten() * self.w.flatten()).sum() + self.b)
        return float(norm.cdf(abs(margin) / float(torch.linalg.vector_norm(self.w * sigma))))


class Recorder(torch.nn.Module):
    """Remembers every input it sees; always predicts class 0."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(x.shape[0], 2)


# --- Clopper-Pearson ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 100, 1000])
def test_clopper_pearson_matches_beta_quantile(n):
    for k in range(1, n + 1, max(1, n // 13)):
        assert clopper_pearson_lower(k, n, 0.001) == pytest.approx(beta.ppf(0.001, k, n - k + 1), rel=1e-12)


def test_clopper_pearson_edges():
    assert clopper_pearson_lower(0, 50, 0.01) == 0.0
    assert clopper_pearson_lower(50, 50, 0.01) == pytest.approx(0.01 ** (1 / 50), rel=1e-12)
    vector = clopper_pearson_lower(np.array([0, 3, 10]), 10, 0.05)
    assert vector[0] == 0.0 and vector[2] == pytest.approx(0.05 ** 0.1)
    with pytest.raises(ValueError, match="counts"):
        clopper_pearson_lower(11, 10, 0.05)


@pytest.mark.parametrize("n,expected", [(256, 1.9329), (512, 2.2144), (1000, 2.4633), (100000, 3.8115)])
def test_reference_radii_when_every_sample_is_correct(n, expected):
    assert norm.ppf(clopper_pearson_lower(n, n, 0.001)) == pytest.approx(expected, abs=5e-5)


# --- certified area ------------------------------------------------------------------------------


def test_certified_area_definition():
    sigma = torch.tensor([[0.5, 2.0], [1.0, 4.0]])
    assert certified_area(sigma, 1.5) == pytest.approx(math.log(0.5 * 2 * 1 * 4) + 4 * math.log(1.5))
    assert certified_area(0.3, 2.0, num_elements=784) == pytest.approx(784 * math.log(0.6))
    assert certified_area(sigma, 0.0) == -math.inf
    with pytest.raises(ValueError, match="elements"):
        certified_area(sigma, 1.0, num_elements=5)


# --- reduction to Cohen ----------------------------------------------------------------------------


def test_constant_sigma_reduces_to_cohen_exactly():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4)).eval()
    points = torch.rand(5, 3, 2, 2)
    s, n0, n, alpha = 0.4, 20, 300, 0.001
    vector = certify(model, points, torch.full((3, 2, 2), s), n0, n, alpha, generator=torch.Generator().manual_seed(1), batch_size=64)
    scalar = certify(model, points, s, n0, n, alpha, generator=torch.Generator().manual_seed(1), batch_size=64)
    np.testing.assert_array_equal(vector.counts_estimation, scalar.counts_estimation)
    np.testing.assert_array_equal(vector.prediction, scalar.prediction)
    for i in range(len(points)):
        # Cohen et al.: c_hat from n0 counts, radius = sigma * Phi^-1(beta.ppf(alpha, nA, n - nA + 1)).
        c_hat = int(np.argmax(scalar.counts_selection[i]))
        n_a = int(scalar.counts_estimation[i, c_hat])
        p_lower = beta.ppf(alpha, n_a, n - n_a + 1) if n_a > 0 else 0.0
        if p_lower < 0.5:
            assert scalar.prediction[i] == ABSTAIN and scalar.area[i] == -math.inf
            continue
        s32 = float(torch.tensor(s, dtype=torch.float32))  # sigma is held in float32
        radius = s32 * norm.ppf(p_lower)
        assert scalar.prediction[i] == c_hat
        assert s32 * scalar.phi_inv_pa_lower[i] == pytest.approx(radius, rel=1e-12)
        assert vector.area[i] == pytest.approx(12 * math.log(radius), rel=1e-12)
        assert scalar.area[i] == pytest.approx(vector.area[i], rel=1e-12)
    assert (scalar.prediction != ABSTAIN).any(), "the check above must exercise at least one certificate"


def test_per_element_noise_std_matches_sigma():
    sigma = torch.tensor([[0.05, 0.3, 1.0], [2.0, 0.7, 3.5]]).unsqueeze(0)  # (1, 2, 3)
    recorder = Recorder()
    center = torch.rand(1, 1, 2, 3)
    samples = 20000
    sample_counts(recorder, center, sigma, samples, 2, 4096, torch.Generator().manual_seed(3))
    noise = torch.cat(recorder.seen) - center
    assert noise.shape[0] == samples
    # The sample std of N normals has relative standard error ~ 1/sqrt(2N); allow 5 of them.
    tolerance = 5 / math.sqrt(2 * samples)
    np.testing.assert_allclose(noise.std(dim=0).numpy(), sigma.numpy(), rtol=tolerance)
    np.testing.assert_allclose(noise.mean(dim=0).numpy(), 0.0, atol=5 * float(sigma.max()) / math.sqrt(samples))


def test_batches_mix_points_without_mixing_their_counts():
    """Copies of several points share a forward batch; each point's counts stay its own."""
    w = torch.tensor([1.0, 0.0])
    model = LinearBinary(w, 0.0)
    points = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [5.0, 1.0]])  # far from the boundary: 1, 0, 1
    counts = sample_counts(model, points, torch.tensor(0.1), 37, 2, 50, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(counts.numpy(), [[0, 37], [37, 0], [0, 37]])


# --- predict ---------------------------------------------------------------------------------------------


def test_predict_abstains_on_a_coin_flip_and_answers_a_clear_case():
    model = LinearBinary(torch.tensor([1.0]), 0.0)
    smoothing = NonUniformSmoothing(model, 2, torch.tensor([1.0]))
    generator = torch.Generator().manual_seed(0)
    assert smoothing.predict(torch.tensor([0.0]), 200, 0.001, 100, generator) == ABSTAIN
    assert smoothing.predict(torch.tensor([3.0]), 200, 0.001, 100, generator) == 1
    assert smoothing.predict(torch.tensor([-3.0]), 200, 0.001, 100, generator) == 0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(n0=0, n=10, alpha=0.01), "n0"),
        (dict(n0=1, n=0, alpha=0.01), "n must"),
        (dict(n0=1, n=10, alpha=0.5), "alpha"),
        (dict(n0=1, n=10, alpha=0.0), "alpha"),
    ],
)
def test_bad_arguments_fail_before_sampling(kwargs, message):
    model = Recorder()
    with pytest.raises(ValueError, match=message):
        NonUniformSmoothing(model, 2, torch.tensor([1.0])).certify(torch.tensor([0.0]), batch_size=10, **kwargs)
    assert model.seen == []


def test_non_positive_sigma_is_rejected():
    with pytest.raises(ValueError, match="positive"):
        certify(Recorder(), torch.zeros(1, 3), torch.tensor([1.0, 0.0, 1.0]), 1, 10, 0.01, num_classes=2)


# --- the exact ellipsoid of a linear classifier -----------------------------------------------------------


def test_ellipsoid_from_true_pa_is_tight_for_a_linear_classifier():
    """With the true pA, the certified ellipsoid touches g's decision boundary: a point just inside
    keeps g's prediction, a point just outside (same direction) flips it."""
    generator = torch.Generator().manual_seed(5)
    d = 20
    w = torch.randn(d, generator=generator, dtype=torch.float64)
    sigma = torch.rand(d, generator=generator, dtype=torch.float64) * 2 + 0.1
    x = torch.randn(d, generator=generator, dtype=torch.float64)
    b = 1.5 - float(w @ x)  # margin 1.5: g(x) = 1
    model = LinearBinary(w, b)
    r = norm.ppf(model.true_pa(x, sigma))
    direction = -(sigma**2) * w / torch.linalg.vector_norm(sigma * w)  # the touching point is x + r * direction
    assert float(torch.linalg.vector_norm(r * direction / sigma)) == pytest.approx(r)

    def smoothed(point):  # exact g: class 1 iff pA(class 1) > 1/2 iff w.x + b > 0
        return int(float(w @ point) + b > 0)

    assert smoothed(x) == 1
    inside, outside = (1 - 1e-6) * r * direction, (1 + 1e-6) * r * direction
    assert in_certified_region(inside, sigma, r) and smoothed(x + inside) == 1
    assert not in_certified_region(outside, sigma, r) and smoothed(x + outside) == 0
    # Any other direction inside the ellipsoid keeps the prediction too.
    for _ in range(200):
        u = torch.randn(d, generator=generator, dtype=torch.float64)
        delta = 0.999 * r * sigma * u / torch.linalg.vector_norm(u)
        assert in_certified_region(delta, sigma, r) and smoothed(x + delta) == 1


def _false_certification_count(model, x, sigma, true_pa, repetitions, n0, n, alpha, bound=None):
    """How many of ``repetitions`` independent certificates claim more than the truth: a wrong
    class, or Phi^-1(pA_lower) > Phi^-1(pA). ``bound`` replaces Clopper-Pearson (to show the test's power)."""
    smoothing = NonUniformSmoothing(model, 2, sigma)
    certs = smoothing.certify_many(x.expand(repetitions, -1).contiguous(), n0, n, alpha, 4096, torch.Generator().manual_seed(11))
    if bound is None:
        phi = certs.phi_inv_pa_lower
        certified = certs.prediction != ABSTAIN
        wrong_class = certified & (certs.prediction != 1)
        too_large = certified & (phi > norm.ppf(true_pa))
        return int((wrong_class | too_large).sum())
    c_hat = certs.counts_selection.argmax(axis=1)
    estimate = bound(certs.counts_estimation[np.arange(repetitions), c_hat], n)
    return int(((estimate >= 0.5) & ((c_hat != 1) | (estimate > true_pa))).sum())


@pytest.mark.parametrize("margin", [0.3, 1.0, 2.0])
def test_false_certification_rate_is_at_most_alpha(margin):
    generator = torch.Generator().manual_seed(int(margin * 10))
    d = 8
    w = torch.randn(d, generator=generator)
    sigma = torch.rand(d, generator=generator) + 0.2
    x = torch.zeros(d)
    model = LinearBinary(w, margin * float(torch.linalg.vector_norm(w * sigma)))  # pA = Phi(margin)
    true_pa = model.true_pa(x, sigma)
    assert true_pa == pytest.approx(norm.cdf(margin), rel=1e-5)
    repetitions, alpha = 3000, 0.1
    false = _false_certification_count(model, x, sigma, true_pa, repetitions, 10, 100, alpha)
    # Under soundness, false ~ Binomial(repetitions, p <= alpha); fail only beyond its 1 - 1e-6 quantile.
    limit = binom.ppf(1 - 1e-6, repetitions, alpha)
    assert false <= limit, f"{false} false certificates of {repetitions} (limit {limit:.0f} at alpha={alpha})"


def test_the_soundness_check_catches_an_unsound_bound():
    """The same check rejects the plug-in estimate n_A / n used as if it were a lower bound."""
    d = 8
    generator = torch.Generator().manual_seed(3)
    w, sigma, x = torch.randn(d, generator=generator), torch.rand(d, generator=generator) + 0.2, torch.zeros(d)
    model = LinearBinary(w, 1.0 * float(torch.linalg.vector_norm(w * sigma)))
    repetitions, alpha = 3000, 0.1
    false = _false_certification_count(model, x, sigma, model.true_pa(x, sigma), repetitions, 10, 100, alpha, bound=lambda k, n: k / n)
    assert false > binom.ppf(1 - 1e-6, repetitions, alpha)
