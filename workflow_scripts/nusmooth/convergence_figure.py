"""The convergence figure of one block (``figures/convergence_<dataset>``): per Figure-1 constant (a
column), sigma learning's surrogate objective, the validation mean certified area and accuracy of each
snapshot (95% intervals over the validation points), and the share of sigma's entries at the step
cap, per sub-epoch, one line per replicate; each line's legend entry gives the sweep's verdict
(:mod:`nusmooth.convergence`). Takes the table :func:`nusmooth.convergence.sweep_convergence` rows
build (with ``replicate`` and ``init``), returns the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .convergence import MOST_AT_CAP, convergence_verdict
from .plotting import STYLE, plt

#: Rows of the figure: (column of the table, y-axis label, lower / upper interval columns or None).
PANELS = (
    ("objective", "surrogate objective\n(training batches)", None),
    ("val_mean_area", "validation mean\ncertified area", ("val_mean_area_lower", "val_mean_area_upper")),
    ("val_accuracy", "validation\ncertified accuracy", ("val_accuracy_lower", "val_accuracy_upper")),
    ("cap_percent", "entries at the\nstep cap (%)", None),
)


def convergence_figure(table: pd.DataFrame, title: str):
    """One column per initial constant, the rows of :data:`PANELS`; x = sub-epoch."""
    table = table.assign(cap_percent=100 * table["at_cap"] / table["entries"])
    inits = sorted(table["init"].unique())
    replicates = sorted(table["replicate"].unique())
    colors = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            len(PANELS), len(inits), figsize=(max(5.0, 3.6 * len(inits) + 0.6), 8.0), sharex=True, squeeze=False
        )
        for column, init in enumerate(inits):
            for replicate in replicates:
                sweep = table[(table["init"] == init) & (table["replicate"] == replicate)].sort_values("sub_epoch")
                if sweep.empty:
                    continue
                verdict, _ = convergence_verdict(sweep)
                style = {"color": colors(replicate - 1), "marker": "o", "markersize": 3, "linewidth": 1.2}
                for row, (name, _, interval) in enumerate(PANELS):
                    ax = axes[row][column]
                    # replicates side by side within a sub-epoch, so equal values stay visible
                    x = sweep["sub_epoch"].to_numpy() + 0.05 * (replicate - (len(replicates) + 1) / 2)
                    y = sweep[name].to_numpy(dtype=float)
                    label = f"replicate {replicate}: {verdict}" if row == 0 else None
                    if interval is None:
                        ax.plot(x, y, label=label, **style)
                    else:
                        error = np.abs(np.vstack([y - sweep[interval[0]], sweep[interval[1]] - y]))
                        ax.errorbar(x, y, yerr=np.nan_to_num(error), capsize=2, label=label, **style)
            axes[0][column].set_title(f"init $\\sigma$ = {init:g}")
            axes[0][column].legend(loc="best")
            axes[-1][column].axhline(100 * MOST_AT_CAP, color="0.4", linestyle=":", linewidth=1, label="1% (the rule)")
            axes[-1][column].legend(loc="best")
            axes[-1][column].set_xlabel("sub-epoch")
            axes[-1][column].xaxis.get_major_locator().set_params(integer=True)
        for row, (_, label, _) in enumerate(PANELS):
            axes[row][0].set_ylabel(label)
        figure.suptitle(f"Sigma learning per sub-epoch: {title}")
        figure.tight_layout()
    return figure
