"""Every figure and table function renders from small synthetic results (no pipeline run)."""

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection

from nusmooth.fronts import choose_fronts
from nusmooth.records import certified_accuracy_curve, clean_accuracy_and_area
from nusmooth.sigma_regions import NON_ROBUST, ROBUST, extreme_masks, region_pixels, region_summary
from nusmooth.io import atomic_write_tsv
from nusmooth.plotting import (
    FIG1_LINESTYLES,
    channel_strip,
    enlarge,
    fig1,
    fig1_banded,
    fig1_panel_from_results,
    fig3,
    front_figure,
    wrapped,
    regions_figure,
    save,
)
from nusmooth.tables import (
    certified_accuracy_table,
    class_counts,
    front_table,
    html_document,
    majority_share,
    round_thresholds,
    sweep_points,
)
from support.workflow import REPO


def evidence(accuracy, area):
    """The precision, 95% interval and race columns of a metrics row (made-up widths around the values;
    every candidate complete)."""
    return {
        "precision": "fp32",
        "accuracy_lower": max(accuracy - 0.05, 0.0),
        "accuracy_upper": min(accuracy + 0.05, 1.0),
        "mean_area_lower": area - 20.0,
        "mean_area_upper": area + 20.0,
        "race_stage": 0,
        "complete": True,
    }


def fronts_of(frames, cap=None):
    """The fronts choose_fronts takes from the frames' validation rows."""
    metrics = pd.concat(frames, ignore_index=True)
    return choose_fronts(metrics[metrics["split"] == "val"], test_front_members=cap)


def with_fronts(frames, cap=None):
    """sweep_points as tabulate_fig2 makes them, and their fronts."""
    fronts = fronts_of(frames, cap)
    return sweep_points(frames, fronts=fronts), fronts


