"""Network dissection (Bau, Zhou, Khosla, Oliva & Torralba, CVPR 2017) with category masks.

For every unit k of a layer: its threshold ``T_k`` is the ``quantile`` (Bau: 0.995, the top
0.5 %) of all its activation values over the dataset (every spatial position of every image,
before upsampling); each activation map is upsampled bilinearly to the image's mask resolution
and thresholded, ``M_k(x) = A_k(x) > T_k``; for every category c with masks ``L_c(x)``

``IoU_{k,c} = Σ_x |M_k(x) ∩ L_c(x)| / Σ_x |M_k(x) ∪ L_c(x)|``

summed over all images of the dataset. A unit is a **detector** of c when ``IoU_{k,c}`` exceeds
the cut-off (Bau: 0.04); as in Bau et al., each unit is counted once, for the category with its
highest IoU (:meth:`Dissection.counts`). Several quantiles are computed in one pass so that the
sensitivity of the counts to the two constants can be shown.

Category masks (:func:`figrim_items`, :func:`osie_sr_items`, :func:`osie_sr_folder_items`): the
offline bundle has two sources. The paper used its own OSIE-SR annotations (semantic indices
1 person head, 10 person part, 16 animal head, 22 animal part, 27 object, 37 text, 46 symbol,
51 vehicle, ...), of which one example image (OSIE 1023) is in the bundle, and FIGRIM's LabelMe
polygons cover 630 images of which 30 (amusement_park) have their images in the bundle. FIGRIM's
object names are free text; :data:`FIGRIM_PATTERNS` maps them to four categories (checked against
every name used in the 630 annotations):

* ``person``: whole people (FIGRIM has no head polygons; OSIE-SR: person head ∪ person part);
* ``head``: OSIE-SR "person head" only (no FIGRIM source);
* ``text/sign``: text, logos and signs (FIGRIM names signs, text and logos inconsistently, so
  the paper's separate "text" and "symbol" are merged; OSIE-SR: text ∪ symbol);
* ``vehicle``: cars, buses, trucks, boats, trains, carts (OSIE-SR: vehicle).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CATEGORIES", "FIGRIM_PATTERNS", "OSIE_SR_GROUPS", "Dissection", "unit_thresholds",
           "dissect", "dissect_sets", "rotated_items", "shuffled_items", "figrim_items", "osie_sr_items",
           "osie_sr_folder_items",
           "region_saliency_ratio", "resize_mask"]

CATEGORIES = ("person", "head", "text/sign", "vehicle")

#: FIGRIM LabelMe object names (lower-case ``fnmatch`` globs) per category.
FIGRIM_PATTERNS = {
    "person": ["person", "person *", "people", "man", "woman", "men", "women", "child",
               "children", "kid", "kids", "boy", "girl", "pedestrian*", "crowd"],
    "text/sign": ["text", "text *", "* text", "sign", "signs", "* sign", "sign *", "*signs",
                  "logo", "* logo", "billboard*", "poster", "posters", "poster *", "banner*",
                  "placard", "* placard", "sign placard", "advertisement*", "place card*"],
    "vehicle": ["car", "cars", "bus", "buses", "truck", "trucks", "van", "vans", "boat", "boats",
                "swan boat", "train", "* train", "trains", "roller coaster cars", "golf cart",
                "cart", "carts", "taxi", "jeep", "suv", "motorcycle*", "bicycle*", "bike",
                "bikes", "airplane*", "plane", "ship"],
}

#: OSIE-SR semantic indices (see :data:`saliency_utils.data.SEMANTIC_LABELS`) per category.
OSIE_SR_GROUPS = {"person": (1, 10), "head": (1,), "text/sign": (37, 46), "vehicle": (51,)}


def resize_mask(mask: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resize of a boolean mask to ``shape`` (pixel centres)."""
    m = np.asarray(mask, dtype=bool)
    h, w = shape
    ys = np.minimum(((np.arange(h) + 0.5) * m.shape[0] / h).astype(int), m.shape[0] - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * m.shape[1] / w).astype(int), m.shape[1] - 1)
    return m[ys][:, xs]


