"""Gradient-based attribution maps via captum, reduced to one value per pixel.

Simonyan et al. (2014), sec. 3: the saliency of pixel ``(i, j)`` for class ``c`` is
``M_ij = max_k |dS_c / dI_ijk|``, with ``S_c`` the **raw class score (logit)**, not the softmax
probability, computed at the image with one backward pass and the network in eval mode.
Every map here is reduced the same way (:func:`channel_max`); captum's own plots sum channels
instead.

Conventions
-----------
* ``model``: an ``nn.Module`` returning ``N x classes`` logits, in eval mode (call
  ``model.eval()``; dropout would make maps random). For a :class:`~saliency_utils.models.Backbone`
  pass ``backbone.model`` and ``backbone.preprocess(images)``.
* ``x``: a float ``N x C x H x W`` tensor in the network's normalised input space, on the
  model's device; maps are computed on ``x.device``.
* ``target``: an ``int`` (same class for every image), a sequence / array / tensor with one
  class per image, or ``None`` for each image's top-1 predicted class (the paper's figures).
* Every method returns a float32 NumPy array ``N x H x W``; results are deterministic
  (SmoothGrad's noise is drawn from a seeded generator that does not disturb the global one).

Methods: :func:`gradient_saliency` (Simonyan), :func:`smoothgrad` (Smilkov et al. 2017),
:func:`integrated_gradients` (Sundararajan et al. 2017), :func:`deconvnet` (Zeiler & Fergus
2014; Simonyan sec. 5 relates it to the gradient), :func:`guided_backprop` (Springenberg et al.
2015); :func:`cascading_randomisation` is Adebayo et al.'s (2018) model-randomisation sanity
check.

ReLU6 and the modified-backward methods
---------------------------------------
captum's ``Deconvolution`` and ``GuidedBackprop`` override the backward pass of ``nn.ReLU``
modules only (``isinstance(module, nn.ReLU)``). ``nn.ReLU6`` (EfficientNet-Lite0, MobileNet)
is a ``Hardtanh``, not a ``ReLU``: captum leaves it alone, so on such a network both methods
would silently be a plain gradient at every activation. :func:`deconvnet` and
:func:`guided_backprop` therefore run inside :func:`relu6_as_relu`, which temporarily replaces
every ``nn.ReLU6`` by :class:`ReLU6AsReLU` (same forward ``min(max(x, 0), 6)``, but an
``nn.ReLU`` subclass that captum hooks). The resulting backward rules at a ReLU6 are

* guided backprop: ``max(g, 0) * 1[0 < x < 6]`` (the gradient, gated by the forward pass,
  including the upper clip, then only positive signals);
* deconvnet: ``max(g, 0)`` (the forward pass is ignored, as at a ReLU).

``modify_relu6=False`` gives captum's behaviour. Activations that are neither (``GELU``,
``SiLU``, functional ``torch.relu``) are never modified; a warning says so when a network has
no ``nn.ReLU`` at all, since then both methods equal the plain gradient.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from captum.attr import (Deconvolution, GuidedBackprop, IntegratedGradients, NoiseTunnel,
                         Saliency)
from scipy import stats
from torch import nn

__all__ = [
    "channel_max",
    "gradient_saliency",
    "smoothgrad",
    "integrated_gradients",
    "deconvnet",
    "guided_backprop",
    "ReLU6AsReLU",
    "relu6_as_relu",
    "METHODS",
    "rank_correlation",
    "cascading_randomisation",
]


# -- input checks ------------------------------------------------------------------------------

class _CheckedLogits(nn.Module):
    """Wraps the model: checks it returns ``N x classes`` logits and that the targets exist.

    The check runs inside captum's own forward pass (no extra forward). Being an
    ``nn.Module`` holding ``model`` as a submodule, captum's ReLU hooks still reach it.
    """

    def __init__(self, model: nn.Module, max_target: int):
        super().__init__()
        self.model = model
        self.max_target = max_target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if out.ndim != 2:
            raise ValueError(f"the model must return N x classes logits, got shape "
                             f"{tuple(out.shape)}")
        if self.max_target >= out.shape[1]:
            raise ValueError(f"target class {self.max_target} out of range: the model has "
                             f"{out.shape[1]} classes")
        return out


def _check_x(model: nn.Module, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor N x C x H x W, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N x C x H x W), got shape {tuple(x.shape)}; "
                         "add a batch dimension with x[None]")
    if not x.is_floating_point():
        raise ValueError(f"x must be a float tensor (normalised input), got {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    p = next(model.parameters(), None)
    if p is not None and p.device != x.device:
        raise ValueError(f"x is on {x.device} but the model is on {p.device}")
    if model.training:
        warnings.warn("model is in training mode (dropout, batch statistics): call "
                      "model.eval() for the paper's maps", stacklevel=3)
    # a fresh leaf that requires grad: the caller's tensor is untouched and captum does not
    # warn about setting requires_grad itself
    return x.detach().requires_grad_(True)


def _targets(model: nn.Module, x: torch.Tensor, target) -> list[int]:
    n = x.shape[0]
    if target is None:
        with torch.no_grad():
            return model(x).argmax(dim=1).tolist()
    if isinstance(target, torch.Tensor):
        target = target.detach().cpu().numpy()
    arr = np.asarray(target)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"target must be an int or a sequence of ints, got {target!r}")
    if arr.ndim == 0:
        arr = np.full(n, int(arr))
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"target must be an int or have one class per image ({n}), got "
                         f"shape {arr.shape}")
    if np.any(arr < 0):
        raise ValueError(f"target classes must be >= 0, got {arr.tolist()}")
    return [int(t) for t in arr]


def _prepare(model, x, target) -> tuple[_CheckedLogits, torch.Tensor, list[int]]:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module (for a Backbone pass backbone.model), "
                         f"got {type(model).__name__}")
    x = _check_x(model, x)
    t = _targets(model, x, target)
    return _CheckedLogits(model, max(t)), x, t


def channel_max(attr) -> np.ndarray:
    """Simonyan's reduction ``max_k |attr_k|`` over the channel axis.

    ``N x C x H x W`` -> ``N x H x W`` (or ``C x H x W`` -> ``H x W``); tensor or array in,
    float32 NumPy array out.
    """
    if isinstance(attr, torch.Tensor):
        attr = attr.detach().float().cpu().numpy()
    a = np.asarray(attr, dtype=np.float32)
    if a.ndim not in (3, 4):
        raise ValueError(f"attributions must be N x C x H x W or C x H x W, got {a.shape}")
    return np.abs(a).max(axis=-3)


# -- methods -----------------------------------------------------------------------------------

def gradient_saliency(model: nn.Module, x: torch.Tensor, target=None) -> np.ndarray:
    """Simonyan et al.'s image-specific class saliency ``max_k |dS_c/dx_k|`` (``N x H x W``).

    captum ``Saliency(model).attribute(x, target, abs=True)``, then the channel max.
    """
    m, x, t = _prepare(model, x, target)
    return channel_max(Saliency(m).attribute(x, target=t, abs=True))


def smoothgrad(model: nn.Module, x: torch.Tensor, target=None, n_samples: int = 25,
               stdev: float = 0.15, seed: int = 0) -> np.ndarray:
    """SmoothGrad: the gradient averaged over ``n_samples`` noisy copies of each image.

    Noise ``N(0, sigma^2)`` with ``sigma = stdev * (x_i.max() - x_i.min())`` per image, i.e.
    ``stdev`` is the noise level as a fraction of the image's range in the (normalised) input
    space (Smilkov et al. recommend 0.10-0.20). As in Smilkov et al. and the PAIR
    implementation the *signed* gradients are averaged (captum ``NoiseTunnel`` with
    ``nt_type="smoothgrad"`` on ``Saliency(abs=False)``); the channel max of the absolute
    average follows. Noise comes from ``torch.manual_seed(seed)`` inside a forked RNG state.
    """
    if n_samples < 1 or stdev < 0:
        raise ValueError(f"need n_samples >= 1 and stdev >= 0, got {n_samples}, {stdev}")
    m, x, t = _prepare(model, x, target)
    nt = NoiseTunnel(Saliency(m))
    maps = []
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for i in range(x.shape[0]):
            xi = x[i:i + 1].detach()
            sigma = float(stdev * (xi.max() - xi.min()))
            a = nt.attribute(xi, nt_type="smoothgrad", nt_samples=int(n_samples),
                             stdevs=sigma, target=t[i], abs=False)
            maps.append(channel_max(a))
    return np.concatenate(maps)


def integrated_gradients(model: nn.Module, x: torch.Tensor, target=None, steps: int = 32,
                         baseline=None) -> np.ndarray:
    """Integrated gradients ``(x - x') * mean_alpha dS_c/dx (x' + alpha (x - x'))`` reduced by
    the channel max of the absolute value.

    ``baseline=None`` is the zero tensor **in the normalised input space**, i.e. the mean
    image (grey for EfficientNet-Lite0's ``(p - 127) / 128``), not a black image; pass a tensor
    (broadcastable to ``x``) or a float for another. Gauss-Legendre quadrature with ``steps``
    points (captum's default method).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    m, x, t = _prepare(model, x, target)
    if baseline is None:
        baseline = torch.zeros_like(x)
    elif isinstance(baseline, torch.Tensor):
        baseline = baseline.to(device=x.device, dtype=x.dtype).expand_as(x)
    a = IntegratedGradients(m).attribute(x, baselines=baseline, target=t, n_steps=int(steps))
    return channel_max(a)


class ReLU6AsReLU(nn.ReLU):
    """``min(max(x, 0), 6)`` in a module that is an ``nn.ReLU`` for captum's type check."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (nn.ReLU's name)
        return torch.nn.functional.relu6(input)


@contextlib.contextmanager
def relu6_as_relu(model: nn.Module) -> Iterator[int]:
    """Temporarily replace every ``nn.ReLU6`` in ``model`` (in place) by :class:`ReLU6AsReLU`.

    Yields the number of modules replaced; the originals are put back on exit, also after an
    error. The forward pass is unchanged.
    """
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, ReLU6AsReLU())
                swapped.append((parent, name, child))
    try:
        yield len(swapped)
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)


def _modified_relu(cls, model, x, target, modify_relu6: bool) -> np.ndarray:
    m, x, t = _prepare(model, x, target)
    ctx = relu6_as_relu(model) if modify_relu6 else contextlib.nullcontext()
    with ctx, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        if not any(isinstance(mod, nn.ReLU) for mod in model.modules()):
            warnings.warn(f"{cls.__name__}: the model has no nn.ReLU module"
                          f"{'' if modify_relu6 else ' (ReLU6 not modified)'}; captum "
                          "modifies nothing and the map equals the plain gradient", stacklevel=3)
        a = cls(m).attribute(x, target=t)
    return channel_max(a)


def deconvnet(model: nn.Module, x: torch.Tensor, target=None,
              modify_relu6: bool = True) -> np.ndarray:
    """DeconvNet (Zeiler & Fergus 2014) via captum ``Deconvolution``: at each ReLU the signal
    passed back is ``max(g, 0)`` regardless of the forward input. Channel max of ``|.|``.
    ReLU6 handling: see the module docstring."""
    return _modified_relu(Deconvolution, model, x, target, modify_relu6)


def guided_backprop(model: nn.Module, x: torch.Tensor, target=None,
                    modify_relu6: bool = True) -> np.ndarray:
    """Guided backpropagation (Springenberg et al. 2015) via captum ``GuidedBackprop``: at each
    ReLU ``max(g, 0) * 1[x > 0]``. Channel max of ``|.|``. ReLU6: see the module docstring."""
    return _modified_relu(GuidedBackprop, model, x, target, modify_relu6)


METHODS: dict[str, Callable[..., np.ndarray]] = {
    "gradient": gradient_saliency,
    "smoothgrad": smoothgrad,
    "integrated_gradients": integrated_gradients,
    "deconvnet": deconvnet,
    "guided_backprop": guided_backprop,
}


# -- sanity checks -----------------------------------------------------------------------------

def rank_correlation(a, b) -> float:
    """Spearman rank correlation between two maps of the same shape, over all pixels.

    NaN if either map is constant (the correlation is undefined).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps have different shapes {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError("maps need at least 2 pixels")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a.ravel(), b.ravel()).statistic)


def _reinit(module: nn.Module) -> int:
    n = 0
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
            n += 1
    return n


def cascading_randomisation(model, x: torch.Tensor, target, method="gradient",
                            layers_top_down: Sequence[str] = (), seed: int = 0,
                            **method_kwargs) -> list[tuple[str, np.ndarray]]:
    """Adebayo et al. (2018) cascading model-parameter randomisation.

    On a deep copy of the model (the original is untouched), re-initialise the layers in
    ``layers_top_down`` one after the other, **cumulatively** (from the logits downwards),
    and recompute the map after each. ``model`` is an ``nn.Module``, a
    :class:`~saliency_utils.models.Backbone` (friendly layer names accepted) or a zero-argument
    factory returning either. Layer names are module paths (``model.get_submodule``).

    Re-initialisation calls ``reset_parameters()`` on the layer and all its submodules
    (PyTorch's default initialisers; for BatchNorm: weight 1, bias 0, running stats reset),
    with ``torch.manual_seed(seed)`` in a forked RNG state. ``method`` is a name in
    :data:`METHODS` or a callable ``(model, x, target, **kw) -> N x H x W``.

    ``target=None`` is resolved once, on the original model (the classes stay fixed).

    Returns ``[("original", map), (layer_1, map), ...]``; compare with
    :func:`rank_correlation`. A map that does not change is not explaining the model.
    With BatchNorm a randomised layer can silence everything above it: on EfficientNet-Lite0,
    re-initialising ``block15`` makes the (trained) head BatchNorm output negative everywhere,
    the head ReLU6 outputs 0, the gradient is exactly 0 and the correlation is NaN.
    """
    if callable(model) and not isinstance(model, nn.Module):
        model = model()
    names = getattr(model, "layers", None) if hasattr(model, "model") else None
    net = model.model if names is not None else model
    if not isinstance(net, nn.Module):
        raise ValueError(f"model must be an nn.Module, a Backbone or a factory of either, got "
                         f"{type(model).__name__}")
    fn = METHODS.get(method) if isinstance(method, str) else method
    if fn is None:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not layers_top_down:
        raise ValueError("layers_top_down is empty: name the layers to randomise, top first")
    net = copy.deepcopy(net)
    target = _targets(net, _check_x(net, x), target)  # fixed: the original model's classes
    modules = []
    for layer in layers_top_down:
        path = names.get(layer, layer) if names else layer
        try:
            modules.append((layer, net.get_submodule(path)))
        except AttributeError:
            raise ValueError(f"unknown layer {layer!r}") from None
    out = [("original", fn(net, x, target, **method_kwargs))]
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for layer, mod in modules:
            if _reinit(mod) == 0:
                raise ValueError(f"layer {layer!r} has no parameters to re-initialise")
            out.append((layer, fn(net, x, target, **method_kwargs)))
    return out
