"""Context-aware saliency (Goferman, Zelnik-Manor & Tal, CVPR 2010 / TPAMI 2012), vectorised.

A patch is salient when it is *distinct*: unlike the patches most similar to it, especially the
nearby ones. For the patch ``p_i`` around pixel ``i`` (all in CIE L*a*b*, each channel scaled to
[0, 1] over the image, as in the widely used re-implementation by Tsai & Chang):

* ``d(p_i, q) = d_colour(p_i, q) / (1 + c * d_position(p_i, q))``: ``d_colour`` the Euclidean
  distance of the vectorised ``patch x patch`` patches, divided by the largest possible one,
  ``sqrt(channels * patch^2)`` (so it lies in [0, 1]); ``d_position`` the distance of the patch centres,
  divided by the larger image side (positions of all resolutions live in the same [0, 1]
  frame);
* ``S_i^r = 1 - exp(-(1/K) sum_{k=1..K} d(p_i^r, q_k))`` over the ``K`` reference patches with
  the smallest ``d``, searched at the resolutions ``r * {1, 1/2, 1/4}`` (``ref_resolutions``);
* the map of each scale ``r`` in ``scales`` is min-max scaled to [0, 1], resized back and the
  scales are averaged: ``S_bar``;
* *immediate context*: pixels with ``S_bar >= attention * max(S_bar)`` are the attended foci;
  every pixel is weighted by ``1 - d_foci``, its distance to the nearest focus divided by the
  largest such distance in the image, which keeps salient areas near the foci.

The image is first resized so that its longer side is ``max_side`` (250 px in the paper).
Defaults are the paper's: ``patch = 7``, ``K = 64``, ``c = 3``, scales ``{1, 0.8, 0.5, 0.3}``,
attention threshold 0.8; reference patches on a grid of stride 3 (about the paper's 50 %
overlap of 7 x 7 patches), every pixel a query (``query_stride = 1``).

**Speed knobs (documented deviations when used):** ``query_stride > 1`` computes ``S^r`` on a
grid of every ``query_stride``-th pixel and interpolates bilinearly; ``ref_stride > 3`` samples
fewer reference patches. The distance search is one matrix product per block of queries and a
partial sort (``torch.topk``) for the ``K`` nearest, in float32 with torch (CPU threads, or a
GPU with ``device``). A strided query grid can alias with periodic textures whose period is
close to the stride; on relevance heatmaps the chapter measures the agreement with the dense
computation.

Not implemented: the TPAMI version's optional face and centre priors (not used by Li et al.);
boundary patches are formed with reflected borders (the MATLAB re-implementation leaves a
zero border).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

__all__ = ["context_aware_saliency", "salient_relevance_maps", "PAPER_PARAMETERS", "CA_VERSION"]

#: Bumped when the map's computation changes (part of the cache key of
#: :func:`salient_relevance_maps`).
CA_VERSION = 1

PAPER_PARAMETERS = dict(max_side=250, patch=7, k=64, c=3.0, scales=(1.0, 0.8, 0.5, 0.3),
                        ref_resolutions=(1.0, 0.5, 0.25), ref_stride=3, query_stride=1,
                        attention=0.8)

_QUERY_BLOCK = 2048  # queries per distance block (memory: block x references x 4 bytes)


def _to_features(image) -> np.ndarray:
    """``H x W x 3`` RGB (uint8, or float in [0, 1]) -> L*a*b*; ``H x W`` -> one channel."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"image must be H x W (grey) or H x W x 3 (RGB), got shape {a.shape}")
    if a.size == 0:
        raise ValueError("image is empty")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"image must be numeric, got dtype {a.dtype}")
    f = a.astype(np.float32)
    if not np.all(np.isfinite(f)):
        raise ValueError("image contains NaN or inf")
    if a.ndim == 2:
        return f[..., None]
    if np.issubdtype(a.dtype, np.integer):
        if f.min() < 0 or f.max() > 255:
            raise ValueError("an integer RGB image must have values in 0..255")
        f = f / 255.0
    elif f.min() < 0 or f.max() > 1:
        raise ValueError("a float RGB image must have values in [0, 1]")
    return cv2.cvtColor(f, cv2.COLOR_RGB2LAB)  # float input: L in [0, 100], a, b signed


def _resize(a: np.ndarray, shape_hw) -> np.ndarray:
    h, w = int(shape_hw[0]), int(shape_hw[1])
    if a.shape[:2] == (h, w):
        return a
    out = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    return out[..., None] if a.ndim == 3 and out.ndim == 2 else out


def _patches(img: np.ndarray, patch: int, rows, cols, pad: bool) -> np.ndarray:
    """Vectorised ``patch x patch x C`` patches centred at ``rows x cols`` (grid) of ``img``."""
    half = patch // 2
    src = np.pad(img, ((half, half), (half, half), (0, 0)), mode="reflect") if pad else img
    off = half if pad else 0
    win = sliding_window_view(src, (patch, patch), axis=(0, 1))  # H' x W' x C x p x p
    sel = win[np.asarray(rows)[:, None] - half + off, np.asarray(cols)[None, :] - half + off]
    return np.ascontiguousarray(sel.reshape(len(rows) * len(cols), -1), dtype=np.float32)


