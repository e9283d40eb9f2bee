"""The two anchors every saliency model in the book is compared with, and the scoring loop.

* **Centre bias**: an axis-aligned Gaussian at the image centre whose widths (as fractions of
  the image height and width) are the maximum-likelihood fit to the training fixations:
  the standard deviation of the normalised fixation coordinates ``y/H`` and ``x/W``.
* **Inter-observer limit** (leave one observer out): each observer's fixations are predicted by
  the density of all the other observers' fixations; scores are averaged over observers, then
  over images. Its distribution metrics (CC, SIM, KLD) compare with the held-out observer's own
  density, so they are only comparable with models scored under the same protocol, which
  :func:`score_leave_one_out` also provides for any model.

Shuffled AUC needs "other" fixations: the union of the fixations of ``n_other`` other images of
the same dataset, rescaled to the current image (:func:`other_fixation_map`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import maps, metrics

__all__ = ["fit_center_bias", "center_bias", "other_fixation_map", "score_model",
           "score_leave_one_out", "score_image", "FAST_METRICS"]

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


_METRIC_CALLS = {
    "AUC-Judd": lambda s, fm, d, o, b, seed: metrics.auc_judd(s, fm, seed=seed),
    "AUC-Borji": lambda s, fm, d, o, b, seed: metrics.auc_borji(s, fm, seed=seed),
    "sAUC": lambda s, fm, d, o, b, seed: metrics.auc_shuffled(s, fm, o, seed=seed),
    "NSS": lambda s, fm, d, o, b, seed: metrics.nss(s, fm),
    "CC": lambda s, fm, d, o, b, seed: metrics.cc(s, d),
    "SIM": lambda s, fm, d, o, b, seed: metrics.sim(s, d),
    "KLD": lambda s, fm, d, o, b, seed: metrics.kld(s, d),
    "IG": lambda s, fm, d, o, b, seed: metrics.information_gain(s, fm, b),
}


def score_image(sal, fixmap, density, other=None, baseline=None, wanted=metrics.METRIC_NAMES,
                seed: int = 0) -> dict:
    """The ``wanted`` metrics of one map against one image's binary fixation map and human
    density, as far as the inputs allow (sAUC needs ``other``, the other images' fixations; IG
    a ``baseline`` map); a dict ``{metric: score}``."""
    unknown = [m for m in wanted if m not in _METRIC_CALLS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(_METRIC_CALLS)}")
    out = {}
    for name in wanted:
        if (name == "sAUC" and other is None) or (name == "IG" and baseline is None):
            continue
        out[name] = float(_METRIC_CALLS[name](sal, fixmap, density, other, baseline, seed))
    return out


def score_model(predict: Callable[[int], np.ndarray], fixation_sets: Sequence, sigma: float,
                sigma_frac: tuple[float, float] | None = None, wanted=metrics.METRIC_NAMES,
                seed: int = 0) -> list[dict]:
    """Score a model on every image against all observers' fixations.

    ``predict(i)`` returns the saliency map of image ``i`` at its fixation shape. The human
    density uses a Gaussian of ``sigma`` pixels. ``sigma_frac`` gives the centre bias used as
    information-gain baseline (IG is skipped without it). Returns one dict of scores per image.
    """
    rows = []
    for i, f in enumerate(fixation_sets):
        sal = np.asarray(predict(i), dtype=np.float64)
        if sal.shape != tuple(f.shape):
            raise ValueError(f"image {i}: map shape {sal.shape} != fixation shape {f.shape}")
        other = other_fixation_map(fixation_sets, i, f.shape, seed=seed) if "sAUC" in wanted else None
        base = center_bias(f.shape, sigma_frac) if (sigma_frac and "IG" in wanted) else None
        rows.append(score_image(sal, f.fixation_map(), f.density(sigma), other, base, wanted, seed))
    return rows


def score_leave_one_out(predict: Callable[[int, object], np.ndarray], fixation_sets: Sequence,
                        sigma: float, sigma_frac: tuple[float, float] | None = None,
                        wanted=metrics.METRIC_NAMES, seed: int = 0) -> list[dict]:
    """Leave-one-observer-out protocol: for each image and each observer, score
    ``predict(i, others)`` (``others`` = the other observers' :class:`Fixations`) against the
    held-out observer's fixation map and density. Scores are averaged over observers; one dict
    per image. Observers with no fixation in the image are skipped."""
    rows = []
    for i, f in enumerate(fixation_sets):
        other = other_fixation_map(fixation_sets, i, f.shape, seed=seed) if "sAUC" in wanted else None
        base = center_bias(f.shape, sigma_frac) if (sigma_frac and "IG" in wanted) else None
        per_obs = []
        for o in f.observers:
            held, rest = f.for_observer(o), f.excluding_observer(o)
            if len(held) == 0 or len(rest) == 0:
                continue
            w = [m for m in wanted if not (m == "AUC-Borji" and len(held) < 2)]
            sal = np.asarray(predict(i, rest), dtype=np.float64)
            per_obs.append(score_image(sal, held.fixation_map(), held.density(sigma), other, base, w,
                                  seed))
        if not per_obs:
            raise ValueError(f"image {i}: no observer could be held out")
        keys = per_obs[0].keys() | set().union(*per_obs)
        rows.append({k: float(np.mean([p[k] for p in per_obs if k in p])) for k in keys})
    return rows
