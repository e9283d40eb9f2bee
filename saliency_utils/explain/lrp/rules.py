"""LRP rules: how one layer passes the relevance of its outputs to its inputs (see the package
docstring, :mod:`saliency_utils.explain.lrp`)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["per_image_sums", "Rule", "Pass", "WinnerTakeAll", "Epsilon", "ZPlus", "AlphaBeta", "ZBox", "Flat"]


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


def per_image_sums(t: torch.Tensor) -> torch.Tensor:
    """Per-image sums of a batch (float64, detached): the conservation bookkeeping's unit."""
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
        return (R.reshape(inputs[0].shape),), (lambda: per_image_sums(R))


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
        return (g,), (lambda: per_image_sums(R))


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
            return (rel,), (lambda: per_image_sums(s * (output - _bias(module, output))))
        xs = [t.detach().requires_grad_(True) for t in inputs]
        with torch.enable_grad():
            z = module(*xs)
            grads = torch.autograd.grad(z, xs, s)
        return tuple(x * g for x, g in zip(xs, grads)), (lambda: per_image_sums(s * output))


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
        return (x * bwd(x.shape, wp, s),), (lambda: per_image_sums(s * zp))


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
        return (rel,), (lambda: per_image_sums(kept))


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
        return (rel,), (lambda: per_image_sums(s * (z - (_bias(module, z) if self.bias else 0.0))))


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
        return (bwd(x.shape, ones_w, s),), (lambda: per_image_sums(R))
