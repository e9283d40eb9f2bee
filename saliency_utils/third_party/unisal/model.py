# Copyright Richard Droste, Jianbo Jiao and J. Alison Noble (https://github.com/rdroste/unisal).
# Licensed under the Apache License, Version 2.0 (see LICENSE in this folder).
# Modified for the deep-saliency book: static-image inference only; see NOTICE for the changes.
"""UNISAL (Droste, Jiao & Noble, ECCV 2020) for static images: MobileNetV2 encoder, learned
Gaussian priors, Skip-2x/4x decoder, domain-specific BatchNorm, adaptation, smoothing and a
spatial log-softmax. Builds offline: no weights are downloaded or read here."""
from __future__ import annotations

import math
from collections import OrderedDict
from itertools import product

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNISAL", "MobileNetV2", "InvertedResidual", "DomainBatchNorm2d"]

# ------------------------------------------------------------------ unisal/models/MobileNetV2.py
# Source (per UNISAL): https://github.com/tonylins/pytorch-mobilenet-v2


def conv_bn(inp, oup, stride):
    return nn.Sequential(
        nn.Conv2d(inp, oup, 3, stride, 1, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


def conv_1x1_bn(inp, oup):
    return nn.Sequential(
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


def _initialize_weights(module):
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2.0 / n))
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1)
            m.bias.data.zero_()
        elif isinstance(m, nn.Linear):
            m.weight.data.normal_(0, 0.01)
            m.bias.data.zero_()


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, omit_stride=False, no_res_connect=False,
                 dropout=0.0, bn_momentum=0.1, batchnorm=None):
        super().__init__()
        self.out_channels = oup
        self.stride = stride
        self.omit_stride = omit_stride
        self.use_res_connect = not no_res_connect and self.stride == 1 and inp == oup
        self.dropout = dropout
        actual_stride = self.stride if not self.omit_stride else 1
        if batchnorm is None:

            def batchnorm(num_features):
                return nn.BatchNorm2d(num_features, momentum=bn_momentum)

        assert actual_stride in [1, 2]

        hidden_dim = round(inp * expand_ratio)
        if expand_ratio == 1:
            modules = [
                # dw
                nn.Conv2d(hidden_dim, hidden_dim, 3, actual_stride, 1, groups=hidden_dim,
                          bias=False),
                batchnorm(hidden_dim),
                nn.ReLU6(inplace=True),
                # pw-linear
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
                batchnorm(oup),
            ]
            if self.dropout > 0:
                modules.append(nn.Dropout2d(self.dropout))
            self.conv = nn.Sequential(*modules)
        else:
            modules = [
                # pw
                nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False),
                batchnorm(hidden_dim),
                nn.ReLU6(inplace=True),
                # dw
                nn.Conv2d(hidden_dim, hidden_dim, 3, actual_stride, 1, groups=hidden_dim,
                          bias=False),
                batchnorm(hidden_dim),
                nn.ReLU6(inplace=True),
                # pw-linear
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
                batchnorm(oup),
            ]
            if self.dropout > 0:
                modules.insert(3, nn.Dropout2d(self.dropout))
            self.conv = nn.Sequential(*modules)
            _initialize_weights(self)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """UNISAL's MobileNetV2 encoder. ``pretrained=True`` (UNISAL reads ImageNet weights from a
    file of its repository) is refused here: the encoder's weights come with a UNISAL state
    dict (see NOTICE)."""

    def __init__(self, widen_factor=1.0, pretrained=False, last_channel=None, input_channel=32):
        super().__init__()
        if pretrained:
            raise ValueError("this vendored MobileNetV2 does not load ImageNet weights; build it "
                             "with pretrained=False and load a UNISAL state dict instead")
        self.widen_factor = widen_factor
        self.pretrained = False
        self.last_channel = last_channel
        self.input_channel = input_channel

        block = InvertedResidual
        interverted_residual_setting = [
            # t, c, n, s
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 3, 2],
            [6, 64, 4, 2],
            [6, 96, 3, 1],
            [6, 160, 3, 2],
            [6, 320, 1, 1],
        ]

        # building first layer
        input_channel = int(self.input_channel * widen_factor)
        features = [conv_bn(3, input_channel, 2)]
        # building inverted residual blocks
        for t, c, n, s in interverted_residual_setting:
            output_channel = int(c * widen_factor)
            for i in range(n):
                if i == 0:
                    features.append(block(input_channel, output_channel, s, expand_ratio=t,
                                          omit_stride=True))
                else:
                    features.append(block(input_channel, output_channel, 1, expand_ratio=t))
                input_channel = output_channel
        # building last several layers
        if self.last_channel is not None:
            output_channel = (int(self.last_channel * widen_factor) if widen_factor > 1.0
                              else self.last_channel)
            features.append(conv_1x1_bn(input_channel, output_channel))
        # make it nn.Sequential
        self.features = nn.Sequential(*features)
        self.out_channels = output_channel
        self.feat_1x_channels = int(interverted_residual_setting[-1][1] * widen_factor)
        self.feat_2x_channels = int(interverted_residual_setting[-2][1] * widen_factor)
        self.feat_4x_channels = int(interverted_residual_setting[-4][1] * widen_factor)
        self.feat_8x_channels = int(interverted_residual_setting[-5][1] * widen_factor)
        _initialize_weights(self)

    def forward(self, x):
        feat_2x, feat_4x = None, None
        for idx, module in enumerate(self.features._modules.values()):
            x = module(x)
            if idx == 7:
                feat_4x = x.clone()
            elif idx == 14:
                feat_2x = x.clone()
            if idx > 0 and hasattr(module, "stride") and module.stride != 1:
                x = x[..., ::2, ::2]
        return x, feat_2x, feat_4x


