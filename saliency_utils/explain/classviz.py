"""Class model visualisation (Simonyan et al. 2014, sec. 2).

The class model of class ``c`` is the image

    I* = argmax_I  S_c(I) - lambda * ||I||_2^2

with ``S_c`` the **raw class score** (logit; maximising the softmax could also be done by
lowering the other classes' scores), found by gradient ascent on the input from the zero
image with the weights fixed. The paper's network was trained on zero-centred images, so
"zero" is the mean image, and the mean is added back for display.

Here the optimisation runs in the backbone's **normalised input space**: the zero tensor is
the mean image (``preprocess`` maps pixel values to ``(p/255 - mean) / std``; for
EfficientNet-Lite0 zero is the grey ``p = 127``), ``||I||^2`` is measured there, and
:func:`to_display` adds the mean back with ``Backbone.deprocess``. The update is plain
gradient ascent ``I <- I + lr * (dS_c/dI - 2 * lambda * I)``; nothing is clipped to the valid
pixel range. The paper gives neither ``lambda``, the step size nor the number of steps: the
defaults here are ours and documented in the chapter.

``jitter`` (random shifts with ``torch.roll`` before each step, undone after it) and
``blur_every`` / ``blur_sigma`` (periodic Gaussian blur of the image) are the regularisers of
later work (Yosinski et al. 2015; CS231n) that give more natural-looking images: **they are not
the paper's method** and are off by default.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from saliency_utils.fileio import atomic_write

__all__ = ["class_model", "class_models", "specificity", "gaussian_blur", "to_display",
           "CLASS_MODEL_VERSION"]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an ``N x C x H x W`` tensor (kernel radius ``ceil(3 sigma)``,
    reflect padding); identity for ``sigma <= 0``."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    h = torch.nn.functional.pad(x, (r, r, 0, 0), mode="reflect")
    h = torch.nn.functional.conv2d(h, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    h = torch.nn.functional.pad(h, (0, 0, r, r), mode="reflect")
    return torch.nn.functional.conv2d(h, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def class_models(model: nn.Module, targets: Sequence[int], steps: int = 200, lr: float = 1.0,
                 weight_decay: float = 1e-3, size: int = 224, jitter: int = 0,
                 blur_every: int = 0, blur_sigma: float = 0.0, seed: int = 0,
                 device=None, channels: int = 3,
                 cache: str | Path | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Gradient ascent on ``S_c(I) - weight_decay * ||I||^2`` from the zero image, for every
    class ``c`` in ``targets`` at once (one batch; each image follows its own class score, and
    the network in eval mode does not mix the images of a batch).

    ``model`` returns ``N x classes`` logits (put it in eval mode); ``size``: side of the
    square input; ``device``: default the model's. ``seed`` drives the jitter shifts only (the
    paper's method is deterministic); all images of the batch get the same shifts, the ones a
    single :func:`class_model` call with that seed draws.

    ``cache``: a folder; each class model is stored there as ``<key>.pt`` under a key made of
    the model's parameters and buffers, the class and every setting above, and read back
    (``torch.load(weights_only=True)``) instead of recomputed; only the missing classes are
    optimised. ``None``: no cache.

    Returns ``(images, history)``: the ``N x channels x size x size`` tensor in normalised
    input space (detached, on the device) and a float array ``N x (steps + 1) x 2`` of the
    target class's ``(score, probability)`` (logit and softmax) before each step and after the
    last one (with ``jitter``, of the shifted image that step used).
    """
    if steps < 0 or lr <= 0 or weight_decay < 0:
        raise ValueError(f"need steps >= 0, lr > 0, weight_decay >= 0; got {steps}, {lr}, "
                         f"{weight_decay}")
    if jitter < 0 or blur_every < 0 or blur_sigma < 0:
        raise ValueError("jitter, blur_every and blur_sigma must be >= 0")
    targets = [int(t) for t in targets]
    if not targets:
        raise ValueError("targets is empty: name at least one class")
    if model.training:
        warnings.warn("model is in training mode: call model.eval()", stacklevel=2)
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    settings = dict(steps=steps, lr=lr, weight_decay=weight_decay, size=size, jitter=jitter,
                    blur_every=blur_every, blur_sigma=blur_sigma, seed=seed, channels=channels)
    done: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    paths: dict[int, Path] = {}
    if cache is not None:
        Path(cache).mkdir(parents=True, exist_ok=True)
        base = _model_hash(model) + json.dumps(settings, sort_keys=True) + CLASS_MODEL_VERSION
        for t in set(targets):
            paths[t] = Path(cache) / f"{hashlib.sha256(f'{base}|{t}'.encode()).hexdigest()[:24]}.pt"
            if paths[t].is_file():
                done[t] = _load_cached(paths[t], settings)
    todo = [t for t in dict.fromkeys(targets) if t not in done]
    if todo:
        imgs, hist = _ascent(model, todo, device=device, **settings)
        for i, t in enumerate(todo):
            done[t] = (imgs[i:i + 1].cpu(), hist[i])
            if t in paths:
                atomic_write(paths[t], lambda f, i=i: torch.save(
                    {"image": imgs[i:i + 1].cpu().clone(), "history": hist[i].clone()}, f))
    images = torch.cat([done[t][0] for t in targets]).to(device)
    return images, torch.stack([done[t][1] for t in targets]).numpy()


