"""Layer-wise relevance propagation (LRP; Bach et al. 2015) with explicit rules.

LRP explains one output score ``f_c(x)`` by passing it backwards through the network, layer by
layer, as *relevance* ``R``: a layer's rule splits the relevance of each output neuron among the
inputs that contributed to it. Most rules are of the form ``R_j = x_j sum_k w'_jk R_k / z'_k``
with a modified weight ``w'`` and ``z'_k = sum_j x_j w'_jk (+ b'_k)``; they **conserve**
relevance (``sum_j R_j = sum_k R_k``) except for what the bias and the stabiliser absorb.
The book's maps of the relevance (each composite, reduced over colour channels, and the SR maps
of it) come from :func:`saliency_utils.explain.api.explain` (method ``"lrp"`` or ``"sr"``);
:func:`lrp` here is the pass itself, for what is not a map (conservation, per-layer records).

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

Modules: :mod:`.rules` (the rules), :mod:`.composites` (rule per layer), :mod:`.canonizers`
(BatchNorm folding), :mod:`.core` (the relevance pass, its result and the maps made from it).
"""
from __future__ import annotations

from saliency_utils.explain.lrp.canonizers import canonise, fold_batchnorm, is_canonical
from saliency_utils.explain.lrp.composites import (COMPOSITES, authors_composite, epsilon_composite,
                                                   epsilon_plus_box_composite,
                                                   epsilon_plus_flat_composite)
from saliency_utils.explain.lrp.core import LayerRecord, LRPResult, authors_heatmap, lrp, relevance_map
from saliency_utils.explain.lrp.rules import (AlphaBeta, Epsilon, Flat, Pass, Rule, WinnerTakeAll, ZBox,
                                              ZPlus)

__all__ = [
    "Rule", "Epsilon", "ZPlus", "AlphaBeta", "ZBox", "Flat", "Pass", "WinnerTakeAll",
    "authors_composite", "epsilon_composite", "epsilon_plus_box_composite",
    "epsilon_plus_flat_composite", "COMPOSITES",
    "canonise", "fold_batchnorm", "is_canonical", "LayerRecord", "LRPResult", "lrp", "relevance_map",
    "authors_heatmap",
]
