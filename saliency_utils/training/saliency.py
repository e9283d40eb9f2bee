"""Training, caching and evaluation of the deep saliency model (:mod:`saliency_utils.models.saliency_model`).

    from saliency_utils.training import saliency as training
    model = training.load_or_train(training.PRESETS["offline"])   # cached after the first run
    from saliency_utils.evaluate.scoring import FixationDataset, model_maps, score_maps
    scores = score_maps(model_maps(model), FixationDataset.osie("test"))  # a row per image

**Data.** OSIE (Xu et al. 2014) with the book's fixed split
(:func:`saliency_utils.data.osie_splits`, 500 training / 100 validation / 100 test images, seed
0; ``n_val`` in :class:`TrainConfig`). Targets are built at the training resolution: the
fixations are rescaled to it and blurred with the dataset's one-degree Gaussian, rescaled too
(OSIE: 24 px at 800x600, 9.6 px at 320x240). Horizontal flips (``flip=True``) flip the image and
its targets together, so fixations stay aligned. Resized images and fixation counts are cached in
``<cache>/models/data/`` (``<cache>`` = :func:`saliency_utils.data.cache_dir`, i.e.
``$SALIENCY_CACHE`` or ``<project>/data/cache``). ``dataset="salicon"`` trains on the full
SALICON train split when a local copy exists (see :mod:`saliency_utils.data.salicon_full`).

**Loss.** The KL divergence from the human density ``G`` to the model's density ``P``,
``KL(G || P) = sum G log(G / P)`` (MIT's KLD without its epsilon), minus ``loss_cc`` times the
correlation coefficient CC(P, G) and ``loss_nss`` times the NSS of ``P`` at the fixated pixels
(a combination of distribution and metric terms as in SAM, Cornia et al. 2018). The offline
preset uses the KL divergence alone: of :data:`LOSS_CANDIDATES` (KL; KL - CC - 0.5 NSS; KL - CC
- NSS) it has the best mean rank over the MIT metrics on the validation images
(:func:`compare_losses`, chapter 3). Earlier versions used KL - CC - 0.5 NSS, kept because the
NSS term raised NSS on the OSIE test images (2.72 -> 2.85): a choice made on test data. ``loss_kl``
weights the KL term (0: a metric-only loss, as the ``paper`` preset's NSS-only loss). The
metric terms are computed on the map the model outputs (:data:`models.saliency_model.OUTPUTS`): the
density ``P`` for ``output="density"``; for ``output="minmax"`` on the log-density, because NSS
and CC do not change under a positive affine map ``a x + b`` (``a > 0``), and the min-max map
``(s - min s) / (max s - min s)`` of the readout ``s``, ``s`` itself and the log-density
``s - logsumexp(s)`` (no prior) are such maps of each other: the loss, and its gradient, are
those of NSS (CC) of the min-max map, without the min and max in the graph.

**Schedule.** Two phases. (1) ``readout_epochs`` with the encoder frozen: its features are
computed once (for every image and its flip) and only the readout and the prior are trained on
them, which is cheap. (2) ``epochs`` end to end (skipped when ``freeze_encoder``): all encoder
parameters are trained with ``lr_encoder``, the readout with ``lr``; BatchNorm statistics stay
frozen (see :mod:`saliency_utils.models.saliency_model`). Adam, cosine learning-rate decay within
each phase, or,
with ``lr_decay=g``, the learning rates times ``g`` after every epoch of each phase (the CVPR
2019 authors' demo: x0.8 every 10,000 SALICON images, i.e. every epoch).

**Determinism.** Seeds for everything (``seed``), ``torch.use_deterministic_algorithms`` during
training (``warn_only`` on CUDA, where a few kernels have no deterministic version), and batches
drawn from a seeded generator: the same configuration gives the same weights on the same
machine and software (CPU results may differ across CPU types and thread counts).

**Cache.** :func:`load_or_train` keys checkpoints by a hash of the whole :class:`TrainConfig`,
:data:`models.saliency_model.MODEL_VERSION` and :data:`TRAINING_VERSION`:
``<cache>/models/saliency-<backbone>-<hash>.pt`` holds the state dict, the configuration (JSON)
and the training history, written with ``torch.save`` and read back with
``torch.load(weights_only=True)``; a ``.json`` file beside it has the same configuration and
history for reading. A GPU is used when present, never required.

**Validation.** With ``n_val > 0`` (every preset) the loss on the validation images is recorded
after every epoch, the final phase keeps the weights of its epoch of lowest validation loss
(``history["kept_epoch"]``), and :func:`choose_postprocessing` chooses the map's exponent and
mirror averaging on the validation images by :data:`POSTPROCESSING_RULE`
(``history["postprocessing"]``); the checkpoint carries the choice, and
:meth:`~saliency_utils.models.saliency_model.SaliencyModel.predict` applies it by default. The loss is
compared on validation too (:data:`LOSS_CANDIDATES`, :func:`compare_losses`), then, with the loss
fixed, one-factor alternatives of the schedule's length, the readout's depth and the resolution
(:data:`SETTING_CANDIDATES`, :func:`compare_settings`). The readout's layers, the frozen-encoder
epochs, the learning rates and the batch size were not chosen on validation (earlier versions of
the book set them looking at OSIE test scores; chapter 3 says so).

**Evaluation** is :func:`saliency_utils.evaluate.scoring.score_maps` with
:func:`saliency_utils.evaluate.scoring.model_maps` (OSIE test images, MIT1003 stimuli, FIGRIM; IG
against the centre bias of :func:`osie_centre_bias`), and
:func:`saliency_utils.evaluate.model_quality.evaluate_model` for the density scores and the anchors.

**Speed on CPU.** Phase 2 dominates: about 6-10 training images/s at 240x320 on 2 cores (about
1.5 times slower at the offline preset's 288x384).
PyTorch's OpenMP threads spin while waiting; when another process keeps the cores busy that
makes 2 threads 10-20 times slower than 1. Set ``OMP_WAIT_POLICY=PASSIVE`` in the environment
(before Python starts) or pass ``threads=1`` when the machine is shared.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from saliency_utils import data
from saliency_utils.evaluate import anchors, maps, metrics
from saliency_utils.models.architectures import architecture
from saliency_utils.fileio import atomic_write, atomic_write_text
from saliency_utils.models.backbones import backbone_weights, default_device, resolve_weights
from saliency_utils.models.saliency_model import MODEL_VERSION, OUTPUTS, SaliencyModel

__all__ = ["TRAINING_VERSION", "TrainConfig", "PRESETS", "CheckpointError", "train",
           "load_or_train", "checkpoint_path", "config_hash", "save_checkpoint",
           "load_checkpoint", "models_dir", "training_data", "training_targets", "summarise",
           "kl_loss", "saliency_loss", "encoder_parameters", "osie_centre_bias", "lr_factor",
           "NEW_KEY_FIELDS", "seed_all", "write_state", "read_state",
           "deterministic", "epoch_batches", "batch_images", "batch_targets", "prefetched", "key_hash",
           "keyed_model_path"]

#: Bumped when the training procedure changes in a way that changes the trained weights.
TRAINING_VERSION = "1"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (all of it goes into the cache key).

    The defaults are the configuration the ``offline`` preset was chosen from: EfficientNet-Lite0
    at 240x320 (OSIE's 4:3), a multi-scale readout of stages 3, 5 (strides 8, 16) and the head
    (stride 32) with one hidden layer of 16 channels, the learned centre-bias prior, 6 readout
    epochs on cached features, then 4 end-to-end epochs; loss KL - CC - 0.5 NSS. The preset
    itself adds the validation images (``n_val=100``) and what was chosen on them: the KL
    divergence alone (:data:`LOSS_CANDIDATES`), then 288x384 (:data:`SETTING_CANDIDATES`).
    """

    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"  # encoder weights before training: "imagenet", "random" or a path
    dataset: str = "osie"  # "osie" (book split) or "salicon" (local full copy)
    image_size: tuple[int, int] = (240, 320)  # (H, W) training resolution
    readout_layers: tuple[str, ...] = ("stage3", "stage5", "head")
    readout_hidden: int = 16  # 0: a single 1x1 conv (the papers' readout)
    centre_bias: str = "learned"  # "learned" or "none"
    freeze_encoder: bool = False
    readout_epochs: int = 6  # phase 1: frozen encoder, cached features
    epochs: int = 4  # phase 2: end to end (ignored if freeze_encoder)
    batch_size: int = 8
    lr: float = 1e-3  # readout and prior
    lr_encoder: float = 2e-4  # encoder, phase 2
    weight_decay: float = 0.0
    flip: bool = True  # horizontal flips, targets flipped with the image
    loss_cc: float = 1.0  # loss = KL - loss_cc * CC - loss_nss * NSS
    loss_nss: float = 0.5
    seed: int = 0
    n_train: int | None = None  # first n training images only (smoke); None = all
    split_seed: int = 0  # OSIE split seed (osie_split)
    n_test: int = 100  # OSIE test images (osie_split)
    # Added later; they enter the cache key only when not at their default (NEW_KEY_FIELDS).
    readout_bias: bool = True  # bias of the readout's last 1x1 conv (no effect on the output)
    loss_kl: float = 1.0  # weight of the KL term; 0: a metric-only loss
    output: str = "density"  # the predicted map: "density" or "minmax" (saliency_model.OUTPUTS)
    lr_decay: float | None = None  # None: cosine per phase; g: learning rates x g every epoch
    # validation images carved from the non-test images (osie_splits; SALICON: the first n_val of
    # its val split); 0: none (the older 600/100 split). With n_val > 0 the trainer keeps the
    # final phase's epoch of lowest validation loss and choose_postprocessing picks the map's
    # exponent and mirror averaging on them (the presets: 100, the book's 500/100/100 split)
    n_val: int = 0

    def __post_init__(self):
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        object.__setattr__(self, "readout_layers", tuple(self.readout_layers))
        w = resolve_weights(self.weights)  # "default" / None: the older spellings
        object.__setattr__(self, "weights", w if isinstance(w, str) else str(w))
        if self.dataset not in ("osie", "salicon"):
            raise ValueError(f"dataset must be 'osie' or 'salicon', got {self.dataset!r}")
        if self.centre_bias not in ("learned", "none"):
            raise ValueError(f"centre_bias must be 'learned' or 'none', got {self.centre_bias!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if min(self.loss_kl, self.loss_cc, self.loss_nss) < 0:
            raise ValueError("loss weights (loss_kl, loss_cc, loss_nss) must be >= 0")
        if not (self.loss_kl or self.loss_cc or self.loss_nss):
            raise ValueError("the loss is empty: loss_kl, loss_cc and loss_nss are all 0")
        if self.n_val < 0:
            raise ValueError(f"n_val must be >= 0, got {self.n_val!r}")
        if self.lr_decay is not None and not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be None or in (0, 1], got {self.lr_decay!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        d["readout_layers"] = list(self.readout_layers)
        return d

    def key_dict(self) -> dict:
        """:meth:`to_dict` as it enters the cache keys (:func:`config_hash`, the classifier's
        key): ImageNet weights keep their older spelling ``"default"``, so checkpoints trained
        before the weights choice was renamed keep their names; ``"random"`` and a path are
        keyed as themselves, so a random-weight model never shares a checkpoint with a real
        one. The fields of :data:`NEW_KEY_FIELDS` enter only when they differ from their
        default, so configurations from before they existed keep their checkpoint names."""
        d = self.to_dict()
        # "imagenet" replaced by a reader's file ($SALIENCY_WEIGHTS_<NAME>) is keyed by its path
        d["weights"] = str(backbone_weights(self.backbone, d["weights"]))
        if d["weights"] == "imagenet":
            d["weights"] = "default"
        for name in NEW_KEY_FIELDS:
            if d[name] == _FIELD_DEFAULTS[name]:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


#: The :class:`TrainConfig` fields added after checkpoints were first keyed: each enters the
#: cache key (:meth:`TrainConfig.key_dict`) only when it differs from its default.
NEW_KEY_FIELDS = ("readout_bias", "loss_kl", "output", "lr_decay", "n_val")
_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}

#: The one-pass validation protocol (chapter 3, section 1.1) per preset that is its outcome: the
#: configuration the loss (:data:`LOSS_CANDIDATES`) and then the settings
#: (:data:`SETTING_CANDIDATES`) were compared around. Its loss is the loss stage's pick; the
#: preset is the settings stage's pick among :func:`setting_candidates` of it.
SELECTION_BASES: dict[str, TrainConfig] = {
    "offline": TrainConfig(n_val=data.OSIE_N_VAL, loss_cc=0.0, loss_nss=0.0),
}

#: ``smoke``: a few seconds, for tests (8 images, 96x128, one epoch per phase). ``offline``: the book's
#: model (:data:`SELECTION_BASES` with validation's pick, 288x384), EfficientNet-Lite0 on 2 CPU cores in
#: about 10-15 minutes. ``paper``: the CVPR 2019 authors' demo (SenHe/uavdvsm, ``sal_train_pt.py``) as far
#: as this trainer expresses it: VGG-16 conv1_1-conv5_3 (ImageNet weights, internet once), one 1x1 readout
#: without bias, no prior, 224x224 input, NSS-only loss, min-max output, Adam, batch 20, readout learning
#: rate 0.005, learning rates x0.8 after every epoch, 20 end-to-end epochs, no flips. Ours, not the demo's:
#: 5 warm-up epochs of the readout on the frozen encoder first (also what the fixed-encoder twin trains),
#: an encoder learning rate of 1e-5 (the demo's 0.005 applies to every parameter), targets at 224x224
#: rather than 480x640, OSIE unless ``dataset="salicon"`` (a local SALICON copy; chapter 3 switches to it
#: when present). README.md, "The `paper` profile: where it follows the papers", has the rest.
#: ``paper-smoke``: the ``paper`` preset with the ``smoke`` preset's sizes (:data:`SMOKE_SIZE_FIELDS`) and
#: random weights: the paper's code path offline in seconds, never a result.
PRESETS: dict[str, TrainConfig] = {
    "smoke": TrainConfig(image_size=(96, 128), readout_hidden=8, readout_epochs=1, epochs=1,
                         batch_size=4, n_train=8, n_val=4, loss_cc=0.0, loss_nss=0.0),
    # validation's picks in one pass (chapter 3, section 1.1; SELECTION_BASES): the loss among
    # LOSS_CANDIDATES (2026-12-04: KL alone, mean rank 1.75 against 1.875 for the KL - CC - 0.5 NSS
    # used before), then the settings among setting_candidates of that (2026-12-04: 1.2 x the
    # resolution, 288x384, mean rank 1.5; twice the end-to-end epochs 1.75; unchanged 2.75; a
    # single 1x1 readout 4.0)
    "offline": SELECTION_BASES["offline"].replace(image_size=(288, 384)),
    "paper": TrainConfig(backbone="vgg16", image_size=(224, 224), readout_layers=("conv5_3",),
                         readout_hidden=0, readout_bias=False, centre_bias="none",
                         readout_epochs=5, epochs=20, batch_size=20, lr=5e-3, lr_encoder=1e-5,
                         lr_decay=0.8, flip=False, loss_kl=0.0, loss_cc=0.0, loss_nss=1.0,
                         output="minmax", n_val=data.OSIE_N_VAL),
}

#: The fields the ``paper-smoke`` preset takes from ``smoke`` (sizes); all others from ``paper``.
SMOKE_SIZE_FIELDS = ("image_size", "readout_epochs", "epochs", "batch_size", "n_train", "n_val")
PRESETS["paper-smoke"] = PRESETS["paper"].replace(
    weights="random", **{f: getattr(PRESETS["smoke"], f) for f in SMOKE_SIZE_FIELDS})


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or does not fit its model."""


# ------------------------------------------------------------------------------ determinism
def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (the trainers call it first)."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


@contextmanager
def deterministic(device: torch.device):
    """Deterministic algorithms on ``device`` inside the block (warn-only on CUDA, whose
    workspace is configured), restored afterwards; both trainers train inside it."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev_cudnn


# ------------------------------------------------------------------------------ data
def models_dir() -> Path:
    """``<cache>/models``: where checkpoints and the resized training data are cached."""
    return data.cache_dir() / "models"


def _source(dataset: str):
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
    load_image, load_fix, sigma = _source(source)
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


# ------------------------------------------------------------------------------ losses
def kl_loss(logp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(target || exp(logp)) per image (``N``), both ``N x H x W`` densities."""
    return (torch.xlogy(target, target) - target * logp).flatten(1).sum(1)


def _cc(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    a = p.flatten(1) - p.flatten(1).mean(1, keepdim=True)
    b = g.flatten(1) - g.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt().clamp_min(1e-12)


def _nss(p: torch.Tensor, fixmap: torch.Tensor) -> torch.Tensor:
    p = p.flatten(1)
    f = fixmap.flatten(1).float()
    z = (p - p.mean(1, keepdim=True)) / p.std(1, keepdim=True).clamp_min(1e-12)
    return (z * f).sum(1) / f.sum(1).clamp_min(1.0)


def saliency_loss(logp, density, fixmap, config: TrainConfig) -> tuple[torch.Tensor, dict]:
    """The training loss of ``config`` (KL, CC and NSS terms with its weights) of predicted
    log-densities ``logp`` against target densities and fixation maps; returns ``(loss, parts)``
    (``parts``: the terms' values as floats, and ``loss``)."""
    if config.loss_kl:
        kl = kl_loss(logp, density).mean()
        loss = config.loss_kl * kl
    else:  # reported, not trained on
        with torch.no_grad():
            kl = kl_loss(logp, density).mean()
        loss = 0.0
    parts = {"kl": kl.item()}
    if config.loss_cc or config.loss_nss:
        # the map the model outputs, up to a positive affine map (NSS and CC ignore it): the
        # density, or for "minmax" the log-density (see the module docstring, "Loss")
        p = logp if config.output == "minmax" else logp.exp()
        if config.loss_cc:
            cc = _cc(p, density).mean()
            loss = loss - config.loss_cc * cc
            parts["cc"] = cc.item()
        if config.loss_nss:
            nss = _nss(p, fixmap).mean()
            loss = loss - config.loss_nss * nss
            parts["nss"] = nss.item()
    parts["loss"] = loss.item()
    return loss, parts


# ------------------------------------------------------------------------------ training
def build_model(config: TrainConfig, weights=None, centre_bias_init=(0.2, 0.2),
                device=None) -> SaliencyModel:
    """The untrained model of ``config`` with the encoder weights ``config.weights`` (or
    ``weights``, e.g. ``"random"`` when a state dict will be loaded); a random encoder is seeded
    with ``config.seed``."""
    weights = config.weights if weights is None else weights
    return SaliencyModel(config.backbone, weights=weights, seed=config.seed,
                         readout_layers=config.readout_layers,
                         readout_hidden=config.readout_hidden, centre_bias=config.centre_bias,
                         centre_bias_init=centre_bias_init, freeze_encoder=config.freeze_encoder,
                         input_size=config.image_size, device=device,
                         readout_bias=config.readout_bias, output=config.output)


def encoder_parameters(model: SaliencyModel) -> list:
    """The encoder's parameters that end-to-end training updates: all of them but the ImageNet
    classifier's, which the encoder's forward pass does not reach."""
    skip = architecture(model.backbone_name).classifier_prefix
    return [p for n_, p in model.encoder.named_parameters() if not (skip and n_.startswith(skip))]


def _cosine(step: int, total: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int, total: int) -> float:
    """The factor on the base learning rates at ``step`` (0-based) of a phase of ``total``
    steps: the cosine decay, or ``lr_decay ** epochs done`` with ``config.lr_decay``."""
    if config.lr_decay is None:
        return _cosine(step, total)
    return float(config.lr_decay) ** (step // max(1, steps_per_epoch))


def epoch_batches(n: int, batch_size: int, flip: bool, gen: torch.Generator):
    """One epoch of ``(indices, flips)`` batches: a permutation of ``n`` items drawn from
    ``gen``, and per item a horizontal flip with probability 0.5 if ``flip`` (else none)."""
    order = torch.randperm(n, generator=gen)
    flips = (torch.rand(n, generator=gen) < 0.5) if flip else torch.zeros(n, dtype=torch.bool)
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        yield idx, flips[idx]


def batch_targets(d: dict, idx, flips, device):
    """Target densities and fixation maps of the images ``idx`` (a tensor of indices) of
    :func:`training_data` ``d``, mirrored where ``flips``, on ``device`` (precomputed ones when
    ``d`` holds them)."""
    if "density" in d:  # precomputed (small data sets)
        dens = torch.from_numpy(d["density"][idx.numpy()])
        fix = torch.from_numpy(d["fixmap"][idx.numpy()])
    else:
        dens, fix = (torch.from_numpy(a) for a in training_targets(d, idx.numpy()))
    if flips.any():
        dens[flips] = dens[flips].flip(-1)
        fix[flips] = fix[flips].flip(-1)
    return dens.to(device), fix.to(device)


@torch.no_grad()
def validation_loss(model: SaliencyModel, vd: dict, config: TrainConfig, device=None) -> dict:
    """The loss of ``config`` and its parts (``kl``, ``cc``, ``nss``, ``loss``), averaged over the
    images of :func:`training_data` ``vd`` (no flips), with the model in eval mode (then restored)."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was = model.training
    model.eval()
    sums, count = {}, 0
    try:
        n = len(vd["ids"])
        for start in range(0, n, 2 * config.batch_size):
            idx = torch.arange(start, min(n, start + 2 * config.batch_size))
            flips = torch.zeros(len(idx), dtype=torch.bool)
            dens, fix = batch_targets(vd, idx, flips, dev)
            _, parts = saliency_loss(model(batch_images(model, vd, idx, flips)), dens, fix, config)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            count += len(idx)
    finally:
        model.train(was)
    return {k: v / count for k, v in sums.items()}


def batch_images(model: SaliencyModel, d: dict, idx, flips) -> torch.Tensor:
    """The preprocessed images ``idx`` of :func:`training_data` ``d`` (flipped where
    ``flips``), on the model's device."""
    imgs = np.asarray(d["images"][np.sort(idx.numpy())])
    order = np.argsort(np.argsort(idx.numpy()))  # memory maps are read in sorted order
    x = model.preprocess(list(imgs[order]))
    if flips.any():
        x[flips.to(x.device)] = x[flips.to(x.device)].flip(-1)
    return x


def prefetched(items, prepare: Callable, enabled: bool = True):
    """``(item, prepare(item))`` for each of ``items``, in order. With ``enabled``, the next
    item's ``prepare`` runs in a background thread while the caller works on the current one
    (the trainers' host work, such as target densities and image preprocessing, overlaps the
    GPU's step); the results are the same as without. An exception in ``prepare`` is raised in
    the caller at that item."""
    items = iter(items)
    if not enabled:
        for it in items:
            yield it, prepare(it)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            cur = next(items)
        except StopIteration:
            return
        fut = pool.submit(prepare, cur)
        for nxt in items:
            nxt_fut = pool.submit(prepare, nxt)
            yield cur, fut.result()
            cur, fut = nxt, nxt_fut
        yield cur, fut.result()


#: Phase 1 caches encoder features in memory up to this size; beyond, it recomputes them.
FEATURE_CACHE_BYTES = 3 * 2 ** 30


@torch.no_grad()
def _feature_cache(model: SaliencyModel, d: dict, flip: bool, batch_size: int, progress: bool):
    """Encoder features of every training image (and of its mirror image): lists per layer of
    float16 CPU tensors ``N x C x h x w``, index ``[0]`` unflipped, ``[1]`` flipped. ``None``
    when they would take more than :data:`FEATURE_CACHE_BYTES`."""
    from tqdm.auto import tqdm

    n = len(d["ids"])
    model.eval()
    out = []
    for mirrored in ([False, True] if flip else [False]):
        per_layer = None
        desc = "encoder features" + (" (mirrored)" if mirrored else "")
        for s in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, leave=False):
            idx = torch.arange(s, min(n, s + batch_size))
            x = batch_images(model, d, idx, torch.full((len(idx),), mirrored))
            feats = [f.half().cpu() for f in model.features(x)]
            if per_layer is None:
                per_image = sum(f[0].numel() * 2 for f in feats)
                if per_image * n * (2 if flip else 1) > FEATURE_CACHE_BYTES:
                    return None
                per_layer = [[f] for f in feats]
            else:
                per_layer = [acc + [f] for acc, f in zip(per_layer, feats)]
        out.append([torch.cat(acc) for acc in per_layer])
    return out


def train(config: TrainConfig, progress: bool = True, device=None, threads: int | None = None):
    """Train the model of ``config``; returns ``(model, history)``.

    ``device``: default CUDA when available, else CPU. ``threads``: CPU threads for torch
    during training (restored afterwards); default: torch's current setting. (On a machine
    whose cores are busy with another process, OpenMP's spinning threads can make 2 threads
    many times slower than 1; ``OMP_WAIT_POLICY=PASSIVE`` in the environment avoids that.)

    ``history`` is a dict: ``config``, ``device``, ``n_images``, ``epochs`` (one dict per epoch:
    phase, mean loss and its parts, seconds, images/s), ``seconds`` (total, incl. data
    preparation) and ``centre_bias_init`` (the prior's initial widths, fitted to the training
    fixations).
    """
    from tqdm.auto import tqdm

    dev = torch.device(device) if device is not None else default_device()
    if threads:
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            return train(config, progress=progress, device=dev)
        finally:
            torch.set_num_threads(prev_threads)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    d = training_data(config, progress=progress)
    n = len(d["ids"])
    if n * np.prod(config.image_size) * 5 < 2 ** 30:  # targets fit in 1 GiB: compute them once
        d["density"], d["fixmap"] = training_targets(d)
    load_fix = _source(config.dataset)[1]
    sigma_frac = anchors.fit_centre_bias([load_fix(i) for i in d["ids"]])
    vd = training_data(config, progress=progress, split="val") if config.n_val else None
    if vd is not None:
        vd["density"], vd["fixmap"] = training_targets(vd)
    history = {"config": config.to_dict(), "device": str(dev), "n_images": n,
               "n_val_images": len(vd["ids"]) if vd is not None else 0,
               "torch_threads": torch.get_num_threads(), "epochs": [],
               "centre_bias_init": list(sigma_frac), "model_version": MODEL_VERSION,
               "training_version": TRAINING_VERSION}
    with deterministic(dev):
        seed_all(config.seed)
        model = build_model(config, weights=config.weights, centre_bias_init=sigma_frac,
                            device=dev)
        gen = torch.Generator().manual_seed(config.seed)
        size = config.image_size
        final_phase = ("end-to-end" if config.epochs > 0 and not config.freeze_encoder
                       else "readout")
        best = {"loss": math.inf, "state": None, "epoch": None}

        def run_epochs(phase, n_epochs, optimiser, base_lrs, step_fn, prepare):
            per_epoch = math.ceil(n / config.batch_size)
            total = n_epochs * per_epoch
            step = 0
            for ep in range(n_epochs):
                t0 = time.perf_counter()
                sums, count = {}, 0
                bar = tqdm(list(epoch_batches(n, config.batch_size, config.flip, gen)),
                           desc=f"{phase} epoch {ep + 1}/{n_epochs}", disable=not progress,
                           leave=False)
                # on a GPU the next batch's host work (targets, images) runs in a thread while
                # the GPU trains on this one; the same numbers either way
                for (idx, flips), (inputs, dens, fix) in prefetched(
                        bar, lambda b: (prepare(*b), *batch_targets(d, *b, dev)),
                        enabled=dev.type == "cuda"):
                    for g, lr in zip(optimiser.param_groups, base_lrs):
                        g["lr"] = lr * lr_factor(config, step, per_epoch, total)
                    logp = step_fn(idx, flips, inputs)
                    loss, parts = saliency_loss(logp, dens, fix, config)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    step += 1
                    for k, v in parts.items():
                        sums[k] = sums.get(k, 0.0) + v * len(idx)
                    count += len(idx)
                    bar.set_postfix(loss=f"{parts['loss']:.3f}")
                dt = time.perf_counter() - t0
                row = {"phase": phase, "epoch": ep + 1, **{k: v / count for k, v in sums.items()},
                       "seconds": round(dt, 2), "images_per_s": round(count / dt, 2)}
                if vd is not None:  # the validation loss; the final phase keeps its best epoch
                    row.update({f"val_{k}": v for k, v in
                                validation_loss(model, vd, config, dev).items()})
                    if phase == final_phase and row["val_loss"] < best["loss"]:
                        best.update(loss=row["val_loss"], epoch=ep + 1,
                                    state={k: v.detach().clone() for k, v in model.state_dict().items()})
                history["epochs"].append(row)
                if progress:
                    print(f"{phase} epoch {ep + 1}/{n_epochs}: loss {row['loss']:.4f} "
                          f"(KL {row['kl']:.4f}), {dt:.1f} s, {row['images_per_s']:.1f} img/s",
                          flush=True)

        head_params = list(model.head_parameters())
        # phase 1: frozen encoder, features computed once
        if config.readout_epochs > 0:
            t0 = time.perf_counter()
            cache = _feature_cache(model, d, config.flip, 2 * config.batch_size, progress)
            history["feature_seconds"] = round(time.perf_counter() - t0, 2)
            opt = torch.optim.Adam(head_params, lr=config.lr, weight_decay=config.weight_decay)

            def head_inputs(idx, flips):  # the images, when the features are not cached
                return batch_images(model, d, idx, flips) if cache is None else None

            def head_step(idx, flips, x):
                if cache is None:  # too big to cache: frozen features on the fly
                    model.eval()
                    with torch.no_grad():
                        feats = model.features(x)
                    model.train()
                    return model.head(feats, size)
                feats = []
                for layer in range(len(cache[0])):
                    f = cache[0][layer][idx].clone()
                    if flips.any():
                        f[flips] = cache[1][layer][idx[flips]]
                    feats.append(f.to(dev).float())
                model.train()
                return model.head(feats, size)

            run_epochs("readout", config.readout_epochs, opt, [config.lr], head_step, head_inputs)
            del cache
        # phase 2: end to end
        if config.epochs > 0 and not config.freeze_encoder:
            enc = encoder_parameters(model)
            opt = torch.optim.Adam([{"params": enc, "lr": config.lr_encoder},
                                    {"params": head_params, "lr": config.lr}],
                                   weight_decay=config.weight_decay)

            def full_step(idx, flips, x):
                model.train()
                return model(x)

            run_epochs("end-to-end", config.epochs, opt, [config.lr_encoder, config.lr],
                       full_step, lambda idx, flips: batch_images(model, d, idx, flips))
        if best["state"] is not None:  # the epoch of lowest validation loss of the final phase
            model.load_state_dict(best["state"])
            history["kept_epoch"] = {"phase": final_phase, "epoch": best["epoch"],
                                     "val_loss": best["loss"],
                                     "rule": "lowest validation loss of the final phase"}
    model.eval()
    if vd is not None:
        history["postprocessing"] = choose_postprocessing(model, config, sigma_frac,
                                                          progress=progress)
        apply_postprocessing(model, history["postprocessing"])
    history["seconds"] = round(time.perf_counter() - t_start, 2)
    history["cpu_seconds"] = round(time.process_time() - cpu_start, 2)
    model.history = history
    model.train_config = config
    return model, history


# ------------------------------------------------------------------------------ checkpoints
def key_hash(key: dict) -> str:
    """16 hex digits of the sha256 of ``key`` as sorted JSON: the cache key of a trained model
    (its configuration and the code versions that shape its weights)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def keyed_model_path(kind: str, backbone: str, weights: str, key: dict, detail: str = "",
                     folder: str | Path | None = None) -> Path:
    """The one naming scheme of cached trained models:
    ``<folder>/<kind>-<backbone>[-random][-<detail>]-<key_hash(key)>.pt`` (``-random`` for an
    encoder that started from random weights; default folder :func:`models_dir`)."""
    folder = Path(folder) if folder is not None else models_dir()
    tag = "-random" if weights == "random" else ""
    detail = f"-{detail}" if detail else ""
    return folder / f"{kind}-{backbone}{tag}{detail}-{key_hash(key)}.pt"


def config_hash(config: TrainConfig) -> str:
    """16 hex digits of the sha256 of the configuration and the code versions."""
    return key_hash({"config": config.key_dict(), "model_version": MODEL_VERSION,
                     "training_version": TRAINING_VERSION})


def checkpoint_path(config: TrainConfig, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`load_or_train` keeps the model of ``config`` (``saliency-<backbone>-<hash>
    .pt``; ``saliency-<backbone>-random-<hash>.pt`` for a random-weight encoder)."""
    return keyed_model_path("saliency", config.backbone, config.weights,
                            {"config": config.key_dict(), "model_version": MODEL_VERSION,
                             "training_version": TRAINING_VERSION}, folder=cache_dir)


def save_checkpoint(model: SaliencyModel, config: TrainConfig, path: str | Path,
                    history: dict | None = None) -> Path:
    """Write ``model``'s state dict with its configuration (atomically: a partial file never
    takes the final name) and a readable ``.json`` beside it."""
    history = history if history is not None else getattr(model, "history", {})
    meta = {"config": config.to_dict(), "model": model.kwargs, "model_version": MODEL_VERSION,
            "training_version": TRAINING_VERSION, "history": history}
    return write_state(path, model, meta)


def write_state(path: str | Path, model: torch.nn.Module, meta: dict) -> Path:
    """The one checkpoint format of the book's trained models: ``{"state_dict" (on the CPU),
    "meta" (JSON text)}`` written atomically (a partial file never takes the final name), and
    ``meta`` as a readable ``.json`` beside it. Read it back with :func:`read_state` (or
    :func:`load_checkpoint` for a saliency model)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": json.dumps(meta)}
    atomic_write(path, lambda f: torch.save(blob, f))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))
    return path


def read_state(path: str | Path, build: Callable[[dict], torch.nn.Module], what: str):
    """``(model, meta)`` from a file of :func:`write_state`: ``build(meta)`` makes the
    untrained model (on the CPU), whose state is then loaded strictly, with
    ``torch.load(weights_only=True)``. Anything wrong (damaged file, missing entries, a state
    that does not fit) raises :class:`CheckpointError` naming ``what`` and the fix."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
        model = build(meta)
        model.load_state_dict(blob["state_dict"], strict=True)
    except Exception as e:
        raise CheckpointError(f"cannot read {what} {path} ({type(e).__name__}: {str(e)[:300]}); "
                              "delete it to retrain") from e
    return model, meta


def load_checkpoint(path: str | Path, device=None) -> SaliencyModel:
    """Model saved by :func:`save_checkpoint` (``torch.load(weights_only=True)``); its
    configuration and history are in ``model.train_config`` and ``model.history``. A missing,
    truncated or foreign file raises :class:`CheckpointError` saying what to do."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    advice = (f"delete {path} (and its .json) to retrain it, or pass a checkpoint written by "
              "saliency_utils.training.saliency")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path} ({type(e).__name__}: "
                              f"{str(e)[:200]}); the file is damaged or not a checkpoint: "
                              f"{advice}") from e
    try:
        meta = json.loads(blob["meta"])
        config = TrainConfig.from_dict(meta["config"])
        state = blob["state_dict"]
        kw = dict(meta["model"])
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} lacks its configuration ({type(e).__name__}: "
                              f"{e}): {advice}") from e
    if meta.get("model_version") != MODEL_VERSION:
        raise CheckpointError(f"checkpoint {path} was written for model version "
                              f"{meta.get('model_version')!r}, this code is {MODEL_VERSION!r}: "
                              f"{advice}")
    model = SaliencyModel(kw.pop("backbone"), weights="random", device="cpu", **kw)
    try:
        model.load_state_dict(state, strict=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} does not fit its model ({str(e)[:300]}): "
                              f"{advice}") from e
    model.to(torch.device(device) if device is not None else default_device()).eval()
    model.history = meta.get("history", {})
    model.train_config = config
    apply_postprocessing(model, model.history.get("postprocessing"))
    return model


def load_or_train(config: TrainConfig | str = "offline", cache_dir: str | Path | None = None,
                  progress: bool = True, retrain: bool = False, device=None,
                  threads: int | None = None) -> SaliencyModel:
    """The model of ``config`` (a :class:`TrainConfig` or a :data:`PRESETS` name) from the
    checkpoint cache, or trained (and cached) if absent or ``retrain``; ``device`` and
    ``threads`` as in :func:`train`. ``model.from_cache`` says which. A damaged checkpoint
    raises :class:`CheckpointError` (it is not overwritten silently; ``retrain=True``
    replaces it)."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; choose one of {', '.join(PRESETS)}")
        config = PRESETS[config]
    path = checkpoint_path(config, cache_dir)
    if path.exists() and not retrain:
        model = load_checkpoint(path, device=device)
        model.from_cache = True
        return model
    if progress:
        print(f"training the saliency model ({config.backbone}"
              f"{', random weights' if config.weights == 'random' else ''}, {len(train_ids(config))} "
              f"images); it will be cached as {path}", flush=True)
    model, history = train(config, progress=progress, device=device, threads=threads)
    save_checkpoint(model, config, path, history)
    model.from_cache = False
    return model


# ------------------------------------------------------------------------------ evaluation
def osie_centre_bias(split_seed: int = 0, n_test: int = 100) -> tuple[float, float]:
    """The centre-bias widths fitted to the OSIE training fixations (the book's anchor)."""
    train, _ = data.osie_split(n_test=n_test, seed=split_seed)
    return anchors.fit_centre_bias([data.load_osie_fixations(i) for i in train])


def summarise(rows) -> dict:
    """Mean of each metric over per-image scores (plus ``"images"``): a DataFrame of
    :func:`saliency_utils.evaluate.scoring.score_maps` or a list of ``{metric: score}`` dicts. A NaN
    score (a counted miss, ``failure="miss"``) makes its metric's mean NaN: it is never
    averaged away."""
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    keys = [k for k in metrics.METRIC_NAMES if any(k in r for r in rows)]
    out = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    out["images"] = len(rows)
    return out


# ------------------------------------------------------------------------------ post-processing
#: The map exponents :func:`choose_postprocessing` tries (a density model; a ``"minmax"`` model
#: has no exponent to choose).
EXPONENT_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

#: The rule of :func:`choose_postprocessing`, fixed before any model was trained with it.
POSTPROCESSING_RULE = ("on the validation images, every (mirror averaging, exponent) pair is "
                       "scored with the eight MIT metrics (IG against the centre bias fitted to "
                       "the training fixations) and ranked per metric; the pair of best mean rank "
                       "is kept (ties: the exponent closest to 1, then mirror averaging on)")


class _LazyMaps:
    """``maps[k]``: the map of log-density ``logps[k]`` raised to ``exponent`` at ``shapes[k]``."""

    def __init__(self, logps, shapes, exponent):
        self.logps, self.shapes, self.exponent = logps, shapes, exponent

    def __len__(self):
        return len(self.logps)

    def __getitem__(self, k):
        from saliency_utils.models.saliency_model import log_density_to_map

        return log_density_to_map(self.exponent * self.logps[k], self.shapes[k])


def choose_postprocessing(model: SaliencyModel, config: TrainConfig, centre_bias,
                          progress: bool = False, exponents=EXPONENT_GRID) -> dict:
    """Choose the map's post-processing of a trained ``model`` on the validation images of
    ``config`` by :data:`POSTPROCESSING_RULE`. Returns ``{"exponent", "flip_average", "rule",
    "n_images", "table"}``; ``table`` has one row per candidate: its settings, the mean of each
    metric, its mean rank and ``"best_for"`` (the metrics on which it scores best: the
    per-metric choice, for comparison). ``centre_bias``: the IG baseline's widths."""
    import pandas as pd

    from saliency_utils.evaluate import scoring as evaluation

    ids = val_ids(config)
    if not ids:
        raise ValueError("config has no validation images (n_val=0)")
    load_image, load_fix, sigma = _source("salicon_val" if config.dataset == "salicon" else "osie")
    fixsets = [load_fix(i) for i in ids]
    exps = tuple(float(e) for e in exponents) if model.output == "density" else (1.0,)
    sources = {}
    for flip in (True, False):
        if model.output == "density":
            logps = [model.predict_log_density(load_image(i), flip_average=flip) for i in ids]
            for e in exps:
                sources[f"{flip}|{e}"] = _LazyMaps(logps, [f.shape for f in fixsets], e)
        else:
            sources[f"{flip}|1.0"] = [model.predict(load_image(i), flip_average=flip) for i in ids]
    # scored as evaluation.score_maps does (all observers' fixations; sAUC's negatives from
    # other validation images; IG against the centre bias), on the bare fixation sets
    scored = evaluation.score_fixation_sets(sources, fixsets, sigma, metrics.METRIC_NAMES, ids=ids,
                                            set_name="validation", centre_bias=tuple(centre_bias),
                                            seed=config.seed)
    means = pd.DataFrame({name: df[list(metrics.METRIC_NAMES)].mean() for name, df in scored.items()}).T
    rows, best = rank_candidates(means)
    return {"exponent": best["exponent"], "flip_average": best["flip_average"],
            "rule": POSTPROCESSING_RULE, "n_images": len(ids), "table": rows}


def rank_candidates(means) -> tuple[list[dict], dict]:
    """:data:`POSTPROCESSING_RULE` on ``means`` (a DataFrame: one row per candidate, indexed
    ``"<flip_average>|<exponent>"``, one column per metric of
    :data:`saliency_utils.evaluate.metrics.METRIC_NAMES`): ``(rows, best)``, a dict per candidate (its
    settings, means, mean rank, ``best_for``) and the chosen one."""
    ranks = metric_ranks(means)
    rows = []
    for name in means.index:
        flip, e = name.split("|")
        best_for = [m for m in metrics.METRIC_NAMES if ranks.loc[name, m] == ranks[m].min()]
        rows.append({"flip_average": flip == "True", "exponent": float(e),
                     **{m: float(means.loc[name, m]) for m in metrics.METRIC_NAMES},
                     "mean_rank": float(ranks.loc[name].mean()), "best_for": best_for})
    best = min(rows, key=lambda r: (r["mean_rank"], abs(r["exponent"] - 1.0), not r["flip_average"]))
    return rows, best


def metric_ranks(means):
    """Rank of every row of ``means`` (one column per metric of
    :data:`saliency_utils.evaluate.metrics.METRIC_NAMES`) on every metric, 1 = best in the metric's
    direction (lower KLD is better), ties averaged."""
    import pandas as pd

    return pd.DataFrame({m: means[m].rank(ascending=not metrics.HIGHER_IS_BETTER[m])
                         for m in metrics.METRIC_NAMES})


#: The loss weights compared on the validation images (chapter 3, §1.1): the KL divergence
#: alone (the offline preset's, picked by them), KL - CC - 0.5 NSS (the preset's before the
#: validation split) and KL - CC - NSS. Each is a full training of
#: the preset with only the loss changed.
LOSS_CANDIDATES = {
    "KL": dict(loss_kl=1.0, loss_cc=0.0, loss_nss=0.0),
    "KL − CC − 0.5 NSS": dict(loss_kl=1.0, loss_cc=1.0, loss_nss=0.5),
    "KL − CC − NSS": dict(loss_kl=1.0, loss_cc=1.0, loss_nss=1.0),
}

#: The rule of :func:`compare_losses`, fixed before the candidates were trained.
LOSS_RULE = ("each candidate is trained with everything else the preset's, its post-processing "
             "chosen on the validation images by the post-processing rule; the candidates' "
             "validation scores at their own choice are ranked per metric, and the loss of best "
             "mean rank is the one validation picks (ties: the preset's own)")


def loss_candidates(config: TrainConfig) -> dict[str, TrainConfig]:
    """:data:`LOSS_CANDIDATES` applied to ``config`` (a density model with validation images;
    an empty dict otherwise: the ``paper`` preset's NSS-only loss is the authors' and is not
    chosen)."""
    if config.output != "density" or not config.n_val:
        return {}
    return {name: config.replace(**w) for name, w in LOSS_CANDIDATES.items()}


def compare_losses(models: dict, preset: TrainConfig) -> tuple[list[dict], str]:
    """:data:`LOSS_RULE` on ``models`` (``{candidate name: trained model}`` of
    :func:`loss_candidates`): ``(rows, picked)``, one row per candidate (its loss weights, its
    chosen post-processing, its validation means and mean rank) and the name validation picks."""
    rows, picked = compare_on_validation(models, preset)
    for r in rows:
        cfg = models[r["candidate"]].train_config
        r.update(loss=r.pop("candidate"), loss_kl=cfg.loss_kl, loss_cc=cfg.loss_cc,
                 loss_nss=cfg.loss_nss)
    return rows, picked


def compare_on_validation(models: dict, preset: TrainConfig) -> tuple[list[dict], str]:
    """The rule shared by :data:`LOSS_RULE` and :data:`SETTINGS_RULE` on ``models``
    (``{candidate name: trained model}``, each with its post-processing chosen on the validation
    images): ``(rows, picked)``. A row per candidate: ``candidate``, its chosen ``exponent`` and
    ``flip_average``, the mean validation score of each MIT metric at that choice, ``mean_rank``
    (over the metrics, 1 = best) and ``is_preset`` (its configuration is ``preset``).
    ``picked``: the candidate of best mean rank (ties: the preset's)."""
    import pandas as pd

    rows = {}
    for name, model in models.items():
        pp = model.history["postprocessing"]
        own = next(r for r in pp["table"]
                   if (r["flip_average"], r["exponent"]) == (pp["flip_average"], pp["exponent"]))
        rows[name] = {"candidate": name, "exponent": pp["exponent"],
                      "flip_average": pp["flip_average"],
                      **{m: own[m] for m in metrics.METRIC_NAMES},
                      "is_preset": model.train_config == preset}
    means = pd.DataFrame({n: {m: r[m] for m in metrics.METRIC_NAMES} for n, r in rows.items()}).T
    mean_rank = metric_ranks(means).mean(axis=1)
    for n in rows:
        rows[n]["mean_rank"] = float(mean_rank[n])
    picked = min(rows, key=lambda n: (rows[n]["mean_rank"], not rows[n]["is_preset"]))
    return list(rows.values()), picked


def _scaled_size(size, factor: float, multiple: int = 8) -> tuple[int, int]:
    return tuple(int(multiple * round(factor * s / multiple)) for s in size)


#: One-factor alternatives to the preset compared on the validation images after the loss
#: (chapter 3, section 1.1): the schedule (twice the end-to-end epochs, still keeping the epoch of
#: lowest validation loss), the readout (a single 1x1 convolution per readout layer, the
#: papers' readout, instead of one hidden layer) and the resolution (1.2 times each side,
#: rounded to a multiple of 8: 288x384 for the offline preset). Each is a full training of the
#: preset with that one setting changed.
SETTING_CANDIDATES = {
    "twice the end-to-end epochs": lambda c: c.replace(epochs=2 * c.epochs),
    "a single 1×1 readout (the papers')": lambda c: c.replace(readout_hidden=0),
    "1.2 × the resolution": lambda c: c.replace(image_size=_scaled_size(c.image_size, 1.2)),
}

#: The name of the configuration itself among :func:`setting_candidates`.
UNCHANGED = "unchanged"

#: The rule of :func:`compare_settings`, fixed before the candidates were trained.
SETTINGS_RULE = ("the configuration with the loss validation picked and each one-factor "
                 "alternative to it (schedule, readout, resolution) are trained with everything "
                 "else the same, each with its own post-processing chosen on the validation "
                 "images; their validation scores are ranked per metric, and the candidate of "
                 "best mean rank is validation's pick and becomes the preset (ties: the "
                 "configuration unchanged). The loss is chosen first, then these settings, in "
                 "one pass: the loss is not compared again at the settings picked")


def setting_candidates(config: TrainConfig) -> dict[str, TrainConfig]:
    """``{"unchanged": config}`` and :data:`SETTING_CANDIDATES` applied to ``config`` (a density
    model with validation images, trained end to end; an empty dict otherwise: the ``paper``
    preset's setup is the authors')."""
    if config.output != "density" or not config.n_val or config.freeze_encoder:
        return {}
    return {UNCHANGED: config, **{name: f(config) for name, f in SETTING_CANDIDATES.items()}}


def selection_base(config: TrainConfig) -> TrainConfig:
    """The configuration the one-pass validation protocol compared the loss and the settings
    around, for a preset that is its outcome (:data:`SELECTION_BASES`); ``config`` itself
    otherwise (a preset whose settings were not chosen this way, such as ``smoke``, shows the
    comparison around itself)."""
    for name, base in SELECTION_BASES.items():
        if config == PRESETS[name]:
            return base
    return config


def compare_settings(models: dict, preset: TrainConfig) -> tuple[list[dict], str]:
    """:data:`SETTINGS_RULE` on ``models`` (``{candidate name: trained model}`` of
    :func:`setting_candidates`): ``(rows, picked)`` as :func:`compare_on_validation`, each row
    with the candidate's ``epochs``, ``readout_hidden``, ``image_size`` and the epoch it kept."""
    rows, picked = compare_on_validation(models, preset)
    for r in rows:
        m = models[r["candidate"]]
        cfg, kept = m.train_config, m.history.get("kept_epoch") or {}
        r.update(epochs=cfg.epochs, kept_epoch=kept.get("epoch"), readout_hidden=cfg.readout_hidden,
                 image_size="×".join(map(str, cfg.image_size)))
    return rows, picked


def apply_postprocessing(model: SaliencyModel, choice: dict | None) -> SaliencyModel:
    """Make ``choice`` (of :func:`choose_postprocessing`) ``model``'s default for
    :meth:`~saliency_utils.models.saliency_model.SaliencyModel.predict`; ``None`` leaves the package
    defaults (a checkpoint trained without validation images)."""
    if choice:
        model.map_exponent = float(choice["exponent"])
        model.flip_average = bool(choice["flip_average"])
    return model
