"""Layer-wise relevance propagation (LRP; Bach et al. 2015) with explicit rules.

LRP explains one output score ``f_c(x)`` by passing it backwards through the network, layer by
layer, as *relevance* ``R``: a layer's rule splits the relevance of each output neuron among the
inputs that contributed to it. Most rules are of the form ``R_j = x_j sum_k w'_jk R_k / z'_k``
with a modified weight ``w'`` and ``z'_k = sum_j x_j w'_jk (+ b'_k)``; they **conserve**
relevance (``sum_j R_j = sum_k R_k``) except for what the bias and the stabiliser absorb.

Implementation
--------------
Every leaf module of the (canonised) network gets a :class:`Rule` through a *composite* (a
function ``(name, module, is_first) -> Rule``). During the forward pass a forward hook routes each
module's output through an autograd function whose backward pass *is* the rule: the quantity
flowing backwards is the relevance itself (as in zennit), so activations pass it unchanged and
the relevance of the input is the "gradient" of the input. Relevance starts at the explained
logit: ``R = f_c(x)`` at class ``c`` and ``0`` elsewhere (the authors' code multiplies the output
by a one-hot vector of the predicted class). Any leaf module without a rule raises ``TypeError``;
functional operations inside ``forward`` (``x.flatten(1)``, ``torch.flatten``) pass relevance
unchanged, which is right for reshapes only: residual additions must be modules (canonisation).

Rules (:class:`Epsilon`, :class:`ZPlus`, :class:`AlphaBeta`, :class:`ZBox`, :class:`Flat`,
:class:`Pass`, :class:`WinnerTakeAll`) and composites:

* :func:`authors_composite` -- Li et al.'s public code (``Imagenet_Alex vs VGG16.ipynb``):
  LRP-epsilon (epsilon 1e-9, **with** bias) on every convolution including the first, z+ on fully
  connected layers (positive weights, bias dropped, stabiliser 1e-9), winner-take-all through
  max-pooling, relevance passed unchanged through ReLUs.
* :func:`epsilon_plus_box_composite` -- the now-standard composite (Montavon et al. 2019,
  Kohlbrenner et al. 2020; zennit's ``EpsilonPlus`` with a box rule at the input): epsilon on
  fully connected layers, alpha1-beta0 (z+ with signed inputs handled) on convolutions, the
  z^B (box) rule on the first convolution (its bias left out of ``z``, as published and in
  zennit). The alpha1-beta0 rule ignores the convolutions'
  biases by default (``conv_bias=True`` keeps them, as zennit's ``ZPlus`` does): after
  canonisation every convolution of EfficientNet-Lite0 carries a folded BatchNorm bias, and
  with biases kept the 49 convolutions pass only a tiny fraction of the score to the pixels.
  :func:`epsilon_plus_flat_composite` uses the flat rule at the input instead.
* :func:`epsilon_composite` -- epsilon everywhere (LRP-0 for epsilon -> 0, which equals
  gradient x input on a ReLU network with max or average pooling, biases or not; the tests
  check it against captum's ``InputXGradient``).

References in the tests: ``tests/test_lrp_zennit.py`` compares every composite with zennit's
rules (VGG-16, AlexNet, canonised EfficientNet-Lite0 with random weights, float64) and the
authors' rules with a layer-by-layer transcription of their notebook.

Pooling layers (average) and residual :class:`~saliency_utils.models.efficientnet_lite.Add` modules
use the epsilon rule in every composite, i.e. relevance is split in proportion to the
contributions (an addition ``a + b`` gives ``R_a = a R / (a + b)``). ``ReLU6`` passes relevance
unchanged like ``ReLU``: its clip at 6 only changes the forward activations, which the next
layer's rule uses as its ``x`` (a neuron clipped at 6 keeps the relevance it receives).

Canonisation (:func:`canonise`): a copy of the network in which every ``BatchNorm2d`` is folded
into the preceding convolution (which gains a bias), in-place activations are made out of place,
and nothing else changes; the output is the same up to float rounding (checked by the tests).
Supported: EfficientNet-Lite0 of this package (BN after every convolution, residual ``Add``
modules) and ``nn.Sequential`` stacks such as torchvision's VGG / AlexNet (no BN there).

Conservation bookkeeping: with ``record=True`` every rule application is logged as a
:class:`LayerRecord` with the summed relevance that entered (``R_out``) and left (``R_in``) the
layer per image, and the sum the rule itself predicts for ``R_in`` (what is left after the bias
and the stabiliser took their share). ``R_in == predicted`` checks the implementation exactly;
``R_in / R_out`` shows how much a layer leaks.
"""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saliency_utils.models.architectures import architecture_of
from saliency_utils.models.efficientnet_lite import Add

