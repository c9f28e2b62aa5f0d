"""Figure drawing (matplotlib, Agg backend). Functions take tables and arrays, not files, and return
the matplotlib figure; the stage scripts save it (vector PDF + PNG, see :func:`save`)."""

from __future__ import annotations

import re
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as mpatches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.transforms as mtransforms  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mpl_toolkits.axes_grid1 import make_axes_locatable  # noqa: E402

from .evidence import curve_with_band  # noqa: E402
from .io import atomic_save_figure  # noqa: E402
from .records import certified_accuracy_curve  # noqa: E402
from .registry import (  # noqa: E402
    GEOMETRIC_COMPARATOR,
    PAPER_COMPARATOR,
    PIXEL_SPACE,
    SHOWN_SPLIT,
    STRONGEST_COMPARATOR,
    title_of,
)
from .sigma_regions import NON_ROBUST, ROBUST, extreme_masks  # noqa: E402

#: Print-readable defaults for every figure.
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "pdf.fonttype": 42,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}

#: The splits as a legend or note names them.
SPLIT_NAMES = {"val": "validation", "test": "test"}

#: The two methods, drawn the same way in every figure: solid = learned (non-isotropic), dashed = isotropic.
METHODS = {
    "learned": {"label": "non-isotropic (learned $\\sigma$)", "color": "tab:blue", "linestyle": "-", "marker": "o"},
    "isotropic": {"label": "isotropic (Cohen et al.)", "color": "tab:orange", "linestyle": "--", "marker": "s"},
}


def save(figure, pdf_path, png_path, dpi: int = 200) -> None:
    """Vector PDF plus a PNG for screens and the HTML report, each written atomically (a killed job
    never leaves a half-written figure under its final name); closes the figure."""
    atomic_save_figure(figure, pdf_path)
    atomic_save_figure(figure, png_path, dpi=dpi)
    plt.close(figure)


def legend_below(ax, columns: int = 2) -> None:
    """The panel's legend under its x-axis label (a fixed distance in points, whatever the panel's
    height), where it covers no curve, band or error bar; ``tight_layout`` makes room for it. Call it
    after ``set_xlabel``: each line of the label beyond the first moves the legend 14 points lower."""
    extra_lines = ax.get_xlabel().count("\n")
    below = mtransforms.offset_copy(ax.transAxes, fig=ax.figure, y=-30 - 14 * extra_lines, units="points")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=columns, frameon=False)


def area_label(sigma_space: str, what: str = "certified area") -> str:
    return f"{what} $O_{{CA}}$ (log-volume, $\\sigma$ in {sigma_space})"


def certified_accuracy_panel(ax, curves: list[dict], title: str, sigma_space: str) -> None:
    """Figure 1 panel. Each curve dict: ``table`` (per-point certificates), ``label``, ``color``,
    ``isotropic`` (dashed when true). y = fraction of points correct with certified area >= x."""
    finite = np.concatenate(
        [c["table"]["certified_area"].to_numpy()[np.isfinite(c["table"]["certified_area"])] for c in curves]
    )
    if finite.size == 0:
        ax.text(0.5, 0.5, "no point certified", transform=ax.transAxes, ha="center")
        lo, hi = -1.0, 1.0
    else:
        span = max(finite.max() - finite.min(), 1.0)
        lo, hi = finite.min() - 0.05 * span, finite.max() + 0.05 * span
    thresholds = np.linspace(lo, hi, 400)
    for curve in curves:
        accuracy = certified_accuracy_curve(curve["table"], thresholds)
        ax.step(
            thresholds,
            accuracy,
            where="post",
            color=curve["color"],
            linestyle=curve.get("linestyle", "--" if curve.get("isotropic") else "-"),
            label=curve["label"],
            linewidth=1.4,
        )
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.set_xlabel(f"certified area $O_{{CA}}$ (log-volume; $\\sigma$ in {sigma_space})")
    ax.set_ylabel("certified accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", frameon=False)


