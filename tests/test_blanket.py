"""The blanket filter against its definition (REFERENCE.md, 4), by hand and by property tests."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nusmooth.blanket import blanket, blanket_mask


def brute_force(accuracy, area):
    """The definition read literally: O(n^2), NaN area = no region = -inf."""
    area = [-np.inf if np.isnan(a) else a for a in area]
    best = max(accuracy)
    keep = []
    for i, (acc_i, area_i) in enumerate(zip(accuracy, area)):
        rivals = [area[j] for j in range(len(accuracy)) if j != i and accuracy[j] >= acc_i]
        keep.append(acc_i == best or all(area_i > other for other in rivals))
    return np.array(keep, dtype=bool)


# Few distinct values, so that ties in accuracy and in area are common.
levels = st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
areas = st.one_of(st.sampled_from([-3.0, -1.0, 0.0, 2.0, 5.0, float("nan")]), st.floats(-1e3, 1e3))
points = st.lists(st.tuples(levels, areas), min_size=1, max_size=25)


def split(pts):
    return [p[0] for p in pts], [p[1] for p in pts]


@settings(max_examples=300, deadline=None)
@given(points)
def test_matches_brute_force(pts):
    accuracy, area = split(pts)
    np.testing.assert_array_equal(blanket_mask(accuracy, area), brute_force(accuracy, area))


@settings(max_examples=100, deadline=None)
@given(points)
def test_idempotent(pts):
    accuracy, area = map(np.array, split(pts))
    keep = blanket_mask(accuracy, area)
    assert blanket_mask(accuracy[keep], area[keep]).all()


@settings(max_examples=100, deadline=None)
@given(points, st.randoms(use_true_random=False))
def test_order_independent(pts, rng):
    accuracy, area = map(np.array, split(pts))
    order = np.arange(len(pts))
    rng.shuffle(order)
    np.testing.assert_array_equal(blanket_mask(accuracy[order], area[order]), blanket_mask(accuracy, area)[order])


@settings(max_examples=100, deadline=None)
@given(points)
def test_kept_points_form_a_front(pts):
    """Below the top accuracy, walking right along the kept points never gains accuracy."""
    accuracy, area = map(np.array, split(pts))
    keep = blanket_mask(accuracy, area)
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


def test_ties_as_stated():
    # All maximum-accuracy points stay, even identical ones.
    assert blanket_mask([0.9, 0.9, 0.9], [1.0, 1.0, 0.0]).tolist() == [True, True, True]
    # Below the maximum, identical points beat neither each other: both go.
    assert blanket_mask([0.9, 0.5, 0.5], [0.0, 3.0, 3.0]).tolist() == [True, False, False]
    # A unique largest area among equal accuracies stays; the rest of that level goes.
    assert blanket_mask([0.9, 0.5, 0.5], [0.0, 3.0, 2.0]).tolist() == [True, True, False]
    # Equal area to a more accurate point is not strictly greater.
    assert blanket_mask([0.9, 0.5], [1.0, 1.0]).tolist() == [True, False]


def test_missing_area_never_extends_the_front():
    assert blanket_mask([0.9, 0.0], [1.0, float("nan")]).tolist() == [True, False]
    assert blanket_mask([0.0, 0.0], [float("nan"), float("nan")]).tolist() == [True, True]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="equal length"):
        blanket_mask([0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        blanket_mask([float("nan")], [1.0])
    assert blanket_mask([], []).tolist() == []


def test_frame_helper_sorts_the_front_by_area():
    frame = pd.DataFrame({"accuracy": [0.8, 0.99, 0.9], "mean_area": [5.0, -3.0, 1.0], "tag": list("abc")})
    assert blanket(frame)["tag"].tolist() == ["b", "c", "a"]
