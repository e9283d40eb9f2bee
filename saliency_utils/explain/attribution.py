"""Gradient-based attribution maps via captum, reduced to one value per pixel.

Simonyan et al. (2014), sec. 3: the saliency of pixel ``(i, j)`` for class ``c`` is
``M_ij = max_k |dS_c / dI_ijk|``, with ``S_c`` the **raw class score (logit)**, not the softmax
probability, computed at the image with one backward pass and the network in eval mode.
Every map here is reduced the same way (:func:`channel_max`); captum's own plots sum channels
instead. The book gets these maps, like every other, through
:func:`saliency_utils.explain.api.explain` (method names as in :data:`METHODS`).

Conventions
-----------
* ``model``: an ``nn.Module`` returning ``N x classes`` logits, in eval mode (call
  ``model.eval()``; dropout would make maps random). For a :class:`~saliency_utils.models.backbones.Backbone`
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
check. :func:`deconvnet_identity` checks Simonyan et al.'s sec. 4 identity (the DeconvNet
reconstruction is the gradient, except at the ReLU) on a given network and input, against
Zeiler & Fergus's reconstruction built layer by layer (:func:`zeiler_fergus_reconstruction`) and
an autograd gradient with a replaced ReLU backward (:func:`gradient_with_relu_rule`).

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
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from captum.attr import (Deconvolution, GuidedBackprop, IntegratedGradients, NoiseTunnel,
                         Saliency)
from scipy import stats
from torch import nn
from torch.nn import functional as F

__all__ = [
    "channel_max",
    "in_batches",
    "model_digest",
    "gradient_abs",
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
    "IDENTITY_TOLERANCE",
    "conv_relu_maxpool_net",
    "zeiler_fergus_reconstruction",
    "gradient_with_relu_rule",
    "DeconvIdentity",
    "deconvnet_identity",
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

def gradient_abs(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """The per-channel ``|dS_c/dx_k|`` (``N x C x H x W`` tensor) of :func:`gradient_saliency`:
    captum ``Saliency(model).attribute(x, target, abs=True)``."""
    m, x, t = _prepare(model, x, target)
    return Saliency(m).attribute(x, target=t, abs=True)


def gradient_saliency(model: nn.Module, x: torch.Tensor, target=None) -> np.ndarray:
    """Simonyan et al.'s image-specific class saliency ``max_k |dS_c/dx_k|`` (``N x H x W``):
    the channel max of :func:`gradient_abs`."""
    return channel_max(gradient_abs(model, x, target))


def smoothgrad(model: nn.Module, x: torch.Tensor, target=None, n_samples: int = 25,
               stdev: float = 0.15, seed: int = 0) -> np.ndarray:
    """SmoothGrad: the gradient averaged over ``n_samples`` noisy copies of each image.

    Noise ``N(0, sigma^2)`` with ``sigma = stdev * (x_i.max() - x_i.min())`` per image, i.e.
    ``stdev`` is the noise level as a fraction of the image's range in the (normalised) input
    space (Smilkov et al. recommend 0.10-0.20). As in Smilkov et al. and the PAIR
    implementation the *signed* gradients are averaged (captum ``NoiseTunnel`` with
    ``nt_type="smoothgrad"`` on ``Saliency(abs=False)``); the channel max of the absolute
    average follows. Noise comes from ``torch.manual_seed(seed)`` inside a forked RNG state,
    re-seeded for **each image**: an image's map depends only on the image, its target and
    ``seed``, not on the batch it came in or its place there (every image sees the same noise
    draw, scaled to its own range).
    """
    if n_samples < 1 or stdev < 0:
        raise ValueError(f"need n_samples >= 1 and stdev >= 0, got {n_samples}, {stdev}")
    m, x, t = _prepare(model, x, target)
    nt = NoiseTunnel(Saliency(m))
    maps = []
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for i in range(x.shape[0]):
            torch.manual_seed(seed)
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
def swapped_modules(model: nn.Module, match: Callable[[nn.Module], bool],
                    make: Callable[[], nn.Module]) -> Iterator[int]:
    """Temporarily replace (in place) every submodule of ``model`` for which ``match`` is true
    by ``make()``; yields the number replaced and puts the originals back on exit, also after
    an error."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if match(child):
                setattr(parent, name, make())
                swapped.append((parent, name, child))
    try:
        yield len(swapped)
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)


