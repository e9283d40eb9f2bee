"""Weakly supervised object localisation over a dataset (Simonyan et al. 2014, sec. 6).

The ILSVRC *classification with localisation* criterion: a method makes up to five guesses
``(class, box)``, best first; an image is correctly localised if one guess has the true class
and IoU >= 0.5 with one of that class's ground-truth boxes (:func:`evaluate.boxes.localisation_correct`).
The top-5 error counts the five top-scoring classes, the top-1 error only the first.

:func:`localise` runs a saliency method and a set of box makers over a list of images:

* one batched forward pass gives each image's top-k classes and, by default, the true class's
  gradient map ``max_c |dS_y/dx_c|`` (one backward pass per batch); other maps come from the
  book's one explanation verb (:func:`saliency_utils.explain.api.explain`), in batches;
  maps are resized from the network's input size back to the image (:func:`evaluate.maps.resize_map`);
* every box maker ``f(image_uint8, saliency_map) -> box`` turns (image, map) into a box in the
  image's coordinates; makers that ignore the map are the class-agnostic baselines
  (:func:`full_image_maker`, :func:`centred_maker`).

**Which maps are needed.** The five guesses of one image have five *different* classes, so at
most one of them, the one whose class is the true class ``y``, can satisfy the criterion: the
image is correctly localised iff ``y`` is among the guesses and the box made from the map of
class ``y`` has IoU >= 0.5. The error therefore depends only on the box of class ``y``.
``guesses="true_class"`` (default) computes only that map (for every image, also those whose
class is not in the top 5, which also gives the *GT-known* localisation error of the
weakly-supervised-localisation literature, Choe et al. 2020); ``guesses="topk"`` computes
the maps and boxes of all top-k classes (and of ``y``) and scores them literally with
:func:`evaluate.boxes.localisation_correct`; :meth:`WSOLRun.errors` and
:meth:`WSOLRun.errors_literal` agree exactly (tested).

A box maker that raises ``ValueError`` (e.g. GrabCut on a map too flat for seeds) gets
:func:`saliency_utils.evaluate.boxes.miss_box` (zero area: a localisation miss, the book's failure policy
``"miss"``, :mod:`saliency_utils.evaluate.scoring`); the failures are counted per maker in
``WSOLRun.failures``.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from saliency_utils.evaluate.boxes import (centred_box, check_boxes, full_image_box, iou_matrix,
    largest_component, localisation_correct, mask_to_box, miss_box)
from saliency_utils.evaluate.maps import resize_map

__all__ = ["WSOLRun", "localise", "mean_box_fraction", "full_image_maker", "centred_maker",
           "box_from_mask_maker", "saliency_box_soft_seeds"]

BoxMaker = Callable[[np.ndarray, np.ndarray], np.ndarray]


def mean_box_fraction(gt_boxes: Sequence, shapes: Sequence) -> tuple[float, float]:
    """Mean ground-truth box width and height as fractions of the image width and height,
    over every box of every image (``gt_boxes[i]``: ``m_i x 4``; ``shapes[i]``: ``(H, W)``)."""
    if len(gt_boxes) != len(shapes) or len(gt_boxes) == 0:
        raise ValueError(f"need one shape per image and at least one image, got "
                         f"{len(gt_boxes)} box sets and {len(shapes)} shapes")
    fw, fh = [], []
    for b, s in zip(gt_boxes, shapes):
        b = check_boxes(b)
        fw.extend((b[:, 2] - b[:, 0]) / s[1])
        fh.extend((b[:, 3] - b[:, 1]) / s[0])
    if not fw:
        raise ValueError("no ground-truth box at all")
    return float(np.mean(fw)), float(np.mean(fh))


def full_image_maker(image, _map=None) -> np.ndarray:
    """Baseline box maker: the whole image."""
    return full_image_box(np.shape(image))


def centred_maker(w_frac: float, h_frac: float) -> BoxMaker:
    """Baseline box maker: a centred box of ``w_frac`` x ``h_frac`` of the image."""
    def make(image, _map=None):
        return centred_box(np.shape(image), w_frac, h_frac)
    return make


def box_from_mask_maker(fn: Callable[[np.ndarray, np.ndarray], tuple]) -> BoxMaker:
    """Adapt a function returning ``(box, mask)`` (e.g. :func:`evaluate.localisation.saliency_box`)."""
    def make(image, smap):
        return fn(image, smap)[0]
    return make


def saliency_box_soft_seeds(image_uint8, saliency_map, fg_quantile: float = 0.95,
                            bg_quantile: float = 0.30, seed: int = 0):
    """A second reading of Simonyan et al.'s recipe: the seeds only **fit the colour models**.

    Same GMMs as :func:`evaluate.localisation.saliency_box` (5 components each, fitted on the pixels
    above the ``fg_quantile`` and below the ``bg_quantile`` saliency quantile) and the same
    single frozen-model graph cut with GrabCut's pairwise term, but no pixel is constrained:
    every pixel is labelled by the GMM likelihoods and the smoothness term alone. (The paper
    says the models were "estimated from" those pixels and does not say whether they were also
    hard constraints; :func:`evaluate.localisation.saliency_box` makes them hard.)

    Returns ``(box, mask)`` like :func:`evaluate.localisation.saliency_box`; raises ``ValueError`` when
    the cut labels no pixel foreground (possible here, unlike with hard seeds).
    """
    import cv2

    from saliency_utils.evaluate.localisation import check_image_for_map, grabcut_seeds, seed_gmms
    from saliency_utils.evaluate.maps import check_saliency_map

    s = check_saliency_map(saliency_map)
    img = check_image_for_map(image_uint8, s.shape)
    seeds = grabcut_seeds(s, fg_quantile, bg_quantile)
    fg = seeds == cv2.GC_FGD
    bgd_model, fgd_model = seed_gmms(img, seeds, seed)
    mask = np.where(fg, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)  # initial labels only
    cv2.grabCut(img, mask, None, bgd_model, fgd_model, 1, cv2.GC_EVAL_FREEZE_MODEL)
    fg_mask = largest_component(mask == cv2.GC_PR_FGD)
    if not fg_mask.any():
        raise ValueError("the graph cut labelled no pixel foreground")
    return mask_to_box(fg_mask), fg_mask


@dataclass
class WSOLRun:
    """Per-image results of :func:`localise` (``n`` images, ``k`` guesses).

    ``labels`` (n,), ``topk`` (n, k) predicted classes best first, ``gt_boxes`` list of
    ``m_i x 4``; ``boxes[maker]`` (n, 4): the box made from the **true class's** map;
    ``guess_boxes[maker]`` (n, k, 4): boxes of the top-k classes (``guesses="topk"`` only).
    ``seconds``: wall time of ``"forward"``, ``"saliency"`` (maps incl. resizing and
    ``map_scores``), ``"boxes (wall)"`` (all makers) and the time of each maker (summed over
    worker threads); ``failures[maker]``: images where it failed (scored as a miss:
    :func:`saliency_utils.evaluate.boxes.miss_box`), ``failure_messages[maker]``: the first such
    error message;
    ``scores[name]`` (n,): the ``map_scores`` of the true class's map.
    """

    labels: np.ndarray
    topk: np.ndarray
    gt_boxes: list
    boxes: dict[str, np.ndarray]
    guess_boxes: dict[str, np.ndarray] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    failure_messages: dict[str, str] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def makers(self) -> list[str]:
        return list(self.boxes)

    def best_iou(self, maker: str) -> np.ndarray:
        """IoU of the true-class box with the best-matching ground-truth box, per image."""
        b = self.boxes[maker]
        return np.array([iou_matrix(b[i], g).max() for i, g in enumerate(self.gt_boxes)])

    def box_ok(self, maker: str, iou_thr: float = 0.5) -> np.ndarray:
        """Per image: does the true-class box reach ``iou_thr`` with some ground-truth box?"""
        return self.best_iou(maker) >= iou_thr

    def class_ok(self, k: int) -> np.ndarray:
        """Per image: is the true class among the top ``k`` predicted classes?"""
        return (self.topk[:, :k] == self.labels[:, None]).any(axis=1)

    def errors(self, iou_thr: float = 0.5):
        """DataFrame (rows: makers; percent): top-1 and top-5 localisation error, and the
        GT-known error (box of the true class alone, classification ignored)."""
        import pandas as pd

        rows = {}
        for m in self.boxes:
            ok = self.box_ok(m, iou_thr)
            rows[m] = {"top-1 loc. error": 100 * (1 - np.mean(ok & self.class_ok(1))),
                       "top-5 loc. error": 100 * (1 - np.mean(ok & self.class_ok(5))),
                       "GT-known loc. error": 100 * (1 - np.mean(ok))}
        return pd.DataFrame.from_dict(rows, orient="index")

    def errors_literal(self, iou_thr: float = 0.5):
        """The same top-1 / top-5 errors scored from all top-k guesses with
        :func:`evaluate.boxes.localisation_correct` (needs ``guesses="topk"``)."""
        import pandas as pd

        if self.guess_boxes is None:
            raise ValueError("run localise(..., guesses='topk') to score all guesses")
        rows = {}
        for m, gb in self.guess_boxes.items():
            res = {}
            for k in (1, 5):
                ok = [localisation_correct(gb[i], self.topk[i], self.gt_boxes[i],
                                           int(self.labels[i]), iou_thr, top_k=k)
                      for i in range(self.n)]
                res[f"top-{k} loc. error"] = 100 * (1 - np.mean(ok))
            rows[m] = res
        return pd.DataFrame.from_dict(rows, orient="index")

    def paired_difference(self, a: str, b: str, k: int = 5, iou_thr: float = 0.5,
                          seed: int = 0) -> tuple[float, float, float]:
        """Top-``k`` localisation error of maker ``a`` minus that of maker ``b`` (percentage
        points) with a 95 % interval of the per-image differences
        (:func:`saliency_utils.evaluate.stats.mean_ci`):
        ``(diff, low, high)``. Both are scored on the same images, so the interval reflects only
        their disagreements."""
        from saliency_utils.evaluate.stats import mean_ci

        ok_c = self.class_ok(k)
        wrong_a = ~(self.box_ok(a, iou_thr) & ok_c)
        wrong_b = ~(self.box_ok(b, iou_thr) & ok_c)
        return mean_ci(100.0 * (wrong_a.astype(float) - wrong_b), seed=seed).triple()

    def classification_errors(self) -> dict[str, float]:
        """Top-1 and top-5 classification error in percent."""
        return {"top-1": 100 * (1 - self.class_ok(1).mean()),
                "top-5": 100 * (1 - self.class_ok(5).mean())}


def _gradient_and_logits(model, x: torch.Tensor, target) -> tuple[np.ndarray, torch.Tensor]:
    """``max_c |dS_t/dx_c|`` for each image's class ``t`` and the logits, from one forward pass
    (in eval mode the images' logits are independent, so the gradient of their sum is each
    image's own gradient)."""
    if model.training:
        raise ValueError("put the model in eval mode (model.eval()) before localising")
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xg)
        t = torch.as_tensor(np.asarray(target), device=logits.device).view(-1, 1)
        (grad,) = torch.autograd.grad(logits.gather(1, t).sum(), xg)
    maps = grad.detach().abs().amax(dim=1).float().cpu().numpy()
    return maps, logits.detach()