def _scale_map(img: np.ndarray, patch: int, k: int, c: float, ref_imgs, ref_stride: int,
               query_stride: int, device=None) -> np.ndarray:
    """``S^r`` on the grid of query pixels of ``img`` (one scale), shape ``(h_q, w_q)``.

    The distances are computed with torch (float32), in blocks of queries, on ``device``
    (default: CPU)."""

    h, w = img.shape[:2]
    L = float(max(h, w))
    qr = np.arange(0, h, query_stride)
    qc = np.arange(0, w, query_stride)
    q = _patches(img, patch, qr, qc, pad=True)
    qpos = np.stack(np.meshgrid((qr + 0.5) / L, (qc + 0.5) / L, indexing="ij"), -1).reshape(-1, 2)
    refs, rpos = [], []
    half = patch // 2
    for J in ref_imgs:
        hj, wj = J.shape[:2]
        rr = np.arange(half, hj - half, ref_stride)
        rc = np.arange(half, wj - half, ref_stride)
        if len(rr) == 0 or len(rc) == 0:
            continue
        Lj = float(max(hj, wj))
        refs.append(_patches(J, patch, rr, rc, pad=False))
        rpos.append(np.stack(np.meshgrid((rr + 0.5) / Lj, (rc + 0.5) / Lj, indexing="ij"),
                             -1).reshape(-1, 2))
    out = _nearest_distances(q, qpos, np.concatenate(refs), np.concatenate(rpos), k, c, device)
    return (1.0 - np.exp(-out)).reshape(len(qr), len(qc))


def _nearest_distances(q: np.ndarray, qpos: np.ndarray, refs: np.ndarray, rpos: np.ndarray,
                       k: int, c: float, device=None) -> np.ndarray:
    """Per query patch, the mean of its ``k`` smallest position-weighted distances to the
    reference patches: the search that :func:`_scale_map` sends to ``device`` (the only part of
    an SR map that runs there; the benchmarks time it apart from the host-side work)."""
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    P = torch.from_numpy(refs).to(dev)
    Ppos = torch.from_numpy(rpos.astype(np.float32)).to(dev)
    Q = torch.from_numpy(q).to(dev)
    Qpos = torch.from_numpy(qpos.astype(np.float32)).to(dev)
    kk = min(k, P.shape[0])
    pn = (P * P).sum(1)
    dnorm = float(np.sqrt(q.shape[1]))  # largest possible distance: channels in [0, 1]
    out = torch.empty(Q.shape[0], dtype=torch.float64, device=dev)
    with torch.no_grad():
        for s in range(0, Q.shape[0], _QUERY_BLOCK):
            qb = Q[s:s + _QUERY_BLOCK]
            d = torch.addmm(pn[None, :], qb, P.T, alpha=-2.0).add_((qb * qb).sum(1, keepdim=True))
            d.clamp_(min=0).sqrt_().div_(dnorm)
            d.div_(torch.cdist(Qpos[s:s + _QUERY_BLOCK], Ppos).mul_(c).add_(1.0))
            near = torch.topk(d, kk, dim=1, largest=False, sorted=False).values
            out[s:s + _QUERY_BLOCK] = near.double().mean(1)
    return out.cpu().numpy()


