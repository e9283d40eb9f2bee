"""The two anchors every saliency model in the book is compared with.

* **Centre bias**: an axis-aligned Gaussian at the image centre whose widths (as fractions of
  the image height and width) are the maximum-likelihood fit to the training fixations:
  the standard deviation of the normalised fixation coordinates ``y/H`` and ``x/W``.
* **Inter-observer limit** (leave one observer out): each observer's fixations are predicted by
  the density of all the other observers' fixations; scores are averaged over observers, then
  over images. Its distribution metrics (CC, SIM, KLD) compare with the held-out observer's own
  density, so they are only comparable with models scored under the same protocol, which
  :func:`saliency_utils.evaluate.scoring.score_leave_one_out` provides for any model.

Shuffled AUC needs "other" fixations: the union of the fixations of ``n_other`` other images of
the same dataset, rescaled to the current image (:func:`other_fixation_map`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from saliency_utils.evaluate import maps

__all__ = ["fit_centre_bias", "centre_bias_map", "other_fixation_map", "gap_closed", "gap_share",
           "FAST_METRICS"]

# Deterministic and cheap: what the smoke profile computes.
FAST_METRICS = ("AUC-Judd", "NSS", "CC", "SIM", "KLD")


def fit_centre_bias(fixation_sets: Sequence) -> tuple[float, float]:
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


def centre_bias_map(shape, sigma_frac: tuple[float, float]) -> np.ndarray:
    """The centre-bias density map for an image of ``shape``."""
    return maps.gaussian_centre_bias(shape, sigma_frac)


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


def gap_closed(model, centre, limit, level: float = 0.95, seed: int = 0):
    """Share of the gap between the centre bias and the inter-observer limit that a model
    closes, ``(mean(model) - mean(centre)) / (mean(limit) - mean(centre))``, from per-image
    scores of the three on the same images (higher-is-better metrics, e.g. NSS under
    :func:`saliency_utils.evaluate.scoring.score_leave_one_out`), with a BCa bootstrap CI over images
    (:class:`saliency_utils.evaluate.stats.Estimate`; 1 = as good as another observer, 0 = no better
    than the centre bias). Raises ``ValueError`` when the limit does not beat the centre bias
    on these images (no gap to close) or the inputs do not pair up."""
    from saliency_utils.evaluate import stats

    v = np.column_stack([np.asarray(a, dtype=np.float64) for a in (model, centre, limit)])
    if v.shape[0] < 2 or not np.isfinite(v).all():
        raise ValueError(f"need finite paired scores of at least 2 images, got shape {v.shape}")
    if v[:, 2].mean() <= v[:, 1].mean():
        raise ValueError(f"the inter-observer limit ({v[:, 2].mean():.3f}) does not beat the "
                         f"centre bias ({v[:, 1].mean():.3f}): no gap to close")

    return stats.bootstrap_ci(v, lambda r: gap_share(r[:, 0], r[:, 1], r[:, 2]), level=level,
                              seed=seed)


def gap_share(model, centre, limit) -> float:
    """The point value of :func:`gap_closed`: ``(mean(model) - mean(centre)) / (mean(limit) -
    mean(centre))``; NaN where the limit does not beat the centre bias (e.g. in a resample)."""
    m, c, i = (float(np.mean(a)) for a in (model, centre, limit))
    return (m - c) / (i - c) if i > c else np.nan