def fig1(panels: list[dict]):
    """One panel per dataset; ``panels`` items: ``title``, ``sigma_space``, ``curves``."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
        for ax, panel in zip(axes[0], panels):
            certified_accuracy_panel(ax, panel["curves"], panel["title"], panel["sigma_space"])
        figure.tight_layout()
    return figure


def precision_note(figure, precision: str) -> None:
    """The base model's precision as a small footnote, so a figure never hides what it was computed at."""
    if precision:
        figure.text(
            0.995, 0.005, f"base model precision: {precision}", ha="right", va="bottom", fontsize=6, color="0.4"
        )


#: How Figure 1 draws each sigma: the learned vector solid and its comparators in their own line styles
#: (each init in its own colour; the envelope, one per dataset, in black).
FIG1_LINESTYLES = {"learned": "-", PAPER_COMPARATOR: "--", GEOMETRIC_COMPARATOR: ":", STRONGEST_COMPARATOR: "-."}
ENVELOPE_COLOR = "black"


def banded_panel(ax, curves: list[dict], *, title: str, view: str, x_range: tuple[float, float], xlabel: str) -> None:
    """A Figure 1 panel (``view`` "area") or its l2 companion (``view`` "l2_radius") with pointwise bands.

    Each curve dict: ``label``, ``color``, ``linestyle``, and either ``table`` (per-point records:
    the curve and its Wilson 95% band over the test points come from
    :func:`nusmooth.evidence.curve_with_band` on a grid over ``x_range``, which the caller takes from
    validation records, never from test) or ``band`` (a curve already computed at its own thresholds:
    the envelope's, :func:`nusmooth.envelope.envelope_curve`).
    """
    thresholds = np.linspace(x_range[0], x_range[1], 400)
    for curve in curves:
        band = curve["band"] if "band" in curve else curve_with_band(curve["table"], thresholds, view)
        x = band["threshold"].to_numpy() if "band" in curve else thresholds
        ax.step(
            x,
            band["certified_accuracy"],
            where="post",
            color=curve["color"],
            linestyle=curve["linestyle"],
            label=curve["label"],
            linewidth=1.4,
        )
        ax.fill_between(
            x,
            band["lower"],
            band["upper"],
            step="post",
            color=curve["color"],
            alpha=curve.get("alpha", 0.15),
            linewidth=0,
        )
    ax.set_xlim(*x_range)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("certified accuracy\n(95% band over test points)")
    ax.grid(alpha=0.3)
    legend_below(ax)  # seven curves' legend inside would cover them


def fig1_banded(panels: list[dict], view: str = "area", precision: str = ""):
    """Figure 1 (``view`` "area") or its l2 companion (``"l2_radius"``), one panel per dataset, with
    bands. ``panels`` items: ``title``, ``sigma_space``, ``curves``, ``x_range`` (from validation)."""
    rows = -(-max(len(panel["curves"]) for panel in panels) // 2)  # legend rows below each panel
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.8 + 0.18 * rows), squeeze=False)
        for ax, panel in zip(axes[0], panels):
            space = panel["sigma_space"]
            xlabel = (
                f"certified area $O_{{CA}}$ (log-volume; $\\sigma$ in {space})"
                if view == "area"
                else f"certified $\\ell_2$ radius $\\Phi^{{-1}}(\\underline{{p_A}})\\,\\min\\sigma$ ({space})"
            )
            banded_panel(ax, panel["curves"], title=panel["title"], view=view, x_range=panel["x_range"], xlabel=xlabel)
        figure.tight_layout(rect=(0, 0.03, 1, 1))
        precision_note(figure, precision)
    return figure