@contextlib.contextmanager
def relu6_as_relu(model: nn.Module) -> Iterator[int]:
    """Temporarily replace every ``nn.ReLU6`` in ``model`` (in place) by :class:`ReLU6AsReLU`.

    Yields the number of modules replaced; the originals are put back on exit, also after an
    error. The forward pass is unchanged.
    """
    with swapped_modules(model, lambda m: isinstance(m, nn.ReLU6), ReLU6AsReLU) as n:
        yield n


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

#: Bumped when a map function of this module changes its output (part of the cache key of
#: :func:`in_batches`).
ATTRIBUTION_VERSION = "1"


def _update_with_weights(h, model: nn.Module) -> None:
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())


def model_digest(model: nn.Module) -> str:
    """24 hex digits of the sha256 of a network's parameter and buffer names and values: the
    part of a cache key that says which weights produced a measurement."""
    import hashlib

    h = hashlib.sha256()
    _update_with_weights(h, model)
    return h.hexdigest()[:24]


def _maps_key(method, model: nn.Module, x: torch.Tensor, target, kwargs: dict,
              extra: dict | None = None) -> str:
    """24 hex digits keying a measurement of ``method`` on ``model`` and ``x``: the weights, the
    input's bytes, the method's name, the targets, its keyword arguments (by ``repr``), the
    shape, :data:`ATTRIBUTION_VERSION`, torch's version and any ``extra`` JSON fields."""
    import hashlib
    import json

    h = hashlib.sha256()
    _update_with_weights(h, model)
    h.update(x.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps({"method": f"{method.__module__}.{method.__qualname__}",
                         "target": None if target is None else np.asarray(target).tolist(),
                         "kwargs": {k: repr(v) for k, v in sorted(kwargs.items())},
                         "shape": list(x.shape), "version": ATTRIBUTION_VERSION,
                         "torch": torch.__version__.split("+")[0], **(extra or {})},
                        sort_keys=True).encode())
    return h.hexdigest()[:24]


def in_batches(method: Callable[..., np.ndarray], model: nn.Module, x: torch.Tensor, target=None,
               batch_size: int = 32, cache=None, **kwargs) -> np.ndarray:
    """``method(model, x, target, **kwargs)`` (any map function of this module) computed
    ``batch_size`` images at a time and concatenated: the same maps, with the memory of one
    batch (every method here maps each image independently of the others in its batch).
    ``target``: ``None``, one class for all, or one per image. ``cache``: a folder; the maps are
    stored there as ``<key>.npy``, keyed by the network's weights, the input, the targets, the
    method and its arguments (and :data:`ATTRIBUTION_VERSION`, torch's version), and read back
    on the next call (an unreadable or mis-shaped file is recomputed and replaced)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = int(x.shape[0]) if x.dim() == 4 else 1
    if x.dim() != 4 or n == 0:
        return method(model, x, target, **kwargs)  # the method's own checks and message
    per_image = target is not None and np.ndim(target) > 0
    if per_image and len(target) != n:
        raise ValueError(f"{len(target)} targets for {n} images")

    def compute():
        out = []
        for s in range(0, n, batch_size):
            t = target[s:s + batch_size] if per_image else target
            out.append(method(model, x[s:s + batch_size], t, **kwargs))
        return np.concatenate(out)

    if cache is None:
        return compute()
    from pathlib import Path

    from saliency_utils.fileio import cached_array

    return cached_array(Path(cache) / f"{_maps_key(method, model, x, target, kwargs)}.npy", compute,
                        lambda a: a.shape == (n, *x.shape[2:]))


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


def _model_and_method(model, method):
    """``(model, friendly layer names or None, network, map function)`` of the randomisation
    functions' arguments: ``model`` an ``nn.Module``, a ``Backbone`` or a zero-argument factory
    of either (called here); ``method`` a name in :data:`METHODS` or a callable."""
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
    return model, names, net, fn


def cascading_randomisation(model, x: torch.Tensor, target, method="gradient",
                            layers_top_down: Sequence[str] = (), seed: int = 0,
                            **method_kwargs) -> list[tuple[str, np.ndarray]]:
    """Adebayo et al. (2018) cascading model-parameter randomisation.

    On a deep copy of the model (the original is untouched), re-initialise the layers in
    ``layers_top_down`` one after the other, **cumulatively** (from the logits downwards),
    and recompute the map after each. ``model`` is an ``nn.Module``, a
    :class:`~saliency_utils.models.backbones.Backbone` (friendly layer names accepted) or a zero-argument
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
    model, names, net, fn = _model_and_method(model, method)
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


