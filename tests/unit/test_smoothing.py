"""Certification: closed forms, agreement with an independent CERTIFY, refusals, and soundness."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.stats import binom, norm

from support.benchmark_modules import load_benchmark
from nusmooth import (
    ABSTAIN,
    NonUniformSmoothing,
    certified_area,
    certify,
    clopper_pearson_lower,
    geometric_mean_radius,
    in_certified_region,
    l2_radius,
)
from nusmooth.smoothing import sample_counts

harness = load_benchmark("bench_false_certification")
LinearBinary = harness.LinearBinary


def linear_true_pa(w: torch.Tensor, b: float, x: torch.Tensor, sigma: torch.Tensor) -> float:
    """pA of the smoothed ``[w.x + b > 0]`` at ``x``: ``Phi(|w.x + b| / ||w * sigma||)``."""
    margin = float(x.flatten().double() @ w.flatten().double() + b)
    return float(norm.cdf(abs(margin) / float(torch.linalg.vector_norm(w.double() * sigma.double()))))


class Recorder(torch.nn.Module):
    """Remembers every input it sees; answers ``rule(x)`` (default: class 0) as one-hot scores."""

    def __init__(self, num_classes: int = 2, rule=None):
        super().__init__()
        self.seen = []
        self.num_classes = num_classes
        self.rule = rule
        self.eval()

    def forward(self, x):
        self.seen.append(x.clone())
        classes = torch.zeros(len(x), dtype=torch.long) if self.rule is None else self.rule(x)
        return torch.nn.functional.one_hot(classes, self.num_classes).float()


def noisy_copies(recorder: Recorder, points: torch.Tensor) -> torch.Tensor:
    """Flattened inputs the recorder saw, without the one-point width probes (exact clean points)."""
    seen = torch.cat(recorder.seen).flatten(1)
    is_clean = (seen.unsqueeze(1) == points.flatten(1).unsqueeze(0)).all(dim=2).any(dim=1)
    return seen[~is_clean]


class ConstantClass(torch.nn.Module):
    """Ignores its input and always answers ``answer``: every noisy copy votes for it."""

    def __init__(self, num_classes: int, answer: int):
        super().__init__()
        self.num_classes, self.answer = num_classes, answer
        self.eval()

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), self.answer), self.num_classes).float()


class AlternatingClass(torch.nn.Module):
    """Answers class 0 for even and 1 for odd positions in its batch: with an even batch size and an
    even number of copies per point, each point's votes split exactly in half."""

    def __init__(self):
        super().__init__()
        self.eval()

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.arange(len(x)) % 2, 2).float()