def fig1_panel_from_results(dataset: str, results: list[dict], envelope: dict | None = None) -> dict:
    """Build a Figure 1 panel from per-init results: dicts with ``choice`` (select_fig1_sigma's JSON),
    ``learned`` and ``isotropic`` (certificate tables) and, when certified, ``geometric``; ``envelope``:
    ``{"band": its curve (envelope_curve), "constants": how many the grid holds}``, drawn once."""
    colors = plt.get_cmap("tab10").colors
    curves = []
    for i, result in enumerate(sorted(results, key=lambda r: r["choice"]["init"])):
        choice, color = result["choice"], colors[i % len(colors)]
        curves.append(
            {
                "table": result["learned"],
                "color": color,
                "linestyle": FIG1_LINESTYLES["learned"],
                "alpha": 0.2,
                "label": f"learned $\\sigma$, init {choice['init']:g}",
            }
        )
        curves.append(
            {
                "table": result["isotropic"],
                "color": color,
                "linestyle": FIG1_LINESTYLES[PAPER_COMPARATOR],
                "label": f"AM $\\sigma$={choice['isotropic_sigma']:.3f} (init {choice['init']:g})",
            }
        )
        if "geometric" in result:
            curves.append(
                {
                    "table": result["geometric"],
                    "color": color,
                    "linestyle": FIG1_LINESTYLES[GEOMETRIC_COMPARATOR],
                    "label": f"GM $\\sigma$={choice['geometric_sigma']:.3f} (init {choice['init']:g})",
                }
            )
    if envelope is not None:
        curves.append(
            {
                "band": envelope["band"],
                "color": ENVELOPE_COLOR,
                "linestyle": FIG1_LINESTYLES[STRONGEST_COMPARATOR],
                "alpha": 0.1,
                "label": f"isotropic envelope ({envelope['constants']} constants)",
            }
        )
    space = results[0]["choice"]["sigma_space"] if results else PIXEL_SPACE
    return {"title": title_of(dataset), "sigma_space": space, "curves": curves}


# --- Figures 2 and 4: clean accuracy vs certified area, fronts chosen on validation ----------------


def _member_name(row) -> str:
    """A front member in a note: its constant, and its sub-epoch when it is a learned snapshot."""
    if row.kind == "isotropic":
        return f"$\\sigma$={row.init:g}"
    return f"init $\\sigma$={row.init:g} sub-epoch {row.sub_epoch}"


def _front_notes(points: pd.DataFrame, cloud: pd.DataFrame, front: pd.DataFrame, split: str) -> list[str]:
    """What the panel leaves out, so that nothing is dropped silently: ``points`` are the cloud's split's
    rows, ``cloud`` those drawn."""
    notes = []
    missing = len(points) - len(cloud)
    if missing:
        notes.append(f"{missing} point(s) with no certified-correct {SPLIT_NAMES[split]} point not drawn")
    dropped = int((~points["complete"].astype(bool)).sum()) if "complete" in points.columns else 0
    if dropped:
        notes.append(f"{dropped} candidate(s) dropped by racing: hollow, at their first validation points")
    for kind, style in METHODS.items():
        mine = front[front["kind"] == kind]
        hidden = mine[~mine["drawn"]]
        if len(hidden):
            members = ", ".join(_member_name(row) for row in hidden.itertuples())
            notes.append(f"{style['label']} front: {members} (chosen on validation): no test area, not drawn")
        if len(mine) and "val_front_size" in mine.columns and int(mine["val_front_size"].iloc[0]) > len(mine):
            notes.append(
                f"{style['label']} front: {len(mine)} of its {int(mine['val_front_size'].iloc[0])} validation members "
                "certified on test, evenly along the validation area"
            )
    return notes


def front_error_bars(ax, line: pd.DataFrame, color) -> None:
    """95% intervals over the test points of each front member: mean area (x) and accuracy (y)."""
    if not {"test_accuracy_lower", "test_mean_area_lower"} <= set(line.columns):
        return
    x, y = line["test_mean_area"].to_numpy(float), line["test_accuracy"].to_numpy(float)
    xerr = np.nan_to_num(
        np.vstack([x - line["test_mean_area_lower"].to_numpy(float), line["test_mean_area_upper"].to_numpy(float) - x])
    )
    yerr = np.nan_to_num(
        np.vstack([y - line["test_accuracy_lower"].to_numpy(float), line["test_accuracy_upper"].to_numpy(float) - y])
    )
    ax.errorbar(
        x,
        y,
        xerr=np.maximum(xerr, 0),
        yerr=np.maximum(yerr, 0),
        fmt="none",
        ecolor=color,
        elinewidth=0.8,
        capsize=1.5,
        alpha=0.7,
    )


