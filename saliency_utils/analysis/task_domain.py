"""Measurements for the task-vs-domain chapter (He et al., CVPR 2019): activations of several networks
on the same images, dissection count tables, saliency inside category regions, scores of any
saliency function on search arrays (layer-wise CKA of its activations:
:func:`saliency_utils.analysis.cka.layer_cka`). Scores on natural images are
:func:`saliency_utils.evaluate.scoring.score_maps`.

The networks are :class:`saliency_utils.models.saliency_model.SaliencyModel` instances (the pre-trained
encoder, the fixed-encoder and fine-tuned saliency models) or the ``.net`` of a
:class:`saliency_utils.training.classification.TaskModel`; they share layer names, so their activations
line up layer by layer.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from saliency_utils.evaluate import maps, search_metrics
from saliency_utils.analysis.dissection import Dissection, dissect_sets

__all__ = ["encoder_activations", "dissect_layers", "count_table", "sensitivity_table",
           "human_density", "category_shares", "pooled_ratio", "score_arrays", "without_prior",
           "detector_items", "permutation_counts", "memoised",
           "heldout_detector_counts", "layer_evidence", "heldout_evidence"]


@torch.no_grad()
def encoder_activations(net, images: Sequence[np.ndarray], layers: Sequence[str],
                        size=None, dtype=torch.float32) -> dict[str, list[torch.Tensor]]:
    """``{layer: [C x h x w tensor per image]}`` of ``net`` (a SaliencyModel), each image at
    ``size`` or the network's input size for its shape (:meth:`input_shape_for`)."""
    if not len(images):
        raise ValueError("no images")
    unknown = [l for l in layers if l not in net.layers]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; known: {', '.join(net.layers)}")
    out = {l: [] for l in layers}
    net.eval()
    for im in images:
        x = net.preprocess(im, size=size or net.input_shape_for(np.asarray(im).shape[:2]))
        acts = net.activations(x, list(layers))
        for l in layers:
            if l not in acts:
                raise ValueError(f"layer {l} is not computed by this network's forward pass")
            out[l].append(acts[l][0].to("cpu", dtype))
    return out


def dissect_layers(acts: Mapping[str, list], items: Sequence[dict], quantiles=(0.995,),
                   categories=None, null_items: Sequence[dict] | None = None):
    """:func:`saliency_utils.analysis.dissection.dissect` of every layer of ``acts`` against the masks of
    ``items`` (dicts with ``"masks"``, as :func:`saliency_utils.analysis.dissection.figrim_items`):
    ``{layer: Dissection}``. With ``null_items`` (e.g. :func:`analysis.dissection.shuffled_items`) also
    the chance reference, in the same pass: returns ``(real, null)``."""
    sets = {"real": [it["masks"] for it in items]}
    if null_items is not None:
        sets["null"] = [it["masks"] for it in null_items]
    res = {l: dissect_sets(l, a, sets, quantiles=quantiles, categories=categories)
           for l, a in acts.items()}
    real = {l: r["real"] for l, r in res.items()}
    if null_items is None:
        return real
    return real, {l: r["null"] for l, r in res.items()}


def count_table(dissections: Mapping[str, Dissection], cutoff: float = 0.04, quantile=None):
    """DataFrame of detector counts (rows: layers, columns: categories, plus ``units``)."""
    import pandas as pd

    rows = {}
    for layer, d in dissections.items():
        rows[layer] = {**d.counts(cutoff, quantile), "units": d.iou.shape[1]}
    return pd.DataFrame.from_dict(rows, orient="index")


def sensitivity_table(dissections: Mapping[str, Dissection], quantiles, cutoffs):
    """Total detectors per category (summed over layers) for every (quantile, cut-off)."""
    import pandas as pd

    rows = []
    for q in quantiles:
        for c in cutoffs:
            tot = count_table(dissections, c, q).drop(columns="units").sum()
            rows.append({"quantile": q, "IoU cut-off": c, **tot.to_dict()})
    return pd.DataFrame(rows).set_index(["quantile", "IoU cut-off"])


