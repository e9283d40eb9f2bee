"""Every explanation in the book on the same images: the cross-paper comparison.

Two kinds of map are compared.

* **Classifier explanations** (chapters 1 and 2), from :class:`ClassifierExplainer`: the
  gradient (max over channels of |dS_c/dx|), SmoothGrad, LRP with the authors' rules of Li et
  al. (sum over channels of |R|) and the SR map (context-aware saliency of the LRP heatmap).
  They are computed at the classifier's square input for **one class per image**: the
  predicted class on the eye-tracking images (they have no labels), the true class on ImageNet
  (the class whose boxes are scored).
* **Saliency maps** (chapters 3 and 5, and the anchor): any callable ``image -> map at the
  image's size``: the trained saliency model, its log-Gabor explainable version, the
  prior-only model of the same fit (the network's learned centre-bias prior alone: the
  reference for what the log-Gabor reconstruction adds), the centre bias.

:func:`fixation_scores` scores all of them against human fixations with the MIT metrics,
:func:`box_scores` against ImageNet boxes with the pointing game, the energy in the boxes and
box localisation errors. Both follow the book's one failure policy
(:mod:`saliency_utils.evaluate.scoring`): with ``failure="raise"`` (the default) a map that cannot be
scored is an error naming the image, the map and the variant; with ``failure="miss"`` its row
keeps NaN scores and is **counted** (``run.misses``, ``run.failures`` and the score table's
``attrs``), never dropped silently. Classifier explanations are pixel-sparse, so both scorers report them
twice: as computed, and blurred with a Gaussian of about one degree of visual angle, the same
width as the Gaussian that turns human fixations into a density (:func:`postprocess`).
Saliency maps are densities already and are scored as computed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from scipy import ndimage

from saliency_utils import data
from saliency_utils.evaluate import anchors, boxes, scoring as evaluation, faithfulness, maps, stats
from saliency_utils.explain import lrp
from saliency_utils.explain.api import Explanations, explain
from saliency_utils.training import saliency as training
from saliency_utils.models.backbones import to_uint8_rgb
from saliency_utils.evaluate.boxes import box_union_mask
from saliency_utils.evaluate.wsol import WSOLRun, mean_box_fraction

__all__ = ["CLASSIFIER_METHODS", "SALIENCY_MAPS", "LOGGABOR", "PRIOR_ONLY", "AS_COMPUTED",
           "BLURRED", "ClassifierExplainer", "postprocess",
           "FixationRun", "fixation_scores", "BoxRun", "box_scores", "summary", "main_rows",
           "mean_ci_table", "per_image", "saliency_maps",
           "fixation_example", "box_example"]

CLASSIFIER_METHODS = ("gradient", "SmoothGrad", "LRP", "SR map")
#: The names of :func:`saliency_maps`, in order.
LOGGABOR, PRIOR_ONLY = "log-Gabor reconstruction", "prior only"
SALIENCY_MAPS = ("saliency model", LOGGABOR, PRIOR_ONLY, "centre bias")
AS_COMPUTED, BLURRED = "as computed", "1° blur"


@dataclass
class ClassifierExplainer:
    """The classifier explanations of chapters 1 and 2 for a batch of images.

    ``backbone``: a :class:`saliency_utils.models.backbones.Backbone`; ``sg_samples`` / ``sg_stdev``:
    SmoothGrad's noisy copies and noise level (:func:`saliency_utils.explain.attribution.smoothgrad`);
    ``ca``: keywords of :func:`saliency_utils.explain.context_saliency.context_aware_saliency` for the
    SR map (with a backbone on a CUDA device, ``device`` defaults to that device);
    ``workers``: threads of the SR step."""

    backbone: object
    sg_samples: int = 25
    sg_stdev: float = 0.15
    ca: dict = field(default_factory=dict)
    workers: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.sg_samples < 1:
            raise ValueError(f"sg_samples must be >= 1, got {self.sg_samples}")
        self.canonical = lrp.canonise(self.backbone.model)
        dev = getattr(self.backbone, "device", None)
        if dev is not None and torch.device(dev).type == "cuda" and "device" not in self.ca:
            # the SR step's distance search follows the classifier onto the GPU (chapter 2
            # does the same); dense SR maps take seconds each on a CPU
            self.ca = {**self.ca, "device": torch.device(dev)}

    @classmethod
    def from_settings(cls, cfg: Mapping) -> "ClassifierExplainer":
        """The explainer of chapter 6's profile settings: ``backbone`` (loaded with
        :func:`saliency_utils.models.backbones.load_backbone` with ``weights``, default ``"imagenet"``),
        ``sg_samples``, ``sg_stdev``, ``ca``, ``workers``, ``seed``."""
        from saliency_utils.models.backbones import load_backbone

        backbone = load_backbone(cfg["backbone"], weights=cfg.get("weights", "imagenet"))
        return cls(backbone, sg_samples=cfg["sg_samples"],
                   sg_stdev=cfg["sg_stdev"], ca=dict(cfg["ca"]), workers=cfg["workers"],
                   seed=cfg["seed"])

    @property
    def size(self) -> int:
        return int(self.backbone.input_size)

    def maps(self, images: Sequence[np.ndarray], target: Sequence[int] | None = None,
             seconds: dict | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``({method: N x S x S float32 map}, top-5 classes N x 5)`` for ``images`` (uint8
        RGB, any size; resized to the square input ``S`` without a crop). ``target``: the
        class to explain per image (default: the predicted class). ``seconds``: a dict to
        which the time of each method is added."""
        if len(images) == 0:
            raise ValueError("no images given")
        model = self.backbone.model
        x = self.backbone.preprocess(list(images))
        with torch.no_grad():
            topk = model(x).topk(5, dim=1).indices.cpu().numpy()
        if target is None:
            target = topk[:, 0].tolist()
        elif len(target) != len(images):
            raise ValueError(f"{len(target)} targets for {len(images)} images")
        target = [int(t) for t in target]
        ex = Explanations(model, x, target, canonical=self.canonical)  # one LRP pass for two maps
        out, spent = {}, {}
        for k, method, opts in [
                ("gradient", "gradient", {}),
                ("SmoothGrad", "smoothgrad", dict(n_samples=self.sg_samples, stdev=self.sg_stdev,
                                                  seed=self.seed)),
                ("LRP", "lrp", dict(composite="authors", mode="abs")),
                ("SR map", "sr", dict(composite="authors", workers=self.workers, **self.ca))]:
            t0 = time.perf_counter()
            out[k] = ex.map(method, **opts)
            spent[k] = time.perf_counter() - t0
        if seconds is not None:
            for k, v in spent.items():
                seconds[k] = seconds.get(k, 0.0) + v
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}, topk