def _cloud(ax, cloud: pd.DataFrame, style: dict, split: str) -> None:
    """The faint markers of one method: every candidate's metrics on ``split``; on validation, racing's
    dropped candidates (``complete`` false: numbers of their first points only) hollow."""
    complete = cloud["complete"].astype(bool) if "complete" in cloud.columns else pd.Series(True, index=cloud.index)
    for rows, hollow in ((cloud[complete], False), (cloud[~complete], True)):
        if rows.empty:
            continue
        ax.scatter(
            rows["mean_area"],
            rows["accuracy"],
            s=14,
            facecolors="none" if hollow else style["color"],
            edgecolors=style["color"],
            marker=style["marker"],
            alpha=0.25,
            linewidths=0.8 if hollow else 0,
            label=f"{style['label']}: " + ("dropped by racing" if hollow else f"all points ({SPLIT_NAMES[split]})"),
        )


def front_panel(
    ax,
    points: pd.DataFrame,
    front: pd.DataFrame,
    title: str,
    *,
    majority: float | None = None,
    cloud_split: str = "val",
) -> None:
    """Figure 2/4 panel from one dataset's sweep points (:func:`nusmooth.tables.sweep_points`) and its
    front table (:func:`nusmooth.tables.front_table`, as tabulate_fig2 writes it: the panel draws that
    table, it does not choose the front again).

    Faint markers: every candidate's metrics on ``cloud_split``: validation by default (every candidate
    is certified there; racing's dropped ones hollow), test with ``sweep_eval.test_cloud``. Lines: each
    method's front, whose members are chosen by the blanket on the validation split, drawn at their test
    metrics and joined in the table's order (that of the validation front), so a line may turn back where
    test and validation disagree. Front members without a test area, and fronts capped for the test
    split, are named in a note. ``majority``: accuracy of always predicting the most frequent class,
    drawn as a line.
    """
    shown = points[points["split"] == cloud_split]
    cloud = shown[np.isfinite(shown["mean_area"].astype(float))]
    for kind, style in METHODS.items():
        _cloud(ax, cloud[cloud["kind"] == kind], style, cloud_split)
        line = front[(front["kind"] == kind) & front["drawn"]]
        if line.empty:
            continue
        front_error_bars(ax, line, style["color"])
        ax.plot(
            line["test_mean_area"],
            line["test_accuracy"],
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markersize=4,
            linewidth=1.6,
            label=f"{style['label']}: front (chosen on validation)",
        )
        if kind == "isotropic":
            for row in line.itertuples():
                ax.annotate(
                    f"$\\sigma$={row.init:g}",
                    (row.test_mean_area, row.test_accuracy),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=6,
                    color=style["color"],
                )
    if majority is not None:
        ax.axhline(majority, color="0.3", linestyle=":", linewidth=1.2, label=f"majority class ({100 * majority:.1f}%)")
    notes = _front_notes(shown, cloud, front, cloud_split)
    if notes:
        # Top right: a front falls from the top left to the bottom right (the legend sits under the panel).
        ax.text(0.99, 0.99, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=6, color="0.3")
    if cloud.empty:
        ax.text(0.5, 0.5, "no point certified", transform=ax.transAxes, ha="center")
    space = points["sigma_space"].iloc[0] if len(points) else PIXEL_SPACE
    # The axis shows every point and every front member's whole interval (a clipped bar would hide width).
    lows = [cloud["accuracy"].min() if len(cloud) else 0.0] + ([majority] if majority is not None else [])
    if "test_accuracy_lower" in front.columns and front["test_accuracy_lower"].notna().any():
        lows.append(float(front["test_accuracy_lower"].min()))
    low = min(lows)
    ax.set_ylim(max(0.0, low - 0.05), 1.0 + 0.01)
    ax.set_title(title)
    where = "test" if cloud_split == SHOWN_SPLIT else "lines: test; faint: validation"
    # Which split each mark shows on a line of its own: on one line both labels ran past a panel's
    # width (into the next panel, out of the figure) in the two-dataset Figure 2.
    ax.set_xlabel(area_label(space, "mean certified area") + f"\n({where})")
    ax.set_ylabel(f"clean accuracy (certified correct)\n({where})")
    ax.grid(alpha=0.3)
    legend_below(ax, columns=1)


