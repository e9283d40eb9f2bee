"""Fixation maps, fixation density maps and simple reference maps.

Conventions used throughout the book:

* Fixation coordinates are **0-based pixel coordinates**, ``x`` along columns and ``y`` along
  rows, as floats. A fixation at ``(x, y)`` falls on pixel ``(round(y), round(x))``, rounding
  halves up as MATLAB's ``round`` does for the non-negative coordinates here.
* A *fixation map* is a boolean ``H x W`` array, ``True`` where at least one fixation landed
  (the MIT benchmark's binary ``fixationPts``: duplicates on a pixel count once).
* A *density map* is a non-negative float ``H x W`` array summing to 1: every fixation counts
  (duplicates add up), blurred with an isotropic Gaussian whose sigma is given in pixels. Datasets
  state sigma in degrees of visual angle; :func:`sigma_px` converts with the dataset's pixels per
  degree.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

__all__ = [
    "check_map",
    "check_saliency_map",
    "fixation_counts",
    "fixation_map",
    "gaussian_centre_bias",
    "gaussian_density",
    "resize_map",
    "sigma_px",
    "to_density",
    "UniformMap",
    "uniform_map",
]


def check_map(a, name: str = "map", ndim: int = 2) -> np.ndarray:
    """Return ``a`` as a float64 array after checking it is finite and ``ndim``-dimensional."""
    arr = np.asarray(a)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def check_saliency_map(saliency_map, name: str = "saliency map", allow_negative: bool = True,
                       shape=None) -> np.ndarray:
    """The book's one check of a saliency map before it is scored or thresholded: ``saliency_map``
    as a float64 array after checking that it is a non-empty 2-D array of finite values (as
    :func:`check_map`), of ``shape`` if given, non-negative unless ``allow_negative``, and not
    constant (a constant map points nowhere); ``ValueError`` otherwise."""
    if np.ndim(saliency_map) == 3:
        raise ValueError(f"{name} must be 2-D (H x W), got shape {np.shape(saliency_map)}; "
                         "reduce colour channels first (e.g. attribution.channel_max)")
    if np.size(saliency_map) == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape "
                         f"{np.shape(saliency_map)}")
    s = check_map(saliency_map, name)
    if shape is not None and s.shape != tuple(shape):
        raise ValueError(f"{name} has shape {s.shape}, expected {tuple(shape)}")
    if not allow_negative and np.any(s < 0):
        raise ValueError(f"{name} has negative values; take its positive part or |.| first")
    if s.max() == s.min():
        raise ValueError(f"{name} is constant: it points nowhere")
    return s


def _points(xs, ys, shape):
    xs = np.asarray(xs, dtype=np.float64).ravel()
    ys = np.asarray(ys, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length, got {xs.size} and {ys.size}")
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(f"shape must be (H, W) with positive sizes, got {shape}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise ValueError("fixation coordinates contain NaN or inf; drop them first")
    h, w = shape
    # MATLAB's round (half away from zero), as the datasets' own code: floor(v + 0.5) for v >= 0
    cols = np.floor(xs + 0.5).astype(np.int64)
    rows = np.floor(ys + 0.5).astype(np.int64)
    bad = (cols < 0) | (cols >= w) | (rows < 0) | (rows >= h)
    if np.any(bad):
        raise ValueError(
            f"{int(bad.sum())} fixation(s) fall outside an image of shape {tuple(shape)}; "
            "clip or drop them first (the data loaders do this and count them)"
        )
    return rows, cols


def fixation_counts(xs, ys, shape) -> np.ndarray:
    """Number of fixations on each pixel (float ``H x W``)."""
    rows, cols = _points(xs, ys, shape)
    counts = np.zeros(tuple(shape), dtype=np.float64)
    np.add.at(counts, (rows, cols), 1.0)
    return counts


def fixation_map(xs, ys, shape) -> np.ndarray:
    """Binary fixation map (``bool H x W``) of 0-based fixation coordinates."""
    return fixation_counts(xs, ys, shape) > 0


def sigma_px(sigma_deg: float, px_per_degree: float) -> float:
    """Gaussian sigma in pixels for a sigma in degrees of visual angle."""
    if sigma_deg <= 0 or px_per_degree <= 0:
        raise ValueError("sigma_deg and px_per_degree must be positive")
    return float(sigma_deg) * float(px_per_degree)


def _kernel1d(sigma: float) -> tuple[np.ndarray, int]:
    """scipy.ndimage's discrete Gaussian: exp(-d^2 / 2 sigma^2) for |d| <= round(4 sigma),
    normalised to sum 1."""
    radius = int(4.0 * float(sigma) + 0.5)
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (d / sigma) ** 2)
    return k / k.sum(), radius


# Below this many fixated pixels the blur is a sum of separable Gaussians (a K x H by K x W
# matrix product), much faster than filtering the whole image; both give the same map.
_SPARSE_LIMIT = 256


def gaussian_density(counts, sigma: float) -> np.ndarray:
    """Blur a fixation-count (or binary fixation) map with a Gaussian of ``sigma`` pixels.

    Same result as ``scipy.ndimage.gaussian_filter(counts, sigma, mode="constant",
    truncate=4.0)``: zero padding at the borders (mass blurred outside the image is lost, then
    the map is renormalised). Returns a density summing to 1.
    """
    c = check_map(counts, "fixation counts")
    if np.any(c < 0):
        raise ValueError("fixation counts must be non-negative")
    if c.sum() <= 0:
        raise ValueError("no fixations: cannot build a density map from an empty fixation map")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    rows, cols = np.nonzero(c)
    if rows.size <= _SPARSE_LIMIT:
        k, radius = _kernel1d(sigma)
        h, w = c.shape

        def profiles(centres, n):
            off = np.arange(n)[None, :] - centres[:, None] + radius
            inside = (off >= 0) & (off <= 2 * radius)
            return np.where(inside, k[np.clip(off, 0, 2 * radius)], 0.0)

        d = (profiles(rows, h) * c[rows, cols][:, None]).T @ profiles(cols, w)
    else:
        d = ndimage.gaussian_filter(c, sigma=float(sigma), mode="constant", cval=0.0,
                                    truncate=4.0)
    d = np.clip(d, 0.0, None)
    return d / d.sum()


def gaussian_centre_bias(shape, sigma_frac=(0.25, 0.25)) -> np.ndarray:
    """Centre-bias density: an axis-aligned Gaussian at the image centre.

    ``sigma_frac = (sy, sx)`` gives sigma as a fraction of the image height and width. Returns a
    density summing to 1.
    """
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(f"shape must be (H, W) with positive sizes, got {shape}")
    sy, sx = sigma_frac
    if sy <= 0 or sx <= 0:
        raise ValueError("sigma fractions must be positive")
    h, w = shape
    y = (np.arange(h) - (h - 1) / 2.0) / (sy * h)
    x = (np.arange(w) - (w - 1) / 2.0) / (sx * w)
    g = np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    return g / g.sum()


@lru_cache(maxsize=256)
def _resize_operator(n_in: int, n_out: int, order: int) -> np.ndarray:
    """The ``n_out x n_in`` matrix of skimage's 1-D resize (bicubic for ``order=3``, mirror
    borders, anti-aliasing when shrinking): skimage ``resize`` applied to the identity, whose
    second axis is kept (a zoom by 1 returns it to rounding error). Read-only: it is shared."""
    from skimage.transform import resize

    op = resize(np.eye(n_in), (n_out, n_in), order=order, mode="reflect", anti_aliasing=True,
                preserve_range=True, clip=False)
    op.setflags(write=False)
    return op


def resize_map(a, shape, order: int = 3) -> np.ndarray:
    """Resize a 2-D map to ``shape`` (bicubic with anti-aliasing by default, as MATLAB
    ``imresize``), keeping the value range non-negative if the input was.

    The result is skimage's ``resize(a, shape, order=order, mode="reflect",
    anti_aliasing=True, preserve_range=True)``, computed as ``R0 @ a @ R1.T`` with the 1-D
    resize matrices of the two axes (cached per size pair): skimage's resize is a separable
    linear operator (a Gaussian and a tensor-product spline zoom, each per axis), so the product
    equals it to rounding error (about 1e-15, tested) and is several times faster on the book's
    224 px maps resized to an image. Clipped to the input's range, as skimage does."""
    arr = check_map(a)
    shape = tuple(int(s) for s in shape)
    if arr.shape == shape:
        return arr.copy()
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be two positive sizes, got {shape}")
    r0 = _resize_operator(arr.shape[0], shape[0], int(order))
    r1 = _resize_operator(arr.shape[1], shape[1], int(order))
    (i0, i1), (o0, o1) = arr.shape, shape
    if o0 * i0 * i1 + o0 * i1 * o1 <= i0 * i1 * o1 + o0 * i0 * o1:  # the cheaper order
        out = (r0 @ arr) @ r1.T
    else:
        out = r0 @ (arr @ r1.T)
    return np.clip(out, arr.min(), arr.max())


