"""Does the learned sigma's advantage survive noise training, and another training run? The numbers of
``docs/robustness.md`` and the rule that reads them (written once, in ``docs/method.md``, "Replicates
and training regimes").

Every replicate of every block of one dataset (the paper's regime and a noise-trained one, each run
``k`` times: :mod:`nusmooth.instances`) is compared with two isotropic comparators on the same test
points (:data:`COMPARATORS`: the replicate's isotropic envelope, the strongest, which decides the
answer, and the isotropic sigma at the learned vector's arithmetic mean, the paper's), at one grid of
area thresholds fixed from the validation records of all of them (never from test points): the
replicates' own tables have grids of their own, and a spread over replicates needs one threshold. At
each threshold each replicate has its paired difference with the pointwise interval and the
simultaneous band over the grid (:func:`nusmooth.evidence.paired_band_from_flags`), and the
replicates together have their mean, range and t-interval (:func:`replicate_spread`).

**The rule across replicates**, at one threshold: the learned sigma wins when the band of *every*
replicate lies above 0 and, with two replicates or more, the t-interval over replicates does too (each
training run shows the gain on its test points, and the mean gain over training runs is above 0); the
comparator wins symmetrically; nothing to compare where no replicate certifies any point; otherwise
no difference can be told. Wins are reported as ranges of thresholds (:mod:`nusmooth.verdicts`).

**Survives noise training**, per dataset, Figure-1 constant and comparator: the learned sigma wins
at one area threshold or more (the clean row aside) in the noise-trained block: *survives*; it wins
somewhere in the paper's regime but nowhere with noise training: *does not survive*; nowhere in
either: *no advantage in either regime*. The page's answer is the envelope's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from .envelope import choose_envelope, envelope_flags
from .evidence import POINT_ID, certified_flags, paired_band_from_flags
from .registry import PAPER_COMPARATOR, SIGMA_KINDS, STRONGEST_COMPARATOR
from .tables import VIEWS, display_grid, largest_certifiable
from .verdicts import A_WINS, B_WINS, CANNOT_TELL, NOTHING, verdict_ranges

#: The level of every interval over replicates.
LEVEL = 0.95

SURVIVES = "survives"
LOST = "does not survive"
NEITHER = "no advantage in either regime"
NOT_ASSESSED = "not assessed"

#: The comparators of the page, the one that decides the answer first: the replicate's isotropic
#: envelope (the best constant of a grid at each threshold, chosen on validation: the strongest
#: isotropic comparator, docs/method.md "Three comparators"), then the isotropic sigma at the learned
#: vector's arithmetic mean (the paper's).
COMPARATORS = (STRONGEST_COMPARATOR, PAPER_COMPARATOR)


@dataclass(frozen=True, kw_only=True)
class ReplicateEnvelope:
    """One replicate's isotropic envelope: the validation certificates of every constant of its grid,
    and the test certificates of the constants its own choice took (only those were certified on test)."""

    validation: dict
    test: dict


def envelope_choice_at(envelope: ReplicateEnvelope, thresholds) -> pd.DataFrame:
    """The envelope's constant at each of the page's area ``thresholds``, chosen there on validation
    (:func:`nusmooth.envelope.choose_envelope`) among the constants certified on test. The replicate's
    own choice was made at its own tables' thresholds; taking it between them (a step function) could
    give a constant that cannot reach the page's threshold at all. The candidates were themselves chosen
    on validation, so no test record takes part in the choice."""
    candidates = {constant: envelope.validation[constant] for constant in envelope.test}
    return choose_envelope(candidates, {"area": np.asarray(thresholds, dtype=float)})


def replicate_spread(values, level: float = LEVEL) -> dict[str, float]:
    """Mean, range and Student's t-interval of one number over ``k`` replicates (training runs):
    ``mean +- t_{(1+level)/2, k-1} s / sqrt(k)``, the interval for the mean over training runs if
    replicates are independent draws of one normal law; NaN with one replicate (no spread measured)."""
    values = np.asarray(values, dtype=np.float64)
    k = len(values)
    if k == 0:
        raise ValueError("a spread over replicates needs one replicate at least")
    mean = float(values.mean())
    if k < 2:
        half = math.nan
    else:
        half = float(student_t.ppf((1 + level) / 2, k - 1) * values.std(ddof=1) / math.sqrt(k))
    return {
        "replicates": k,
        "mean": mean,
        "t_lower": mean - half,
        "t_upper": mean + half,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def common_grid(results: Sequence, samples: Sequence[int], *, alpha: float, count: int) -> np.ndarray:
    """The area thresholds every replicate of every block of one dataset is read at: ``count`` round
    numbers from the 5% quantile of all their validation records (chosen learned snapshot, isotropic
    sweep) to the largest area any of their sigmas can certify with its block's Figure-1 sample count
    ``samples`` (:func:`nusmooth.tables.display_grid`). ``results``: the
    :class:`nusmooth.artifacts.Fig1Result` of each replicate and constant."""
    ceilings = [
        largest_certifiable(r.choice, kind, n, alpha)
        for r, n in zip(results, samples, strict=True)
        for kind in SIGMA_KINDS
    ]
    return display_grid([frame for r in results for frame in r.validation], ceilings, count)["area"]["thresholds"]


def paired_rows(
    result, thresholds, comparator: str = PAPER_COMPARATOR, envelope: ReplicateEnvelope | None = None
) -> pd.DataFrame:
    """Learned minus ``comparator`` certified accuracy of one Figure-1 vector at the clean row and each
    area threshold: the paired interval and the band over that whole grid
    (evidence.paired_band_from_flags), with the comparator's ``constant`` at each threshold. The
    envelope's needs the replicate's ``envelope``."""
    grid = np.concatenate([[VIEWS["area"]["start"]], np.asarray(thresholds, dtype=float)])
    ids = result.learned[POINT_ID]
    _, learned = certified_flags(result.learned, grid, "area", name="the learned sigma's test records")
    if comparator == STRONGEST_COMPARATOR:
        if envelope is None:
            raise ValueError("the envelope's differences need the replicate's envelope certificates")
        choice = envelope_choice_at(envelope, thresholds)
        _, other = envelope_flags(envelope.test, choice, "area", grid, point_ids=ids)
        constants = choice.sort_values("threshold")["constant"].to_numpy(dtype=float)
    elif comparator == PAPER_COMPARATOR:
        name = "the isotropic sigma's test records"
        _, other = certified_flags(result.isotropic, grid, "area", point_ids=ids, name=name)
        constants = np.full(len(grid), float(result.choice.get("isotropic_sigma", np.nan)))
    else:
        raise ValueError(f"unknown comparator {comparator!r}; one of {COMPARATORS}")
    return paired_band_from_flags(grid, learned, other).assign(constant=constants)


def across_replicates(rows: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The verdict at one threshold from the rows of every replicate there (``difference``,
    ``band_lower`` / ``band_upper``, ``accuracy_a`` / ``accuracy_b``), and the spread of the difference."""
    spread = replicate_spread(rows["difference"])
    several = spread["replicates"] >= 2
    if not ((rows["accuracy_a"] > 0) | (rows["accuracy_b"] > 0)).any():
        return NOTHING, spread
    if (rows["band_lower"] > 0).all() and (not several or spread["t_lower"] > 0):
        return A_WINS, spread
    if (rows["band_upper"] < 0).all() and (not several or spread["t_upper"] < 0):
        return B_WINS, spread
    return CANNOT_TELL, spread