__all__ = [
    "Rule", "Epsilon", "ZPlus", "AlphaBeta", "ZBox", "Flat", "Pass", "WinnerTakeAll",
    "authors_composite", "epsilon_composite", "epsilon_plus_box_composite",
    "epsilon_plus_flat_composite", "COMPOSITES",
    "canonise", "fold_batchnorm", "LayerRecord", "LRPResult", "lrp", "relevance_map",
    "authors_heatmap",
]

_STATE = threading.local()  # .inside_rule: hooks are off while a rule re-runs a module

_PASS_TYPES = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Identity, nn.Flatten, nn.LeakyReLU)


def _stabilise(z: torch.Tensor, eps: float) -> torch.Tensor:
    """``z + eps * sign(z)`` (``+0 -> +eps``): never zero for ``eps > 0``."""
    if eps == 0:
        return z
    return z + torch.copysign(torch.tensor(eps, dtype=z.dtype, device=z.device), z)


def _div(R: torch.Tensor, z: torch.Tensor, stabilised: bool = False) -> torch.Tensor:
    """``R / z``; unless the denominator is known to be non-zero (``stabilised``), 0 where
    ``z == 0`` (possible with a zero stabiliser)."""
    if stabilised:
        return R / z
    zero = z == 0
    if not zero.any():
        return R / z
    return torch.where(zero, torch.zeros_like(R), R / torch.where(zero, torch.ones_like(z), z))


def _per_image(t: torch.Tensor) -> torch.Tensor:
    return t.detach().flatten(1).sum(1).double()


def _linear_op(module: nn.Module):
    """``(forward(x, weight, bias), backward(x_shape, weight, s))`` of a conv / linear module,
    the backward being the transposed operation ``W^T s`` (no forward recomputation)."""
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise TypeError(f"LRP rules support Conv2d with numeric zero padding only, got "
                            f"padding={module.padding!r}, padding_mode={module.padding_mode!r}")
        kw = dict(stride=module.stride, padding=module.padding, dilation=module.dilation,
                  groups=module.groups)

        def fwd(x, w, b):
            return F.conv2d(x, w, b, **kw)

        def bwd(shape, w, s):
            # W^T s: the transposed convolution, padded out to the input's size
            ho, wo = s.shape[-2:]
            kh, kw_ = w.shape[-2:]
            (sh, sw), (ph, pw), (dh, dw) = module.stride, module.padding, module.dilation
            op = (shape[-2] - ((ho - 1) * sh - 2 * ph + dh * (kh - 1) + 1),
                  shape[-1] - ((wo - 1) * sw - 2 * pw + dw * (kw_ - 1) + 1))
            return F.conv_transpose2d(s, w, None, module.stride, module.padding, op,
                                      module.groups, module.dilation)
        return fwd, bwd
    if isinstance(module, nn.Linear):
        return (lambda x, w, b: F.linear(x, w, b)), (lambda shape, w, s: (s @ w).reshape(shape))
    raise TypeError(f"this rule needs a Conv2d or Linear module, got {type(module).__name__}")


def _bias(module: nn.Module, z: torch.Tensor) -> torch.Tensor | float:
    b = getattr(module, "bias", None)
    if b is None:
        return 0.0
    return b.view(1, -1, *([1] * (z.ndim - 2))) if z.ndim > 2 else b.view(1, -1)


class Rule:
    """A relevance rule: ``relevance(module, inputs, output, R) -> (R_inputs, predicted_sum)``.

    ``inputs``: the module's input tensors, ``output``: its forward output, ``R``: the relevance
    of the output. Returns one relevance tensor per input (same shapes) and a function giving
    the per-image sum the rule predicts for them (evaluated only when recording; ``None`` if
    the rule makes no prediction).
    """

    name = "rule"
    needs_output = True

    def relevance(self, module, inputs, output, R):  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Pass(Rule):
    """Relevance passes unchanged (activations, dropout, identity, reshapes)."""

    name = "pass"
    needs_output = False

    def relevance(self, module, inputs, output, R):
        if len(inputs) != 1 or inputs[0].numel() != R.numel():
            raise TypeError(f"the pass rule needs one input of the output's size "
                            f"({type(module).__name__})")
        return (R.reshape(inputs[0].shape),), (lambda: _per_image(R))


