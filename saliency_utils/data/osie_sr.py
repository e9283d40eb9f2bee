"""The OSIE-SR example of He et al. (CVPR 2019): OSIE image 1023 with labelled salient regions.

Files (``osie_sr_example/exa_data/``): ``1023.jpg`` (the OSIE image), ``1023.npy`` (int32 600x800
instance mask: 0 background, 1..5 regions), ``1023.png`` (binary fixation map),
``instance_label.jpg`` and ``seg_label.jpg`` (labelme visualisations with legends).

The semantic class of each instance is not stored as numbers; it is read from
``seg_label.jpg``: labelme draws each class in the VOC colour map colour of its class index,
blended half and half over the grey image. For each region we undo the blend
(``colour = 2 * seg - grey``, median over the region's interior) and take the nearest VOC colour
among the 12 class indices of the README. For 1023 this gives region 1 = text (37), regions
2-4 = person head (1), region 5 = object (27), which is what the legend of ``seg_label.jpg``
shows (L1 colour distances of 6-13, against more than 100 for the next-best class).

The fixation map equals the OSIE fixations of image 1023 (1-based, MATLAB ``round``), see
:mod:`.osie`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from ._io import read_mask, read_npy, read_rgb
from .store import fetch

__all__ = ["SEMANTIC_LABELS", "load_osie_sr_example", "voc_color"]

DATASET = "osie_sr_example"
IMAGE_ID = "1023"
SEMANTIC_LABELS = {1: "person head", 10: "person part", 16: "animal head", 22: "animal part",
                   27: "object", 37: "text", 46: "symbol", 51: "vehicle", 57: "food",
                   63: "plant", 68: "drink", 73: "other"}


def voc_color(index: int) -> np.ndarray:
    """RGB colour of class ``index`` in the PASCAL VOC colour map (used by labelme)."""
    r = g = b = 0
    c = int(index)
    for j in range(8):
        r |= ((c >> 0) & 1) << (7 - j)
        g |= ((c >> 1) & 1) << (7 - j)
        b |= ((c >> 2) & 1) << (7 - j)
        c >>= 3
    return np.array([r, g, b], dtype=np.float64)


def _instance_semantics(instances: np.ndarray, seg_vis: np.ndarray, grey: np.ndarray) -> dict:
    palette = {k: voc_color(k) for k in SEMANTIC_LABELS}
    out = {}
    for inst in np.unique(instances):
        if inst == 0:
            continue
        region = instances == inst
        interior = ndimage.binary_erosion(region, iterations=3)
        if interior.sum() < 20:
            interior = region
        colour = np.median(2.0 * seg_vis[interior] - grey[interior][:, None], axis=0)
        dist = {k: np.abs(colour - c).sum() for k, c in palette.items()}
        out[int(inst)] = min(dist, key=dist.get)
    return out


@lru_cache(maxsize=1)
def _load() -> dict:
    folder = "exa_data/"
    image = read_rgb(fetch(DATASET, folder + f"{IMAGE_ID}.jpg"))
    instances = read_npy(fetch(DATASET, folder + f"{IMAGE_ID}.npy")).astype(np.int32)
    seg_vis = read_rgb(fetch(DATASET, folder + "seg_label.jpg")).astype(np.float64)
    grey = np.asarray(Image.fromarray(image).convert("L"), dtype=np.float64)
    mapping = _instance_semantics(instances, seg_vis, grey)
    semantic = np.zeros_like(instances)
    for inst, label in mapping.items():
        semantic[instances == inst] = label
    return {
        "image_id": IMAGE_ID,
        "image": image,
        "instances": instances,
        "instance_labels": mapping,
        "semantic": semantic,
        "label_names": dict(SEMANTIC_LABELS),
        "fixation_map": read_mask(fetch(DATASET, folder + f"{IMAGE_ID}.png")),
    }


def load_osie_sr_example() -> dict:
    """OSIE image 1023 with its regions: ``image`` (uint8 600x800x3), ``instances`` (int32, 0 =
    background), ``instance_labels`` ({instance id: semantic index}), ``semantic`` (int32 mask of
    semantic indices, 0 = background), ``label_names`` ({index: name}), ``fixation_map`` (bool)
    and ``image_id``. Arrays are fresh copies."""
    d = _load()
    return {k: (v.copy() if isinstance(v, np.ndarray) else
                dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
