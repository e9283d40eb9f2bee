"""LRP composites: which rule each layer of a network gets (a function
``(name, module, is_first) -> Rule``), Li et al.'s and the now-standard ones."""
from __future__ import annotations

from typing import Callable

from torch import nn

from saliency_utils.explain.lrp.rules import AlphaBeta, Epsilon, Flat, Pass, Rule, WinnerTakeAll, ZBox, ZPlus
from saliency_utils.models.efficientnet_lite import Add

__all__ = ["Composite", "authors_composite", "epsilon_composite", "epsilon_plus_box_composite",
           "epsilon_plus_flat_composite", "COMPOSITES", "resolve_composite"]

#: Layers that pass relevance unchanged in every composite.
PASS_TYPES = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Identity, nn.Flatten, nn.LeakyReLU)

Composite = Callable[[str, nn.Module, bool], "Rule | None"]


def _common(module) -> Rule | None:
    if isinstance(module, PASS_TYPES):
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


def resolve_composite(composite, low=None, high=None) -> Composite:
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
