"""P³-style visual search arrays: one singleton target among homogeneous distractors.

Follows the schema of the Psychophysical Patterns (P³) dataset of Kotseruba, Wloka, Rasouli &
Tsotsos (BMVC 2019; README of ``popout_p3o3`` in the data bundle): a square canvas with a
uniform background, a 7x7 grid of items, each item placed at the centre of its grid cell plus a
small random offset, one target (grid position ``t_pos`` 1..49, row-major) that differs from
the identical distractors in one feature dimension. The defaults are measured on the bundle's
P³ example (``image_circle_90_20_36_16.png``): 1024x1024 canvas, background RGB (128, 128, 128),
circles of 75 px diameter, distractor colour (227, 159, 0), target colour (108, 185, 165) (both
CIELAB L* ~70), centres within about ±15 px of the cell centres ((k + 0.5) * 1024 / 7).

Features (``feature=``):

* ``"colour"``: the target has ``target_value`` (RGB) instead of the distractor colour;
* ``"orientation"``: bars (``item_size`` long, ``item_size * bar_aspect`` wide) rotated by
  ``distractor_orientation`` degrees (counter-clockwise from vertical); the target by
  ``target_value`` degrees;
* ``"size"``: the target's size (diameter / side) is ``target_value`` px;
* ``"shape"``: the target is a different shape (``target_value``, one of :data:`SHAPES`) of the
  same size; P³ itself has colour, orientation and size sets only, so this one is ours.

All other attributes of the target equal the distractors', so the singleton differs in exactly
one feature. Items are rasterised with ``supersample`` x ``supersample`` sub-pixel coverage
(anti-aliased edges, like P³'s PNGs); a pixel belongs to an item's mask when its coverage is at
least one half (P³'s masks are thresholded at 0.5 as well), so the masks match what is drawn.
Deterministic: the same arguments (``seed``) give the same array.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FEATURES", "SHAPES", "P3_DEFAULTS", "SearchArray", "search_array",
           "search_array_set"]

FEATURES = ("colour", "orientation", "size", "shape")
SHAPES = ("circle", "square", "diamond", "triangle", "bar")

#: Defaults measured on the P³ example of the bundle (see the module docstring).
P3_DEFAULTS = dict(canvas=1024, grid=7, item_size=75, jitter=15, background=(128, 128, 128),
                   distractor_colour=(227, 159, 0), target_colour=(108, 185, 165))

_DEFAULT_TARGET = {"colour": (108, 185, 165), "orientation": 45.0, "size": 110.0,
                   "shape": "square"}


@dataclass(frozen=True, eq=False)
class SearchArray:
    """A generated array: ``image`` (uint8 H x W x 3), ``target_mask`` and ``distractor_mask``
    (bool H x W), ``items`` (int32 H x W: 0 background, k = the item in grid position k,
    1..grid²), ``meta`` (the P³-style properties: feature, t_pos, t_x, t_y, colours, shapes,
    sizes, orientations, centres of all items, seed)."""

    image: np.ndarray = field(repr=False)
    target_mask: np.ndarray = field(repr=False)
    distractor_mask: np.ndarray = field(repr=False)
    items: np.ndarray = field(repr=False)
    meta: dict


def _colour(c, name) -> tuple[int, int, int]:
    try:
        arr = np.asarray(c, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an RGB triple, got {c!r}") from None
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 255:
        raise ValueError(f"{name} must be an RGB triple with values in 0..255, got {c!r}")
    return tuple(int(round(v)) for v in arr)


def _inside(shape: str, dx: np.ndarray, dy: np.ndarray, size: float, angle_deg: float,
            bar_aspect: float) -> np.ndarray:
    """Which offsets (dx right, dy down, from the item centre) lie inside the item."""
    a = np.deg2rad(angle_deg)
    # rotate the offsets into the item's frame (counter-clockwise rotation of the item)
    u = np.cos(a) * dx - np.sin(a) * dy
    v = np.sin(a) * dx + np.cos(a) * dy
    r = size / 2.0
    if shape == "circle":
        return u * u + v * v <= r * r
    if shape == "square":
        return (np.abs(u) <= r) & (np.abs(v) <= r)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= r
    if shape == "bar":
        return (np.abs(u) <= r * bar_aspect) & (np.abs(v) <= r)
    if shape == "triangle":  # equilateral, pointing up, height = size, centred on its box
        h = size
        top, bottom = -h / 2.0, h / 2.0
        half_w = (v - top) / h * (size / np.sqrt(3.0))  # base width 2 * size / sqrt(3)
        return (v >= top) & (v <= bottom) & (np.abs(u) <= half_w)
    raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")


def _coverage(shape, cx, cy, size, angle, bar_aspect, ss, hw):
    """Sub-pixel coverage (0..1) of an item on the pixel window around its centre."""
    h, w = hw
    half = int(np.ceil(size * 0.75)) + 2
    y0, y1 = max(0, int(cy) - half), min(h, int(cy) + half + 1)
    x0, x1 = max(0, int(cx) - half), min(w, int(cx) + half + 1)
    offs = (np.arange(ss) + 0.5) / ss - 0.5
    ys = (np.arange(y0, y1)[:, None] + offs[None, :]).reshape(-1)
    xs = (np.arange(x0, x1)[:, None] + offs[None, :]).reshape(-1)
    inside = _inside(shape, xs[None, :] - cx, ys[:, None] - cy, size, angle, bar_aspect)
    cov = inside.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
    return (slice(y0, y1), slice(x0, x1)), cov


def search_array(feature: str = "colour", target_value=None, target_pos: int | None = None,
                 seed: int = 0, canvas: int = 1024, grid: int = 7, item_size: float = 75,
                 jitter: float = 15, background=(128, 128, 128),
                 distractor_colour=(227, 159, 0), distractor_shape: str | None = None,
                 distractor_orientation: float = 0.0, bar_aspect: float = 1 / 3,
                 supersample: int = 4) -> SearchArray:
    """Generate one P³-style search array (see the module docstring).

    ``target_value``: the target's value of ``feature`` (default: the example's target colour,
    45°, 110 px, ``"square"``); ``target_pos``: grid position 1..grid² (row-major, as P³'s
    ``t_pos``; default drawn from ``seed``); ``distractor_shape``: default ``"bar"`` for
    orientation arrays, ``"circle"`` otherwise. Raises ``ValueError``/``TypeError`` for an
    unknown feature or shape, a target equal to the distractors, positions outside the grid,
    non-positive sizes or items that could overlap or leave the canvas.
    """
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {', '.join(FEATURES)}, got {feature!r}")
    for name, v in (("canvas", canvas), ("grid", grid), ("supersample", supersample)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not np.isfinite(item_size) or item_size <= 0:
        raise ValueError(f"item_size must be positive, got {item_size!r}")
    if not np.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be >= 0, got {jitter!r}")
    if not 0 < bar_aspect <= 1:
        raise ValueError(f"bar_aspect must be in (0, 1], got {bar_aspect!r}")
    bg = _colour(background, "background")
    d_col = _colour(distractor_colour, "distractor_colour")
    d_shape = distractor_shape or ("bar" if feature == "orientation" else "circle")
    if d_shape not in SHAPES:
        raise ValueError(f"unknown distractor_shape {d_shape!r}; choose one of {SHAPES}")
    if d_col == bg:
        raise ValueError("distractor_colour equals the background: the items would be invisible")
    t_col, t_shape, t_size, t_ori = d_col, d_shape, float(item_size), float(distractor_orientation)
    value = _DEFAULT_TARGET[feature] if target_value is None else target_value
    if feature == "colour":
        t_col = _colour(value, "target_value (colour)")
        if t_col == d_col or t_col == bg:
            raise ValueError("the target colour must differ from the distractor and background "
                             f"colours, got {t_col}")
    elif feature == "orientation":
        t_ori = float(value)
        if d_shape == "circle":
            raise ValueError("an orientation singleton needs an oriented distractor_shape, not "
                             "'circle'")
        period = {"bar": 180.0, "square": 90.0, "diamond": 90.0, "triangle": 120.0}[d_shape]
        diff = (t_ori - distractor_orientation) % period
        if min(diff, period - diff) < 1e-9:
            raise ValueError(f"target orientation {t_ori} looks the same as the distractors' "
                             f"({distractor_orientation}) for a {d_shape}")
    elif feature == "size":
        t_size = float(value)
        if not np.isfinite(t_size) or t_size <= 0:
            raise ValueError(f"target size must be positive, got {value!r}")
        if abs(t_size - item_size) < 1e-9:
            raise ValueError("the target size equals the distractor size")
    else:
        t_shape = str(value)
        if t_shape not in SHAPES:
            raise ValueError(f"unknown target shape {t_shape!r}; choose one of {SHAPES}")
        if t_shape == d_shape:
            raise ValueError("the target shape equals the distractor shape")
    cell = canvas / grid
    factor = {"circle": 1.0, "bar": 1.0, "diamond": 1.0, "triangle": 2 / np.sqrt(3.0),
              "square": np.sqrt(2.0)}
    largest = max(item_size * factor[d_shape], t_size * factor[t_shape])
    if largest + 2 * jitter >= cell:
        raise ValueError(f"items of {largest:.0f} px with ±{jitter} px jitter do not fit in grid "
                         f"cells of {cell:.1f} px without touching; lower item_size/jitter or "
                         "the target size")
    rng = np.random.default_rng(seed)
    n = grid * grid
    if target_pos is None:
        target_pos = int(rng.integers(1, n + 1))
    if isinstance(target_pos, bool) or not isinstance(target_pos, (int, np.integer)) \
            or not 1 <= target_pos <= n:
        raise ValueError(f"target_pos must be an integer in 1..{n}, got {target_pos!r}")
    offsets = rng.uniform(-jitter, jitter, size=(n, 2))
    h = w = canvas
    acc = np.zeros((h, w), dtype=np.float64)  # coverage of the item drawn at each pixel
    colour_idx = np.zeros((h, w), dtype=np.int32)
    items = np.zeros((h, w), dtype=np.int32)
    centres = []
    for k in range(n):
        row, col = divmod(k, grid)
        cx = (col + 0.5) * cell + offsets[k, 0]
        cy = (row + 0.5) * cell + offsets[k, 1]
        is_t = (k + 1) == target_pos
        shape, size, ori = (t_shape, t_size, t_ori) if is_t else (d_shape, item_size,
                                                                   distractor_orientation)
        (sy, sx), cov = _coverage(shape, cx, cy, size, ori, bar_aspect, supersample, (h, w))
        acc[sy, sx] = np.maximum(acc[sy, sx], cov)
        colour_idx[sy, sx] = np.where(cov > 0, 2 if is_t else 1, colour_idx[sy, sx])
        items[sy, sx] = np.where(cov >= 0.5, k + 1, items[sy, sx])
        centres.append((float(cx), float(cy)))
    palette = np.array([bg, d_col, t_col], dtype=np.float64)
    fg = palette[colour_idx]
    img = (1.0 - acc[..., None]) * np.array(bg, dtype=np.float64) + acc[..., None] * fg
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    target_mask = items == target_pos
    distractor_mask = (items > 0) & ~target_mask
    tx, ty = centres[target_pos - 1]
    meta = {"feature": feature, "t_pos": int(target_pos), "t_x": tx, "t_y": ty,
            "bg_color": bg, "t_color": t_col, "d_color": d_col, "t_shape": t_shape,
            "d_shape": d_shape, "t_size": t_size, "d_size": float(item_size),
            "t_ori": t_ori, "d_ori": float(distractor_orientation), "canvas": canvas,
            "grid": grid, "jitter": float(jitter), "bar_aspect": float(bar_aspect),
            "centres": centres, "seed": seed}
    return SearchArray(image, target_mask, distractor_mask, items, meta)


def search_array_set(n_per_feature: int, features=FEATURES, seed: int = 0, **kwargs) -> list:
    """``n_per_feature`` arrays per feature, target positions and jitter drawn from ``seed``
    (array ``i`` of a feature uses seed ``seed * 10007 + 1000 * f + i``); ``kwargs`` go to
    :func:`search_array`."""
    if n_per_feature < 1:
        raise ValueError("n_per_feature must be >= 1")
    out = []
    for f_i, f in enumerate(features):
        for i in range(n_per_feature):
            out.append(search_array(f, seed=seed * 10007 + 1000 * f_i + i, **kwargs))
    return out
