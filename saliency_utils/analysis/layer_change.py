"""How much does fine-tuning change each layer of an encoder? Weights and representations.

* :func:`weight_change`: per layer, the relative change of the convolution weights,
  ``||W_ft - W_0|| / ||W_0||`` (Frobenius norms over all convolution kernels of the layer;
  BatchNorm affine parameters and biases are left out so that layers are comparable).
* :func:`paired_outputs`: two networks' outputs of the same layers on the same images, batch
  by batch, for the per-layer linear CKA of :func:`saliency_utils.analysis.cka.layer_cka` (every
  spatial position of every image one example, accumulated from running sums, so memory does
  not grow with the number of images).

Layers are the friendly names of :func:`saliency_utils.models.backbones.load_backbone` (``stem``,
``block0`` ... ``block15``, ``head`` for EfficientNet-Lite0; ``conv1_1`` ... ``conv5_3`` for
VGG-16).
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from saliency_utils.models.architectures import architecture
from saliency_utils.analysis.receptive_fields import layer_outputs

__all__ = ["conv_groups", "weight_change", "paired_outputs"]


def conv_groups(encoder: nn.Module, backbone: str) -> dict[str, list[str]]:
    """Friendly layer name -> module paths of the convolutions that belong to it, in depth
    order, for ``backbone`` ``"efficientnet_lite0"`` or ``"vgg16"`` encoders
    (:meth:`saliency_utils.models.architectures.Architecture.conv_groups`)."""
    return architecture(backbone).conv_groups(encoder)


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


def paired_outputs(model_a: nn.Module, model_b: nn.Module, images: torch.Tensor,
                   modules_a: Mapping[str, nn.Module], modules_b: Mapping[str, nn.Module],
                   batch_size: int = 8) -> Iterator[tuple[dict, dict]]:
    """The outputs of the same layers of ``model_a`` and ``model_b`` on the same preprocessed
    ``images`` (``N x 3 x H x W``), one ``(outputs_a, outputs_b)`` pair of ``{layer: N x C x
    h x w}`` per batch of ``batch_size`` images, for :func:`saliency_utils.analysis.cka.layer_cka`
    (which accumulates them, so memory does not grow with the number of images);
    ``modules_a`` / ``modules_b``: the same layer names mapped to each network's modules."""
    if set(modules_a) != set(modules_b):
        raise ValueError("both networks need the same layer names")
    for s in range(0, images.shape[0], batch_size):
        x = images[s:s + batch_size]
        yield layer_outputs(model_a, x, modules_a), layer_outputs(model_b, x, modules_b)