def _make_boxes(makers: Mapping[str, BoxMaker], image, smap):
    """Boxes of every maker for one (image, map), with each maker's time and failure flag."""
    out, secs, failed = {}, {}, []
    for name, fn in makers.items():
        t0 = time.perf_counter()
        try:
            box = check_boxes(fn(image, smap))[0]
        except ValueError as e:
            failed.append((name, str(e)))
            box = miss_box()
        secs[name] = time.perf_counter() - t0
        out[name] = box
    return out, secs, failed


def localise(backbone, images: Sequence[np.ndarray] | Callable[[int], np.ndarray],
             labels: Sequence[int], gt_boxes: Sequence, makers: Mapping[str, BoxMaker],
             saliency: str | Callable | None = None, guesses: str = "true_class", k: int = 5,
             batch_size: int = 16, workers: int = 1,
             map_scores: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
             progress: Callable[[int, int], None] | None = None) -> WSOLRun:
    """Localise every image with every box maker (see the module docstring).

    ``backbone``: a :class:`~saliency_utils.models.backbones.Backbone` (``.model``, ``.preprocess``).
    ``images``: uint8 ``H x W x 3`` arrays, or a function ``i -> image`` (loaded lazily, one
    batch at a time); ``labels``: true classes; ``gt_boxes[i]``: ``m_i x 4`` boxes in the
    image's coordinates. ``saliency``: a classifier method of
    :data:`saliency_utils.explain.api.METHODS` (computed with
    :func:`~saliency_utils.explain.api.explain`), or a function
    ``(model, x, target) -> N x h x w``; the default ``None`` is Simonyan's
    ``max_c |dS_y/dx_c|`` from the same forward pass that ranks the classes (one forward and
    one backward pass per batch; equal to ``explain(model, x, "gradient", target)``, which
    computes the other guesses' maps with ``guesses="topk"``). ``guesses``: ``"true_class"`` or ``"topk"``.
    ``workers`` > 1 runs the box makers of a batch in threads (OpenCV releases the GIL);
    results do not depend on it. ``map_scores``: functions ``f(map, gt_boxes) -> float``
    applied to each true-class map (e.g. :func:`saliency_utils.evaluate.boxes.energy_in_boxes`), kept in
    ``WSOLRun.scores``.
    ``progress(done, n)`` is called after each batch.
    """
    fused, saliency = _saliency_function(saliency)
    labels, get, gts = _checked_inputs(images, labels, gt_boxes, makers, guesses, k, batch_size,
                                       workers)
    acc = _Results(len(labels), k, makers, guesses, dict(map_scores or {}))
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        for start in range(0, len(labels), batch_size):
            idx = list(range(start, min(len(labels), start + batch_size)))
            ims = [np.asarray(get(i)) for i in idx]
            x, true_maps = acc.rank(backbone, ims, idx, labels, fused)
            jobs = acc.maps(backbone.model, x, ims, idx, labels, gts, true_maps, saliency)
            t0 = time.perf_counter()
            run = (lambda j: _make_boxes(makers, j[2], j[3]))
            results = list(pool.map(run, jobs)) if pool else [run(j) for j in jobs]
            acc.seconds["boxes (wall)"] += time.perf_counter() - t0
            acc.add_boxes(idx, labels, jobs, results)
            if progress is not None:
                progress(idx[-1] + 1, len(labels))
    finally:
        if pool is not None:
            pool.shutdown()
    return WSOLRun(labels=labels, topk=acc.topk, gt_boxes=gts, boxes=acc.boxes,
                   guess_boxes=acc.guess_boxes, seconds=acc.seconds, failures=acc.failures,
                   failure_messages=acc.messages, scores=acc.scores)


