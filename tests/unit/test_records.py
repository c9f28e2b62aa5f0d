"""Per-point records and the numbers computed from them: the sweep's records, the metrics row they
give (equal to the old point estimates, now with intervals), compact reproducible files, and one
precision per merged table."""

import gzip
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from nusmooth.artifacts import CERTIFICATES
from nusmooth.records import BLOCK_COLUMNS, RECORD_COLUMNS, certificate_table, clean_accuracy_and_area, sweep_records
from nusmooth.evidence import snapshot_metrics
from nusmooth.intervals import MIN_MEAN_POINTS
from nusmooth.io import atomic_write_tsv_gz
from nusmooth.fronts import choose_fronts
from nusmooth.tables import check_one_precision, front_table, sweep_points


def certificates(rng, points=40):
    """Certificates as nusmooth.smoothing makes them: abstentions have area -inf and radii 0."""
    pa_lower = rng.uniform(0.3, 0.999, points)
    certified = pa_lower > 0.5
    phi = np.where(certified, np.log(pa_lower / (1 - pa_lower)), np.nan)  # any increasing stand-in
    area = np.where(certified, -800 + 100 * np.nan_to_num(phi), -np.inf)
    prediction = np.where(certified, rng.integers(0, 3, points), -1)
    return SimpleNamespace(
        prediction=prediction,
        pa_lower=pa_lower,
        phi_inv_pa_lower=phi,
        area=area,
        n_a=np.round(pa_lower * 64).astype(int),
        n=np.full(points, 64),
        l2_radius=np.where(certified, 0.25 * np.nan_to_num(phi), 0.0),
        geometric_mean_radius=np.exp(area / 784),
    )


@pytest.fixture
def table():
    rng = np.random.default_rng(3)
    certs = certificates(rng)
    labels = np.where(rng.uniform(size=40) < 0.8, certs.prediction, (certs.prediction + 1) % 3)
    return certificate_table(certs, labels, np.arange(40), 0.01)


def test_certificate_table_keeps_its_columns_first_and_adds_the_evidence(table):
    # The contract's columns in its order, less the two that the certify stage adds.
    assert list(table.columns) == [c for c in CERTIFICATES.keys if c not in ("sigma_space", "precision")]
    assert (table["n"] == 64).all() and (table["n_a"] <= table["n"]).all()


def test_sweep_records_and_the_metrics_row_they_give(table):
    records = sweep_records(table, kind="learned", init="0.25", sub_epoch=3, split="val", precision="fp32")
    assert list(records.columns) == BLOCK_COLUMNS == RECORD_COLUMNS[:-1]  # the sweep's files add race_stage
    assert (records["sub_epoch"] == 3).all() and (records["init"] == 0.25).all()
    metrics = snapshot_metrics(records)
    accuracy, mean_area = clean_accuracy_and_area(table)
    # The same numbers as before the records existed, to the bit, plus intervals around them.
    assert metrics["accuracy"] == accuracy and metrics["mean_area"] == mean_area and metrics["points"] == 40
    assert metrics["accuracy_lower"] < accuracy < metrics["accuracy_upper"]
    # 40 points hold fewer certified-correct ones than a mean-area interval needs: the mean comes without one.
    assert records["correct"].sum() < MIN_MEAN_POINTS
    assert np.isnan(metrics["mean_area_lower"]) and np.isnan(metrics["mean_area_upper"])


def test_records_file_is_compressed_reproducible_and_exact(tmp_path, table):
    records = sweep_records(table, kind="isotropic", init="0.5", sub_epoch=0, split="test", precision="fp32")
    first, second = tmp_path / "a" / "val_records.tsv.gz", tmp_path / "b" / "val_records.tsv.gz"
    atomic_write_tsv_gz(records, first)
    atomic_write_tsv_gz(records, second)
    assert first.read_bytes() == second.read_bytes()  # no name, no time stamp in the gzip header
    assert gzip.decompress(first.read_bytes()).startswith(b"kind\tinit\tsub_epoch")
    back = pd.read_csv(first, sep="\t")
    pd.testing.assert_frame_equal(back, records, check_dtype=False)  # floats round-trip exactly
    assert snapshot_metrics(back) == snapshot_metrics(records)


def test_merging_rows_of_different_precisions_names_the_files():
    frames = [
        pd.DataFrame({"precision": ["fp32"]}),
        pd.DataFrame({"precision": ["bf16"]}),
        pd.DataFrame({"precision": ["fp32"]}),
    ]
    names = ["sweep/learned_0.25/val.tsv", "sweep/learned_0.5/val.tsv", "sweep/isotropic_0.25/val.tsv"]
    with pytest.raises(ValueError, match="different precisions") as error:
        check_one_precision(frames, names)
    assert all(name in str(error.value) for name in names)
    assert check_one_precision(frames[::2], names[::2]) == "fp32"
    with pytest.raises(ValueError, match="learned_0.25/val.tsv has no precision"):
        check_one_precision([pd.DataFrame({"accuracy": [1.0]})], names[:1])


