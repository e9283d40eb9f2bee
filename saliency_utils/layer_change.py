"""How much does fine-tuning change each layer of an encoder? Weights and representations.

* :func:`weight_change`: per layer, the relative change of the convolution weights,
  ``||W_ft - W_0|| / ||W_0||`` (Frobenius norms over all convolution kernels of the layer;
  BatchNorm affine parameters and biases are left out so that layers are comparable).
* :func:`layer_cka`: per layer, linear CKA (:mod:`saliency_utils.cka`) between the activations
  of two networks on the same images, every spatial position of every image one example,
  accumulated batch by batch (the centred cross-products are built from running sums, so
  memory does not grow with the number of images).

Layers are the friendly names of :func:`saliency_utils.models.load_backbone` (``stem``,
``block0`` ... ``block15``, ``head`` for EfficientNet-Lite0; ``conv1_1`` ... ``conv5_3`` for
VGG-16).
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .receptive_fields import layer_outputs

__all__ = ["conv_groups", "weight_change", "CKAAccumulator", "layer_cka"]


def conv_groups(encoder: nn.Module, backbone: str) -> dict[str, list[str]]:
    """Friendly layer name -> module paths of the convolutions that belong to it, in depth
    order, for ``backbone`` ``"efficientnet_lite0"`` or ``"vgg16"`` encoders."""
    groups: dict[str, list[str]] = {}
    if backbone == "efficientnet_lite0":
        for path, m in encoder.named_modules():
            if not isinstance(m, nn.Conv2d):
                continue
            b = re.match(r"_blocks\.(\d+)\.", path)
            name = (f"block{b.group(1)}" if b else "stem" if path == "_conv_stem"
                    else "head" if path == "_conv_head" else None)
            if name is None:
                raise ValueError(f"unexpected convolution {path!r} in an EfficientNet-Lite0")
            groups.setdefault(name, []).append(path)
        return groups
    if backbone == "vgg16":
        from .models import _layers
        by_path = {p: n for n, p in _layers("vgg16").items() if n.startswith("conv")}
        for path, m in encoder.named_modules():
            if isinstance(m, nn.Conv2d):
                # torchvision's features.N (or N when given features itself); the friendly
                # name sits on the ReLU after the convolution, features.N+1
                k = int(path.split(".")[-1])
                groups[by_path[f"features.{k + 1}"]] = [path]
        return groups
    raise ValueError(f"unknown backbone {backbone!r}")


def weight_change(reference: nn.Module, tuned: nn.Module, groups: Mapping[str, Sequence[str]]
                  ) -> dict[str, float]:
    """``||W_tuned - W_ref|| / ||W_ref||`` per group of convolution module paths (the same paths
    in both networks). Raises ``ValueError`` on a missing module or a shape mismatch."""
    ref = dict(reference.named_modules())
    tun = dict(tuned.named_modules())
    out = {}
    for name, paths in groups.items():
        num = den = 0.0
        for p in paths:
            if p not in ref or p not in tun:
                raise ValueError(f"module {p!r} of layer {name} is missing in one network")
            w0 = ref[p].weight.detach().double().cpu()
            w1 = tun[p].weight.detach().double().cpu()
            if w0.shape != w1.shape:
                raise ValueError(f"{p}: weight shapes differ, {tuple(w0.shape)} vs "
                                 f"{tuple(w1.shape)}")
            num += float(((w1 - w0) ** 2).sum())
            den += float((w0 ** 2).sum())
        if den == 0:
            raise ValueError(f"layer {name}: reference weights are all zero")
        out[name] = float(np.sqrt(num / den))
    return out


class CKAAccumulator:
    """Linear CKA of two representations accumulated over batches (rows are examples).

    ``update(x, y)`` with ``(n, p)`` and ``(n, q)`` arrays or ``(N, C, H, W)`` feature maps
    (positions as examples); :meth:`value` gives the same number as
    :func:`saliency_utils.cka.linear_cka` on all rows at once."""

    def __init__(self):
        self.n = 0
        self.sx = self.sy = self.xx = self.yy = self.yx = None

    def update(self, x, y) -> None:
        from .cka import feature_matrix
        X, Y = feature_matrix(x), feature_matrix(y)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"x and y must have the same examples: {X.shape[0]} vs {Y.shape[0]}")
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise ValueError("activations contain NaN or infinite values")
        if self.n == 0:
            self.sx, self.sy = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
            self.xx = np.zeros((X.shape[1],) * 2)
            self.yy = np.zeros((Y.shape[1],) * 2)
            self.yx = np.zeros((Y.shape[1], X.shape[1]))
        elif X.shape[1] != self.sx.size or Y.shape[1] != self.sy.size:
            raise ValueError("feature dimensions changed between updates")
        self.n += X.shape[0]
        self.sx += X.sum(0)
        self.sy += Y.sum(0)
        self.xx += X.T @ X
        self.yy += Y.T @ Y
        self.yx += Y.T @ X

    def value(self) -> float:
        if self.n < 2:
            raise ValueError("CKA needs at least two examples")
        mx, my = self.sx / self.n, self.sy / self.n
        cxx = self.xx - self.n * np.outer(mx, mx)
        cyy = self.yy - self.n * np.outer(my, my)
        cyx = self.yx - self.n * np.outer(my, mx)
        nx, ny = np.linalg.norm(cxx), np.linalg.norm(cyy)
        if nx <= 1e-12 * max(1.0, np.abs(self.xx).max()) or \
                ny <= 1e-12 * max(1.0, np.abs(self.yy).max()):
            raise ValueError("a representation is constant over the examples; CKA is undefined")
        return float(np.linalg.norm(cyx) ** 2 / (nx * ny))


def layer_cka(model_a: nn.Module, model_b: nn.Module, images: torch.Tensor,
              modules_a: Mapping[str, nn.Module], modules_b: Mapping[str, nn.Module],
              batch_size: int = 8) -> dict[str, float]:
    """Linear CKA per layer between ``model_a`` and ``model_b`` on the same preprocessed
    ``images`` (``N x 3 x H x W``); ``modules_a`` / ``modules_b``: the same layer names mapped
    to each network's modules."""
    if set(modules_a) != set(modules_b):
        raise ValueError("both networks need the same layer names")
    acc = {n: CKAAccumulator() for n in modules_a}
    for s in range(0, images.shape[0], batch_size):
        x = images[s:s + batch_size]
        a = layer_outputs(model_a, x, modules_a)
        b = layer_outputs(model_b, x, modules_b)
        for n in modules_a:
            if a[n].shape[2:] != b[n].shape[2:]:
                raise ValueError(f"layer {n}: spatial sizes differ, {tuple(a[n].shape)} vs "
                                 f"{tuple(b[n].shape)}")
            acc[n].update(a[n], b[n])
    return {n: acc[n].value() for n in modules_a}