#: Changes whenever :func:`class_models` would compute different images for the same settings
#: (part of the cache key).
CLASS_MODEL_VERSION = "1"


def _model_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()


def _load_cached(path: Path, settings: dict) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
        img, hist = d["image"], d["history"]
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"cached class model {path} is unreadable ({type(e).__name__}: {first}); "
                         "delete it to recompute") from e
    want = (1, settings["channels"], settings["size"], settings["size"])
    if tuple(img.shape) != want or tuple(hist.shape) != (settings["steps"] + 1, 2):
        raise ValueError(f"cached class model {path} has the wrong shape; delete it to recompute")
    return img, hist


def _ascent(model, targets, steps, lr, weight_decay, size, jitter, blur_every, blur_sigma, seed,
            device, channels) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    n = len(targets)
    img = torch.zeros(n, channels, size, size, device=device)
    idx = torch.tensor(targets, device=device)
    rows = torch.arange(n, device=device)
    history = torch.zeros(n, steps + 1, 2, dtype=torch.float64)
    for step in range(steps + 1):
        dx, dy = (torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
                  if jitter and step < steps else (0, 0))
        x = torch.roll(img, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)
        logits = model(x)
        if logits.ndim != 2 or not 0 <= min(targets) <= max(targets) < logits.shape[1]:
            raise ValueError(f"targets {targets} out of range for logits of shape "
                             f"{tuple(logits.shape)}")
        s = logits[rows, idx]
        history[:, step, 0] = s.detach().double().cpu()
        history[:, step, 1] = torch.softmax(logits.detach().double(), 1)[rows, idx].cpu()
        if step == steps:
            break
        (grad,) = torch.autograd.grad(s.sum(), x)
        grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))
        with torch.no_grad():
            img = img + lr * (grad - 2 * weight_decay * img)
            if blur_every and blur_sigma > 0 and (step + 1) % blur_every == 0:
                img = gaussian_blur(img, blur_sigma)
    return img.detach(), history


def class_model(model: nn.Module, target: int, steps: int = 200, lr: float = 1.0,
                weight_decay: float = 1e-3, size: int = 224, jitter: int = 0,
                blur_every: int = 0, blur_sigma: float = 0.0, seed: int = 0,
                device=None, channels: int = 3) -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """The class model of one class (:func:`class_models` with one target, no cache).

    Returns ``(image, history)``: the ``1 x channels x size x size`` tensor in normalised
    input space (detached), and ``history``, a list of ``(score, probability)`` of the target
    class (logit and softmax) for the image before each step and after the last one
    (``steps + 1`` entries; with ``jitter``, of the shifted image that step used).
    """
    img, hist = class_models(model, [target], steps=steps, lr=lr, weight_decay=weight_decay,
                             size=size, jitter=jitter, blur_every=blur_every,
                             blur_sigma=blur_sigma, seed=seed, device=device, channels=channels)
    return img, [(float(a), float(b)) for a, b in hist[0]]