def _saliency_function(saliency) -> tuple[bool, Callable]:
    """``(fused, saliency(model, x, target))``: a method name goes through the book's one verb;
    ``None`` is the fused gradient (its other guesses' maps through the verb's ``gradient``)."""
    fused = saliency is None
    if not (fused or isinstance(saliency, str)):
        return False, saliency
    from saliency_utils.explain.api import explain

    method = "gradient" if fused else saliency

    def by_name(m, x, t):
        return explain(m, x, method, t)
    return fused, by_name


def _checked_inputs(images, labels, gt_boxes, makers, guesses, k, batch_size, workers):
    """``(labels, i -> image, checked ground-truth boxes)``, or a ``ValueError`` saying what is
    wrong with the arguments of :func:`localise`."""
    if guesses not in ("true_class", "topk"):
        raise ValueError(f"guesses must be 'true_class' or 'topk', got {guesses!r}")
    if not makers:
        raise ValueError("no box makers given")
    labels = np.asarray(labels, dtype=np.int64).ravel()
    n = len(labels)
    get = images if callable(images) else (lambda i: images[i])
    if not callable(images) and len(images) != n:
        raise ValueError(f"{len(images)} images but {n} labels")
    if len(gt_boxes) != n:
        raise ValueError(f"{len(gt_boxes)} ground-truth box sets but {n} labels")
    if n == 0:
        raise ValueError("no images")
    if batch_size < 1 or workers < 1:
        raise ValueError("batch_size and workers must be >= 1")
    if k < 5:
        raise ValueError(f"k must be >= 5 (the top-5 protocol), got {k}")
    gts = [check_boxes(g, "gt_boxes") for g in gt_boxes]
    if any(len(g) == 0 for g in gts):
        raise ValueError("every image needs at least one ground-truth box")
    return labels, get, gts