def to_density(a) -> np.ndarray:
    """Turn a non-negative saliency map into a density summing to 1 (clear error otherwise)."""
    arr = check_map(a)
    if np.any(arr < 0):
        raise ValueError("a density cannot have negative values; shift or clip the map first")
    s = arr.sum()
    if s <= 0:
        raise ValueError("map sums to zero: it cannot be turned into a density")
    return arr / s


class UniformMap(np.ndarray):
    """The **uniform map**: a constant array that is *meant* to be constant, the prediction of a
    model with no information about where people look (e.g. the prior-only reference of a
    saliency model that has no learned prior). Every map check of the book refuses a constant
    map (usually a bug); the scorers instead give a ``UniformMap`` the uniform distribution's
    scores (:func:`saliency_utils.evaluate.metrics.uniform_scores`). Made by :func:`uniform_map`; any
    arithmetic on it returns a plain array."""

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        out = super().__array_wrap__(obj, context, return_scalar)
        return out.view(np.ndarray) if isinstance(out, np.ndarray) else out


def uniform_map(shape) -> UniformMap:
    """The uniform density over an image of ``shape`` (``H, W``): ``1 / (H * W)`` everywhere, as
    a :class:`UniformMap`."""
    h, w = (int(v) for v in tuple(shape)[:2])
    if h < 1 or w < 1:
        raise ValueError(f"a uniform map needs a positive shape, got {tuple(shape)}")
    return np.full((h, w), 1.0 / (h * w)).view(UniformMap)