def postprocess(saliency_map, shape, blur_sigma: float = 0.0) -> np.ndarray:
    """A map made comparable with others: blurred with a Gaussian of ``blur_sigma`` pixels *of
    the output* (``0``: no blur; scipy's ``gaussian_filter``, borders reflected, applied before
    resizing with the width scaled to the map's own resolution, per axis), resized to ``shape``
    (bicubic with anti-aliasing, :func:`saliency_utils.evaluate.maps.resize_map`), scaled to a maximum
    of 1. Raises ``ValueError`` for a map that is not 2-D, not finite, negative or
    constant (it would point nowhere); a :class:`~saliency_utils.evaluate.maps.UniformMap` (meant to be
    constant) comes back as the uniform map of ``shape``, which the fixation scores score as
    such and the box scores count as a miss."""
    if isinstance(saliency_map, maps.UniformMap):
        return maps.uniform_map(shape)
    m = maps.check_saliency_map(saliency_map, allow_negative=False)
    if not (np.isfinite(blur_sigma) and blur_sigma >= 0):
        raise ValueError(f"blur_sigma must be a finite number >= 0, got {blur_sigma}")
    if blur_sigma > 0:  # blur at the map's own resolution: the same width in output pixels
        sig = [blur_sigma * a / b for a, b in zip(m.shape, shape)]
        m = ndimage.gaussian_filter(m, sig, mode="reflect")
    out = maps.resize_map(m, tuple(shape))
    top = out.max()
    if not top > out.min():
        raise ValueError("map is constant: it points nowhere")
    return out / top


