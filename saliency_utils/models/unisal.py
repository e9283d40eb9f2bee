"""UNISAL (Droste, Jiao & Noble, ECCV 2020), one of the two models Malladi et al. (2021)
explain, with the interface of chapter 5 (:mod:`saliency_utils.explain.loggabor_explain`).

**Architecture.** Vendored from `rdroste/unisal <https://github.com/rdroste/unisal>`_
(Apache-2.0) in :mod:`saliency_utils.third_party.unisal`, static images only (its licence and
a NOTICE of the changes are in that folder). It builds offline: nothing is downloaded, and
the MobileNetV2 encoder never reads ImageNet weights.

**Weights: one place.** The released weights are not in the book's data bundle. Download
``weights_best.pth`` (trained on DHF1K, Hollywood-2, UCF Sports and SALICON) or
``weights_ft_mit1003.pth`` (fine-tuned on MIT1003; its MIT1003 scores are then not held-out)
from :data:`WEIGHTS_URL` and set the environment variable :data:`ENV_WEIGHTS`
(``SALIENCY_UNISAL_WEIGHTS``) to the file's path; it is unset by default, and
:func:`weights_path` is the only reader. The file is a PyTorch state dict of UNISAL's
modules, read with ``torch.load(weights_only=True)``; a missing, corrupt or mismatched file
raises :class:`UnisalWeightsError` naming the file and the fix. The Bypass-RNN entries
(``rnn.*``, ``post_rnn.*``) are dropped: static images bypass the RNN (see NOTICE); every
other entry must match the architecture exactly.

**Input and output.** Images are resized with Lanczos (PIL) to UNISAL's evaluation size for
their aspect ratio (:meth:`UnisalModel.input_shape_for`: the rule of UNISAL's MIT1003 and
MIT300 loaders, a bottleneck grid of 100 to 120 cells times 32 px; a 4:3 image gets 288x384,
its SALICON size) and normalised with the ImageNet mean and standard deviation. The
domain-specific modules are UNISAL's ``"SALICON"`` ones (its choice for images, MIT1003
included). The output is UNISAL's **log-density** (spatial log-softmax);
:meth:`UnisalModel.predict` exponentiates it (``exponent=1``, no flip averaging: UNISAL's own
map) at the image's size as UNISAL does (bilinear inside the network).

**Layers** (:attr:`UnisalModel.layers`; :data:`LAYERS` says what each is). The role of the
book model's ``readout_input`` is played by the input of UNISAL's final readout, the
source-specific 1x1 ``adaptation`` convolution: the output of ``post_upsampling_2``, 64
channels at stride 8. Everything the map depends on passes through it, the learned Gaussian
priors included (they are concatenated to the bottleneck features, before the decoder), so a
constant readout input gives the uniform map: UNISAL's prior-only reference
(:func:`saliency_utils.explain.loggabor_explain.prior_only_model`) is the uniform map, scored as chance.
Chapter 5's three encoder layers (:data:`CH5_LAYERS`) are the MobileNetV2 outputs UNISAL's
decoder reads: ``feat_4x`` (stride 8), ``feat_2x`` (stride 16) and ``feat_1x`` (stride 32).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from saliency_utils.models.architectures import IMAGENET_MEAN, IMAGENET_STD
from saliency_utils.models.backbones import (WeightsUnavailableError, default_device, layer_module,
                                             resolve_weights, to_uint8_rgb)
from saliency_utils.third_party.unisal import UNISAL

__all__ = ["ENV_WEIGHTS", "WEIGHTS_URL", "WEIGHT_FILES", "LAYERS", "CH5_LAYERS", "SOURCE",
           "MAP_KWARGS", "UnisalWeightsError", "UnisalModel", "weights_path", "missing_weights_message",
           "load_state_dict", "load_unisal", "unisal_input_shape"]

#: The environment variable that names UNISAL's weights file (unset by default).
ENV_WEIGHTS = "SALIENCY_UNISAL_WEIGHTS"
#: Where the released weights are.
WEIGHTS_URL = "https://github.com/rdroste/unisal/tree/master/training_runs/pretrained_unisal"
#: The released weight files (the same architecture).
WEIGHT_FILES = ("weights_best.pth", "weights_ft_mit1003.pth")
#: UNISAL's domain for static images.
SOURCE = "SALICON"

#: Friendly layer name -> (module path inside :class:`UnisalModel`, what it is).
LAYERS = {
    "stem": ("net.cnn.features.0", "MobileNetV2 stem, 32 channels, stride 2"),
    "feat_4x": ("net.cnn.features.7", "MobileNetV2 block 7, 64 channels, stride 8: the Skip-4x "
                                      "input"),
    "feat_2x": ("net.cnn.features.14", "MobileNetV2 block 14, 160 channels, stride 16: the "
                                       "Skip-2x input"),
    "feat_1x": ("net.cnn.features.18", "MobileNetV2 head, 1280 channels, stride 32: the "
                                       "bottleneck"),
    "post_cnn": ("net.post_cnn", "bottleneck features + 16 learned Gaussian priors -> 256 "
                                 "channels, stride 32"),
    "skip_4x": ("net.skip_4x", "Skip-4x connection, 64 channels, stride 8"),
    "skip_2x": ("net.skip_2x", "Skip-2x connection, 128 channels, stride 16"),
    "upsampling_2": ("net.upsampling_2", "US2, 128 channels, stride 8"),
    "readout_input": ("net.post_upsampling_2", "input of the final readout (the adaptation "
                                               "1x1 conv), 64 channels, stride 8"),
    "readout": (f"net.adaptation_{SOURCE.lower()}", "the one-channel map before upsampling, "
                                                   "smoothing and softmax"),
}
#: Chapter 5's layers for UNISAL: three encoder depths and the readout input (the main layer).
CH5_LAYERS = ("feat_4x", "feat_2x", "feat_1x", "readout_input")


class UnisalWeightsError(WeightsUnavailableError):
    """UNISAL's weights file is missing, unreadable or not UNISAL's."""


def weights_path() -> Path | None:
    """The UNISAL weights file named by :data:`ENV_WEIGHTS`, or None when it is unset or empty
    (the only place the book reads it)."""
    v = os.environ.get(ENV_WEIGHTS, "").strip()
    return Path(v).expanduser() if v else None


def missing_weights_message() -> str:
    """What to do when no UNISAL weights are given (printed by chapter 5)."""
    return (f"UNISAL's released weights are not in the book's data bundle. Download "
            f"{' or '.join(WEIGHT_FILES)} from {WEIGHTS_URL} and set the environment variable "
            f"{ENV_WEIGHTS} to the file's path (e.g. export {ENV_WEIGHTS}=$HOME/unisal/"
            f"{WEIGHT_FILES[0]}), then run the chapter with the paper profile again.")


def _fix_hint(path: Path) -> str:
    return (f"Download {' or '.join(WEIGHT_FILES)} again from {WEIGHTS_URL} (the raw file, not "
            f"the GitHub page) and point {ENV_WEIGHTS} to it; it is now {str(path)!r}.")


def load_state_dict(path) -> dict:
    """UNISAL's state dict from ``path`` (``torch.load(weights_only=True)`` on CPU); a UNISAL
    training checkpoint (``{"model_state_dict": ...}``) is accepted too. Raises
    :class:`UnisalWeightsError` for a missing, unreadable or non-state-dict file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UnisalWeightsError(f"UNISAL weights file not found: {path}. " + _fix_hint(path))
    with open(path, "rb") as f:
        head = f.read(256)
    if head.startswith(b"version https://git-lfs"):
        raise UnisalWeightsError(f"{path} is a Git LFS pointer, not the weights. " + _fix_hint(path))
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        raise UnisalWeightsError(f"{path} is an HTML page, not the weights. " + _fix_hint(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
        raise UnisalWeightsError(f"cannot read UNISAL weights {path} ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else ''}). "
                                 + _fix_hint(path)) from err
    if isinstance(obj, dict) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict) or not obj or \
            not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise UnisalWeightsError(f"{path} is not a PyTorch state dict (a mapping of names to "
                                 f"tensors). " + _fix_hint(path))
    return obj


def _check_and_strip(sd: dict, net: nn.Module, path: Path) -> dict:
    """``sd`` without the Bypass-RNN entries, checked against ``net``'s keys and shapes."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}  # DataParallel checkpoints
    sd = {k: v for k, v in sd.items() if not k.startswith(("rnn.", "post_rnn."))}
    own = net.state_dict()
    for k in set(own) - set(sd):  # BatchNorm counters (absent from files of older PyTorch)
        if k.endswith(".num_batches_tracked"):
            sd[k] = own[k]
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
    if missing or unexpected or wrong:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected),
                           ("with another shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {what} (e.g. {', '.join(keys[:3])})")
        raise UnisalWeightsError(f"{path} does not match UNISAL's architecture: "
                                 + "; ".join(parts) + ". Is it one of UNISAL's released "
                                 f"{' / '.join(WEIGHT_FILES)}? " + _fix_hint(path))
    return sd


def unisal_input_shape(shape) -> tuple[int, int]:
    """UNISAL's evaluation input size for an image of ``shape`` (``MIT1003Dataset.
    get_out_size_eval`` / ``MIT300Dataset``): the grid ``(n1, n2)``, both in 7..13 with
    ``100 <= n1 n2 <= 120``, whose aspect ratio is closest to the image's (first on ties),
    times 32."""
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"image shape must be positive, got {(h, w)}")
    ar = h / w
    best, best_ratio = None, -1.0
    for n1 in range(7, 14):
        for n2 in range(7, 14):
            if 100 <= n1 * n2 <= 120:
                this = n1 / n2
                ratio = min(ar, this) / max(ar, this)
                if ratio > best_ratio:
                    best, best_ratio = (n1, n2), ratio
    return best[0] * 32, best[1] * 32


class UnisalModel(nn.Module):
    """UNISAL with chapter 5's interface: ``forward(x)`` gives ``N x H x W`` log-densities of
    preprocessed images; :meth:`module`, :meth:`activations`, :meth:`preprocess`,
    :meth:`input_shape_for`, ``mean``/``std``, :meth:`predict` and
    :meth:`predict_log_density` as :class:`~saliency_utils.models.saliency_model.SaliencyModel`'s.
    Build it with :func:`load_unisal`.

    ``input_size``: None (UNISAL's size rule per image, :func:`unisal_input_shape`) or a
    fixed ``(H, W)``, multiples of 32, for every image (tests and the ``paper-smoke`` run)."""

    backbone_name = "unisal"

    def __init__(self, net: UNISAL, weights_source: str, input_size=None, device=None):
        super().__init__()
        self.net = net
        self.weights_source = weights_source
        self.mean, self.std = tuple(IMAGENET_MEAN), tuple(IMAGENET_STD)
        if input_size is not None:
            input_size = (int(input_size[0]), int(input_size[1]))
            if min(input_size) < 32 or any(v % 32 for v in input_size):
                raise ValueError(f"UNISAL's input sides must be multiples of 32 (>= 32), got "
                                 f"{input_size}")
        self.input_size = input_size
        self.to(torch.device(device) if device is not None else default_device())
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def layers(self) -> dict[str, str]:
        """Friendly layer name -> module path (see :data:`LAYERS`)."""
        return {k: v[0] for k, v in LAYERS.items()}

    def module(self, name: str) -> nn.Module:
        """The module behind a friendly layer name (or a raw module path)."""
        return layer_module(self, self.layers, name)

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError("the UNISAL adapter is for inference only")
        return super().train(False)

    def forward(self, x: torch.Tensor, target_size=None) -> torch.Tensor:
        """``N x 3 x H x W`` preprocessed images -> ``N x h x w`` log-densities (``target_size``,
        default the input size; ``exp`` sums to 1 over each image's pixels)."""
        return self.net(x, target_size=target_size, source=SOURCE)[:, 0]

    def input_shape_for(self, shape) -> tuple[int, int]:
        """Network input size for an image of ``shape``: :attr:`input_size` if fixed, else
        UNISAL's rule (:func:`unisal_input_shape`; 288x384 for a 4:3 image)."""
        return self.input_size or unisal_input_shape(shape)

    def preprocess(self, images, size=None) -> torch.Tensor:
        """uint8 image(s) ``H x W x 3`` -> ImageNet-normalised ``N x 3 x h x w`` on the model's
        device; Lanczos resize (PIL, as UNISAL) to ``size`` (default: the first image's
        :meth:`input_shape_for`)."""
        if isinstance(images, (np.ndarray, Image.Image)) and np.asarray(images).ndim in (2, 3):
            images = [images]
        arrs = [to_uint8_rgb(im) for im in images]
        if not arrs:
            raise ValueError("no images to preprocess")
        h, w = (int(v) for v in (size or self.input_shape_for(arrs[0].shape[:2])))
        batch = [a if a.shape[:2] == (h, w) else
                 np.asarray(Image.fromarray(a).resize((w, h), Image.LANCZOS)) for a in arrs]
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.device)

    @torch.no_grad()
    def predict_log_density(self, image, size=None, flip_average: bool = False,
                            target_size=None) -> np.ndarray:
        """Log-density of one image (float64), at ``target_size`` (default the network's input
        size for the image, :meth:`input_shape_for`, or ``size``). ``flip_average``: the mean of
        the densities of the image and of its mirror image (off by default: UNISAL does not)."""
        arr = to_uint8_rgb(image)
        x = self.preprocess(arr, size=size or self.input_shape_for(arr.shape[:2]))
        if flip_average:
            out = self(torch.cat([x, x.flip(-1)]), target_size)
            out = torch.logsumexp(torch.stack([out[0], out[1].flip(-1)]), 0) - math.log(2)
        else:
            out = self(x, target_size)[0]
        return out.double().cpu().numpy()

    def predict(self, image, size=None, flip_average: bool = False,
                exponent: float = 1.0) -> np.ndarray:
        """Saliency map of one image at the image's size, summing to 1: ``exp`` of UNISAL's
        log-density computed at that size (UNISAL resizes inside the network), raised to
        ``exponent`` (1: UNISAL's density itself) and renormalised."""
        arr = to_uint8_rgb(image)
        lp = float(exponent) * self.predict_log_density(arr, size=size, flip_average=flip_average,
                                                        target_size=arr.shape[:2])
        p = np.exp(lp - lp.max())
        return p / p.sum()

    @torch.no_grad()
    def activations(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """Outputs of the named layers (:attr:`layers`) for input ``x``, in one forward pass."""
        out: dict[str, torch.Tensor] = {}
        handles = [self.module(n).register_forward_hook(
            lambda _m, _i, o, n=n: out.__setitem__(n, o.detach())) for n in names]
        try:
            self(x)
        finally:
            for h in handles:
                h.remove()
        return out


#: What :meth:`UnisalModel.predict` should be called with to give UNISAL's own map (for
#: :func:`saliency_utils.evaluate.scoring.model_maps`, whose defaults are the book model's).
MAP_KWARGS = {"flip_average": False, "exponent": 1.0}


def load_unisal(weights="env", seed: int = 0, input_size=None, device=None) -> UnisalModel:
    """UNISAL for static images. ``weights``: ``"env"`` (the file named by :data:`ENV_WEIGHTS`;
    :class:`UnisalWeightsError` with :func:`missing_weights_message` when it is unset),
    ``"random"`` (UNISAL's initialisation, seeded by ``seed``: code paths and tests only) or a
    path to a state dict. ``input_size``: see :class:`UnisalModel`."""
    if isinstance(weights, str) and weights == "env":
        path = weights_path()
        if path is None:
            raise UnisalWeightsError(f"{ENV_WEIGHTS} is not set. " + missing_weights_message())
        weights = path
    choice = resolve_weights(weights)
    if choice == "imagenet":
        raise ValueError("UNISAL has no 'imagenet' weights: use 'env', 'random' or a path")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = UNISAL()
    if choice == "random":
        source = f"random initialisation (seed {seed})"
    else:
        path = Path(choice).expanduser()
        sd = _check_and_strip(load_state_dict(path), net, path)
        net.load_state_dict(sd, strict=True)
        source = f"UNISAL weights {path.name} ({path})"
    return UnisalModel(net, source, input_size=input_size, device=device)
