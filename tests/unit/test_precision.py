"""The GPU fast path: precision (fp32 exact, bf16 autocast and still sound), memory layout, compilation,
backend flags. Everything runs on the CPU (bf16 autocast exists there); CUDA-only checks skip without a GPU."""

import copy
import math

import numpy as np
import pytest
import torch
from support.benchmark_modules import load_benchmark
from scipy.stats import beta, binom, norm

from nusmooth import ABSTAIN, NonUniformSmoothing, certify
from nusmooth.forward import configure_backends, float32_is_exact, prepare_model
from nusmooth.networks import CifarResNet
from nusmooth.smoothing import sample_counts
from nusmooth.surrogate import PA_CLAMP, SigmaOptimizer, smoothed_softmax_surrogate

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible to torch)")


# Class 1 iff ``w.x + b > 0``, as two logits. The product is a matmul, so bf16 autocast rounds the
# noisy input and the weights to bfloat16: the bf16 classifier is a (slightly) different one.
LinearBinary = load_benchmark("bench_false_certification").LinearBinary


class AutocastProbe(torch.nn.Module):
    """A linear model that records whether each forward pass ran under CPU autocast."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 3)
        self.autocast_seen = []

    def forward(self, x):
        self.autocast_seen.append(torch.is_autocast_enabled("cpu"))
        return self.linear(x)


def smooth_model() -> torch.nn.Module:
    """A 10-class linear model on 1x8x8 inputs: its decision moves slowly with the input."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()


# --- fp32 changes nothing ----------------------------------------------------------------------------


def direct_counts(model, points, sigma, num_samples: int, num_classes: int, batch_size: int, generator) -> torch.Tensor:
    """The counts written out plainly: the model called on each batch of noisy copies (point p owns copies
    p * num_samples ..), one ``randn`` per batch from ``generator``, outside any autocast."""
    flat, flat_sigma = points.reshape(len(points), -1), sigma.expand(points.shape[1:]).reshape(-1)
    counts = torch.zeros(len(points), num_classes, dtype=torch.int64)
    total = len(points) * num_samples
    with torch.no_grad():
        for start in range(0, total, batch_size):
            owner = torch.arange(start, min(start + batch_size, total)) // num_samples
            noise = torch.randn((len(owner), flat.shape[1]), generator=generator)
            noisy = torch.addcmul(flat[owner], noise, flat_sigma).view(len(owner), *points.shape[1:])
            counts.index_put_((owner, model(noisy).argmax(1)), torch.tensor(1), accumulate=True)
    return counts


def test_fp32_option_gives_bit_identical_counts_and_certificates():
    """fp32 counts are the model's own votes on the same noise (not merely what the default gives: a
    default that ran under autocast would agree with itself)."""
    model, points, sigma = smooth_model(), torch.rand(6, 1, 8, 8), torch.rand(1, 8, 8) * 0.4 + 0.05
    direct = direct_counts(model, points, sigma, 300, 10, 128, torch.Generator().manual_seed(1))
    for options in ({}, {"precision": "fp32"}):
        counted = sample_counts(
            model,
            points,
            sigma,
            num_samples=300,
            num_classes=10,
            batch_size=128,
            generator=torch.Generator().manual_seed(1),
            **options,
        )
        assert torch.equal(counted, direct)
    # certify: selection (n0) then estimation (n) from one generator, in that order.
    generator = torch.Generator().manual_seed(2)
    selection, estimation = (direct_counts(model, points, sigma, count, 10, 1000, generator) for count in (20, 200))
    assert (
        int(((estimation > 0).sum(1) > 1).sum()) >= 4
    ), "the noise must split most points' votes (or any model would agree)"
    for options in ({}, {"precision": "fp32"}):
        certs = certify(
            model, points, sigma, n0=20, n=200, alpha=0.01, generator=torch.Generator().manual_seed(2), **options
        )
        np.testing.assert_array_equal(certs.counts_selection, selection.numpy())
        np.testing.assert_array_equal(certs.counts_estimation, estimation.numpy())


