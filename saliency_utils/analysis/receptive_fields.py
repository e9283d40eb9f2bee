"""Empirical receptive fields of units (Zhou et al., ICLR 2015), where a layer's cells sit in
the input, and a model-free centre-surround index of a field.

**Empirical receptive field** (Zhou, Khosla, Lapedriza, Oliva, Torralba, "Object detectors
emerge in deep scene CNNs", ICLR 2015, sec. 3.2), as used by He & Pugeault (2017) to look at
the units of a saliency network:

1. a *unit* is one channel of one layer; over a pool of images, its **top-K images** are those
   with the largest maximum activation of the channel, and its **peak** in each is the position
   of that maximum (:func:`top_images`);
2. in each top image a small square **occluder of random pixels** is slid over a grid of
   positions around the peak (one occluder per image copy), and the unit's activation *at its
   peak position* is recorded;
3. the **signed discrepancy** ``d = a(original) - a(occluded)`` is positive where the image
   content drives the unit and negative where it suppresses it (occluding it raises the
   activation). Zhou et al. show ``|d|``; the sign is kept here, or an antagonistic surround
   could not show;
4. the discrepancy maps are **re-centred on the peak** and averaged over the K images
   (:func:`empirical_rfs`).

Differences from Zhou et al.: the occluder is slid only over a window around the peak (its
half-width ``radius`` grid steps), not over the whole image, and the grid step, occluder size
and K are parameters (Zhou: 11x11 occluder, stride 3, the whole 227x227 image, K = 10 or
more). A window that is too small truncates the field; the chapter shows the window.

**Centre-surround index.** :func:`centre_surround_index` compares the mean of an annulus with
the mean of the centre disc without a model. Chapter 3 runs the occlusion fields only on planted
units, as the control that shows why it measures surround suppression by size tuning instead
(:mod:`saliency_utils.analysis.surround`).

The forward passes stop at the deepest layer needed (:func:`layer_outputs`). Everything is
deterministic: the occluder pixels come from a seeded generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["Unit", "layer_outputs", "top_images", "occluder_grid", "cell_centres", "cell_pixel",
           "nearest_cells", "empirical_rfs", "active_channels", "centre_surround_index", "RFResult"]


@dataclass(frozen=True)
class Unit:
    """One channel of one named layer."""

    layer: str
    channel: int

    def __str__(self) -> str:
        return f"{self.layer}:{self.channel}"


class _Stop(Exception):
    pass


def layer_outputs(model: nn.Module, x: torch.Tensor, modules: Mapping[str, nn.Module],
                  grad: bool = False) -> dict[str, torch.Tensor]:
    """Outputs of ``modules`` (name -> submodule of ``model``) for input ``x``; the forward
    pass is stopped as soon as all of them have run. Without gradients unless ``grad``
    (then the outputs keep their graph)."""
    if not modules:
        raise ValueError("no layers requested")
    out: dict[str, torch.Tensor] = {}

    def hook(name):
        def f(_m, _i, o):
            out[name] = o if grad else o.detach()
            if len(out) == len(modules):
                raise _Stop
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in modules.items()]
    try:
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            model(x)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in modules if n not in out]
    if missing:
        raise RuntimeError(f"layers {missing} did not run in the forward pass")
    return out


def _check_units(units: Sequence[Unit], modules: Mapping[str, nn.Module]) -> None:
    if not units:
        raise ValueError("no units given")
    unknown = sorted({u.layer for u in units} - set(modules))
    if unknown:
        raise ValueError(f"units name layers {unknown} that are not in modules "
                         f"({', '.join(modules)})")


def top_images(model: nn.Module, images: torch.Tensor, modules: Mapping[str, nn.Module],
               units: Sequence[Unit], k: int, batch_size: int = 16) -> dict:
    """For each unit, its ``k`` images of ``images`` (``N x 3 x H x W``, preprocessed) with the
    largest maximum activation, and the peak position in each.

    Returns ``{unit: [(image index, (row, col) in the layer's map, activation), ...]}``, best
    first (ties broken by image index). Raises ``ValueError`` if ``k`` exceeds the number of
    images, a channel does not exist, or a unit is never active (maximum <= 0 in every image
    for a layer whose values are non-negative) since it then has no peak.
    """
    _check_units(units, modules)
    n = images.shape[0]
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be N x 3 x H x W, got {tuple(images.shape)}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of images ({n}), got {k}")
    layers = sorted({u.layer for u in units})
    need = {name: modules[name] for name in layers}
    maxima = {u: np.empty(n) for u in units}
    where = {u: np.empty((n, 2), dtype=int) for u in units}
    for s in range(0, n, batch_size):
        acts = layer_outputs(model, images[s:s + batch_size], need)
        for u in units:
            a = acts[u.layer]
            if not 0 <= u.channel < a.shape[1]:
                raise ValueError(f"{u}: layer {u.layer} has {a.shape[1]} channels")
            flat = a[:, u.channel].reshape(a.shape[0], -1)
            v, i = flat.max(dim=1)
            maxima[u][s:s + len(v)] = v.double().cpu().numpy()
            w = a.shape[3]
            where[u][s:s + len(v)] = np.stack([(i // w).cpu().numpy(), (i % w).cpu().numpy()], 1)
    out = {}
    for u in units:
        if not np.isfinite(maxima[u]).all():
            raise ValueError(f"{u}: non-finite activations")
        order = np.lexsort((np.arange(n), -maxima[u]))[:k]
        if maxima[u][order[0]] == 0 and (maxima[u] == 0).all():
            raise ValueError(f"{u} is never active on these images (all maxima are 0); "
                             "choose another unit")
        out[u] = [(int(j), (int(where[u][j, 0]), int(where[u][j, 1])), float(maxima[u][j]))
                  for j in order]
    return out


def occluder_grid(radius: int, step: int) -> np.ndarray:
    """Offsets (in pixels) of the occluder centres relative to the peak: a ``(2r+1)^2 x 2``
    array of ``(dy, dx)`` on a square grid with spacing ``step``, row-major."""
    if radius < 0 or step < 1:
        raise ValueError(f"need radius >= 0 and step >= 1, got {radius}, {step}")
    r = np.arange(-radius, radius + 1) * step
    yy, xx = np.meshgrid(r, r, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], 1)


@dataclass
class RFResult:
    """Empirical receptive fields of a set of units (see :func:`empirical_rfs`).

    ``fields[unit]``: ``(2r+1) x (2r+1)`` mean signed discrepancy re-centred on the peak (grid
    spacing ``step`` pixels of the network input; NaN where no top image had the window inside
    the image); ``per_image[unit]``: ``K x (2r+1) x (2r+1)``; ``peaks[unit]``: the top images
    (as :func:`top_images`); ``n_forward``: forward passes spent; ``geometry[layer]``: where
    the layer's cells sit in the input (:func:`cell_centres`).
    """

    fields: dict
    per_image: dict
    peaks: dict
    step: dict
    radius: int
    occluder: dict
    n_forward: int
    geometry: dict


def cell_centres(model: nn.Module, image: torch.Tensor, module: nn.Module
                 ) -> tuple[float, float, float, float]:
    """Where the cells of a layer's map sit in the input: ``(y_c, x_c, sy, sx)`` such that the
    cell ``(r, c)`` is centred at input pixel ``(y_c + (r - r_c) * sy, x_c + (c - c_c) * sx)``
    with ``(r_c, c_c)`` the central cell and ``(sy, sx)`` the layer's stride (input size /
    map size). ``(y_c, x_c)`` is the centroid of the absolute input gradient of the central
    cell (all channels summed) for ``image`` (``1 x 3 x H x W``): padding conventions make the
    naive ``(r + 0.5) * stride`` off by up to half a stride, which would shift every
    re-centred field."""
    x = image.detach().clone().requires_grad_(True)
    a = layer_outputs(model, x, {"m": module}, grad=True)["m"]
    h, w = a.shape[2:]
    rc, cc = (h - 1) // 2, (w - 1) // 2
    # the central cell, or the nearest cell that has an input gradient (a unit may be off)
    cells = sorted(((r, c) for r in range(h) for c in range(w)),
                   key=lambda rc_: ((rc_[0] - rc) ** 2 + (rc_[1] - cc) ** 2, rc_))
    for r, c in cells:
        (g,) = torch.autograd.grad(a[0, :, r, c].sum(), x, retain_graph=True)
        m = g[0].abs().sum(0).double().cpu().numpy()
        if np.isfinite(m).all() and m.sum() > 0:
            break
    else:
        raise ValueError("no cell of the layer has an input gradient for this image; cannot "
                         "place the layer's cells in the input")
    H, W = m.shape
    yy, xx = np.mgrid[0:H, 0:W]
    sy, sx = H / h, W / w
    yc = float((m * yy).sum() / m.sum()) - (r - rc) * sy
    xc = float((m * xx).sum() / m.sum()) - (c - cc) * sx
    return yc, xc, sy, sx


def cell_pixel(cell, geometry, map_shape) -> tuple[float, float]:
    """Centre of the layer-map cell ``(row, col)`` in input pixels; ``geometry`` from
    :func:`cell_centres`, ``map_shape`` the layer's ``(h, w)``."""
    (r, c), (yc, xc, sy, sx), (h, w) = cell, geometry, map_shape
    return (yc + (r - (h - 1) // 2) * sy, xc + (c - (w - 1) // 2) * sx)


def nearest_cells(points: np.ndarray, geometry, map_shape) -> np.ndarray:
    """The layer-map cell ``(row, col)`` whose centre (:func:`cell_pixel`) is nearest to each
    input pixel ``(y, x)`` of ``points`` (``P x 2``), clipped to the map: ``P x 2`` ints."""
    yc, xc, sy, sx = geometry
    h, w = map_shape
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    r = np.clip(np.rint((pts[:, 0] - yc) / sy) + (h - 1) // 2, 0, h - 1).astype(int)
    c = np.clip(np.rint((pts[:, 1] - xc) / sx) + (w - 1) // 2, 0, w - 1).astype(int)
    return np.stack([r, c], 1)


def _per_layer(value, layers, what) -> dict[str, int]:
    if isinstance(value, Mapping):
        missing = [n for n in layers if n not in value]
        if missing:
            raise ValueError(f"{what} has no value for layer(s) {missing}")
        out = {n: int(value[n]) for n in layers}
    else:
        out = {n: int(value) for n in layers}
    if min(out.values()) < 1:
        raise ValueError(f"{what} must be >= 1 pixel, got {out}")
    return out


def empirical_rfs(model: nn.Module, images: torch.Tensor, modules: Mapping[str, nn.Module],
                  units: Sequence[Unit], k: int = 5, radius: int = 6,
                  step: int | Mapping[str, int] = 8, occluder: int | Mapping[str, int] = 11,
                  batch_size: int = 32, seed: int = 0,
                  fill: tuple[torch.Tensor, torch.Tensor] | None = None,
                  progress: bool = False) -> RFResult:
    """Signed empirical receptive fields of ``units`` (see the module docstring).

    ``images``: ``N x 3 x H x W`` preprocessed pool; ``modules``: layer name -> submodule of
    ``model`` for every layer the units name; ``k`` top images per unit; the occluder (a
    square of ``occluder`` pixels) is centred at the peak plus each offset of
    :func:`occluder_grid` ``(radius, step)``, clipped at the image border (positions whose
    centre falls outside the image are skipped and left NaN). ``step`` and ``occluder`` may be
    mappings layer name -> pixels, so that deeper layers (larger fields) get a wider window.
    ``fill`` = ``(low, high)`` per-channel tensors of the value range of the preprocessed input:
    the occluder's pixels are uniform in that range (default: the range of ``images``). One
    forward pass per occluder position and top image, shared by every unit that has the image
    among its top images.
    """
    layers = sorted({u.layer for u in units})
    steps = _per_layer(step, layers, "step")
    sizes = _per_layer(occluder, layers, "occluder")
    peaks = top_images(model, images, modules, units, k, batch_size=batch_size)
    H, W = images.shape[2:]
    offsets = {n: occluder_grid(radius, steps[n]) for n in layers}
    side = 2 * radius + 1
    gen = torch.Generator().manual_seed(seed)
    if fill is None:
        lo = images.amin(dim=(0, 2, 3)).view(3, 1, 1)
        hi = images.amax(dim=(0, 2, 3)).view(3, 1, 1)
    else:
        lo, hi = (torch.as_tensor(v, dtype=images.dtype).reshape(3, 1, 1) for v in fill)
    big = max(sizes.values())
    noise = torch.rand(3, big, big, generator=gen)  # a CPU generator: the same patch on any device
    patch = (lo.cpu() + (hi - lo).cpu() * noise).to(images.device, images.dtype)

    need = {name: modules[name] for name in layers}
    # map shapes and the unoccluded activations of the top images
    by_image: dict[int, list] = {}
    for u, lst in peaks.items():
        for rank, (j, pos, act) in enumerate(lst):
            by_image.setdefault(j, []).append((u, rank, pos, act))
    per_image = {u: np.full((len(peaks[u]), side, side), np.nan) for u in units}
    n_forward = 0
    items = sorted(by_image.items())
    iterator = items
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(items, desc="receptive fields", unit="image")
    base = layer_outputs(model, images[:1], need)
    shapes = {n: tuple(a.shape[2:]) for n, a in base.items()}
    geometry = {n: cell_centres(model, images[:1], need[n]) for n in layers}
    for j, entries in iterator:
        img = images[j:j + 1]
        # occluder centres (pixels) for every unit on this image, de-duplicated
        centres: dict[tuple[int, int, int], int] = {}  # (y, x, occluder size) -> index
        slots = []  # (unit, rank, pos, act, [(grid index, centre key)])
        for u, rank, pos, act in entries:
            py, px = cell_pixel(pos, geometry[u.layer], shapes[u.layer])
            cy, cx = int(round(py)), int(round(px))
            cells = []
            for g, (dy, dx) in enumerate(offsets[u.layer]):
                y, x = cy + int(dy), cx + int(dx)
                if 0 <= y < H and 0 <= x < W:
                    cells.append((g, centres.setdefault((y, x, sizes[u.layer]), len(centres))))
            slots.append((u, rank, pos, act, cells))
        keys = list(centres)
        values = {n: [] for n in layers}
        for s in range(0, len(keys), batch_size):
            chunk = keys[s:s + batch_size]
            batch = img.repeat(len(chunk), 1, 1, 1)
            for b, (y, x, size) in enumerate(chunk):
                half = size // 2
                y0, x0 = max(0, y - half), max(0, x - half)
                y1, x1 = min(H, y - half + size), min(W, x - half + size)
                batch[b, :, y0:y1, x0:x1] = patch[:, y0 - (y - half):y1 - (y - half),
                                                  x0 - (x - half):x1 - (x - half)]
            acts = layer_outputs(model, batch, need)
            n_forward += len(chunk)
            for n in layers:
                values[n].append(acts[n])
        values = {n: torch.cat(v) for n, v in values.items()}
        for u, rank, (r, c), act, cells in slots:
            occl = values[u.layer][:, u.channel, r, c].double().cpu().numpy()
            field = per_image[u][rank].reshape(-1)
            for g, key in cells:
                field[g] = act - occl[key]
    fields = {}
    for u in units:
        stack = per_image[u]
        count = np.isfinite(stack).sum(0)
        total = np.nansum(stack, axis=0)
        fields[u] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return RFResult(fields=fields, per_image=per_image, peaks=peaks, step=steps, radius=radius,
                    occluder=sizes, n_forward=n_forward, geometry=geometry)


# -- centre-surround index ---------------------------------------------------------------------

def centre_surround_index(field: np.ndarray, centre_radius: float,
                          surround_radius: float | None = None) -> float:
    """Model-free centre-surround index of a field re-centred on its unit's peak:
    ``CSI = -sign(C) * S / |C|`` with ``C`` the mean over the disc of radius
    ``centre_radius`` cells around the centre cell and ``S`` the mean over the annulus out to
    ``surround_radius`` cells (default ``3 * centre_radius``). Positive: the surround has the
    opposite sign of the centre (antagonistic); 1: it is as strong, on average, as the centre;
    negative: the surround has the centre's sign. NaN cells are ignored. Raises
    ``ValueError`` if the centre mean is 0 or either region has no finite cell."""
    f = np.asarray(field, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"field must be 2-D, got shape {f.shape}")
    if centre_radius <= 0:
        raise ValueError("centre_radius must be > 0")
    outer = 3 * centre_radius if surround_radius is None else surround_radius
    if outer <= centre_radius:
        raise ValueError("surround_radius must exceed centre_radius")
    cy, cx = (f.shape[0] - 1) / 2, (f.shape[1] - 1) / 2
    yy, xx = np.mgrid[0:f.shape[0], 0:f.shape[1]]
    r = np.hypot(yy - cy, xx - cx)
    ok = np.isfinite(f)
    centre = f[(r <= centre_radius) & ok]
    ring = f[(r > centre_radius) & (r <= outer) & ok]
    if centre.size == 0 or ring.size == 0:
        raise ValueError("centre disc or surround annulus has no finite cell")
    c = centre.mean()
    if c == 0:
        raise ValueError("centre mean is 0; the index is undefined")
    return float(-np.sign(c) * ring.mean() / abs(c))


# -- active units --------------------------------------------------------------------------------

def active_channels(model: nn.Module, images: torch.Tensor, modules: Mapping[str, nn.Module],
                    batch_size: int = 16) -> dict[str, np.ndarray]:
    """Per layer, a boolean array: which channels have a non-zero activation somewhere in
    ``images`` (dead ReLU units have no peak and no receptive field)."""
    seen: dict[str, torch.Tensor] = {}
    for s in range(0, images.shape[0], batch_size):
        acts = layer_outputs(model, images[s:s + batch_size], modules)
        for n, a in acts.items():
            m = a.abs().amax(dim=(0, 2, 3)) > 0
            seen[n] = m if n not in seen else seen[n] | m
    return {n: v.cpu().numpy() for n, v in seen.items()}
