"""Weakly supervised object localisation from a saliency map (Simonyan et al. 2014, sec. 6).

The paper's recipe for one image and one class:

1. compute the class saliency map;
2. fit a foreground colour model (GMM) to the pixels whose saliency is above the image's 95%
   quantile, and a background colour model to the pixels below the 30% quantile;
3. segment the image with GraphCut (Boykov & Jolly 2001) using these colour models;
4. take the largest connected foreground component and return its bounding box.

:func:`saliency_box` implements this with OpenCV's GrabCut machinery **so that the GMMs are
fitted on the seeds only**, as in the paper:

* ``cv2.grabCut`` with ``GC_INIT_WITH_MASK`` and ``iterCount=0`` on an image made only of
  the seed pixels (foreground seeds labelled ``GC_FGD``, background seeds ``GC_BGD``) fits the
  two 5-component full-covariance GMMs (k-means initialisation, OpenCV's RNG: seeded with
  ``cv2.setRNGSeed``) and stops before any segmentation;
* ``cv2.grabCut`` on the real image with ``GC_EVAL_FREEZE_MODEL`` and those GMMs then runs one
  graph cut without re-estimating them. Seeds are hard constraints (``GC_FGD`` /
  ``GC_BGD``); every other pixel is ``GC_PR_BGD``, which only sets the initial label: with a
  frozen model it has no influence on the result.

Had we used plain ``GC_INIT_WITH_MASK``, OpenCV would fit the foreground GMM on all pixels
labelled ``GC_FGD`` or ``GC_PR_FGD`` and the background GMM on all others, so the 65% of
pixels between the two quantiles would pollute one of the models.

What remains OpenCV's and not the paper's (whose constants are not given): 5 GMM components
per model, the 8-neighbour contrast-sensitive pairwise term of GrabCut (Rother et al. 2004)
with weight ``gamma = 50`` and ``beta = 1 / (2 <|I_p - I_q|^2>)``. ``iters > 1`` adds GrabCut's
iterative re-estimation of the GMMs from the current segmentation (``GC_EVAL``): not the
paper's method. Colour order (RGB vs BGR) does not matter: GMMs and pairwise terms are
invariant to permuting channels.

:func:`threshold_box` is the simpler baseline of the CAM paper (Zhou et al. 2016): the box of
the largest connected region where the map exceeds 20% of its maximum.
"""
from __future__ import annotations

import cv2
import numpy as np

from saliency_utils.evaluate.boxes import largest_component, mask_to_box
from saliency_utils.evaluate.maps import check_saliency_map

__all__ = ["check_image_for_map", "grabcut_seeds", "saliency_box", "threshold_box"]

GMM_COMPONENTS = 5  # OpenCV's fixed number of components per GrabCut GMM