def human_density(item: dict, sigma: float) -> np.ndarray:
    """Gaussian fixation density of an item's (downsampled) binary fixation map."""
    fix = np.asarray(item["fixation_map"], dtype=np.float64)
    if fix.sum() == 0:
        raise ValueError(f"item {item.get('id')} has no fixations")
    return maps.gaussian_density(fix, sigma)


def category_shares(predict: Callable[[np.ndarray], np.ndarray], items: Sequence[dict],
                    sigmas: Mapping[str, float], categories: Sequence[str]) -> dict:
    """For each category, over the images where it is present, the share of ``predict(image)``
    (resized to the mask grid, normalised to sum 1) and the share of the human fixation density
    inside the category's region: ``{category: N x 2 array [model share, human share]}``.
    ``sigmas``: density sigma in mask pixels per item ``source``. :func:`pooled_ratio` turns
    them into one number per category."""
    out = {c: [] for c in categories}
    for it in items:
        shape = np.asarray(it["fixation_map"]).shape
        pred = np.maximum(maps.resize_map(np.asarray(predict(it["image"]), dtype=np.float64),
                                          shape), 0)
        if pred.sum() <= 0:
            raise ValueError(f"item {it.get('id')}: the saliency map is zero everywhere")
        pred = pred / pred.sum()
        human = human_density(it, sigmas[it["source"]])
        human = human / human.sum()
        for c in categories:
            m = it["masks"].get(c)
            if m is None or not np.asarray(m).any():
                continue
            m = np.asarray(m, dtype=bool)
            out[c].append((pred[m].sum(), human[m].sum()))
    return {c: np.asarray(v, dtype=np.float64).reshape(-1, 2) for c, v in out.items()}


def pooled_ratio(shares: np.ndarray) -> float:
    """Model share over human share, summed over images first (NaN without images): 1 = the
    model puts as much saliency on the category as people put fixations, pooled so that images
    where people hardly looked at the region do not dominate (a per-image ratio explodes
    there)."""
    shares = np.asarray(shares, dtype=np.float64).reshape(-1, 2)
    if len(shares) == 0 or shares[:, 1].sum() <= 0:
        return float("nan")
    return float(shares[:, 0].sum() / shares[:, 1].sum())


