"""CAT2000 training set (Borji & Itti 2015) read from a local copy.

2000 images (20 categories x 100, 1920 x 1080), 18 observers per image, 5 s free viewing. The
dataset is not in the offline bundle and is never downloaded: put ``trainSet.zip`` (MIT saliency
benchmark) unpacked under a data root (``SALIENCY_DATA``, the bundle or the cache; see
:func:`.store.data_roots`)::

    <root>/cat2000/trainSet/Stimuli/<Category>/<NNN>.jpg         # 1920 x 1080
    <root>/cat2000/trainSet/FIXATIONMAPS/<Category>/<NNN>.jpg    # density maps
    <root>/cat2000/trainSet/FIXATIONLOCS/<Category>/<NNN>.mat    # variable fixLocs

(the ``Output`` folders of the archive are not read). An image is named ``"<Category>/<NNN>"``,
e.g. ``"Action/001"``. Missing files raise :class:`DataNotFoundError` with this layout and the
places searched.

Fixations: ``fixLocs`` is a binary map (the image's size) with a 1 at each pixel that holds a
fixation of any observer. Its pixel ``(row, col)`` is the 0-based fixation ``(y, x) = (row,
col)``: the MATLAB 1-based pixel ``(r, c)`` is numpy's ``[r - 1, c - 1]``.
:func:`load_cat2000_fixations` returns one point per nonzero pixel, **all with observer 0**:
observers are not separable in ``fixLocs``, and fixations of several observers (or repeated ones)
on the same pixel count once, so per-observer analyses (leave-one-out, inter-observer
consistency) need the raw fixations, which are not part of this layout. The raw data are 1-based
MATLAB coordinates (pysaliency's v1.1 loader subtracts 1); how the benchmark rounded them into
``fixLocs`` was not checked here, so expect up to a pixel between ``fixLocs`` and the raw data.

Viewing geometry: :data:`CAT2000_PX_PER_DEGREE` = 38. ASSUMPTION: Borji & Itti (2015) report a
42-inch screen (taken as a fully used 16:9 panel, 93.0 x 52.3 cm) at 1920 x 1080 seen from
106 cm; one degree at the screen centre is then 106 cm x tan(1 deg) = 1.85 cm = 38.2 px (the whole
1920 px span 47.4 deg, 40.5 px/deg on average). The geometry was not re-checked against the paper
here. The benchmark's ``FIXATIONMAPS`` were made with its own blur; they are read as stored.
"""
from __future__ import annotations

import re

import numpy as np

from saliency_utils.evaluate.maps import sigma_px
from ._io import read_gray, read_mat, read_rgb
from ._local import find_local, local_dirs, missing
from .fixations import Fixations

__all__ = ["CAT2000_SHAPE", "CAT2000_PX_PER_DEGREE", "CAT2000_SIGMA_DEG", "CAT2000_SIGMA_PX",
           "cat2000_ids", "load_cat2000_image", "load_cat2000_fixation_map",
           "load_cat2000_fixations", "load_cat2000_density"]

DATASET = "cat2000"
CAT2000_SHAPE = (1080, 1920)  # (H, W) of every training image
# ASSUMPTION (see the module docstring): 42-inch 16:9 screen, 1920 px wide, at 106 cm.
CAT2000_PX_PER_DEGREE = 38.0
CAT2000_SIGMA_DEG = 1.0
CAT2000_SIGMA_PX = sigma_px(CAT2000_SIGMA_DEG, CAT2000_PX_PER_DEGREE)

_ROOT = "trainSet/"
_STIMULI = _ROOT + "Stimuli/"
_MAPS = _ROOT + "FIXATIONMAPS/"
_LOCS = _ROOT + "FIXATIONLOCS/"
_LAYOUT = ("<root>/cat2000/trainSet/Stimuli/<Category>/<NNN>.jpg, "
           "<root>/cat2000/trainSet/FIXATIONMAPS/<Category>/<NNN>.jpg and "
           "<root>/cat2000/trainSet/FIXATIONLOCS/<Category>/<NNN>.mat (trainSet.zip of the MIT "
           "saliency benchmark, unpacked)")