class _Results:
    """What :func:`localise` accumulates over the batches (the fields of :class:`WSOLRun`)."""

    def __init__(self, n: int, k: int, makers: Mapping[str, BoxMaker], guesses: str,
                 map_scores: Mapping[str, Callable]):
        self.k, self.makers, self.guesses, self.map_scores = k, makers, guesses, map_scores
        self.seconds = {"forward": 0.0, "saliency": 0.0, "boxes (wall)": 0.0}
        self.failures = {m: 0 for m in makers}
        self.messages: dict[str, str] = {}
        self.topk = np.zeros((n, k), dtype=np.int64)
        self.boxes = {m: np.zeros((n, 4)) for m in makers}
        self.guess_boxes = ({m: np.zeros((n, k, 4)) for m in makers} if guesses == "topk"
                            else None)
        self.scores = {name: np.full(n, np.nan) for name in map_scores}

    def rank(self, backbone, ims, idx, labels, fused):
        """The batch's input and top-k classes, and with ``fused`` the true class's gradient
        maps from the same forward pass (else ``None``)."""
        t0 = time.perf_counter()
        model = backbone.model
        x = backbone.preprocess(ims)
        true_maps = None
        if fused:  # one forward pass gives the top-k and the true class's gradient
            true_maps, logits = _gradient_and_logits(model, x, labels[idx])
        else:
            with torch.no_grad():
                logits = model(x)
        if logits.shape[1] < self.k:
            raise ValueError(f"k={self.k} but the model has {logits.shape[1]} classes")
        self.topk[idx] = logits.topk(self.k, dim=1).indices.cpu().numpy()
        self.seconds["forward"] += time.perf_counter() - t0
        return x, true_maps

    def maps(self, model, x, ims, idx, labels, gts, true_maps, saliency) -> list:
        """The maps the boxes need, at each image's size: ``(position in batch, column, image,
        map)`` with column 0 the true class and 1..k the guesses (a guess of the true class
        reuses its box); the true class's map is scored with the ``map_scores`` here."""
        cols = [labels[idx]] + ([self.topk[idx, j] for j in range(self.k)]
                                if self.guesses == "topk" else [])
        jobs = []
        for c, cls in enumerate(cols):
            t0 = time.perf_counter()
            need = [b for b in range(len(idx)) if c == 0 or cls[b] != labels[idx[b]]]
            if not need:
                continue
            maps = (true_maps if c == 0 and true_maps is not None
                    else saliency(model, x[need], [int(cls[b]) for b in need]))
            for j, b in enumerate(need):
                smap = maps[j]
                if smap.shape != ims[b].shape[:2]:
                    smap = resize_map(smap, ims[b].shape[:2])
                jobs.append((b, c, ims[b], smap))
                if c == 0:
                    for name, f in self.map_scores.items():
                        self.scores[name][idx[b]] = f(smap, gts[idx[b]])
            self.seconds["saliency"] += time.perf_counter() - t0
        return jobs

    def add_boxes(self, idx, labels, jobs, results) -> None:
        """Each job's boxes, maker times and failures; guesses of the true class get its box."""
        for (b, c, _, _), (res, secs, failed) in zip(jobs, results):
            for m, box in res.items():
                if c == 0:
                    self.boxes[m][idx[b]] = box
                else:
                    self.guess_boxes[m][idx[b], c - 1] = box
            for m, dt in secs.items():
                self.seconds[m] = self.seconds.get(m, 0.0) + dt
            for m, msg in failed:
                self.failures[m] += 1
                self.messages.setdefault(m, msg)
        if self.guesses == "topk":
            for i in idx:
                for j in range(self.k):
                    if self.topk[i, j] == labels[i]:
                        for m in self.makers:
                            self.guess_boxes[m][i, j] = self.boxes[m][i]