def test_fp32_surrogate_is_the_plain_forward_pass_bit_for_bit():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    x, labels, sigma = torch.randn(4, 6), torch.tensor([0, 1, 2, 1]), torch.rand(6) + 0.1
    pa_hat, _ = smoothed_softmax_surrogate(
        model, x, labels, sigma, num_copies=8, generator=torch.Generator().manual_seed(3), precision="fp32"
    )
    noise = torch.randn((4, 8, 6), generator=torch.Generator().manual_seed(3))
    direct = model((x.unsqueeze(1) + noise * sigma).flatten(0, 1)).view(4, 8, 3).softmax(-1)
    assert torch.equal(pa_hat, direct[torch.arange(4), :, labels].mean(1))


def test_fp32_option_learns_the_bit_identical_sigma():
    """fp32 sigma learning is Adam on log sigma through the model called directly on the same noise."""
    x, labels = torch.rand(32, 6), torch.ones(32, dtype=torch.long)
    batches = [(x[i : i + 8], labels[i : i + 8]) for i in range(0, 32, 8)]
    lr, gamma, copies = 0.2, 0.7, 8

    def model():
        torch.manual_seed(0)
        linear = torch.nn.Linear(6, 2)
        with torch.no_grad():
            linear.bias.copy_(torch.tensor([-3.0, 3.0]))  # class 1 clearly ahead: every example counts
        return linear.eval().requires_grad_(False)

    def learned(**precision):
        optimizer = SigmaOptimizer(
            model(),
            (6,),
            init_sigma=0.3,
            lr=lr,
            gamma=gamma,
            num_copies=copies,
            generator=torch.Generator().manual_seed(7),
            **precision,
        )
        stats = [optimizer.run_sub_epoch(batches) for _ in range(2)]
        assert all(s.skipped_batches == 0 for s in stats), "every step must reach the optimiser"
        return optimizer.sigma

    def direct():
        net, generator = model(), torch.Generator().manual_seed(7)
        log_sigma = torch.full((6,), math.log(0.3), requires_grad=True)
        adam = torch.optim.Adam([log_sigma], lr=lr)
        for sub_epoch in range(2):
            for group in adam.param_groups:
                group["lr"] = lr * gamma**sub_epoch
            for xb, yb in batches:
                noise = torch.randn((len(xb), copies, 6), generator=generator)
                logits = net((xb.unsqueeze(1) + noise * log_sigma.exp()).flatten(0, 1)).view(len(xb), copies, 2)
                pa_hat = logits.softmax(-1)[torch.arange(len(xb)), :, yb].mean(1)
                assert (logits.argmax(-1) == 1).all() and (pa_hat > 0.5).all()  # every example counts
                loss = -(
                    log_sigma.sum() + 6 * torch.log(torch.special.ndtri(pa_hat.clamp(PA_CLAMP, 1 - PA_CLAMP)))
                ).mean()
                adam.zero_grad()
                loss.backward()
                adam.step()
        return log_sigma.detach().exp()

    reference = direct()
    assert not torch.allclose(reference, torch.full((6,), 0.3)), "sigma must have moved"
    assert torch.equal(learned(), reference)
    assert torch.equal(learned(precision="fp32"), reference)


def test_autocast_is_entered_for_bf16_only():
    probe = AutocastProbe().eval()
    points, sigma = torch.rand(2, 6), torch.tensor(0.1)
    sample_counts(probe, points, sigma, num_samples=5, num_classes=3, batch_size=4, precision="fp32")
    smoothed_softmax_surrogate(probe, points, torch.tensor([0, 1]), sigma, num_copies=3, precision="fp32")
    assert probe.autocast_seen and not any(probe.autocast_seen)
    probe.autocast_seen.clear()
    sample_counts(probe, points, sigma, num_samples=5, num_classes=3, batch_size=4, precision="bf16")
    smoothed_softmax_surrogate(probe, points, torch.tensor([0, 1]), sigma, num_copies=3, precision="bf16")
    assert probe.autocast_seen and all(probe.autocast_seen)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: NonUniformSmoothing(torch.nn.Linear(2, 2), 2, 0.5, precision=p),
        lambda p: SigmaOptimizer(
            torch.nn.Linear(2, 2), (2,), init_sigma=0.5, lr=0.1, gamma=0.5, num_copies=4, precision=p
        ),
        lambda p: sample_counts(
            torch.nn.Linear(2, 2),
            torch.zeros(1, 2),
            torch.tensor(0.5),
            num_samples=4,
            num_classes=2,
            batch_size=4,
            precision=p,
        ),
    ],
)
def test_unknown_precision_is_refused_with_the_fix(make):
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16'\], got 'fp16'.*Fix"):
        make("fp16")


