"""Sound prediction and certification of a non-uniformly smoothed classifier.

The smoothed classifier is ``g(x) = argmax_c P(f(x + sigma * z) = c)`` with ``z ~ N(0, I)`` and
``sigma`` a tensor of the input's shape (one standard deviation per input element). Theorem 3.1 of
Tecot et al. certifies ``g`` on the ellipsoid ``||delta / sigma||_2 < Phi^-1(pA_lower)``. With a
constant sigma this is exactly Cohen et al.'s certificate (radius ``sigma * Phi^-1(pA_lower)``).

Everything here counts hard predictions and bounds them with Clopper-Pearson: these are the
certificates. The differentiable training objective lives in :mod:`nusmooth.surrogate` and is not one.

Shapes: a single input ``x`` is ``(C, H, W)`` (any shape works, called ``S`` below), a batch of
points is ``(P, *S)``, ``sigma`` is a scalar or a shape that broadcasts to ``S`` without changing it.

What is refused (``ValueError``, before any noisy copy reaches the model): a base model in training
mode (dropout or batch-norm would make the base classifier random between copies), a base model
whose output width is not ``num_classes``, points that are not floating point, not finite, or
outside ``input_range`` (``[0, 1]`` by default: sigma is measured in that pixel space), and a sigma
that does not fit the points. The caller's module mode is never changed. Each public entry makes these checks once
per call, before counting, never again per batch or per counting phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# scipy.special, not scipy.stats: the same functions (beta.ppf is betaincinv, norm.ppf is ndtri, bit for
# bit) without the second it takes every stage job to import scipy.stats.
from scipy.special import betaincinv, ndtri
from tqdm import tqdm

from .forward import check_precision, forward_logits
from .registry import ABSTAIN  # the class index returned when the smoothed classifier declines to answer


def clopper_pearson_lower(n_a, n: int, alpha: float):
    """One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion.

    ``beta.ppf(alpha, n_a, n - n_a + 1)`` (computed as ``betaincinv(n_a, n - n_a + 1, alpha)``), defined
    as 0 when ``n_a == 0``. Works elementwise on arrays.
    """
    n_a = np.asarray(n_a, dtype=np.float64)
    if np.any(n_a < 0) or np.any(n_a > n):
        raise ValueError(f"counts must lie in [0, n={n}], got {n_a}")
    with np.errstate(invalid="ignore"):
        bound = betaincinv(n_a, n - n_a + 1, alpha)
    bound = np.where(n_a == 0, 0.0, bound)
    return float(bound) if bound.ndim == 0 else bound


def certified_area(sigma: torch.Tensor, phi_inv_pa_lower, num_elements: int | None = None):
    """Log-volume of the certified ellipsoid without the unit-ball constant (the paper's O_CA).

    ``O_CA = sum_i log(sigma_i) + D * log(Phi^-1(pA_lower))`` where ``D`` is the input dimension.
    A scalar sigma means an isotropic sigma over ``num_elements`` inputs (then ``O_CA = D log radius``).
    Returns ``-inf`` wherever ``Phi^-1(pA_lower) <= 0`` (no region).
    """
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    if num_elements is None:
        num_elements = sigma.numel()
    if sigma.numel() == 1:
        log_det = num_elements * math.log(float(sigma))
    elif sigma.numel() == num_elements:
        log_det = float(torch.log(sigma).sum())
    else:
        raise ValueError(f"sigma has {sigma.numel()} elements but the input has {num_elements}")
    phi = np.asarray(phi_inv_pa_lower, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        area = np.where(phi > 0, log_det + num_elements * np.log(np.where(phi > 0, phi, 1.0)), -np.inf)
    return float(area) if area.ndim == 0 else area


def l2_radius(phi_inv_pa_lower, sigma):
    """Radius of the largest l2 ball inside the certified ellipsoid: ``Phi^-1(pA_lower) * min(sigma)``.

    The ellipsoid ``||delta / sigma||_2 < R`` has semi-axes ``R * sigma_i``; its shortest one,
    ``R * min(sigma)``, is the largest l2 radius it contains (every ``delta`` with
    ``||delta||_2 < R min(sigma)`` has ``||delta / sigma||_2 <= ||delta||_2 / min(sigma) < R``, and along the
    axis of the smallest sigma the ellipsoid ends at that radius). This is the radius other randomized
    smoothing papers report; for a constant sigma it is Cohen et al.'s ``sigma * Phi^-1(pA_lower)``.

    ``phi_inv_pa_lower`` is a number or an array (one per point), ``sigma`` a scalar, array or tensor
    (only its minimum matters). A point without a region (NaN, as for an abstention, or ``<= 0``) has
    radius ``0``: it is not certified at any radius.
    """
    smallest = float(torch.as_tensor(sigma, dtype=torch.float64).min())
    phi = np.asarray(phi_inv_pa_lower, dtype=np.float64)
    radius = np.where(phi > 0, phi, 0.0) * smallest  # NaN > 0 is False: an abstention gets radius 0
    return float(radius) if radius.ndim == 0 else radius


def geometric_mean_radius(area, num_elements: int):
    """``exp(O_CA / D)``: the certified area read as a radius (the radius of the ball of the same volume).

    ``O_CA = sum_i log sigma_i + D log R``, so ``exp(O_CA / D) = R * geomean(sigma)``; for a constant
    sigma it is the l2 radius. An area of ``-inf`` (no region) gives ``0``. Works on numbers and arrays.
    """
    if num_elements < 1:
        raise ValueError(f"num_elements (the input dimension D) must be >= 1, got {num_elements}")
    radius = np.exp(np.asarray(area, dtype=np.float64) / num_elements)
    return float(radius) if radius.ndim == 0 else radius


@dataclass(frozen=True, kw_only=True)
class Certificates:
    """Certificates of several points (arrays of length P).

    ``prediction`` is ``ABSTAIN`` unless ``pA_lower > 0.5`` (strictly: at 0.5 the region is empty);
    there ``phi_inv_pa_lower`` is NaN, ``area`` is ``-inf`` and both radii are 0.
    ``counts_selection`` / ``counts_estimation`` are the raw class counts; ``n_a`` is the estimation
    count of the selected class ``c_hat`` (also for abstentions), out of ``n`` (the property).
    ``l2_radius`` is :func:`l2_radius`, ``geometric_mean_radius`` is :func:`geometric_mean_radius`.
    """

    prediction: np.ndarray
    pa_lower: np.ndarray
    phi_inv_pa_lower: np.ndarray
    area: np.ndarray
    counts_selection: np.ndarray
    counts_estimation: np.ndarray
    n_a: np.ndarray
    l2_radius: np.ndarray
    geometric_mean_radius: np.ndarray

    @property
    def n(self) -> np.ndarray:
        """Number of estimation copies per point (the ``n`` of ``n_A`` of ``n``)."""
        return self.counts_estimation.sum(axis=1)


#: The range points must lie in unless the caller says otherwise: sigma lives in [0, 1] pixel space.
PIXEL_RANGE = (0.0, 1.0)


def broadcasts_unchanged(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether a tensor of ``shape`` broadcasts to ``target`` leaving ``target`` as it is (torch's rule,
    trailing dimensions aligned: each is 1 or ``target``'s). Written out rather than through
    ``torch.broadcast_shapes``, whose first call imports sympy: about 0.4 s of every certifying job's
    start."""
    return len(shape) <= len(target) and all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def _check_sigma(sigma: torch.Tensor, point_shape: torch.Size) -> torch.Tensor:
    sigma = torch.as_tensor(sigma)
    if torch.any(~torch.isfinite(sigma)) or torch.any(sigma <= 0):
        raise ValueError("sigma must be finite and strictly positive everywhere")
    if not broadcasts_unchanged(tuple(sigma.shape), tuple(point_shape)):
        # Broadcasting the other way would silently certify copies of the points, not the points.
        raise ValueError(
            f"sigma of shape {tuple(sigma.shape)} does not fit points of shape S = {tuple(point_shape)}: sigma must be a "
            f"scalar or broadcast to S without changing it. Fix: give sigma the shape {tuple(point_shape)} (or one that "
            "broadcasts to it, e.g. (C, 1, 1) per channel), or reshape the points to (P, *S)"
        )
    return sigma


def _check_points(points: torch.Tensor, input_range: tuple[float, float] | None) -> None:
    """Refuse points whose certificate would mean nothing: none, integers, NaN / inf, or out of range."""
    if points.ndim < 1 or len(points) == 0:
        raise ValueError(
            f"points must be (P, *S) with at least one point, got shape {tuple(points.shape)}. "
            "Fix: pass a batch of points (a single point x as x.unsqueeze(0))"
        )
    if not torch.is_floating_point(points):
        raise ValueError(
            f"points have dtype {points.dtype}; sigma is measured on floating-point inputs in [0, 1]. "
            "Fix: convert images with points.float() / 255"
        )
    finite = torch.isfinite(points.reshape(len(points), math.prod(points.shape[1:]))).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()
        raise ValueError(
            f"{len(bad)} of {len(points)} points contain NaN or inf (first: point {int(bad[0])}); no class can be "
            "certified for them. Fix: drop or repair those points before certifying"
        )
    if input_range is None:
        return
    low, high = _checked_range(input_range)
    observed_min, observed_max = (float(v) for v in torch.aminmax(points))
    if observed_min < low or observed_max > high:
        raise ValueError(
            f"points lie in [{observed_min:g}, {observed_max:g}], outside input_range=({low:g}, {high:g}); sigma is "
            "measured in the points' own units, so points on another scale (e.g. [0, 255]) make every certificate "
            "meaningless. Fix: scale the points to [0, 1] (images: .float() / 255), or pass input_range=(low, high) "
            "for the space sigma was chosen in, or input_range=None to skip this check"
        )


def _checked_range(input_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in input_range)
    except (TypeError, ValueError) as error:
        raise ValueError(f"input_range must be a pair (low, high) or None, got {input_range!r}") from error
    if not low < high:
        raise ValueError(f"input_range must satisfy low < high, got {input_range!r}")
    return low, high


def require_eval_mode(model) -> None:
    """Refuse a module with any submodule in training mode; plain callables have no mode."""
    if not isinstance(model, torch.nn.Module):
        return
    training = [name or type(model).__name__ for name, module in model.named_modules() if module.training]
    if training:
        shown = ", ".join(training[:5]) + (f" and {len(training) - 5} more" if len(training) > 5 else "")
        raise ValueError(
            f"the base classifier is in training mode ({shown}): dropout or batch-norm would make the base "
            "classifier random between noisy copies, and neither a certificate nor a learned sigma would hold. Fix: "
            "call model.eval() first (this library never changes the model's mode)"
        )


@torch.no_grad()
def _output_width(model, probe: torch.Tensor, precision: str = "fp32") -> int:
    """Number of scores the model returns for a one-point ``probe`` ``(1, *S)`` (evaluated as it will
    be when counting)."""
    scores = forward_logits(model, probe, precision)
    if scores.ndim != 2 or scores.shape[0] != len(probe):
        raise ValueError(
            f"the base classifier must map (B, *S) inputs to (B, num_classes) scores; for inputs of shape "
            f"{tuple(probe.shape)} it returned shape {tuple(scores.shape)}. Fix: return one row of class scores per input"
        )
    return int(scores.shape[1])


def _check_output_width(model, probe: torch.Tensor, num_classes: int, precision: str = "fp32") -> None:
    width = _output_width(model, probe, precision)
    if width != num_classes:
        # A class index >= num_classes would be counted as a vote for the next point's classes.
        raise ValueError(
            f"the base classifier returns {width} class scores but num_classes={num_classes}. "
            f"Fix: pass num_classes={width}, or use a model with {num_classes} outputs"
        )


def check_base_classifier(model, probe: torch.Tensor, num_classes: int, precision: str = "fp32") -> None:
    """The checks on the base classifier that every public entry makes once, before any noisy copy:
    eval mode (a module with any submodule in training mode is refused; the mode is never changed)
    and an output width of ``num_classes`` (one forward pass on the one-point ``probe`` ``(1, *S)``).
    Both raise ``ValueError``."""
    require_eval_mode(model)
    _check_output_width(model, probe, num_classes, precision)


def sample_counts(
    model: torch.nn.Module,
    points: torch.Tensor,
    sigma: torch.Tensor,
    *,
    num_samples: int,
    num_classes: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    progress: str | None = None,
    precision: str = "fp32",
    active=None,
) -> torch.Tensor:
    """Count the base classifier's argmax classes under noise, for many points at once.

    Every forward batch is filled to ``batch_size`` with noisy copies of consecutive points (point p
    owns copies ``p * num_samples .. (p + 1) * num_samples - 1``), so small ``num_samples`` or small
    models still run at full batch. One ``randn`` per batch, drawn on the points' device.

    Before counting, the model is checked once (:func:`check_base_classifier`: eval mode, output
    width ``num_classes`` on one clean point); both refusals raise ``ValueError``.

    Args:
        model: maps ``(B, *S)`` inputs to ``(B, num_classes)`` scores; an ``nn.Module`` in eval mode or
            a plain function.
        points: ``(P, *S)`` clean inputs, already on the model's device.
        sigma: broadcastable to ``S``, on the same device.
        progress: if given, a tqdm bar with this description is written to stderr.
        precision: ``"fp32"`` or ``"bf16"``: the base model's forward runs under bf16 autocast, and
            the counts are then those of that bf16 classifier (noise is still drawn and added in
            float32, argmax taken on float32 logits); see :mod:`nusmooth.forward`.
        active: which points to count (:func:`active_mask`: ``None`` for all, a ``range`` of point
            indices, or P booleans). The noise is that of the call with every point (see
            :func:`active_mask` for what runs and what is only drawn).
    Returns:
        ``(A, num_classes)`` int64 counts on the CPU, one row per active point in point order (``A = P``
        without ``active``); each row sums to ``num_samples``.
    """
    check_precision(precision)
    mask = active_mask(active, len(points))
    check_base_classifier(model, points[:1], num_classes, precision)
    return _count_votes(
        model,
        points,
        sigma,
        num_samples=num_samples,
        num_classes=num_classes,
        batch_size=batch_size,
        generator=generator,
        progress=progress,
        precision=precision,
        active=mask,
    )


def active_mask(active, num_points: int) -> np.ndarray | None:
    """The points a counting or certifying call evaluates, as ``num_points`` booleans (``None``: all).

    ``active`` is ``None``, a ``range`` of point indices (a block ``range(a, b)``), or a sequence of
    ``num_points`` booleans. Whatever is active, the call draws exactly the noise of the call with every
    point, batch by batch and from the same generator, so an active point's votes, and its certificate,
    are bit-identical to what the full call gives it. A forward batch runs, whole and exactly as the full
    call forms it, when it holds a copy of an active point; a batch of inactive points' copies only draws
    its noise. Forwarding only the active copies of a batch that straddles a block's edge would change
    the batch's shape, and a model's kernels may round differently for another shape (the MNIST CNN on a
    CPU does for a batch of one), which could flip a near-tie vote. Raises ``ValueError`` for anything
    else, for indices outside ``[0, num_points)``, and for an empty selection.
    """
    if active is None:
        return None
    if isinstance(active, range):
        if len(active) and (min(active) < 0 or max(active) >= num_points):
            raise ValueError(
                f"active={active!r} reaches outside the {num_points} points; Fix: pass a range within "
                f"range(0, {num_points})"
            )
        mask = np.zeros(num_points, dtype=bool)
        mask[list(active)] = True
    else:
        mask = np.asarray(active.cpu() if isinstance(active, torch.Tensor) else active)
        if mask.dtype != bool or mask.shape != (num_points,):
            raise ValueError(
                f"active must be None, a range of point indices or {num_points} booleans (one per point), got "
                f"dtype {mask.dtype} and shape {mask.shape}"
            )
    if not mask.any():
        raise ValueError("active selects no point; certify at least one point (or leave active=None for all)")
    return mask


@torch.no_grad()
def _count_votes(
    model, points, sigma, *, num_samples, num_classes, batch_size, generator, progress, precision, active=None
) -> torch.Tensor:
    """:func:`sample_counts` without its checks: the caller has made them once for its whole call.
    ``active`` is :func:`active_mask`'s answer."""
    num_points, point_shape = points.shape[0], points.shape[1:]
    device = points.device
    # Flat (P, D) views and reused buffers: a broadcast multiply over (B, C, H, W) or fancy indexing
    # costs more than a small model's forward pass; index_select + addcmul_ on 2-D buffers do not.
    flat_points = points.reshape(num_points, -1)
    flat_sigma = torch.as_tensor(sigma, device=device, dtype=points.dtype).expand(point_shape).reshape(-1)
    noise = torch.empty((batch_size, flat_points.shape[1]), device=device, dtype=points.dtype)
    noisy = torch.empty_like(noise)
    counts = torch.zeros(num_points * num_classes, dtype=torch.int64, device=device)
    total = num_points * num_samples
    # Active points among the first p points, for every p: a batch holds an active copy when its owners add one.
    active_before = None if active is None else np.concatenate([[0], np.cumsum(active)])
    starts = range(0, total, batch_size)
    for start in starts if progress is None else tqdm(starts, desc=progress, mininterval=10):
        size = min(batch_size, total - start)
        torch.randn((size, flat_points.shape[1]), generator=generator, out=noise[:size])
        first_owner, last_owner = start // num_samples, (start + size - 1) // num_samples
        if active_before is not None and active_before[last_owner + 1] == active_before[first_owner]:
            continue  # the noise is drawn (the generator moves as in the full call); no active copy to count
        owner = torch.arange(start, start + size, device=device) // num_samples
        torch.index_select(flat_points, 0, owner, out=noisy[:size])
        noisy[:size].addcmul_(noise[:size], flat_sigma)
        predictions = forward_logits(model, noisy[:size].view(size, *point_shape), precision).argmax(dim=1)
        counts += torch.bincount(owner * num_classes + predictions, minlength=counts.numel())
    counts = counts.view(num_points, num_classes).cpu()
    # An inactive point that shares a batch with an active one has partial counts: only active rows are answers.
    return counts if active is None else counts[torch.from_numpy(active)]


class NonUniformSmoothing:
    """A base classifier smoothed with diagonal Gaussian noise ``N(0, diag(sigma^2))``.

    Args:
        base_classifier: maps ``(B, *S)`` inputs to ``(B, num_classes)`` scores: an ``nn.Module``
            already in eval mode (one in training mode is refused when sampling; its mode is never
            changed here) or a plain function.
        num_classes: number of classes; must equal the base classifier's output width.
        sigma: per-element standard deviations, a scalar or a shape broadcasting to ``S`` without
            changing it (a float gives Cohen's smoothing).
        precision: ``"fp32"`` (default) or ``"bf16"``, for every prediction and certificate of this
            object. With ``"bf16"`` the base classifier *is* the model evaluated under bf16 autocast:
            the certificates are sound for that classifier, not for the float32 one.

    Every method takes ``input_range`` (default ``(0.0, 1.0)``): points outside it are refused, since
    sigma is measured in that space; pass another ``(low, high)`` for another space, or ``None`` to
    skip the check.
    """

    def __init__(self, base_classifier, num_classes: int, sigma, precision: str = "fp32"):
        self.base_classifier = base_classifier
        self.num_classes = num_classes
        self.sigma = torch.as_tensor(sigma, dtype=torch.float32)
        self.precision = check_precision(precision)

    def _prepare(self, points: torch.Tensor, input_range) -> tuple[torch.Tensor, torch.Tensor]:
        """Every refusal about the points, sigma and the base classifier, made once per public call
        (before any noisy copy); returns the points and sigma on the points' device and dtype."""
        _check_points(points, input_range)
        sigma = _check_sigma(self.sigma, points.shape[1:]).to(points.device, points.dtype)
        check_base_classifier(self.base_classifier, points[:1], self.num_classes, self.precision)
        return points, sigma

    def _counts(self, points, sigma, *, num_samples, batch_size, generator, progress=None, active=None):
        """Votes of checked points (:meth:`_prepare` ran once for the whole public call); ``active`` is
        :func:`active_mask`'s answer."""
        return _count_votes(
            self.base_classifier,
            points,
            sigma,
            num_samples=num_samples,
            num_classes=self.num_classes,
            batch_size=batch_size,
            generator=generator,
            progress=progress,
            precision=self.precision,
            active=active,
        )

    def predict(
        self,
        x: torch.Tensor,
        *,
        n: int,
        alpha: float,
        batch_size: int,
        generator: torch.Generator | None = None,
        input_range: tuple[float, float] | None = PIXEL_RANGE,
    ) -> int:
        """Cohen's PREDICT: the top class if a two-sided binomial test separates it from the runner-up
        at level ``alpha``, else ``ABSTAIN``. ``x`` is one point ``S``."""
        return int(
            self.predict_many(
                x.unsqueeze(0), n=n, alpha=alpha, batch_size=batch_size, generator=generator, input_range=input_range
            )[0]
        )

    def predict_many(
        self, points, *, n, alpha, batch_size, generator=None, input_range: tuple[float, float] | None = PIXEL_RANGE
    ) -> np.ndarray:
        """:meth:`predict` for P points ``(P, *S)``; returns ``(P,)`` classes or ``ABSTAIN``."""
        from scipy.stats import binomtest  # slow to import; only PREDICT needs it

        _validate(n0=1, n=n, alpha=alpha, batch_size=batch_size)
        points, sigma = self._prepare(points, input_range)
        counts = self._counts(points, sigma, num_samples=n, batch_size=batch_size, generator=generator).numpy()
        result = np.full(len(counts), ABSTAIN, dtype=np.int64)
        for i, row in enumerate(counts):
            top2 = np.argsort(-row, kind="stable")[:2]
            k1, k2 = int(row[top2[0]]), int(row[top2[1]])
            if binomtest(k1, k1 + k2, 0.5).pvalue <= alpha:
                result[i] = top2[0]
        return result

    def certify(
        self,
        x: torch.Tensor,
        *,
        n0: int,
        n: int,
        alpha: float,
        batch_size: int,
        generator=None,
        input_range: tuple[float, float] | None = PIXEL_RANGE,
    ) -> Certificates:
        """Certify one point ``x`` of shape ``S``; see :meth:`certify_many`."""
        return self.certify_many(
            x.unsqueeze(0), n0=n0, n=n, alpha=alpha, batch_size=batch_size, generator=generator, input_range=input_range
        )

    def certify_many(
        self,
        points: torch.Tensor,
        *,
        n0: int,
        n: int,
        alpha: float,
        batch_size: int,
        generator: torch.Generator | None = None,
        progress: bool = False,
        input_range: tuple[float, float] | None = PIXEL_RANGE,
        active=None,
    ) -> Certificates:
        """Cohen's CERTIFY with per-element sigma, for P points ``(P, *S)`` at once.

        1. selection: ``n0`` noisy copies, ``c_hat`` = most frequent class (ties: lowest index);
        2. estimation: ``n`` fresh copies, ``n_A`` = count of ``c_hat``;
        3. ``pA_lower`` = one-sided (1 - alpha) Clopper-Pearson bound; abstain unless above 0.5.
        With probability >= 1 - alpha per point, a non-abstained prediction equals g(x) and g is
        constant on ``||delta / sigma|| < Phi^-1(pA_lower)``.

        Args:
            input_range: ``(low, high)`` the points must lie in (default ``(0.0, 1.0)``, the pixel
                space sigma is measured in), or ``None`` to skip that check.
            active: certify only these points (:func:`active_mask`: a ``range`` of point indices or P
                booleans); each one's certificate is bit-identical to the one the call with every point
                gives it, since both phases draw the full call's noise. The arrays then hold the active
                points only, in point order.
        Raises:
            ValueError: before any sampling, for bad arguments, points that are not floating point,
                contain NaN / inf or leave ``input_range``, a sigma that does not fit the points, a
                base model in training mode, or one whose output width is not ``num_classes``.
        """
        _validate(n0=n0, n=n, alpha=alpha, batch_size=batch_size)
        mask = active_mask(active, len(points))
        points, sigma = self._prepare(points, input_range)
        return self._certify_checked(
            points,
            sigma,
            n0=n0,
            n=n,
            alpha=alpha,
            batch_size=batch_size,
            generator=generator,
            progress=progress,
            active=mask,
        )

    def _certify_checked(
        self, points, sigma, *, n0, n, alpha, batch_size, generator, progress, active=None
    ) -> Certificates:
        """CERTIFY of points and sigma that every refusal has already been checked on (``active``:
        :func:`active_mask`'s answer). Both phases draw the noise of every point, in the full call's layout."""
        selection = self._counts(
            points,
            sigma,
            num_samples=n0,
            batch_size=batch_size,
            generator=generator,
            progress="selection (n0)" if progress else None,
            active=active,
        )
        estimation = self._counts(
            points,
            sigma,
            num_samples=n,
            batch_size=batch_size,
            generator=generator,
            progress="estimation (n)" if progress else None,
            active=active,
        )
        c_hat = selection.argmax(dim=1)  # torch.argmax returns the first maximum: ties -> lowest index
        n_a = estimation.gather(1, c_hat.unsqueeze(1)).squeeze(1).numpy()
        pa_lower = np.atleast_1d(clopper_pearson_lower(n_a, n, alpha))
        # Strictly above 1/2: at exactly 1/2, Phi^-1 = 0 and the region is empty (area -inf).
        certified = pa_lower > 0.5
        phi_inv = np.where(certified, ndtri(pa_lower), np.nan)
        num_elements = int(np.prod(points.shape[1:]))
        area = np.atleast_1d(
            certified_area(sigma.cpu().expand(points.shape[1:]), np.where(certified, phi_inv, 0.0), num_elements)
        )
        return Certificates(
            prediction=np.where(certified, c_hat.numpy(), ABSTAIN),
            pa_lower=pa_lower,
            phi_inv_pa_lower=phi_inv,
            area=area,
            counts_selection=selection.numpy(),
            counts_estimation=estimation.numpy(),
            n_a=n_a,
            l2_radius=np.atleast_1d(l2_radius(phi_inv, sigma)),
            geometric_mean_radius=np.atleast_1d(geometric_mean_radius(area, num_elements)),
        )


def _validate(n0: int, n: int, alpha: float, batch_size: int) -> None:
    if n0 < 1:
        raise ValueError(f"n0 must be >= 1, got {n0}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def certify(
    model,
    points,
    sigma,
    *,
    n0: int,
    n: int,
    alpha: float,
    num_classes: int | None = None,
    batch_size: int = 1000,
    generator=None,
    input_range: tuple[float, float] | None = PIXEL_RANGE,
    precision: str = "fp32",
) -> Certificates:
    """Certify ``points`` ``(P, *S)`` for ``model`` smoothed with ``sigma`` (shape ``S`` or a float).

    Convenience wrapper around :meth:`NonUniformSmoothing.certify_many`; ``num_classes`` defaults to
    the width of the model's output. ``model`` must already be in eval mode (it is refused otherwise,
    and its mode is never changed).

    Args:
        input_range: ``(low, high)`` the points must lie in (default ``(0.0, 1.0)``, the pixel space
            sigma is measured in), or ``None`` to skip that check.
        precision: ``"bf16"`` certifies the model as evaluated under bf16 autocast (see
            :class:`NonUniformSmoothing`).
    """
    if num_classes is not None:
        smoothing = NonUniformSmoothing(model, num_classes, sigma, precision)
        return smoothing.certify_many(
            points, n0=n0, n=n, alpha=alpha, batch_size=batch_size, generator=generator, input_range=input_range
        )
    # Everything that would refuse this call is checked before the model sees the width probe, and the
    # probe's answer is num_classes: certify_many's own checks would only repeat these.
    _validate(n0=n0, n=n, alpha=alpha, batch_size=batch_size)
    check_precision(precision)
    _check_points(points, input_range)
    _check_sigma(sigma, points.shape[1:])
    require_eval_mode(model)
    smoothing = NonUniformSmoothing(model, _output_width(model, points[:1], precision), sigma, precision)
    # The float32 sigma the counts use, checked as certify_many checks it.
    checked_sigma = _check_sigma(smoothing.sigma, points.shape[1:]).to(points.device, points.dtype)
    return smoothing._certify_checked(
        points, checked_sigma, n0=n0, n=n, alpha=alpha, batch_size=batch_size, generator=generator, progress=False
    )


def in_certified_region(delta: torch.Tensor, sigma, phi_inv_pa_lower: float) -> bool:
    """Whether the perturbation ``delta`` lies in the certified ellipsoid ``||delta / sigma|| < Phi^-1(pA_lower)``."""
    delta = torch.as_tensor(delta, dtype=torch.float64)
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    return bool(torch.linalg.vector_norm(delta / sigma) < phi_inv_pa_lower)