def saliency_maps(model, loggabor: Mapping, n_fit: int | None = None,
                  n_val: int | None = None) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The book's four saliency maps as ``image -> map`` callables (:data:`SALIENCY_MAPS`): the
    trained saliency ``model``; its log-Gabor reconstruction (chapter 5's main explainable
    model from chapter 5's profile settings ``loggabor``: ``main_layer`` replaced, fitted on the
    first ``n_fit`` OSIE training images with the penalty chosen on the next ``n_val``; by
    default the settings' ``n_fit`` and ``n_val``, i.e. the same fit as chapter 5's); the
    **prior-only** model of the same fit (the same network fed the mean readout input of the
    fit images everywhere: its learned centre-bias prior alone,
    :func:`saliency_utils.explain.loggabor_explain.prior_only_model`), built from the same statistics
    (:func:`saliency_utils.explain.loggabor_explain.fit_explainable_and_prior`); and the centre bias
    fitted to the OSIE training fixations. With ``main_layer`` the readout input (every
    profile's), the prior-only map depends only on the image's size and is computed once per
    size (:class:`saliency_utils.explain.loggabor_explain.ExplainableModel`)."""
    from saliency_utils.explain import loggabor_explain as lx

    n_fit = loggabor["n_fit"] if n_fit is None else n_fit
    n_val = loggabor["n_val"] if n_val is None else n_val
    train, _ = data.osie_split()
    images = lambda ids: [lambda i=i: data.load_osie_image(i) for i in ids]
    explainable, prior = lx.fit_explainable_and_prior(
        model, loggabor["main_layer"], lx.FeatureSpec.from_settings(loggabor),
        images(train[:n_fit]), images(train[n_fit:n_fit + n_val]))
    frac = training.osie_centre_bias()
    return {"saliency model": lambda img: explain(model, img, "saliency_model"),
            LOGGABOR: lambda img: explain(explainable, img, "loggabor"),
            # computed once per image size (readout input constant)
            PRIOR_ONLY: lambda img: explain(prior, img, "loggabor"),
            "centre bias": lambda img: explain(None, img, "centre_bias", sigma_frac=frac)}


def _variants(name: str) -> tuple[str, ...]:
    return (AS_COMPUTED, BLURRED) if name in CLASSIFIER_METHODS else (AS_COMPUTED,)


def _check_saliency_maps(saliency_maps: Mapping[str, Callable]) -> None:
    clash = set(saliency_maps) & set(CLASSIFIER_METHODS)
    if clash:
        raise ValueError(f"saliency-map names {sorted(clash)} clash with the classifier methods")
    for k, f in saliency_maps.items():
        if not callable(f):
            raise TypeError(f"saliency map {k!r} must be a callable image -> map")


def _raw_maps(cmaps: dict, b: int, saliency_maps: Mapping[str, Callable], image,
              seconds: dict) -> dict:
    """Image ``b``'s classifier maps and its saliency maps (timed into ``seconds``)."""
    raw = {k: v[b] for k, v in cmaps.items()}
    for k, fn in saliency_maps.items():
        t0 = time.perf_counter()
        raw[k] = fn(image)
        seconds[k] = seconds.get(k, 0.0) + time.perf_counter() - t0
    return raw


def _score_variants(raw: dict, shape, blur: float, key, failures: list,
                    score: Callable[[np.ndarray], dict], failed: Callable[[], dict],
                    failure: str = "raise"):
    """Post-process and ``score`` every map in each of its variants. A map or score that
    raises ``ValueError`` is an error naming the image, map and variant (``failure="raise"``),
    or gets ``failed()`` and a ``(key, method, variant, message)`` entry in ``failures``
    (``failure="miss"``: a counted miss). Returns the rows and, per method, its last variant's
    map (for figures)."""
    rows, shown = [], {}
    for k, m in raw.items():
        for variant in _variants(k):
            try:
                s = postprocess(m, shape, blur if variant == BLURRED else 0.0)
                res = score(s)
                if variant == _variants(k)[-1]:
                    shown[k] = s
            except ValueError as err:
                if failure == "raise":
                    raise ValueError(f"image {key}, map {k!r} ({variant}): unscorable map: "
                                     f"{err}") from err
                failures.append((key, k, variant, str(err)))
                res = failed()
            rows.append({"image": key, "method": k, "variant": variant, **res})
    return rows, shown


# ------------------------------------------------------------------------------ fixations
@dataclass
class FixationRun:
    """Result of :func:`fixation_scores`. ``scores``: one row per (image, method, variant)
    with a column per metric (NaN where the map could not be scored under
    ``failure="miss"``, each such row listed in ``failures`` as ``(image, method, variant,
    message)`` and counted in ``misses``); ``targets``: the explained
    (predicted) class per image; ``examples``: the first images' maps (blurred classifier
    maps) at the image size, for figures; ``seconds``: time per method."""

    dataset: str
    ids: list
    sigma_px: float
    scores: object  # pandas DataFrame
    targets: np.ndarray
    failures: list
    examples: list
    seconds: dict

    @property
    def misses(self) -> int:
        """Rows (image, map, variant) that could not be scored (``failure="miss"``)."""
        return len(self.failures)

    @property
    def blur_px(self) -> float:
        """Width of the blurred classifier maps: the human density's one degree."""
        return self.sigma_px


def fixation_scores(dataset: str, explainer: ClassifierExplainer | None,
                    saliency_maps: Mapping[str, Callable[[np.ndarray], np.ndarray]],
                    n: int | None = None, wanted: Sequence[str] = ("AUC-Judd", "sAUC", "NSS",
                                                                    "CC", "KLD"),
                    batch_size: int = 8, n_examples: int = 0, seed: int = 0,
                    progress: bool = False, failure: str = "raise") -> FixationRun:
    """Score every map against all observers' fixations of ``dataset`` (``"osie_test"`` or
    ``"mit1003"``, :meth:`saliency_utils.evaluate.scoring.FixationDataset.named`; the first ``n``
    images) with :func:`saliency_utils.evaluate.scoring.score_image`.

    The human density uses the dataset's one-degree Gaussian; the blurred classifier maps use
    the same width. sAUC takes its negatives from the fixations of ten other images of the
    same set (:func:`saliency_utils.evaluate.anchors.other_fixation_map`). ``explainer=None`` scores
    the saliency maps only. ``failure``: ``"raise"`` or ``"miss"`` (module docstring)."""
    from tqdm.auto import tqdm

    _check_saliency_maps(saliency_maps)
    evaluation.check_failure_policy(failure)
    if explainer is None and not saliency_maps:
        raise ValueError("nothing to score: no explainer and no saliency maps")
    ds = evaluation.FixationDataset.named(dataset, n)
    ids, load_img, sigma = list(ds.ids), ds.load_image, ds.sigma_px
    fixsets = ds.fixation_sets()
    if any(len(f) == 0 for f in fixsets):
        raise ValueError(f"{dataset}: an image has no fixations")
    rows, failures, examples = [], [], []
    seconds: dict[str, float] = {}
    targets = np.full(len(ids), -1)
    bar = tqdm(total=len(ids), desc=f"maps on {dataset}", disable=not progress, leave=False)
    for start in range(0, len(ids), batch_size):
        idx = list(range(start, min(start + batch_size, len(ids))))
        imgs = [to_uint8_rgb(load_img(ids[i])) for i in idx]
        cmaps = {}
        if explainer is not None:
            cmaps, topk = explainer.maps(imgs, seconds=seconds)
            targets[idx] = topk[:, 0]
        for b, i in enumerate(idx):
            f = fixsets[i]
            fixmap, density = f.fixation_map(), f.density(sigma)
            other = (anchors.other_fixation_map(fixsets, i, f.shape, seed=seed)
                     if "sAUC" in wanted else None)
            raw = _raw_maps(cmaps, b, saliency_maps, imgs[b], seconds)
            new, shown = _score_variants(
                raw, f.shape, sigma, ids[i], failures,
                lambda s: evaluation.score_image(s, fixmap, density, other, None, wanted, seed),
                lambda: {m_: np.nan for m_ in wanted}, failure)
            rows += new
            if i < n_examples:
                examples.append({"dataset": dataset, "image": imgs[b], "fixations": f,
                                 "density": density, "id": ids[i], "target": int(targets[i]),
                                 "maps": shown})
            bar.update(1)
    bar.close()
    return FixationRun(dataset, list(ids), float(sigma), evaluation.score_frame(rows, failures, failure),
                       targets, failures, examples, seconds)


# ------------------------------------------------------------------------------ boxes
@dataclass
class BoxRun:
    """Result of :func:`box_scores`. ``scores``: one row per (image, method, variant) with
    ``pointing``, ``energy``, ``regions``, ``largest region share``; ``wsol``: a
    :class:`saliency_utils.evaluate.wsol.WSOLRun` whose makers are ``"<method>, <variant>"`` (boxes
    around the largest region above ``box_frac`` of the map's maximum) plus the full-image and
    centred-box baselines; ``area``: the share of each image the boxes cover (what a uniform
    map's energy is). Under ``failure="miss"`` a map that could not be scored has NaN scores
    (left out of the means and counted in their ``misses``) and a zero-area box (a localisation
    miss, :func:`saliency_utils.evaluate.boxes.miss_box`), and is
    listed in ``failures`` and counted in ``misses``."""

    n: int
    size: int
    blur_px: float
    tolerance_px: list
    scores: object
    wsol: WSOLRun
    area: np.ndarray
    failures: list
    examples: list
    seconds: dict

    @property
    def misses(self) -> int:
        """Rows (image, map, variant) that could not be scored (``failure="miss"``)."""
        return len(self.failures)


def box_scores(records: Sequence, explainer: ClassifierExplainer | None,
               saliency_maps: Mapping[str, Callable[[np.ndarray], np.ndarray]],
               blur_px: float, tolerance_px: float = 15.0, box_frac: float = 0.2,
               top_q: float = 0.1, batch_size: int = 8, n_examples: int = 0,
               progress: bool = False, size: int | None = None,
               failure: str = "raise") -> BoxRun:
    """Score every map against the boxes of ImageNet validation ``records``
    (:func:`saliency_utils.data.imagenet_val`), at the classifier's input size ``S`` (or
    ``size`` without an explainer): the classifier explains the **true** class; saliency maps
    are computed on the stored image and resized to ``S``. The pointing-game tolerance is
    ``tolerance_px`` pixels of the original image (Zhang et al.: 15), scaled to ``S``; blurred
    classifier maps use a Gaussian of ``blur_px`` pixels at ``S``. The box of a map is the box
    of its largest region above ``box_frac`` of its maximum (the CAM rule). ``failure``:
    ``"raise"`` or ``"miss"`` (module docstring)."""
    from tqdm.auto import tqdm

    _check_saliency_maps(saliency_maps)
    evaluation.check_failure_policy(failure)
    if len(records) == 0:
        raise ValueError("no records given")
    if explainer is None and not size:
        raise ValueError("without an explainer, give the scoring size")
    S = explainer.size if explainer is not None else int(size)
    gts = [boxes.scale_box(r.boxes, (data.IMAGENET_SIZE,) * 2, (S, S)) for r in records]
    tols = [tolerance_px * S / max(r.original_size) for r in records]
    labels = np.array([r.label for r in records])
    topk = np.full((len(records), 5), -1)
    rows, failures, examples = [], [], []
    box_sets: dict[str, list] = {}
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(records), desc="maps on ImageNet", disable=not progress, leave=False)
    for start in range(0, len(records), batch_size):
        idx = list(range(start, min(start + batch_size, len(records))))
        imgs = [data.load_imagenet_image(records[i]) for i in idx]
        cmaps = {}
        if explainer is not None:
            cmaps, tk = explainer.maps(imgs, target=labels[idx].tolist(), seconds=seconds)
            topk[idx] = tk
        for b, i in enumerate(idx):
            raw = _raw_maps(cmaps, b, saliency_maps, imgs[b], seconds)

            def score(s, i=i):
                sc = faithfulness.score_map(s, gts[i], tols[i], (box_frac,), top_q)
                sc["box"] = sc.pop(f"box@{box_frac:g}")
                sc.pop("failed")
                return sc

            new, shown = _score_variants(
                raw, (S, S), blur_px, records[i].file, failures, score,
                lambda: {"pointing": np.nan, "energy": np.nan, "regions": np.nan,
                         "largest region share": np.nan, "box": boxes.miss_box()},
                failure)
            for row in new:
                box_sets.setdefault(f"{row['method']}, {row['variant']}", []).append(
                    np.asarray(row.pop("box")))
            rows += new
            if i < n_examples:
                examples.append({"dataset": "imagenet", "image": imgs[b], "record": records[i],
                                 "boxes": gts[i], "target": int(labels[i]), "maps": shown})
            bar.update(1)
    bar.close()
    stacked = {k: np.stack(v) for k, v in box_sets.items()}
    w_frac, h_frac = mean_box_fraction(gts, [(S, S)] * len(records))
    stacked["full-image box"] = np.stack([boxes.full_image_box((S, S))] * len(records))
    stacked["centred box of mean size"] = np.stack(
        [boxes.centred_box((S, S), w_frac, h_frac)] * len(records))
    if explainer is None:  # no classifier: class-free localisation only (GT-known)
        topk = np.repeat(labels[:, None], 5, axis=1)
    run = WSOLRun(labels=labels, topk=topk, gt_boxes=gts, boxes=stacked)
    area = np.array([float(box_union_mask(g, (S, S)).mean()) for g in gts])
    return BoxRun(len(records), S, float(blur_px), tols, evaluation.score_frame(rows, failures, failure), run,
                  area, failures, examples, seconds)