class WinnerTakeAll(Rule):
    """Max-pooling: all relevance of a pooled value goes to the input that won the max (the
    gradient of the pooling applied to ``R``; ``x_win R / y`` in the authors' code)."""

    name = "winner-take-all"
    needs_output = False

    def relevance(self, module, inputs, output, R):
        (x,) = inputs
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            y = module(xg)
            (g,) = torch.autograd.grad(y, xg, R)
        return (g,), (lambda: _per_image(R))


class Epsilon(Rule):
    """LRP-epsilon: ``R_j = x_j sum_k w_jk R_k / (z_k + eps sign(z_k))``, ``z`` the true output
    (bias included). For any module that is linear in each input (conv, linear, average pooling,
    addition); ``eps -> 0`` is LRP-0. Bias and ``eps`` absorb ``sum_k R_k (b_k + eps sign z_k) /
    (z_k + eps sign z_k)``."""

    def __init__(self, eps: float = 1e-9):
        if not eps >= 0:
            raise ValueError(f"epsilon must be >= 0, got {eps}")
        self.eps = float(eps)
        self.name = f"epsilon({self.eps:g})"

    def relevance(self, module, inputs, output, R):
        s = _div(R, _stabilise(output, self.eps), stabilised=self.eps > 0)
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            (x,) = inputs
            _, bwd = _linear_op(module)
            rel = x * bwd(x.shape, module.weight, s)
            return (rel,), (lambda: _per_image(s * (output - _bias(module, output))))
        xs = [t.detach().requires_grad_(True) for t in inputs]
        with torch.enable_grad():
            z = module(*xs)
            grads = torch.autograd.grad(z, xs, s)
        return tuple(x * g for x, g in zip(xs, grads)), (lambda: _per_image(s * output))


class ZPlus(Rule):
    """The authors' z+ rule for fully connected layers: ``R_j = x_j sum_k w+_jk R_k / z+_k`` with
    ``w+ = max(w, 0)``, ``z+_k = sum_j x_j w+_jk + stabiliser`` and the **bias dropped**. Equal to
    alpha1-beta0 for non-negative inputs (as after a ReLU); negative inputs raise ``ValueError``
    (use :class:`AlphaBeta`)."""

    def __init__(self, stabiliser: float = 1e-9):
        self.stabiliser = float(stabiliser)
        self.name = "z+ (authors: w+, no bias)"
        self.needs_output = False

    def relevance(self, module, inputs, output, R):
        (x,) = inputs
        if (x < 0).any():
            raise ValueError(f"z+ got negative inputs at a {type(module).__name__}; it is meant "
                             "for non-negative (post-ReLU) inputs: use AlphaBeta(1, 0) instead")
        fwd, bwd = _linear_op(module)
        wp = module.weight.clamp(min=0)
        zp = fwd(x, wp, None)
        s = _div(R, zp + self.stabiliser, stabilised=self.stabiliser > 0)
        return (x * bwd(x.shape, wp, s),), (lambda: _per_image(s * zp))