def context_aware_saliency(image, *, max_side: int = 250, patch: int = 7, k: int = 64,
                           c: float = 3.0, scales: Sequence[float] = (1.0, 0.8, 0.5, 0.3),
                           ref_resolutions: Sequence[float] = (1.0, 0.5, 0.25),
                           ref_stride: int = 3, query_stride: int = 1,
                           attention: float | None = 0.8, device=None) -> np.ndarray:
    """Context-aware saliency map of ``image`` (module docstring), same ``H x W`` as the
    input, float64 in [0, 1] (maximum 1).

    ``image``: ``H x W x 3`` RGB (uint8 0..255, or float in [0, 1]), converted to L*a*b*; or a
    2-D grey / relevance map used as a single channel. ``attention=None`` skips the
    immediate-context step (returns ``S_bar``). ``device``: torch device for the distance
    search (default CPU; a GPU makes the dense paper settings affordable). Raises ``ValueError``
    for a constant image (no patch is distinct), images too small for one patch, bad shapes or parameters.
    """
    for name, v in (("max_side", max_side), ("k", k), ("ref_stride", ref_stride),
                    ("query_stride", query_stride)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    if patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be odd and positive, got {patch}")
    if c < 0:
        raise ValueError(f"c must be >= 0, got {c}")
    if not scales or any(not 0 < s <= 1 for s in scales):
        raise ValueError(f"scales must be in (0, 1], got {scales}")
    if not ref_resolutions or any(not 0 < s <= 1 for s in ref_resolutions):
        raise ValueError(f"ref_resolutions must be in (0, 1], got {ref_resolutions}")
    if attention is not None and not 0 < attention < 1:
        raise ValueError(f"attention must be in (0, 1) or None, got {attention}")
    feat = _to_features(image)
    H, W = feat.shape[:2]
    if min(H, W) < patch:
        raise ValueError(f"image too small: {H}x{W} px is smaller than one {patch}x{patch} patch")
    f = max_side / max(H, W)
    h0, w0 = max(1, round(H * f)), max(1, round(W * f))
    base = _resize(feat, (h0, w0))
    lo = base.reshape(-1, base.shape[2]).min(0)
    span = base.reshape(-1, base.shape[2]).max(0) - lo
    if np.all(span <= 1e-6 * np.maximum(1.0, np.abs(lo))):
        raise ValueError("the image is constant: no patch is distinct, saliency is undefined")
    base = ((base - lo) / np.where(span > 0, span, 1.0)).astype(np.float32)
    if min(h0, w0) * min(scales) < patch:
        raise ValueError(f"image too small: at scale {min(scales)} of {h0}x{w0} px it is "
                         f"smaller than one {patch}x{patch} patch")
    total = np.zeros((h0, w0))
    for r in scales:
        hr, wr = max(patch, round(h0 * r)), max(patch, round(w0 * r))
        img = _resize(base, (hr, wr))
        refs = [_resize(base, (max(1, round(h0 * r * q)), max(1, round(w0 * r * q))))
                for q in ref_resolutions]
        refs = [J for J in refs if min(J.shape[:2]) >= patch]
        s = _scale_map(img, patch, k, c, refs, ref_stride, query_stride, device)
        if query_stride > 1:  # grid values sit at pixels 0, qs, 2 qs ...: map back to (hr, wr)
            s = _grid_to_image(s, query_stride, (hr, wr))
        s = s - s.min()
        if s.max() > 0:
            s = s / s.max()
        total += _resize(s.astype(np.float32), (h0, w0))
    sbar = total / len(scales)
    if sbar.max() <= 0:
        raise ValueError("no patch is distinct at any scale: saliency is undefined")
    sbar = sbar / sbar.max()
    out = sbar
    if attention is not None:
        foci = sbar >= attention
        dist = ndimage.distance_transform_edt(~foci)
        if dist.max() > 0:
            dist = dist / dist.max()
        out = sbar * (1.0 - dist)
    out = _resize(out.astype(np.float32), (H, W)).astype(np.float64)
    out = np.clip(out, 0, None)
    return out / out.max()


def _grid_to_image(s: np.ndarray, stride: int, shape_hw) -> np.ndarray:
    """Bilinear interpolation of values known at pixels ``0, stride, 2 stride, ...``."""
    h, w = shape_hw
    ry = np.clip(np.arange(h) / stride, 0, s.shape[0] - 1)
    rx = np.clip(np.arange(w) / stride, 0, s.shape[1] - 1)
    return ndimage.map_coordinates(s, np.meshgrid(ry, rx, indexing="ij"), order=1, mode="nearest")


def _map_key(a: np.ndarray, params: dict) -> str:
    import hashlib
    import json

    import torch

    merged = {**PAPER_PARAMETERS, **{k: v for k, v in params.items() if k != "device"}}
    h = hashlib.sha256(json.dumps({"params": {k: repr(v) for k, v in sorted(merged.items())},
                                   "device": str(params.get("device") or "cpu"),
                                   "shape": list(a.shape), "dtype": str(a.dtype),
                                   "version": CA_VERSION, "torch": torch.__version__.split("+")[0]},
                                  sort_keys=True).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:24]


def salient_relevance_maps(heatmaps, workers: int = 1, cache=None, **params) -> np.ndarray:
    """SR maps (Li et al.): context-aware saliency of each relevance heatmap.

    ``heatmaps``: ``N x H x W x 3`` uint8 (e.g. :func:`saliency_utils.explain.lrp.authors_heatmap`) or
    ``N x H x W`` maps; ``params``: :func:`context_aware_saliency` keywords. Returns
    ``N x H x W`` float32. ``workers > 1`` runs images in threads (the heavy parts release the
    GIL). ``cache``: a folder; each map is stored there as ``<key>.npy``, keyed by its heatmap
    (values, shape, type), every parameter (defaults filled in), the device, torch's version
    and :data:`CA_VERSION`, and read back on the next call (an unreadable or mis-shaped file is
    recomputed and replaced): for the dense settings, which cost seconds per map on a CPU."""
    hm = np.asarray(heatmaps)
    if hm.ndim not in (3, 4) or len(hm) == 0:
        raise ValueError(f"heatmaps must be N x H x W (x 3) with N >= 1, got shape {hm.shape}")
    compute = lambda a: context_aware_saliency(a, **params).astype(np.float32)
    run = compute
    if cache is not None:
        from pathlib import Path

        from saliency_utils.fileio import cached_array

        folder = Path(cache)

        def run(a):
            return cached_array(folder / f"{_map_key(a, params)}.npy", lambda: compute(a),
                                lambda m: m.shape == a.shape[:2] and m.dtype == np.float32)
    if workers > 1 and len(hm) > 1:
        with ThreadPoolExecutor(workers) as pool:
            return np.stack(list(pool.map(run, hm)))
    return np.stack([run(a) for a in hm])