# ------------------------------------------------------------------------------ one image
def _shown_maps(raw: dict, shape, blur: float) -> dict:
    """Each map as the scorers' examples show it (classifier maps blurred by ``blur``);
    a map that cannot be post-processed (e.g. constant) is left out, as there."""
    out = {}
    for k, m in raw.items():
        try:
            out[k] = postprocess(m, shape, blur if _variants(k)[-1] == BLURRED else 0.0)
        except ValueError:
            continue
    return out


def fixation_example(dataset: str, index: int, explainer: ClassifierExplainer | None,
                     saliency_maps: Mapping[str, Callable[[np.ndarray], np.ndarray]]) -> dict:
    """One image of a fixation set with every map, as :func:`fixation_scores` keeps its first
    images in ``examples`` (the same keys: ``dataset``, ``image``, ``fixations``, ``density``
    (the human density, one-degree Gaussian), ``id``, ``target`` (the explained, predicted
    class; -1 without an explainer), ``maps``), for any ``index`` of the set: what
    :func:`saliency_utils.book.explorers.crosspaper_explorer` draws for images beyond the first.
    The image is explained alone; its maps equal the scorers' (SmoothGrad's noise does not
    depend on the batch, :func:`saliency_utils.explain.attribution.smoothgrad`).
    :func:`box_example` likewise."""
    _check_saliency_maps(saliency_maps)
    ds = evaluation.FixationDataset.named(dataset)
    if not 0 <= index < len(ds):
        raise IndexError(f"{dataset} has {len(ds)} images, no index {index}")
    img = to_uint8_rgb(ds.image(index))
    f = ds.fixations(index)
    cmaps, target = {}, -1
    if explainer is not None:
        cmaps, topk = explainer.maps([img])
        target = int(topk[0, 0])
    raw = _raw_maps(cmaps, 0, saliency_maps, img, {})
    return {"dataset": dataset, "image": img, "fixations": f, "density": f.density(ds.sigma_px),
            "id": ds.ids[index], "target": target,
            "maps": _shown_maps(raw, f.shape, ds.sigma_px)}


