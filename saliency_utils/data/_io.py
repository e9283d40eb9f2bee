"""Small file readers shared by the loaders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["read_rgb", "read_gray", "read_mask", "image_size", "check_choice"]


def read_rgb(path: str | Path) -> np.ndarray:
    """Image as ``uint8 H x W x 3`` (grey, palette and RGBA images converted to RGB)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def read_gray(path: str | Path) -> np.ndarray:
    """Grey-level image as float ``H x W`` in ``[0, 1]`` (8-bit value / 255)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float64) / 255.0


def read_mask(path: str | Path, threshold: int = 127) -> np.ndarray:
    """Binary mask (``bool H x W``): grey level above ``threshold`` (anti-aliased or JPEG masks)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > threshold


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image file, read from its header only."""
    with Image.open(path) as im:
        w, h = im.size
    return h, w


def check_choice(value, valid, what: str, describe: str) -> None:
    """Raise ``ValueError`` naming the valid values if ``value`` is not in ``valid``."""
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {describe}")