# --- Clopper-Pearson ---------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.001, 0.05])
@pytest.mark.parametrize("n", [1, 7, 100, 1000])
def test_clopper_pearson_bound_is_where_the_binomial_tail_reaches_alpha(n, alpha):
    """The one-sided lower bound p_L for k successes of n is defined by P(X >= k | p_L) = alpha."""
    k = np.arange(n + 1)
    bounds = clopper_pearson_lower(k, n, alpha)
    for successes in range(1, n + 1, max(1, n // 23)):
        assert binom.sf(successes - 1, n, bounds[successes]) == pytest.approx(alpha, rel=1e-7)
    assert bounds[0] == 0.0
    assert bounds[n] == pytest.approx(alpha ** (1 / n), rel=1e-12)
    assert np.all(np.diff(bounds) > 0), "more successes must give a larger lower bound"


def test_clopper_pearson_takes_scalars_and_rejects_impossible_counts():
    assert isinstance(clopper_pearson_lower(3, 10, 0.05), float)
    with pytest.raises(ValueError, match="counts"):
        clopper_pearson_lower(11, 10, 0.05)
    with pytest.raises(ValueError, match="counts"):
        clopper_pearson_lower(-1, 10, 0.05)


@pytest.mark.parametrize("n,expected", [(256, 1.9329), (512, 2.2144), (1000, 2.4633), (100000, 3.8115)])
def test_reference_radii_when_every_sample_is_correct(n, expected):
    assert norm.ppf(clopper_pearson_lower(n, n, 0.001)) == pytest.approx(expected, abs=5e-5)


# --- certified area ------------------------------------------------------------------------------


def test_radii_of_numbers_arrays_and_abstentions():
    sigma = torch.tensor([[0.5, 2.0], [1.0, 4.0]])
    assert l2_radius(1.5, sigma) == pytest.approx(0.75)
    assert l2_radius(1.5, np.array([0.5, 2.0])) == pytest.approx(0.75)
    np.testing.assert_allclose(l2_radius(np.array([1.5, np.nan, 0.0, 2.0]), 0.25), [0.375, 0.0, 0.0, 0.5])
    area = certified_area(sigma, 1.5)
    assert geometric_mean_radius(area, 4) == pytest.approx(1.5 * (0.5 * 2 * 1 * 4) ** 0.25)
    np.testing.assert_array_equal(geometric_mean_radius(np.array([-math.inf, 0.0]), 4), [0.0, 1.0])
    with pytest.raises(ValueError, match="num_elements"):
        geometric_mean_radius(area, 0)


def test_certified_area_definition():
    sigma = torch.tensor([[0.5, 2.0], [1.0, 4.0]])
    assert certified_area(sigma, 1.5) == pytest.approx(math.log(0.5 * 2 * 1 * 4) + 4 * math.log(1.5))
    assert certified_area(0.3, 2.0, num_elements=784) == pytest.approx(784 * math.log(0.6))
    assert certified_area(sigma, 0.0) == -math.inf
    with pytest.raises(ValueError, match="elements"):
        certified_area(sigma, 1.0, num_elements=5)


# --- closed forms: counts known exactly ------------------------------------------------------------


def test_unanimous_votes_certify_the_reference_radius_and_area():
    """A base model that always answers c gives n_A = n: pA_lower = alpha^(1/n), Phi^-1 = 2.4633 at
    n = 1000, alpha = 0.001, and O_CA = sum log sigma + D log 2.4633."""
    generator = torch.Generator().manual_seed(0)
    sigma = 0.1 + 0.9 * torch.rand((1, 4, 4), generator=generator)
    points = torch.rand((3, 1, 4, 4), generator=generator)
    n, alpha = 1000, 0.001
    certs = certify(
        ConstantClass(4, answer=2), points, sigma, n0=100, n=n, alpha=alpha, batch_size=256, generator=generator
    )
    np.testing.assert_array_equal(certs.prediction, [2, 2, 2])
    np.testing.assert_allclose(certs.pa_lower, alpha ** (1 / n), rtol=1e-12)
    np.testing.assert_allclose(certs.phi_inv_pa_lower, 2.4633, atol=5e-5)
    expected_area = float(torch.log(sigma.double()).sum()) + 16 * math.log(norm.ppf(alpha ** (1 / n)))
    np.testing.assert_allclose(certs.area, expected_area, rtol=1e-6)


def test_an_even_split_of_votes_abstains():
    points = torch.rand((3, 5))
    n0, n = 10, 200
    smoothing = NonUniformSmoothing(AlternatingClass(), 2, 0.3)
    certs = smoothing.certify_many(
        points, n0=n0, n=n, alpha=0.001, batch_size=64, generator=torch.Generator().manual_seed(0)
    )
    np.testing.assert_array_equal(certs.counts_selection, [[n0 // 2, n0 // 2]] * 3)
    np.testing.assert_array_equal(certs.counts_estimation, [[n // 2, n // 2]] * 3)
    np.testing.assert_array_equal(certs.prediction, [ABSTAIN] * 3)
    assert np.all(certs.pa_lower < 0.5)
    assert np.all(np.isnan(certs.phi_inv_pa_lower)) and np.all(certs.area == -math.inf)
    np.testing.assert_array_equal(certs.n_a, [n // 2] * 3)  # n_A is kept for abstentions too
    np.testing.assert_array_equal(certs.n, [n] * 3)
    np.testing.assert_array_equal(certs.l2_radius, [0.0] * 3)
    np.testing.assert_array_equal(certs.geometric_mean_radius, [0.0] * 3)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_lower_bound_of_exactly_one_half_abstains(n):
    """Unanimous votes of n copies bound pA at alpha^(1/n): exactly 0.5 at alpha = 0.5^n. There
    Phi^-1(pA_lower) = 0, the region is empty, and the point must abstain (not count as correct with
    area -inf). A slightly larger alpha lifts the bound above 0.5 and certifies."""
    points = torch.rand((2, 4))
    smoothing = NonUniformSmoothing(ConstantClass(3, answer=1), 3, 0.3)
    at_half = smoothing.certify_many(points, n0=1, n=n, alpha=0.5**n, batch_size=8)
    assert np.all(at_half.pa_lower == 0.5), "the bound must be exactly 0.5 for this test to mean anything"
    np.testing.assert_array_equal(at_half.n_a, [n, n])
    np.testing.assert_array_equal(at_half.prediction, [ABSTAIN, ABSTAIN])
    assert np.all(np.isnan(at_half.phi_inv_pa_lower)) and np.all(at_half.area == -math.inf)
    np.testing.assert_array_equal(at_half.l2_radius, [0.0, 0.0])
    above = smoothing.certify_many(points, n0=1, n=n, alpha=0.5**n * 1.01, batch_size=8)
    assert np.all(above.pa_lower > 0.5)
    np.testing.assert_array_equal(above.prediction, [1, 1])
    assert np.all(above.l2_radius > 0) and np.all(np.isfinite(above.area))


# --- reduction to Cohen ----------------------------------------------------------------------------


def binomial_tail_lower_bound(successes: int, n: int, alpha: float) -> float:
    """The p at which P(X >= successes) = alpha, found by root search on the binomial tail."""
    if successes == 0:
        return 0.0
    return brentq(lambda p: binom.sf(successes - 1, n, p) - alpha, 0.0, 1.0, xtol=1e-15, rtol=1e-14)


def cohen_certify(model, x, s: float, num_classes, n0, n, alpha, batch_size, generator):
    """Cohen et al.'s CERTIFY for one point, written from the paper: noisy copies ``x + s * z`` in
    chunks of ``batch_size`` (one ``randn`` per chunk), argmax votes, the binomial-tail lower bound.
    Returns ``(class, radius)``, or ``(ABSTAIN, None)``."""

    def votes(copies: int) -> np.ndarray:
        found = np.zeros(num_classes, dtype=np.int64)
        for start in range(0, copies, batch_size):
            size = min(batch_size, copies - start)
            batch = x.unsqueeze(0).repeat(size, *([1] * x.ndim))
            noise = torch.randn(batch.shape, generator=generator) * s
            found += np.bincount(model(batch + noise).argmax(dim=1).numpy(), minlength=num_classes)
        return found

    c_hat = int(np.argmax(votes(n0)))
    p_lower = binomial_tail_lower_bound(int(votes(n)[c_hat]), n, alpha)
    if p_lower < 0.5:
        return ABSTAIN, None
    return c_hat, s * norm.ppf(p_lower)


def test_constant_sigma_reduces_to_cohen_exactly():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4)).eval()
    with torch.no_grad():
        model[1].weight.mul_(4)
    points = torch.rand(6, 3, 2, 2)
    s, n0, n, alpha, batch_size = 0.4, 20, 300, 0.001, 64
    vector = certify(
        model,
        points,
        torch.full((3, 2, 2), s),
        n0=n0,
        n=n,
        alpha=alpha,
        generator=torch.Generator().manual_seed(1),
        batch_size=batch_size,
    )
    scalar = certify(
        model, points, s, n0=n0, n=n, alpha=alpha, generator=torch.Generator().manual_seed(1), batch_size=batch_size
    )
    np.testing.assert_array_equal(vector.counts_estimation, scalar.counts_estimation)
    np.testing.assert_array_equal(vector.prediction, scalar.prediction)
    np.testing.assert_allclose(vector.area, scalar.area, rtol=1e-12)

    s32 = float(torch.tensor(s, dtype=torch.float32))  # both sides draw noise scaled by float32 sigma
    outcomes = []
    for x in points:
        # Same seed per point on both sides: the same normal draws, counted and bounded independently.
        ours = NonUniformSmoothing(model, 4, s).certify(
            x, n0=n0, n=n, alpha=alpha, batch_size=batch_size, generator=torch.Generator().manual_seed(2)
        )
        cohen_class, cohen_radius = cohen_certify(
            model, x, s32, 4, n0, n, alpha, batch_size, torch.Generator().manual_seed(2)
        )
        assert ours.prediction[0] == cohen_class
        outcomes.append(cohen_class)
        if cohen_class == ABSTAIN:
            assert ours.area[0] == -math.inf
            continue
        assert s32 * ours.phi_inv_pa_lower[0] == pytest.approx(cohen_radius, rel=1e-9)
        assert ours.area[0] == pytest.approx(12 * math.log(cohen_radius), rel=1e-9)
    assert any(c != ABSTAIN for c in outcomes), "the comparison must exercise at least one certificate"


# --- sampling ----------------------------------------------------------------------------------------


def test_per_element_noise_std_matches_sigma():
    sigma = torch.tensor([[0.05, 0.3, 1.0], [2.0, 0.7, 3.5]]).unsqueeze(0)  # (1, 2, 3)
    recorder = Recorder()
    center = torch.rand(1, 1, 2, 3)
    samples = 20000
    sample_counts(
        recorder,
        center,
        sigma,
        num_samples=samples,
        num_classes=2,
        batch_size=4096,
        generator=torch.Generator().manual_seed(3),
    )
    noise = (noisy_copies(recorder, center) - center.flatten(1)).view(-1, 1, 2, 3)
    assert noise.shape[0] == samples
    # The sample std of N normals has relative standard error ~ 1/sqrt(2N); allow 5 of them.
    tolerance = 5 / math.sqrt(2 * samples)
    np.testing.assert_allclose(noise.std(dim=0).numpy(), sigma.numpy(), rtol=tolerance)
    np.testing.assert_allclose(noise.mean(dim=0).numpy(), 0.0, atol=5 * float(sigma.max()) / math.sqrt(samples))


def test_batches_mix_points_without_mixing_their_counts():
    """Copies of several points share a forward batch; each point's counts stay its own."""
    model = LinearBinary(torch.tensor([1.0, 0.0]), -0.5).eval()
    points = torch.tensor([[0.9, 0.0], [0.1, 0.0], [0.9, 1.0]])  # 4 sigmas from the boundary: 1, 0, 1
    counts = sample_counts(
        model,
        points,
        torch.tensor(0.01),
        num_samples=37,
        num_classes=2,
        batch_size=50,
        generator=torch.Generator().manual_seed(0),
    )
    np.testing.assert_array_equal(counts.numpy(), [[0, 37], [37, 0], [0, 37]])


def test_selection_and_estimation_count_their_own_fresh_copies():
    """No estimation copy repeats a selection copy, and each phase's counts are the votes of its own
    copies (recomputed here from what the model saw)."""
    num_points, n0, n = 3, 7, 11

    def rule(x):  # deterministic, but sensitive to the noise
        return (x.flatten(1).sum(dim=1) * 1000).floor().long() % 3

    recorder = Recorder(num_classes=3, rule=rule)
    points = torch.tensor([0.2, 0.5, 0.8]).view(num_points, 1).expand(num_points, 4).contiguous()
    sigma = 0.01  # copies stay within 0.1 of their own point: the nearest point is the owner
    certs = NonUniformSmoothing(recorder, 3, sigma).certify_many(
        points, n0=n0, n=n, alpha=0.01, batch_size=5, generator=torch.Generator().manual_seed(0)
    )
    copies = noisy_copies(recorder, points)
    assert len(copies) == num_points * (n0 + n)
    assert len(torch.unique(copies, dim=0)) == len(copies), "every noisy copy must be a fresh draw"
    selection, estimation = copies[: num_points * n0], copies[num_points * n0 :]
    assert float(torch.cdist(selection, estimation).min()) > 0

    def votes(phase):
        owner = torch.cdist(phase, points).argmin(dim=1)
        counts = np.zeros((num_points, 3), dtype=np.int64)
        np.add.at(counts, (owner.numpy(), rule(phase).numpy()), 1)
        return counts

    np.testing.assert_array_equal(votes(selection), certs.counts_selection)
    np.testing.assert_array_equal(votes(estimation), certs.counts_estimation)
    np.testing.assert_array_equal(certs.counts_selection.sum(axis=1), n0)
    np.testing.assert_array_equal(certs.counts_estimation.sum(axis=1), n)


# --- predict ---------------------------------------------------------------------------------------------


def test_predict_abstains_on_a_coin_flip_and_answers_a_clear_case():
    model = LinearBinary(torch.tensor([1.0]), -0.5).eval()
    smoothing = NonUniformSmoothing(model, 2, torch.tensor([0.1]))
    generator = torch.Generator().manual_seed(0)
    assert smoothing.predict(torch.tensor([0.5]), n=200, alpha=0.001, batch_size=100, generator=generator) == ABSTAIN
    assert smoothing.predict(torch.tensor([0.8]), n=200, alpha=0.001, batch_size=100, generator=generator) == 1
    assert smoothing.predict(torch.tensor([0.2]), n=200, alpha=0.001, batch_size=100, generator=generator) == 0


class ScriptedVotes(torch.nn.Module):
    """Answers a batch of ``len(votes)`` noisy copies with exactly ``votes`` (one-hot), whatever the
    input; any other batch (the one-point width probe) gets class 0. Exact counts, no sampling luck."""

    def __init__(self, votes: list[int], num_classes: int):
        super().__init__()
        self.votes, self.num_classes = torch.tensor(votes), num_classes
        self.eval()

    def forward(self, x):
        classes = self.votes if len(x) == len(self.votes) else torch.zeros(len(x), dtype=torch.long)
        return torch.nn.functional.one_hot(classes, self.num_classes).float()


def two_sided_p(k: int, m: int) -> float:
    """Exact two-sided binomial p-value of k successes in m at p = 1/2 (symmetric: twice the smaller tail)."""
    return min(1.0, 2 * float(binom.cdf(min(k, m - k), m, 0.5)))


@pytest.mark.parametrize(
    "counts,alpha,expected",
    [
        # Top 40 vs runner-up 15 (p = 0.001): answer. Tested against n = 70 (p = 0.28) it would abstain.
        ({2: 40, 0: 15, 1: 15}, 0.01, 2),
        # Top 50 vs runner-up 35 (p = 0.13): abstain. Tested against the third class (15; p = 1e-5) it would answer.
        ({1: 50, 2: 35, 0: 15}, 0.01, ABSTAIN),
        # Top 60 of n = 100 vs runner-up 30 (p = 0.0021): answer at alpha 0.01; 60 against n gives p = 0.057.
        ({0: 30, 1: 10, 2: 60}, 0.01, 2),
    ],
)
def test_predict_tests_the_top_class_against_the_runner_up(counts, alpha, expected):
    """Cohen's PREDICT with three classes: a two-sided binomial test of n_A against n_A + n_B (the
    runner-up), not against all n votes, nor against another class."""
    votes = [label for label, count in counts.items() for _ in range(count)]
    n = len(votes)
    model = ScriptedVotes(votes, 3)
    (top, k1), (_, k2) = sorted(counts.items(), key=lambda item: -item[1])[:2]
    assert (two_sided_p(k1, k1 + k2) <= alpha) == (expected != ABSTAIN) and (expected in (top, ABSTAIN))
    smoothing = NonUniformSmoothing(model, 3, torch.tensor([0.1]))
    assert (
        smoothing.predict(
            torch.tensor([0.5]), n=n, alpha=alpha, batch_size=n, generator=torch.Generator().manual_seed(0)
        )
        == expected
    )
    np.testing.assert_array_equal(
        smoothing.predict_many(torch.full((2, 1), 0.5), n=n, alpha=alpha, batch_size=n), [expected] * 2
    )


# --- refusals --------------------------------------------------------------------------------------------


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
        certify(Recorder(), torch.zeros(1, 3), torch.tensor([1.0, 0.0, 1.0]), n0=1, n=10, alpha=0.01, num_classes=2)


ENTRY_POINTS = {
    "certify": lambda model, points, sigma, **kw: certify(
        model, points, sigma, n0=4, n=8, alpha=0.01, batch_size=8, **kw
    ),
    "certify num_classes=2": lambda model, points, sigma, **kw: certify(
        model, points, sigma, n0=4, n=8, alpha=0.01, num_classes=2, batch_size=8, **kw
    ),
    "certify_many": lambda model, points, sigma, **kw: NonUniformSmoothing(model, 2, sigma).certify_many(
        points, n0=4, n=8, alpha=0.01, batch_size=8, **kw
    ),
    "NonUniformSmoothing.certify": lambda model, points, sigma, **kw: NonUniformSmoothing(model, 2, sigma).certify(
        points[0], n0=4, n=8, alpha=0.01, batch_size=8, **kw
    ),
    "predict_many": lambda model, points, sigma, **kw: NonUniformSmoothing(model, 2, sigma).predict_many(
        points, n=8, alpha=0.01, batch_size=8, **kw
    ),
    "predict": lambda model, points, sigma, **kw: NonUniformSmoothing(model, 2, sigma).predict(
        points[0], n=8, alpha=0.01, batch_size=8, **kw
    ),
}


def _with_nan(points):
    points = points.clone()
    points[0, 0, 2, 3] = float("nan")  # point 0: the single-point entries see it too
    return points


def _with_inf(points):
    points = points.clone()
    points[0, 0, 0, 0] = -float("inf")
    return points


BAD_INPUTS = {
    # name: (points from good ones, sigma, message pattern)
    "NaN point": (_with_nan, 0.25, "NaN or inf"),
    "inf point": (_with_inf, 0.25, "NaN or inf"),
    "uint8 points": (lambda p: (p * 255).to(torch.uint8), 0.25, r"uint8.*\.float\(\) / 255"),
    "points in [0, 255]": (
        lambda p: p * 255,
        0.25,
        r"points lie in \[.*\], outside input_range=\(0, 1\).*input_range=None",
    ),
    "negative points": (lambda p: p - 0.5, 0.25, "outside input_range"),
    "3-channel sigma on 1-channel points": (lambda p: p, torch.full((3, 1, 1), 0.25), r"\(3, 1, 1\).*\(1, 4, 4\)"),
    "sigma with an extra leading axis": (lambda p: p, torch.full((1, 1, 4, 4), 0.25), r"\(1, 1, 4, 4\).*\(1, 4, 4\)"),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_inputs_that_cannot_be_certified_are_refused_before_the_model_runs(entry, bad):
    make_points, sigma, message = BAD_INPUTS[bad]
    recorder = Recorder()
    points = make_points(torch.rand((2, 1, 4, 4), generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match=message):
        ENTRY_POINTS[entry](recorder, points, sigma)
    assert recorder.seen == []


@pytest.mark.parametrize("entry", ["certify", "certify num_classes=2", "certify_many", "predict_many"])
def test_an_empty_batch_of_points_is_refused(entry):
    recorder = Recorder()
    with pytest.raises(ValueError, match=r"at least one point, got shape \(0, 1, 4, 4\)"):
        ENTRY_POINTS[entry](recorder, torch.rand((0, 1, 4, 4)), 0.25)
    assert recorder.seen == []


@pytest.mark.parametrize("entry", [e for e in ENTRY_POINTS if e != "certify"])
@pytest.mark.parametrize("width", [3, 1])
def test_a_model_of_the_wrong_output_width_is_refused_before_counting(entry, width):
    recorder = Recorder(num_classes=width)
    points = torch.rand((2, 1, 4, 4))
    with pytest.raises(ValueError, match=rf"returns {width} class scores but num_classes=2.*num_classes={width}"):
        ENTRY_POINTS[entry](recorder, points, 0.25)
    assert sum(len(batch) for batch in recorder.seen) <= 1, "only a one-point probe may run, no noisy copy"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_each_entry_checks_the_model_once_per_call(entry):
    """The eval-mode and width checks run once where the caller enters: one clean one-point probe per
    call, not one per counting phase (selection and estimation) or per wrapper layer."""
    recorder = Recorder()
    points = torch.rand((2, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    ENTRY_POINTS[entry](recorder, points, 0.25)
    probes = [batch for batch in recorder.seen if len(batch) == 1 and any(torch.equal(batch[0], p) for p in points)]
    assert len(probes) == 1
    assert len(noisy_copies(recorder, points)) > 0, "the call must also have counted noisy copies"


def test_input_range_can_be_changed_or_switched_off():
    model = ConstantClass(2, answer=1)
    points = torch.rand((2, 1, 4, 4)) * 255
    for input_range in [None, (0.0, 255.0)]:
        certs = certify(model, points, 0.25 * 255, n0=4, n=8, alpha=0.01, batch_size=8, input_range=input_range)
        np.testing.assert_array_equal(certs.prediction, [1, 1])
    with pytest.raises(ValueError, match=r"outside input_range=\(-1, 1\)"):
        certify(model, points, 0.25, n0=4, n=8, alpha=0.01, input_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="low < high"):
        certify(model, points / 255, 0.25, n0=4, n=8, alpha=0.01, input_range=(1.0, 0.0))


# --- the caller's module mode ------------------------------------------------------------------------------


def _dropout_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2), torch.nn.Dropout(0.5))


def _modes(model: torch.nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


def _count_forwards(model: torch.nn.Module) -> list:
    calls = []
    model.register_forward_hook(lambda module, args, output: calls.append(len(args[0])))
    return calls


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("in_training", ["whole model", "dropout only"])
def test_a_model_in_training_mode_is_refused_and_left_as_it_was(entry, in_training):
    model = _dropout_model()
    if in_training == "dropout only":
        model.eval()
        model[2].train()
    before = _modes(model)
    calls = _count_forwards(model)
    with pytest.raises(ValueError, match=r"training mode.*dropout or batch-norm.*model\.eval\(\)"):
        ENTRY_POINTS[entry](model, torch.rand((2, 1, 4, 4)), 0.25)
    assert _modes(model) == before
    assert calls == []


def test_a_model_in_eval_mode_stays_in_eval_mode():
    model = _dropout_model().eval()
    smoothing = NonUniformSmoothing(model, 2, 0.25)
    certs = smoothing.certify_many(torch.rand((2, 1, 4, 4)), n0=4, n=8, alpha=0.01, batch_size=8)
    assert len(certs.prediction) == 2
    certify(model, torch.rand((2, 1, 4, 4)), 0.25, n0=4, n=8, alpha=0.01, batch_size=8)
    assert _modes(model) == [False] * 4


def test_building_the_smoothed_classifier_leaves_a_training_model_alone():
    model = _dropout_model()
    NonUniformSmoothing(model, 2, 0.25)
    assert _modes(model) == [True] * 4


def test_a_plain_function_is_a_valid_base_classifier():
    def always_one(x):
        return torch.nn.functional.one_hot(torch.ones(len(x), dtype=torch.long), 2).float()

    certs = certify(always_one, torch.rand((2, 1, 4, 4)), 0.25, n0=4, n=100, alpha=0.01, batch_size=64)
    np.testing.assert_array_equal(certs.prediction, [1, 1])


# --- the exact ellipsoid of a linear classifier -----------------------------------------------------------


def linear_problem(seed: int, d: int, margin: float):
    """``(w, sigma, x, b, generator)``: a random linear classifier [w.x + b > 0], a non-constant sigma,
    and a point x at ``margin`` from the boundary on class 1's side."""
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=generator, dtype=torch.float64)
    sigma = torch.rand(d, generator=generator, dtype=torch.float64) * 2 + 0.1
    x = torch.randn(d, generator=generator, dtype=torch.float64)
    return w, sigma, x, margin - float(w @ x), generator


def test_ellipsoid_from_true_pa_is_tight_for_a_linear_classifier():
    """With the true pA, the certified ellipsoid touches g's decision boundary: a point just inside
    keeps g's prediction, a point just outside (same direction) flips it."""
    d = 20
    w, sigma, x, b, generator = linear_problem(5, d, margin=1.5)  # g(x) = 1
    r = norm.ppf(linear_true_pa(w, b, x, sigma))
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


def test_l2_radius_is_the_largest_ball_in_the_ellipsoid_of_a_linear_classifier():
    """For f(x) = [w.x + b > 0] smoothed with sigma, pA = Phi(margin / ||sigma * w||) and R = Phi^-1(pA).
    The l2 ball of radius R * min(sigma) lies in the ellipsoid (and so keeps g constant), a step just
    beyond it along the axis of the smallest sigma leaves the ellipsoid, and exp(O_CA / D) is
    R * geomean(sigma)."""
    d = 30
    w, sigma, x, b, generator = linear_problem(6, d, margin=2.0)  # g(x) = 1
    pa = linear_true_pa(w, b, x, sigma)
    r = norm.ppf(pa)
    assert r == pytest.approx(2.0 / float(torch.linalg.vector_norm(sigma * w)), rel=1e-9)
    radius = l2_radius(r, sigma)
    assert radius == pytest.approx(r * float(sigma.min()), rel=1e-12)

    axis = torch.zeros(d, dtype=torch.float64)
    axis[int(torch.argmin(sigma))] = 1.0
    assert in_certified_region((1 - 1e-6) * radius * axis, sigma, r)
    assert not in_certified_region((1 + 1e-6) * radius * axis, sigma, r)
    # Every direction: a step of l2 norm just below the radius stays in the ellipsoid and keeps g.
    directions = torch.randn((500, d), generator=generator, dtype=torch.float64)
    deltas = (1 - 1e-9) * radius * directions / torch.linalg.vector_norm(directions, dim=1, keepdim=True)
    assert all(in_certified_region(delta, sigma, r) for delta in deltas)
    assert bool(((x + deltas) @ w + b > 0).all())
    # Along any other axis the ellipsoid reaches further: R * sigma_i.
    other = int(torch.argmax(sigma))
    assert in_certified_region(0.999 * r * sigma[other] * torch.eye(d, dtype=torch.float64)[other], sigma, r)

    area = certified_area(sigma, r)
    geomean = float(torch.exp(torch.log(sigma).mean()))
    assert geometric_mean_radius(area, d) == pytest.approx(r * geomean, rel=1e-12)
    assert geometric_mean_radius(certified_area(0.7, r, num_elements=d), d) == pytest.approx(
        l2_radius(r, 0.7), rel=1e-12
    )


def test_certify_many_records_the_counts_and_radii_of_each_point():
    model = LinearBinary(torch.tensor([1.0, 0.0, 0.0]), -0.5).eval()
    points = torch.tensor([[0.9, 0.2, 0.2], [0.52, 0.5, 0.5], [0.1, 0.7, 0.3]])  # clear, near the boundary, clear
    sigma = torch.tensor([0.2, 0.05, 0.4])
    certs = certify(
        model, points, sigma, n0=10, n=300, alpha=0.01, batch_size=128, generator=torch.Generator().manual_seed(0)
    )
    c_hat = certs.counts_selection.argmax(axis=1)
    np.testing.assert_array_equal(certs.n_a, certs.counts_estimation[np.arange(3), c_hat])
    np.testing.assert_array_equal(certs.n, [300] * 3)
    np.testing.assert_allclose(certs.pa_lower, clopper_pearson_lower(certs.n_a, 300, 0.01))
    certified = certs.prediction != ABSTAIN
    assert certified[0] and certified[2] and not certified[1]
    np.testing.assert_allclose(certs.l2_radius, np.where(certified, certs.phi_inv_pa_lower * 0.05, 0.0))
    np.testing.assert_allclose(certs.geometric_mean_radius, np.exp(certs.area / 3))
    assert certs.l2_radius[1] == 0.0 and certs.geometric_mean_radius[1] == 0.0


def test_certified_ellipsoids_of_a_linear_classifier_keep_g_constant():
    """certify_many on points of known pA: each returned ellipsoid ``||delta / sigma|| < Phi^-1(pA_lower)``
    must keep g's prediction (probed at its worst point and in random directions), and its size must
    not exceed the true Phi^-1(pA). Either may fail for at most an alpha fraction of the points."""
    margins = np.linspace(0.4, 3.0, 8) * np.where(np.arange(8) % 2 == 0, 1.0, -1.0)
    problem = harness.linear_problem(784, margins, copies=25, seed=7)
    alpha = 0.01
    certs = harness.certify_problem(problem, n0=10, n=200, alpha=alpha, batch_size=4096, seed=8)
    w, b = problem.model.w.double(), problem.model.b
    sigma = problem.sigma.double()
    generator = torch.Generator().manual_seed(9)
    certified = np.flatnonzero(certs.prediction != ABSTAIN)
    assert len(certified) >= len(problem.points) // 2, "the check must exercise many certificates"
    failures = 0
    for i in certified:
        x, r = problem.points[i].double(), float(certs.phi_inv_pa_lower[i])
        toward_boundary = (
            (1.0 if certs.prediction[i] == 1 else -1.0) * -(sigma**2) * w / torch.linalg.vector_norm(sigma * w)
        )
        random = torch.randn((20, len(w)), generator=generator, dtype=torch.float64)
        deltas = torch.cat(
            [toward_boundary.unsqueeze(0), sigma * random / torch.linalg.vector_norm(random, dim=1, keepdim=True)]
        )
        deltas = 0.999 * r * deltas
        assert all(in_certified_region(delta, sigma, r) for delta in deltas[:3])
        g_inside = ((x + deltas) @ w + b > 0).long().numpy()
        holds = (
            certs.prediction[i] == problem.true_class[i]
            and np.all(g_inside == certs.prediction[i])
            and r <= norm.ppf(problem.true_pa[i])
        )
        failures += not holds
    limit = binom.ppf(1 - 1e-6, len(problem.points), alpha)
    assert (
        failures <= limit
    ), f"{failures} of {len(problem.points)} certificates failed (limit {limit:.0f} at alpha={alpha})"


# --- soundness at scale ----------------------------------------------------------------------------------


SOUNDNESS_ALPHA, SOUNDNESS_N = 0.1, 100


@pytest.fixture(scope="module")
def linear_certificates():
    """3,000 certificates of a 784-dimensional linear classifier with a non-constant sigma over a
    spread of true pA values Phi(0.2) .. Phi(3), both classes."""
    margins = np.linspace(0.2, 3.0, 12) * np.where(np.arange(12) % 2 == 0, 1.0, -1.0)
    problem = harness.linear_problem(784, margins, copies=250, seed=0)
    assert problem.sigma.std() > 0.05, "sigma must be non-constant"
    certs = harness.certify_problem(problem, n0=10, n=SOUNDNESS_N, alpha=SOUNDNESS_ALPHA, batch_size=8192, seed=1)
    return problem, certs


def _soundness_limit(total: int) -> float:
    # Under soundness, false ~ Binomial(total, p <= alpha); fail only beyond its 1 - 1e-6 quantile.
    return binom.ppf(1 - 1e-6, total, SOUNDNESS_ALPHA)


def test_false_certification_rate_is_at_most_alpha(linear_certificates):
    problem, certs = linear_certificates
    assert (certs.prediction != ABSTAIN).mean() > 0.5, "the check must exercise many certificates"
    false = int(harness.false_certifications(problem, certs, SOUNDNESS_N).sum())
    limit = _soundness_limit(len(problem.points))
    assert (
        false <= limit
    ), f"{false} false certificates of {len(problem.points)} (limit {limit:.0f} at alpha={SOUNDNESS_ALPHA})"


def test_the_soundness_check_catches_an_unsound_bound(linear_certificates):
    """The same harness, on the same counts, rejects the plug-in estimate n_A / n used as if it were a lower bound."""
    problem, certs = linear_certificates
    false = int(harness.false_certifications(problem, certs, SOUNDNESS_N, bound=lambda k, n: k / n).sum())
    assert false > _soundness_limit(len(problem.points))


SHAPES = [(), (1,), (3,), (28,), (1, 1), (3, 1, 1), (1, 28, 28), (3, 28, 28), (2, 3, 28, 28), (0,), (3, 0), (28, 1)]


@pytest.mark.parametrize("target", [(1, 28, 28), (3, 32, 32), (3, 28, 28), (28,), (3, 0)])
def test_sigma_fits_the_points_exactly_where_torchs_broadcasting_leaves_them_unchanged(target):
    from nusmooth.smoothing import broadcasts_unchanged

    for shape in SHAPES:
        try:
            expected = torch.broadcast_shapes(shape, target) == target
        except RuntimeError:
            expected = False
        assert broadcasts_unchanged(shape, target) == expected, (shape, target)


def test_certifying_never_calls_torchs_broadcast_shapes(monkeypatch):
    """A certifying job's start: checking sigma's shape must not go through torch.broadcast_shapes, whose
    first call imports sympy (about 0.4 s of every such job)."""

    def refuse(*shapes):
        raise AssertionError("torch.broadcast_shapes was called")

    monkeypatch.setattr(torch, "broadcast_shapes", refuse)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    points, sigma = torch.rand(2, 1, 2, 2), torch.full((1, 2, 2), 0.5)
    certify(model, points, sigma, num_classes=2, n0=4, n=8, alpha=0.01, generator=torch.Generator().manual_seed(0))
