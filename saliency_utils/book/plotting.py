"""Figures used across chapters: image grids, fixations, heat-map overlays, boxes.

Every function draws into matplotlib axes and returns the figure; nothing is saved or shown
here (the notebooks decide).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

__all__ = ["grid", "show_image", "overlay", "draw_fixations", "draw_boxes", "normalise01",
           "caption"]


def normalise01(a) -> np.ndarray:
    """Min-max scale to [0, 1] for display (a constant map becomes all zeros)."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = np.nanmin(a), np.nanmax(a)
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def grid(n: int, ncols: int = 4, size: float = 2.6, **kw):
    """A figure with ``n`` axes in rows of ``ncols`` (extra axes hidden); returns (fig, axes)."""
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.85),
                             squeeze=False, **kw)
    axes = axes.ravel()
    for ax in axes:
        ax.set_axis_off()
    return fig, axes[:n]


def show_image(ax, image, title: str | None = None, cmap=None):
    ax.imshow(image, cmap=cmap)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def overlay(ax, image, heat, alpha: float = 0.55, cmap: str = "jet", title: str | None = None):
    """Image in grey with a min-max scaled heat map on top (heat resized to the image if needed)."""
    from saliency_utils.evaluate.maps import resize_map

    img = np.asarray(image)
    grey = img.mean(axis=2) if img.ndim == 3 else img
    h = np.asarray(heat, dtype=np.float64)
    if h.shape != grey.shape:
        h = resize_map(h, grey.shape)
    ax.imshow(grey, cmap="gray")
    ax.imshow(normalise01(h), cmap=cmap, alpha=alpha)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def draw_fixations(ax, x, y, color: str = "yellow", size: float = 6, **kw):
    ax.scatter(np.asarray(x), np.asarray(y), s=size, c=color, edgecolors="black",
               linewidths=0.3, **kw)
    return ax


def draw_boxes(ax, boxes: Sequence[Sequence[float]], color: str = "lime", lw: float = 1.5,
               label: str | None = None):
    """Draw ``x0, y0, x1, y1`` boxes (pixel coordinates)."""
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=color, lw=lw,
                               label=label if i == 0 else None))
    return ax


def caption(fig, text: str, y: float = -0.02):
    """A small caption under the figure (e.g. which network and data produced it); it starts
    with "[random weights: code path only]" while the chapter runs with random weights
    (:func:`saliency_utils.book.report.mark`)."""
    from saliency_utils.book.report import mark

    fig.text(0.5, y, mark(text), ha="center", va="top", fontsize=8, style="italic", wrap=True)
    return fig