def _one_precision(panels: list[dict]) -> str:
    """The precision of the panels' sweep points (the tables refuse to merge different ones)."""
    found = {
        str(p)
        for panel in panels
        if "precision" in panel["points"].columns
        for p in panel["points"]["precision"].unique()
    }
    return ", ".join(sorted(found))


def front_figure(panels: list[dict], columns: int = 3):
    """Figure 2 (or 4): one panel per dataset; ``panels`` items: ``title``, ``points`` (the dataset's
    sweep points, as :func:`nusmooth.tables.sweep_points` returns them), ``front`` (its
    :func:`nusmooth.tables.front_table`), optional ``majority`` and ``cloud`` (the split of the faint
    markers: ``"val"``, or ``"test"`` with ``sweep_eval.test_cloud``)."""
    if not panels:
        raise ValueError("no dataset to draw")
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 4.9 * rows), squeeze=False)
        for ax, panel in zip(axes.flat, panels):
            front_panel(
                ax,
                panel["points"],
                panel["front"],
                panel["title"],
                majority=panel.get("majority"),
                cloud_split=panel.get("cloud", "val"),
            )
        for ax in list(axes.flat)[len(panels) :]:
            ax.set_visible(False)
        figure.tight_layout(rect=(0, 0.03, 1, 1))
        precision_note(figure, _one_precision(panels))
    return figure


# --- Figure 3 and the robust / non-robust regions: sigma images -----------------------------------