class AlphaBeta(Rule):
    """LRP-alpha-beta with signed inputs (Bach et al. 2015; zennit's ``AlphaBeta``/``ZPlus``):
    positive contributions ``x+ w+`` and ``x- w-`` (with the positive part of the bias) get
    ``alpha`` of the relevance, negative ones ``beta`` (``alpha - beta = 1``). ``AlphaBeta(1, 0)``
    is the z+ rule for any sign of input. ``bias=False`` ignores the bias (then the rule
    conserves relevance exactly, up to the stabiliser)."""

    def __init__(self, alpha: float = 1.0, beta: float = 0.0, stabiliser: float = 1e-6,
                 bias: bool = True):
        if alpha - beta != 1 or beta < 0:
            raise ValueError(f"need alpha - beta = 1 and beta >= 0, got alpha={alpha}, beta={beta}")
        self.alpha, self.beta, self.stabiliser = float(alpha), float(beta), float(stabiliser)
        self.bias = bool(bias)
        self.name = f"alpha{alpha:g}-beta{beta:g}" + ("" if bias else " (no bias)")
        self.needs_output = False

    def _part(self, module, x, R, positive: bool):
        fwd, bwd = _linear_op(module)
        w = module.weight
        wa, wb = (w.clamp(min=0), w.clamp(max=0)) if positive else (w.clamp(max=0), w.clamp(min=0))
        xp, xn = x.clamp(min=0), x.clamp(max=0)
        z_lin = fwd(xp, wa, None) + fwd(xn, wb, None)
        z = z_lin
        if module.bias is not None and self.bias:
            b = module.bias.clamp(min=0) if positive else module.bias.clamp(max=0)
            z = z + b.view(1, -1, *([1] * (z.ndim - 2)))
        s = _div(R, z + (self.stabiliser if positive else -self.stabiliser))
        rel = xp * bwd(x.shape, wa, s) + xn * bwd(x.shape, wb, s)
        return rel, s * z_lin

    def relevance(self, module, inputs, output, R):
        (x,) = inputs
        rel, kept = self._part(module, x, R, True)
        rel, kept = self.alpha * rel, self.alpha * kept
        if self.beta:
            rn, kn = self._part(module, x, R, False)
            rel, kept = rel - self.beta * rn, kept - self.beta * kn
        return (rel,), (lambda: _per_image(kept))


class ZBox(Rule):
    """The z^B rule for the input layer (Montavon et al. 2017): pixels bounded by
    ``low <= x <= high``; ``z_k = sum_j x_j w_jk - l_j w+_jk - h_j w-_jk``,
    ``R_j = (x_j w_jk - l_j w+_jk - h_j w-_jk) R_k / z_k``. ``low``/``high``: scalars or
    per-channel sequences in the network's input space.

    The bias is not part of ``z`` (the published rule; zennit's ``ZBox`` and iNNvestigate's
    bounded rule, whose bias terms cancel): the rule conserves relevance up to the stabiliser.
    ``bias=True`` adds ``b_k`` to ``z_k`` (the bias then absorbs its share, as in LRP-epsilon;
    this package's behaviour before the zennit comparison in ``tests/test_lrp_zennit.py``)."""

    def __init__(self, low, high, stabiliser: float = 1e-6, bias: bool = False):
        self.low = torch.as_tensor(np.asarray(low, dtype=np.float32))
        self.high = torch.as_tensor(np.asarray(high, dtype=np.float32))
        if (self.low >= self.high).any():
            raise ValueError(f"need low < high, got low={low}, high={high}")
        self.stabiliser = float(stabiliser)
        self.bias = bool(bias)
        self.name = "z-box" + (" (with bias)" if bias else "")

    def relevance(self, module, inputs, output, R):
        (x,) = inputs
        fwd, bwd = _linear_op(module)
        shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
        low = torch.broadcast_to(self.low.to(x).reshape(shape if self.low.ndim else ()), x.shape)
        high = torch.broadcast_to(self.high.to(x).reshape(shape if self.high.ndim else ()), x.shape)
        w = module.weight
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        z = fwd(x, w, module.bias if self.bias else None) - fwd(low, wp, None) - fwd(high, wn, None)
        s = _div(R, _stabilise(z, self.stabiliser), stabilised=self.stabiliser > 0)
        rel = x * bwd(x.shape, w, s) - low * bwd(x.shape, wp, s) - high * bwd(x.shape, wn, s)
        return (rel,), (lambda: _per_image(s * (z - (_bias(module, z) if self.bias else 0.0))))


class Flat(Rule):
    """The flat rule: relevance spread uniformly over each output's receptive field
    (``w_jk = 1``, inputs ignored). Conserves relevance exactly."""

    name = "flat"
    needs_output = False

    def relevance(self, module, inputs, output, R):
        (x,) = inputs
        fwd, bwd = _linear_op(module)
        ones_w = torch.ones_like(module.weight)
        ones_x = torch.ones_like(x)
        z = fwd(ones_x, ones_w, None)
        s = _div(R, z)
        return (bwd(x.shape, ones_w, s),), (lambda: _per_image(R))


# -- composites --------------------------------------------------------------------------------

Composite = Callable[[str, nn.Module, bool], "Rule | None"]


