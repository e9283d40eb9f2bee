"""Target-detection measures for search arrays (Kotseruba, Wloka, Rasouli & Tsotsos, BMVC 2019).

Definitions follow the authors' ``metrics.py`` (ykotseruba/P3O3_metrics):

* :func:`gsi`, global saliency index (Soltani & Koch 2010): ``(R_t - R_d) / (R_t + R_d)`` with
  ``R_t``, ``R_d`` the mean saliency inside the target and the distractor masks; in [-1, 1],
  > 0 when the target is more salient than the distractors (-1 when both are 0, as the authors).
* :func:`msr_target`: ``max(S in target) / max(S in distractors)`` (> 1: the target's peak is
  above every distractor's).
* :func:`msr_background`: as the authors' ``MSR_bg``, ``max(S in background) / max(S in
  target)`` (background = neither target nor distractor; **lower** is better, < 1 means the
  target's peak is above the background's).
* :func:`fixations_to_target` (the authors' ``numfix2find``): repeatedly fixate the maximum of
  the map; stop when it lands in the target mask, else set a ``ior`` x ``ior`` square around it
  to zero (inhibition of return) and continue, at most ``max_fixations`` times (the authors' demo:
  square of the distractor size, 75 px, and 99 tries). Returns the number of fixations (the
  target's rank among the attended locations) and whether it was found.
* :func:`item_rank`: rank of the target among all items by their peak saliency (1 = the most
  salient item), a scale-free summary of the same idea.
* :func:`target_nss`: NSS with the target mask as the "fixations" (mean of the standardised map
  inside the target).

Maps are any non-negative float arrays of the masks' shape (they are not rescaled: every measure
here is invariant to a positive scale factor). Empty masks, shape mismatches and non-finite maps
raise ``ValueError``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["gsi", "msr_target", "msr_background", "fixations_to_target", "item_rank",
           "target_nss", "search_scores"]


def _check(sal, *masks):
    s = np.asarray(sal, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"saliency map must be 2-D, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("saliency map contains NaN or infinite values")
    out = []
    for name, m in masks:
        m = np.asarray(m)
        if m.shape != s.shape:
            raise ValueError(f"{name} has shape {m.shape}, saliency map {s.shape}")
        m = m.astype(bool)
        if not m.any():
            raise ValueError(f"{name} is empty")
        out.append(m)
    return (s, *out)


def gsi(sal, target_mask, distractor_mask) -> float:
    s, t, d = _check(sal, ("target_mask", target_mask), ("distractor_mask", distractor_mask))
    rt, rd = s[t].mean(), s[d].mean()
    return float((rt - rd) / (rt + rd)) if rt + rd > 0 else -1.0


def msr_target(sal, target_mask, distractor_mask) -> float:
    s, t, d = _check(sal, ("target_mask", target_mask), ("distractor_mask", distractor_mask))
    md = s[d].max()
    return float(s[t].max() / md) if md > 0 else float("inf")


def msr_background(sal, target_mask, distractor_mask) -> float:
    s, t, d = _check(sal, ("target_mask", target_mask), ("distractor_mask", distractor_mask))
    bg = ~(t | d)
    if not bg.any():
        raise ValueError("no background pixels")
    mt = s[t].max()
    return float(s[bg].max() / mt) if mt > 0 else float("inf")


def fixations_to_target(sal, target_mask, ior: int = 75, max_fixations: int = 99):
    """``(fixations, found)``; see the module docstring."""
    s, t = _check(sal, ("target_mask", target_mask))
    if ior < 1 or max_fixations < 1:
        raise ValueError("ior and max_fixations must be >= 1")
    m = s.copy()
    h, w = m.shape
    for k in range(1, int(max_fixations) + 1):
        y, x = np.unravel_index(np.argmax(m), m.shape)
        if t[y, x]:
            return k, True
        y0, y1 = max(0, int(y - ior / 2)), min(h, int(y + ior / 2))
        x0, x1 = max(0, int(x - ior / 2)), min(w, int(x + ior / 2))
        m[y0:y1, x0:x1] = -np.inf
        m[y, x] = -np.inf
    return int(max_fixations), False


def item_rank(sal, items, target_id: int) -> int:
    """Rank (1 = first) of item ``target_id`` of the label map ``items`` (0 = background) among
    all items by peak saliency; ties count against the target."""
    s = np.asarray(sal, dtype=np.float64)
    items = np.asarray(items)
    if items.shape != s.shape:
        raise ValueError(f"items has shape {items.shape}, saliency map {s.shape}")
    ids = np.unique(items[items > 0])
    if target_id not in ids:
        raise ValueError(f"target {target_id} is not among the items")
    from scipy import ndimage

    peaks = ndimage.maximum(s, labels=items, index=ids)
    peak_t = peaks[list(ids).index(target_id)]
    return int(1 + np.sum((peaks >= peak_t) & (ids != target_id)))


def target_nss(sal, target_mask) -> float:
    s, t = _check(sal, ("target_mask", target_mask))
    sd = s.std(ddof=1)
    if sd == 0:
        raise ValueError("saliency map is constant: NSS is undefined")
    return float(((s - s.mean()) / sd)[t].mean())


def search_scores(sal, array, ior: int | None = None, max_fixations: int = 99) -> dict:
    """All measures for one :class:`saliency_utils.data.search_arrays.SearchArray` (``ior`` defaults to
    the distractor size, as the authors' demo)."""
    ior = int(round(array.meta["d_size"])) if ior is None else ior
    n_fix, found = fixations_to_target(sal, array.target_mask, ior, max_fixations)
    return {"GSI": gsi(sal, array.target_mask, array.distractor_mask),
            "MSR_targ": msr_target(sal, array.target_mask, array.distractor_mask),
            "MSR_bg": msr_background(sal, array.target_mask, array.distractor_mask),
            "fixations": n_fix, "found": found,
            "rank": item_rank(sal, array.items, array.meta["t_pos"]),
            "NSS_target": target_nss(sal, array.target_mask)}