def enlarge(image: np.ndarray, min_size: int = 112) -> np.ndarray:
    """Nearest-neighbour enlargement of ``(H, W[, C])`` by a whole factor so the short side is at least
    ``min_size`` pixels (every sigma element stays a sharp square, in the PDF as in the PNG)."""
    factor = max(1, -(-min_size // min(image.shape[:2])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


#: Channel names of a 3-channel sigma, in the order Figure 3 shows them left to right.
RGB = ("R", "G", "B")


def channel_strip(sigma) -> np.ndarray:
    """``(C, H, W)`` sigma as one ``(H, C * W + gaps)`` image in sigma units: the channels side by side,
    left to right, split by NaN columns (drawn blank), so that one grey scale and one colour bar read
    every channel (an RGB composite beside a grey bar would not mean what the bar says)."""
    sigma = np.asarray(sigma, dtype=float)
    if sigma.ndim != 3:
        raise ValueError(f"sigma must have shape (C, H, W), got {sigma.shape}")
    gap = np.full((sigma.shape[1], max(1, sigma.shape[2] // 8)), np.nan)
    parts = [part for channel in sigma for part in (gap, channel)][1:]
    return np.concatenate(parts, axis=1)


def wrapped(title: str, width_inches: float, fontsize: float) -> str:
    """``title`` broken into lines that fit ``width_inches`` at ``fontsize`` points (about 0.6 em per
    character), so that a long title of your own is never clipped at the figure's edge."""
    characters = max(10, int(width_inches * 72 / (0.6 * fontsize)))
    return "\n".join(_filled(line, characters) for line in title.split("\n"))


#: Stands for one $...$ math segment while a title is wrapped: ``$\\sigma$`` shows one character.
_MATH = "\ue000"


def _filled(line: str, characters: int) -> str:
    """One line of a title wrapped at ``characters`` shown characters: a math segment counts as one,
    and words are not broken at their hyphens ("sub-" / "epoch 3")."""
    maths = re.findall(r"\$[^$]*\$", line)
    filled = textwrap.fill(re.sub(r"\$[^$]*\$", _MATH, line), characters, break_on_hyphens=False)
    for math in maths:
        filled = filled.replace(_MATH, math, 1)
    return filled


def sigma_image(ax, figure, sigma, title: str) -> None:
    """One Figure 3 cell: the sigma image (its channels side by side: :func:`channel_strip`) on one
    grey scale from the vector's smallest to its largest value, and its colour bar in sigma units."""
    sigma = np.asarray(sigma, dtype=float)
    image = ax.imshow(
        enlarge(channel_strip(sigma)),
        cmap=plt.get_cmap("gray").with_extremes(bad="white"),
        vmin=sigma.min(),
        vmax=sigma.max(),
        interpolation="none",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    channels = "" if sigma.shape[0] == 1 else "\nchannels " + " | ".join(RGB[: sigma.shape[0]])
    ax.set_title(title + channels)
    # The bar as tall as the image (a 3-channel strip is wide and low).
    bar = figure.colorbar(image, cax=make_axes_locatable(ax).append_axes("right", size=0.12, pad=0.08))
    bar.set_label(f"$\\sigma$ ({PIXEL_SPACE})")
    bar.ax.tick_params(labelsize=7)


def fig3(rows: list[dict]):
    """Figure 3: one row per dataset (``title``, ``cells``: dicts with ``sigma`` (C, H, W) and ``label``)."""
    if not rows:
        raise ValueError("no sigma to draw")
    columns = max(len(row["cells"]) for row in rows)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(len(rows), columns, figsize=(2.9 * columns, 2.7 * len(rows)), squeeze=False)
        for ax_row, row in zip(axes, rows):
            for ax, cell in zip(ax_row, row["cells"]):
                title = wrapped(f"{row['title']}\n{cell['label']}", 2.4, STYLE["axes.titlesize"])
                sigma_image(ax, figure, cell["sigma"], title)
            for ax in ax_row[len(row["cells"]) :]:
                ax.set_visible(False)
        figure.tight_layout()
    return figure


#: Overlay colours of the two region kinds (distinguishable without red-green vision).
REGION_COLORS = {ROBUST: (1.0, 0.55, 0.0), NON_ROBUST: (0.0, 0.45, 1.0)}


def region_overlay(ax, background: np.ndarray, sigma, fraction: float, title: str) -> None:
    """The dataset's mean validation image in grey with the largest-sigma and smallest-sigma pixels on top."""
    background = np.asarray(background, dtype=float)
    grey = background.mean(axis=0)
    grey = (grey - grey.min()) / (grey.max() - grey.min()) if grey.max() > grey.min() else np.zeros_like(grey)
    ax.imshow(enlarge(grey), cmap="gray", vmin=0.0, vmax=1.0, interpolation="none")
    overlay = np.zeros((*grey.shape, 4))
    for group, mask in extreme_masks(sigma, fraction).items():
        overlay[mask] = (*REGION_COLORS[group], 0.75)
    ax.imshow(enlarge(overlay), interpolation="none")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)


def regions_figure(title: str, background: np.ndarray, cells: list[dict], fraction: float):
    """Robust / non-robust regions of one dataset: one panel per Figure-1 vector (``cells``: dicts with
    ``sigma`` and ``label``) over the mean validation image ``background`` (C, H, W) in [0, 1]."""
    if not cells:
        raise ValueError("no sigma to draw")
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(cells), figsize=(max(3.6, 2.8 * len(cells)), 3.6), squeeze=False)
        for ax, cell in zip(axes[0], cells):
            region_overlay(ax, background, cell["sigma"], fraction, cell["label"])
        handles = [
            mpatches.Patch(color=color, label=f"{group}: {100 * fraction:g}% of pixels")
            for group, color in REGION_COLORS.items()
        ]
        figure.legend(handles=handles, loc="lower center", ncol=1, frameon=False)
        figure.suptitle(f"{title}\nover the mean validation image", fontsize=9)
        figure.tight_layout(rect=(0, 0.1, 1, 1))
    return figure