# --- bf16: close to fp32, and sound for the bf16 classifier ------------------------------------------------


def test_bf16_counts_are_close_to_fp32_on_a_smooth_model():
    model, points, sigma = smooth_model(), torch.rand(8, 1, 8, 8), torch.full((1, 8, 8), 0.3)
    n = 2000
    fp32 = sample_counts(
        model, points, sigma, num_samples=n, num_classes=10, batch_size=1024, generator=torch.Generator().manual_seed(4)
    )
    bf16 = sample_counts(
        model,
        points,
        sigma,
        num_samples=n,
        num_classes=10,
        batch_size=1024,
        generator=torch.Generator().manual_seed(4),
        precision="bf16",
    )
    assert (bf16.sum(1) == n).all()
    # Same noise, so the counts differ only where bf16 rounding flips a near-tie between two classes.
    total_variation = (bf16 - fp32).abs().sum(1) / (2 * n)
    assert float(total_variation.max()) < 0.02, total_variation


def bf16_pa_upper_bound(model, x, sigma, samples: int, level: float = 1e-6) -> float:
    """An upper (1 - level) Clopper-Pearson bound on pA(class 1) of the bf16 classifier, from a huge
    float32-noise sample of it: no closed form exists once the noisy input is rounded to bfloat16."""
    counts = sample_counts(
        model,
        x.unsqueeze(0),
        sigma,
        num_samples=samples,
        num_classes=2,
        batch_size=1 << 18,
        generator=torch.Generator().manual_seed(99),
        precision="bf16",
    )
    k = int(counts[0, 1])
    return 1.0 if k == samples else float(beta.ppf(1 - level, k + 1, samples - k))


def false_certifications(certs, true_pa: float) -> int:
    """Certificates claiming more than the truth: a class other than 1, or Phi^-1(pA_lower) > Phi^-1(pA)."""
    certified = certs.prediction != ABSTAIN
    return int((certified & ((certs.prediction != 1) | (certs.phi_inv_pa_lower > norm.ppf(true_pa)))).sum())


@pytest.mark.parametrize("margin", [0.3, 1.0])
def test_bf16_false_certification_rate_is_at_most_alpha(margin):
    """Soundness for the bf16 classifier with a non-constant sigma. Its pA is bounded above from a
    2,000,000-copy sample of that very classifier (1e-6 level), since rounding the noisy input to bfloat16
    leaves no closed form; a larger claimed pA is a false certificate. The same check catches the
    plug-in estimate n_A / n used as a bound, so it has power at this reference."""
    generator = torch.Generator().manual_seed(int(margin * 10))
    d = 8
    w = torch.randn(d, generator=generator)
    sigma = torch.rand(d, generator=generator) + 0.2
    x = torch.zeros(d)
    model = LinearBinary(w, margin * float(torch.linalg.vector_norm(w * sigma))).eval()  # fp32: pA = Phi(margin)
    true_pa = bf16_pa_upper_bound(model, x, sigma, 2_000_000)
    assert true_pa == pytest.approx(norm.cdf(margin), abs=0.01), "the bf16 classifier should stay close to the fp32 one"
    repetitions, alpha, n0, n = 3000, 0.1, 10, 100
    certs = NonUniformSmoothing(model, 2, sigma, precision="bf16").certify_many(
        x.expand(repetitions, -1).contiguous(),
        n0=n0,
        n=n,
        alpha=alpha,
        batch_size=4096,
        generator=torch.Generator().manual_seed(11),
    )
    limit = binom.ppf(1 - 1e-6, repetitions, alpha)  # under soundness: Binomial(repetitions, p <= alpha)
    false = false_certifications(certs, true_pa)
    assert false <= limit, f"{false} false certificates of {repetitions} (limit {limit:.0f} at alpha={alpha})"
    c_hat = certs.counts_selection.argmax(axis=1)
    plug_in = certs.counts_estimation[np.arange(repetitions), c_hat] / n
    assert int(((plug_in >= 0.5) & ((c_hat != 1) | (plug_in > true_pa))).sum()) > limit