def metrics_row(kind, init, split, accuracy, area, precision="fp32"):
    return {
        "kind": kind,
        "init": init,
        "sub_epoch": 0,
        "split": split,
        "accuracy": accuracy,
        "mean_area": area,
        "points": 20,
        "sigma_mean": init,
        "n0": 8,
        "n": 32,
        "alpha": 0.001,
        "sigma_space": "[0,1] pixels",
        "precision": precision,
        "accuracy_lower": accuracy - 0.1,
        "accuracy_upper": accuracy + 0.05,
        "mean_area_lower": area - 30,
        "mean_area_upper": area + 10,
        "race_stage": 0,
        "complete": True,
    }


def test_sweep_points_refuse_mixed_precisions_and_the_front_carries_test_intervals():
    val = pd.DataFrame(
        [metrics_row("isotropic", 0.25, "val", 0.9, -700.0), metrics_row("isotropic", 0.5, "val", 0.8, -500.0)]
    )
    test = pd.DataFrame(
        [metrics_row("isotropic", 0.25, "test", 0.85, -720.0), metrics_row("isotropic", 0.5, "test", 0.7, -520.0)]
    )
    fronts = choose_fronts(val, test_front_members=None)
    with pytest.raises(ValueError, match="bf16: b.tsv"):
        sweep_points([val, test.assign(precision="bf16")], fronts=fronts, sources=["a.tsv", "b.tsv"])
    front = front_table(sweep_points([val, test], fronts=fronts, sources=["a.tsv", "b.tsv"]), fronts)
    assert list(front["test_accuracy_lower"]) == [0.75, 0.6] and list(front["test_mean_area_upper"]) == [-710.0, -510.0]
    assert list(front["precision"]) == ["fp32", "fp32"]


# --- Figure 1's tables: thresholds from validation, intervals over test points --------------------

from nusmooth.tables import (  # noqa: E402
    display_grid,
    largest_certifiable,
    nothing_certified_note,
    round_grid,
    threshold_labels,
    with_intervals_wide,
)


def fig1_records(areas, correct, radii):
    return pd.DataFrame({"idx": np.arange(len(areas)), "correct": correct, "certified_area": areas, "l2_radius": radii})


LEARNED = fig1_records([-700.0, -650.0, -np.inf, -820.0, -600.0], [1, 1, 0, 1, 0], [0.30, 0.35, 0.0, 0.20, 0.40])
ISOTROPIC = fig1_records([-720.0, -np.inf, -660.0, -800.0, -610.0], [1, 0, 1, 1, 1], [0.50, 0.0, 0.60, 0.45, 0.70])


def test_the_largest_certifiable_values_are_those_of_n_votes_out_of_n():
    from scipy.stats import beta, norm

    choice = {
        "dimension": 4,
        "sum_log_sigma": float(np.log([0.1, 0.2, 0.3, 0.4]).sum()),
        "min_sigma": 0.1,
        "isotropic_sigma": 0.25,
    }
    radius = norm.ppf(beta.ppf(0.001, 100, 1))  # Clopper-Pearson lower bound of 100 votes of 100
    learned = largest_certifiable(choice, "learned", 100, 0.001)
    assert learned["area"] == pytest.approx(choice["sum_log_sigma"] + 4 * np.log(radius), rel=1e-12)
    assert learned["l2_radius"] == pytest.approx(0.1 * radius, rel=1e-12)
    isotropic = largest_certifiable(choice, "isotropic", 100, 0.001)
    assert isotropic["area"] == pytest.approx(4 * np.log(0.25 * radius), rel=1e-12)
    assert isotropic["l2_radius"] == pytest.approx(0.25 * radius, rel=1e-12)


def test_the_display_grid_runs_from_validation_to_the_certifiable_ceiling():
    validation = [
        fig1_records(
            np.r_[np.linspace(-900.0, -500.0, 21), -np.inf], [1] * 21 + [0], np.r_[np.linspace(0.1, 0.5, 21), 0.0]
        )
    ]
    ceilings = [{"area": -300.0, "l2_radius": 0.9}, {"area": -400.0, "l2_radius": 1.2}]
    grid = display_grid(validation, ceilings, 3)
    low_area, low_radius = np.quantile(np.linspace(-900, -500, 21), 0.05), np.quantile(np.linspace(0.1, 0.5, 21), 0.05)
    np.testing.assert_array_equal(grid["area"]["thresholds"], round_grid(low_area, -300.0, 3))
    np.testing.assert_array_equal(
        grid["l2_radius"]["thresholds"], round_grid(low_radius, 1.2, 3)
    )  # the abstention left out
    assert grid["area"]["thresholds"].tolist() == [-900.0, -600.0, -300.0]  # -880 .. -300 in steps of 290, to hundreds
    # The figure's range starts at the smallest validation radius (0.1), so the clean plateau shows.
    assert grid["l2_radius"]["range"] == pytest.approx((0.1 - 0.05 * 1.1, 1.2 + 0.05 * 1.1))
    assert grid["area"]["range"][0] == pytest.approx(-900.0 - 0.05 * 600.0)
    with pytest.raises(ValueError, match="validation"):
        display_grid([], ceilings, 3)


