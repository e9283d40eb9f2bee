"""Bounding boxes and every score of a map or a box against ground-truth boxes: IoU, the ILSVRC
localisation criterion, the pointing game, the energy in the boxes.

Box convention (used throughout the book)
-----------------------------------------
A box is ``(x0, y0, x1, y1)`` in **continuous pixel coordinates**: ``x`` along columns, ``y``
along rows, pixel ``(row r, column c)`` covers the square ``[c, c+1) x [r, r+1)``. Hence

* width ``x1 - x0``, height ``y1 - y0``, area ``(x1 - x0) * (y1 - y0)`` (no ``+ 1``);
* the box of a set of pixels with columns ``c0..c1`` and rows ``r0..r1`` (inclusive) is
  ``(c0, r0, c1 + 1, r1 + 1)`` (see :func:`mask_to_box`);
* the full image of shape ``(H, W)`` is ``(0, 0, W, H)``, and resizing an image by a factor
  scales the box coordinates by the same factor, exactly (:func:`scale_box`).

ImageNet's XML annotations give *inclusive* pixel corners ``xmin..xmax`` and its devkit
computes areas with ``+ 1``; ``(xmin, ymin, xmax + 1, ymax + 1)`` in this convention gives
the same areas and IoUs (a 0-based vs 1-based offset shifts both boxes and does not change
the IoU).

Boxes are returned as ``float64`` NumPy arrays of shape ``(4,)``; functions taking several
boxes take arrays of shape ``(n, 4)``. A pixel ``(r, c)`` is *covered* by a box when its centre
``(c + 0.5, r + 0.5)`` lies inside it (:func:`box_union_mask`).

Scores of a saliency map against the boxes of its image (the map is checked with
:func:`saliency_utils.evaluate.maps.check_saliency_map`: a NaN, constant or non-2-D map raises):

* :func:`pointing_game` (Zhang et al. 2016): a hit when the map's maximum (the first in raster
  order when several pixels tie) lies in a covered pixel of **any** box, or within
  ``tolerance`` pixels of one (Zhang et al. used 15 px on the original images);
* :func:`energy_in_boxes`: the share of a non-negative map's total mass inside the union of the
  boxes (the "energy-based pointing game"); :func:`area_in_boxes` is what a uniform map scores;
* :func:`localisation_correct` (with :func:`iou`): the ILSVRC criterion for predicted boxes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from saliency_utils.evaluate.maps import check_saliency_map

__all__ = [
    "check_boxes",
    "iou",
    "iou_matrix",
    "mask_to_box",
    "largest_component",
    "scale_box",
    "full_image_box",
    "miss_box",
    "centred_box",
    "localisation_correct",
    "box_union_mask",
    "pointing_game",
    "energy_in_boxes",
    "area_in_boxes",
    "uniform_pointing",
]


def check_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """Return ``boxes`` as a float64 ``(n, 4)`` array (a single box becomes ``(1, 4)``).

    Raises ``ValueError`` for a wrong shape, non-finite values or ``x1 < x0`` / ``y1 < y0``.
    Zero-width or zero-height boxes are allowed (their area is 0).
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (4,) or (n, 4) as (x0, y0, x1, y1), "
                         f"got shape {np.shape(boxes)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or inf")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if np.any(bad):
        raise ValueError(f"{name}: {int(bad.sum())} box(es) with x1 < x0 or y1 < y0, first "
                         f"{arr[bad][0].tolist()}; boxes are (x0, y0, x1, y1)")
    return arr


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every box in ``boxes_a`` (n x 4) with every box in
    ``boxes_b`` (m x 4): an ``n x m`` array. Two boxes of zero area have IoU 0."""
    a = check_boxes(boxes_a, "boxes_a")[:, None, :]
    b = check_boxes(boxes_b, "boxes_b")[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def iou(box_a, box_b) -> float:
    """Intersection over union of two boxes ``(x0, y0, x1, y1)``."""
    a, b = check_boxes(box_a, "box_a"), check_boxes(box_b, "box_b")
    if len(a) != 1 or len(b) != 1:
        raise ValueError("iou takes two single boxes; use iou_matrix for sets of boxes")
    return float(iou_matrix(a, b)[0, 0])


def _check_mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be a 2-D array, got shape {m.shape}")
    return m.astype(bool, copy=False)


def mask_to_box(mask) -> np.ndarray:
    """Tight box ``(c0, r0, c1 + 1, r1 + 1)`` around the ``True`` pixels of a 2-D mask.

    Raises ``ValueError`` if the mask has no ``True`` pixel.
    """
    m = _check_mask(mask)
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        raise ValueError("mask has no True pixels: no box")
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)


def largest_component(mask) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (same shape, ``bool``).

    Ties go to the component met first in raster order. An empty mask gives an empty mask.
    """
    m = _check_mask(mask)
    labels, n = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return np.zeros_like(m, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def _shape_hw(shape) -> tuple[int, int]:
    if len(shape) < 2 or shape[0] <= 0 or shape[1] <= 0:
        raise ValueError(f"shape must start with positive (H, W), got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def scale_box(box, from_shape, to_shape) -> np.ndarray:
    """Map box(es) from an image of shape ``from_shape`` to one of shape ``to_shape``
    (``(H, W, ...)``; e.g. from the 224 x 224 network input back to the original image).

    Exact for the continuous convention: ``x * W_to / W_from``, ``y * H_to / H_from``.
    Returns the same layout as given: ``(4,)`` or ``(n, 4)``.
    """
    single = np.ndim(box) == 1
    b = check_boxes(box).copy()
    hf, wf = _shape_hw(from_shape)
    ht, wt = _shape_hw(to_shape)
    b[:, [0, 2]] *= wt / wf
    b[:, [1, 3]] *= ht / hf
    return b[0] if single else b


def full_image_box(shape) -> np.ndarray:
    """The box covering a whole image of shape ``(H, W, ...)``: ``(0, 0, W, H)``."""
    h, w = _shape_hw(shape)
    return np.array([0.0, 0.0, w, h])


def miss_box() -> np.ndarray:
    """The box a failed box maker stands for: ``(0, 0, 0, 0)``, of zero area, so its IoU with
    every box is 0 and it always counts as a localisation miss (never as the full-image box,
    which would be a hit on images whose object fills the frame)."""
    return np.zeros(4)


def centred_box(shape, mean_w_frac: float, mean_h_frac: float) -> np.ndarray:
    """A box centred in an image of shape ``(H, W, ...)`` with width ``mean_w_frac * W`` and
    height ``mean_h_frac * H`` (the "centre box of average size" baseline; the fractions
    are typically the mean ground-truth box size relative to the image)."""
    h, w = _shape_hw(shape)
    for name, f in (("mean_w_frac", mean_w_frac), ("mean_h_frac", mean_h_frac)):
        if not 0 < f <= 1:
            raise ValueError(f"{name} must be in (0, 1], got {f}")
    bw, bh = mean_w_frac * w, mean_h_frac * h
    return np.array([(w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2])


def localisation_correct(pred_boxes, pred_labels: Sequence[int], gt_boxes, gt_label: int,
                         iou_thr: float = 0.5, top_k: int | None = None) -> bool:
    """ILSVRC classification-with-localisation criterion for one image.

    ``pred_boxes`` (k x 4) and ``pred_labels`` (k,) are the guesses, best first (ILSVRC
    allows 5). The image counts as correctly localised if **some** guess has the right class
    (``== gt_label``) and IoU ``>= iou_thr`` with **any** ground-truth box (``gt_boxes``,
    m x 4, all of class ``gt_label`` as in ILSVRC CLS-LOC). ``top_k`` uses only the first
    ``top_k`` guesses (``top_k=1``: top-1 localisation). Error rate = 1 - mean(correct).
    """
    pb = check_boxes(pred_boxes, "pred_boxes")
    labels = np.asarray(pred_labels).ravel()
    if labels.size != len(pb):
        raise ValueError(f"{len(pb)} predicted boxes but {labels.size} predicted labels")
    gb = check_boxes(gt_boxes, "gt_boxes")
    if len(gb) == 0:
        raise ValueError("no ground-truth box")
    if not 0 < iou_thr <= 1:
        raise ValueError(f"iou_thr must be in (0, 1], got {iou_thr}")
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        pb, labels = pb[:top_k], labels[:top_k]
    if len(pb) == 0:
        return False
    hit_class = labels == gt_label
    if not hit_class.any():
        return False
    best_iou = iou_matrix(pb[hit_class], gb).max(axis=1)
    return bool(np.any(best_iou >= iou_thr))


# --------------------------------------------------------------------------- map vs boxes
def box_union_mask(gt_boxes, shape) -> np.ndarray:
    """Boolean ``H x W`` mask of the pixels covered by any of the boxes (pixel ``(r, c)`` is
    covered when its centre ``(c + 0.5, r + 0.5)`` lies inside a box)."""
    h, w = _shape_hw(shape)
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    m = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in check_boxes(gt_boxes):
        m |= ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    return m


def _hit(s: np.ndarray, inside: np.ndarray, tolerance: float) -> bool:
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    r, c = np.unravel_index(int(np.argmax(s)), s.shape)
    if inside[r, c]:
        return True
    if tolerance == 0 or not inside.any():
        return False
    rr, cc = np.nonzero(inside)
    return bool(np.min((rr - r) ** 2 + (cc - c) ** 2) <= tolerance ** 2)


def pointing_game(saliency_map, gt_boxes, tolerance: float = 0.0) -> bool:
    """Pointing game (Zhang et al. 2016) for one map: ``True`` if the map's maximum lies in a
    covered pixel of any of the boxes, or within ``tolerance`` pixels (Euclidean, between pixel
    centres) of one. Ties for the maximum: the first pixel in raster order counts. A map that
    cannot point (NaN, constant, not 2-D) raises ``ValueError``; count it as a miss, if that is
    the protocol, where the scores are collected.

    This is the book's one pointing game: it replaced ``evaluate.wsol.point_in_boxes`` (the same rule
    without tolerance and without the map check, returning 1.0 / 0.0; the check only matters
    for constant or NaN maps, which that function scored by their pixel ``(0, 0)``)."""
    s = check_saliency_map(saliency_map)
    return _hit(s, box_union_mask(gt_boxes, s.shape), tolerance)


def uniform_pointing(shape, gt_boxes, tolerance: float = 0.0) -> float:
    """The pointing game of the **uniform map** (:class:`saliency_utils.evaluate.maps.UniformMap`), whose
    maximum is every pixel: the chance that a pixel drawn uniformly at random is a hit under
    :func:`pointing_game`'s rule, i.e. the share of pixels inside a box or within ``tolerance``
    pixels of one (the expected score of breaking the tie at random)."""
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    inside = box_union_mask(gt_boxes, tuple(shape)[:2])
    if tolerance == 0 or not inside.any() or inside.all():
        return float(inside.mean())
    return float((ndimage.distance_transform_edt(~inside) <= tolerance).mean())


def energy_in_boxes(saliency_map, gt_boxes) -> float:
    """Share of a non-negative map's total mass inside the union of the boxes (it replaced
    ``evaluate.wsol.mass_in_boxes``, which also accepted a constant map)."""
    s = check_saliency_map(saliency_map, allow_negative=False)
    return float(s[box_union_mask(gt_boxes, s.shape)].sum() / s.sum())


def area_in_boxes(shape, gt_boxes) -> float:
    """Share of an image of ``shape`` (or of a map's shape, when given a 2-D array) covered by
    the boxes: what a uniform map scores under :func:`energy_in_boxes`."""
    if np.ndim(shape) == 2:
        shape = np.shape(shape)
    return float(box_union_mask(gt_boxes, shape).mean())