_PART = re.compile(r"[A-Za-z0-9_-]+")


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def cat2000_ids() -> list[str]:
    """Ids ``"<Category>/<NNN>"`` of the training images found locally
    (``<root>/cat2000/trainSet/Stimuli/<Category>/*.jpg``, all data roots together), sorted by
    category, then number. Raises :class:`DataNotFoundError` when none is found."""
    ids = set()
    for folder in local_dirs(DATASET, _STIMULI):
        for cat in folder.iterdir():
            if cat.is_dir() and _PART.fullmatch(cat.name) and cat.name.lower() != "output":
                ids.update(f"{cat.name}/{p.stem}" for p in cat.iterdir()
                           if p.suffix.lower() == ".jpg" and _PART.fullmatch(p.stem))
    if not ids:
        raise missing(DATASET, _STIMULI, "No CAT2000 training images found.", _LAYOUT)
    return sorted(ids, key=_natural)


def _check_id(image_id) -> tuple[str, str]:
    """``(category, NNN)``; accepts ``"Action/001"``, ``"Action/001.jpg"`` and ``"Action/1"``."""
    parts = str(image_id).replace("\\", "/").split("/")
    if len(parts) == 2:
        cat, stem = parts
        for ext in (".jpg", ".mat"):
            stem = stem.removesuffix(ext)
        if stem.isdigit() and len(stem) < 3:
            stem = stem.zfill(3)
        if _PART.fullmatch(cat) and _PART.fullmatch(stem):
            return cat, stem
    raise ValueError(f"not a CAT2000 image id: {image_id!r}; expected '<Category>/<NNN>', "
                     f"e.g. 'Action/001' (see cat2000_ids())")


def load_cat2000_image(image_id: str) -> np.ndarray:
    """Stimulus as ``uint8 1080 x 1920 x 3``; ``image_id`` is ``"<Category>/<NNN>"``."""
    cat, stem = _check_id(image_id)
    return read_rgb(find_local(DATASET, [f"{_STIMULI}{cat}/{stem}.jpg"],
                               f"CAT2000 stimulus {cat}/{stem} not found.", _LAYOUT))


def load_cat2000_fixation_map(image_id: str) -> np.ndarray:
    """The binary fixation-location map ``fixLocs`` (bool ``H x W``, 1080 x 1920)."""

    cat, stem = _check_id(image_id)
    path = find_local(DATASET, [f"{_LOCS}{cat}/{stem}.mat"],
                      f"CAT2000 fixation locations of {cat}/{stem} not found.", _LAYOUT)
    mat = read_mat(path)
    if "fixLocs" not in mat:
        raise ValueError(f"{path} has no 'fixLocs' variable (variables: "
                         f"{sorted(k for k in mat if not k.startswith('__'))})")
    locs = np.asarray(mat["fixLocs"])
    if locs.ndim != 2:
        raise ValueError(f"{path}: fixLocs has shape {locs.shape}, expected H x W")
    return locs > 0


def load_cat2000_fixations(image_id: str) -> Fixations:
    """The fixated pixels of ``fixLocs`` as 0-based :class:`Fixations` (``x`` = column, ``y`` =
    row, all with ``observer`` 0): observers are not separable in ``fixLocs`` and coinciding
    fixations count once (see the module docstring)."""
    fmap = load_cat2000_fixation_map(image_id)
    y, x = np.nonzero(fmap)
    return Fixations.from_points(x, y, 0, fmap.shape)


def load_cat2000_density(image_id: str) -> np.ndarray:
    """The benchmark's fixation density map (``FIXATIONMAPS``): float ``H x W`` in ``[0, 1]``, as
    stored (8-bit grey JPEG / 255, not normalised to sum 1)."""
    cat, stem = _check_id(image_id)
    return read_gray(find_local(DATASET, [f"{_MAPS}{cat}/{stem}.jpg"],
                                f"CAT2000 fixation map of {cat}/{stem} not found.", _LAYOUT))
