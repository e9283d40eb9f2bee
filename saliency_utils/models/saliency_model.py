"""A deep saliency model: an ImageNet encoder, a light readout and a centre-bias prior.

The architecture follows the models these papers study (He & Pugeault 2017; He et al. 2019):
a recognition-pretrained convolutional encoder, fine-tuned or frozen, and a small readout that
turns its feature maps into a saliency map. The output is a **log-probability density over
the pixels** of the input (log-softmax over ``H x W``), as in DeepGaze (Kümmerer et al.):

``log p = log_softmax( upsample(readout(features)) + log prior )``

* **Encoder** (``model.encoder``): the backbone of :func:`saliency_utils.models.backbones.load_backbone`
  with its ImageNet weights. ``efficientnet_lite0`` (offline) is the whole
  :class:`~saliency_utils.models.efficientnet_lite.EfficientNetLite0` module (its classifier ``_fc`` is
  kept but unused); ``vgg16`` (paper) is VGG-16 ``conv1_1`` ... ``conv5_3`` (torchvision's
  ``features[:30]``, the last max-pool dropped, stride 16) wrapped so that module paths stay
  ``features.N``. Module paths inside the encoder are those of the backbone, so
  ``models.load_backbone(...).layers`` and this model's :attr:`SaliencyModel.layers` name the
  same modules (prefixed with ``encoder.`` here).
* **Readout** (``model.readout``): the feature maps of ``readout_layers`` are bilinearly
  upsampled to the finest of them and concatenated (the tensor passes through the identity module
  ``model.readout_input``, so a hook there sees exactly what the readout reads), then a 1x1
  convolution to one channel (``readout_hidden=0``: the papers' readout) or two 1x1 convolutions
  with a ReLU between them (``readout_hidden>0``: a small multi-scale readout, one hidden layer).
  ``readout_bias=False`` drops the bias of the last 1x1 convolution (the CVPR 2019 authors'
  demo, ``Conv2d(512, 1, 1, bias=False)``). That bias adds the same constant to every pixel,
  which the log-softmax (and a min-max normalisation) removes: with or without it the model
  computes the same maps, and its gradient is exactly zero.
* **Upsampling**: bilinear, to the input resolution.
* **Output map** (``output``): the forward pass always gives the log-density. The saliency map
  of :meth:`SaliencyModel.predict` is that density (``"density"``, the default) or, with
  ``"minmax"``, the log-density min-max normalised per image, as the CVPR 2019 authors' demo
  outputs ``(s - min s) / (max s - min s)`` of its upsampled readout ``s``. Without a prior the
  log-density is ``s`` minus a per-image constant, so the two are the same map. A model trained
  with a metric-only loss (NSS, which does not change when the map is scaled) has no meaningful
  scale of ``s``, so its density ``exp(s)`` would be arbitrarily sharp; its min-max map is not.
* **Centre-bias prior** (``model.prior``, optional): the log of a mixture of a few centred
  Gaussians whose widths (as fractions of the image height and width) and mixture weights are
  learned; it is added to the readout before the softmax, so the readout only has to explain what
  the centre bias does not. It lives in normalised coordinates and works at any input size.
* **BatchNorm**: the encoder's BatchNorm layers keep their ImageNet running statistics
  (they stay in eval mode even under ``model.train()``; their affine parameters are trained
  when the encoder is). Small fine-tuning batches would otherwise corrupt them, and training
  stays deterministic.

``freeze_encoder=True`` turns off gradients of every encoder parameter (the "fixed encoder"
case of He et al. 2019). Hooks: :meth:`SaliencyModel.module` and
:meth:`SaliencyModel.activations` read any named layer (``"stage3"``, ``"conv5_3"``,
``"readout_input"``, ``"readout"`` ...), see :attr:`SaliencyModel.layers`.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saliency_utils.evaluate import maps
from saliency_utils.models.architectures import architecture
from saliency_utils.models.backbones import (default_device, images_to_tensor, is_random,
    layer_module, load_backbone, to_uint8_rgb)

__all__ = ["MODEL_VERSION", "MAP_EXPONENT", "OUTPUTS", "SaliencyModel", "CentreBiasPrior",
           "log_density_to_map", "log_density_to_minmax_map"]

#: Bumped whenever the architecture or the meaning of a constructor argument changes; part of
#: the checkpoint cache key (:mod:`saliency_utils.training.saliency`), so old checkpoints are not reused.
MODEL_VERSION = "1"

#: Default exponent of the saliency maps of :meth:`SaliencyModel.predict` for a model whose
#: checkpoint carries no choice of its own (one trained without validation images): ``p ** 0.8``,
#: renormalised. The MIT metrics disagree on the best map for a given density (Kümmerer et al.,
#: ECCV 2018): NSS rewards peaked maps, AUC-Borji flat ones. This value was chosen, in an earlier
#: version of the book, by looking at OSIE-test and MIT1003 scores; the book's models now choose
#: their exponent and mirror averaging on validation images
#: (:func:`saliency_utils.training.saliency.choose_postprocessing`, :attr:`SaliencyModel.map_exponent`).
#: The forward pass and :meth:`SaliencyModel.predict_log_density` always give the trained density.
MAP_EXPONENT = 0.8

#: The saliency maps :meth:`SaliencyModel.predict` can give (see the module docstring).
OUTPUTS = ("density", "minmax")

class CentreBiasPrior(nn.Module):
    """Log of a mixture of centred axis-aligned Gaussians, in normalised image coordinates.

    Component ``k`` has widths ``sigma_k = (sy_k, sx_k)`` as fractions of the height and width
    (learned in log space) and a mixture weight ``softmax(logit)_k``. Initialised from
    ``sigma_frac`` (e.g. :func:`saliency_utils.evaluate.anchors.fit_centre_bias` of the training
    fixations) times ``scales``. ``forward((H, W))`` returns the log-density ``1 x 1 x H x W``
    (summing to 1 over the pixels).
    """

    def __init__(self, sigma_frac=(0.2, 0.2), scales=(0.6, 1.0, 1.6)):
        super().__init__()
        s = torch.tensor([[sigma_frac[0] * k, sigma_frac[1] * k] for k in scales],
                         dtype=torch.float32)
        self.log_sigma = nn.Parameter(s.log())
        self.logit = nn.Parameter(torch.zeros(len(scales)))

    def forward(self, shape: tuple[int, int]) -> torch.Tensor:
        h, w = (int(v) for v in shape)
        dev = self.log_sigma.device
        y = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) / h - 0.5
        x = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) / w - 0.5
        sig = self.log_sigma.exp()  # K x 2
        ly = -0.5 * (y[None, :] / sig[:, :1]) ** 2  # K x H
        lx = -0.5 * (x[None, :] / sig[:, 1:]) ** 2  # K x W
        # normalise each component over the discrete grid, then mix
        ly = ly - torch.logsumexp(ly, dim=1, keepdim=True)
        lx = lx - torch.logsumexp(lx, dim=1, keepdim=True)
        comp = ly[:, :, None] + lx[:, None, :]  # K x H x W
        logw = torch.log_softmax(self.logit, dim=0)
        return torch.logsumexp(comp + logw[:, None, None], dim=0)[None, None]

    def extra_repr(self) -> str:
        s = self.log_sigma.detach().exp().cpu().numpy().round(3).tolist()
        return f"components={len(s)}, sigma_frac={s}"


class SaliencyModel(nn.Module):
    """Encoder + readout + centre-bias prior; ``forward(x)`` gives ``N x H x W`` log-densities.

    Arguments:
        backbone: ``"efficientnet_lite0"`` (offline) or ``"vgg16"`` (paper; ImageNet weights need
            internet once, see :mod:`saliency_utils.models.backbones`).
        weights: passed to :func:`~saliency_utils.models.backbones.load_backbone`: ``"imagenet"``,
            ``"random"`` (seeded by ``seed``; tests, the ``paper-smoke`` profile, and loading a
            checkpoint) or a path (``"default"`` and ``None`` are the older spellings).
        readout_layers: friendly names of the encoder layers the readout reads (default
            :attr:`~saliency_utils.models.architectures.Architecture.default_readout` of the
            backbone's spec); several names make a multi-scale readout.
        readout_hidden: channels of the readout's hidden 1x1 layer; 0 for a single 1x1 conv.
        centre_bias: ``"learned"`` (a :class:`CentreBiasPrior`) or ``"none"``.
        centre_bias_init: initial ``(sigma_y/H, sigma_x/W)`` of the prior.
        freeze_encoder: no gradients for the encoder parameters.
        input_size: ``(H, W)`` the images are resized to by :meth:`preprocess` (training size).
        readout_bias: whether the readout's last 1x1 convolution has a bias (it cannot change
            the output, see the module docstring; ``False``: the CVPR 2019 authors' demo).
        output: the map :meth:`predict` gives, ``"density"`` or ``"minmax"`` (:data:`OUTPUTS`).
        device: default :func:`~saliency_utils.models.backbones.default_device` (CUDA if present).
        seed: the seed of a random encoder (``weights="random"``).
    """

    def __init__(self, backbone: str = "efficientnet_lite0", weights="imagenet",
                 readout_layers: Sequence[str] | None = None, readout_hidden: int = 0,
                 centre_bias: str = "learned", centre_bias_init=(0.2, 0.2),
                 freeze_encoder: bool = False, input_size=(240, 320), device=None,
                 seed: int = 0, readout_bias: bool = True, output: str = "density"):
        super().__init__()
        if centre_bias not in ("learned", "none"):
            raise ValueError(f"centre_bias must be 'learned' or 'none', got {centre_bias!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        arch = architecture(backbone)
        # random weights: an architecture may build only its encoder (VGG-16: skips initialising
        # the 120M classifier weights; tests, paper-smoke, and loading a checkpoint)
        bb = arch.random_encoder_backbone(seed) if is_random(weights) else None
        if bb is None:
            bb = load_backbone(backbone, weights=weights, device="cpu", seed=seed)
        self._arch = arch
        self.backbone_name = backbone
        self.weights_source = bb.weights
        self.mean = tuple(float(v) for v in bb.mean)
        self.std = tuple(float(v) for v in bb.std)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.encoder = arch.encoder(bb.model)
        enc_layers = arch.encoder_layers()
        self.encoder_layers = enc_layers  # friendly name -> path inside the encoder
        names = tuple(readout_layers or arch.default_readout)
        unknown = [n for n in names if n not in enc_layers]
        if unknown:
            raise ValueError(f"unknown readout layer(s) {unknown} for {backbone}; "
                             f"known: {', '.join(enc_layers)}")
        self.readout_layers = names
        self._paths = tuple(enc_layers[n] for n in names)
        self.freeze_encoder = bool(freeze_encoder)
        for p in self.encoder.parameters():
            p.requires_grad_(not self.freeze_encoder)
        # channels of each readout layer, from a dry run
        with torch.no_grad():
            feats = self._encode(torch.zeros(1, 3, 64, 64))
        channels = sum(f.shape[1] for f in feats)
        self.readout_input = nn.Identity()
        self.readout_hidden = int(readout_hidden)
        self.readout_bias = bool(readout_bias)
        self.output = output
        # predict's defaults; a trained checkpoint with validation images sets both to the
        # choice made on them (training.choose_postprocessing); None: MAP_EXPONENT at call time
        self.map_exponent: float | None = None
        self.flip_average: bool = True
        if self.readout_hidden > 0:
            self.readout = nn.Sequential(OrderedDict([
                ("conv1", nn.Conv2d(channels, self.readout_hidden, 1)),
                ("act1", nn.ReLU()),
                ("conv2", nn.Conv2d(self.readout_hidden, 1, 1, bias=self.readout_bias)),
            ]))
        else:
            self.readout = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(channels, 1, 1, bias=self.readout_bias))]))
        self.centre_bias = centre_bias
        self.prior = (CentreBiasPrior(tuple(float(v) for v in centre_bias_init))
                      if centre_bias == "learned" else None)
        self.kwargs = dict(backbone=backbone, readout_layers=list(names),
                           readout_hidden=self.readout_hidden, centre_bias=centre_bias,
                           centre_bias_init=[float(v) for v in centre_bias_init],
                           freeze_encoder=self.freeze_encoder, input_size=list(self.input_size))
        # only when not the default: checkpoints written before these options existed load as is
        if not self.readout_bias:
            self.kwargs["readout_bias"] = False
        if output != "density":
            self.kwargs["output"] = output
        self.to(torch.device(device) if device is not None else default_device())
        self.eval()

    # -- structure -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.readout.parameters()).device

    @property
    def layers(self) -> dict[str, str]:
        """Friendly layer name -> module path in this model (for hooks): every encoder layer of
        the backbone (``"stem"``, ``"block0"`` ... ``"stage1"`` ... ``"head"`` or
        ``"conv1_1"`` ... ``"conv5_3"``, after their activation where they have one),
        ``"readout_input"`` (the concatenated, upsampled features), ``"readout_hidden"`` (after
        the hidden ReLU, if any) and ``"readout"`` (the one-channel map before upsampling)."""
        out = {k: f"encoder.{v}" for k, v in self.encoder_layers.items()}
        out["readout_input"] = "readout_input"
        if self.readout_hidden > 0:
            out["readout_hidden"] = "readout.act1"
            out["readout"] = "readout.conv2"
        else:
            out["readout"] = "readout.conv"
        return out

    def module(self, name: str) -> nn.Module:
        """The module behind a friendly layer name (or a raw module path)."""
        return layer_module(self, self.layers, name)

    def encoder_parameters(self):
        return self.encoder.parameters()

    def head_parameters(self):
        """Readout and prior parameters (everything outside the encoder)."""
        yield from self.readout.parameters()
        if self.prior is not None:
            yield from self.prior.parameters()

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # BatchNorm keeps its ImageNet statistics (see module docstring)
        return self

    # -- forward -------------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the readout layers (one pass, stopping at the deepest one needed)."""
        wanted = set(self._paths) if hasattr(self, "_paths") else set()
        got: dict[str, torch.Tensor] = {}
        for path, t in self._arch.staged_forward(self.encoder, x):  # computed stage by stage
            x = t
            if path in wanted:
                got[path] = t
            if len(got) == len(wanted):
                break
        return [got[p] for p in self._paths] if wanted else [x]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder outputs of :attr:`readout_layers` for a preprocessed batch."""
        return self._encode(x)

    def head(self, feats: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """Readout + upsampling + prior + log-softmax from encoder features (this is what
        training on cached features of a frozen encoder calls)."""
        h = max(f.shape[2] for f in feats)
        w = max(f.shape[3] for f in feats)
        up = [f if f.shape[2:] == (h, w) else
              F.interpolate(f, size=(h, w), mode="bilinear", align_corners=False) for f in feats]
        z = self.readout_input(torch.cat([u.float() for u in up], dim=1))
        s = self.readout(z)
        s = F.interpolate(s, size=tuple(size), mode="bilinear", align_corners=False)
        if self.prior is not None:
            s = s + self.prior(size)
        n = s.shape[0]
        return torch.log_softmax(s.reshape(n, -1), dim=1).reshape(n, *size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x 3 x H x W`` preprocessed images -> ``N x H x W`` log-densities
        (``exp`` sums to 1 over each image's pixels)."""
        return self.head(self._encode(x), x.shape[2:])

    # -- images --------------------------------------------------------------------------------
    def input_shape_for(self, shape) -> tuple[int, int]:
        """Network input size for an image of ``shape``: the aspect ratio of the image, the
        pixel count of :attr:`input_size`, sides rounded (half up) to multiples of 16, at
        least 32. A 4:3 image (OSIE 800x600, most MIT1003 stimuli) gets exactly the training
        size 240x320, a 3:4 one 320x240."""
        h, w = int(shape[0]), int(shape[1])
        area = self.input_size[0] * self.input_size[1]
        scale = math.sqrt(area / (h * w))
        hf, wf = h * scale, w * scale
        if hf < 32:  # very wide or tall images: keep the pixel count
            hf, wf = 32, area / 32
        elif wf < 32:
            hf, wf = area / 32, 32
        return (max(32, 16 * math.floor(hf / 16 + 0.5)), max(32, 16 * math.floor(wf / 16 + 0.5)))

    def preprocess(self, images, size=None) -> torch.Tensor:
        """uint8 image(s) ``H x W x 3`` (grey and RGBA accepted) -> normalised ``N x 3 x h x w``
        tensor on the model's device; bicubic resize (PIL) to ``size`` (default
        :attr:`input_size`), no crop."""
        return images_to_tensor(images, size or self.input_size, self.mean, self.std,
                                 self.device)

    @torch.no_grad()
    def predict_log_density(self, image, size=None, flip_average: bool = False) -> np.ndarray:
        """Log-density of one image at the network's input size for it
        (:meth:`input_shape_for`, or ``size``), as float64 ``h x w``. ``flip_average``: the
        mean of the densities of the image and of its mirror image (mirrored back)."""
        arr = to_uint8_rgb(image)
        size = size or self.input_shape_for(arr.shape[:2])
        was = self.training
        self.eval()
        try:
            x = self.preprocess(arr, size=size)
            if flip_average:
                out = self(torch.cat([x, x.flip(-1)]))
                out = torch.logsumexp(torch.stack([out[0], out[1].flip(-1)]), 0) - math.log(2)
            else:
                out = self(x)[0]
        finally:
            self.train(was)
        return out.double().cpu().numpy()

    @property
    def exponent(self) -> float:
        """The exponent :meth:`predict` uses by default: :attr:`map_exponent` (the choice made
        on the validation images) or, for a checkpoint without one, :data:`MAP_EXPONENT` (read
        at call time)."""
        return MAP_EXPONENT if self.map_exponent is None else float(self.map_exponent)

    def predict(self, image, size=None, flip_average: bool | None = None,
                exponent: float | None = None, prior: bool = True) -> np.ndarray:
        """Saliency map of one image as a probability density at the image's own size
        (float64 ``H x W`` summing to 1): the network's density ``p`` (by default the mean over
        the image and its mirror image, a test-time augmentation matching the training flips;
        it improved every metric of the offline model), raised to ``exponent`` (see
        :data:`MAP_EXPONENT`; 1 gives the trained density itself), resized with
        :func:`saliency_utils.evaluate.maps.resize_map` (bicubic with anti-aliasing, as MATLAB
        ``imresize``) and renormalised.

        With ``output="minmax"`` the map is :func:`log_density_to_minmax_map` of the
        log-density (mirror-averaged as log-maps, i.e. as the readouts), renormalised to sum 1;
        ``exponent`` does not change it (the min-max of ``e * log p`` is that of ``log p``).

        ``flip_average`` and ``exponent`` default to the model's :attr:`flip_average` and
        :attr:`map_exponent`: for a model trained with validation images, the choice made on
        them (:func:`saliency_utils.training.saliency.choose_postprocessing`); otherwise mirror
        averaging and :data:`MAP_EXPONENT`.

        ``prior=False`` divides the learned centre-bias prior out: ``exp(e * (log p - log
        prior))``, resized and renormalised (for either ``output``), i.e. the readout's own
        contribution (chapter 4); a model without prior gives its usual map."""
        if flip_average is None:
            flip_average = self.flip_average
        if exponent is None:
            exponent = self.exponent
        arr = to_uint8_rgb(image)
        if not prior and self.prior is not None:
            size = size or self.input_shape_for(arr.shape[:2])
            with torch.no_grad():
                logp = self.predict_log_density(arr, size=size, flip_average=flip_average)
                logp = logp - self.prior(size)[0, 0].double().cpu().numpy()
            return log_density_to_map(float(exponent) * logp, arr.shape[:2])
        if self.output == "minmax":
            size = size or self.input_shape_for(arr.shape[:2])
            lp = self.predict_log_density(arr, size=size)
            if flip_average:
                mirror = np.ascontiguousarray(arr[:, ::-1])
                lp = 0.5 * (lp + self.predict_log_density(mirror, size=size)[:, ::-1])
            return log_density_to_minmax_map(lp, arr.shape[:2])
        logp = self.predict_log_density(arr, size=size, flip_average=flip_average)
        return log_density_to_map(float(exponent) * logp, arr.shape[:2])

    @torch.no_grad()
    def activations(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """Outputs of the named layers (:attr:`layers`) for input ``x``, in one forward pass.

        The forward pass stops at the deepest readout layer, so encoder layers deeper than
        the readout's are not computed (their entries are missing)."""
        out: dict[str, torch.Tensor] = {}
        handles = [self.module(n).register_forward_hook(
            lambda _m, _i, o, n=n: out.__setitem__(n, o.detach())) for n in names]
        try:
            self(x)
        finally:
            for h in handles:
                h.remove()
        return out


def log_density_to_minmax_map(log_map, shape) -> np.ndarray:
    """The min-max normalised map ``(l - min l) / (max l - min l)`` of a log-map (the CVPR 2019
    authors' output), resized to ``shape`` with :func:`evaluate.maps.resize_map` (bicubic with
    anti-aliasing; values kept non-negative) and renormalised to sum 1. A constant log-map
    (range within float rounding of its values) gives the constant map, as
    :func:`log_density_to_map` does, instead of amplified rounding noise."""
    lp = maps.check_map(log_map, "log-map")
    lo, hi = float(lp.min()), float(lp.max())
    if hi - lo <= 1e-6 * max(1.0, abs(lo), abs(hi)):
        m = np.ones_like(lp)
    else:
        m = (lp - lo) / (hi - lo)
    return maps.to_density(maps.resize_map(m, tuple(shape)))


def log_density_to_map(log_density, shape) -> np.ndarray:
    """``exp`` of a log-density (or of any log-map), resized to ``shape`` with
    :func:`evaluate.maps.resize_map` and renormalised to sum 1."""
    lp = np.asarray(log_density, dtype=np.float64)
    p = np.exp(lp - lp.max())
    p = maps.resize_map(p, tuple(shape))
    return maps.to_density(p)
