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

import math
import warnings

import numpy as np
import torch
from torch import nn

__all__ = ["class_model", "gaussian_blur", "to_display"]


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


def class_model(model: nn.Module, target: int, steps: int = 200, lr: float = 1.0,
                weight_decay: float = 1e-3, size: int = 224, jitter: int = 0,
                blur_every: int = 0, blur_sigma: float = 0.0, seed: int = 0,
                device=None, channels: int = 3) -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """Gradient ascent on ``S_target(I) - weight_decay * ||I||^2`` from the zero image.

    ``model`` returns ``N x classes`` logits (put it in eval mode); ``size``: side of the
    square input; ``device``: default the model's. ``seed`` drives the jitter shifts only
    (the paper's method is deterministic).

    Returns ``(image, history)``: the ``1 x channels x size x size`` tensor in normalised
    input space (detached), and ``history``, a list of ``(score, probability)`` of the target
    class (logit and softmax) for the image before each step and after the last one
    (``steps + 1`` entries; with ``jitter``, of the shifted image that step used).
    """
    if steps < 0 or lr <= 0 or weight_decay < 0:
        raise ValueError(f"need steps >= 0, lr > 0, weight_decay >= 0; got {steps}, {lr}, "
                         f"{weight_decay}")
    if jitter < 0 or blur_every < 0 or blur_sigma < 0:
        raise ValueError("jitter, blur_every and blur_sigma must be >= 0")
    if model.training:
        warnings.warn("model is in training mode: call model.eval()", stacklevel=2)
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    img = torch.zeros(1, channels, size, size, device=device)
    history: list[tuple[float, float]] = []

    def score(x):
        logits = model(x)
        if logits.ndim != 2 or not 0 <= target < logits.shape[1]:
            raise ValueError(f"target {target} out of range for logits of shape "
                             f"{tuple(logits.shape)}")
        return logits

    for step in range(steps + 1):
        dx, dy = (torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
                  if jitter and step < steps else (0, 0))
        x = torch.roll(img, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)
        logits = score(x)
        s = logits[0, target]
        history.append((float(s.detach()), float(torch.softmax(logits.detach(), 1)[0, target])))
        if step == steps:
            break
        (grad,) = torch.autograd.grad(s, x)
        grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))
        with torch.no_grad():
            img = img + lr * (grad - 2 * weight_decay * img)
            if blur_every and blur_sigma > 0 and (step + 1) % blur_every == 0:
                img = gaussian_blur(img, blur_sigma)
    return img.detach(), history


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