# ------------------------------------------------------------------------------ unisal/model.py
class DomainBatchNorm2d(nn.Module):
    """Domain-specific 2D BatchNorm: one BN module per source, selected by ``this_source``."""

    def __init__(self, num_features, sources, momenta=None, **kwargs):
        super().__init__()
        self.sources = sources
        if momenta is None:
            momenta = [0.1] * len(sources)
        self.momenta = momenta
        if "momentum" in kwargs:
            del kwargs["momentum"]
        for src, mnt in zip(sources, self.momenta):
            self.__setattr__(f"bn_{src}", nn.BatchNorm2d(num_features, momentum=mnt, **kwargs))
        self.this_source = None

    def forward(self, x):
        return self.__getattr__(f"bn_{self.this_source}")(x)


def _log_softmax(x):
    """Spatial log-softmax over everything but the batch axis (UNISAL's utils.log_softmax)."""
    x_size = x.size()
    x = x.view(x.size(0), -1)
    x = F.log_softmax(x, dim=1)
    return x.view(x_size)


class UNISAL(nn.Module):
    """UNISAL for static images (the released configuration's defaults; see NOTICE).

    ``forward(x, target_size=None, source="SALICON")``: ``x`` a batch ``N x 3 x H x W`` of
    ImageNet-normalised RGB images (H and W multiples of 32), ``source`` the domain of the
    domain-specific modules (UNISAL predicts images, MIT1003 included, with ``"SALICON"``);
    returns log-densities ``N x 1 x H' x W'`` (``target_size``, default the input size)."""

    def __init__(self, rnn_input_channels=256, cnn_cfg=None, drop_probs=(0.0, 0.6, 0.6),
                 gaussian_init="manual", n_gaussians=16, smoothing_ksize=41, bn_momentum=0.01,
                 static_bn_momentum=0.1, sources=("DHF1K", "Hollywood", "UCFSports", "SALICON"),
                 ds_bn=True, ds_adaptation=True, ds_smoothing=True, ds_gaussians=True):
        super().__init__()
        assert gaussian_init in ("random", "manual")
        if n_gaussians > 0 and gaussian_init == "manual":
            n_gaussians = 16
        this_cnn_cfg = {"widen_factor": 1.0, "pretrained": False, "input_channel": 32,
                        "last_channel": 1280}
        this_cnn_cfg.update(cnn_cfg or {})
        self.cnn_cfg = this_cnn_cfg
        self.rnn_input_channels = rnn_input_channels
        self.drop_probs = drop_probs
        self.gaussian_init = gaussian_init
        self.n_gaussians = n_gaussians
        self.smoothing_ksize = smoothing_ksize
        self.bn_momentum = bn_momentum
        self.sources = tuple(sources)
        self.ds_bn = ds_bn
        self.static_bn_momentum = static_bn_momentum
        self.ds_adaptation = ds_adaptation
        self.ds_smoothing = ds_smoothing
        self.ds_gaussians = ds_gaussians
        self._this_source = None

        # Backbone CNN
        self.cnn = MobileNetV2(**self.cnn_cfg)

        # Post-CNN module with optional dropout
        post_cnn = [("inv_res", InvertedResidual(self.cnn.out_channels + n_gaussians,
                                                 rnn_input_channels, 1, 1,
                                                 bn_momentum=bn_momentum))]
        if self.drop_probs[0] > 0:
            post_cnn.insert(0, ("dropout", nn.Dropout2d(self.drop_probs[0], inplace=False)))
        self.post_cnn = nn.Sequential(OrderedDict(post_cnn))

        # (UNISAL's Bypass-RNN and post_rnn are not built: static images bypass them.)

        # First upsampling module US1
        self.upsampling_1 = nn.Sequential(OrderedDict([("us1", self.upsampling(2))]))

        channels_2x = 128
        self.skip_2x = self.make_skip_connection(self.cnn.feat_2x_channels, channels_2x, 2,
                                                 self.drop_probs[1])

        # Second upsampling module US2
        self.upsampling_2 = nn.Sequential(OrderedDict([
            ("inv_res", InvertedResidual(rnn_input_channels + channels_2x, channels_2x, 1, 2,
                                         batchnorm=self.get_bn_module)),
            ("us2", self.upsampling(2)),
        ]))

        channels_4x = 64
        self.skip_4x = self.make_skip_connection(self.cnn.feat_4x_channels, channels_4x, 2,
                                                 self.drop_probs[2])

        # Post-US2 module
        self.post_upsampling_2 = nn.Sequential(OrderedDict([
            ("inv_res", InvertedResidual(channels_2x + channels_4x, channels_4x, 1, 2,
                                         batchnorm=self.get_bn_module)),
        ]))

        # Domain-specific modules
        for source_str in self.sources:
            source_str = f"_{source_str}".lower()
            if n_gaussians > 0:
                self.set_gaussians(source_str)
            self.__setattr__("adaptation" + (source_str if self.ds_adaptation else ""),
                             nn.Sequential(*[nn.Conv2d(channels_4x, 1, 1, bias=True)]))
            smoothing = nn.Conv2d(1, 1, kernel_size=smoothing_ksize, padding=0, bias=False)
            with torch.no_grad():
                gaussian = self._make_gaussian_maps(smoothing.weight.data,
                                                    torch.Tensor([[[0.5, -2]] * 2]))
                gaussian /= gaussian.sum()
                smoothing.weight.data = gaussian
            self.__setattr__("smoothing" + (source_str if self.ds_smoothing else ""), smoothing)

    @property
    def this_source(self):
        return self._this_source

    @this_source.setter
    def this_source(self, source):
        for module in self.modules():
            if isinstance(module, DomainBatchNorm2d):
                module.this_source = source
        self._this_source = source

    def get_bn_module(self, num_features, **kwargs):
        momenta = [self.bn_momentum if src != "SALICON" else self.static_bn_momentum
                   for src in self.sources]
        if self.ds_bn:
            return DomainBatchNorm2d(num_features, self.sources, momenta=momenta, **kwargs)
        return nn.BatchNorm2d(num_features, **kwargs)

    def upsampling(self, factor):
        return nn.Sequential(*[nn.Upsample(scale_factor=factor, mode="bilinear",
                                           align_corners=False)])

    def set_gaussians(self, source_str, prefix="coarse_"):
        suffix = source_str if self.ds_gaussians else ""
        self.__setattr__(prefix + "gaussians" + suffix,
                         self._initialize_gaussians(self.n_gaussians))

    def _initialize_gaussians(self, n_gaussians):
        """Gaussian parameters, dimensions ``[idx, y/x, mu/logstd]``."""
        if self.gaussian_init == "manual":
            gaussians = torch.Tensor([
                list(product([0.25, 0.5, 0.75], repeat=2))
                + [(0.5, 0.25), (0.5, 0.5), (0.5, 0.75)]
                + [(0.25, 0.5), (0.5, 0.5), (0.75, 0.5)]
                + [(0.5, 0.5)],
                [(-1.5, -1.5)] * 9 + [(0, -1.5)] * 3 + [(-1.5, 0)] * 3 + [(0, 0)],
            ]).permute(1, 2, 0)
        else:
            with torch.no_grad():
                gaussians = torch.stack([
                    torch.randn(n_gaussians, 2, dtype=torch.float) * 0.1 + 0.5,
                    torch.randn(n_gaussians, 2, dtype=torch.float) * 0.2 - 1,
                ], dim=2)
        return nn.Parameter(gaussians, requires_grad=True)

    @staticmethod
    def _make_gaussian_maps(x, gaussians, size=None, scaling=6.0):
        """Prior maps from Gaussian parameters."""
        if size is None:
            size = x.shape[-2:]
            bs = x.shape[0]
        else:
            size = [size] * 2
            bs = 1
        dtype, device = x.dtype, x.device
        gaussian_maps = []
        map_template = torch.ones(*size, dtype=dtype, device=device)
        meshgrids = torch.meshgrid(
            [torch.linspace(0, 1, size[0], dtype=dtype, device=device),
             torch.linspace(0, 1, size[1], dtype=dtype, device=device)], indexing="ij")
        for yx_mu_logstd in torch.unbind(gaussians):
            map_ = map_template.clone()
            for mu_logstd, mgrid in zip(yx_mu_logstd, meshgrids):
                mu = mu_logstd[0]
                std = torch.exp(mu_logstd[1])
                map_ *= torch.exp(-(((mgrid - mu) / std) ** 2) / 2)
            map_ *= scaling
            gaussian_maps.append(map_)
        gaussian_maps = torch.stack(gaussian_maps)
        return gaussian_maps.unsqueeze(0).expand(bs, -1, -1, -1)

    def _get_gaussian_maps(self, x, source_str, prefix="coarse_", **kwargs):
        suffix = source_str if self.ds_gaussians else ""
        gaussians = self.__getattr__(prefix + "gaussians" + suffix)
        return self._make_gaussian_maps(x, gaussians, **kwargs)

    def make_skip_connection(self, input_channels, output_channels, expand_ratio, p,
                             inplace=False):
        hidden_channels = round(input_channels * expand_ratio)
        return nn.Sequential(OrderedDict([
            ("expansion", self.conv_1x1_bn(input_channels, hidden_channels)),
            ("dropout", nn.Dropout2d(p, inplace=inplace)),
            ("reduction", nn.Sequential(*[nn.Conv2d(hidden_channels, output_channels, 1),
                                          self.get_bn_module(output_channels)])),
        ]))

    def conv_1x1_bn(self, inp, oup):
        return nn.Sequential(
            nn.Conv2d(inp, oup, 1, 1, 0, bias=False),
            self.get_bn_module(oup),
            nn.ReLU6(inplace=True),
        )

    def forward(self, x, target_size=None, source="SALICON"):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a batch N x 3 x H x W, got {tuple(x.shape)}")
        if source not in self.sources:
            raise ValueError(f"unknown source {source!r}; known: {', '.join(self.sources)}")
        if target_size is None:
            target_size = x.shape[-2:]
        self.this_source = source
        source_str = f"_{source.lower()}"

        # Backbone CNN features, concatenated with the Gaussian prior maps
        im_feat_1x, im_feat_2x, im_feat_4x = self.cnn(x)
        im_feat_2x = self.skip_2x(im_feat_2x)
        im_feat_4x = self.skip_4x(im_feat_4x)
        if self.n_gaussians > 0:
            gaussian_maps = self._get_gaussian_maps(im_feat_1x, source_str)
            im_feat_1x = torch.cat((im_feat_1x, gaussian_maps), dim=1)
        im_feat = self.post_cnn(im_feat_1x)

        # Decoder (static input: the Bypass-RNN is bypassed)
        im_feat = self.upsampling_1(im_feat)
        im_feat = torch.cat((im_feat, im_feat_2x), dim=1)
        im_feat = self.upsampling_2(im_feat)
        im_feat = torch.cat((im_feat, im_feat_4x), dim=1)
        im_feat = self.post_upsampling_2(im_feat)
        im_feat = self.__getattr__("adaptation" + (source_str if self.ds_adaptation else ""))(
            im_feat)
        im_feat = F.interpolate(im_feat, size=x.shape[-2:], mode="nearest")
        im_feat = F.pad(im_feat, [self.smoothing_ksize // 2] * 4, mode="replicate")
        im_feat = self.__getattr__("smoothing" + (source_str if self.ds_smoothing else ""))(
            im_feat)
        im_feat = F.interpolate(im_feat, size=tuple(target_size), mode="bilinear",
                                align_corners=False)
        return _log_softmax(im_feat)
