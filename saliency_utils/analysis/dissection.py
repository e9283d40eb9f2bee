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
           "dissect", "dissect_sets", "rotated_items", "shuffled_items", "figrim_items",
           "osie_sr_items", "osie_sr_folder_items", "PermutationDissection", "permutation_dissect",
           "Overlaps", "unit_overlaps", "ImageExcess", "region_saliency_ratio", "resize_mask"]

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
    from saliency_utils import data

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
    from saliency_utils import data

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

    from saliency_utils import data

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
    flat = torch.cat([a.reshape(c, -1) for a in acts], dim=1).numpy()
    if not np.all(np.isfinite(flat)):
        raise ValueError("activations contain NaN or infinite values")
    # numpy's default ("linear") quantile from the two order statistics around q (n - 1), found
    # with one partition of the float32 values and interpolated in float64: the same numbers as
    # np.quantile on the float64 values, without copying them to float64
    pos = q * (flat.shape[1] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, flat.shape[1] - 1)
    part = np.partition(flat, np.unique(np.concatenate([lo, hi])), axis=1)
    a, b = part[:, lo].astype(np.float64).T, part[:, hi].astype(np.float64).T  # len(q) x C
    t = (pos - lo)[:, None]
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


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


# ------------------------------------------------------------- permutation dissection
@dataclass
class PermutationDissection:
    """Dissection of one layer against category masks on one common grid, with a permutation
    null for every unit and category (:func:`permutation_dissect`): ``iou[k, c]``; the null's
    mean IoU ``null_iou[k, c]``; the unit's standardised IoU ``z[k, c]`` (observed minus the
    null mean, over the moderated null SD); the raw permutation p-value ``p[k, c]``; the p-value adjusted
    over the layer's units, ``p_adj[k, c]`` (Westfall-Young max-T, per category);
    ``thresholds[k]``; ``images_containing``: images whose mask of the category is not empty."""

    layer: str
    categories: tuple
    quantile: float
    n_perm: int
    thresholds: np.ndarray
    iou: np.ndarray
    null_iou: np.ndarray
    z: np.ndarray
    p: np.ndarray
    p_adj: np.ndarray
    images_containing: dict

    def detectors(self, category: str, alpha: float = 0.05, cutoff: float = 0.0) -> np.ndarray:
        """Units that detect ``category``: significant for it (adjusted p <= ``alpha``) with
        IoU > ``cutoff``, and, among the categories for which they are significant, with their
        highest IoU there (each unit counted once, as in Bau et al.); sorted by IoU."""
        ci = list(self.categories).index(category)
        sig = (self.p_adj <= alpha) & (self.iou > cutoff)
        best = np.where(sig, self.iou, -np.inf).argmax(axis=1)
        idx = np.nonzero(sig[:, ci] & (best == ci))[0]
        return idx[np.argsort(-self.iou[idx, ci])]

    def counts(self, alpha: float = 0.05, cutoff: float = 0.0) -> dict:
        """``{category: number of detectors}`` (:meth:`detectors`)."""
        return {c: len(self.detectors(c, alpha, cutoff)) for c in self.categories}


def permutation_dissect(layer: str, activations: Sequence, masks: Sequence[dict],
                        categories: Sequence[str], quantile: float = 0.995, n_perm: int = 1000,
                        seed: int = 0, chunk: int = 100) -> PermutationDissection:
    """Network dissection of one layer (Bau et al.'s thresholds and IoU, see the module
    docstring) with a **permutation null**: for every unit k and category c, the IoU summed over
    all images is compared with its distribution when the masks are randomly re-paired with the
    images (``n_perm`` permutations drawn from ``seed``, the same for every unit, category and
    network, so that two networks are tested against the same shuffles). The null keeps each
    mask's size and position and each unit's activation maps; only the pairing of the two is
    broken.

    Multiple comparisons over the layer's units: Westfall and Young's single-step **max-T**. Each
    unit's IoU is standardised by its own null mean and a moderated SD (its null SD plus the
    median null SD of the layer, Tusher et al.'s s0, so that units which almost never overlap a
    mask do not dominate the maximum); a unit's adjusted p-value is the share of shuffles in
    which the *largest* standardised null IoU of the layer reaches the unit's own. This controls
    the family-wise error rate over the layer's units, and with it the
    false-discovery rate. (Benjamini-Hochberg on the raw permutation p-values could not reach
    significance in a layer of many units: with 1000 shuffles the smallest p is 1/1001, and
    1280 units need p < 0.05 / 1280 for a single discovery.)

    ``masks``: one ``{category: bool mask}`` per image, every mask on one common grid (images of
    different shapes are resized to it, the activation maps too: alignment is kept). Every image
    counts for every category (an image without the category contributes only the unit's
    active area to the union), as the masks come from detectors run on every image.

    The same as ``unit_overlaps(activations, masks, categories, quantile).permutation(layer,
    n_perm, seed, chunk)``; build the :class:`Overlaps` once to also get :meth:`Overlaps.
    image_excess` without a second pass over the images."""
    return unit_overlaps(activations, masks, categories, quantile).permutation(layer, n_perm,
                                                                               seed, chunk)