def _common(module) -> Rule | None:
    if isinstance(module, _PASS_TYPES):
        return Pass()
    if isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
        return WinnerTakeAll()
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d, Add)):
        return Epsilon(1e-9)
    return None


def authors_composite() -> Composite:
    """Li et al.'s rules: epsilon (1e-9, with bias) on convolutions, z+ (w+, no bias) on fully
    connected layers, winner-take-all max-pooling, pass through activations."""
    def rule(name, module, is_first):
        if isinstance(module, nn.Conv2d):
            return Epsilon(1e-9)
        if isinstance(module, nn.Linear):
            return ZPlus(1e-9)
        return _common(module)
    return rule


def epsilon_composite(eps: float = 1e-9) -> Composite:
    """Epsilon everywhere (LRP-0 for tiny ``eps``)."""
    def rule(name, module, is_first):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return Epsilon(eps)
        return _common(module)
    return rule


def _epsilon_plus(first: Callable[[], Rule], eps: float, conv_bias: bool) -> Composite:
    """Epsilon (``eps``) on fully connected layers, alpha1-beta0 on convolutions (biases
    ignored unless ``conv_bias``), ``first()`` on the first layer."""
    def rule(name, module, is_first):
        if isinstance(module, (nn.Conv2d, nn.Linear)) and is_first:
            return first()
        if isinstance(module, nn.Conv2d):
            return AlphaBeta(1.0, 0.0, bias=conv_bias)
        if isinstance(module, nn.Linear):
            return Epsilon(eps)
        return _common(module)
    return rule


def epsilon_plus_box_composite(low, high, eps: float = 0.25, conv_bias: bool = False) -> Composite:
    """Epsilon (``eps``) on fully connected layers, alpha1-beta0 on convolutions (biases ignored
    unless ``conv_bias``), z^B on the first layer with bounds ``low``/``high`` (the normalised
    values of the darkest and brightest pixel)."""
    return _epsilon_plus(lambda: ZBox(low, high), eps, conv_bias)


def epsilon_plus_flat_composite(eps: float = 0.25, conv_bias: bool = False) -> Composite:
    """As :func:`epsilon_plus_box_composite` with the flat rule at the first layer."""
    return _epsilon_plus(Flat, eps, conv_bias)


COMPOSITES = {
    "authors": "Li et al.'s code: epsilon 1e-9 conv (with bias), z+ fully connected (no bias), "
               "winner-take-all max-pool",
    "epsilon": "epsilon 1e-9 everywhere (LRP-0)",
    "epsilon_plus_box": "epsilon 0.25 fully connected, alpha1-beta0 conv (no bias), z^B first layer",
    "epsilon_plus_flat": "epsilon 0.25 fully connected, alpha1-beta0 conv (no bias), flat first layer",
}


def _composite(composite, low=None, high=None) -> Composite:
    if callable(composite):
        return composite
    if composite == "authors":
        return authors_composite()
    if composite == "epsilon":
        return epsilon_composite()
    if composite == "epsilon_plus_flat":
        return epsilon_plus_flat_composite()
    if composite == "epsilon_plus_box":
        if low is None or high is None:
            raise ValueError("the epsilon_plus_box composite needs the input bounds low and high")
        return epsilon_plus_box_composite(low, high)
    raise ValueError(f"unknown composite {composite!r}; choose one of {', '.join(COMPOSITES)} "
                     "or pass a function (name, module, is_first) -> Rule")


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


# -- the relevance pass ------------------------------------------------------------------------

@dataclass
class LayerRecord:
    """One rule application: module name and type, rule, and per-image sums of the relevance
    entering the layer from above (``r_out``), leaving it downwards (``r_in``, summed over all
    inputs) and predicted by the rule for ``r_in`` (``predicted``)."""

    name: str
    kind: str
    rule: str
    r_out: np.ndarray
    r_in: np.ndarray
    predicted: np.ndarray | None


