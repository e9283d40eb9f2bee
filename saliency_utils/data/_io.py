"""Small file readers shared by the loaders.

Every reader names the file when it cannot decode it: a truncated or corrupt file raises
:class:`.errors.DataFileError` (an ``OSError``) with its path and how to check it, instead of,
say, a bare ``OSError: image file is truncated``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataFileError

__all__ = [
    "check_choice",
    "decoding",
    "image_size",
    "read_gray",
    "read_mask",
    "read_mat",
    "read_npy",
    "read_rgb",
]


def _dataset_of(path: Path) -> str | None:
    """The dataset folder ``path`` lies in, under one of the data roots (``None`` if none)."""
    from .store import data_roots

    try:
        resolved = path.resolve()
    except OSError:
        return None
    for _, root in data_roots():
        try:
            rel = resolved.relative_to(root.resolve())
        except (ValueError, OSError):
            continue
        if len(rel.parts) > 1:
            return rel.parts[0]
    return None


@contextmanager
def decoding(path: str | Path) -> Iterator[None]:
    """Turn a decoding failure inside the block into :class:`DataFileError` naming ``path``
    (a missing file stays ``FileNotFoundError``)."""
    try:
        yield
    except (FileNotFoundError, MemoryError):
        raise
    except Exception as e:  # decoders raise anything (scipy: IndexError too)
        path = Path(path)
        dataset = _dataset_of(path)
        check = (f"check it with `python -m saliency_utils data {dataset} --verify`"
                 if dataset else "check or replace the file")
        raise DataFileError(f"cannot decode {path}: {type(e).__name__}: {e}; the file is "
                            f"damaged or not in the expected format; {check}") from e


def read_rgb(path: str | Path) -> np.ndarray:
    """Image as ``uint8 H x W x 3`` (grey, palette and RGBA images converted to RGB)."""
    with decoding(path), Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def read_gray(path: str | Path) -> np.ndarray:
    """Grey-level image as float ``H x W`` in ``[0, 1]`` (8-bit value / 255)."""
    with decoding(path), Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float64) / 255.0


def read_mask(path: str | Path, threshold: int = 127) -> np.ndarray:
    """Binary mask (``bool H x W``): grey level above ``threshold`` (anti-aliased or JPEG masks)."""
    with decoding(path), Image.open(path) as im:
        return np.asarray(im.convert("L")) > threshold


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image file, read from its header only."""
    with decoding(path), Image.open(path) as im:
        w, h = im.size
    return h, w


def read_mat(path: str | Path, **kwargs) -> dict:
    """``scipy.io.loadmat(path, **kwargs)``, naming the file if it cannot be decoded."""
    from scipy.io import loadmat

    with decoding(path):
        return loadmat(path, **kwargs)


def read_npy(path: str | Path) -> np.ndarray:
    """``np.load(path)`` of a ``.npy`` array (no pickles), naming the file if it cannot be
    decoded."""
    with decoding(path):
        return np.load(path, allow_pickle=False)


def check_choice(value, valid, what: str, describe: str) -> None:
    """Raise ``ValueError`` naming the valid values if ``value`` is not in ``valid``."""
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {describe}")
