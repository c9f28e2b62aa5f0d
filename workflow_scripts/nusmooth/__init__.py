"""nusmooth: non-uniform randomized smoothing (Tecot, Hsieh, Zhang, Gu).

Sound certificates: :func:`certify`, :class:`NonUniformSmoothing` (counts + Clopper-Pearson).
Learning sigma: :class:`SigmaOptimizer` and :func:`smoothed_softmax_surrogate` (not a certificate).

The names below are imported on first use, so that light modules (``nusmooth.registry``, read by
the Snakefile when it builds the DAG) do not pull in torch.
"""

from importlib import import_module

_EXPORTS = {
    "ABSTAIN": "smoothing",
    "Certificates": "smoothing",
    "NonUniformSmoothing": "smoothing",
    "certified_area": "smoothing",
    "certify": "smoothing",
    "clopper_pearson_lower": "smoothing",
    "geometric_mean_radius": "smoothing",
    "in_certified_region": "smoothing",
    "l2_radius": "smoothing",
    "SigmaOptimizer": "surrogate",
    "smoothed_softmax_surrogate": "surrogate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nusmooth' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
