"""FIGRIM (Bylinskii et al., Vision Research 2015): LabelMe objects and fixations of 630 targets.

``figrim_annotations/targetData/allImages_release.mat`` holds one struct per target image
(1000x1000 px, 21 scene categories x 30): ``filename``, ``category``, ``annotation`` (LabelMe
objects with ``name`` and ``polygon.x/.y``) and ``userdata`` (one entry per participant, many
empty; ``fixations.enc / .rec / .rec2`` are ``N x 2`` arrays ``[x, y]`` for the encoding view and
the two later repetitions of the image).

Coordinates are **1-based** MATLAB pixel coordinates: the 30 ``fixLocs`` maps of
``figrim_amusement_park`` equal MATLAB ``round`` of the encoding fixations of all users minus one,
pixel for pixel (as the authors' ``compMapsLocsForImage.m`` builds them). The loader returns
``x - 1, y - 1``. LabelMe polygons are treated the same way (the LabelMe MATLAB toolbox
rasterises them with ``poly2mask``, which uses this convention; the web tool does not document
its own, so polygons are uncertain by one pixel). Polygons often extend beyond the image;
:func:`polygon_mask` clips them.

``figrim_amusement_park`` adds the 30 amusement_park images (``Stimuli/amusement_park/*.jpg``) and
their binary fixation-location maps (``Data/amusement_park/*.mat``, ``fixLocs``).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from skimage.draw import polygon as _draw_polygon

from ._io import check_choice, read_mat, read_rgb
from .fixations import Fixations
from .manifest import manifest
from .store import fetch
from .viewing import FIGRIM_PX_PER_DEGREE, FIGRIM_SIGMA_DEG, FIGRIM_SIGMA_PX

__all__ = ["FIGRIM_SHAPE", "FIGRIM_PX_PER_DEGREE", "FIGRIM_SIGMA_DEG", "FIGRIM_SIGMA_PX",
           "FigrimRecord", "load_figrim_annotations", "polygon_mask", "category_masks",
           "figrim_amusement_park_ids", "load_figrim_image", "load_figrim_fixation_map"]

ANN_DATASET = "figrim_annotations"
AP_DATASET = "figrim_amusement_park"
FIGRIM_SHAPE = (1000, 1000)  # (H, W) of every FIGRIM target image
PHASES = ("enc", "rec", "rec2")
_AP_STIMULI = "Datasets/FIGRIM/Stimuli/amusement_park/"
_AP_MAPS = "Datasets/FIGRIM/Data/amusement_park/"


@dataclass(frozen=True, eq=False)
class FigrimRecord:
    """One FIGRIM target image.

    ``objects``: list of ``(name, polygon)`` with ``polygon`` a float ``N x 2`` array of 0-based
    ``(x, y)`` vertices (names as typed by annotators, lower-cased and stripped).
    ``fixations``: ``{'enc' | 'rec' | 'rec2': Fixations}`` of all participants; ``observer`` is
    the index into ``userdata`` and ``observer_names[i]`` that participant's initials.
    """

    file: str
    category: str
    objects: list = field(repr=False)
    fixations: dict = field(repr=False)
    observer_names: list = field(repr=False)
    shape: tuple[int, int] = FIGRIM_SHAPE


def _objects(annotation) -> list:
    out = []
    for o in np.atleast_1d(annotation):
        if not hasattr(o, "polygon") or str(getattr(o, "deleted", "0")).strip() == "1":
            continue
        p = o.polygon
        x = np.atleast_1d(p.x).astype(np.float64) - 1.0
        y = np.atleast_1d(p.y).astype(np.float64) - 1.0
        out.append((str(o.name).strip().lower(), np.stack([x, y], axis=1)))
    return out


def _fixations(userdata) -> tuple[dict, list]:
    users = list(np.atleast_1d(userdata))
    names = [str(u.sinit) if np.size(getattr(u, "sinit", "")) else "" for u in users]
    out = {}
    for phase in PHASES:
        xs, ys, obs = [], [], []
        for i, u in enumerate(users):
            fx = getattr(u, "fixations", None)
            pts = getattr(fx, phase, None) if fx is not None and np.size(fx) else None
            if pts is None or np.size(pts) == 0:
                continue
            pts = np.atleast_2d(np.asarray(pts, dtype=np.float64))
            xs.append(pts[:, 0])
            ys.append(pts[:, 1])
            obs.append(np.full(len(pts), i))
        cat = (lambda a: np.concatenate(a) if a else np.empty(0))
        out[phase] = Fixations.from_points(cat(xs) - 1.0, cat(ys) - 1.0, cat(obs), FIGRIM_SHAPE)
    return out, names


@lru_cache(maxsize=1)
def _records() -> tuple[FigrimRecord, ...]:
    mat = read_mat(fetch(ANN_DATASET, "targetData/allImages_release.mat"),
                   squeeze_me=True, struct_as_record=False)
    out = []
    for item in np.atleast_1d(mat["allImages"]):
        fixations, names = _fixations(item.userdata)
        out.append(FigrimRecord(str(item.filename), str(item.category), _objects(item.annotation),
                                fixations, names))
    return tuple(out)


def load_figrim_annotations() -> list[FigrimRecord]:
    """The 630 FIGRIM target records (parsed once, then cached)."""
    return list(_records())


def polygon_mask(polygon, shape) -> np.ndarray:
    """Bool mask of the pixels whose centres lie inside ``polygon`` (``N x 2`` 0-based x, y),
    clipped to ``shape = (H, W)``."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    mask = np.zeros(tuple(shape), dtype=bool)
    if len(poly) >= 3:
        rr, cc = _draw_polygon(poly[:, 1], poly[:, 0], shape=tuple(shape))
        mask[rr, cc] = True
    return mask


