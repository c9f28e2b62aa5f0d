"""Figure 1's choice of snapshot: validation metrics only, by the configured tolerance rule."""

import pandas as pd
import pytest

from nusmooth.selection import choose_fig1_snapshot, select_snapshot


def metrics(split="val"):
    return pd.DataFrame(
        {"split": split, "sub_epoch": [1, 2, 3], "accuracy": [0.95, 0.94, 0.90], "mean_area": [-900.0, -700.0, -500.0]}
    )


def sweep(split, rows, init=0.25):
    """One learned sweep's metrics rows of one split, from (sub_epoch, accuracy, mean_area) tuples."""
    return pd.DataFrame(
        [
            {
                "kind": "learned",
                "init": init,
                "sub_epoch": sub_epoch,
                "split": split,
                "accuracy": accuracy,
                "mean_area": area,
            }
            for sub_epoch, accuracy, area in rows
        ]
    )


def test_largest_area_within_tolerance():
    assert select_snapshot(metrics(), accuracy_tolerance=0.01) == 2
    assert select_snapshot(metrics(), accuracy_tolerance=0.0) == 1
    assert select_snapshot(metrics(), accuracy_tolerance=0.05) == 3


def test_refuses_test_metrics():
    mixed = pd.concat([metrics(), metrics("test")])
    with pytest.raises(ValueError, match="validation rows only"):
        select_snapshot(mixed, 0.01)


def test_choice_follows_validation_when_test_favours_another_snapshot():
    # On validation, sub-epoch 2 has the largest area within 0.01 of the best accuracy; on test,
    # sub-epoch 3 is both the most accurate and the largest in area, so any use of test rows picks it.
    validation = sweep("val", [(1, 0.95, -900.0), (2, 0.94, -700.0), (3, 0.90, -500.0)])
    test = sweep("test", [(1, 0.80, -950.0), (2, 0.82, -800.0), (3, 0.99, -100.0)])
    for both in (pd.concat([validation, test]), pd.concat([test, validation])):
        choice = choose_fig1_snapshot(both, accuracy_tolerance=0.01)
        assert choice.sub_epoch == 2
        assert choice.val == {"accuracy": 0.94, "mean_area": -700.0}


def test_choice_needs_validation_rows_of_one_sweep():
    test = sweep("test", [(1, 0.95, -900.0), (2, 0.94, -700.0)])
    with pytest.raises(ValueError, match="certify the sweep on the validation split"):
        choose_fig1_snapshot(test, 0.01)
    two_sweeps = pd.concat([sweep("val", [(1, 0.95, -900.0)]), sweep("val", [(1, 0.9, -800.0)], init=0.5)])
    with pytest.raises(ValueError, match="one sweep"):
        choose_fig1_snapshot(two_sweeps, 0.01)
    once = sweep("val", [(1, 0.95, -900.0)])
    with pytest.raises(ValueError, match="twice"):
        choose_fig1_snapshot(pd.concat([once, once]), 0.01)
    with pytest.raises(ValueError, match="split column"):
        choose_fig1_snapshot(test.drop(columns="split"), 0.01)