@dataclass
class ImageExcess:
    """Per-image evidence of one layer for each category (:meth:`Overlaps.image_excess`).

    ``excess[c, k, i]``: for image i whose mask of category c is not empty, unit k's IoU with
    that mask minus its mean IoU with the masks of c of the *other* images that contain c (the
    unit's map on image i, thresholded as in Bau et al.); NaN where image i does not contain c.
    Under no association between the unit's maps and the category (masks exchangeable across
    images) its expectation is 0, whatever the unit's or the masks' sizes and positions.

    ``crossfit[p, c, i]``: the excess on image i of the unit **chosen on the other fold**
    (``selected[p, c, f]``: the unit with the highest mean excess over fold f's images that
    contain c), so that choosing the best unit out of many does not bias the value; row ``p =
    0`` is the real pairing of images and masks, rows ``1..n_null`` re-pair the masks with the
    images at random (the same unit search, on masks that cannot match the images: a null
    sample of the whole procedure). ``contains[p, c, i]``: whether the mask paired with image i
    in pairing p contains c; ``folds[i]``: image i's fold (0 or 1)."""

    layer: str
    categories: tuple
    folds: np.ndarray
    excess: np.ndarray
    crossfit: np.ndarray
    selected: np.ndarray
    contains: np.ndarray

    def values(self, category: str, pairing: int = 0) -> np.ndarray:
        """The cross-fitted excess of the images (of ``pairing``) that contain ``category``."""
        ci = list(self.categories).index(category)
        return self.crossfit[pairing, ci][self.contains[pairing, ci]]

    def with_units(self, extra: "ImageExcess") -> "ImageExcess":
        """The real pairing's evidence with the units of ``extra`` (the same images and masks,
        e.g. planted units for a positive control) added to the units to choose from; the
        re-pairings are dropped."""
        if (extra.categories != self.categories or not np.array_equal(extra.folds, self.folds)
                or not np.array_equal(extra.contains[0], self.contains[0])):
            raise ValueError("the extra units must be measured on the same images, masks and folds")
        excess = np.concatenate([self.excess, extra.excess], axis=1)
        crossfit = np.full((1, *self.crossfit.shape[1:]), np.nan)
        selected = np.full((1, len(self.categories), 2), -1, dtype=int)
        for ci in range(len(self.categories)):
            crossfit[:, ci], selected[:, ci] = _crossfit(excess[ci][None], self.contains[:1, ci],
                                                         self.folds)
        return ImageExcess(self.layer, self.categories, self.folds, excess, crossfit, selected,
                           self.contains[:1].copy())


def _crossfit(exc: np.ndarray, contains: np.ndarray, folds: np.ndarray):
    """``exc``: pairings x units x images (NaN where the paired mask lacks the category);
    ``contains``: pairings x images. Per pairing and fold f, the unit with the highest mean
    excess over fold f's images that contain the category scores the other fold's images:
    returns (pairings x images values, pairings x 2 chosen units, -1 where a fold has none)."""
    n_p, _, n = exc.shape
    values = np.full((n_p, n), np.nan)
    selected = np.full((n_p, 2), -1, dtype=int)
    for f in (0, 1):
        use = (folds == f)[None, :] & contains  # P x i
        n_use = use.sum(1)
        mean = np.where(use[:, None, :], exc, 0.0).sum(-1) / np.maximum(n_use, 1)[:, None]
        best = mean.argmax(1)
        rows = np.nonzero(n_use > 0)[0]
        selected[rows, f] = best[rows]
        other = np.nonzero(folds == 1 - f)[0]
        values[np.ix_(rows, other)] = exc[rows, best[rows]][:, other]
    values[~contains] = np.nan
    return values, selected


