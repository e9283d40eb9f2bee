"""Scoring explanation maps: compactness, all localisation scores of one map, and faithfulness
(deletion / insertion curves). The box scores themselves (pointing game, energy in boxes, IoU)
are in :mod:`saliency_utils.evaluate.boxes`; maps are checked with
:func:`saliency_utils.evaluate.maps.check_saliency_map`.

* :func:`score_map`: every localisation score of one map against its image's boxes.
* :func:`top_fraction_components`: how many separate 8-connected regions the top ``q`` of a
  map's pixels form, and the share of them in the largest one (pixel-sparse vs region-like).
* :func:`deletion_insertion` (Petsiuk, Das & Saenko 2018, RISE): pixels are removed from the
  image (deletion; replaced by a baseline image) or added to a baseline (insertion) in order of
  decreasing saliency, in ``steps`` equal steps; the class probability (softmax) is recorded
  after each step, and the area under each curve (trapezoid, x in [0, 1]) summarises it. A
  faithful map has a low deletion AUC (the score drops fast) and a high insertion AUC. The
  baselines are ours to state: by default the zero tensor in the network's normalised input
  space (the mean colour) for deletion and a Gaussian-blurred copy of the image (sigma 5 px,
  as RISE's code) for insertion. Ties in a map are broken by a seeded random order.
  ``extra_deletions`` adds deletion curves towards other baselines in the same batches (e.g.
  the blurred copy: removing pixels by blurring them, so that the removed region keeps its low
  frequencies and fewer sharp edges are created than by a flat colour).
* :func:`curves`: deletion and insertion curves of several maps over many images, the
  deletion baselines named (``"mean"``, ``"blur"``), each image's curves cached on disk keyed by
  the weights, the image, the class, the maps and every setting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from scipy import ndimage

from saliency_utils.evaluate.boxes import (area_in_boxes, energy_in_boxes, full_image_box, miss_box,
    pointing_game, uniform_pointing)
from saliency_utils.evaluate.localisation import threshold_box
from saliency_utils.evaluate.maps import UniformMap, check_saliency_map

__all__ = ["top_fraction_components", "pixel_order", "blurred_baseline", "DeletionInsertion",
           "deletion_insertion", "Curves", "curves", "CURVES_VERSION", "DELETION_BASELINES",
           "score_map"]

#: Bumped when the curves' computation changes (part of :func:`curves`' cache key).
CURVES_VERSION = 1
#: The named deletion baselines of :func:`curves`: the zero tensor in the network's normalised
#: input space (the mean colour), and the insertion curve's start image (a Gaussian blur, sigma
#: 5 px, kernel 11: :func:`blurred_baseline`).
DELETION_BASELINES = ("mean", "blur")


def top_fraction_components(saliency_map, q: float = 0.1) -> tuple[int, float]:
    """``(number of 8-connected regions, share of the selected pixels in the largest)`` of the
    ``q`` fraction of pixels with the highest values (ties at the cut broken arbitrarily but
    deterministically)."""
    s = check_saliency_map(saliency_map)
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    n_sel = max(1, int(round(q * s.size)))
    sel = np.zeros(s.size, bool)
    sel[np.argpartition(-s.ravel(), n_sel - 1)[:n_sel]] = True
    labels, n = ndimage.label(sel.reshape(s.shape), structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return int(n), float(sizes.max() / n_sel)


def pixel_order(saliency_map, seed: int = 0) -> np.ndarray:
    """Rank of every pixel (0 = most salient) with ties broken by a seeded random order."""
    s = check_saliency_map(saliency_map)
    tie = np.random.default_rng(seed).random(s.size)
    order = np.lexsort((tie, -s.ravel()))
    rank = np.empty(s.size, np.int64)
    rank[order] = np.arange(s.size)
    return rank.reshape(s.shape)


def blurred_baseline(x: torch.Tensor, sigma: float = 5.0, kernel: int = 11) -> torch.Tensor:
    """Gaussian blur of ``N x C x H x W`` (RISE's insertion substrate: kernel 11, sigma 5),
    reflect padding, channels separately."""
    if kernel % 2 == 0 or kernel < 1 or sigma <= 0:
        raise ValueError(f"need an odd kernel size and sigma > 0, got {kernel}, {sigma}")
    ax = torch.arange(kernel, dtype=x.dtype, device=x.device) - kernel // 2
    g = torch.exp(-0.5 * (ax / sigma) ** 2)
    g = g / g.sum()
    c = x.shape[1]
    xp = torch.nn.functional.pad(x, (kernel // 2,) * 4, mode="reflect")
    y = torch.nn.functional.conv2d(xp, g.view(1, 1, 1, -1).expand(c, 1, 1, kernel), groups=c)
    return torch.nn.functional.conv2d(y, g.view(1, 1, -1, 1).expand(c, 1, kernel, 1), groups=c)


@dataclass
class DeletionInsertion:
    """Curves of one image: ``deletion[m]`` / ``insertion[m]`` (``steps + 1`` probabilities,
    from 0 to all pixels changed) for each map name ``m``; ``fractions`` the x values."""

    fractions: np.ndarray
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    #: ``{baseline name: {map: curve}}``: deletion towards the ``extra_deletions`` baselines
    extra_deletion: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def auc(self) -> dict[str, tuple[float, float]]:
        """``{map: (deletion AUC, insertion AUC)}`` by the trapezoid rule on [0, 1]."""
        return {m: (float(np.trapezoid(self.deletion[m], self.fractions)),
                    float(np.trapezoid(self.insertion[m], self.fractions)))
                for m in self.deletion}

    def extra_auc(self, baseline: str) -> dict[str, float]:
        """``{map: deletion AUC}`` towards the extra deletion baseline ``baseline``."""
        if baseline not in self.extra_deletion:
            raise KeyError(f"no extra deletion baseline {baseline!r}; have "
                           f"{sorted(self.extra_deletion)}")
        return {m: float(np.trapezoid(c, self.fractions))
                for m, c in self.extra_deletion[baseline].items()}


@torch.no_grad()
def deletion_insertion(model: torch.nn.Module, x: torch.Tensor, target: int,
                       maps: Mapping[str, np.ndarray], steps: int = 16,
                       deletion_baseline: torch.Tensor | None = None,
                       insertion_baseline: torch.Tensor | None = None,
                       batch_size: int = 64, seed: int = 0,
                       prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
                       extra_deletions: Mapping[str, torch.Tensor] | None = None,
                       ) -> DeletionInsertion:
    """Deletion and insertion curves of several maps for **one** image (module docstring).

    ``x``: ``1 x C x H x W`` normalised input; ``maps[name]``: ``H x W`` (the input's size);
    ``target``: the class whose probability is tracked. The start and end images are shared
    by all maps and computed once; the other images go through the model in batches.
    ``prob(logits) -> N`` overrides the softmax probability of ``target``.
    ``extra_deletions``: ``{name: baseline}`` (each ``1 x C x H x W``), further deletion curves
    in the same order of pixels (``DeletionInsertion.extra_deletion``).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be one image 1 x C x H x W, got {tuple(getattr(x, 'shape', ()))}")
    if steps < 1 or int(steps) != steps:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if not maps:
        raise ValueError("no maps given")
    if model.training:
        raise ValueError("put the model in eval mode (model.eval())")
    h, w = x.shape[2:]
    ranks = {}
    for name, m in maps.items():
        if np.shape(m) != (h, w):
            raise ValueError(f"map {name!r} has shape {np.shape(m)}, the input is {h}x{w}")
        ranks[name] = torch.as_tensor(pixel_order(m, seed), device=x.device)
    del_base = torch.zeros_like(x) if deletion_baseline is None else deletion_baseline
    ins_base = blurred_baseline(x) if insertion_baseline is None else insertion_baseline
    extra = dict(extra_deletions or {})
    for nm, b in (("deletion_baseline", del_base), ("insertion_baseline", ins_base),
                  *((f"extra deletion baseline {k!r}", v) for k, v in extra.items())):
        if b.shape != x.shape:
            raise ValueError(f"{nm} must have the input's shape {tuple(x.shape)}, got {tuple(b.shape)}")
    counts = np.round(np.linspace(0, h * w, steps + 1)).astype(np.int64)
    if prob is None:
        prob = lambda logits: torch.softmax(logits.float(), 1)[:, target]

    # images: [x, baseline_del, ins_base, extra baselines...] then for each map the inner steps
    # (1..steps-1): deletion, insertion, the extra deletions
    ends = [b[0] for b in extra.values()]
    jobs = [x[0], del_base[0], ins_base[0], *ends]
    for name in maps:
        r = ranks[name]
        for k in counts[1:-1]:
            m = (r < int(k)).to(x.dtype)
            jobs.append(x[0] * (1 - m) + del_base[0] * m)
            jobs.append(ins_base[0] * (1 - m) + x[0] * m)
            jobs.extend(x[0] * (1 - m) + e * m for e in ends)
    out = []
    for i in range(0, len(jobs), batch_size):
        out.append(prob(model(torch.stack(jobs[i:i + batch_size]))).double().cpu())
    p = torch.cat(out).numpy()
    head = 3 + len(ends)
    p_x, p_del_end, p_ins_start, p_ends = p[0], p[1], p[2], p[3:head]
    inner = p[head:].reshape(len(maps), steps - 1, 2 + len(ends))
    dele, ins = {}, {}
    more = {k: {} for k in extra}
    for j, name in enumerate(maps):
        dele[name] = np.concatenate([[p_x], inner[j, :, 0], [p_del_end]])
        ins[name] = np.concatenate([[p_ins_start], inner[j, :, 1], [p_x]])
        for e, k in enumerate(extra):
            more[k][name] = np.concatenate([[p_x], inner[j, :, 2 + e], [p_ends[e]]])
    return DeletionInsertion(counts / (h * w), dele, ins, more)


@dataclass
class Curves:
    """Deletion and insertion curves of several maps over ``n`` images (:func:`curves`).

    ``curves[curve][map]``: ``n x (steps + 1)`` probabilities, for the curves
    ``"deletion (mean)"``, ``"deletion (blur)"`` (one per deletion baseline asked for) and
    ``"insertion"``; ``fractions``: the x values (share of pixels changed); ``n_cached``: the
    images whose curves were read back from the disk cache."""

    fractions: np.ndarray
    curves: dict[str, dict[str, np.ndarray]]
    n_cached: int = 0

    def auc(self, curve: str) -> dict[str, np.ndarray]:
        """``{map: per-image AUC}`` of one curve (trapezoid rule on [0, 1])."""
        if curve not in self.curves:
            raise KeyError(f"no curve {curve!r}; have {sorted(self.curves)}")
        return {m: np.trapezoid(c, self.fractions, axis=1) for m, c in self.curves[curve].items()}

    def mean_curve(self, curve: str) -> dict[str, np.ndarray]:
        """``{map: mean curve over the images}``."""
        return {m: c.mean(0) for m, c in self.curves[curve].items()}


def curves(model: torch.nn.Module, x: torch.Tensor, targets: Sequence[int],
           maps: Mapping[str, np.ndarray], steps: int = 16, deletions: Sequence[str] = ("mean",),
           batch_size: int = 64, seed: int = 0, cache=None) -> Curves:
    """:func:`deletion_insertion` of every image of ``x`` (``N x C x H x W``, normalised) for
    its class ``targets[i]``, with the maps ``maps[name][i]`` (each ``N x H x W``), deletion
    towards each of the named ``deletions`` (:data:`DELETION_BASELINES`) and insertion from
    the blurred copy. Image ``i`` breaks ties in its maps with the seed ``seed + i``.

    ``cache``: a folder; each image's curves are stored there as ``<key>.npy``, keyed by the
    network's weights (:func:`~saliency_utils.explain.attribution.model_digest`), the image, its
    class, its maps (their names and values), ``steps``, ``deletions``, the seed and
    :data:`CURVES_VERSION`, and read back on the next call (an unreadable or mis-shaped file is
    recomputed and replaced). The numbers do not depend on ``batch_size``."""
    import hashlib
    import json
    from pathlib import Path

    from saliency_utils.explain.attribution import model_digest
    from saliency_utils.fileio import cached_array

    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"x must be N x C x H x W with N >= 1, got {tuple(getattr(x, 'shape', ()))}")
    n = x.shape[0]
    if len(targets) != n:
        raise ValueError(f"{len(targets)} targets for {n} images")
    if not maps:
        raise ValueError("no maps given")
    for name, m in maps.items():
        if np.shape(m) != (n, *x.shape[2:]):
            raise ValueError(f"maps {name!r} have shape {np.shape(m)}, need {(n, *x.shape[2:])}")
    unknown = [d for d in deletions if d not in DELETION_BASELINES]
    if unknown or not deletions or len(set(deletions)) != len(deletions):
        raise ValueError(f"deletions must be distinct names out of {DELETION_BASELINES}, got "
                         f"{tuple(deletions)}")
    names = list(maps)
    curve_names = [f"deletion ({d})" for d in deletions] + ["insertion"]
    digest = model_digest(model) if cache is not None else ""
    folder = Path(cache) if cache is not None else None
    out = np.zeros((n, len(curve_names), len(names), steps + 1))
    fractions = np.round(np.linspace(0, x.shape[2] * x.shape[3], steps + 1)) / (x.shape[2] * x.shape[3])
    computed = []  # images whose curves were computed, not read back

    def compute(i):
        computed.append(i)
        xi = x[i:i + 1]
        blur = blurred_baseline(xi)
        bases = {"mean": torch.zeros_like(xi), "blur": blur}
        first, rest = deletions[0], list(deletions[1:])
        res = deletion_insertion(model, xi, int(targets[i]), {k: maps[k][i] for k in names},
                                 steps=steps, deletion_baseline=bases[first],
                                 insertion_baseline=blur, batch_size=batch_size, seed=seed + i,
                                 extra_deletions={d: bases[d] for d in rest})
        per = [res.deletion] + [res.extra_deletion[d] for d in rest] + [res.insertion]
        return np.array([[c[k] for k in names] for c in per])

    for i in range(n):
        if folder is None:
            out[i] = compute(i)
            continue
        h = hashlib.sha256()
        h.update(json.dumps({"weights": digest, "target": int(targets[i]), "maps": names,
                             "steps": int(steps), "deletions": list(deletions),
                             "seed": int(seed + i), "shape": [1, *x.shape[1:]],
                             "version": CURVES_VERSION}, sort_keys=True).encode())
        h.update(x[i:i + 1].detach().cpu().contiguous().numpy().tobytes())
        for name in names:
            h.update(np.ascontiguousarray(maps[name][i], dtype=np.float64).tobytes())
        out[i] = cached_array(folder / f"{h.hexdigest()[:24]}.npy", lambda i=i: compute(i),
                              lambda a: a.shape == out.shape[1:])
    n_cached = n - len(computed) if folder is not None else 0
    return Curves(fractions, {c: {k: out[:, j, m] for m, k in enumerate(names)}
                              for j, c in enumerate(curve_names)}, n_cached)


def score_map(saliency_map, gt_boxes, tolerance: float = 0.0,
              box_fracs: Sequence[float] = (0.2,), top_q: float = 0.1,
              failure: str = "raise") -> dict:
    """All localisation scores of one non-negative map against its image's boxes:
    ``pointing`` (hit, with ``tolerance``: :func:`saliency_utils.evaluate.boxes.pointing_game`),
    ``energy`` (:func:`saliency_utils.evaluate.boxes.energy_in_boxes`), ``regions`` and
    ``largest region share`` (:func:`top_fraction_components` with ``top_q``) and, for each
    ``f`` in ``box_fracs``, ``box@f``: the box of the largest region above ``f * max``
    (:func:`saliency_utils.evaluate.localisation.threshold_box`, the CAM paper's rule for ``f = 0.2``).

    A map that cannot be scored (e.g. no positive value) follows the book's failure policy
    (:mod:`saliency_utils.evaluate.scoring`): ``failure="raise"`` (default) raises ``ValueError``;
    ``failure="miss"`` returns a **miss** (``pointing`` 0, ``energy`` 0, every ``box@f``
    :func:`saliency_utils.evaluate.boxes.miss_box`, NaN compactness) with ``failed`` set to the reason.
    Rows of scorable maps have ``failed`` = ``""``. The uniform map
    (:class:`~saliency_utils.evaluate.maps.UniformMap`, meant to be constant) scores as chance: pointing
    :func:`~saliency_utils.evaluate.boxes.uniform_pointing`, energy the boxes' area share, one region
    holding everything, and the full-image box."""
    from saliency_utils.evaluate.scoring import check_failure_policy

    check_failure_policy(failure)
    if isinstance(saliency_map, UniformMap):  # meant to be constant: the uniform map's scores
        shape = saliency_map.shape
        out = {"pointing": uniform_pointing(shape, gt_boxes, tolerance),
               "energy": area_in_boxes(shape, gt_boxes), "regions": 1,
               "largest region share": 1.0}
        out.update({f"box@{f:g}": full_image_box(shape) for f in box_fracs})
        out["failed"] = ""
        return out
    try:
        s = check_saliency_map(saliency_map, allow_negative=False)
    except ValueError as err:
        if failure == "raise":
            raise
        out = {"pointing": 0.0, "energy": 0.0, "regions": np.nan, "largest region share": np.nan}
        out.update({f"box@{f:g}": miss_box() for f in box_fracs})
        out["failed"] = str(err)
        return out
    n, share = top_fraction_components(s, top_q)
    out = {"pointing": float(pointing_game(s, gt_boxes, tolerance)),
           "energy": energy_in_boxes(s, gt_boxes), "regions": n, "largest region share": share}
    for f in box_fracs:
        out[f"box@{f:g}"] = threshold_box(s, f)
    out["failed"] = ""
    return out
