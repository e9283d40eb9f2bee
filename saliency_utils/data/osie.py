"""OSIE (Xu et al., J. Vision 2014): 700 images of 800x600 px, eye fixations of 15 observers.

Coordinates: ``fixations.mat`` stores ``fix_x`` (column) and ``fix_y`` (row) as fractional
**1-based** MATLAB pixel coordinates. Evidence: the authors' ``computeFixationMaps.m`` indexes
``map(round(fix_y), round(fix_x))`` after clamping to ``[1, w]``; the values span
``[1.2, 799.2] x [1.2, 599.2]`` (none below 1, some above 799); and the binary fixation map of
image 1023 shipped with He et al.'s OSIE-SR example equals MATLAB ``round`` of these values minus
one, pixel for pixel. The loader therefore returns ``x = fix_x - 1``, ``y = fix_y - 1``. (pysaliency
keeps the raw values, a one-pixel shift.) All 98,321 fixations then lie inside the image, so
``n_dropped`` is 0 for every image.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._io import check_choice, read_mat, read_rgb
from .fixations import Fixations
from .manifest import manifest
from .store import fetch
from .viewing import OSIE_PX_PER_DEGREE, OSIE_SIGMA_DEG, OSIE_SIGMA_PX

__all__ = ["OSIE_SHAPE", "OSIE_PX_PER_DEGREE", "OSIE_SIGMA_DEG", "OSIE_SIGMA_PX", "osie_ids",
           "load_osie_image", "load_osie_fixations", "osie_split", "osie_splits", "OSIE_N_VAL"]

DATASET = "osie"
OSIE_SHAPE = (600, 800)  # (H, W) of every OSIE image
_STIMULI = "data/stimuli/"
_FIXATIONS = "data/eye/fixations.mat"


@lru_cache(maxsize=1)
def _ids() -> tuple[str, ...]:
    names = [e.path[len(_STIMULI):-4] for e in manifest(DATASET, _STIMULI + "*.jpg")]
    return tuple(sorted(names))


def osie_ids() -> list[str]:
    """The 700 image ids as strings, sorted: ``'1001'`` ... ``'1700'``."""
    return list(_ids())


def _check_id(image_id) -> str:
    sid = str(image_id).removesuffix(".jpg")
    ids = _ids()
    check_choice(sid, set(ids), "OSIE image id", f"'{ids[0]}' to '{ids[-1]}' ({len(ids)} ids)")
    return sid


def load_osie_image(image_id) -> np.ndarray:
    """OSIE image ``image_id`` (e.g. ``'1001'`` or ``1001``) as ``uint8 600 x 800 x 3``."""
    sid = _check_id(image_id)
    return read_rgb(fetch(DATASET, f"{_STIMULI}{sid}.jpg"))


@lru_cache(maxsize=1)
def _all_fixations() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    mat = read_mat(fetch(DATASET, _FIXATIONS), squeeze_me=True, struct_as_record=False)
    out = {}
    for item in mat["fixations"]:
        subjects = [(np.atleast_1d(s.fix_x).astype(np.float64),
                     np.atleast_1d(s.fix_y).astype(np.float64))
                    for s in np.atleast_1d(item.subjects)]
        out[str(item.img).removesuffix(".jpg")] = subjects
    return out


def load_osie_fixations(image_id) -> Fixations:
    """Fixations of the 15 observers on one image; ``observer`` is the subject index 0-14 in the
    order of ``fixations.mat``. Coordinates are converted to 0-based (see the module docstring)."""
    sid = _check_id(image_id)
    subjects = _all_fixations()[sid]
    xs = np.concatenate([x for x, _ in subjects]) - 1.0
    ys = np.concatenate([y for _, y in subjects]) - 1.0
    obs = np.concatenate([np.full(x.size, i) for i, (x, _) in enumerate(subjects)])
    return Fixations.from_points(xs, ys, obs, OSIE_SHAPE)


def osie_split(n_test: int = 100, seed: int = 0) -> tuple[list[str], list[str]]:
    """A fixed train/test split of the 700 ids: ``numpy.random.default_rng(seed)`` permutes the
    sorted ids, the first ``n_test`` are the test set. Both lists are returned sorted. The
    defaults (100 test images, seed 0) are the book's split. The "train" list here is every
    image that is not a test image: :func:`osie_splits` divides it into the training and the
    validation images."""
    ids = _ids()
    if not 0 < n_test < len(ids):
        raise ValueError(f"n_test must be between 1 and {len(ids) - 1}, got {n_test}")
    perm = np.random.default_rng(seed).permutation(len(ids))
    test = sorted(ids[i] for i in perm[:n_test])
    train = sorted(ids[i] for i in perm[n_test:])
    return train, test


#: Validation images of the book's split (:func:`osie_splits`): 500 train / 100 val / 100 test.
OSIE_N_VAL = 100


def osie_splits(n_val: int = OSIE_N_VAL, n_test: int = 100, seed: int = 0) -> dict[str, list[str]]:
    """The book's train / validation / test split of the 700 ids, ``{"train", "val", "test"}``
    (each sorted): the same permutation as :func:`osie_split`, whose first ``n_test`` ids are
    the test set (unchanged), the next ``n_val`` the validation set, the rest (500 with the
    defaults) the training set. Every choice made for the book's saliency model (the epoch it
    keeps, the map's exponent, mirror averaging) is made on the validation images; the test
    images are scored once. ``n_val=0`` gives an empty validation set (the older 600/100 split)."""
    ids = _ids()
    if not 0 <= n_val < len(ids) - n_test:
        raise ValueError(f"n_val must be between 0 and {len(ids) - n_test - 1} (with n_test="
                         f"{n_test}), got {n_val}")
    _, test = osie_split(n_test=n_test, seed=seed)
    perm = np.random.default_rng(seed).permutation(len(ids))
    val = sorted(ids[i] for i in perm[n_test:n_test + n_val])
    train = sorted(ids[i] for i in perm[n_test + n_val:])
    return {"train": train, "val": val, "test": test}
