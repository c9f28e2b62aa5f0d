"""The paper's claims that a run can speak to, each read by a stated rule (``docs/method.md``, "The
paper's claims, checked") into one of four verdicts, with the numbers it rests on.

- Figure 1, learned beats isotropic at equal certified area: :func:`curve_claim`, from the verdict
  ranges of a simultaneous band (:mod:`nusmooth.comparisons`), per learned vector and comparator.
- Figure 2, significantly better fronts: :func:`front_claim`, from :mod:`nusmooth.front_comparison`'s ranges.
- Figure 3, MNIST's sigma is large on the black border: :func:`border_claim`, per learned vector.
- Section 5.3, Fashion-MNIST's sigma is low on the left side and the bottom right corner, high in the
  centre and the top right: :func:`regions_claim` on :func:`nusmooth.sigma_regions.paper_regions`.
- Section 4.2, the accuracy stays close to the accuracy at initialization while sigma is learned:
  :func:`accuracy_during_learning` and :func:`learning_claim`.

The last three read one learned vector or one sweep: they rest on one training run (no interval over
training runs exists for them) and say so. pandas and numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .comparisons import ranges_of
from .evidence import certified_flags
from .intervals import paired_counts, paired_difference_from_counts
from .bands import simultaneous_level
from .sigma_regions import HIGH_REGIONS, LOW_REGIONS, paper_regions, pixel_sigma
from .verdicts import A_WINS, B_WINS, describe_verdicts

SUPPORTS, CONTRADICTS, MIXED, CANNOT_TELL = "supports", "contradicts", "mixed", "cannot tell"

#: How far (a fraction of the points) the validation accuracy after a sub-epoch of sigma learning may
#: lie from the accuracy at the initial constant and still count as "close" (section 4.2's claim): a
#: change of 5 points in 100 is the smallest a reader of Figure 2 would call a move along the front.
LEARNING_TOLERANCE = 0.05

ONE_RUN = "one training run"


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict (:data:`SUPPORTS`, :data:`CONTRADICTS`, :data:`MIXED` or :data:`CANNOT_TELL`)
    and the sentence with the numbers behind it."""

    verdict: str
    because: str


def _from_wins(learned_wins: bool, other_wins: bool) -> str:
    if learned_wins and other_wins:
        return MIXED
    if learned_wins:
        return SUPPORTS
    return CONTRADICTS if other_wins else CANNOT_TELL


def curve_claim(ranges: pd.DataFrame, comparator: str, metric: str, number_format: str = "{:.0f}") -> Verdict:
    """Figure 1's claim against one comparator in one view, from the verdict ranges of one (pair,
    comparator, view) of VERDICT_RANGES. It is read at the thresholds the learned sigma can reach
    (up to its ceiling ``learned_ceiling``): beyond it the learned sigma certifies nothing by
    construction, so a comparator's win there says nothing about equal areas; those ranges are stated
    and not counted. Supports: the learned sigma wins somewhere there and the comparator nowhere;
    contradicts: the reverse; mixed: both win somewhere; cannot tell: neither."""
    found = ranges_of(ranges)
    ceiling = float(ranges["learned_ceiling"].iloc[0])
    within = [r for r in found if r.first <= ceiling]
    verdict = _from_wins(any(r.verdict == A_WINS for r in within), any(r.verdict == B_WINS for r in within))
    words = describe_verdicts(found, "learned", comparator, metric, number_format=number_format)
    grid = int(ranges["grid"].iloc[0])
    because = (
        f"{words} (simultaneous 95% band over {grid} thresholds; the learned sigma certifies nothing beyond its "
        f"ceiling {number_format.format(ceiling)})"
    )
    return Verdict(verdict, because)


def front_claim(ranges: pd.DataFrame) -> Verdict:
    """Figure 2's claim from the fronts' verdict ranges (FRONT_VERDICT_RANGES): supports when the learned
    front wins at some mean area and the isotropic front at none, and so on."""
    found = ranges_of(ranges)
    verdict = _from_wins(any(r.verdict == A_WINS for r in found), any(r.verdict == B_WINS for r in found))
    words = describe_verdicts(
        found,
        "the learned front",
        "the isotropic front",
        "mean O_CA",
        number_format="{:.0f}",
        nothing="no member of either front reaches",
    )
    return Verdict(verdict, f"{words} (all intervals at once at 95%, {int(ranges['grid'].iloc[0])} areas)")


def border_claim(ratio: float, border_share: float, border_share_of_image: float, border: int) -> Verdict:
    """MNIST's learned vector against the border claim: its mean sigma on the outer ``border`` pixels
    over its mean inside, and the share of its largest-sigma pixels (the robust region) on that border
    against the border's share of the image. Supports when both lean to the border, contradicts when
    both lean away, mixed otherwise."""
    numbers = (
        f"mean sigma on the outer {border}-pixel border is {ratio:.2f} times the mean inside it; "
        f"{100 * border_share:.0f}% of the 5% largest-sigma pixels lie on that border, which is "
        f"{100 * border_share_of_image:.0f}% of the image; {ONE_RUN}"
    )
    if ratio > 1 and border_share > border_share_of_image:
        return Verdict(SUPPORTS, numbers)
    if ratio < 1 and border_share < border_share_of_image:
        return Verdict(CONTRADICTS, numbers)
    return Verdict(MIXED, numbers)