def randomisation_correlations(model, x: torch.Tensor, target=None, method="gradient",
                               layers_top_down: Sequence[str] = (), seeds: Sequence[int] = (0,),
                               cache=None, **method_kwargs) -> np.ndarray:
    """:func:`cascading_randomisation` summarised as numbers, for several re-initialisation
    seeds: the Spearman ρ (:func:`rank_correlation`) of each image's map after each cumulative
    step with its map from the original model. Returns an array ``(len(seeds),
    len(layers_top_down), N)``; NaN where a map is constant (see the BatchNorm note there).

    ``target=None`` is resolved once, on the original model. ``cache``: a folder; each seed's
    array is stored there as ``<key>.npy``, keyed by the network's weights, the input, the
    targets, the method and its arguments, the layers and the seed (and
    :data:`ATTRIBUTION_VERSION`, torch's version), and read back on the next call (an unreadable
    or mis-shaped file is recomputed). The maps themselves are not kept (32 images x 21 layers x
    3 seeds of one method would be 0.4 GB). A callable ``method`` enters the key by its module
    and qualified name only: pass whatever distinguishes two such methods (an LRP composite, SR
    settings) as keyword arguments, which enter the key by their ``repr``, not as values a
    closure captures."""
    model, _, net, fn = _model_and_method(model, method)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one re-initialisation seed")
    layers = list(layers_top_down)
    target = _targets(net, _check_x(net, x), target)  # the original model's classes, for every seed
    n = int(x.shape[0])

    def one(seed: int) -> np.ndarray:
        out = cascading_randomisation(model, x, target, method, layers, seed=seed, **method_kwargs)
        orig = out[0][1]
        return np.array([[rank_correlation(orig[i], mp[i]) for i in range(n)] for _, mp in out[1:]])

    if cache is None:
        return np.stack([one(s) for s in seeds])
    from pathlib import Path

    from saliency_utils.fileio import cached_array

    rows = []
    for seed in seeds:
        key = _maps_key(fn, net, x, target, method_kwargs,
                        extra={"what": "randomisation_correlations", "layers": layers, "seed": seed})
        rows.append(cached_array(Path(cache) / f"{key}.npy", lambda s=seed: one(s),
                                 lambda a: a.shape == (len(layers), n)))
    return np.stack(rows)


# -- the DeconvNet identity (Simonyan et al. 2014, sec. 4) ------------------------------------
#
# The paper: for a network of convolutions, ReLUs and max-pooling, Zeiler & Fergus's DeconvNet
# reconstruction (transposed filters, unpooling through the max-pooling "switches", a ReLU on
# the reconstructed signal) equals the gradient of the class score with respect to the input,
# EXCEPT at the ReLU layers: the DeconvNet passes R_l = R_{l+1} * [R_{l+1} > 0] (the sign of
# the signal itself), backpropagation R_l = R_{l+1} * [X_l > 0] (the sign of the forward input).

#: Largest relative difference (``max |u - v|`` over an image's attribution, divided by the
#: larger of the two maps' ``max |.|``) at which two computations count as the same map.
#: :func:`deconvnet_identity` computes in float64 (rounding about ``1e-15`` of the map's scale,
#: ten decades below this), because float32 rounding alone reaches ``3e-6`` on random-weight
#: VGG-16 at 64 px (the chapter's smoke run of 2026-12-03), too close to any tolerance; every
#: difference of rule seen here (other nonlinearities, wrong switches) is above ``1e-2``.
IDENTITY_TOLERANCE = 1e-5

