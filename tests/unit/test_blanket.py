"""The blanket filter against two independent readings of its definition (the closed form in
docs/method.md, "The blanket filter", and the authors' walk), by hand and by property tests."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nusmooth.blanket import blanket, blanket_mask


def no_nan(area):
    return [-np.inf if np.isnan(a) else a for a in area]


def closed_form(accuracy, area):
    """The closed form read literally, O(n^2): first of its exact duplicates, and either most accurate
    or strictly larger in area than every more accurate point and no smaller than its equals."""
    area = no_nan(area)
    best = max(accuracy)
    keep = []
    for i, (acc_i, area_i) in enumerate(zip(accuracy, area)):
        first = not any(accuracy[j] == acc_i and area[j] == area_i for j in range(i))
        higher = [area[j] for j in range(len(accuracy)) if accuracy[j] > acc_i]
        equal = [area[j] for j in range(len(accuracy)) if accuracy[j] == acc_i]
        keep.append(first and (acc_i == best or (all(area_i > a for a in higher) and all(area_i >= a for a in equal))))
    return np.array(keep, dtype=bool)


def authors_walk(accuracy, area):
    """The (accuracy, area) values the authors' walk keeps: from the most accurate point down, keep a
    point outside the range of areas kept so far; then drop what lies left of the most accurate point.
    (Without their unconditional second point, which can keep a duplicate.)"""
    ordered = sorted(zip(accuracy, no_nan(area)), reverse=True)
    kept = [ordered[0]]
    for acc, ar in ordered[1:]:
        areas = [a for _, a in kept]
        if ar < min(areas) or ar > max(areas):
            kept.append((acc, ar))
    kept.sort(key=lambda p: (p[1], p[0]))
    accuracies = [acc for acc, _ in kept]
    return sorted(kept[accuracies.index(max(accuracies)) :])


def kept_values(accuracy, area, mask):
    return sorted(zip(np.asarray(accuracy)[mask].tolist(), no_nan(np.asarray(area, dtype=float)[mask].tolist())))


# Few distinct values, so that ties in accuracy, in area and exact duplicates are common.
levels = st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
areas = st.one_of(st.sampled_from([-3.0, -1.0, 0.0, 2.0, 5.0, float("nan")]), st.floats(-1e3, 1e3))
points = st.lists(st.tuples(levels, areas), min_size=1, max_size=25)


def split(pts):
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


@settings(max_examples=300, deadline=None)
@given(points)
def test_matches_the_closed_form(pts):
    accuracy, area = split(pts)
    np.testing.assert_array_equal(blanket_mask(accuracy, area), closed_form(list(accuracy), list(area)))


@settings(max_examples=300, deadline=None)
@given(points)
def test_keeps_what_the_authors_walk_keeps(pts):
    accuracy, area = split(pts)
    assert kept_values(accuracy, area, blanket_mask(accuracy, area)) == authors_walk(list(accuracy), list(area))


@settings(max_examples=100, deadline=None)
@given(points)
def test_idempotent(pts):
    accuracy, area = split(pts)
    keep = blanket_mask(accuracy, area)
    assert blanket_mask(accuracy[keep], area[keep]).all()


@settings(max_examples=100, deadline=None)
@given(points, st.randoms(use_true_random=False))
def test_order_independent_up_to_which_duplicate_is_kept(pts, rng):
    accuracy, area = split(pts)
    order = np.arange(len(pts))
    rng.shuffle(order)
    shuffled = blanket_mask(accuracy[order], area[order])
    assert kept_values(accuracy[order], area[order], shuffled) == kept_values(
        accuracy, area, blanket_mask(accuracy, area)
    )


@settings(max_examples=100, deadline=None)
@given(points)
def test_kept_points_form_a_front_without_duplicates(pts):
    """No value is kept twice; below the top accuracy, walking right along the kept points loses accuracy."""
    accuracy, area = split(pts)
    keep = blanket_mask(accuracy, area)
    values = kept_values(accuracy, area, keep)
    assert len(set(values)) == len(values)
    below = keep & (accuracy < accuracy.max())
    acc, ar = accuracy[below], np.nan_to_num(area[below], nan=-np.inf)
    order = np.argsort(ar)
    assert np.all(np.diff(acc[order]) < 0)
    assert len(np.unique(ar)) == len(ar)


def test_hand_example_pareto_from_the_top():
    accuracy = [0.99, 0.97, 0.98, 0.90, 0.80, 0.85]
    area = [-10.0, -5.0, -8.0, -6.0, -1.0, -2.0]
    # 0.99 (max) kept; 0.98 at -8 beats -10; 0.97 at -5 beats both; 0.90 at -6 loses to 0.97's -5;
    # 0.85 at -2 beats all above; 0.80 at -1 beats all above.
    assert blanket_mask(accuracy, area).tolist() == [True, True, True, False, True, True]


def test_exact_duplicates_keep_the_first():
    # Below the maximum: one of the two identical points stays, the first in input order.
    assert blanket_mask([0.9, 0.5, 0.5], [0.0, 3.0, 3.0]).tolist() == [True, True, False]
    assert blanket_mask([0.5, 0.9, 0.5], [3.0, 0.0, 3.0]).tolist() == [True, True, False]
    # At the maximum: distinct areas all stay, a repeated one once.
    assert blanket_mask([0.9, 0.9, 0.9], [1.0, 1.0, 0.0]).tolist() == [True, False, True]
    # Points without area are one point too.
    assert blanket_mask([0.0, 0.0], [float("nan"), float("nan")]).tolist() == [True, False]


def test_an_unchanged_sub_epoch_stays_on_the_front_once():
    """Sub-epoch 3 skipped every batch, so its sigma and metrics equal sub-epoch 2's."""
    snapshots = pd.DataFrame(
        {"sub_epoch": [1, 2, 3, 4], "accuracy": [0.95, 0.93, 0.93, 0.90], "mean_area": [-900.0, -700.0, -700.0, -500.0]}
    )
    assert blanket(snapshots)["sub_epoch"].tolist() == [1, 2, 4]


def test_other_ties_as_stated():
    # A unique largest area among equal accuracies stays; the rest of that level goes.
    assert blanket_mask([0.9, 0.5, 0.5], [0.0, 3.0, 2.0]).tolist() == [True, True, False]
    # Equal area to a more accurate point is not strictly greater.
    assert blanket_mask([0.9, 0.5], [1.0, 1.0]).tolist() == [True, False]
    # Points left of the most accurate one go (the prose's two-sided reading would keep 0.5 at -1).
    assert blanket_mask([0.9, 0.5], [0.0, -1.0]).tolist() == [True, False]


def test_missing_area_never_extends_the_front():
    assert blanket_mask([0.9, 0.0], [1.0, float("nan")]).tolist() == [True, False]
    assert blanket_mask([0.9, 0.9], [float("nan"), 1.0]).tolist() == [True, True]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="equal length"):
        blanket_mask([0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        blanket_mask([float("nan")], [1.0])
    assert blanket_mask([], []).tolist() == []


def test_frame_helper_sorts_the_front_by_area():
    frame = pd.DataFrame({"accuracy": [0.8, 0.99, 0.9], "mean_area": [5.0, -3.0, 1.0], "tag": list("abc")})
    assert blanket(frame)["tag"].tolist() == ["b", "c", "a"]