def memoised(predict: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``predict`` with its maps kept in memory (float32) per image content (SHA-1 of the pixels
    and shape), so that a chapter which scores the same images in two sections (chapter 4: the
    held-out shares and the natural-image scores) computes each map once."""
    import hashlib

    cache: dict[str, np.ndarray] = {}

    def f(image):
        a = np.ascontiguousarray(image)
        key = f"{a.shape}{a.dtype}" + hashlib.sha1(a.tobytes()).hexdigest()
        if key not in cache:
            cache[key] = np.asarray(predict(image), dtype=np.float32)
        return cache[key]

    return f


def without_prior(model) -> Callable[[np.ndarray], np.ndarray]:
    """``image -> map`` of a :class:`SaliencyModel` with its learned centre-bias prior divided
    out: ``exp(log p - log prior)`` (mirror-averaged, no exponent), resized to the image and
    normalised (``SaliencyModel.predict(prior=False)`` through the book's one verb). The
    readout's own contribution; for a model without prior it is the model's own map
    (``predict`` with exponent 1: its density, or its min-max map for ``output="minmax"``)."""
    from saliency_utils.explain.api import explain

    return lambda image: explain(model, image, "saliency_model", prior=False, flip_average=True,
                                 exponent=1.0)


def score_arrays(models: Mapping[str, Callable[[np.ndarray], np.ndarray]], arrays) -> list:
    """One row per (model, array): the :func:`evaluate.search_metrics.search_scores` of the model's map,
    with ``model`` and ``feature``."""
    rows = []
    for a in arrays:
        for name, fn in models.items():
            sal = np.asarray(fn(a.image), dtype=np.float64)
            if sal.shape != a.target_mask.shape:
                sal = maps.resize_map(sal, a.target_mask.shape)
            sal = np.maximum(sal, 0)
            rows.append({"model": name, "feature": a.meta["feature"],
                         **search_metrics.search_scores(sal, a)})
    return rows


def detector_items(datasets: Sequence[str], grid, share_scale: float = 0.25,
                   n: int | None = None) -> list[dict]:
    """The images of the book's data sets ``datasets`` (names of
    :meth:`saliency_utils.evaluate.scoring.FixationDataset.named`, first ``n`` of each) with head and
    text masks from :mod:`saliency_utils.analysis.region_detectors` (detections cached on disk): one dict
    per image with ``id``, ``source`` (the data set), ``image``, ``grid_masks`` (``{category:
    mask}`` on the common dissection ``grid``), and, for :func:`category_shares`, ``masks`` and a
    binary ``fixation_map`` (all observers) at ``share_scale`` of the image's own size."""
    from saliency_utils.analysis import region_detectors
    from saliency_utils.evaluate.scoring import FixationDataset

    items = []
    for name in datasets:
        ds = FixationDataset.named(name, n)
        dets = region_detectors.detect(name.split("_")[0], ds.ids, ds.load_image)
        for i in ds.ids:
            image = ds.load_image(i)
            fx = ds.load_fixations(i)
            if len(fx.x) == 0:
                raise ValueError(f"{name} image {i} has no fixations")
            h, w = image.shape[:2]
            shape = (max(1, round(h * share_scale)), max(1, round(w * share_scale)))
            fix = np.zeros(shape, dtype=bool)
            fix[np.clip((np.asarray(fx.y) * shape[0] / fx.shape[0]).astype(int), 0, shape[0] - 1),
                np.clip((np.asarray(fx.x) * shape[1] / fx.shape[1]).astype(int), 0, shape[1] - 1)] = True
            d = dets[str(i)]
            items.append({"id": str(i), "source": name, "image": image, "detections": d,
                          "grid_masks": {c: region_detectors.mask_from_detections(d, c, grid)
                                         for c in region_detectors.CATEGORIES},
                          "masks": {c: region_detectors.mask_from_detections(d, c, shape)
                                    for c in region_detectors.CATEGORIES},
                          "fixation_map": fix})
    return items


def layer_evidence(acts: Mapping[str, list], items: Sequence[dict], quantile: float = 0.995,
                   n_perm: int = 1000, seed: int = 0, n_null: int | None = None,
                   categories: Sequence[str] | None = None, mask_key: str = "grid_masks"):
    """One pass over the images per layer of ``acts`` (:func:`saliency_utils.analysis.dissection.
    unit_overlaps`, masks ``item[mask_key]`` on one common grid, all their categories or
    ``categories``) giving the permutation dissection (``n_perm`` shuffles; 0: none) and, with
    ``n_null`` set, the per-image evidence with ``n_null`` random re-pairings
    (:class:`saliency_utils.analysis.dissection.ImageExcess`): ``({layer: PermutationDissection},
    {layer: ImageExcess})``, the second empty without ``n_null``."""
    from saliency_utils.analysis.dissection import unit_overlaps

    masks = [it[mask_key] for it in items]
    cats = tuple(categories or masks[0])
    diss, excess = {}, {}
    for layer, a in acts.items():
        ov = unit_overlaps(a, masks, cats, quantile)
        if n_perm:
            diss[layer] = ov.permutation(layer, n_perm, seed)
        if n_null is not None:
            excess[layer] = ov.image_excess(layer, n_null, seed)
        del ov
    return diss, excess


def permutation_counts(dissections: Mapping[str, object], alpha: float = 0.05,
                       cutoff: float = 0.0):
    """DataFrame of detector counts per layer (rows) and category (columns), plus ``units``
    (:meth:`saliency_utils.analysis.dissection.PermutationDissection.counts`)."""
    import pandas as pd

    rows = {l: {**d.counts(alpha, cutoff), "units": len(d.thresholds)} for l, d in dissections.items()}
    return pd.DataFrame(rows).T


#: Version of :func:`heldout_evidence`'s computation (part of its cache key).
HELDOUT_EVIDENCE_VERSION = 1

_DISS_ARRAYS = ("thresholds", "iou", "null_iou", "z", "p", "p_adj")
_EXCESS_ARRAYS = ("folds", "excess", "crossfit", "selected", "contains")


def heldout_evidence(net, model_id: str, items: Sequence[dict], layers: Sequence[str],
                     size=None, quantile: float = 0.995, n_perm: int = 1000, seed: int = 0,
                     n_null: int | None = None, acts: Mapping[str, list] | None = None):
    """:func:`layer_evidence` of ``net`` on the items of :func:`detector_items` (their
    ``grid_masks``): ``({layer: PermutationDissection}, {layer: ImageExcess})``, the second
    empty without ``n_null``. A measurement cached on disk (``<cache>/measurements/
    heldout-evidence-<hash>.npz``, no pickles, written atomically), keyed by ``model_id`` (e.g.
    the model's checkpoint file name, itself keyed by its whole configuration), the images,
    layers, input ``size`` (None: the network's size per image), grid, every setting and the
    detectors' settings; the activations are computed only when it is missing (or taken from
    ``acts`` when the caller has them). A corrupt cache file raises an error that names it."""
    import zipfile

    from saliency_utils.analysis import region_detectors
    from saliency_utils.data import store
    from saliency_utils.analysis.dissection import ImageExcess, PermutationDissection
    from saliency_utils.fileio import atomic_write
    from saliency_utils.training.saliency import key_hash

    if not items:
        raise ValueError("no images")
    layers = list(layers)
    cats = tuple(items[0]["grid_masks"])
    grid = next(iter(items[0]["grid_masks"].values())).shape
    key = {"model": model_id, "images": [[it["source"], it["id"]] for it in items],
           "layers": layers, "categories": list(cats), "size": list(size) if size else None,
           "grid": list(grid), "quantile": quantile, "n_perm": n_perm, "seed": seed,
           "n_null": n_null, "detectors": region_detectors.settings_key(),
           "version": HELDOUT_EVIDENCE_VERSION}
    path = store.cache_dir() / "measurements" / f"heldout-evidence-{key_hash(key)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                diss, excess = {}, {}
                for li, layer in enumerate(layers):
                    if n_perm:
                        contain = z[f"{li}__contain"]
                        diss[layer] = PermutationDissection(
                            layer, cats, float(quantile), int(n_perm),
                            *(z[f"{li}__{f}"] for f in _DISS_ARRAYS),
                            {c: int(n) for c, n in zip(cats, contain)})
                    if n_null is not None:
                        excess[layer] = ImageExcess(layer, cats,
                                                    *(z[f"{li}__{f}"] for f in _EXCESS_ARRAYS))
            return diss, excess
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"the measurement cache {path} is corrupt ({type(e).__name__}: {e}); "
                             "delete it and rerun") from None
    if acts is None:
        acts = encoder_activations(net, [it["image"] for it in items], layers, size)
    diss, excess = layer_evidence({l: acts[l] for l in layers}, items, quantile, n_perm, seed,
                                  n_null)
    arrays = {}
    for li, layer in enumerate(layers):
        if n_perm:
            d = diss[layer]
            arrays.update({f"{li}__{f}": np.asarray(getattr(d, f)) for f in _DISS_ARRAYS})
            arrays[f"{li}__contain"] = np.array([d.images_containing[c] for c in cats])
        if n_null is not None:
            arrays.update({f"{li}__{f}": np.asarray(getattr(excess[layer], f))
                           for f in _EXCESS_ARRAYS})
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return diss, excess


def heldout_detector_counts(net, model_id: str, items: Sequence[dict], layers: Sequence[str],
                            size=None, quantile: float = 0.995, n_perm: int = 1000, seed: int = 0,
                            alpha: float = 0.05):
    """Detector counts per layer (rows) and category (columns, plus ``units``) of ``net`` on the
    items of :func:`detector_items`: the permutation dissection of :func:`heldout_evidence`
    (cached on disk with it) counted at ``alpha`` (:func:`permutation_counts`)."""
    diss, _ = heldout_evidence(net, model_id, items, layers, size, quantile, n_perm, seed)
    return permutation_counts(diss, alpha).astype(int).loc[list(layers)]