_RULES = ("deconvnet", "gradient")
# Elementwise nonlinearities other than nn.ReLU: the DeconvNet is defined for rectifiers only;
# the reconstruction below rectifies the signal at these too (what deconvnet() does at a ReLU6).
_OTHER_ACTIVATIONS = (nn.ReLU6, nn.Hardtanh, nn.SiLU, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SELU,
                      nn.CELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Softplus,
                      nn.Mish)
# Layers that are linear in eval mode: their backward step is the transpose, taken by autograd
# of the layer alone.
_LINEAR_IN_EVAL = (nn.Dropout, nn.Dropout2d, nn.Identity, nn.Flatten, nn.AvgPool2d,
                   nn.AdaptiveAvgPool2d, nn.BatchNorm2d)


def conv_relu_maxpool_net(input_size: int = 16, classes: int = 10, activation=nn.ReLU,
                          seed: int = 0) -> nn.Sequential:
    """A small network of the kind Simonyan et al.'s sec. 4 statement is about, random weights
    (``torch.manual_seed(seed)`` in a forked RNG state), eval mode: conv 3x3 (8) - ReLU - max-pool
    2 - conv 3x3 (16) - ``activation`` - max-pool 2 - linear (32) - ReLU - linear (``classes``),
    for RGB inputs of ``input_size`` px (a multiple of 4). ``activation=nn.SiLU`` (or ReLU6)
    gives the negative control, a network the statement is not about."""
    if input_size < 4 or input_size % 4:
        raise ValueError(f"input_size must be a positive multiple of 4, got {input_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), activation(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * (input_size // 4) ** 2, 32), nn.ReLU(inplace=True),
            nn.Linear(32, classes)).eval()


def _check_rule(relu_rule: str) -> None:
    if relu_rule not in _RULES:
        raise ValueError(f"relu_rule must be one of {_RULES}, got {relu_rule!r}")


def _identity_inputs(model, x, target) -> tuple[torch.Tensor, list[int]]:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module (for a Backbone pass backbone.model), "
                         f"got {type(model).__name__}")
    if model.training:
        raise ValueError("the identity check needs the model in eval mode (model.eval()): "
                         "dropout and batch statistics are not part of the statement")
    x = _check_x(model, x)
    return x, _targets(model, x, target)


def _trace_chain(model: nn.Module, x: torch.Tensor) -> tuple[list, torch.Tensor]:
    """Run ``model`` once and record, for every leaf module in execution order, its input and
    output (copies: in-place ReLUs overwrite them). Raise unless each leaf's input is the
    previous leaf's output (up to a reshape, e.g. ``torch.flatten``): the layer-by-layer
    reconstruction needs a chain of layers (no residual connections, no other functional ops)."""
    records: list[list] = []

    def pre(mod, inp):
        if len(inp) != 1 or not isinstance(inp[0], torch.Tensor):
            raise ValueError(f"{type(mod).__name__} takes {len(inp)} inputs: not a chain")
        records.append([mod, inp[0].detach().clone(), None])

    def post(mod, inp, out):
        records[-1][2] = out.detach().clone()

    handles = []
    for m in model.modules():
        if next(m.children(), None) is None:
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    if not records:
        raise ValueError("the model has no layers to reconstruct through")
    prev = x.detach()
    for k, (mod, inp, _) in enumerate(records):
        if prev.numel() != inp.numel() or not torch.equal(prev.reshape(inp.shape), inp):
            raise ValueError(
                f"not a chain of layers: the input of layer {k} ({type(mod).__name__}) is not the "
                "output of the layer before; the Zeiler & Fergus reconstruction needs the layers "
                "to run one after the other (no residual connections or functional ops between "
                "them)")
        prev = records[k][2]
    if not torch.equal(prev.reshape(out.shape), out.detach()):
        raise ValueError("not a chain of layers: the model's output is not its last layer's")
    return records, out.detach()


