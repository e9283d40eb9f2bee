"""Surround suppression of units by size tuning, and planted units that check the measurement.

**Size tuning** (the standard probe of surround suppression in visual neuroscience, e.g.
Cavanaugh, Bair & Movshon 2002, applied to CNN units as in the model-physiology literature): a
unit is shown a disc of an image of growing radius, centred on its receptive field, the rest of
the input replaced by a constant fill (0 after normalisation: the ImageNet mean colour); its
response at the cell under the disc's centre is recorded for every radius and for the whole
image. A unit *without* a suppressive surround responds at least as much to a large disc as to
a small one; a unit *with* one peaks at some radius and falls beyond it. The **surround
suppression index** of a tuning curve is ``SSI = (peak - plateau) / peak`` with ``plateau``
the response to the whole image: 0 without suppression, 1 when the surround silences the unit.

Design (:func:`size_tuning`), chosen so that every unit of a layer is measured by the same
forward passes: each image of a pool is probed at ``C`` fixed centres (a grid,
:func:`stimulus_centres`) with ``R`` disc radii; one pass gives every unit's response at the
cell under each centre (the nearest cell of each layer, placed with
:func:`~saliency_utils.analysis.receptive_fields.cell_centres`). A unit's **K best stimuli** are the
``K`` (image, centre) pairs with the largest response at any radius (not the largest
whole-image response, which would select against stimuli whose surround suppresses the unit);
its tuning curve is the mean over them of each stimulus's responses divided by that stimulus's
largest response (each stimulus counts equally), and its SSI is that of the mean curve. The
disc has a soft edge (a linear ramp of ``edge`` pixels), so that its border is not a sharp
contour that would drive edge detectors.

**Planted units** (:class:`PlantedUnits`, :func:`planted_population`): fixed linear filters with
a ReLU, applied to the same images at a deep layer's stride and measured by exactly the same
code, with a known kernel: a difference of Gaussians (luminance centre-surround), an
Itti-Koch-style colour-opponent centre-surround (the DoG on the red-green axis) and a centre
without surround (a Gaussian). :func:`kernel_ssi` gives the SSI of a kernel for a uniform disc
of its preferred colour, the planted "truth". A probe that cannot tell planted surround units
from planted centre-only units at the chapter's settings cannot be used to conclude anything
about real ones.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from saliency_utils.fileio import atomic_write
from saliency_utils.analysis.receptive_fields import (Unit, cell_centres, cell_pixel, layer_outputs,
    nearest_cells)

#: Bump when :func:`size_tuning` changes what it measures (invalidates the on-disk cache).
SIZE_TUNING_VERSION = 1

__all__ = ["SIZE_TUNING_VERSION", "SizeTuning", "stimulus_centres", "disc_masks", "size_tuning",
           "suppression_index", "PlantedUnits", "planted_population", "kernel_ssi", "kernel_field",
           "gradient_fields", "readout_weight", "choose_units"]


def stimulus_centres(shape: tuple[int, int], rows: int, cols: int) -> np.ndarray:
    """``rows x cols`` probe centres (pixels, ``(y, x)``) on a regular grid of an ``H x W``
    input: the centres of a ``rows x cols`` tiling, so that every centre is at least half a
    tile from the border."""
    if rows < 1 or cols < 1:
        raise ValueError(f"need rows, cols >= 1, got {rows}, {cols}")
    h, w = shape
    ys = (np.arange(rows) + 0.5) * h / rows
    xs = (np.arange(cols) + 0.5) * w / cols
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], 1)


def disc_masks(shape: tuple[int, int], centres: np.ndarray, radii: Sequence[float],
               edge: float = 4.0) -> torch.Tensor:
    """``C x R x H x W`` masks: 1 inside a disc of each radius around each centre, 0 outside,
    a linear ramp of ``edge`` pixels across the border (half inside, half outside)."""
    if len(radii) == 0 or min(radii) <= 0:
        raise ValueError(f"radii must be positive, got {list(radii)}")
    if edge < 0:
        raise ValueError("edge must be >= 0")
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.empty((len(centres), len(radii), h, w), np.float32)
    for c, (y, x) in enumerate(centres):
        d = np.hypot(yy - y, xx - x)
        for r, rad in enumerate(radii):
            out[c, r] = (d <= rad) if edge == 0 else np.clip((rad - d) / edge + 0.5, 0, 1)
    return torch.from_numpy(out)


def suppression_index(curve: np.ndarray) -> float:
    """``(max(curve) - curve[-1]) / max(curve)`` of a tuning curve whose last value is the
    response to the whole image; NaN if the curve never rises above 0."""
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim != 1 or c.size < 2:
        raise ValueError(f"a tuning curve needs >= 2 values, got shape {c.shape}")
    if not np.isfinite(c).any():
        return float("nan")
    peak = np.nanmax(c)
    if not np.isfinite(peak) or peak <= 0:
        return float("nan")
    return float((peak - c[-1]) / peak)


@dataclass
class SizeTuning:
    """Size-tuning measurements (see :func:`size_tuning`).

    ``radii``: disc radii in pixels (the responses have one more column: the whole image);
    ``centres``: ``C x 2`` probe centres; ``responses[unit]``: ``K x (R + 1)`` responses to
    the unit's K best stimuli; ``stimuli[unit]``: their ``(image index, centre index)``;
    ``n_forward`` passes in ``seconds``.
    """

    radii: tuple[float, ...]
    centres: np.ndarray
    responses: dict
    stimuli: dict
    n_forward: int
    seconds: float
    settings: dict = field(default_factory=dict)

    @property
    def silent(self) -> list:
        """Units that no stimulus drove (their SSI is NaN)."""
        return [u for u, r in self.responses.items() if not (r > 0).any()]

    def curve(self, unit: Unit) -> np.ndarray:
        """Mean over the unit's stimuli of each stimulus's responses divided by its largest."""
        r = self.responses[unit]
        peak = r.max(axis=1, keepdims=True)
        ok = peak[:, 0] > 0
        if not ok.any():
            return np.full(r.shape[1], np.nan)
        return (r[ok] / peak[ok]).mean(axis=0)

    def ssi(self, unit: Unit) -> float:
        """:func:`suppression_index` of the unit's mean curve."""
        return suppression_index(self.curve(unit))

    def table(self) -> list[dict]:
        """One row per unit: layer, channel, SSI, the radius of the curve's peak (inf: the whole
        image) and the number of stimuli that drove the unit."""
        rows = []
        radii = list(self.radii) + [np.inf]
        for u, r in self.responses.items():
            c = self.curve(u)
            rows.append(dict(layer=u.layer, channel=u.channel, ssi=self.ssi(u),
                             peak_radius=radii[int(np.nanargmax(c))] if np.isfinite(c).any() else np.nan,
                             k=int((r.max(axis=1) > 0).sum())))
        return rows