def sweep_metrics(kind, init, sub_epochs, rng):
    rows = []
    for split in ("val", "test"):
        for sub_epoch in sub_epochs:
            accuracy, area = float(rng.uniform(0.5, 1.0)), float(rng.uniform(-900, -300))
            rows.append(
                {
                    "kind": kind,
                    "init": init,
                    "sub_epoch": sub_epoch,
                    "split": split,
                    "accuracy": accuracy,
                    "mean_area": area,
                    "points": 20,
                    "sigma_mean": init,
                    "n0": 8,
                    "n": 32,
                    "alpha": 0.001,
                    "sigma_space": "[0,1] pixels",
                    **evidence(accuracy, area),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    frames = [sweep_metrics("learned", init, [1, 2, 3], rng) for init in (0.12, 0.25, 0.5)]
    frames += [sweep_metrics("isotropic", init, [0], rng) for init in (0.12, 0.25, 0.5)]
    nothing = frames[-1]["split"] == "test"  # nothing certified
    frames[-1].loc[
        nothing, ["accuracy", "mean_area", "accuracy_lower", "accuracy_upper", "mean_area_lower", "mean_area_upper"]
    ] = [0.0, np.nan, 0.0, 0.0, np.nan, np.nan]
    return sweep_points(frames, fronts=fronts_of(frames))


def certificates(rng, points=30):
    correct = rng.uniform(size=points) < 0.8
    return pd.DataFrame(
        {"correct": correct.astype(int), "certified_area": np.where(correct, rng.normal(-600, 80, points), -np.inf)}
    )


def assert_png(path, min_size=(300, 300)):
    image = mpimg.imread(path)
    assert image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
    assert image[..., :3].std() > 0.01  # not blank


def snapshot_rows(kind, split, rows):
    """Metrics rows of one kind and split from (init, sub_epoch, accuracy, mean_area) tuples."""
    return pd.DataFrame(
        [
            {
                "kind": kind,
                "init": init,
                "sub_epoch": sub_epoch,
                "split": split,
                "accuracy": accuracy,
                "mean_area": area,
                "points": 20,
                "sigma_mean": init,
                "n0": 8,
                "n": 32,
                "alpha": 0.001,
                "sigma_space": "[0,1] pixels",
                **evidence(accuracy, area),
            }
            for init, sub_epoch, accuracy, area in rows
        ]
    )


@pytest.fixture
def disagreeing():
    """Sweep points whose test metrics would put other snapshots on the fronts than the validation ones.

    Learned, validation: the blanket keeps (0.25, 1) (most accurate), (0.25, 2), (0.25, 4), (0.5, 1).
    Learned, test: (0.25, 3) is the most accurate and (0.5, 2) reaches furthest right, so a test-split
    blanket would keep (0.25, 3), (0.25, 2), (0.5, 1), (0.5, 2) instead; and (0.25, 2) lies right of
    (0.25, 4) on test, so the line joined in validation order turns back.
    Isotropic, validation: all three constants; on test, 0.5 certifies nothing (no area).
    """
    learned_val = [
        (0.25, 1, 0.95, -900.0),
        (0.25, 2, 0.93, -700.0),
        (0.25, 3, 0.90, -800.0),
        (0.25, 4, 0.85, -500.0),
        (0.5, 1, 0.80, -300.0),
        (0.5, 2, 0.70, -400.0),
    ]
    learned_test = [
        (0.25, 1, 0.94, -880.0),
        (0.25, 2, 0.90, -450.0),
        (0.25, 3, 0.96, -600.0),
        (0.25, 4, 0.86, -520.0),
        (0.5, 1, 0.79, -330.0),
        (0.5, 2, 0.75, -250.0),
    ]
    isotropic_val = [(0.12, 0, 0.97, -1000.0), (0.25, 0, 0.90, -750.0), (0.5, 0, 0.60, -350.0)]
    isotropic_test = [(0.12, 0, 0.96, -990.0), (0.25, 0, 0.91, -760.0), (0.5, 0, 0.0, np.nan)]
    frames = [
        snapshot_rows("learned", "val", learned_val),
        snapshot_rows("learned", "test", learned_test),
        snapshot_rows("isotropic", "val", isotropic_val),
        snapshot_rows("isotropic", "test", isotropic_test),
    ]
    return sweep_points(frames, fronts=fronts_of(frames))


def members(front, kind):
    return list(front.loc[front["kind"] == kind, ["init", "sub_epoch"]].itertuples(index=False, name=None))


def test_fronts_are_chosen_on_validation(disagreeing):
    front = front_table(disagreeing, fronts_of([disagreeing]))
    assert members(front, "learned") == [(0.25, 1), (0.25, 2), (0.25, 4), (0.5, 1)]
    assert members(front, "isotropic") == [(0.12, 0), (0.25, 0), (0.5, 0)]
    learned = front[front["kind"] == "learned"]
    assert learned["front_position"].tolist() == [1, 2, 3, 4]
    # Both the metrics that chose each member and the ones the figure shows.
    assert learned["val_accuracy"].tolist() == [0.95, 0.93, 0.85, 0.80]
    assert learned["val_mean_area"].tolist() == [-900.0, -700.0, -500.0, -300.0]
    assert learned["test_accuracy"].tolist() == [0.94, 0.90, 0.86, 0.79]
    assert learned["test_mean_area"].tolist() == [-880.0, -450.0, -520.0, -330.0]
    # The test rows carry the validation verdict: the most accurate test snapshot is not on the front.
    test = disagreeing[disagreeing["split"] == "test"].set_index(["kind", "init", "sub_epoch"])
    assert not test.loc[("learned", 0.25, 3), "on_val_front"]
    assert test.loc[("learned", 0.25, 2), "on_val_front"]


def test_front_member_without_test_area_is_listed_and_named(disagreeing):
    front = front_table(disagreeing, fronts_of([disagreeing]))
    isotropic = front[front["kind"] == "isotropic"].set_index("init")
    assert isotropic["drawn"].tolist() == [True, True, False]
    assert isotropic.loc[0.5, "test_accuracy"] == 0.0 and np.isnan(isotropic.loc[0.5, "test_mean_area"])
    ax = front_figure([panel("A", disagreeing)]).axes[0]
    notes = " ".join(text.get_text() for text in ax.texts)
    assert "$\\sigma$=0.5 (chosen on validation): no test area, not drawn" in notes


def panel(title, points, fronts=None, cloud="test", **extra):
    """A Figure 2/4 panel as plot_fronts builds it: the points and their front table (the fixtures
    certify every candidate on test: sweep_eval.test_cloud)."""
    front = front_table(points, fronts or fronts_of([points]))
    return {"title": title, "points": points, "front": front, "cloud": cloud, **extra}


def test_the_figure_draws_the_written_front_table(tmp_path, disagreeing):
    """plot_fig2 draws tabulate_fig2's front table read back from its TSV: the same lines as the table
    computed in memory (one computation of the front, no drift between table and figure)."""
    atomic_write_tsv(front_table(disagreeing, fronts_of([disagreeing])), tmp_path / "front.tsv")
    front = pd.read_csv(tmp_path / "front.tsv", sep="\t")
    written = {"title": "A", "points": disagreeing, "front": front, "cloud": "test"}
    for ours, theirs in zip(
        front_lines(front_figure([written]).axes[0]), front_lines(front_figure([panel("A", disagreeing)]).axes[0])
    ):
        np.testing.assert_array_equal(ours.get_xydata(), theirs.get_xydata())
    assert "front_table(" not in (REPO / "workflow_scripts/nusmooth/plotting.py").read_text()


def front_lines(ax):
    lines = {line.get_label(): line for line in ax.get_lines()}
    learned = next(line for label, line in lines.items() if label.startswith("non-isotropic") and "front" in label)
    isotropic = next(line for label, line in lines.items() if label.startswith("isotropic") and "front" in label)
    return learned, isotropic


def test_front_line_draws_test_metrics_in_validation_order(disagreeing):
    learned, isotropic = front_lines(front_figure([panel("A", disagreeing)]).axes[0])
    # Not sorted by test area: the line turns back at (0.25, 2).
    np.testing.assert_array_equal(learned.get_xdata(), [-880.0, -450.0, -520.0, -330.0])
    np.testing.assert_array_equal(learned.get_ydata(), [0.94, 0.90, 0.86, 0.79])
    np.testing.assert_array_equal(isotropic.get_xdata(), [-990.0, -760.0])
    np.testing.assert_array_equal(isotropic.get_ydata(), [0.96, 0.91])
    assert learned.get_linestyle() == "-" and isotropic.get_linestyle() == "--"


def test_all_points_cloud_shows_every_test_point(disagreeing):
    ax = front_figure([panel("A", disagreeing)]).axes[0]
    clouds = [
        collection for collection in ax.collections if isinstance(collection, PathCollection)
    ]  # not the error bars
    drawn = sorted(tuple(xy) for collection in clouds for xy in collection.get_offsets().tolist())
    test = disagreeing[(disagreeing["split"] == "test") & disagreeing["mean_area"].notna()]
    assert drawn == sorted(zip(test["mean_area"], test["accuracy"]))
    assert all(collection.get_alpha() < 0.5 for collection in clouds)


def test_front_members_carry_their_test_intervals_as_error_bars(disagreeing):
    ax = front_figure([panel("A", disagreeing)]).axes[0]
    bars = [collection for collection in ax.collections if isinstance(collection, LineCollection)]
    segments = [tuple(map(tuple, segment)) for collection in bars for segment in collection.get_segments()]
    # The learned member (0.25, 2): test accuracy 0.90 (made-up interval 0.85..0.95), area -450 (-470..-430).
    assert ((-450.0, 0.85), (-450.0, 0.95)) in [
        tuple(map(lambda p: (round(p[0], 6), round(p[1], 6)), s)) for s in segments
    ]
    assert ((-470.0, 0.90), (-430.0, 0.90)) in [
        tuple(map(lambda p: (round(p[0], 6), round(p[1], 6)), s)) for s in segments
    ]
    assert any("fp32" in text.get_text() for text in ax.figure.texts)


def test_the_accuracy_axis_shows_each_front_members_whole_interval(disagreeing):
    wide = disagreeing.copy()
    wide.loc[(wide["split"] == "test") & (wide["kind"] == "isotropic"), "accuracy_lower"] = 0.2  # far below every point
    ax = front_figure([panel("A", wide)]).axes[0]
    assert ax.get_ylim()[0] <= 0.2


def test_sweep_points_need_the_fronts_test_rows_and_every_validation_row(disagreeing):
    metrics = disagreeing.drop(columns="on_val_front")
    fronts = fronts_of([metrics])
    front_member = (metrics["split"] == "test") & (metrics["kind"] == "isotropic") & (metrics["init"] == 0.12)
    with pytest.raises(ValueError, match="front members with no 'test' metrics"):
        sweep_points([metrics[~front_member]], fronts=fronts)
    not_on_front = (metrics["split"] == "test") & (metrics["kind"] == "learned") & (metrics["sub_epoch"] == 3)
    assert len(sweep_points([metrics[~not_on_front]], fronts=fronts)) == len(metrics) - 1  # no cloud row: fine
    with pytest.raises(ValueError, match="none on 'val'"):
        sweep_points([metrics[~((metrics["split"] == "val") & (metrics["init"] == 0.5))]], fronts=fronts)
    with pytest.raises(ValueError, match="twice"):
        sweep_points([metrics, metrics[metrics["kind"] == "isotropic"]], fronts=fronts)
    with pytest.raises(ValueError, match="only 'val' and 'test'"):
        sweep_points([metrics.assign(split="train")], fronts=fronts)


def test_front_table_needs_sweep_points():
    rows = snapshot_rows("learned", "val", [(0.25, 1, 0.9, -1.0)])
    with pytest.raises(ValueError, match="sweep_points"):
        front_table(rows, fronts_of([rows]))


def test_sweep_points_rejects_old_tables():
    with pytest.raises(ValueError, match="lack columns"):
        sweep_points([pd.DataFrame({"accuracy": [0.5]})], fronts={"kinds": {}})


def test_the_cloud_shows_validation_and_a_capped_front_says_so():
    """Without sweep_eval.test_cloud the faint markers are every candidate's validation metrics (racing's
    dropped candidate hollow), the test split holds only the certified front members, and a front capped
    for the test split is named with its size."""
    learned_val = [(0.25, e, 1.0 - 0.02 * e, -1000.0 + 100 * e) for e in range(1, 6)]  # five on the front
    frames = [snapshot_rows("learned", "val", learned_val), snapshot_rows("isotropic", "val", [(0.25, 0, 0.9, -800.0)])]
    frames[0].loc[4, "complete"] = False  # the last one was dropped: its numbers are of its first points
    fronts = fronts_of(frames, cap=2)
    certified = [(m["init"], m["sub_epoch"]) for m in fronts["kinds"]["learned"]["certified"]]
    assert certified == [(0.25, 1), (0.25, 4)] and len(fronts["kinds"]["learned"]["front"]) == 4
    tests = [
        snapshot_rows("learned", "test", [(i, e, 0.9, -700.0) for i, e in certified]),
        snapshot_rows("isotropic", "test", [(0.25, 0, 0.85, -790.0)]),
    ]
    points = sweep_points(frames + tests, fronts=fronts)
    front = front_table(points, fronts)
    assert front.loc[front["kind"] == "learned", "val_front_size"].tolist() == [4, 4]
    ax = front_figure([{"title": "A", "points": points, "front": front, "cloud": "val"}]).axes[0]
    clouds = [c for c in ax.collections if isinstance(c, PathCollection)]
    drawn = sorted(tuple(xy) for collection in clouds for xy in collection.get_offsets().tolist())
    validation = points[points["split"] == "val"]
    assert drawn == sorted(zip(validation["mean_area"], validation["accuracy"]))
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any("all points (validation)" in label for label in labels)
    assert any("dropped by racing" in label for label in labels)
    notes = " ".join(text.get_text() for text in ax.texts)
    assert "2 of its 4 validation members certified on test" in notes
    assert "1 candidate(s) dropped by racing" in notes
    assert "faint: validation" in ax.get_xlabel()


def test_the_legends_and_labels_of_two_front_panels_overlap_nothing(points):
    """Figure 2's two-line axis labels stay within their panel and the figure, and the legend sits
    below the x label: each label was one line once, and ran into the next panel and off the figure."""
    figure = front_figure([panel("A", points), panel("B", points)])
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    left, right = figure.axes
    for ax in (left, right):
        xlabel, ylabel = ax.xaxis.label.get_window_extent(renderer), ax.yaxis.label.get_window_extent(renderer)
        legend = ax.get_legend().get_window_extent(renderer)
        assert ax.get_xlabel().count("\n") == 1 and ax.get_ylabel().count("\n") == 1
        assert legend.y1 <= xlabel.y0, "the legend covers the x label"
        assert ylabel.x0 >= 0 and xlabel.x0 >= 0 and xlabel.x1 <= figure.bbox.x1
    assert left.xaxis.label.get_window_extent(renderer).x1 <= right.yaxis.label.get_window_extent(renderer).x0


def test_fig2_and_fig4_render(tmp_path, points):
    panels = [panel("A", points), panel("B", points)]
    save(front_figure(panels), tmp_path / "fig2.pdf", tmp_path / "fig2.png")
    assert (tmp_path / "fig2.pdf").read_bytes().startswith(b"%PDF")
    assert_png(tmp_path / "fig2.png")
    figure = front_figure([panel("KITTI", points, majority=0.8)])
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "majority class (80.0%)" in labels
    assert any("front" in label for label in labels) and any("all points" in label for label in labels)
    save(figure, tmp_path / "fig4.pdf", tmp_path / "fig4.png")
    assert_png(tmp_path / "fig4.png")


def test_front_figure_needs_a_panel():
    with pytest.raises(ValueError, match="no dataset"):
        front_figure([])


def test_fig1_per_dataset_renders(tmp_path):
    rng = np.random.default_rng(1)
    results = [
        {
            "choice": {"init": init, "isotropic_sigma": init * 1.1, "sigma_space": "[0,1] pixels"},
            "learned": certificates(rng),
            "isotropic": certificates(rng),
        }
        for init in (0.25, 0.5)
    ]
    figure = fig1([fig1_panel_from_results("mnist5k", results)])
    assert figure.axes[0].get_title() == "MNIST (5k subset)"
    save(figure, tmp_path / "fig1.pdf", tmp_path / "fig1.png")
    assert_png(tmp_path / "fig1.png")


def test_a_three_channel_sigma_is_drawn_as_its_channels_on_one_scale():
    """Each channel side by side in sigma units (blank gaps between): one grey scale and one colour bar
    read all three, where an RGB composite beside a grey bar meant nothing the bar said."""
    sigma = np.stack([np.full((2, 8), 0.1), np.full((2, 8), 0.3), np.array([[0.1, 0.2] * 4, [0.3, 0.5] * 4])])
    strip = channel_strip(sigma)
    assert strip.shape == (2, 3 * 8 + 2 * 1)
    np.testing.assert_array_equal(strip[:, :8], sigma[0])
    np.testing.assert_array_equal(strip[:, 18:], sigma[2])
    assert np.isnan(strip[:, 8]).all() and np.isnan(strip[:, 17]).all()
    np.testing.assert_array_equal(channel_strip(np.ones((1, 3, 3))), np.ones((3, 3)))
    figure = fig3([{"title": "CIFAR-10", "cells": [{"sigma": sigma, "label": "init 0.25"}]}])
    image = figure.axes[0].get_images()[0]
    assert image.get_clim() == (0.1, 0.5) and "channels R | G | B" in figure.axes[0].get_title()


def test_a_long_title_of_your_own_is_wrapped_not_clipped():
    title = "scikit-learn digits, own TorchScript CNN trained in plain PyTorch"
    figure = fig3([{"title": title, "cells": [{"sigma": np.ones((1, 8, 8)), "label": "init 0.25"}]}])
    shown = figure.axes[0].get_title()
    assert shown.replace("\n", " ").startswith(title) and shown.count("\n") >= 2
    figure.canvas.draw()
    box = figure.axes[0].title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= figure.bbox.x1  # inside the figure


def test_a_title_is_wrapped_between_words_not_at_a_hyphen():
    # 20 characters a line: "init σ=0.25, sub-" would fit, and Figure 3 showed "sub-" / "epoch 3".
    assert wrapped("init $\\sigma$=0.25, sub-epoch 3", 20 * 0.6 * 10 / 72, 10) == "init $\\sigma$=0.25,\nsub-epoch 3"
    # $\\sigma$ shows one character: a title that fits is not wrapped for its markup.
    assert wrapped("init $\\sigma$=0.5, sub-epoch 3", 2.4, 10) == "init $\\sigma$=0.5, sub-epoch 3"


def test_fig1_draws_each_comparator_in_its_own_style_and_the_envelope_once(tmp_path):
    rng = np.random.default_rng(4)

    def records():
        table = certificates(rng, 60)
        return table.assign(idx=np.arange(60), l2_radius=np.where(table["correct"] == 1, 0.3, 0.0))

    choice = {"init": 0.25, "isotropic_sigma": 0.3, "geometric_sigma": 0.28, "sigma_space": "[0,1] pixels"}
    results = [{"choice": choice, "learned": records(), "isotropic": records(), "geometric": records()}]
    band = pd.DataFrame({"threshold": [-800.0, -600.0], "certified_accuracy": [0.7, 0.4], "lower": 0.2, "upper": 0.9})
    panel = fig1_panel_from_results("mnist", results, {"band": band, "constants": 7})
    figure = fig1_banded([dict(panel, x_range=(-900.0, -400.0))], "area", "fp32")
    lines = figure.axes[0].get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "--", ":", "-."]  # learned, AM, GM, envelope
    assert FIG1_LINESTYLES == {"learned": "-", "am": "--", "gm": ":", "envelope": "-."}
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels[1].startswith("AM") and labels[2].startswith("GM") and labels[3] == "isotropic envelope (7 constants)"
    np.testing.assert_array_equal(lines[3].get_xdata(), band["threshold"])  # the envelope's own grid
    save(figure, tmp_path / "fig1.pdf", tmp_path / "fig1.png")
    assert_png(tmp_path / "fig1.png")


def test_enlarge_is_nearest_neighbour():
    image = np.arange(6.0).reshape(2, 3)
    big = enlarge(image, min_size=8)
    assert big.shape == (8, 12)
    np.testing.assert_array_equal(big[::4, ::4], image)
    assert set(np.unique(big)) == set(image.ravel())


def test_fig3_renders_grey_and_colour_rows(tmp_path):
    rng = np.random.default_rng(2)
    rows = [
        {
            "title": "MNIST",
            "cells": [{"sigma": rng.uniform(0.1, 0.9, (1, 28, 28)), "label": f"init {i}"} for i in (1, 2)],
        },
        {"title": "CIFAR-10", "cells": [{"sigma": rng.uniform(0.01, 0.2, (3, 32, 32)), "label": "init 1"}]},
    ]
    figure = fig3(rows)
    bars = [ax for ax in figure.axes if ax.get_ylabel() == "$\\sigma$ ([0,1] pixels)"]  # the colour bars
    assert len(bars) == 3
    assert bars[0].get_ylim()[0] == pytest.approx(rows[0]["cells"][0]["sigma"].min())  # colour bar in sigma units
    save(figure, tmp_path / "fig3.pdf", tmp_path / "fig3.png")
    assert_png(tmp_path / "fig3.png")


def test_extreme_regions_pick_the_right_pixels():
    sigma = np.full((1, 10, 10), 0.5)
    sigma[0, 0, :] = 0.9  # border row: largest
    sigma[0, 5, 4:9] = 0.05  # centre: smallest
    masks = extreme_masks(sigma, 0.05)
    assert masks[ROBUST].sum() == masks[NON_ROBUST].sum() == 5
    assert masks[ROBUST][0].sum() == 5 and masks[NON_ROBUST][5, 4:9].all()
    assert not (masks[ROBUST] & masks[NON_ROBUST]).any()
    pixels = region_pixels(sigma, 0.05)
    assert pixels.groupby("group")["rank"].max().tolist() == [5, 5]
    summary = region_summary(sigma, 0.05, border=1).set_index("group")
    assert summary.loc[ROBUST, "border_share"] == 1.0
    assert summary.loc[NON_ROBUST, "border_share"] == 0.0
    assert summary.loc[NON_ROBUST, "sigma_max"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="fraction"):
        extreme_masks(sigma, 0.6)


def test_regions_figure_renders(tmp_path):
    rng = np.random.default_rng(3)
    cells = [{"sigma": rng.uniform(0.1, 0.9, (3, 16, 16)), "label": "init 0.1"}]
    save(regions_figure("X", rng.uniform(size=(3, 16, 16)), cells, 0.05), tmp_path / "r.pdf", tmp_path / "r.png")
    assert_png(tmp_path / "r.png")


def test_certified_accuracy_table_reads_the_curve():
    table = pd.DataFrame({"correct": [1, 1, 1, 0], "certified_area": [-10.0, -5.0, 0.0, -np.inf]})
    result = certified_accuracy_table({"s": table}, np.array([-20.0, -5.0, 1.0])).iloc[0]
    assert result["clean accuracy"] == 0.75
    assert [result["O_CA >= -20"], result["O_CA >= -5"], result["O_CA >= 1"]] == [0.75, 0.5, 0.0]


def test_certified_but_wrong_points_never_count_in_figure_1():
    """A wrong prediction can still carry a finite certified area (the smoothed classifier is confidently
    wrong); Figure 1 counts only points that are correct *and* certified, at every threshold."""
    table = pd.DataFrame({"correct": [1, 0, 1, 0], "certified_area": [-10.0, 50.0, -5.0, 20.0]})
    thresholds = np.array([-20.0, -5.0, 0.0, 30.0, 60.0])
    np.testing.assert_array_equal(certified_accuracy_curve(table, thresholds), [0.5, 0.25, 0.0, 0.0, 0.0])
    abstained = pd.DataFrame({"correct": [1, 0], "certified_area": [-10.0, -np.inf]})
    np.testing.assert_array_equal(certified_accuracy_curve(abstained, np.array([-np.inf])), [0.5])
    row = certified_accuracy_table({"s": table}, thresholds).iloc[0]
    assert row["clean accuracy"] == 0.5
    assert [row[f"O_CA >= {t:g}"] for t in thresholds] == [0.5, 0.25, 0.0, 0.0, 0.0]
    panel = {
        "title": "A",
        "sigma_space": "[0,1] pixels",
        "curves": [{"table": table, "label": "learned", "color": "k", "isotropic": False}],
    }
    curve = fig1([panel]).axes[0].get_lines()[0]
    x, y = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
    assert y.max() == 0.5
    assert np.all(y[x > -5.0] == 0.0)


def test_figure_2_point_is_accuracy_and_mean_area_of_the_certified_correct():
    """Figure 2's point of one table: accuracy counts abstentions and wrong answers as wrong (3 of 5
    correct); the area is the mean over the correct points only, so the wrong point's larger finite
    area and the abstention's -inf stay out: (-10 - 4 - 1) / 3 = -5."""
    table = pd.DataFrame({"correct": [1, 0, 1, 0, 1], "certified_area": [-10.0, 50.0, -4.0, -np.inf, -1.0]})
    accuracy, area = clean_accuracy_and_area(table)
    assert (accuracy, area) == (0.6, -5.0)
    nothing = pd.DataFrame({"correct": [0, 0], "certified_area": [3.0, -np.inf]})
    accuracy, area = clean_accuracy_and_area(nothing)
    assert accuracy == 0.0 and np.isnan(area)  # no certified-correct point: no area, never -inf or 0


def test_round_thresholds():
    # 5 % / 95 % quantiles of the finite areas: -795.455 and -483.53; 5 steps of ~78 round to tens.
    thresholds = round_thresholds(np.array([-812.3, -640.1, -455.9, -np.inf, -700.0]), 5)
    np.testing.assert_array_equal(thresholds, [-800.0, -720.0, -640.0, -560.0, -480.0])
    # Quantiles 0.01408 and 0.04513: steps of ~0.0155 round to hundredths.
    np.testing.assert_allclose(round_thresholds(np.array([0.0123, 0.0468, 0.0301]), 3), [0.01, 0.03, 0.05], rtol=1e-12)
    np.testing.assert_array_equal(round_thresholds(np.array([-3.14159] * 3), 5), [-3.14])  # one value: itself, rounded
    assert round_thresholds(np.array([-np.inf]), 5).size == 0


def test_class_balance_and_html():
    counts = class_counts(np.array([0, 0, 0, 2]), ["car", "van", "truck"])
    assert counts["count"].tolist() == [3, 0, 1]
    assert majority_share(counts) == 0.75
    page = html_document("T <x>", [("counts", counts)], note="n")
    assert page.startswith("<!DOCTYPE html>") and "T &lt;x&gt;" in page and "<table" in page