def _vjp(mod: nn.Module, inp: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        i = inp.detach().requires_grad_(True)
        (gi,) = torch.autograd.grad(mod(i.clone()), i, g)  # clone: in-place activations
    return gi


def _unpool(mod: nn.MaxPool2d, inp: torch.Tensor, out: torch.Tensor, g: torch.Tensor,
            shuffle: bool) -> torch.Tensor:
    pooled, idx = F.max_pool2d(inp, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                               mod.ceil_mode, return_indices=True)
    if not torch.equal(pooled, out):
        raise ValueError("MaxPool2d: recomputed pooling differs from the recorded output")
    if shuffle:  # negative control: the switches of the next image in the batch
        idx = idx.roll(1, dims=0)
    n, c = inp.shape[:2]
    # place each value at its switch; overlapping windows (AlexNet's 3x3, stride 2) can share
    # a switch, and the values add up there (as in backpropagation)
    gi = torch.zeros(n, c, inp[0, 0].numel(), dtype=g.dtype, device=g.device)
    gi.scatter_add_(2, idx.flatten(2), g.flatten(2))
    return gi.view_as(inp)


def _zf_step(mod: nn.Module, inp: torch.Tensor, out: torch.Tensor, g: torch.Tensor,
             relu_rule: str, shuffle: bool) -> torch.Tensor:
    if isinstance(mod, nn.Conv2d):
        if mod.padding_mode != "zeros" or isinstance(mod.padding, str):
            raise ValueError(f"Conv2d with padding {mod.padding!r} / mode {mod.padding_mode!r} "
                             "is not supported; use numeric zero padding")
        k, s, p, d = mod.kernel_size, mod.stride, mod.padding, mod.dilation
        op = tuple(inp.shape[2 + i] - ((out.shape[2 + i] - 1) * s[i] - 2 * p[i]
                                       + d[i] * (k[i] - 1) + 1) for i in range(2))
        return F.conv_transpose2d(g, mod.weight, None, s, p, op, mod.groups, d)
    if isinstance(mod, nn.Linear):
        return g @ mod.weight
    if isinstance(mod, nn.MaxPool2d):
        return _unpool(mod, inp, out, g, shuffle)
    if type(mod) is nn.ReLU:
        return g.clamp(min=0) if relu_rule == "deconvnet" else g * (inp > 0)
    if isinstance(mod, (nn.ReLU, *_OTHER_ACTIVATIONS)):  # nn.ReLU subclasses: ReLU6AsReLU
        return g.clamp(min=0) if relu_rule == "deconvnet" else _vjp(mod, inp, g)
    if isinstance(mod, _LINEAR_IN_EVAL):
        return _vjp(mod, inp, g)
    raise ValueError(f"layer {type(mod).__name__} is not supported by the Zeiler & Fergus "
                     "reconstruction (convolutions, linear layers, max-pooling, elementwise "
                     "activations and layers linear in eval mode are)")


def zeiler_fergus_reconstruction(model: nn.Module, x: torch.Tensor, target=None,
                                 relu_rule: str = "deconvnet",
                                 shuffle_switches: bool = False) -> torch.Tensor:
    """Zeiler & Fergus's DeconvNet reconstruction of the class score, built layer by layer from
    its definition (no autograd through the network), signed, ``N x C x H x W``.

    Start from the one-hot class score and go down the layers: a convolution is undone by
    ``conv_transpose2d`` with the same filters (bias dropped), a linear layer by ``W^T``, a
    max-pooling by placing each value at its recorded switch (the argmax of the forward pass,
    values summed where overlapping windows share one). At a ReLU, ``relu_rule="deconvnet"``
    passes ``max(R, 0)`` (Zeiler & Fergus), ``"gradient"`` passes ``R * [X > 0]`` (the gradient's
    rule). Layers linear in eval mode (average pooling, dropout, BatchNorm, flatten) are undone by
    their transpose. The DeconvNet is defined for rectifiers only: at other elementwise
    activations (ReLU6, SiLU, ...) the ``"deconvnet"`` rule rectifies the signal as at a ReLU
    (what :func:`deconvnet` does at a ReLU6) and the ``"gradient"`` rule uses the activation's
    derivative. ``shuffle_switches=True`` is a negative control: each image is unpooled through
    the switches of the next image in the batch.

    ``model`` must be in eval mode and run its layers as a chain (torchvision's VGG and AlexNet,
    ``nn.Sequential`` networks); a residual network raises ``ValueError``.
    """
    _check_rule(relu_rule)
    x, t = _identity_inputs(model, x, target)
    return _zf_reconstruct(_zf_trace(model, x, t, shuffle_switches), x, t, relu_rule,
                           shuffle_switches)


def _zf_trace(model: nn.Module, x: torch.Tensor, t: list[int], shuffle: bool) -> list:
    if shuffle and x.shape[0] < 2:
        raise ValueError("shuffle_switches needs at least 2 images in the batch")
    records, out = _trace_chain(model, x)
    if out.ndim != 2:
        raise ValueError(f"the model must return N x classes logits, got {tuple(out.shape)}")
    if max(t) >= out.shape[1]:
        raise ValueError(f"target class {max(t)} out of range: the model has {out.shape[1]} "
                         "classes")
    return records


def _zf_reconstruct(records: list, x: torch.Tensor, t: list[int], relu_rule: str,
                    shuffle: bool) -> torch.Tensor:
    out = records[-1][2]
    g = torch.zeros(out.shape[0], out.numel() // out.shape[0], dtype=out.dtype,
                    device=out.device)
    g[torch.arange(len(t)), torch.tensor(t)] = 1.0
    with torch.no_grad():
        for mod, inp, o in reversed(records):
            g = _zf_step(mod, inp, o, g.reshape(o.shape), relu_rule, shuffle)
    return g.reshape(x.shape).detach()


class _DeconvReLUFunction(torch.autograd.Function):
    """``relu`` forward; backward ``max(grad, 0)`` (the DeconvNet rule) instead of
    ``grad * [x > 0]``."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


class _DeconvRuleReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _DeconvReLUFunction.apply(x)


@contextlib.contextmanager
def _relu_backward_replaced(model: nn.Module) -> Iterator[int]:
    """Temporarily replace every ``nn.ReLU`` (exactly that type) by a module with the same
    forward pass whose backward is the DeconvNet rule; yields the number replaced."""
    with swapped_modules(model, lambda m: type(m) is nn.ReLU, _DeconvRuleReLU) as n:
        yield n


def gradient_with_relu_rule(model: nn.Module, x: torch.Tensor, target=None,
                            relu_rule: str = "deconvnet") -> torch.Tensor:
    """The gradient of the class score by plain autograd, signed, ``N x C x H x W``, with the
    backward pass of every ``nn.ReLU`` replaced by the DeconvNet rule ``max(grad, 0)``
    (``relu_rule="deconvnet"``; a custom autograd function, independent of captum) or left as it
    is (``"gradient"``). Other activations (ReLU6, SiLU, ...) keep their own derivative: this is
    "the gradient, except at the ReLU"."""
    _check_rule(relu_rule)
    x, t = _identity_inputs(model, x, target)
    ctx = _relu_backward_replaced(model) if relu_rule == "deconvnet" else contextlib.nullcontext()
    with ctx, torch.enable_grad():
        out = _CheckedLogits(model, max(t))(x)
        score = out[torch.arange(len(t)), torch.tensor(t, device=out.device)].sum()
        (g,) = torch.autograd.grad(score, x)
    return g.detach()


def _relative_difference(u: torch.Tensor, v: torch.Tensor) -> np.ndarray:
    """Per image ``max |u - v| / max(max |u|, max |v|)`` (0 where both maps are 0)."""
    diff = (u - v).abs().flatten(1).amax(1).double()
    scale = torch.maximum(u.abs().flatten(1).amax(1), v.abs().flatten(1).amax(1)).double()
    rel = torch.where(scale > 0, diff / scale.clamp(min=torch.finfo(torch.float64).tiny),
                      torch.zeros_like(diff))
    return rel.cpu().numpy()


@dataclass(frozen=True)
class DeconvIdentity:
    """Per-image relative differences (see :func:`deconvnet_identity`)."""

    deconvnet_vs_relu_rule_gradient: np.ndarray  # (b) Z&F DeconvNet vs (c) gradient, DeconvNet ReLU rule
    captum_vs_relu_rule_gradient: np.ndarray  # (b') captum Deconvolution vs (c)
    gradient_rule_deconvnet_vs_gradient: np.ndarray  # (d) Z&F with the gradient's rule vs (a)
    gradient_vs_deconvnet: np.ndarray  # (a) vs (b): how much the ReLU rule changes the map
    targets: tuple[int, ...]
    tolerance: float

    @property
    def identity_difference(self) -> np.ndarray:
        """Per image, the largest of the three differences the identity says are zero."""
        return np.maximum.reduce([self.deconvnet_vs_relu_rule_gradient,
                                  self.captum_vs_relu_rule_gradient,
                                  self.gradient_rule_deconvnet_vs_gradient])

    @property
    def holds(self) -> np.ndarray:
        """Per image: does the identity hold to :attr:`tolerance`?"""
        return self.identity_difference <= self.tolerance


def deconvnet_identity(model: nn.Module, x: torch.Tensor, target=None,
                       tolerance: float = IDENTITY_TOLERANCE,
                       shuffle_switches: bool = False,
                       dtype: torch.dtype | None = torch.float64) -> DeconvIdentity:
    """Check Simonyan et al.'s (2014, sec. 4) identity on ``model`` and the images ``x``.

    Computes, signed (no channel max, no ``|.|``):

    * (a) the gradient of the class score: captum ``Saliency(abs=False)``;
    * (b) the DeconvNet reconstruction from Zeiler & Fergus's definition
      (:func:`zeiler_fergus_reconstruction`), and (b') captum's ``Deconvolution``;
    * (c) the gradient with the DeconvNet's ReLU rule (:func:`gradient_with_relu_rule`: plain
      autograd, each ReLU's backward replaced by ``max(grad, 0)``);
    * (d) the DeconvNet with the gradient's ReLU rule (``relu_rule="gradient"``).

    The identity holds on an image if (b) = (c), (b') = (c) and (d) = (a), each to
    ``tolerance`` in relative difference (``max |u - v|`` over the image divided by the larger
    map's ``max |.|``). ``gradient_vs_deconvnet`` says how far the ReLU rule moves the map:
    on a network with ReLUs, (a) and (b) differ. ``shuffle_switches`` is passed to the
    reconstruction (a negative control: the identity must then fail). ``target``: as for the
    maps (``None``: each image's top-1 class, found in ``dtype``). ``dtype``: every map is
    computed on a copy of the model and ``x`` in this precision (default float64, see
    :data:`IDENTITY_TOLERANCE`; ``None``: the model's own, untouched).
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if dtype is not None:
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating torch dtype or None, got {dtype!r}")
        _identity_inputs(model, x, 0)  # check the input before copying the model
        model, x = copy.deepcopy(model).to(dtype), x.detach().to(dtype)
    x, t = _identity_inputs(model, x, target)
    m = _CheckedLogits(model, max(t))
    grad = Saliency(m).attribute(x, target=t, abs=False).detach()
    with relu6_as_relu(model), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        captum_deconv = Deconvolution(m).attribute(x, target=t).detach()
    records = _zf_trace(model, x, t, shuffle_switches)  # one forward pass for both rules
    zf = _zf_reconstruct(records, x, t, "deconvnet", shuffle_switches)
    zf_grad_rule = _zf_reconstruct(records, x, t, "gradient", shuffle_switches)
    del records
    rule_grad = gradient_with_relu_rule(model, x, t, "deconvnet")
    return DeconvIdentity(
        deconvnet_vs_relu_rule_gradient=_relative_difference(zf, rule_grad),
        captum_vs_relu_rule_gradient=_relative_difference(captum_deconv, rule_grad),
        gradient_rule_deconvnet_vs_gradient=_relative_difference(zf_grad_rule, grad),
        gradient_vs_deconvnet=_relative_difference(grad, zf),
        targets=tuple(t), tolerance=float(tolerance))