def threshold_verdicts(differences: pd.DataFrame) -> pd.DataFrame:
    """One row per threshold of one block and constant (``differences``: :func:`paired_rows` of each
    replicate, with a ``replicate`` column): the verdict across replicates and the spread."""
    rows = []
    for threshold, at in differences.groupby("threshold", sort=True):
        verdict, spread = across_replicates(at)
        rows.append({"threshold": threshold, "verdict": verdict, **spread})
    return pd.DataFrame(rows)


def area_ranges(verdicts: pd.DataFrame) -> list:
    """The verdict ranges over the area thresholds (the clean row, threshold -inf, left out)."""
    area = verdicts[np.isfinite(verdicts["threshold"])]
    return verdict_ranges(area["threshold"], area["verdict"])


def survival(paper: pd.DataFrame | None, noise: pd.DataFrame | None) -> str:
    """The answer for one dataset and constant from the threshold verdicts of its paper-regime and
    noise-trained blocks (:func:`threshold_verdicts`); :data:`NOT_ASSESSED` without both."""
    if paper is None or noise is None:
        return NOT_ASSESSED

    def wins(verdicts):
        return bool(((verdicts["verdict"] == A_WINS) & np.isfinite(verdicts["threshold"])).any())

    if wins(noise):
        return SURVIVES
    return LOST if wins(paper) else NEITHER
