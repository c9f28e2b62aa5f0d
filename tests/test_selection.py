"""Figure 1's choice of snapshot: validation metrics only, by the configured tolerance rule."""

import pandas as pd
import pytest

from nusmooth.selection import select_snapshot


def metrics(split="val"):
    return pd.DataFrame({"split": split, "sub_epoch": [1, 2, 3], "accuracy": [0.95, 0.94, 0.90], "mean_area": [-900.0, -700.0, -500.0]})


def test_largest_area_within_tolerance():
    assert select_snapshot(metrics(), accuracy_tolerance=0.01) == 2
    assert select_snapshot(metrics(), accuracy_tolerance=0.0) == 1
    assert select_snapshot(metrics(), accuracy_tolerance=0.05) == 3


def test_refuses_test_metrics():
    mixed = pd.concat([metrics(), metrics("test")])
    with pytest.raises(ValueError, match="validation rows only"):
        select_snapshot(mixed, 0.01)


def test_stage_script_filters_validation_rows():
    """The stage script hands select_snapshot the val rows; nothing else in it reads accuracy."""
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "workflow_scripts" / "select_fig1_sigma.py").read_text()
    assert 'metrics["split"] == "val"' in source
    assert '"test"' not in source