@dataclass
class LRPResult:
    """``relevance``: ``N x C x H x W`` input relevance (tensor, on the input's device);
    ``logits`` (``N x classes``); ``targets``: explained classes; ``records``: the layers in
    the order the backward pass met them (top first), empty unless ``record=True``;
    ``watched[name]``: per-image sums of the relevance at the watched module's (first) input
    and at its output, ``(below, above)`` (the total over every path that uses the tensor, so
    a residual block's input counts the skip connection too)."""

    relevance: torch.Tensor
    logits: torch.Tensor
    targets: list[int]
    records: list[LayerRecord] = field(default_factory=list)
    watched: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def explained(self) -> np.ndarray:
        """The explained logits ``f_c(x)``, per image (the relevance put in at the top)."""
        t = torch.as_tensor(self.targets, device=self.logits.device).view(-1, 1)
        return self.logits.gather(1, t).view(-1).double().cpu().numpy()

    @property
    def total(self) -> np.ndarray:
        """Sum of the input relevance per image."""
        return _per_image(self.relevance).cpu().numpy()

    def table(self):
        """DataFrame of the records: mean over images of ``r_out``, ``r_in``, their ratio, and
        the largest relative deviation of ``r_in`` from the rule's own prediction."""
        import pandas as pd

        rows = []
        for r in self.records:
            dev = (np.nan if r.predicted is None else
                   float(np.max(np.abs(r.r_in - r.predicted) / np.maximum(np.abs(r.r_out), 1e-12))))
            rows.append({"layer": r.name, "type": r.kind, "rule": r.rule,
                         "sum R above": float(np.mean(r.r_out)), "sum R below": float(np.mean(r.r_in)),
                         "kept (below / above)": float(np.mean(
                             r.r_in / np.where(r.r_out == 0, np.nan, r.r_out))),
                         "max |below - rule's prediction| / |above|": dev})
        return pd.DataFrame(rows)


class _RuleFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rule, module, log, n_in, *tensors):
        inputs, output = tensors[:n_in], tensors[n_in]
        ctx.rule, ctx.module, ctx.log = rule, module, log
        # detached views: the rules need values only (in-place modules are refused)
        ctx.inputs = [t.detach() for t in inputs]
        ctx.output = output.detach() if rule.needs_output else None
        return output.view_as(output)

    @staticmethod
    def backward(ctx, R):
        inputs, output = ctx.inputs, ctx.output
        _STATE.inside_rule = True
        try:
            rels, predicted = ctx.rule.relevance(ctx.module, inputs, output, R)
        finally:
            _STATE.inside_rule = False
        if ctx.log is not None:
            name, records = ctx.log
            r_in = sum(_per_image(r) for r in rels)
            records.append(LayerRecord(name, type(ctx.module).__name__, ctx.rule.name,
                                       _per_image(R).cpu().numpy(), r_in.cpu().numpy(),
                                       None if predicted is None else predicted().cpu().numpy()))
        return (None, None, None, None, *rels, None)