def check_image_for_map(image, shape) -> np.ndarray:
    """``image`` as a contiguous uint8 H x W x 3 array whose size is the map's ``shape``;
    ``ValueError`` naming both sizes otherwise."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 H x W x 3, got {img.dtype} {img.shape}")
    if img.shape[:2] != tuple(shape):
        raise ValueError(f"image is {img.shape[0]}x{img.shape[1]} but the saliency map is "
                         f"{shape[0]}x{shape[1]}: resize the map to the image first "
                         "(maps.resize_map)")
    return np.ascontiguousarray(img)


def grabcut_seeds(saliency_map, fg_quantile: float = 0.95,
                  bg_quantile: float = 0.30) -> np.ndarray:
    """OpenCV GrabCut label mask (``uint8 H x W``) from a saliency map.

    ``GC_FGD`` where saliency ``>=`` its ``fg_quantile`` quantile, ``GC_BGD`` where ``<=`` its
    ``bg_quantile`` quantile, ``GC_PR_BGD`` elsewhere. Ties can make the seed sets larger
    than the nominal fractions; a pixel in both sets (a very flat map) is a background seed.
    Raises ``ValueError`` when either seed set has fewer than 5 pixels (the GMM size).
    """
    s = check_saliency_map(saliency_map)
    if not 0 <= bg_quantile < fg_quantile <= 1:
        raise ValueError(f"need 0 <= bg_quantile < fg_quantile <= 1, got {bg_quantile}, "
                         f"{fg_quantile}")
    q_bg, q_fg = np.quantile(s, [bg_quantile, fg_quantile])
    mask = np.full(s.shape, cv2.GC_PR_BGD, dtype=np.uint8)
    mask[s >= q_fg] = cv2.GC_FGD
    mask[s <= q_bg] = cv2.GC_BGD
    for label, name in ((cv2.GC_FGD, "foreground"), (cv2.GC_BGD, "background")):
        n = int(np.count_nonzero(mask == label))
        if n < GMM_COMPONENTS:
            raise ValueError(f"only {n} {name} seed pixels (need >= {GMM_COMPONENTS}): the "
                             "saliency map is too flat or too small")
    return mask


def seed_gmms(img: np.ndarray, seeds: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """GrabCut's two colour GMMs (background, foreground; 5 components each, OpenCV's
    ``1 x 65`` model arrays) fitted on the seed pixels only: the ``GC_FGD`` / ``GC_BGD`` pixels
    of ``seeds`` (as from :func:`grabcut_seeds`) as a ``1 x n`` "image", ``iterCount=0``.
    ``seed`` fixes OpenCV's k-means initialisation."""
    fg, bg = seeds == cv2.GC_FGD, seeds == cv2.GC_BGD
    seed_img = np.ascontiguousarray(np.concatenate([img[fg], img[bg]])[None])
    seed_mask = np.concatenate([np.full(fg.sum(), cv2.GC_FGD, np.uint8),
                                np.full(bg.sum(), cv2.GC_BGD, np.uint8)])[None]
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(int(seed))
    cv2.grabCut(seed_img, seed_mask, None, bgd_model, fgd_model, 0, cv2.GC_INIT_WITH_MASK)
    return bgd_model, fgd_model


def saliency_box(image_uint8, saliency_map, fg_quantile: float = 0.95,
                 bg_quantile: float = 0.30, iters: int = 1,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simonyan et al.'s box for one image and one class map (see the module docstring).

    ``image_uint8``: ``H x W x 3`` uint8; ``saliency_map``: ``H x W`` (same size: the caller
    resizes). ``iters=1`` is the paper's single graph cut with seed-fitted GMMs.

    Returns ``(box, mask)``: ``box = (x0, y0, x1, y1)`` (:mod:`saliency_utils.evaluate.boxes`
    convention) around ``mask``, the largest 8-connected foreground component (bool).
    The foreground seeds are hard constraints, so the foreground is never empty.
    """
    s = check_saliency_map(saliency_map)
    img = check_image_for_map(image_uint8, s.shape)
    if int(iters) != iters or iters < 1:
        raise ValueError(f"iters must be a positive integer, got {iters}")
    mask = grabcut_seeds(s, fg_quantile, bg_quantile)

    # 1. GMMs from the seeds only.
    bgd_model, fgd_model = seed_gmms(img, mask, seed)

    # 2. One graph cut with the frozen GMMs (the paper), then optional GrabCut iterations.
    cv2.grabCut(img, mask, None, bgd_model, fgd_model, 1, cv2.GC_EVAL_FREEZE_MODEL)
    if iters > 1:
        cv2.grabCut(img, mask, None, bgd_model, fgd_model, int(iters) - 1, cv2.GC_EVAL)

    fg_mask = largest_component((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD))
    return mask_to_box(fg_mask), fg_mask


def threshold_box(saliency_map, frac: float = 0.2) -> np.ndarray:
    """Box of the largest 8-connected region where ``saliency > frac * max(saliency)``.

    The CAM paper's (Zhou et al. 2016) box for gradient ("Backprop") and CAM maps, with
    ``frac = 0.2``. Meant for non-negative maps (|gradient|, CAM); needs ``max > 0``.
    """
    s = check_saliency_map(saliency_map)
    if not 0 <= frac < 1:
        raise ValueError(f"frac must be in [0, 1), got {frac}")
    top = s.max()
    if top <= 0:
        raise ValueError("saliency map has no positive value; threshold_box needs max > 0")
    return mask_to_box(largest_component(s > frac * top))
