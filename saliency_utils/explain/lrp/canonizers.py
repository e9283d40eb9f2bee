"""LRP canonisation: a copy of a network with every BatchNorm folded into the convolution before
it (:func:`canonise`), so that the rules see plain convolutions with biases."""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from saliency_utils.models.architectures import architecture_of

__all__ = ["fold_batchnorm", "canonise", "is_canonical"]


# -- canonisation ------------------------------------------------------------------------------

def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution equal to ``bn(conv(x))`` in eval mode (BN statistics folded in)."""
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        raise TypeError(f"need Conv2d and BatchNorm2d, got {type(conv).__name__}, "
                        f"{type(bn).__name__}")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"BatchNorm has {bn.num_features} channels, the convolution "
                         f"{conv.out_channels}")
    if bn.running_var is None:
        raise ValueError("BatchNorm without running statistics cannot be folded")
    scale = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(
        bn.running_var + bn.eps)
    shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, conv.dilation, conv.groups, bias=True,
                    padding_mode=conv.padding_mode).to(conv.weight.device, conv.weight.dtype)
    b0 = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        new.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        new.bias.copy_((b0 - bn.running_mean) * scale + shift)
    new.weight.requires_grad_(False)
    new.bias.requires_grad_(False)
    return new


def _fold_pairs(parent: nn.Module, pairs: Sequence[tuple[str, str]]) -> None:
    for conv_name, bn_name in pairs:
        setattr(parent, conv_name, fold_batchnorm(getattr(parent, conv_name),
                                                  getattr(parent, bn_name)))
        setattr(parent, bn_name, nn.Identity())


def _fold_sequential(seq: nn.Sequential) -> None:
    names = list(seq._modules)
    for a, b in zip(names, names[1:]):
        if isinstance(seq._modules[a], nn.Conv2d) and isinstance(seq._modules[b], nn.BatchNorm2d):
            seq._modules[a] = fold_batchnorm(seq._modules[a], seq._modules[b])
            seq._modules[b] = nn.Identity()


def canonise(model: nn.Module) -> nn.Module:
    """A canonised copy for LRP (the original is untouched): BatchNorm folded into the
    preceding convolution, activations out of place, in eval mode.

    EfficientNet-Lite0: all 1 + 16 x (2 or 3) + 1 conv/BN pairs folded; the residual additions
    are already :class:`~saliency_utils.models.efficientnet_lite.Add` modules. Other networks: BN
    folded where it directly follows a convolution in an ``nn.Sequential``; a BN left over makes
    :func:`lrp` raise ``TypeError``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    m = copy.deepcopy(model).eval()
    arch = architecture_of(m)  # the conv/BN pairs outside nn.Sequential (EfficientNet-Lite)
    for parent, conv_name, bn_name in (arch.batchnorm_pairs(m) if arch else []):
        _fold_pairs(parent, [(conv_name, bn_name)])
    for mod in m.modules():
        if isinstance(mod, nn.Sequential):
            _fold_sequential(mod)
        if hasattr(mod, "inplace"):
            mod.inplace = False
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def is_canonical(model: nn.Module) -> bool:
    """Whether :func:`~saliency_utils.explain.lrp.lrp` can run on ``model`` as it is: no
    BatchNorm left to fold and no activation working in place (what :func:`canonise` makes)."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) or getattr(m, "inplace", False)
                   for m in model.modules())
