"""Full SALICON (LSUN 2017 release) read from a local copy: images, fixations, density maps.

The bundle only has ten SALICON examples (:mod:`.salicon`, the 2015 JSON). The full dataset
(10,000 training, 5,000 validation and 5,000 test MS-COCO images, 640x480) is read from a data
root (``SALIENCY_DATA``, the offline bundle or the cache; see :func:`.store.data_roots`) in the
layout of the official LSUN 2017 archives (``images.zip``, ``fixations.zip``, ``maps.zip``)::

    <root>/salicon/images/{train,val,test}/COCO_<split>2014_<12-digit id>.jpg
    <root>/salicon/fixations/{train,val}/COCO_<split>2014_<12-digit id>.mat
    <root>/salicon/maps/{train,val}/COCO_<split>2014_<12-digit id>.png

It is never downloaded; missing files raise :class:`DataNotFoundError` with this layout and the
places searched. Test fixations and maps are not public.

Each ``.mat`` holds ``image`` (the name), ``resolution`` and ``gaze``, a struct array with one
entry per AMT worker: ``location`` (the raw mouse samples, M x 2), ``timestamp`` (M x 1) and
``fixations`` (K x 2, fixations the SALICON authors detected in the mouse trajectory).
Coordinates are **1-based** ``[x, y]`` (column, row); the loader returns ``x - 1, y - 1``.
ASSUMPTION: this column order and 1-basedness follow pysaliency's SALICON loader
(``pysaliency/external_datasets/salicon.py``: ``x = gaze[k].fixations[:, 0] - 1``, ``y = ...[:, 1]
- 1``, for both editions) and the 2015 JSON's integer ranges; they were not checked against the
2017 files here. The 2015 edition's ``.mat`` files have the same fields but other fixations: say
which edition you use. Workers are not identified across images in these files: ``observer`` is
the index ``k`` of the ``gaze`` entry (0-based), meaningful within one image only. Points more
than half a pixel outside the image (pysaliency notes some in the 2017 mouse data) are dropped
and counted in ``n_dropped``. These are mouse-contingent data, not eye fixations (see
:mod:`.salicon`); for densities use ``SALICON_SIGMA_PX`` of :mod:`.viewing`.
"""
from __future__ import annotations

import re

import numpy as np

from ._io import image_size, read_gray, read_mat, read_rgb
from ._local import find_local, local_dirs, missing
from .fixations import Fixations
from .store import locate

__all__ = ["SALICON_FULL_SPLITS", "SALICON_FULL_SHAPE", "salicon_full_ids",
           "load_salicon_full_image", "load_salicon_full_fixations",
           "load_salicon_full_density"]

DATASET = "salicon"
SALICON_FULL_SPLITS = ("train", "val", "test")
SALICON_FULL_SHAPE = (480, 640)  # (H, W) of every SALICON image
_POINTS = {"fixations": "fixations", "mouse": "location"}
_NAME = re.compile(r"COCO_(train|val|test)2014_(\d{12})")
_LAYOUT = ("<root>/salicon/images/<split>/COCO_<split>2014_<id>.jpg, "
           "<root>/salicon/fixations/<split>/COCO_<split>2014_<id>.mat and "
           "<root>/salicon/maps/<split>/COCO_<split>2014_<id>.png (LSUN 2017 release, "
           "<split> = train, val or test, <id> = the 12-digit COCO id)")


def _check_split(split: str) -> str:
    if split not in SALICON_FULL_SPLITS:
        raise ValueError(f"unknown SALICON split {split!r}; valid: {SALICON_FULL_SPLITS}")
    return split


def _resolve(name, split: str | None) -> tuple[str, str]:
    """``(name, split)`` from a file name, its stem or a COCO id (which needs ``split``)."""
    if split is not None:
        _check_split(split)
    if isinstance(name, (int, np.integer)):
        if split is None:
            raise ValueError("a COCO id needs the split: e.g. load_salicon_full_image(9, 'train')")
        return f"COCO_{split}2014_{int(name):012d}", split
    stem = str(name)
    for ext in (".jpg", ".mat", ".png"):
        stem = stem.removesuffix(ext)
    m = _NAME.fullmatch(stem)
    if m is None:
        raise ValueError(f"not a SALICON image name: {name!r}; expected "
                         f"'COCO_<split>2014_<12-digit id>' (e.g. 'COCO_train2014_000000000009'), "
                         f"a file name or a COCO id with its split")
    if split is not None and m.group(1) != split:
        raise ValueError(f"{name!r} belongs to split {m.group(1)!r}, not {split!r}")
    return stem, m.group(1)