def category_masks(record: FigrimRecord, names_by_category: dict[str, list[str]]) -> dict:
    """``{category: bool mask}``: union of the record's object polygons whose name matches one of
    the category's patterns (case-insensitive ``fnmatch`` globs, e.g. ``['person*', 'man',
    'woman']``). Categories without a matching object get an all-False mask."""
    out = {}
    for cat, patterns in names_by_category.items():
        pats = [p.strip().lower() for p in patterns]
        mask = np.zeros(record.shape, dtype=bool)
        for name, poly in record.objects:
            if any(fnmatch.fnmatchcase(name, p) for p in pats):
                mask |= polygon_mask(poly, record.shape)
        out[cat] = mask
    return out


@lru_cache(maxsize=1)
def _ap_ids() -> tuple[str, ...]:
    entries = manifest(AP_DATASET, _AP_STIMULI + "*.jpg")
    return tuple(sorted(e.path[len(_AP_STIMULI):-4] for e in entries))


def figrim_amusement_park_ids() -> list[str]:
    """Base names of the 30 amusement_park images (``'sun_aahaqbedkotbsthx'``, ...), sorted."""
    return list(_ap_ids())


def _check_ap(name) -> str:
    name = str(name).removesuffix(".jpg").removesuffix(".mat")
    ids = _ap_ids()
    check_choice(name, set(ids), "FIGRIM amusement_park image",
                 f"the {len(ids)} names of figrim_amusement_park_ids() ({ids[0]!r}, ...)")
    return name


def load_figrim_image(name) -> np.ndarray:
    """An amusement_park image as ``uint8 1000 x 1000 x 3``."""
    return read_rgb(fetch(AP_DATASET, f"{_AP_STIMULI}{_check_ap(name)}.jpg"))


def load_figrim_fixation_map(name) -> np.ndarray:
    """The binary fixation-location map (``fixLocs``, bool 1000 x 1000) of an amusement_park
    image: encoding fixations of all participants."""
    path = fetch(AP_DATASET, f"{_AP_MAPS}{_check_ap(name)}.mat")
    return np.asarray(read_mat(path)["fixLocs"]).astype(bool)