def box_example(record, explainer: ClassifierExplainer | None,
                saliency_maps: Mapping[str, Callable[[np.ndarray], np.ndarray]], blur_px: float,
                size: int | None = None) -> dict:
    """One ImageNet validation ``record`` with every map at the scoring size, as
    :func:`box_scores` keeps its first images in ``examples`` (keys ``dataset``, ``image``,
    ``record``, ``boxes`` (scaled to the scoring size), ``target`` (the true class, which the
    classifier explains), ``maps``)."""
    _check_saliency_maps(saliency_maps)
    if explainer is None and not size:
        raise ValueError("without an explainer, give the scoring size")
    S = explainer.size if explainer is not None else int(size)
    img = data.load_imagenet_image(record)
    cmaps = {}
    if explainer is not None:
        cmaps, _ = explainer.maps([img], target=[int(record.label)])
    raw = _raw_maps(cmaps, 0, saliency_maps, img, {})
    return {"dataset": "imagenet", "image": img, "record": record,
            "boxes": boxes.scale_box(record.boxes, (data.IMAGENET_SIZE,) * 2, (S, S)),
            "target": int(record.label), "maps": _shown_maps(raw, (S, S), blur_px)}


# ------------------------------------------------------------------------------ summary
def summary(fix_runs: Sequence[FixationRun], box_run: BoxRun | None,
            fixation_metrics: Sequence[str] = ("AUC-Judd", "sAUC", "NSS", "CC"),
            classifier_variant: str = BLURRED):
    """One table: a row per method (classifier explanations in ``classifier_variant``,
    saliency maps as computed), the mean of each fixation metric per dataset, and on ImageNet
    the pointing-game hit rate, the energy in the boxes and the GT-known localisation error
    (%). Columns are ``(dataset, score)``."""
    import pandas as pd

    cols = {}
    for run in fix_runs:
        df = run.scores
        for m in fixation_metrics:
            if m not in df:
                continue
            sel = main_rows(df, classifier_variant)
            cols[(run.dataset, m)] = sel.groupby("method", sort=False)[m].mean()
    if box_run is not None:
        df = box_run.scores
        g = main_rows(df, classifier_variant).groupby("method", sort=False)
        cols[("imagenet", "pointing game")] = g["pointing"].mean()
        cols[("imagenet", "energy in boxes")] = g["energy"].mean()
        errs = box_run.wsol.errors()
        loc = {}
        for meth in g.groups:
            v = classifier_variant if meth in CLASSIFIER_METHODS else AS_COMPUTED
            loc[meth] = errs.loc[f"{meth}, {v}", "GT-known loc. error"]
        cols[("imagenet", "GT-known loc. error (%)")] = pd.Series(loc)
    order = list(dict.fromkeys(m for run in fix_runs for m in run.scores.method))
    if box_run is not None:
        order += [m for m in dict.fromkeys(box_run.scores.method) if m not in order]
    table = pd.DataFrame(cols).reindex(order)
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["data", "score"])
    table.index.name = "map"
    return table


