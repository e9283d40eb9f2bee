"""1300 ILSVRC2012 validation images (227x227) with labels, class names and boxes.

* ``imagenet_val``: ``ILSVRC2012_VAL_SET/dataset.txt`` lists ``./data/<file>, <label>`` with
  labels 0-999 in the torchvision / caffe order (the order of ``synset_words.txt``); the images
  are pre-resized to 227x227 (aspect ratio not kept).
* ``imagenet_boxes`` (wsolevaluation): ``localization.txt`` gives one line
  ``val/<file>,x0,y0,x1,y1`` per ground-truth box, in the original image's 0-based integer pixel
  indices (``x0`` reaches 0, ``x1`` at most ``w - 1``); ``image_sizes.txt`` the original ``w, h``;
  ``class_labels.txt`` the labels.

All 1300 images have at least one box (1943 boxes), and the labels of ``dataset.txt`` agree with
``class_labels.txt`` for all 1300 (checked by the tests). Boxes are scaled to the 227x227 images
by ``227 / w`` and ``227 / h`` (plain scaling of the corner indices, so a box's right/bottom edge
is up to one scaled pixel short of the continuous edge).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._io import read_rgb
from .store import fetch

__all__ = ["IMAGENET_SIZE", "ImageNetRecord", "imagenet_val", "load_imagenet_image",
           "imagenet_class_names", "imagenet_wnids", "imagenet_labels_agree"]

DATASET = "imagenet_val"
BOX_DATASET = "imagenet_boxes"
IMAGENET_SIZE = 227
_ROOT = "ILSVRC2012_VAL_SET/"
_META = "metadata/ILSVRC/test/"


@dataclass(frozen=True, eq=False)
class ImageNetRecord:
    """One validation image: file name, label (0-999), boxes ``N x 4`` (x0, y0, x1, y1) in the
    227x227 image, and the original ``(w, h)``."""

    file: str
    label: int
    boxes: np.ndarray
    original_size: tuple[int, int]


def _lines(dataset: str, relpath: str) -> list[str]:
    text = fetch(dataset, relpath).read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


@lru_cache(maxsize=1)
def _box_meta() -> tuple[dict, dict, dict]:
    sizes = {}
    for ln in _lines(BOX_DATASET, _META + "image_sizes.txt"):
        f, w, h = ln.split(",")
        sizes[f.rsplit("/", 1)[-1]] = (int(w), int(h))
    labels = {}
    for ln in _lines(BOX_DATASET, _META + "class_labels.txt"):
        f, c = ln.split(",")
        labels[f.rsplit("/", 1)[-1]] = int(c)
    boxes: dict[str, list] = {}
    for ln in _lines(BOX_DATASET, _META + "localization.txt"):
        f, *b = ln.split(",")
        boxes.setdefault(f.rsplit("/", 1)[-1], []).append([float(v) for v in b])
    return sizes, labels, boxes


@lru_cache(maxsize=1)
def _records() -> tuple[ImageNetRecord, ...]:
    sizes, _, boxes = _box_meta()
    out = []
    for ln in _lines(DATASET, _ROOT + "dataset.txt"):
        path, label = (s.strip() for s in ln.split(","))
        file = path.rsplit("/", 1)[-1]
        w, h = sizes[file]
        b = np.array(boxes.get(file, []), dtype=np.float64).reshape(-1, 4)
        b = b * np.array([IMAGENET_SIZE / w, IMAGENET_SIZE / h] * 2)
        b.flags.writeable = False
        out.append(ImageNetRecord(file, int(label), b, (w, h)))
    return tuple(out)


def imagenet_val() -> list[ImageNetRecord]:
    """The 1300 records in the order of ``dataset.txt``."""
    return list(_records())


def imagenet_labels_agree() -> tuple[int, list[str]]:
    """``(n_checked, files whose dataset.txt label differs from class_labels.txt)``."""
    _, labels, _ = _box_meta()
    bad = [r.file for r in _records() if labels.get(r.file) != r.label]
    return len(_records()), bad


@lru_cache(maxsize=1)
def _by_file() -> dict[str, ImageNetRecord]:
    return {r.file: r for r in _records()}


def load_imagenet_image(record_or_file) -> np.ndarray:
    """Image as ``uint8 227 x 227 x 3``, from a record, a file name
    (``'ILSVRC2012_val_00000347.JPEG'``) or a ``./data/<file>`` path as in ``dataset.txt``."""
    file = getattr(record_or_file, "file", record_or_file)
    file = str(file).rsplit("/", 1)[-1]
    if file not in _by_file():
        recs = _records()
        raise ValueError(f"unknown ImageNet validation file {file!r}; valid: the {len(recs)} files "
                         f"of dataset.txt ({recs[0].file!r}, ..., {recs[-1].file!r})")
    return read_rgb(fetch(DATASET, f"{_ROOT}data/{file}"))


@lru_cache(maxsize=1)
def _synsets() -> tuple[tuple[str, str], ...]:
    out = []
    for ln in _lines(DATASET, _ROOT + "synset_words.txt"):
        wnid, words = ln.split(" ", 1)
        out.append((wnid, words.split(",")[0].strip()))
    if len(out) != 1000:
        raise RuntimeError(f"synset_words.txt has {len(out)} classes, expected 1000")
    return tuple(out)


def imagenet_class_names() -> list[str]:
    """The 1000 class names (first name of each synset, e.g. ``'tench'``) in label order. A few
    names repeat (``'crane'``, ``'maillot'``): index by label, not by name."""
    return [name for _, name in _synsets()]


def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids (``'n01440764'``, ...) in label order."""
    return [wnid for wnid, _ in _synsets()]
