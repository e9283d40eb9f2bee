"""The two anchors every saliency model in the book is compared with.

* **Centre bias**: an axis-aligned Gaussian at the image centre whose widths (as fractions of
  the image height and width) are the maximum-likelihood fit to the training fixations:
  the standard deviation of the normalised fixation coordinates ``y/H`` and ``x/W``.
* **Inter-observer limit** (leave one observer out): each observer's fixations are predicted by
  the density of all the other observers' fixations; scores are averaged over observers, then
  over images. Its distribution metrics (CC, SIM, KLD) compare with the held-out observer's own
  density, so they are only comparable with models scored under the same protocol, which
  :func:`saliency_utils.evaluation.score_leave_one_out` provides for any model.

Shuffled AUC needs "other" fixations: the union of the fixations of ``n_other`` other images of
the same dataset, rescaled to the current image (:func:`other_fixation_map`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import maps

__all__ = ["fit_center_bias", "center_bias", "other_fixation_map", "FAST_METRICS"]

# Deterministic and cheap: what the smoke profile computes.
FAST_METRICS = ("AUC-Judd", "NSS", "CC", "SIM", "KLD")


def fit_center_bias(fixation_sets: Sequence) -> tuple[float, float]:
    """Maximum-likelihood Gaussian widths ``(sigma_y/H, sigma_x/W)`` of the pooled fixations,
    the mean fixed at the image centre."""
    ys, xs = [], []
    for f in fixation_sets:
        h, w = f.shape
        ys.append((np.asarray(f.y) + 0.5) / h - 0.5)
        xs.append((np.asarray(f.x) + 0.5) / w - 0.5)
    y, x = np.concatenate(ys), np.concatenate(xs)
    if y.size < 2:
        raise ValueError("need at least two fixations to fit a centre bias")
    return float(np.sqrt(np.mean(y ** 2))), float(np.sqrt(np.mean(x ** 2)))


def center_bias(shape, sigma_frac: tuple[float, float]) -> np.ndarray:
    """The centre-bias density map for an image of ``shape``."""
    return maps.gaussian_center_bias(shape, sigma_frac)


def other_fixation_map(fixation_sets: Sequence, index: int, shape, n_other: int = 10,
                       seed: int = 0) -> np.ndarray:
    """Binary map of the fixations of ``n_other`` images other than ``index`` (chosen with a
    seeded generator), their coordinates rescaled to ``shape``; for shuffled AUC."""
    n = len(fixation_sets)
    if n < 2:
        raise ValueError("shuffled AUC needs fixations from at least one other image")
    rng = np.random.default_rng([seed, index])
    others = rng.choice([i for i in range(n) if i != index], size=min(n_other, n - 1),
                        replace=False)
    h, w = shape
    out = np.zeros((h, w), dtype=bool)
    for j in others:
        f = fixation_sets[j]
        fh, fw = f.shape
        r = np.clip(np.rint((np.asarray(f.y) + 0.5) * h / fh - 0.5), 0, h - 1).astype(int)
        c = np.clip(np.rint((np.asarray(f.x) + 0.5) * w / fw - 0.5), 0, w - 1).astype(int)
        out[r, c] = True
    return out
