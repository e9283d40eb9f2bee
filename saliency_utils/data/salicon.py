"""Ten SALICON training images (MS-COCO, 640x480) with their raw SALICON points.

SALICON points are **mouse-contingent**, not eye fixations: Amazon Mechanical Turk workers moved
a mouse over a blurred image that was sharp around the cursor (Jiang et al., CVPR 2015). The
bundled JSON (COCO style, SALICON 2015 "stable 1.0") has one annotation per image and worker with
``fixations = [[row, col], ...]``: **1-based** integer pixel indices (rows span 1..480 and columns
1..640 exactly, none is 0). The loader returns ``x = col - 1``, ``y = row - 1``; nothing falls
outside. ``observer`` is the SALICON ``worker_id``. There are about 60 workers and 7,400 points
per image: these are raw mouse samples, far denser than eye fixations.
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from ._io import read_rgb
from .fixations import Fixations
from .store import fetch
from .viewing import SALICON_PX_PER_DEGREE, SALICON_SIGMA_DEG, SALICON_SIGMA_PX

__all__ = ["SALICON_PX_PER_DEGREE", "SALICON_SIGMA_DEG", "SALICON_SIGMA_PX", "salicon_examples",
           "load_salicon_image", "load_salicon_fixations"]

DATASET = "salicon_examples"
_JSON = "annotations/fixations_train2014examples.json"
_IMAGES = "images/train2014examples/"


@lru_cache(maxsize=1)
def _data() -> tuple[dict, dict]:
    d = json.loads(fetch(DATASET, _JSON).read_text(encoding="utf-8"))
    images = {im["file_name"]: im for im in d["images"]}
    anns: dict[int, list] = {}
    for a in d["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    return images, anns


def salicon_examples() -> list[str]:
    """File names of the 10 images (``'COCO_train2014_000000123067.jpg'``, ...), sorted."""
    return sorted(_data()[0])


def _image_info(name) -> dict:
    images, _ = _data()
    if isinstance(name, (int, np.integer)):
        by_id = {im["id"]: im for im in images.values()}
        if int(name) in by_id:
            return by_id[int(name)]
    else:
        name = str(name)
        key = name if name.endswith(".jpg") else name + ".jpg"
        if key in images:
            return images[key]
    ids = sorted(im["id"] for im in images.values())
    raise ValueError(f"unknown SALICON example {name!r}; valid: the file names of "
                     f"salicon_examples() or their COCO ids {ids}")


def load_salicon_image(name) -> np.ndarray:
    """Image as ``uint8 480 x 640 x 3``; ``name`` is a file name, its stem or the COCO id."""
    info = _image_info(name)
    return read_rgb(fetch(DATASET, _IMAGES + info["file_name"]))


def load_salicon_fixations(name) -> Fixations:
    """All workers' mouse points on one image as 0-based :class:`Fixations` (observer = worker_id).
    These are mouse-tracking samples, not eye fixations (see the module docstring)."""
    info = _image_info(name)
    anns = _data()[1].get(info["id"], [])
    pts = [np.asarray(a["fixations"], dtype=np.float64).reshape(-1, 2) for a in anns]
    obs = [np.full(len(p), a["worker_id"]) for p, a in zip(pts, anns)]
    pts = np.concatenate(pts) if pts else np.empty((0, 2))
    obs = np.concatenate(obs) if obs else np.empty(0, np.int64)
    return Fixations.from_points(pts[:, 1] - 1.0, pts[:, 0] - 1.0, obs,
                                 (info["height"], info["width"]))