def main_rows(scores, classifier_variant: str = BLURRED):
    """The rows of a ``scores`` table that the summary uses: classifier explanations in
    ``classifier_variant``, saliency maps as computed."""
    if classifier_variant not in (AS_COMPUTED, BLURRED):
        raise ValueError(f"classifier_variant must be {AS_COMPUTED!r} or {BLURRED!r}")
    keep = (scores.variant == classifier_variant) | ~scores.method.isin(CLASSIFIER_METHODS)
    return scores[keep]


def mean_ci_table(scores, score: str, classifier_variant: str = BLURRED, seed: int = 0):
    """Mean of ``score`` per method with a 95 % bootstrap interval over images
    (:func:`saliency_utils.evaluate.stats.mean_ci`); columns ``mean``, ``95 % low``,
    ``95 % high``, ``images``, ``misses``. Rows with NaN (maps counted as misses under
    ``failure="miss"``) are left out of the mean and counted in ``misses``."""
    import pandas as pd

    if score not in scores:
        have = [c for c in scores if c not in ("image", "method", "variant")]
        raise KeyError(f"no score {score!r}; have {have}")
    rows = {}
    for meth, g in main_rows(scores, classifier_variant).groupby("method", sort=False):
        v = g[score].dropna().to_numpy(dtype=float)
        if v.size == 0:
            raise ValueError(f"{meth}: no image could be scored with {score}")
        m, lo, hi = stats.mean_ci(v, seed=seed).triple()
        rows[meth] = {"mean": m, "95 % low": lo, "95 % high": hi, "images": int(v.size),
                      "misses": int(g[score].isna().sum())}
    return pd.DataFrame(rows).T.astype({"images": int, "misses": int})


def per_image(scores, score: str, a: str, b: str | None = None,
              classifier_variant: str = BLURRED):
    """The per-image values a claim is decided from: ``score`` of method ``a`` (``b=None``) or
    the paired difference ``a - b`` on each image, as a Series indexed by image (in the
    table's order). Images where a map could not be scored (NaN: a counted miss under
    ``failure="miss"``) are left out and counted in ``attrs["misses"]``."""
    sel = main_rows(scores, classifier_variant)
    names = [a] if b is None else [a, b]
    for m in names:
        if m not in set(sel.method):
            raise KeyError(f"no method {m!r}; have {list(dict.fromkeys(sel.method))}")
    if score not in sel:
        raise KeyError(f"no score {score!r}")
    wide = sel.pivot_table(index="image", columns="method", values=score, aggfunc="first",
                           dropna=False, sort=False)
    wide = wide.reindex(list(dict.fromkeys(sel.image)))
    v = wide[a] if b is None else wide[a] - wide[b]
    out = v.dropna().astype(float)
    if out.empty:
        raise ValueError(f"no image has {' and '.join(repr(m) for m in names)} scored")
    out.attrs["misses"] = int(v.isna().sum())
    return out