def test_the_display_grid_never_repeats_the_clean_row():
    """Radii from 0.01 round down to a threshold of 0.0 (r >= 0 is the clean row every table starts
    with): the full Fashion-MNIST run hit it, and the tables' pivot failed on the duplicate."""
    validation = [fig1_records(np.full(21, -900.0), [1] * 21, np.linspace(0.01, 0.5, 21))]
    grid = display_grid(validation, [{"area": -300.0, "l2_radius": 0.6}], 5, band_count=40)
    assert 0.0 in round_grid(np.quantile(np.linspace(0.01, 0.5, 21), 0.05), 0.6, 5)
    # A grid point rounded from just below 0 is 0, not -0 (headings and verdicts would write "-0").
    top = round_grid(-1000.0, -0.3, 11)[-1]
    assert top == 0.0 and not np.signbit(top) and threshold_labels([top]) == ["0"]
    assert (grid["l2_radius"]["thresholds"] > 0).all() and len(grid["l2_radius"]["thresholds"]) == 4
    band = grid["l2_radius"]["band"]
    assert (band > 0).all() and np.all(np.diff(band) > 0) and 30 <= len(band) <= 40  # round, so a few merge
    assert band[0] <= grid["l2_radius"]["thresholds"][0] and band[-1] == pytest.approx(0.6)


def test_an_outlying_validation_area_does_not_squeeze_figure_1():
    """The range starts at the smallest validation value (the clean plateau shows), but no further than
    half the thresholds' span below their low end: an area of a point certified with pA_lower just
    above 1/2 lies far below every other."""
    areas = np.r_[np.linspace(-900.0, -500.0, 21), -1e5]
    grid = display_grid(
        [fig1_records(areas, [1] * 22, np.r_[np.linspace(0.1, 0.5, 21), 1e-6])], [{"area": -300.0, "l2_radius": 1.2}], 3
    )
    low = np.quantile(areas, 0.05)
    left = low - 0.5 * (-300.0 - low)
    assert grid["area"]["range"][0] == pytest.approx(left - 0.05 * (-300.0 - left))


def test_headings_of_thresholds_stay_distinct_at_any_magnitude():
    assert threshold_labels([-800.0, -600.0, 0.05]) == ["-800", "-600", "0.05"]  # {:g} where it suffices
    labels = threshold_labels([-350000.0, -349999.9, -349999.8])
    assert labels == ["-350000", "-349999.9", "-349999.8"]


def test_an_imagenet_layout_run_that_certifies_nothing_gets_tables_of_zeros_saying_so():
    """Issue 27, case 8, without a full run: a random-weight model at ImageNet's default 224 px
    (D = 150,528) certifies no validation or test point (n = 8 samples cannot give pA_lower > 1/2 at
    alpha 0.001: 0.001 ** (1/8) = 0.42); the grid, the tables and their headings must still work. Four
    points suffice: none can be certified whatever the model says."""
    import torch

    from nusmooth.data import ImageSplit
    from nusmooth.evidence import certified_flags, curve_with_band, paired_difference_from_flags
    from nusmooth.records import certify_split

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 8, stride=8), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 1000)
    ).eval()
    split = ImageSplit(torch.randint(0, 256, (4, 3, 224, 224), dtype=torch.uint8), torch.arange(4))
    sigma = torch.full((3, 224, 224), 0.12)

    def records(seed):
        settings = dict(num_classes=1000, n0=4, n=8, alpha=0.001, batch_size=16, limit=None, device="cpu")
        return certify_split(model, split, sigma, generator=torch.Generator().manual_seed(seed), **settings)

    validation, learned, isotropic = records(0), records(1), records(2)
    assert not np.isfinite(validation["certified_area"]).any()
    dimension = 3 * 224 * 224
    choice = {
        "dimension": dimension,
        "sum_log_sigma": dimension * np.log(0.12),
        "min_sigma": 0.12,
        "isotropic_sigma": 0.12,
    }
    ceilings = [largest_certifiable(choice, kind, 1000, 0.001) for kind in ("learned", "isotropic")]
    grid = display_grid([validation], ceilings, 5)
    hi = ceilings[0]["area"]
    assert hi < -100_000 and grid["area"]["range"][0] < hi - dimension * np.log(10.0)  # a decade of radii, not 1.0
    thresholds = grid["area"]["thresholds"]
    assert len(thresholds) >= 4 and len(set(threshold_labels(thresholds))) == len(thresholds)
    curves = {"learned": learned, "isotropic": isotropic}
    shown = np.r_[-np.inf, thresholds]
    table = pd.concat(
        [curve_with_band(records, shown, "area").assign(sigma=name, view="area") for name, records in curves.items()]
    )
    assert (table["certified_accuracy"] == 0).all()
    wide = with_intervals_wide(table, "sigma", "certified_accuracy")  # pandas refused duplicate headings here
    assert wide.shape == (2, 1 + 1 + len(thresholds))
    flags = [certified_flags(records, shown, "area")[1] for records in curves.values()]
    assert (paired_difference_from_flags(shown, *flags)["difference"] == 0).all()
    note = nothing_certified_note(grid, curves)
    assert "No validation point was certified correct" in note and "every certified accuracy below is 0" in note