def _check_input(model, x):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError("x must be a float tensor N x C x H x W (normalised input), got "
                         f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    if model.training:
        raise ValueError("put the model in eval mode (model.eval()) before LRP")


def lrp(model: nn.Module, x: torch.Tensor, target=None, composite="authors", *,
        low=None, high=None, record: bool = False, watch: Sequence[str] = ()) -> LRPResult:
    """Input relevance of ``model`` (already :func:`canonise`-d) for ``x``.

    ``target``: ``None`` (each image's top-1 class, as the authors), an int, or one class per
    image. ``composite``: a name of :data:`COMPOSITES` or a function
    ``(name, module, is_first) -> Rule``; ``low``/``high``: input bounds for the z^B rule.
    Relevance at the top is the explained logit, so ``result.total`` is comparable with
    ``result.explained`` (conservation). ``watch``: names of (any) modules whose input and
    output relevance sums to report in ``result.watched``. Raises ``TypeError`` for a leaf module without rule
    (e.g. an unfolded BatchNorm) and ``ValueError`` for in-place activations (canonise first).
    """
    _check_input(model, x)
    rule_of = _composite(composite, low, high)
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    if not leaves:
        raise TypeError("the model has no modules to attach rules to")
    first_param = next((n for n, m in leaves if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    records: list[LayerRecord] = []
    handles = []
    watched: dict[str, list] = {}
    try:
        for name, mod in leaves:
            if getattr(mod, "inplace", False):
                raise ValueError(f"module {name!r} ({type(mod).__name__}) works in place; "
                                 "use lrp.canonise(model) first")
            rule = rule_of(name, mod, name == first_param)
            if rule is None:
                hint = (" fold it into the preceding convolution with lrp.canonise(model)"
                        if isinstance(mod, nn.modules.batchnorm._BatchNorm) else "")
                raise TypeError(f"no LRP rule for module {name!r} of type "
                                f"{type(mod).__name__};{hint or ' give the composite a rule for it'}")
            log = (name, records) if record else None

            def hook(module, inputs, output, rule=rule, log=log):
                if getattr(_STATE, "inside_rule", False):
                    return None
                return _RuleFunction.apply(rule, module, log, len(inputs), *inputs, output)
            handles.append(mod.register_forward_hook(hook))
        # after the rule hooks: a watched leaf's hook then sees the routed output
        for wname in watch:
            wmod = model.get_submodule(wname)  # AttributeError for unknown names

            def whook(module, inputs, output, wname=wname):
                if getattr(_STATE, "inside_rule", False) or not output.requires_grad:
                    return None
                slot = watched.setdefault(wname, [None, None])
                inputs[0].register_hook(lambda g: slot.__setitem__(0, _per_image(g).cpu().numpy()))
                output.register_hook(lambda g: slot.__setitem__(1, _per_image(g).cpu().numpy()))
                return None
            handles.append(wmod.register_forward_hook(whook))
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(xg)
            if logits.ndim != 2:
                raise ValueError(f"the model must return N x classes logits, got "
                                 f"{tuple(logits.shape)}")
            if target is None:
                t = logits.detach().argmax(1)
            else:
                t = torch.as_tensor(np.asarray(target), device=logits.device).long().view(-1)
                if t.numel() == 1:
                    t = t.expand(logits.shape[0])
                if t.numel() != logits.shape[0]:
                    raise ValueError(f"target must be an int or one class per image "
                                     f"({logits.shape[0]}), got {t.numel()}")
                if (t < 0).any() or (t >= logits.shape[1]).any():
                    raise ValueError(f"target classes must be in [0, {logits.shape[1]}), got "
                                     f"{t.tolist()}")
            r0 = torch.zeros_like(logits).scatter_(1, t.view(-1, 1),
                                                   logits.detach().gather(1, t.view(-1, 1)))
            (rel,) = torch.autograd.grad(logits, xg, r0)
    finally:
        for h in handles:
            h.remove()
    return LRPResult(rel.detach(), logits.detach(), [int(v) for v in t.tolist()], records,
                     {k: (v[0], v[1]) for k, v in watched.items()})


def relevance_map(relevance, mode: str = "sum") -> np.ndarray:
    """``N x C x H x W`` relevance -> ``N x H x W`` float32 maps: ``"sum"`` over channels
    (signed, conserves), ``"positive"`` (its positive part), ``"abs"`` (sum of ``|R|`` over
    channels, the authors' heatmap before scaling)."""
    r = relevance.detach().float().cpu() if isinstance(relevance, torch.Tensor) else torch.as_tensor(
        np.asarray(relevance, dtype=np.float32))
    if r.ndim != 4:
        raise ValueError(f"relevance must be N x C x H x W, got shape {tuple(r.shape)}")
    if mode == "sum":
        out = r.sum(1)
    elif mode == "positive":
        out = r.sum(1).clamp(min=0)
    elif mode == "abs":
        out = r.abs().sum(1)
    else:
        raise ValueError(f"mode must be 'sum', 'positive' or 'abs', got {mode!r}")
    return out.numpy().astype(np.float32)


def authors_heatmap(relevance) -> np.ndarray:
    """The heatmap image the authors saved (and presumably fed to the context-aware saliency
    code): per-channel ``|R|``, min-max scaled over the whole ``C x H x W`` tensor, x 255, as
    an RGB ``uint8`` array ``N x H x W x 3`` (their JPEG compression is left out)."""
    r = relevance.detach().float().cpu().numpy() if isinstance(relevance, torch.Tensor) else np.asarray(
        relevance, dtype=np.float32)
    if r.ndim != 4 or r.shape[1] != 3:
        raise ValueError(f"relevance must be N x 3 x H x W, got shape {r.shape}")
    a = np.abs(r)
    lo = a.min(axis=(1, 2, 3), keepdims=True)
    hi = a.max(axis=(1, 2, 3), keepdims=True)
    if np.any(hi <= lo):
        raise ValueError("a relevance tensor is constant: no heatmap")
    img = np.rint((a - lo) / (hi - lo) * 255).astype(np.uint8)
    return np.ascontiguousarray(img.transpose(0, 2, 3, 1))