def size_tuning(model: nn.Module, images: torch.Tensor, modules: Mapping[str, nn.Module],
                units: Sequence[Unit], radii: Sequence[float], k: int = 10,
                grid: tuple[int, int] = (2, 3), edge: float = 4.0, fill: float = 0.0,
                batch_size: int = 32, progress: bool = False,
                cache_dir: str | Path | None = None) -> SizeTuning:
    """Size tuning of ``units`` (see the module docstring) on ``images`` (``N x 3 x H x W``,
    preprocessed): every image is probed at the ``grid`` centres with discs of ``radii``
    pixels, plus once whole. A unit that no stimulus drives (no positive response at any
    probed cell) is kept with NaN SSI (:attr:`SizeTuning.silent`). Raises ``ValueError`` for
    bad shapes, unknown layers or channels, or ``k`` larger than the number of stimuli
    (``N * rows * cols``).

    ``cache_dir``: keep the result there (``size_tuning-<key>.npz``), keyed by the sha256 of
    the model's parameters and buffers, the images, the units and every setting (and
    :data:`SIZE_TUNING_VERSION`); a later call with the same key reads it instead of measuring.
    The file is written under a temporary name and renamed, so a partial file never has the
    final name; a file that cannot be read is measured again and replaced."""
    if cache_dir is not None:
        key = _cache_key(model, images, units, radii, k, grid, edge, fill)
        path = Path(cache_dir) / f"size_tuning-{key}.npz"
        if path.exists():
            try:
                return _load(path)
            except (OSError, ValueError, KeyError) as e:
                print(f"size-tuning cache {path} unreadable ({e}); measuring again")
        out = size_tuning(model, images, modules, units, radii, k, grid, edge, fill, batch_size,
                          progress)
        _save(out, path)
        return out
    t0 = time.perf_counter()
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be N x 3 x H x W, got {tuple(images.shape)}")
    if not units:
        raise ValueError("no units given")
    unknown = sorted({u.layer for u in units} - set(modules))
    if unknown:
        raise ValueError(f"units name layers {unknown} that are not in modules ({', '.join(modules)})")
    radii = tuple(float(r) for r in radii)
    n, (H, W) = images.shape[0], images.shape[2:]
    centres = stimulus_centres((H, W), *grid)
    C, R = len(centres), len(radii)
    if not 1 <= k <= n * C:
        raise ValueError(f"k must be between 1 and the number of stimuli ({n} images x {C} "
                         f"centres = {n * C}), got {k}")
    masks = disc_masks((H, W), centres, radii, edge).to(images.device, images.dtype)
    layers = sorted({u.layer for u in units})
    need = {name: modules[name] for name in layers}
    base = layer_outputs(model, images[:1], need)
    shapes = {name: tuple(a.shape[2:]) for name, a in base.items()}
    for u in units:
        if not 0 <= u.channel < base[u.layer].shape[1]:
            raise ValueError(f"{u}: layer {u.layer} has {base[u.layer].shape[1]} channels")
    cells = {name: nearest_cells(centres, cell_centres(model, images[:1], need[name]), shapes[name])
             for name in layers}
    chans = {name: sorted({u.channel for u in units if u.layer == name}) for name in layers}
    resp = {name: np.empty((n, C, R + 1, len(chans[name])), np.float64) for name in layers}
    iterator = range(n)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="size tuning", unit="image")
    n_forward = 0
    for j in iterator:
        img = images[j]
        stim = torch.cat([(fill + (img - fill) * masks.reshape(C * R, 1, H, W)), img[None]])
        outs = {name: [] for name in layers}
        for s in range(0, stim.shape[0], batch_size):
            acts = layer_outputs(model, stim[s:s + batch_size], need)
            for name in layers:
                outs[name].append(acts[name][:, chans[name]])
        n_forward += stim.shape[0]
        for name in layers:
            a = torch.cat(outs[name]).double().cpu().numpy()  # (C*R + 1) x ch x h x w
            rr, cc = cells[name][:, 0], cells[name][:, 1]
            disc = a[:C * R].reshape(C, R, a.shape[1], a.shape[2], a.shape[3])
            resp[name][j, :, :R] = disc[np.arange(C), :, :, rr, cc]
            resp[name][j, :, R] = a[C * R][:, rr, cc].T
    responses, stimuli = {}, {}
    for u in units:
        r = resp[u.layer][..., chans[u.layer].index(u.channel)]  # n x C x (R+1)
        if not np.isfinite(r).all():
            raise ValueError(f"{u}: non-finite activations")
        best = r.max(axis=2).reshape(-1)
        order = np.lexsort((np.arange(best.size), -best))[:k]
        responses[u] = r.reshape(n * C, R + 1)[order]
        stimuli[u] = [(int(i // C), int(i % C)) for i in order]
    return SizeTuning(radii=radii, centres=centres, responses=responses, stimuli=stimuli,
                      n_forward=n_forward, seconds=time.perf_counter() - t0,
                      settings=dict(k=k, grid=tuple(grid), edge=edge, fill=fill, size=(H, W)))


def _cache_key(model, images, units, radii, k, grid, edge, fill) -> str:
    h = hashlib.sha256()
    for name, t in list(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(dict(units=[str(u) for u in units], radii=[float(r) for r in radii], k=k,
                             grid=list(grid), edge=edge, fill=fill, version=SIZE_TUNING_VERSION,
                             shape=list(images.shape))).encode())
    return h.hexdigest()[:20]


def _save(result: SizeTuning, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    units = list(result.responses)
    meta = dict(radii=list(result.radii), units=[[u.layer, u.channel] for u in units],
                stimuli=[result.stimuli[u] for u in units], n_forward=result.n_forward,
                seconds=result.seconds, settings={k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in result.settings.items()})
    atomic_write(path, lambda f: np.savez(f, responses=np.stack([result.responses[u] for u in units]),
                                          centres=result.centres, meta=np.array(json.dumps(meta))))


def _load(path: Path) -> SizeTuning:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        resp, centres = z["responses"], z["centres"]
    units = [Unit(layer, int(c)) for layer, c in meta["units"]]
    if resp.shape[0] != len(units):
        raise ValueError("responses and units do not match")
    return SizeTuning(radii=tuple(meta["radii"]), centres=centres,
                      responses={u: resp[i] for i, u in enumerate(units)},
                      stimuli={u: [tuple(s) for s in meta["stimuli"][i]] for i, u in enumerate(units)},
                      n_forward=meta["n_forward"], seconds=meta["seconds"],
                      settings={k: tuple(v) if isinstance(v, list) else v
                                for k, v in meta["settings"].items()})


def gradient_fields(model: nn.Module, images: torch.Tensor, modules: Mapping[str, nn.Module],
                    tuning: SizeTuning, units: Sequence[Unit], half: int,
                    batch_size: int = 8) -> dict:
    """Linearised receptive fields: for each unit, the gradient of its response (at the cell
    under the centre of its best size-tuning stimulus) with respect to that whole image, in a
    ``(2 half + 1)^2`` pixel window around the cell's centre in the input, projected on the
    gradient's colour at the centre (the mean gradient over a 3x3 patch there), so that a
    colour-opponent surround shows with the opposite sign. ``tuning``: the
    :func:`size_tuning` result of the same model and images. Units whose best stimulus does
    not drive them, or whose gradient is zero at the centre, get ``None``. Several units share
    one backward pass (each sample of the batch is one unit's image, and the summed responses
    do not mix samples)."""
    need = {n: modules[n] for n in sorted({u.layer for u in units})}
    H, W = images.shape[2:]
    geo = {n: cell_centres(model, images[:1], m) for n, m in need.items()}
    shapes = {n: tuple(a.shape[2:]) for n, a in layer_outputs(model, images[:1], need).items()}
    jobs = []
    for u in units:
        if u not in tuning.responses:
            raise ValueError(f"{u} was not measured in the size tuning given")
        if not (tuning.responses[u][0] > 0).any():
            continue
        j, c = tuning.stimuli[u][0]
        r, cc = nearest_cells(tuning.centres[c], geo[u.layer], shapes[u.layer])[0]
        cy, cx = cell_pixel((r, cc), geo[u.layer], shapes[u.layer])
        jobs.append((u, j, int(round(cy)), int(round(cx)), int(r), int(cc)))
    out: dict = {u: None for u in units}
    for s in range(0, len(jobs), batch_size):
        chunk = jobs[s:s + batch_size]
        x = images[[j for _, j, *_ in chunk]].detach().clone().requires_grad_(True)
        acts = layer_outputs(model, x, need, grad=True)
        total = sum(acts[u.layer][b, u.channel, r, cc] for b, (u, _, _, _, r, cc) in enumerate(chunk))
        (g,) = torch.autograd.grad(total, x)
        g = g.double().cpu().numpy()
        for b, (u, _, cy, cx, _, _) in enumerate(chunk):
            pad = np.pad(g[b], ((0, 0), (half, half), (half, half)), constant_values=np.nan)
            win = pad[:, cy:cy + 2 * half + 1, cx:cx + 2 * half + 1]
            colour = np.nanmean(win[:, half - 1:half + 2, half - 1:half + 2], axis=(1, 2))
            norm = np.linalg.norm(colour)
            if not np.isfinite(norm) or norm == 0:
                continue
            out[u] = np.tensordot(colour / norm, win, axes=1)
    return out


# -- planted units -------------------------------------------------------------------------------

#: Colour axes of planted kernels in the normalised input: luminance and red-green opponent.
COLOUR_AXES = {"luminance": np.array([1.0, 1.0, 1.0]) / np.sqrt(3),
               "red-green": np.array([1.0, -1.0, 0.0]) / np.sqrt(2)}


def _gauss(size: int, sigma: float) -> np.ndarray:
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size] - c
    g = np.exp(-(yy ** 2 + xx ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def planted_population(n: int, kind: str, seed: int = 0, sigma_range=(2.0, 5.0),
                       surround_ratio=3.0, strength_range=(0.5, 1.0), sigma_scale: float = 1.0,
                       size: int | None = None) -> tuple[np.ndarray, list[dict]]:
    """``n`` planted kernels (``n x 3 x S x S``, S odd) of one ``kind`` and their parameters.

    ``kind``: ``"dog"`` (luminance centre minus a surround ``surround_ratio`` times wider,
    carrying ``strength`` times the centre's volume), ``"opponent"`` (the same DoG on the
    red-green axis: red-on centre, green-on surround, as in Itti, Koch & Niebur's
    colour-opponent maps) or ``"centre"`` (the centre Gaussian alone). The centre widths and
    strengths are drawn (seeded) uniformly from the ranges, so ``"centre"`` and ``"dog"``
    populations with the same seed have the same centres; ``sigma_scale`` multiplies every
    drawn width (a change that is not a surround, for a null control). All kernels share one
    size (odd): by default 2.5 surround widths of the widest possible on each side (about 96 %
    of its volume); pass ``size`` to give several populations the same."""
    if kind not in ("dog", "opponent", "centre"):
        raise ValueError(f"unknown kind {kind!r}; choose dog, opponent or centre")
    if n < 1:
        raise ValueError("n must be >= 1")
    rng = np.random.default_rng(seed)
    sig = rng.uniform(*sigma_range, n) * sigma_scale
    strength = rng.uniform(*strength_range, n)
    if size is None:
        size = 2 * int(np.ceil(2.5 * surround_ratio * sigma_range[1] * max(sigma_scale, 1.0))) + 1
    if size < 3 or size % 2 == 0:
        raise ValueError(f"size must be odd and >= 3, got {size}")
    axis = COLOUR_AXES["red-green" if kind == "opponent" else "luminance"]
    kernels = np.empty((n, 3, size, size), np.float32)
    params = []
    for i in range(n):
        centre = _gauss(size, sig[i])
        s = 0.0 if kind == "centre" else strength[i]
        spatial = centre - s * _gauss(size, surround_ratio * sig[i])
        kernels[i] = axis[:, None, None] * spatial[None]
        params.append(dict(kind=kind, sigma=float(sig[i]), strength=float(s)))
    return kernels, params


def _spatial(kernel: np.ndarray) -> np.ndarray:
    """A planted kernel projected on its colour axis (the colour of its centre pixel)."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 3 or k.shape[0] != 3:
        raise ValueError(f"a kernel must be 3 x S x S, got shape {k.shape}")
    colour = k[:, k.shape[1] // 2, k.shape[2] // 2]
    if np.allclose(colour, 0):
        raise ValueError("the kernel's centre pixel is 0; no preferred colour")
    return np.tensordot(colour / np.linalg.norm(colour), k, axes=1)


def kernel_field(kernel: np.ndarray, radius: int, step: int) -> np.ndarray:
    """A planted kernel (projected on its colour axis) sampled on the ``(2 radius + 1)^2`` grid
    of spacing ``step`` pixels around its centre, the grid of
    :func:`~saliency_utils.analysis.receptive_fields.empirical_rfs`; 0 outside the kernel."""
    spatial = _spatial(kernel)
    c = spatial.shape[0] // 2
    offs = np.arange(-radius, radius + 1) * step + c
    out = np.zeros((offs.size, offs.size))
    ok = (offs >= 0) & (offs < spatial.shape[0])
    out[np.ix_(ok, ok)] = spatial[np.ix_(offs[ok], offs[ok])]
    return out


def kernel_ssi(kernel: np.ndarray, radii: Sequence[float]) -> float:
    """SSI of a planted linear unit for a uniform disc of its preferred colour (that of its
    centre pixel): its response to a disc of radius r is the kernel's volume (projected on that
    colour) within r; the last point is the whole kernel."""
    spatial = _spatial(kernel)
    c = (spatial.shape[0] - 1) / 2
    yy, xx = np.mgrid[0:spatial.shape[0], 0:spatial.shape[1]]
    d = np.hypot(yy - c, xx - c)
    curve = [spatial[d <= r].sum() for r in radii] + [spatial.sum()]
    return suppression_index(np.array(curve))


class PlantedUnits(nn.Module):
    """Planted linear units with a ReLU: ``relu(conv(x, kernels, stride))`` (zero padding,
    kernel centred on each output cell), one channel per kernel. Measured like a layer of a
    real network: ``{"planted": self}`` as the modules."""

    def __init__(self, kernels: np.ndarray, stride: int):
        super().__init__()
        k = torch.as_tensor(np.asarray(kernels, dtype=np.float32))
        if k.ndim != 4 or k.shape[1] != 3 or k.shape[2] != k.shape[3] or k.shape[2] % 2 == 0:
            raise ValueError(f"kernels must be n x 3 x S x S with S odd, got {tuple(k.shape)}")
        self.conv = nn.Conv2d(3, k.shape[0], k.shape[2], stride=stride, padding=k.shape[2] // 2,
                              bias=False)
        self.conv.weight.data.copy_(k)
        self.conv.weight.requires_grad_(False)
        self.act = nn.ReLU()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


# -- which units -------------------------------------------------------------------------------

def readout_weight(model, layer: str) -> np.ndarray:
    """Per channel of encoder ``layer`` of a :class:`~saliency_utils.models.saliency_model.SaliencyModel`,
    the L2 norm of the readout's first 1x1 weights that read it (how much the readout relies on
    the channel, up to the channel's scale). Raises ``ValueError`` for a layer the readout does
    not read."""
    if layer not in model.readout_layers:
        raise ValueError(f"the readout does not read {layer}; it reads {', '.join(model.readout_layers)}")
    with torch.no_grad():
        feats = model.features(torch.zeros(1, 3, 64, 64, device=model.device))
    sizes = [f.shape[1] for f in feats]
    i = model.readout_layers.index(layer)
    start = sum(sizes[:i])
    w = model.readout[0].weight.detach().double().cpu().numpy()[:, start:start + sizes[i], 0, 0]
    return np.linalg.norm(w, axis=0)


def choose_units(active: Sequence[Mapping[str, np.ndarray]], layer: str, n: int,
                 weight: np.ndarray | None = None, seed: int = 0) -> list[Unit]:
    """``n`` channels of ``layer`` among those active in every network of ``active`` (dicts
    layer -> boolean array, :func:`~saliency_utils.analysis.receptive_fields.active_channels`): the
    ``n // 2`` with the largest readout ``weight`` (when given) and the rest drawn at random
    (seeded) among the others; all of them if there are fewer than ``n``."""
    idx = np.flatnonzero(np.logical_and.reduce([a[layer] for a in active]))
    if idx.size == 0:
        raise ValueError(f"layer {layer} has no channel active in every network")
    if idx.size <= n:
        return [Unit(layer, int(c)) for c in idx]
    top = np.array([], int)
    if weight is not None:
        top = idx[np.argsort(-weight[idx], kind="stable")[: n // 2]]
    rest = np.setdiff1d(idx, top)
    rng = np.random.default_rng(seed)
    pick = rng.choice(rest, size=n - top.size, replace=False)
    return [Unit(layer, int(c)) for c in np.sort(np.concatenate([top, pick]))]
