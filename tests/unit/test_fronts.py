"""Figure 2's fronts chosen on validation (nusmooth.fronts): the blanket over complete candidates only,
and the cap on the members certified on test: evenly along the validation mean area, both ends kept,
the whole front when it is small enough."""

import json

import numpy as np
import pandas as pd
import pytest

from nusmooth.blanket import blanket_mask
from nusmooth.fronts import certified_members, choose_fronts, front_sizes, member_keys, spread_evenly


def test_a_front_no_longer_than_the_cap_is_kept_whole():
    assert spread_evenly([1.0, 2.0, 3.0], 3) == [0, 1, 2]
    assert spread_evenly([1.0], 10) == [0]


def test_evenly_spaced_areas_keep_every_other_member_and_both_ends():
    assert spread_evenly(np.arange(9.0), 5) == [0, 2, 4, 6, 8]
    assert spread_evenly(np.arange(11.0), 2) == [0, 10]


def test_members_are_spread_along_the_area_not_the_rank():
    """Eight members crowded at the low end and three spread over the rest: evenly along the area the
    cap of four keeps the low end, one of the crowd and the spread members, where evenly along the
    ranks it would keep three of the crowd."""
    areas = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 3.3, 6.7, 10.0]
    assert spread_evenly(areas, 4) == [0, 8, 9, 10]
    picked = spread_evenly(areas, 6)
    assert picked[0] == 0 and picked[-1] == 10 and len(picked) == 6 and picked == sorted(set(picked))


def test_areas_without_a_span_are_spread_by_rank():
    assert spread_evenly([-np.inf, 1.0, 2.0, 3.0, 4.0], 3) == [0, 2, 4]
    assert spread_evenly([5.0] * 5, 3) == [0, 2, 4]


def test_the_cap_keeps_both_ends_and_refuses_less():
    with pytest.raises(ValueError, match=">= 2"):
        spread_evenly([1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match="increasing"):
        spread_evenly([3.0, 2.0, 1.0], 2)


def validation_metrics(rows):
    """Validation metrics rows from (kind, init, sub_epoch, accuracy, mean_area, complete)."""
    return pd.DataFrame(
        [
            {
                "kind": kind,
                "init": init,
                "sub_epoch": sub_epoch,
                "split": "val",
                "accuracy": accuracy,
                "mean_area": area,
                "points": 100 if complete else 25,
                "complete": complete,
            }
            for kind, init, sub_epoch, accuracy, area, complete in rows
        ]
    )


def test_fronts_are_the_blanket_of_the_complete_candidates_in_area_order():
    rows = [(("learned", 0.25, e, 0.99 - 0.02 * e, -900.0 + 100 * e, True)) for e in range(1, 6)]
    rows += [("learned", 0.5, 1, 0.80, -850.0, True)]  # dominated
    rows += [("learned", 0.5, 2, 1.0, 0.0, False)]  # dropped by racing: its numbers are of 25 points only
    rows += [("isotropic", 0.25, 0, 0.97, -950.0, True), ("isotropic", 0.5, 0, 0.90, -700.0, True)]
    metrics = validation_metrics(rows)
    fronts = choose_fronts(metrics, test_front_members=None)
    learned = fronts["kinds"]["learned"]
    assert [(m["init"], m["sub_epoch"]) for m in learned["front"]] == [(0.25, e) for e in range(1, 6)]
    assert learned["certified"] == learned["front"] and not learned["capped"]
    complete = metrics[metrics["complete"] & (metrics["kind"] == "learned")]
    on_front = complete[blanket_mask(complete["accuracy"].to_numpy(), complete["mean_area"].to_numpy())]
    assert set(zip(on_front["init"], on_front["sub_epoch"])) == {(m["init"], m["sub_epoch"]) for m in learned["front"]}
    assert front_sizes(fronts) == {"learned": 5, "isotropic": 2}
    assert json.loads(json.dumps(fronts, allow_nan=False)) == fronts


def test_a_long_front_is_capped_for_the_test_split():
    rows = [("learned", 0.25, e, 1.0 - 0.01 * e, float(10 * e), True) for e in range(1, 13)]  # twelve on the front
    rows += [("isotropic", 0.25, 0, 0.9, 5.0, True)]
    fronts = choose_fronts(validation_metrics(rows), test_front_members=4)
    learned = fronts["kinds"]["learned"]
    assert len(learned["front"]) == 12 and learned["capped"] and fronts["test_front_members"] == 4
    assert [m["sub_epoch"] for m in certified_members(fronts, "learned")] == [1, 5, 8, 12]
    assert not fronts["kinds"]["isotropic"]["capped"]
    assert ("learned", 0.25, 5) in member_keys(fronts, "certified") and ("learned", 0.25, 2) in member_keys(
        fronts, "front"
    )
    assert ("learned", 0.25, 2) not in member_keys(fronts, "certified")


def test_fronts_refuse_what_they_cannot_choose_from():
    metrics = validation_metrics([("learned", 0.25, 1, 0.9, -1.0, True), ("isotropic", 0.25, 0, 0.9, -1.0, True)])
    with pytest.raises(ValueError, match="'val' metrics only"):
        choose_fronts(metrics.assign(split="test"), test_front_members=10)
    with pytest.raises(ValueError, match="twice"):
        choose_fronts(pd.concat([metrics, metrics]), test_front_members=10)
    with pytest.raises(ValueError, match="lack"):
        choose_fronts(metrics.drop(columns="complete"), test_front_members=10)
    with pytest.raises(ValueError, match="no isotropic candidate has every validation point"):
        choose_fronts(metrics.assign(complete=[True, False]), test_front_members=10)
