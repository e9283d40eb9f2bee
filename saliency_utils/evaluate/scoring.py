"""One evaluation layer: eye-tracking datasets and the scoring of saliency maps against them.

* :class:`FixationDataset`: the image ids of an eye-tracking set, how to load an image and its
  fixations (all observers, :class:`saliency_utils.data.Fixations`), the density width in
  pixels (one degree of visual angle) and the viewing geometry (pixels per degree). One
  constructor per set the book uses: :meth:`FixationDataset.osie` (the package's fixed
  train/test split, :func:`saliency_utils.data.osie_split`), :meth:`~FixationDataset.mit1003`,
  :meth:`~FixationDataset.figrim`, and the local full copies the data layer reads
  (:meth:`~FixationDataset.salicon_full`, :meth:`~FixationDataset.cat2000`);
  :meth:`FixationDataset.named` maps the book's names (``"osie_test"``, ``"mit1003"``,
  ``"figrim"``, ...) to them.
* :func:`score_maps`: per-image scores of a map-producing function (or of precomputed maps) on
  a dataset, for any set of the MIT metrics of :mod:`saliency_utils.evaluate.metrics`, as a DataFrame
  with an ``image`` column. The protocol: all observers' fixations, the binary fixation map
  for AUC-Judd / AUC-Borji / NSS / IG, the dataset's one-degree density for CC / SIM / KLD,
  shuffled AUC against the fixations of ``n_other`` other images of the same set
  (:func:`saliency_utils.evaluate.anchors.other_fixation_map`), IG against a centre-bias baseline.
* :func:`score_leave_one_out`: the leave-one-observer-out protocol (inter-observer limit).
* :func:`score_fixation_sets`: :func:`score_maps`' protocol on bare fixation sets (no dataset).
* :meth:`FixationDataset.reshaped`: the same set with every image centre-cropped to a square or
  to a 3:4 portrait, or downscaled (fixations transformed with the images), for measuring how a
  model trained on one shape holds up on others (:data:`SHAPE_VERSIONS`).
* :func:`score_image`: the chosen metrics of one map against one image's human data.

**Failure policy** (one for the whole book). A map is unscorable when it is not a finite 2-D
array of the fixation map's shape, is constant, or a metric rejects it (e.g. KLD on negative
values; the one constant map that is meant to be constant, a
:class:`~saliency_utils.evaluate.maps.UniformMap`, gets the uniform map's scores,
:func:`saliency_utils.evaluate.metrics.uniform_scores`): with ``failure="raise"`` (the default) a
``ValueError`` names the image; with
``failure="miss"`` the image keeps its row with NaN scores and is **counted**:
``df.attrs["misses"]`` is the number of such images and ``df.attrs["failures"]`` lists
``(image, message)``. An image is never dropped silently. Data errors (an image without
fixations) always raise.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from saliency_utils import data
from saliency_utils.evaluate import anchors, maps, metrics

__all__ = [
    "as_dataset",
    "DATASET_NAMES",
    "DENSITY_METRICS",
    "FAILURE_POLICIES",
    "SHAPE_VERSIONS",
    "shape_window",
    "reshape_image",
    "reshape_fixations",
    "METRIC_CALLS",
    "check_failure_policy",
    "score_frame",
    "FixationDataset",
    "centre_bias_maps",
    "model_maps",
    "score_image",
    "score_leave_one_out",
    "score_fixation_sets",
    "score_maps",
]

#: The image versions of :meth:`FixationDataset.reshaped`: the images as they are, centre-cropped
#: to a square, centre-cropped to a 3:4 portrait (width:height), downscaled to 256 px on the long
#: side.
SHAPE_VERSIONS = ("original", "square", "portrait", "small")


def shape_window(shape, version: str, long_side: int = 256) -> tuple[int, int, int, int, float]:
    """``(top, left, height, width, scale)`` of ``version`` (:data:`SHAPE_VERSIONS`) of an image
    of ``shape`` ``(H, W)``: the centred crop, then the scale applied to it."""
    h, w = (int(v) for v in shape)
    if version == "original":
        return 0, 0, h, w, 1.0
    if version == "square":
        s = min(h, w)
        return (h - s) // 2, (w - s) // 2, s, s, 1.0
    if version == "portrait":  # the largest centred 3:4 (width:height) window
        ch, cw = (h, int(round(h * 3 / 4))) if w * 4 >= h * 3 else (int(round(w * 4 / 3)), w)
        return (h - ch) // 2, (w - cw) // 2, ch, cw, 1.0
    if version == "small":
        if long_side < 8:
            raise ValueError(f"long_side must be >= 8 px, got {long_side}")
        return 0, 0, h, w, long_side / max(h, w)
    raise ValueError(f"unknown version {version!r}; choose one of {', '.join(SHAPE_VERSIONS)}")


def _scaled(n: int, scale: float) -> int:
    return max(1, int(round(n * scale)))


def reshape_image(image: np.ndarray, window) -> np.ndarray:
    """``image`` cropped to ``window`` (:func:`shape_window`) and resized by its scale (PIL's
    antialiased Lanczos filter)."""
    from PIL import Image

    top, left, h, w, scale = window
    out = np.ascontiguousarray(image[top:top + h, left:left + w])
    if scale != 1.0:
        out = np.asarray(Image.fromarray(out).resize((_scaled(w, scale), _scaled(h, scale)),
                                                     Image.Resampling.LANCZOS))
    return out


def reshape_fixations(fix, window):
    """``fix`` (:class:`~saliency_utils.data.Fixations`) in the frame of ``window``: shifted by
    the crop and scaled about pixel centres (``x' = (x - left + 0.5) * scale - 0.5``); points
    outside the crop are dropped and counted (``n_dropped``), as :meth:`Fixations.from_points`
    does."""
    top, left, h, w, scale = window
    x = (fix.x - left + 0.5) * scale - 0.5
    y = (fix.y - top + 0.5) * scale - 0.5
    return data.Fixations.from_points(x, y, fix.observer, (_scaled(h, scale), _scaled(w, scale)))


#: Names accepted by :meth:`FixationDataset.named`.
DATASET_NAMES = ("osie_test", "osie_val", "osie_train", "osie", "mit1003", "figrim", "salicon_train",
                 "salicon_val", "cat2000")

#: ``"raise"``: an unscorable map is an error; ``"miss"``: NaN scores, counted in ``attrs``.
FAILURE_POLICIES = ("raise", "miss")

#: The metrics that compare with the human density (the others need only the fixations).
DENSITY_METRICS = ("CC", "SIM", "KLD")

#: Every metric the scorers know, by name: ``call(sal, fixmap, density, other_fixmap,
#: baseline_map, seed) -> float`` (the book's one way to call a metric of :mod:`metrics`).
METRIC_CALLS = {
    "AUC-Judd": lambda s, fm, d, o, b, seed: metrics.auc_judd(s, fm, seed=seed),
    "AUC-Borji": lambda s, fm, d, o, b, seed: metrics.auc_borji(s, fm, seed=seed),
    "sAUC": lambda s, fm, d, o, b, seed: metrics.auc_shuffled(s, fm, o, seed=seed),
    "NSS": lambda s, fm, d, o, b, seed: metrics.nss(s, fm),
    "CC": lambda s, fm, d, o, b, seed: metrics.cc(s, d),
    "SIM": lambda s, fm, d, o, b, seed: metrics.sim(s, d),
    "KLD": lambda s, fm, d, o, b, seed: metrics.kld(s, d),
    "IG": lambda s, fm, d, o, b, seed: metrics.information_gain(s, fm, b),
}


# ------------------------------------------------------------------------------ datasets
@dataclass(frozen=True)
class FixationDataset:
    """An eye-tracking evaluation set (see the module docstring).

    ``ids``: image ids in order; ``load_image(id)`` -> ``H x W x 3`` image;
    ``load_fixations(id)`` -> :class:`~saliency_utils.data.Fixations` of all observers;
    ``sigma_px``: the Gaussian of the human density, in image pixels (one degree);
    ``px_per_degree``: the viewing geometry."""

    name: str
    ids: tuple
    load_image: Callable[[str], np.ndarray]
    load_fixations: Callable[[str], data.Fixations]
    sigma_px: float
    px_per_degree: float

    def __post_init__(self):
        object.__setattr__(self, "ids", tuple(self.ids))
        if not self.ids:
            raise ValueError(f"{self.name}: no images")
        if not (np.isfinite(self.sigma_px) and self.sigma_px > 0):
            raise ValueError(f"{self.name}: sigma_px must be > 0, got {self.sigma_px}")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (f"FixationDataset({self.name!r}, {len(self)} images, sigma {self.sigma_px:.2f} px, "
                f"{self.px_per_degree:g} px/degree)")

    def head(self, n: int | None) -> FixationDataset:
        """The first ``n`` images (all of them for ``None`` or 0)."""
        if not n:
            return self
        if n < 0:
            raise ValueError(f"n must be positive, got {n}")
        return FixationDataset(self.name, self.ids[:n], self.load_image, self.load_fixations,
                               self.sigma_px, self.px_per_degree)

    def reshaped(self, version: str, long_side: int = 256) -> FixationDataset:
        """The same images and fixations in another shape (:data:`SHAPE_VERSIONS`,
        :func:`shape_window`): each image and its fixations get the window computed from the
        image's own shape; the density width and the pixels per degree follow the scale."""
        shape_window((100, 100), version, long_side)  # checks version and long_side
        if version == "original":
            return self
        load_image, load_fixations = self.load_image, self.load_fixations

        def image(i):
            img = load_image(i)
            return reshape_image(img, shape_window(img.shape[:2], version, long_side))

        def fixations(i):
            f = load_fixations(i)
            return reshape_fixations(f, shape_window(f.shape, version, long_side))

        # the density width and geometry of a downscaled set scale with its images; images of
        # different sizes (MIT1003) get one width, that of the first image's scale
        first = self.load_fixations(self.ids[0]).shape
        scale = shape_window(first, version, long_side)[4]
        return FixationDataset(f"{self.name} ({version})", self.ids, image, fixations,
                               self.sigma_px * scale, self.px_per_degree * scale)

    def image(self, i: int) -> np.ndarray:
        """The ``i``-th image."""
        return self.load_image(self.ids[i])

    def fixations(self, i: int):
        """The ``i``-th image's fixations (all observers)."""
        return self.load_fixations(self.ids[i])

    def fixation_sets(self) -> list:
        """Every image's fixations, in order."""
        return [self.load_fixations(i) for i in self.ids]

    # ---------------------------------------------------------------- constructors
    @classmethod
    def osie(cls, split: str = "test", n: int | None = None, split_seed: int = 0,
             n_test: int = 100, n_val: int = data.OSIE_N_VAL) -> FixationDataset:
        """OSIE (Xu et al. 2014): ``split`` ``"test"`` / ``"val"`` / ``"train"`` of the
        package's fixed split (:func:`saliency_utils.data.osie_splits` with ``n_val``,
        ``n_test`` and ``split_seed``; the defaults are the book's 500 / 100 / 100 split, whose
        training images train the saliency model and whose validation images choose its
        settings) or ``"all"``."""
        if split == "all":
            ids = data.osie_ids()
        elif split in ("train", "val", "test"):
            ids = data.osie_splits(n_val=n_val, n_test=n_test, seed=split_seed)[split]
        else:
            raise ValueError(f"split must be 'train', 'val', 'test' or 'all', got {split!r}")
        name = "osie" if split == "all" else f"osie_{split}"
        return cls(name, ids, data.load_osie_image, data.load_osie_fixations,
                   data.OSIE_SIGMA_PX, data.OSIE_PX_PER_DEGREE).head(n)

    @classmethod
    def mit1003(cls, n: int | None = None) -> FixationDataset:
        """MIT1003 (Judd et al. 2009): the stimuli of the bundle, or all 1003 with a local full
        copy (:func:`saliency_utils.data.mit1003_ids`)."""
        return cls("mit1003", data.mit1003_ids(), data.load_mit1003_image,
                   data.load_mit1003_fixations, data.MIT1003_SIGMA_PX,
                   data.MIT1003_PX_PER_DEGREE).head(n)

    @classmethod
    def figrim(cls, n: int | None = None) -> FixationDataset:
        """The FIGRIM amusement-park images: all observers' fixations of the encoding phase
        (first viewing), from the FIGRIM annotations, joined by file name."""
        records = {r.file.removesuffix(".jpg"): r for r in data.load_figrim_annotations()}
        ids = data.figrim_amusement_park_ids()
        missing = [i for i in ids if i not in records]
        if missing:
            raise ValueError(f"{len(missing)} FIGRIM amusement-park images have no annotation "
                             f"record (e.g. {missing[0]!r})")
        return cls("figrim", ids, data.load_figrim_image,
                   lambda i: records[i].fixations["enc"], data.FIGRIM_SIGMA_PX,
                   data.FIGRIM_PX_PER_DEGREE).head(n)

    @classmethod
    def salicon_full(cls, split: str = "val", n: int | None = None) -> FixationDataset:
        """A local full SALICON copy (mouse-tracking; ``"train"`` or ``"val"``)."""
        return cls(f"salicon_{split}", data.salicon_full_ids(split),
                   lambda i: data.load_salicon_full_image(i, split),
                   lambda i: data.load_salicon_full_fixations(i, split),
                   data.SALICON_SIGMA_PX, data.SALICON_PX_PER_DEGREE).head(n)

    @classmethod
    def cat2000(cls, n: int | None = None) -> FixationDataset:
        """A local full CAT2000 training set."""
        return cls("cat2000", data.cat2000_ids(), data.load_cat2000_image,
                   data.load_cat2000_fixations, data.CAT2000_SIGMA_PX,
                   data.CAT2000_PX_PER_DEGREE).head(n)

    @classmethod
    def named(cls, name: str, n: int | None = None) -> FixationDataset:
        """The set called ``name`` in the book (:data:`DATASET_NAMES`), first ``n`` images."""
        if name in ("osie_test", "osie_val", "osie_train"):
            return cls.osie(name.removeprefix("osie_"), n)
        if name == "osie":
            return cls.osie("all", n)
        if name in ("salicon_train", "salicon_val"):
            return cls.salicon_full(name.removeprefix("salicon_"), n)
        if name in ("mit1003", "figrim", "cat2000"):
            return getattr(cls, name)(n)
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")


def as_dataset(dataset) -> FixationDataset:
    """``dataset`` itself if it is a :class:`FixationDataset`, else the set of that name
    (:data:`DATASET_NAMES`)."""
    if isinstance(dataset, FixationDataset):
        return dataset
    if isinstance(dataset, str):
        return FixationDataset.named(dataset)
    raise TypeError(f"dataset must be a FixationDataset or a dataset name, got {type(dataset)}")


# ------------------------------------------------------------------------------ map sources
def model_maps(model, flip_average: bool | None = None,
               exponent: float | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``image -> map`` of a :class:`~saliency_utils.models.saliency_model.SaliencyModel` (or anything
    with its ``predict(image, flip_average=, exponent=)``): the density at the input size for
    the image, mirror-averaged or not (``flip_average``), raised to ``exponent``, resized to the
    image. ``None`` keeps the model's own defaults (for a model trained with validation images,
    the post-processing chosen on them; see :meth:`SaliencyModel.predict`)."""
    from saliency_utils.explain.api import explain

    return lambda image: explain(model, image, "saliency_model", flip_average=flip_average,
                                 exponent=exponent)


def centre_bias_maps(dataset: FixationDataset, sigma_frac: tuple[float, float]) -> list:
    """The centre-bias map of each image of ``dataset`` at its fixations' shape (no image is
    loaded), for :func:`score_maps`."""
    return [anchors.centre_bias_map(f.shape, sigma_frac) for f in as_dataset(dataset).fixation_sets()]


# ------------------------------------------------------------------------------ scoring
def _check_metrics(wanted, centre_bias) -> tuple:
    wanted = tuple(wanted)
    if not wanted:
        raise ValueError("no metrics asked for")
    unknown = [m for m in wanted if m not in METRIC_CALLS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRIC_CALLS)}")
    if "IG" in wanted and centre_bias is None:
        raise ValueError("IG needs a baseline: pass centre_bias=(sigma_y/H, sigma_x/W), e.g. "
                         "training.osie_centre_bias()")
    return wanted


def score_image(sal, fixmap, density, other=None, baseline=None,
                wanted: Sequence[str] = metrics.METRIC_NAMES, seed: int = 0) -> dict:
    """The ``wanted`` metrics (names of :data:`saliency_utils.evaluate.metrics.METRIC_NAMES`) of one map
    against one image's binary fixation map and human density, ``{metric: score}``. sAUC needs
    ``other`` (the other images' fixation map) and IG a ``baseline`` map; each is skipped
    without it. Invalid inputs raise ``ValueError`` (the metrics' own checks)."""
    unknown = [m for m in wanted if m not in METRIC_CALLS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRIC_CALLS)}")
    use = [m for m in wanted if not ((m == "sAUC" and other is None)
                                     or (m == "IG" and baseline is None))]
    if isinstance(sal, maps.UniformMap):  # meant to be constant: the uniform map's scores
        if sal.shape != np.shape(fixmap):
            raise ValueError(f"map shape {sal.shape} != fixation shape {np.shape(fixmap)}")
        return metrics.uniform_scores(fixmap, density, baseline, use)
    return {name: float(METRIC_CALLS[name](sal, fixmap, density, other, baseline, seed))
            for name in use}


def _prepare(m, shape, resize: bool) -> np.ndarray:
    """The one map check of the layer: a finite, non-constant 2-D array of ``shape`` (a
    :class:`~saliency_utils.evaluate.maps.UniformMap` is the uniform map at any size)."""
    if isinstance(m, maps.UniformMap):
        return maps.uniform_map(shape)
    m = maps.check_saliency_map(m)
    if m.shape != tuple(shape):
        if not resize:
            raise ValueError(f"map shape {m.shape} != fixation shape {tuple(shape)} (pass "
                             "resize=True to resize maps to the image)")
        m = maps.check_saliency_map(maps.resize_map(m, tuple(shape)))
    return m


def check_failure_policy(failure: str) -> None:
    """Raise ``ValueError`` unless ``failure`` is one of :data:`FAILURE_POLICIES`."""
    if failure not in FAILURE_POLICIES:
        raise ValueError(f"failure must be one of {FAILURE_POLICIES}, got {failure!r}")


def score_frame(rows: list, failures: list, policy: str):
    """Per-image score rows as a DataFrame carrying the failure policy's ``attrs``
    (``failure``, ``misses``, ``failures``), as every scorer of the book returns them."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df.attrs["failure"] = policy
    df.attrs["misses"] = len(failures)
    df.attrs["failures"] = list(failures)
    return df


def score_maps(maps_, dataset, metrics: Sequence[str] = anchors.FAST_METRICS, *,
               failure: str = "raise", centre_bias: tuple[float, float] | None = None,
               resize: bool = False, seed: int = 0, n_other: int = 10,
               progress: bool = False):
    """Per-image scores of saliency maps on an eye-tracking ``dataset``.

    ``maps_``: an ``image -> map`` callable (called with each image of the dataset), or a
    sequence of precomputed maps aligned with ``dataset.ids``; or a mapping ``{name: either}``
    to score several models in one pass over the data (each image and its fixations loaded
    once). ``dataset``: a :class:`FixationDataset` or a name of :data:`DATASET_NAMES`.
    ``metrics``: any of :data:`saliency_utils.evaluate.metrics.METRIC_NAMES` (default: the five
    deterministic cheap ones, :data:`evaluate.anchors.FAST_METRICS`); IG needs ``centre_bias``, the
    widths of the Gaussian baseline (:func:`saliency_utils.training.saliency.osie_centre_bias` in the
    book). Maps must have the fixations' shape unless ``resize=True`` (bicubic,
    :func:`saliency_utils.evaluate.maps.resize_map`). ``failure``: see the module docstring. All
    random metrics use ``seed``; sAUC's negatives come from ``n_other`` other images.

    Returns a DataFrame, one row per image: ``image`` and one column per metric (``attrs``:
    ``misses``, ``failures``, ``failure``); for a mapping, ``{name: DataFrame}``.
    """
    ds = as_dataset(dataset)
    return score_fixation_sets(maps_, ds.fixation_sets(), ds.sigma_px, metrics, ids=ds.ids,
                               set_name=ds.name, load_image=ds.load_image, failure=failure,
                               centre_bias=centre_bias, resize=resize, seed=seed, n_other=n_other,
                               progress=progress)


def score_fixation_sets(maps_, fixation_sets: Sequence, sigma_px: float,
                        metrics: Sequence[str] = anchors.FAST_METRICS, *, ids: Sequence | None = None,
                        set_name: str = "fixations", load_image: Callable | None = None,
                        failure: str = "raise", centre_bias: tuple[float, float] | None = None,
                        resize: bool = False, seed: int = 0, n_other: int = 10,
                        progress: bool = False):
    """:func:`score_maps` on bare fixation sets (:class:`~saliency_utils.fixations.Fixations`,
    one per image; ``sigma_px``: the blur of the empirical density) instead of a dataset: the
    same per-image protocol (all observers' fixations, sAUC's negatives from ``n_other`` other
    images of the list, IG against the centre bias of widths ``centre_bias``) for code that holds
    fixations without a :class:`FixationDataset` (the trainer's validation images). ``maps_`` as
    in :func:`score_maps`; an ``image -> map`` callable needs ``load_image`` (``id -> image``).
    ``ids`` name the images (default ``0, 1, ...``), ``set_name`` the set, in errors."""
    from tqdm.auto import tqdm

    check_failure_policy(failure)
    fixsets = list(fixation_sets)
    ids = list(range(len(fixsets))) if ids is None else list(ids)
    if len(ids) != len(fixsets):
        raise ValueError(f"{len(ids)} ids for {len(fixsets)} fixation sets")
    wanted = _check_metrics(metrics, centre_bias)
    many = isinstance(maps_, Mapping)
    sources = dict(maps_) if many else {"model": maps_}
    if not sources:
        raise ValueError("no maps to score")
    for name, src in sources.items():
        if not callable(src) and len(src) != len(fixsets):
            raise ValueError(f"{name}: {len(src)} maps for {len(fixsets)} images of {set_name}")
    need_image = any(callable(s) for s in sources.values())
    if need_image and load_image is None:
        raise ValueError("an image -> map callable needs load_image")
    for i, f in zip(ids, fixsets):
        if len(f) == 0:
            raise ValueError(f"{set_name} image {i}: no fixations")
    rows = {name: [] for name in sources}
    failures = {name: [] for name in sources}
    bar = tqdm(total=len(fixsets), desc=f"scoring on {set_name}", disable=not progress, leave=False)
    for k, (i, f) in enumerate(zip(ids, fixsets)):
        image = load_image(i) if need_image else None
        fixmap, density = f.fixation_map(), f.density(sigma_px)
        other = (anchors.other_fixation_map(fixsets, k, f.shape, n_other=n_other, seed=seed)
                 if "sAUC" in wanted else None)
        base = anchors.centre_bias_map(f.shape, centre_bias) if "IG" in wanted else None
        for name, src in sources.items():
            m = src(image) if callable(src) else src[k]
            try:
                s = _prepare(m, f.shape, resize)
                scores = score_image(s, fixmap, density, other, base, wanted, seed)
            except ValueError as err:
                if failure == "raise":
                    label = f"{name!r}, " if many else ""
                    raise ValueError(f"{label}{set_name} image {i}: unscorable map: {err}") from err
                failures[name].append((i, str(err)))
                scores = {w: np.nan for w in wanted}
            rows[name].append({"image": i, **scores})
        bar.update(1)
    bar.close()
    out = {name: score_frame(rows[name], failures[name], failure) for name in sources}
    return out if many else out["model"]


def score_leave_one_out(predict: Callable[[int, object], np.ndarray]
                        | Mapping[str, Callable[[int, object], np.ndarray]], dataset,
                        metrics: Sequence[str] = anchors.FAST_METRICS, *,
                        centre_bias: tuple[float, float] | None = None, seed: int = 0):
    """Leave-one-observer-out protocol: for each image ``i`` and each observer, score
    ``predict(i, others)`` (``others`` = the other observers' fixations) against the held-out
    observer's fixation map and density (``dataset.sigma_px``). Scores are averaged over
    observers, so distribution metrics compare with a single observer's density: comparable
    only with other maps scored this way. Observers without fixations on the image (or whose
    removal leaves none) are skipped; AUC-Borji is skipped for an observer with a single
    fixation (it needs two). A map that cannot be scored raises. DataFrame, one row per
    image, with ``image``; ``predict`` a mapping ``{name: predict}``: ``{name: DataFrame}``, the
    held-out observer's density computed once for all of them."""
    import pandas as pd

    ds = as_dataset(dataset)
    wanted = _check_metrics(metrics, centre_bias)
    many = isinstance(predict, Mapping)
    predictors = dict(predict) if many else {"model": predict}
    needs_density = any(m in DENSITY_METRICS for m in wanted)  # the blur is the costly part
    fixsets = ds.fixation_sets()
    rows = {name: [] for name in predictors}
    for k, (i, f) in enumerate(zip(ds.ids, fixsets)):
        other = (anchors.other_fixation_map(fixsets, k, f.shape, seed=seed)
                 if "sAUC" in wanted else None)
        base = anchors.centre_bias_map(f.shape, centre_bias) if "IG" in wanted else None
        per_obs = {name: [] for name in predictors}
        for o in f.observers:
            held, rest = f.for_observer(o), f.excluding_observer(o)
            if len(held) == 0 or len(rest) == 0:
                continue
            w = [m for m in wanted if not (m == "AUC-Borji" and len(held) < 2)]
            dens = held.density(ds.sigma_px) if needs_density else None
            fixmap = held.fixation_map()
            for name, fn in predictors.items():
                sal = np.asarray(fn(k, rest), dtype=np.float64)
                try:
                    sal = _prepare(sal, f.shape, False)
                    per_obs[name].append(score_image(sal, fixmap, dens, other, base, w, seed))
                except ValueError as err:
                    label = f"{name!r}, " if many else ""
                    raise ValueError(f"{label}{ds.name} image {i}, observer {o}: {err}") from err
        for name, scored in per_obs.items():
            if not scored:
                raise ValueError(f"{ds.name} image {i}: no observer could be held out")
            keys = [m for m in wanted if any(m in p for p in scored)]
            rows[name].append({"image": i, **{m: float(np.mean([p[m] for p in scored if m in p]))
                                              for m in keys}})
    out = {name: pd.DataFrame(r) for name, r in rows.items()}
    return out if many else out["model"]