def to_display(backbone, tensor: torch.Tensor, percentile: float | None = None) -> np.ndarray:
    """``uint8 H x W x 3`` image of a class model (or any input tensor) for display.

    ``percentile=None``: add the mean back and clip to the valid range, the paper's
    presentation. ``percentile=p``: after adding the mean, stretch the ``[p, 100 - p]``
    percentile range of all channels jointly (colours kept) to ``[0, 255]``; class models often
    use only a small part of the range; an image with no spread there (e.g. mostly one colour)
    is shown clipped. ``backbone``: anything with the preprocessing ``mean`` and ``std`` (a
    backbone or a saliency model).
    """
    if percentile is not None and not 0 <= percentile < 50:
        raise ValueError(f"percentile must be in [0, 50), got {percentile}")
    t = tensor.detach().float().cpu()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError("to_display takes one image")
        t = t[0]
    mean = torch.tensor(backbone.mean).view(3, 1, 1)
    std = torch.tensor(backbone.std).view(3, 1, 1)
    img = (t * std + mean).permute(1, 2, 0).numpy()
    lo, hi = (0.0, 1.0) if percentile is None else np.percentile(img, [percentile, 100 - percentile])
    if hi <= lo:  # no spread to stretch
        lo, hi = 0.0, 1.0
    img = np.clip((img - lo) / (hi - lo), 0, 1)
    return np.rint(img * 255).astype(np.uint8)


@torch.no_grad()
def reference_log_probs(reference, source, images: torch.Tensor, batch_size: int = 16) -> np.ndarray:
    """Natural-log softmax of a **reference** classifier for class-model images, ``N x classes``.

    The reference sees each image as the page shows it: ``images`` (``N x 3 x S x S`` in the
    ``source`` backbone's normalised input space) get the source's mean added back, are clipped
    to the valid range and rounded to 8 bits (:func:`to_display`), then go through the
    reference's own preprocessing (its normalisation, bicubic resize to its input size).
    ``reference`` / ``source``: :class:`~saliency_utils.models.backbones.Backbone`s."""
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be N x C x H x W with N > 0, got {tuple(images.shape)}")
    shown = [to_display(source, images[i:i + 1]) for i in range(images.shape[0])]
    out = []
    for i in range(0, len(shown), batch_size):
        logits = reference.logits(reference.preprocess(shown[i:i + batch_size]))
        out.append(torch.log_softmax(logits.double(), 1).cpu().numpy())
    return np.concatenate(out)


def specificity(log_probs: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """Per class model ``i`` of class ``c_i``: ``log p(c_i | image i)`` minus the mean of
    ``log p(c_i | image j)`` over the other class models ``j`` of the same set.

    ``log_probs``: ``N x classes`` (e.g. :func:`reference_log_probs`), row ``i`` the class model
    of ``targets[i]`` (distinct classes, ``N >= 2``). Positive: the image raises its own class
    more than the other classes' images raise it. If the images held nothing of their classes
    (e.g. made by a network that knows none), the rows would be exchangeable and each value
    would have mean 0, whatever the images' common statistics do to the classifier."""
    lp = np.asarray(log_probs, float)
    t = np.asarray([int(c) for c in targets])
    if lp.ndim != 2 or lp.shape[0] != t.size:
        raise ValueError(f"log_probs must be N x classes with N = len(targets) = {t.size}, got "
                         f"{lp.shape}")
    if t.size < 2 or len(set(t.tolist())) != t.size:
        raise ValueError("need at least two distinct classes")
    if not np.all(np.isfinite(lp[:, t])):
        raise ValueError("log_probs has non-finite values in the target columns")
    col = lp[:, t]  # col[j, i] = log p(c_i | image j)
    own = np.diag(col)
    others = (col.sum(axis=0) - own) / (t.size - 1)
    return own - others
