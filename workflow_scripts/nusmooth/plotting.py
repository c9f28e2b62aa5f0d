"""Figure drawing (matplotlib, Agg backend). Functions take tables, not files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .evaluation import certified_accuracy_curve  # noqa: E402

#: Print-readable defaults for every figure.
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7, "pdf.fonttype": 42}


def certified_accuracy_panel(ax, curves: list[dict], title: str, sigma_space: str) -> None:
    """Figure 1 panel. Each curve dict: ``table`` (per-point certificates), ``label``, ``color``,
    ``isotropic`` (dashed when true). y = fraction of points correct with certified area >= x."""
    finite = np.concatenate([c["table"]["certified_area"].to_numpy()[np.isfinite(c["table"]["certified_area"])] for c in curves])
    if finite.size == 0:
        ax.text(0.5, 0.5, "no point certified", transform=ax.transAxes, ha="center")
        lo, hi = -1.0, 1.0
    else:
        span = max(finite.max() - finite.min(), 1.0)
        lo, hi = finite.min() - 0.05 * span, finite.max() + 0.05 * span
    thresholds = np.linspace(lo, hi, 400)
    for curve in curves:
        accuracy = certified_accuracy_curve(curve["table"], thresholds)
        ax.step(thresholds, accuracy, where="post", color=curve["color"], linestyle="--" if curve["isotropic"] else "-",
                label=curve["label"], linewidth=1.4)
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


def fig1_panel_from_results(dataset: str, results: list[dict]) -> dict:
    """Build a Figure 1 panel from per-init results: dicts with ``choice`` (select_fig1_sigma's JSON),
    ``learned`` and ``isotropic`` (certificate tables)."""
    colors = plt.get_cmap("tab10").colors
    curves = []
    for i, result in enumerate(sorted(results, key=lambda r: r["choice"]["init"])):
        choice, color = result["choice"], colors[i % len(colors)]
        curves.append({"table": result["learned"], "color": color, "isotropic": False,
                       "label": f"non-isotropic, init $\\sigma$={choice['init']:g} (mean {choice['isotropic_sigma']:.3f})"})
        curves.append({"table": result["isotropic"], "color": color, "isotropic": True,
                       "label": f"isotropic $\\sigma$={choice['isotropic_sigma']:.3f}"})
    space = results[0]["choice"]["sigma_space"] if results else "[0,1] pixels"
    return {"title": dataset, "sigma_space": space, "curves": curves}


def read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")
