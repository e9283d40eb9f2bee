"""The training data: OSIE's (or SALICON's) images and fixations at the training resolution, cached
on disk, and their targets."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from saliency_utils import data
from saliency_utils.evaluate import maps

from saliency_utils.training.saliency.config import TRAINING_VERSION, TrainConfig

__all__ = ["dataset_source", "models_dir", "train_ids", "val_ids", "training_data",
           "training_targets"]


def models_dir() -> Path:
    """``<cache>/models``: where checkpoints and the resized training data are cached."""
    return data.cache_dir() / "models"


def dataset_source(dataset: str):
    """(load_image, load_fixations, sigma_px) of a dataset."""
    if dataset == "osie":
        return data.load_osie_image, data.load_osie_fixations, data.OSIE_SIGMA_PX
    if dataset == "salicon":
        return (lambda i: data.load_salicon_full_image(i, "train"),
                lambda i: data.load_salicon_full_fixations(i, "train"), data.SALICON_SIGMA_PX)
    if dataset == "salicon_val":
        return (lambda i: data.load_salicon_full_image(i, "val"),
                lambda i: data.load_salicon_full_fixations(i, "val"), data.SALICON_SIGMA_PX)
    raise ValueError(dataset)


def train_ids(config: TrainConfig) -> list[str]:
    """The training image ids of ``config`` (``n_train`` first ones of the training split; OSIE:
    :func:`saliency_utils.data.osie_splits` with ``n_val``, so never a validation image)."""
    if config.dataset == "osie":
        ids = data.osie_splits(n_val=config.n_val, n_test=config.n_test, seed=config.split_seed)["train"]
    else:
        ids = data.salicon_full_ids("train")
    return ids[: config.n_train] if config.n_train else ids


def val_ids(config: TrainConfig) -> list[str]:
    """The validation image ids of ``config`` (empty when ``n_val`` is 0): OSIE's validation
    part of :func:`saliency_utils.data.osie_splits`; SALICON: the first ``n_val`` of its val
    split."""
    if not config.n_val:
        return []
    if config.dataset == "osie":
        return data.osie_splits(n_val=config.n_val, n_test=config.n_test, seed=config.split_seed)["val"]
    return data.salicon_full_ids("val")[: config.n_val]


def _scaled_counts(fix, size) -> np.ndarray:
    """Fixation counts on the ``size`` grid (coordinates rescaled pixel-centre to centre)."""
    (h, w), (fh, fw) = size, fix.shape
    x = np.clip((np.asarray(fix.x) + 0.5) * w / fw - 0.5, 0, w - 1)
    y = np.clip((np.asarray(fix.y) + 0.5) * h / fh - 0.5, 0, h - 1)
    return maps.fixation_counts(x, y, (h, w))


def _resize_rgb(img: np.ndarray, size) -> np.ndarray:
    from PIL import Image

    h, w = size
    if img.shape[:2] == (h, w):
        return img
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC))


def training_data(config: TrainConfig, progress: bool = False, split: str = "train") -> dict:
    """Resized training images and fixation counts of ``config`` (``split="val"``: its
    validation images, :func:`val_ids`), cached on disk.

    Returns ``{"ids", "images" (uint8 N x H x W x 3), "counts" (uint16 N x H x W, fixations per
    pixel of the training grid), "sigma" (the density's Gaussian sigma on that grid)}`` at
    ``config.image_size``; the arrays are memory-mapped ``.npy`` files in
    ``<cache>/models/data/``. :func:`training_targets` turns counts into densities.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    ids = train_ids(config) if split == "train" else val_ids(config)
    size = tuple(config.image_size)
    source = config.dataset + ("_val" if split == "val" and config.dataset == "salicon" else "")
    load_image, load_fix, sigma = dataset_source(source)
    key = hashlib.sha256(json.dumps([source, list(size), ids, TRAINING_VERSION])
                         .encode()).hexdigest()[:12]
    folder = models_dir() / "data" / f"{source}-{size[0]}x{size[1]}-{len(ids)}-{key}"
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(folder / "images.npy", mmap_mode="r")
        counts = np.load(folder / "counts.npy", mmap_mode="r")
        if images.shape != (len(ids), *size, 3) or counts.shape != (len(ids), *size):
            raise ValueError("shape")
    except Exception:  # absent or damaged: (re)build
        from numpy.lib.format import open_memmap
        from tqdm.auto import tqdm

        folder.mkdir(parents=True, exist_ok=True)
        meta_path.unlink(missing_ok=True)
        images = open_memmap(folder / "images.npy", "w+", np.uint8, (len(ids), *size, 3))
        counts = open_memmap(folder / "counts.npy", "w+", np.uint16, (len(ids), *size))
        sig = None
        for k, i in enumerate(tqdm(ids, desc="resizing training images", disable=not progress,
                                   leave=False)):
            img = load_image(i)
            images[k] = _resize_rgb(img, size)
            counts[k] = _scaled_counts(load_fix(i), size)
            sig = sigma * size[1] / img.shape[1]
        images.flush()
        counts.flush()
        del images, counts
        meta = {"ids": ids, "sigma": float(sig)}
        meta_path.write_text(json.dumps(meta))  # written last: marks the cache complete
        images = np.load(folder / "images.npy", mmap_mode="r")
        counts = np.load(folder / "counts.npy", mmap_mode="r")
    return {"ids": ids, "images": images, "counts": counts, "sigma": float(meta["sigma"])}


def training_targets(d: dict, idx=None) -> tuple[np.ndarray, np.ndarray]:
    """Densities (float32, each summing to 1) and binary fixation maps of the images ``idx``
    (default all) of :func:`training_data` ``d``."""
    idx = np.arange(len(d["ids"])) if idx is None else np.asarray(idx)
    counts = np.asarray(d["counts"][idx], dtype=np.float64)
    dens = np.stack([maps.gaussian_density(c, d["sigma"]) for c in counts]).astype(np.float32)
    return dens, counts > 0