def salicon_full_ids(split: str = "train") -> list[str]:
    """Names (``'COCO_train2014_000000000009'``, ...) of the images of ``split`` found in a local
    full SALICON copy (``<root>/salicon/images/<split>/``, all data roots together), sorted.

    Raises :class:`DataNotFoundError` (with the expected layout and the places searched) when no
    data root has that folder or it holds no image."""
    _check_split(split)
    names = set()
    for folder in local_dirs(DATASET, f"images/{split}"):
        names.update(p.stem for p in folder.iterdir()
                     if p.suffix.lower() == ".jpg" and _NAME.fullmatch(p.stem)
                     and p.stem.startswith(f"COCO_{split}2014_"))
    if not names:
        raise missing(DATASET, f"images/{split}/",
                      f"No full SALICON {split} images found.", _LAYOUT)
    return sorted(names)


def load_salicon_full_image(name, split: str | None = None) -> np.ndarray:
    """Image as ``uint8 480 x 640 x 3``. ``name``: a name (``'COCO_val2014_000000000042'``), a file
    name, or a COCO id together with ``split``; the split is read from the name otherwise."""
    name, split = _resolve(name, split)
    return read_rgb(find_local(DATASET, [f"images/{split}/{name}.jpg"],
                               f"Full SALICON image {name!r} not found.", _LAYOUT))


def _no_test(split: str, what: str) -> None:
    if split == "test":
        raise ValueError(f"SALICON test {what} are not public: use split 'train' or 'val'")


def load_salicon_full_fixations(name, split: str | None = None,
                                points: str = "fixations") -> Fixations:
    """All workers' points on one image as 0-based :class:`Fixations`.

    ``points="fixations"`` (default) reads ``gaze(k).fixations``, the fixations detected in the
    mouse trajectories; ``points="mouse"`` the raw mouse samples ``gaze(k).location``. Both are
    1-based ``[x, y]`` in the file (see the module docstring). ``observer`` is the index of the
    ``gaze`` entry, not a worker id. The shape is that of the image if it is local, else the
    file's ``resolution`` ([height, width]), else 480 x 640.
    """

    if points not in _POINTS:
        raise ValueError(f"unknown points {points!r}; valid: {tuple(_POINTS)}")
    name, split = _resolve(name, split)
    _no_test(split, "fixations")
    path = find_local(DATASET, [f"fixations/{split}/{name}.mat"],
                      f"Full SALICON fixations of {name!r} not found.", _LAYOUT)
    mat = read_mat(path)
    if "gaze" not in mat:
        raise ValueError(f"{path} has no 'gaze' variable (variables: "
                         f"{sorted(k for k in mat if not k.startswith('__'))}); is it a SALICON "
                         f"fixation file?")
    gaze = mat["gaze"].ravel()
    field = _POINTS[points]
    if gaze.size and field not in (gaze.dtype.names or ()):
        raise ValueError(f"{path}: gaze has no field {field!r} (fields: {gaze.dtype.names})")
    pts, obs = [], []
    for k, entry in enumerate(gaze):
        p = np.asarray(entry[field], dtype=np.float64)
        p = p.reshape(-1, 2) if p.size else np.empty((0, 2))
        pts.append(p)
        obs.append(np.full(len(p), k, dtype=np.int64))
    pts = np.concatenate(pts) if pts else np.empty((0, 2))
    obs = np.concatenate(obs) if obs else np.empty(0, np.int64)
    return Fixations.from_points(pts[:, 0] - 1.0, pts[:, 1] - 1.0, obs, _shape(name, split, mat))


def _shape(name: str, split: str, mat: dict) -> tuple[int, int]:
    image = locate(DATASET, f"images/{split}/{name}.jpg")
    if image is not None:
        return image_size(image)
    res = np.asarray(mat.get("resolution", []), dtype=np.float64).ravel()
    if res.size == 2 and np.all(res > 0):
        return int(res[0]), int(res[1])
    return SALICON_FULL_SHAPE


def load_salicon_full_density(name, split: str | None = None) -> np.ndarray:
    """The released saliency (density) map of one image (``maps/<split>/<name>.png``): float
    ``480 x 640`` in ``[0, 1]``, as stored (8-bit grey / 255, not normalised to sum 1)."""
    name, split = _resolve(name, split)
    _no_test(split, "maps")
    return read_gray(find_local(DATASET, [f"maps/{split}/{name}.png", f"maps/{split}/{name}.jpg"],
                                f"Full SALICON density map of {name!r} not found.", _LAYOUT))
