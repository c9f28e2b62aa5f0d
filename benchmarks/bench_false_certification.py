"""False certifications of the sound certificate, counted at scale on a problem with a known answer.

The base classifier is binary and linear, ``f(x) = [w.x + b > 0]``, in 784 dimensions, smoothed with
a non-constant sigma. Then ``pA = Phi(|w.x + b| / ||w * sigma||)`` exactly and the smoothed classifier
``g`` is ``f`` itself, so every certificate can be checked against the truth: it is *false* when it
names the wrong class, or claims ``Phi^-1(pA_lower) > Phi^-1(pA)`` (a region larger than g's true
one). Soundness promises a false certificate with probability at most ``alpha`` per certificate.

For each alpha this prints the number of certificates (over a spread of true pA values), how many
were not abstentions, the false certifications, their rate and its one-sided 99% Clopper-Pearson
upper bound, next to alpha. The tests run a small version of the same harness, and check that it
catches an unsound bound (the plug-in ``n_A / n``).

Run: ``python benchmarks/bench_false_certification.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import beta, norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow_scripts"))
from nusmooth.smoothing import ABSTAIN, Certificates, NonUniformSmoothing  # noqa: E402


class LinearBinary(torch.nn.Module):
    """``f(x) = [w.x + b > 0]`` as two logits ``(0, w.x + b)`` (class 1 when positive)."""

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        score = x.flatten(1) @ self.w + self.b
        return torch.stack([torch.zeros_like(score), score], dim=1)


@dataclass(frozen=True)
class LinearProblem:
    """Points of a linear base classifier with their exact smoothed class and pA."""

    model: LinearBinary
    points: torch.Tensor  # (P, dim) float32, inside [0, 1]
    sigma: torch.Tensor  # (dim,) float32, non-constant
    true_class: np.ndarray  # (P,) g(x)
    true_pa: np.ndarray  # (P,) P(f(x + sigma * z) = g(x))


def linear_problem(dim: int, margins, copies: int, seed: int) -> LinearProblem:
    """``copies`` repetitions of one point per entry of ``margins`` (non-zero): the point's signed
    distance to the boundary in units of ``||w * sigma||``, so its pA is ``Phi(|margin|)``.

    Points lie on a line through the middle of ``[0, 1]^dim`` along ``w``; sigma is drawn in
    ``[0.1, 0.5]`` per element.
    """
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, generator=generator)
    sigma = 0.1 + 0.4 * torch.rand(dim, generator=generator)
    center = torch.full((dim,), 0.5)
    spread = float(torch.linalg.vector_norm(w * sigma))
    margins = torch.as_tensor(np.repeat(np.asarray(margins, dtype=np.float64), copies), dtype=torch.float32)
    points = center + (margins * spread).unsqueeze(1) * (w / (w @ w))
    b = -float(w @ center)
    if points.min() < 0 or points.max() > 1:
        raise ValueError("margins too large for points to stay in [0, 1]; use smaller margins")
    # The truth is computed in float64 from the float32 tensors the model actually sees.
    w64, sigma64 = w.double(), sigma.double()
    exact_margin = (points.double() @ w64 + b) / torch.linalg.vector_norm(w64 * sigma64)
    return LinearProblem(
        model=LinearBinary(w, b).eval(),
        points=points,
        sigma=sigma,
        true_class=(exact_margin > 0).long().numpy(),
        true_pa=norm.cdf(exact_margin.abs().numpy()),
    )


def certify_problem(problem: LinearProblem, n0: int, n: int, alpha: float, batch_size: int, seed: int) -> Certificates:
    smoothing = NonUniformSmoothing(problem.model, 2, problem.sigma)
    return smoothing.certify_many(
        problem.points, n0=n0, n=n, alpha=alpha, batch_size=batch_size, generator=torch.Generator().manual_seed(seed)
    )


def false_certifications(problem: LinearProblem, certs: Certificates, n: int, bound=None) -> np.ndarray:
    """Which certificates claim more than the truth: a wrong class, or ``Phi^-1(pA_lower)`` above
    ``Phi^-1(pA)``. ``bound(n_A, n)`` replaces the library's bound on the same counts (to show that
    this check catches an unsound one)."""
    if bound is None:
        certified = certs.prediction != ABSTAIN
        claimed_class, claimed_phi = certs.prediction, certs.phi_inv_pa_lower
    else:
        claimed_class = certs.counts_selection.argmax(axis=1)
        claimed_pa = np.asarray(
            bound(certs.counts_estimation[np.arange(len(claimed_class)), claimed_class], n), dtype=np.float64
        )
        certified = claimed_pa >= 0.5
        claimed_phi = norm.ppf(claimed_pa)
    with np.errstate(invalid="ignore"):
        too_large = claimed_phi > norm.ppf(problem.true_pa)
    return certified & ((claimed_class != problem.true_class) | too_large)


def upper_bound_99(false: int, total: int) -> float:
    """One-sided 99% Clopper-Pearson upper bound on a rate seen ``false`` times in ``total``."""
    return 1.0 if false == total else float(beta.ppf(0.99, false + 1, total - false))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.01, 0.001])
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--margins", type=int, default=40, help="distinct true pA values, Phi(0.05) .. Phi(3)")
    parser.add_argument("--copies", type=int, default=500, help="certificates per pA value")
    parser.add_argument("--n0", type=int, default=10)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    magnitudes = np.linspace(0.05, 3.0, args.margins)
    margins = magnitudes * np.where(np.arange(args.margins) % 2 == 0, 1.0, -1.0)  # both classes
    problem = linear_problem(args.dim, margins, args.copies, args.seed)
    print(
        f"dim={args.dim} n0={args.n0} n={args.n} true pA in [{problem.true_pa.min():.4f}, {problem.true_pa.max():.4f}] "
        f"({args.margins} values x {args.copies} certificates) sigma in [{problem.sigma.min():.3f}, {problem.sigma.max():.3f}]"
    )
    print(
        f"{'alpha':>7} {'certificates':>12} {'certified':>9} {'false':>6} {'rate':>9} {'99% upper':>9} {'seconds':>7}"
    )
    for index, alpha in enumerate(args.alphas):
        start = time.perf_counter()
        certs = certify_problem(problem, args.n0, args.n, alpha, args.batch_size, args.seed + 1 + index)
        false = int(false_certifications(problem, certs, args.n).sum())
        total = len(problem.points)
        certified = int((certs.prediction != ABSTAIN).sum())
        seconds = time.perf_counter() - start
        print(
            f"{alpha:7g} {total:12d} {certified:9d} {false:6d} {false / total:9.2e} {upper_bound_99(false, total):9.2e} {seconds:7.1f}"
        )


if __name__ == "__main__":
    main()