def region_means(sigma) -> dict[str, float]:
    """Mean sigma (over channels and pixels) of each region of :func:`nusmooth.sigma_regions.paper_regions`."""
    per_pixel = pixel_sigma(sigma)
    return {name: float(per_pixel[mask].mean()) for name, mask in paper_regions(per_pixel.shape).items()}


def regions_claim(means: dict[str, float]) -> Verdict:
    """Section 5.3's Fashion-MNIST claim on one learned vector, from its :func:`region_means`: every
    region said to have low sigma (left side, bottom right corner) has a lower mean than every region
    said to have high sigma (centre, top right corner). Supports: all four comparisons hold;
    contradicts: none holds; mixed otherwise."""
    holds = [means[low] < means[high] for low in LOW_REGIONS for high in HIGH_REGIONS]
    numbers = ", ".join(f"{name} {means[name]:.3f}" for name in (*LOW_REGIONS, *HIGH_REGIONS))
    because = f"mean sigma: {numbers}; {sum(holds)} of {len(holds)} low-below-high comparisons hold; {ONE_RUN}"
    verdict = SUPPORTS if all(holds) else CONTRADICTS if not any(holds) else MIXED
    return Verdict(verdict, because)


def accuracy_during_learning(
    learned: pd.DataFrame, initial: pd.DataFrame, *, tolerance: float = LEARNING_TOLERANCE, level: float = 0.95
) -> pd.DataFrame:
    """Each sub-epoch's validation accuracy against the accuracy at the initial constant, on the same points.

    ``learned``: one learned sweep's validation records (every sub-epoch); ``initial``: the isotropic
    sweep's at the same constant (exactly sigma at initialization). Points certified by both are paired
    (Tango's interval with a continuity correction, all sub-epochs of the sweep at once at ``level``,
    Bonferroni). A sub-epoch is ``close`` when its whole interval lies within ``tolerance`` of 0, ``not
    close`` when it lies wholly beyond, else ``cannot tell``. One row per sub-epoch."""
    sub_epochs = sorted(learned["sub_epoch"].unique())
    common = np.intersect1d(initial["idx"].to_numpy(), learned["idx"].to_numpy())
    for sub_epoch in sub_epochs:
        common = np.intersect1d(common, learned.loc[learned["sub_epoch"] == sub_epoch, "idx"].to_numpy())
    if common.size == 0:
        raise ValueError("the learned sweep and the sweep at its initial constant share no validation point")

    def clean_accuracy_flags(rows, name):
        return certified_flags(rows[rows["idx"].isin(common)], [-np.inf], point_ids=common, name=name)[1][0]

    at_start = clean_accuracy_flags(initial, "the sweep at the initial constant")
    flags = np.stack(
        [clean_accuracy_flags(learned[learned["sub_epoch"] == s], f"sub-epoch {s}") for s in sub_epochs]
    )  # (sub-epochs, points)
    cells = paired_counts(flags, np.broadcast_to(at_start, flags.shape))
    difference, lower, upper = paired_difference_from_counts(*cells, level=simultaneous_level(level, len(sub_epochs)))
    verdict = np.where(
        (lower >= -tolerance) & (upper <= tolerance),
        "close",
        np.where((lower > tolerance) | (upper < -tolerance), "not close", CANNOT_TELL),
    )
    return pd.DataFrame(
        {
            "init": float(learned["init"].iloc[0]),
            "sub_epoch": sub_epochs,
            "points": common.size,
            "accuracy_initial": at_start.mean(),
            "accuracy_learned": flags.mean(axis=1),
            "difference": difference,
            "lower": lower,
            "upper": upper,
            "tolerance": tolerance,
            "verdict": verdict,
        }
    )


def learning_claim(rows: pd.DataFrame) -> Verdict:
    """Section 4.2's claim for one sweep (its rows of :func:`accuracy_during_learning`): supports when
    every sub-epoch is close, contradicts when one is surely not close, cannot tell otherwise."""
    first = rows.iloc[0]
    steps = "; ".join(
        f"sub-epoch {r.sub_epoch}: {r.accuracy_learned:.2f} ({r.difference:+.2f} [{r.lower:+.2f}, {r.upper:+.2f}])"
        for r in rows.itertuples()
    )
    because = (
        f"validation accuracy {first.accuracy_initial:.2f} at the initial constant on {int(first.points)} points; "
        f"{steps}; close = within {first.tolerance:g} (intervals of all sub-epochs at once at 95%); {ONE_RUN}"
    )
    if (rows["verdict"] == "not close").any():
        return Verdict(CONTRADICTS, because)
    return Verdict(SUPPORTS if (rows["verdict"] == "close").all() else CANNOT_TELL, because)