@dataclass
class Overlaps:
    """Every unit's thresholded maps against every image's category masks, for one layer
    (:func:`unit_overlaps`): ``inter[c, k, i, j]``, the pixels where unit k is active on image
    i and the mask of category c of image j is set; ``area[k, i]``, unit k's active pixels on
    image i; ``mask_area[c, j]``; ``thresholds[k]``. Both the permutation dissection
    (:meth:`permutation`) and the per-image evidence (:meth:`image_excess`) are computed from
    it, with one pass over the images."""

    categories: tuple
    quantile: float
    thresholds: np.ndarray
    inter: torch.Tensor
    area: torch.Tensor
    mask_area: torch.Tensor

    @property
    def n_images(self) -> int:
        return int(self.area.shape[1])

    def permutation(self, layer: str, n_perm: int = 1000, seed: int = 0,
                    chunk: int = 100) -> PermutationDissection:
        """The permutation dissection of :func:`permutation_dissect` from these overlaps."""
        if n_perm < 1:
            raise ValueError("n_perm must be at least 1")
        g, n, cats = self.inter, self.n_images, self.categories
        area = self.area.sum(1)
        lab_area = self.mask_area.sum(1)  # C (invariant to re-pairing)
        diag = torch.arange(n)
        inter = g[:, :, diag, diag].sum(-1)  # C x K
        rng = np.random.default_rng(seed)
        perms = torch.from_numpy(np.stack([rng.permutation(n) for _ in range(n_perm)]))
        null = torch.cat([g[:, :, diag[None, :], perms[s:s + chunk]].sum(-1)
                          for s in range(0, n_perm, chunk)], dim=-1)  # C x K x B overlaps
        union_obs = area[None] + lab_area[:, None] - inter
        union_null = area[None, :, None] + lab_area[:, None, None] - null
        iou_obs = torch.where(union_obs > 0, inter / union_obs.clamp_min(1e-12), 0.0).double()
        iou_null = torch.where(union_null > 0, null / union_null.clamp_min(1e-12), 0.0).double()
        mu, sd = iou_null.mean(-1), iou_null.std(-1)
        testable = sd > 0
        # moderated standardisation (Tusher et al.'s s0): a unit that almost never overlaps any
        # mask has a near-zero null SD, and dividing by it would let its rare overlaps dominate
        # the layer's maximum; s0 is the median null SD of the layer's testable units
        s0 = torch.stack([sd[ci][testable[ci]].median() if testable[ci].any() else
                          torch.tensor(1.0, dtype=sd.dtype) for ci in range(len(cats))])[:, None]
        scale = sd + s0
        neg = torch.tensor(-np.inf, dtype=torch.float64)
        z_obs = torch.where(testable, (iou_obs - mu) / scale, neg)
        z_null = torch.where(testable[..., None], (iou_null - mu[..., None]) / scale[..., None],
                             neg)
        p = (1 + (iou_null >= iou_obs[..., None] - 1e-12).sum(-1)) / (1 + n_perm)
        max_null = z_null.max(dim=1).values  # C x B: the layer's largest standardised null IoU
        p_adj = (1 + (max_null[:, None, :] >= z_obs[..., None]).sum(-1)) / (1 + n_perm)
        p_adj = torch.where(testable, p_adj, torch.ones_like(p_adj))
        contain = {c: int((self.mask_area[ci] > 0).sum()) for ci, c in enumerate(cats)}
        return PermutationDissection(layer, cats, self.quantile, int(n_perm), self.thresholds,
                                     iou_obs.T.numpy(), mu.T.numpy(), z_obs.T.numpy(),
                                     p.T.double().numpy(), p_adj.T.double().numpy(), contain)

    def image_excess(self, layer: str, n_null: int = 0, seed: int = 0, folds=None,
                     chunk: int = 256) -> ImageExcess:
        """Per-image evidence with a two-fold cross-fitted unit choice (:class:`ImageExcess`).

        ``folds``: each image's fold, 0 or 1 (default: alternating in the order of the images,
        so that every data set of a concatenated list falls into both folds); ``n_null``: random
        re-pairings of masks and images drawn from ``seed`` (independent of
        :meth:`permutation`'s shuffles), each run through the same unit choice."""
        n, cats = self.n_images, self.categories
        folds = np.arange(n) % 2 if folds is None else np.asarray(folds, dtype=int)
        if folds.shape != (n,) or not set(np.unique(folds)) <= {0, 1}:
            raise ValueError(f"folds must give 0 or 1 for each of the {n} images")
        if n_null < 0:
            raise ValueError("n_null must be >= 0")
        rng = np.random.default_rng([int(seed), 1])
        pairings = np.stack([np.arange(n)] + [rng.permutation(n) for _ in range(n_null)])
        n_p, n_k = len(pairings), self.inter.shape[1]
        excess = np.full((len(cats), n_k, n), np.nan, np.float32)
        crossfit = np.full((n_p, len(cats), n), np.nan)
        selected = np.full((n_p, len(cats), 2), -1, dtype=int)
        contains = np.zeros((n_p, len(cats), n), dtype=bool)
        idx = torch.arange(n)
        for ci in range(len(cats)):
            has = (self.mask_area[ci] > 0).numpy()
            m = int(has.sum())
            contains[:, ci] = has[pairings]
            if m < 2:  # no other image to compare with
                continue
            exc = torch.empty((n_p, n_k, n))
            has_t, pair_t = torch.from_numpy(has), torch.from_numpy(pairings)
            for s in range(0, n_k, chunk):
                g = self.inter[ci, s:s + chunk]  # k x i x j
                union = self.area[s:s + chunk, :, None] + self.mask_area[ci][None, None] - g
                iou = torch.where(union > 0, g / union.clamp_min(1e-12), 0.0)
                total = iou[:, :, has_t].sum(-1)  # k x i: over the images with c
                own = iou[:, idx[None, :], pair_t]  # k x P x i
                own = own.permute(1, 0, 2)
                exc[:, s:s + chunk] = own - (total[None] - own) / (m - 1)
            exc = exc.numpy()
            exc[~np.broadcast_to(contains[:, ci, None, :], exc.shape)] = np.nan
            excess[ci] = exc[0]
            crossfit[:, ci], selected[:, ci] = _crossfit(exc, contains[:, ci], folds)
        return ImageExcess(layer, cats, folds, excess, crossfit, selected, contains)


