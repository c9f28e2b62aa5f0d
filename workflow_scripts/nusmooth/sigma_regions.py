"""Robust and non-robust input regions read off a learned sigma vector (paper, section 5.3).

A large sigma_i means the smoothed classifier tolerates heavy noise on input i: the model does not
rely on it ("robust" region: perturbing it changes little). A small sigma_i marks an input the model
is sensitive to ("non-robust" region). Pixels are ranked by their sigma averaged over channels, so a
colour image yields one ranking per pixel position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROBUST, NON_ROBUST = "robust (largest sigma)", "non-robust (smallest sigma)"


def pixel_sigma(sigma) -> np.ndarray:
    """``(H, W)`` sigma per pixel position: the mean over channels of a ``(C, H, W)`` vector."""
    sigma = np.asarray(sigma, dtype=float)
    if sigma.ndim != 3:
        raise ValueError(f"sigma must have shape (C, H, W), got {sigma.shape}")
    return sigma.mean(axis=0)


def extreme_masks(sigma, fraction: float) -> dict[str, np.ndarray]:
    """Boolean ``(H, W)`` masks of the ``fraction`` of pixels with the largest and the smallest sigma.

    ``round(fraction * H * W)`` pixels each (at least 1, at most half the image, so that the two
    masks never overlap when H * W >= 2); ties are broken by position (row-major), deterministically.
    """
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must lie in (0, 0.5], got {fraction}")
    per_pixel = pixel_sigma(sigma)
    flat = per_pixel.ravel()
    count = max(1, min(flat.size // 2, int(round(fraction * flat.size))))
    order = np.argsort(flat, kind="stable")
    masks = {}
    for name, chosen in ((NON_ROBUST, order[:count]), (ROBUST, order[::-1][:count])):
        mask = np.zeros(flat.size, dtype=bool)
        mask[chosen] = True
        masks[name] = mask.reshape(per_pixel.shape)
    return masks


def region_pixels(sigma, fraction: float) -> pd.DataFrame:
    """One row per selected pixel: ``group``, ``rank`` (1 = most extreme), ``row``, ``col``, ``sigma``
    (mean over channels)."""
    per_pixel = pixel_sigma(sigma)
    rows = []
    for group, mask in extreme_masks(sigma, fraction).items():
        r, c = np.nonzero(mask)
        values = per_pixel[r, c]
        order = np.argsort(-values if group == ROBUST else values, kind="stable")
        rows.append(
            pd.DataFrame(
                {
                    "group": group,
                    "rank": np.arange(1, len(order) + 1),
                    "row": r[order],
                    "col": c[order],
                    "sigma": values[order],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def border_frame(shape: tuple[int, int], border: int | None = None) -> tuple[np.ndarray, int]:
    """Boolean ``(H, W)`` mask of the image border: the outer ``border`` pixels (default 1/8 of the
    smaller side, at least 1), and that width."""
    height, width = shape
    border = border if border is not None else max(1, min(height, width) // 8)
    frame = np.ones(shape, dtype=bool)
    frame[border : height - border, border : width - border] = False
    return frame, border


def border_and_centre(sigma, border: int | None = None) -> dict[str, float]:
    """Mean sigma (over channels and pixels) on the image border and inside it, their ratio, and the
    border width: MNIST's digits are centred on a black border, where the paper finds sigma large."""
    per_pixel = pixel_sigma(sigma)
    frame, border = border_frame(per_pixel.shape, border)
    on_border, centre = float(per_pixel[frame].mean()), float(per_pixel[~frame].mean())
    return {
        "border_sigma": on_border,
        "centre_sigma": centre,
        "border_centre_ratio": on_border / centre,
        "border": border,
    }


def region_summary(sigma, fraction: float, border: int | None = None) -> pd.DataFrame:
    """Where the extreme regions lie, one row per group: pixel count, sigma range, centroid, and the
    share of the region's pixels on the image border (the outer ``border`` pixels, default 1/8 of the
    smaller side), next to the border's share of the whole image for comparison."""
    per_pixel = pixel_sigma(sigma)
    frame, border = border_frame(per_pixel.shape, border)
    rows = []
    for group, mask in extreme_masks(sigma, fraction).items():
        r, c = np.nonzero(mask)
        values = per_pixel[mask]
        rows.append(
            {
                "group": group,
                "pixels": int(mask.sum()),
                "fraction": fraction,
                "sigma_min": float(values.min()),
                "sigma_mean": float(values.mean()),
                "sigma_max": float(values.max()),
                "centroid_row": float(r.mean()),
                "centroid_col": float(c.mean()),
                "border_share": float(frame[mask].mean()),
                "border_share_of_image": float(frame.mean()),
                "border_width": border,
            }
        )
    return pd.DataFrame(rows)


#: Section 5.3 of the paper on Fashion-MNIST's sigma: "the left side and bottom right corner have very
#: low variances, whereas the center and top right have high variances". The regions, in quarters of the
#: image's height H and width W (rows from the top, columns from the left; 7 pixels for 28):
#: left side: every row, the left quarter of the columns; bottom right corner: the bottom quarter of the
#: rows and the right quarter of the columns; centre: the middle half of the rows and of the columns;
#: top right corner: the top quarter of the rows, the right quarter of the columns. They do not overlap.
LOW_REGIONS = ("left side", "bottom right corner")
HIGH_REGIONS = ("centre", "top right corner")


def paper_regions(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Boolean ``(H, W)`` masks of the four regions of :data:`LOW_REGIONS` and :data:`HIGH_REGIONS`."""
    height, width = shape
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    top, bottom = rows < height // 4, rows >= height - height // 4
    left, right = cols < width // 4, cols >= width - width // 4
    middle = (rows >= height // 4) & (rows < height - height // 4) & (cols >= width // 4) & (cols < width - width // 4)
    masks = {
        "left side": np.broadcast_to(left, shape),
        "bottom right corner": bottom & right,
        "centre": middle,
        "top right corner": top & right,
    }
    return {name: np.asarray(mask, dtype=bool) for name, mask in masks.items()}
