"""nusmooth: non-uniform randomized smoothing (Tecot, Hsieh, Zhang, Gu).

Sound certificates: :func:`certify`, :class:`NonUniformSmoothing` (counts + Clopper-Pearson).
Learning sigma: :class:`SigmaOptimizer` and :func:`smoothed_softmax_surrogate` (not a certificate).
"""

from .smoothing import (
    ABSTAIN,
    Certificates,
    NonUniformSmoothing,
    certified_area,
    certify,
    clopper_pearson_lower,
    in_certified_region,
)
from .surrogate import SigmaOptimizer, smoothed_softmax_surrogate

__all__ = [
    "ABSTAIN",
    "Certificates",
    "NonUniformSmoothing",
    "SigmaOptimizer",
    "certified_area",
    "certify",
    "clopper_pearson_lower",
    "in_certified_region",
    "smoothed_softmax_surrogate",
]