def test_bf16_sigma_learning_runs_and_learns_the_same_lesson():
    """bf16 sigma learning follows the fp32 one: the feature the model reads keeps the smallest sigma."""
    model = torch.nn.Linear(6, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
        model.weight[1, 0] = 4.0
    x, labels = torch.full((64, 6), 0.5), torch.ones(64, dtype=torch.long)
    batches = [(x[i : i + 16], labels[i : i + 16]) for i in range(0, 64, 16)]
    optimizer = SigmaOptimizer(
        model.eval(),
        (6,),
        init_sigma=0.2,
        lr=0.5,
        gamma=0.9,
        num_copies=16,
        generator=torch.Generator().manual_seed(0),
        precision="bf16",
    )
    for _ in range(5):
        optimizer.run_sub_epoch(batches)
    sigma = optimizer.sigma
    assert sigma.dtype == torch.float32 and torch.isfinite(sigma).all()
    assert sigma[1:].min() > 5 * sigma[0]


# --- memory layout and compilation ----------------------------------------------------------------------------


def test_channels_last_model_gives_the_predictions_of_nchw():
    torch.manual_seed(0)
    nchw = CifarResNet(depth=8, num_classes=10).eval()
    fast = prepare_model(copy.deepcopy(nchw), channels_last=True, compile=False)
    assert fast.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not nchw.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    points, sigma = torch.rand(4, 3, 32, 32), torch.full((3, 32, 32), 0.1)
    with torch.no_grad():
        reference = nchw(points)
        torch.testing.assert_close(fast(points), reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
    counts = [
        sample_counts(
            model,
            points,
            sigma,
            num_samples=16,
            num_classes=10,
            batch_size=32,
            generator=torch.Generator().manual_seed(5),
        )
        for model in (nchw, fast)
    ]
    assert torch.equal(*counts)


def test_prepare_model_without_options_returns_the_model_untouched():
    model = CifarResNet(depth=8, num_classes=10)
    assert prepare_model(model, channels_last=False, compile=False) is model
    assert not model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


def inductor_unavailable() -> str | None:
    """Why torch.compile cannot build CPU kernels here (no C++ compiler, ...), or None when it can."""
    try:
        torch.compile(lambda t: t * 2 + 1)(torch.ones(3))
    except Exception as error:  # the toolchain check: any failure means "cannot test compile here"
        return f"torch.compile (inductor) does not work on this machine: {type(error).__name__}: {str(error)[:200]}"
    return None


def test_compiled_model_counts_and_learns_like_the_eager_one():
    reason = inductor_unavailable()
    if reason:
        pytest.skip(reason)
    eager = smooth_model()
    with torch.no_grad():  # sharper logits: the clean class's softmax passes 0.5, so a sigma step counts
        eager[1].weight.mul_(10)
        eager[1].bias.mul_(10)
    compiled = prepare_model(eager, channels_last=False, compile=True)
    assert compiled is not eager
    points, sigma = torch.rand(3, 1, 8, 8), torch.full((1, 8, 8), 0.3)
    counts = [
        sample_counts(
            model,
            points,
            sigma,
            num_samples=100,
            num_classes=10,
            batch_size=60,
            generator=torch.Generator().manual_seed(6),
        )
        for model in (eager, compiled)
    ]
    assert torch.equal(*counts)
    labels = torch.tensor([0, 1, 2])
    pa = [
        smoothed_softmax_surrogate(
            model, points, labels, sigma, num_copies=4, generator=torch.Generator().manual_seed(7)
        )[0]
        for model in (eager, compiled)
    ]
    torch.testing.assert_close(pa[1], pa[0], rtol=1e-5, atol=1e-6)
    # Learning runs a backward pass through the model: one sigma step on each, from the same noise.
    labels = torch.stack([eager(p.unsqueeze(0)).argmax(1)[0] for p in points]).detach()  # the clean votes: counted
    # Adam's first step is about lr * sign(gradient), so the gradients are compared as well: a compiled
    # model that passed no gradient back would leave only the -sum(log sigma) term's, of the same sign.
    stepped, gradients = [], []
    for model in (eager, compiled):
        optimizer = SigmaOptimizer(
            model,
            (1, 8, 8),
            init_sigma=0.05,
            lr=0.1,
            gamma=0.5,
            num_copies=8,
            generator=torch.Generator().manual_seed(8),
        )
        loss, counted = optimizer.step(points, labels)
        assert loss is not None and counted > 0, "the step must reach the optimiser"
        stepped.append(optimizer.sigma)
        gradients.append(optimizer.log_sigma.grad.clone())
    assert not torch.allclose(stepped[0], torch.full((1, 8, 8), 0.05)), "sigma must have moved"
    assert (gradients[0] + 1).abs().max() > 1e-2, "the model's term must reach the gradient"
    torch.testing.assert_close(gradients[1], gradients[0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(stepped[1], stepped[0], rtol=1e-5, atol=1e-7)


# --- backend flags -----------------------------------------------------------------------------------------


@pytest.fixture
def restore_backend_flags():
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.benchmark, cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision, matmul.fp32_precision)
    yield
    cudnn.benchmark, cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision, matmul.fp32_precision = saved


def test_configure_backends_turns_tf32_off_and_benchmark_on_for_cuda_only(restore_backend_flags):
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # PyTorch's own default for cuDNN convolutions
    assert not float32_is_exact()
    configure_backends("cuda", cudnn_benchmark=True)
    assert float32_is_exact() and torch.backends.cudnn.benchmark
    configure_backends("cpu", cudnn_benchmark=True)
    assert float32_is_exact() and not torch.backends.cudnn.benchmark


# --- on a GPU ----------------------------------------------------------------------------------------------------


@needs_cuda
def test_cuda_bf16_counts_are_close_to_fp32_and_channels_last_agrees(restore_backend_flags):
    device = torch.device("cuda")
    configure_backends(device, cudnn_benchmark=True)
    torch.manual_seed(0)
    nchw = CifarResNet(depth=20, num_classes=10).to(device).eval()
    model = prepare_model(copy.deepcopy(nchw), channels_last=True, compile=False)
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not nchw.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    points, sigma = torch.rand(8, 3, 32, 32, device=device), torch.full((3, 32, 32), 0.12, device=device)
    n = 2000

    def counts(net, precision):
        return sample_counts(
            net,
            points,
            sigma,
            num_samples=n,
            num_classes=10,
            batch_size=4000,
            generator=torch.Generator(device=device).manual_seed(1),
            precision=precision,
        )

    fp32 = counts(model, "fp32")
    assert (fp32.sum(1) == n).all()
    total_variation = (counts(model, "bf16") - fp32).abs().sum(1) / (2 * n)
    assert float(total_variation.max()) < 0.05, total_variation
    # The NCHW twin, on the same noise: other cuDNN kernels, so only float32 rounding may differ.
    with torch.no_grad():
        reference = nchw(points)
        torch.testing.assert_close(model(points), reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
    twin_variation = (counts(nchw, "fp32") - fp32).abs().sum(1) / (2 * n)
    assert float(twin_variation.max()) < 0.01, twin_variation
