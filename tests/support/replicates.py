"""Synthetic Figure-1 vectors of replicates (records of a learned and an isotropic sigma on the same
points, and validation records), for the tests of nusmooth.robustness and its page."""

import math

import numpy as np
import pandas as pd

from nusmooth.artifacts import Fig1Result
from nusmooth.robustness import ReplicateEnvelope


def records(correct, areas) -> pd.DataFrame:
    """Per-point certificate records: a certified-correct point has its area, the others none."""
    correct = np.asarray(correct, dtype=bool)
    return pd.DataFrame(
        {
            "idx": np.arange(len(correct)),
            "correct": correct.astype(int),
            "certified_area": np.where(correct, areas, -np.inf),
            "l2_radius": np.where(correct, 0.5, 0.0),
        }
    )


def fig1_result(seed: int, learned_share: float, isotropic_areas=(-2000, -800), points: int = 200) -> Fig1Result:
    """One replicate's Figure-1 vector from 0.25: ``points`` test points, the learned sigma certifying
    about ``learned_share`` of them at areas in [-1500, -200], the isotropic one 0.6 of them at areas in
    ``isotropic_areas``; 100 validation points of each."""
    rng = np.random.default_rng(seed)
    learned = records(rng.random(points) < learned_share, rng.uniform(-1500, -200, points))
    isotropic = records(rng.random(points) < 0.6, rng.uniform(*isotropic_areas, points))
    geometric = records(rng.random(points) < 0.65, rng.uniform(*isotropic_areas, points))
    choice = {
        "init": 0.25,
        "sub_epoch": 3,
        "isotropic_sigma": 0.4,
        "geometric_sigma": 0.35,
        "dimension": 784,
        "sum_log_sigma": 784 * math.log(0.35),
        "min_sigma": 0.1,
    }
    validation = [records(rng.random(100) < 0.8, rng.uniform(-1800, -300, 100)) for _ in range(2)]
    return Fig1Result(
        dataset="mnist",
        choice=choice,
        learned=learned,
        isotropic=isotropic,
        geometric=geometric,
        validation=validation,
        sources=[],
    )


def replicate_envelope(seed: int, shares=(0.8, 0.5), points: int = 200) -> ReplicateEnvelope:
    """One replicate's envelope of two constants on 100 validation and ``points`` test points: 0.25
    certifies ``shares[0]`` of them at areas in [-1500, -700], 0.5 ``shares[1]`` at areas in [-900, -100]."""
    rng = np.random.default_rng(1000 + seed)
    shapes = {0.25: (shares[0], (-1500, -700)), 0.5: (shares[1], (-900, -100))}

    def certified(n, share, areas):
        return records(rng.random(n) < share, rng.uniform(*areas, n))

    return ReplicateEnvelope(
        validation={c: certified(100, share, areas) for c, (share, areas) in shapes.items()},
        test={c: certified(points, share, areas) for c, (share, areas) in shapes.items()},
    )