def unit_overlaps(activations: Sequence, masks: Sequence[dict], categories: Sequence[str],
                  quantile: float = 0.995) -> Overlaps:
    """One pass over the images of a layer: every unit's maps (Bau et al.'s threshold at
    ``quantile``, upsampled to the masks' common grid) against every image's category masks
    (:class:`Overlaps`). ``masks``: one ``{category: bool mask}`` per image on one common grid."""
    cats = tuple(categories)
    if len(activations) != len(masks):
        raise ValueError(f"{len(activations)} activation sets but {len(masks)} mask sets")
    n = len(masks)
    if n < 2:
        raise ValueError("a permutation null needs at least two images")
    missing = [c for m in masks for c in cats if c not in m or m[c] is None]
    if missing:
        raise ValueError(f"every image needs a mask of every category; missing: {sorted(set(missing))}")
    grids = {np.asarray(m[c]).shape for m in masks for c in cats}
    if len(grids) != 1 or len(next(iter(grids))) != 2:
        raise ValueError(f"all masks must be 2-D on one common grid, got shapes {sorted(grids)}")
    grid = next(iter(grids))
    lab = np.stack([np.stack([np.asarray(m[c], bool).reshape(-1) for m in masks]) for c in cats])
    if not lab.any():
        raise ValueError("every category mask is empty")
    lab_cols = torch.from_numpy(lab.astype(np.float32)).permute(2, 0, 1).reshape(lab.shape[2], -1)
    acts = [_as_tensor(a) for a in activations]
    thr = unit_thresholds(acts, (quantile,))[0]
    n_u, n_c = len(thr), len(cats)
    thr_t = torch.from_numpy(thr).float()[:, None]
    # g[c, k, i, j]: overlap of unit k's thresholded map on image i with the mask of category c
    # of image j (sparse: a unit is above its 99.5 % quantile on few pixels)
    g = torch.zeros((n_c, n_u, n, n))
    area = torch.zeros((n_u, n))
    for i, a in enumerate(acts):
        # a bilinear upsampling never exceeds the map's maximum: only units above their
        # threshold somewhere on this image can have active pixels
        on = torch.nonzero(a.reshape(n_u, -1).amax(1) > thr_t[:, 0]).flatten()
        if not len(on):
            continue
        up = F.interpolate(a[on][None], size=grid, mode="bilinear", align_corners=False)[0]
        act = up.reshape(len(on), -1) > thr_t[on]
        area[on, i] = act.sum(1).float()
        rows, cols = torch.nonzero(act, as_tuple=True)
        sp = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.ones(len(rows)),
                                     (len(on), act.shape[1]), check_invariants=False)
        g[:, on, i, :] = torch.sparse.mm(sp, lab_cols).reshape(len(on), n_c, n).permute(1, 0, 2)
    mask_area = torch.from_numpy(lab.sum(2).astype(np.float32))  # C x N
    return Overlaps(cats, float(quantile), thr, g, area, mask_area)


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