def figrim_items(mask_size: int | None = 250, names: Sequence[str] | None = None) -> list[dict]:
    """The FIGRIM amusement_park images of the bundle as dissection items:
    ``{"id", "source", "image" (uint8), "masks" ({category: bool mask, or None where the
    category is not annotated: "head"}), "fixation_map" (bool)}``, masks and fixation map at
    ``mask_size`` x ``mask_size`` (None: 1000)."""
    from . import data

    recs = {r.file.removesuffix(".jpg"): r for r in data.load_figrim_annotations()}
    out = []
    for name in (names or data.figrim_amusement_park_ids()):
        rec = recs[name]
        masks = {c: None for c in CATEGORIES}  # "head" is not annotated in FIGRIM
        masks.update(data.category_masks(rec, FIGRIM_PATTERNS))
        fix = data.load_figrim_fixation_map(name)
        if mask_size:
            masks = {k: None if v is None else resize_mask(v, (mask_size, mask_size))
                     for k, v in masks.items()}
            fix = _pool_fixations(fix, (mask_size, mask_size))
        out.append({"id": name, "source": "FIGRIM", "image": data.load_figrim_image(name),
                    "masks": masks, "fixation_map": fix})
    return out


def _pool_fixations(fix: np.ndarray, shape) -> np.ndarray:
    """Binary fixation map downsampled: a cell is fixated if any of its pixels is."""
    ys, xs = np.nonzero(fix)
    out = np.zeros(shape, dtype=bool)
    out[(ys * shape[0]) // fix.shape[0], (xs * shape[1]) // fix.shape[1]] = True
    return out


def _osie_sr_masks(semantic: np.ndarray) -> dict:
    return {c: np.isin(semantic, idx) for c, idx in OSIE_SR_GROUPS.items()}


def osie_sr_items(mask_scale: float | None = 0.25) -> list[dict]:
    """The OSIE-SR example of the bundle (OSIE 1023) as a one-item list like
    :func:`figrim_items` (masks at ``mask_scale`` of 600x800)."""
    from . import data

    d = data.load_osie_sr_example()
    masks, fix = _osie_sr_masks(d["semantic"]), d["fixation_map"]
    if mask_scale:
        shape = (round(600 * mask_scale), round(800 * mask_scale))
        masks = {k: resize_mask(v, shape) for k, v in masks.items()}
        fix = _pool_fixations(fix, shape)
    return [{"id": d["image_id"], "source": "OSIE-SR", "image": d["image"], "masks": masks,
             "fixation_map": fix}]


def osie_sr_folder_items(folder, mask_scale: float | None = 0.25,
                         limit: int | None = None) -> list[dict]:
    """A local copy of the full OSIE-SR annotations (He et al.'s ``SegmentationClass`` folder of
    indexed PNGs named ``<OSIE id>.png``, pixel value = semantic index) as dissection items,
    with the OSIE images and fixations of the data layer. Raises ``FileNotFoundError`` if the
    folder has no such PNGs."""
    from PIL import Image

    from . import data

    folder = Path(folder)
    seg = folder / "SegmentationClass" if (folder / "SegmentationClass").is_dir() else folder
    files = sorted(seg.glob("*.png"))[:limit]
    if not files:
        raise FileNotFoundError(f"no OSIE-SR SegmentationClass PNGs in {folder}")
    out = []
    for f in files:
        semantic = np.asarray(Image.open(f))
        if semantic.ndim != 2:
            raise ValueError(f"{f} is not an indexed (palette) PNG of semantic indices")
        image = data.load_osie_image(f.stem)
        fx = data.load_osie_fixations(f.stem)
        fix = np.zeros(semantic.shape, dtype=bool)
        fix[np.clip(np.round(fx.y).astype(int), 0, semantic.shape[0] - 1),
            np.clip(np.round(fx.x).astype(int), 0, semantic.shape[1] - 1)] = True
        masks = _osie_sr_masks(semantic)
        if mask_scale:
            shape = (round(semantic.shape[0] * mask_scale), round(semantic.shape[1] * mask_scale))
            masks = {k: resize_mask(v, shape) for k, v in masks.items()}
            fix = _pool_fixations(fix, shape)
        out.append({"id": f.stem, "source": "OSIE-SR", "image": image, "masks": masks,
                    "fixation_map": fix})
    return out


def rotated_items(items: Sequence[dict]) -> list[dict]:
    """The items with every category mask rotated by 180° (images unchanged): a chance
    reference for dissection. Mask sizes and shapes are kept, their alignment with the image
    content is broken, so the detectors found against rotated masks estimate how many units pass
    the IoU cut-off by chance (a check Bau et al. did not need on their much larger data set)."""
    def rot(m):
        return None if m is None else np.ascontiguousarray(np.asarray(m)[::-1, ::-1])

    return [{**it, "masks": {c: rot(m) for c, m in it["masks"].items()}} for it in items]


def shuffled_items(items: Sequence[dict], seed: int = 0) -> list[dict]:
    """The items with their masks exchanged between images (images unchanged): a chance
    reference for dissection that keeps realistic mask sizes and positions. Items are grouped by
    ``source`` and mask shape; within a group of two or more images the masks are moved by a
    seeded cyclic shift of a random order (no image keeps its own); a group of one image gets
    its masks rotated by 180° (:func:`rotated_items`)."""
    groups: dict = {}
    for k, it in enumerate(items):
        shape = next((np.asarray(m).shape for m in it["masks"].values() if m is not None), None)
        groups.setdefault((it.get("source"), shape), []).append(k)
    rng = np.random.default_rng(seed)
    out = list(items)
    for idx in groups.values():
        if len(idx) == 1:
            out[idx[0]] = rotated_items([items[idx[0]]])[0]
            continue
        order = [idx[j] for j in rng.permutation(len(idx))]
        for a, b in zip(order, order[1:] + order[:1]):
            out[a] = {**items[a], "masks": dict(items[b]["masks"])}
    return out


# ---------------------------------------------------------------------------- dissection
def _as_tensor(a) -> torch.Tensor:
    t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    t = t.detach().float().cpu()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3:
        raise ValueError(f"activations must be C x h x w per image, got shape {tuple(t.shape)}")
    return t


def unit_thresholds(activations: Sequence, quantiles=(0.995,)) -> np.ndarray:
    """Per-unit thresholds, ``len(quantiles) x C``: the quantiles of each unit's activation
    values over all positions of all images (``activations``: one ``C x h x w`` array or tensor
    per image)."""
    if not len(activations):
        raise ValueError("no activations")
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or np.any((q <= 0) | (q >= 1)):
        raise ValueError(f"quantiles must be in (0, 1), got {quantiles!r}")
    acts = [_as_tensor(a) for a in activations]
    c = acts[0].shape[0]
    if any(a.shape[0] != c for a in acts):
        raise ValueError("all images need the same number of units")
    flat = torch.cat([a.reshape(c, -1) for a in acts], dim=1).double().numpy()
    if not np.all(np.isfinite(flat)):
        raise ValueError("activations contain NaN or infinite values")
    return np.quantile(flat, q, axis=1)


@dataclass
class Dissection:
    """IoU of every unit with every category: ``iou[q, k, c]`` for quantile ``quantiles[q]``,
    unit k, category ``categories[c]``; ``thresholds[q, k]``."""

    layer: str
    categories: tuple
    quantiles: tuple
    thresholds: np.ndarray
    iou: np.ndarray

    def _q(self, quantile) -> int:
        q = self.quantiles[0] if quantile is None else quantile
        for i, v in enumerate(self.quantiles):
            if abs(v - q) < 1e-12:
                return i
        raise ValueError(f"quantile {q} was not computed; have {self.quantiles}")

    def best(self, quantile=None) -> tuple[np.ndarray, np.ndarray]:
        """Each unit's best category index and its IoU."""
        iou = self.iou[self._q(quantile)]
        return iou.argmax(axis=1), iou.max(axis=1)

    def counts(self, cutoff: float = 0.04, quantile=None) -> dict:
        """``{category: number of units whose best category it is, with IoU > cutoff}``."""
        best, val = self.best(quantile)
        return {c: int(np.sum((best == i) & (val > cutoff)))
                for i, c in enumerate(self.categories)}

    def detectors(self, category: str, cutoff: float = 0.04, quantile=None) -> np.ndarray:
        """Indices of the units that detect ``category`` (best category, IoU > cutoff),
        sorted by decreasing IoU."""
        ci = list(self.categories).index(category)
        best, val = self.best(quantile)
        idx = np.nonzero((best == ci) & (val > cutoff))[0]
        return idx[np.argsort(-val[idx])]


def _check_masks(masks: Sequence[dict], cats: tuple) -> list:
    for m in masks:
        missing = [c for c in cats if c not in m]
        if missing:
            raise ValueError(f"mask set lacks categories {missing}")
    if not any(m[c] is not None and np.asarray(m[c]).any() for m in masks for c in cats):
        raise ValueError("every category mask is empty")
    shapes = []
    for m in masks:
        given = [np.asarray(m[c]).shape for c in cats if m[c] is not None]
        if not given or any(g != given[0] or len(g) != 2 for g in given):
            raise ValueError("each image needs 2-D masks of one shape for its categories")
        shapes.append(given[0])
    return shapes


def dissect(layer: str, activations: Sequence, masks: Sequence[dict],
            quantiles=(0.995,), categories: Sequence[str] | None = None,
            only_present: bool = False) -> Dissection:
    """Dissect one layer (see the module docstring).

    ``activations``: one ``C x h x w`` array/tensor per image; ``masks``: one
    ``{category: bool H x W or None}`` dict per image (any resolution; the activation maps are
    upsampled bilinearly to it). ``None`` means the category is not annotated in that image
    (e.g. FIGRIM has no head polygons): the image is left out of that category's sums, as Bau
    et al. evaluate each concept on the images annotated for its kind. ``only_present``: sum
    the IoU only over images in which the category occurs (default: every annotated image).
    """
    return dissect_sets(layer, activations, {"masks": masks}, quantiles, categories,
                        only_present)["masks"]


def dissect_sets(layer: str, activations: Sequence, mask_sets: dict, quantiles=(0.995,),
                 categories: Sequence[str] | None = None,
                 only_present: bool = False) -> dict[str, Dissection]:
    """:func:`dissect` against several sets of masks at once (e.g. the real masks and a
    :func:`shuffled_items` chance reference), sharing the thresholds and the upsampled,
    thresholded activation maps; each image's masks must have the same shape in every set.
    Returns ``{set name: Dissection}``."""
    if not mask_sets:
        raise ValueError("no mask sets")
    first = next(iter(mask_sets.values()))
    for name, masks in mask_sets.items():
        if len(activations) != len(masks):
            raise ValueError(f"{len(activations)} activation sets but {len(masks)} mask sets "
                             f"in {name!r}")
    if not len(first):
        raise ValueError("no images")
    cats = tuple(categories or first[0].keys())
    if not cats:
        raise ValueError("no categories")
    shapes = {name: _check_masks(masks, cats) for name, masks in mask_sets.items()}
    ref = shapes[next(iter(mask_sets))]
    if any(sh != ref for sh in shapes.values()):
        raise ValueError("each image's masks must have the same shape in every mask set")
    acts = [_as_tensor(a) for a in activations]
    thr = unit_thresholds(acts, quantiles)
    n_q, n_u = thr.shape
    inter = {name: np.zeros((n_q, n_u, len(cats))) for name in mask_sets}
    union = {name: np.zeros((n_q, n_u, len(cats))) for name in mask_sets}
    thr_t = torch.from_numpy(thr).float()[:, :, None]
    for k, (a, shape) in enumerate(zip(acts, ref)):
        up = F.interpolate(a[None], size=shape, mode="bilinear", align_corners=False)[0]
        up = up.reshape(n_u, -1)
        per_set = []
        for name, masks in mask_sets.items():
            m = masks[k]
            annotated = np.array([m[c] is not None for c in cats])
            labs = np.zeros((up.shape[1], len(cats)), dtype=np.float32)
            for ci, c in enumerate(cats):
                if m[c] is not None:
                    labs[:, ci] = np.asarray(m[c], dtype=bool).reshape(-1)
            n_lab = labs.sum(0)
            use = annotated & ((n_lab > 0) | (not only_present))
            per_set.append((name, torch.from_numpy(labs), n_lab, use))
        for q in range(n_q):
            act = (up > thr_t[q]).float()  # units x pixels
            area = act.sum(1, keepdim=True).numpy()
            for name, labs_t, n_lab, use in per_set:
                i = (act @ labs_t).numpy()  # units x categories
                inter[name][q][:, use] += i[:, use]
                union[name][q][:, use] += (area + n_lab[None, :] - i)[:, use]
    out = {}
    qs = tuple(float(q) for q in np.atleast_1d(quantiles))
    for name in mask_sets:
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union[name] > 0, inter[name] / np.maximum(union[name], 1e-12), 0.0)
        out[name] = Dissection(layer, cats, qs, thr, iou)
    return out


# ---------------------------------------------------------------------------- finding 2
def region_saliency_ratio(pred, human, mask) -> float:
    """Share of a model's saliency inside ``mask`` divided by the share of the human fixation
    density inside it (both maps normalised to sum 1 first): 1 = the model puts as much
    weight on the region as people do, > 1 more, < 1 less. ``ValueError`` for an empty mask, a
    mask without human density or maps of different shapes."""
    p, h, m = (np.asarray(a, dtype=np.float64) for a in (pred, human, mask))
    if not (p.shape == h.shape == m.shape):
        raise ValueError(f"shapes differ: {p.shape}, {h.shape}, {m.shape}")
    m = m.astype(bool)
    if not m.any():
        raise ValueError("empty region mask")
    if p.min() < 0 or h.min() < 0 or p.sum() <= 0 or h.sum() <= 0:
        raise ValueError("maps must be non-negative and not all zero")
    hs = h[m].sum() / h.sum()
    if hs == 0:
        raise ValueError("no human fixation density inside the region")
    return float((p[m].sum() / p.sum()) / hs)
