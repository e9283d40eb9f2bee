"""The P3 and O3 examples of Kotseruba et al. (BMVC 2019): search arrays with target masks.

Files (``popout_p3o3/examples/``): ``images/``, ``targ_images/`` (target mask), ``dist_images/``
(distractor mask) and ``salmap_DGII/`` (DeepGaze II saliency map), one P3 array
(``image_circle_90_20_36_16.png``, 1024x1024, a colour singleton among circles) and one O3 photo
(``C4kfsNTXa2Irj.jpg``, 1024x1024). The P3 masks are anti-aliased RGBA PNGs and the O3 masks
JPEGs, so masks are thresholded at grey level > 127, as the authors' ``MSR_bg`` does
(``metrics.py``: ``mask / 255 > 0.5``). P3's target centre (790, 663) (x, y) and size 75 px are
those the authors' ``demo.py`` uses (from ``image_properties.txt``, not in the bundle).
"""
from __future__ import annotations

from ._io import read_gray, read_mask, read_rgb
from .errors import DataNotFoundError
from .store import fetch

__all__ = ["load_p3_example", "load_o3_example"]

DATASET = "popout_p3o3"
P3_NAME = "image_circle_90_20_36_16.png"
O3_NAME = "C4kfsNTXa2Irj.jpg"


def _load(name: str) -> dict:
    out = {
        "name": name,
        "image": read_rgb(fetch(DATASET, f"examples/images/{name}")),
        "target_mask": read_mask(fetch(DATASET, f"examples/targ_images/{name}")),
        "distractor_mask": read_mask(fetch(DATASET, f"examples/dist_images/{name}")),
    }
    try:
        out["deepgaze2"] = read_gray(fetch(DATASET, f"examples/salmap_DGII/{name}"))
    except DataNotFoundError:
        out["deepgaze2"] = None
    return out


def load_p3_example() -> dict:
    """P3 colour pop-out array: ``image`` (uint8 1024x1024x3), ``target_mask`` and
    ``distractor_mask`` (bool), ``deepgaze2`` (float map in [0, 1] as stored, or None if
    unavailable), ``target_xy`` (790, 663), ``target_size`` 75 px, ``name``."""
    out = _load(P3_NAME)
    out.update(target_xy=(790, 663), target_size=75)
    return out


def load_o3_example() -> dict:
    """O3 odd-one-out photo with the same keys as :func:`load_p3_example` (no target centre)."""
    return _load(O3_NAME)
