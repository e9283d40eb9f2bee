"""The book's LRP (``saliency_utils/explain/lrp/``) against two references it does not share code with.

1. **zennit 0.5.1** (a maintained LRP library; a test dependency): VGG-16 and AlexNet from
   torchvision and the book's EfficientNet-Lite0, all with random weights (seeded), for every
   composite the book offers (``epsilon``, ``authors``, ``epsilon_plus_flat``,
   ``epsilon_plus_box``), the ``conv_bias=True`` variant against zennit's own
   ``EpsilonPlusFlat``, and alpha2-beta1 on the convolutions against zennit's ``AlphaBeta``.
2. **The authors' rules written out layer by layer** (no rule code from ``saliency_utils.explain.lrp``):
   LRP-0 on convolutions (true output with bias, ``+ 1e-9``), z+ on fully connected layers
   (positive weights, no bias, ``+ 1e-9``), winner-take-all max-pooling, relevance passed
   through ReLUs, started at the predicted class's logit (``papers.md`` section 3).

Everything runs in float64, so that what is compared is the rules, not float32 rounding.

**Tolerance.** Against zennit: ``max |R_book - R_ref| <= 1e-6 * max |R_ref|`` per input
tensor. In float64 the summation order alone gives differences of about 1e-12 of the largest
value; what remains is stabilisers placed differently (zennit adds ``1e-6`` to the flat rule's
denominators, where the book adds none), measured at up to 5e-8. Against the authors' rules:
``1e-5``, because the authors divide by ``y + 1e-9`` at max-pooling (``R x_win / (y + 1e-9)``)
where the book passes ``R`` on exactly: a relative difference ``1e-9 / y``, measured at 1.1e-6
for the smallest winning activations of the random VGG-16 (conv and linear layers differ only
by ``z + 1e-9`` against ``z + 1e-9 sign(z)``, nothing where relevance is non-zero). A change of
any rule, bias convention or canonisation step moves the maps by 1e-4 or more (the z^B bias
convention below moved them by 4e-4 to 5e-2; epsilon instead of z+ on the dense layers by
far more, checked below), so both tolerances separate rounding from a different rule.

**Conventions normalised before comparing** (each says how the inputs to the two were made
equal; none changes the book's code path):

* Output relevance: the book starts at ``f_c(x)`` on class ``c``; zennit is given the same
  vector (``one_hot(c) * logits``) as its output attribution.
* Biases: torchvision's VGG-16 initialises every bias to 0, which would hide how a rule treats
  biases, so all biases of VGG-16 and AlexNet are redrawn uniformly in ``[-0.05, 0.05]``.
* BatchNorm (EfficientNet-Lite0): the book folds BN into the convolution before it
  (``explain.lrp.canonise``); zennit's ``SequentialMergeBatchNorm`` merges it too but then leaves the
  BN computing ``x / sqrt(1 + eps)`` instead of ``x`` (zennit 0.5.1 resets ``running_var`` to 1
  and keeps ``eps``; EfficientNet's eps is 1e-3, which changed the logits by 7e-4 of the
  largest and the maps by 2e-3 to 1e-1 of max |R| here). The zennit copy therefore gets
  ``running_var + eps`` and ``eps = 0`` (the same function) before zennit merges it, which
  makes its merged BN exactly the identity.
  The BN statistics are randomised so that the folding is not trivial.
* Residual additions: zennit's rules take one input, so on the zennit copy each
  ``Add()(a, b)`` becomes ``zennit.layer.Sum()(stack([a, b], -1))`` with zennit's ``Norm``
  rule (relevance split in proportion to ``a`` and ``b``); the book's ``Add`` uses epsilon
  (1e-9), the same proportional split.
* ReLU / ReLU6: both pass relevance unchanged (zennit's ``Pass`` on its ``Activation`` types).
  Max-pooling: both winner-take-all (zennit: the plain gradient). Average pooling: proportional
  (zennit ``Norm``, book epsilon). In-place ReLUs are made out of place on the zennit copy.
* z+ / alpha1-beta0 on convolutions: the book's default ignores the conv bias; zennit's
  ``ZPlus(zero_params=['bias'])`` does the same, and zennit's default (bias kept, its positive
  part in ``z``) is compared with the book's ``conv_bias=True``.
* z^B bounds are float32 in the book; zennit gets the same float32-rounded values.

Not compared: nothing of the book's LRP path is left out for these networks; the rules'
bookkeeping (``record=True``) is checked in ``tests/test_lrp.py``.

**Finding.** The book's z^B rule added the first layer's bias to its denominator, so the bias
absorbed relevance; zennit's ``ZBox`` (and the published rule, Montavon et al. 2017) has no
bias term. The comparison failed (4e-4 to 5e-2 of the largest |R| on AlexNet, VGG-16 and the
canonised EfficientNet, whose first convolution carries a folded BN bias); ``explain.lrp.ZBox`` now
leaves the bias out by default (``bias=True`` keeps the old behaviour).
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from zennit.attribution import Gradient
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import EpsilonPlusFlat, LayerMapComposite, SpecialFirstLayerMapComposite
from zennit.layer import Sum
from zennit.rules import AlphaBeta, Epsilon, Flat, Norm, Pass, ZBox, ZPlus
from zennit.types import Activation, AvgPool, BatchNorm, Convolution

from saliency_utils.explain import lrp
from saliency_utils.models.architectures import IMAGENET_MEAN, IMAGENET_STD
from saliency_utils.models.backbones import load_backbone
from nets import random_bn_effnet

TOL = 1e-6  # of max |R_ref| against zennit; reason in the module docstring
ORACLE_TOL = 1e-5  # against the authors' rules (their 1e-9 at max-pooling); module docstring
SIZE = {"vgg16": 32, "alexnet": 64}  # the smallest inputs the networks take (AlexNet: 63 px)
COMPOSITES = ["epsilon", "authors", "epsilon_plus_flat", "epsilon_plus_box"]


def _assert_close(ours, ref, tol=TOL):
    scale = float(ref.abs().max())
    assert scale > 0 and torch.isfinite(ours).all()
    diff = float((ours - ref).abs().max())
    assert diff <= tol * scale, f"max |R_book - R_ref| = {diff / scale:.2e} of max |R_ref|"


def _bounds(mean, std):
    """z^B bounds (pixel values 0 and 1 normalised), as float32 values, per channel."""
    low = torch.tensor([(0 - m) / s for m, s in zip(mean, std)], dtype=torch.float32)
    high = torch.tensor([(1 - m) / s for m, s in zip(mean, std)], dtype=torch.float32)
    return low.tolist(), high.tolist()


def _image(size, mean, std, seed=1):
    g = torch.Generator().manual_seed(seed)
    m = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
    return (torch.rand(1, 3, size, size, generator=g, dtype=torch.float64) - m) / s


def _torchvision(name):
    torch.manual_seed(0)
    net = load_backbone(name, weights=None, device="cpu").model
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.bias.uniform_(-0.05, 0.05)
    return net.double().eval()


class _StackSum(nn.Module):
    """``a + b`` as zennit's ``Sum`` over a stacked last axis (zennit's residual form)."""

    def __init__(self):
        super().__init__()
        self.sum = Sum(-1)

    def forward(self, a, b):
        return self.sum(torch.stack([a, b], dim=-1))


def _zennit_copy(net):
    """The network as zennit gets it: a copy, out-of-place activations; for EfficientNet-Lite0
    the residual additions as ``Sum`` modules and BN's eps moved into ``running_var``."""
    m = copy.deepcopy(net).eval()
    for mod in m.modules():
        if hasattr(mod, "inplace"):
            mod.inplace = False
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_var += mod.eps
            mod.eps = 0.0
    for blk in getattr(m, "_blocks", []):
        if blk.has_skip:
            blk.add = _StackSum()
    return m


def _zennit_composite(kind, low=None, high=None, canonise=False):
    """zennit's rules with the book's parameters for the book's composite ``kind``."""
    canonizers = [SequentialMergeBatchNorm()] if canonise else None
    base = [(Activation, Pass()), (Sum, Norm(1e-9)), (AvgPool, Norm(1e-9)), (BatchNorm, Pass())]
    if kind == "epsilon":
        return LayerMapComposite(base + [(Convolution, Epsilon(1e-9)), (nn.Linear, Epsilon(1e-9))],
                                 canonizers=canonizers)
    if kind == "authors":
        return LayerMapComposite(
            base + [(Convolution, Epsilon(1e-9)), (nn.Linear, ZPlus(1e-9, zero_params=["bias"]))],
            canonizers=canonizers)
    layers = base + [(Convolution, ZPlus(1e-6, zero_params=["bias"])), (nn.Linear, Epsilon(0.25))]
    if kind == "epsilon_plus_flat":
        first = [(Convolution, Flat(1e-6))]
    elif kind == "epsilon_plus_box":
        shape = (1, -1, 1, 1)
        first = [(Convolution, ZBox(torch.tensor(low, dtype=torch.float64).view(shape),
                                    torch.tensor(high, dtype=torch.float64).view(shape), 1e-6))]
    else:
        raise ValueError(kind)
    return SpecialFirstLayerMapComposite(layers, first, canonizers=canonizers)


def _zennit_relevance(model, x, targets, composite):
    """zennit's relevance of ``model`` (a :func:`_zennit_copy`) for ``x``, started at the logits
    of ``targets``."""
    onehot = F.one_hot(torch.as_tensor(targets), 1000).to(x)
    with Gradient(model, composite) as attributor:
        _, rel = attributor(x.clone(), lambda out: (out * onehot).detach())
    return rel


@pytest.fixture(scope="module")
def nets():
    """Each network once per module (VGG-16 in float64 is 1 GB): (original, book-canonised,
    zennit copy), built on first use."""
    cache = {}

    def get(name):
        if name not in cache:
            net = random_bn_effnet(double=True) if name == "efficientnet_lite0" else _torchvision(name)
            cache[name] = (net, lrp.canonise(net), _zennit_copy(net))
        return cache[name]
    return get


@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("name", ["vgg16", "alexnet"])
def test_torchvision_networks_match_zennit(nets, name, composite):
    _, can, zmodel = nets(name)
    low, high = _bounds(IMAGENET_MEAN, IMAGENET_STD)
    x = _image(SIZE[name], IMAGENET_MEAN, IMAGENET_STD)
    ours = lrp.lrp(can, x, None, composite, low=low, high=high)
    theirs = _zennit_relevance(zmodel, x, ours.targets, _zennit_composite(composite, low, high))
    _assert_close(ours.relevance, theirs)


@pytest.mark.parametrize("composite", COMPOSITES)
def test_canonised_efficientnet_matches_zennit_with_merged_batchnorm(nets, composite):
    _, can, zmodel = nets("efficientnet_lite0")
    low, high = [-1.0] * 3, [1.0] * 3  # the network's input is (pixel - 0.5) / 0.5, about
    x = _image(32, (127 / 255,) * 3, (128 / 255,) * 3)
    ours = lrp.lrp(can, x, None, composite, low=low, high=high)
    theirs = _zennit_relevance(zmodel, x, ours.targets,
                               _zennit_composite(composite, low, high, canonise=True))
    _assert_close(ours.relevance, theirs)


def test_zennit_merge_batchnorm_leaves_eps_without_the_normalisation_above(nets):
    # why _zennit_copy moves eps: without it zennit's merged network is not the original one
    net, can, _ = nets("efficientnet_lite0")
    x = _image(32, (127 / 255,) * 3, (128 / 255,) * 3)
    with torch.no_grad():
        want = net(x)
        for prepare in (lambda n: copy.deepcopy(n), _zennit_copy):
            m = prepare(net)
            with LayerMapComposite([], canonizers=[SequentialMergeBatchNorm()]).context(m) as merged:
                got = merged(x)
            rel = float((got - want).abs().max() / want.abs().max())
            if prepare is _zennit_copy:
                assert rel < 1e-12
            else:
                assert rel > 1e-5  # eps = 1e-3 left in 49 BN layers
    assert torch.allclose(can(x), want, rtol=0, atol=1e-12 * float(want.abs().max()))


def test_epsilon_plus_flat_with_conv_bias_matches_zennits_own_composite(nets):
    # zennit's EpsilonPlusFlat as shipped (ZPlus keeps the positive part of the bias in z,
    # stabiliser 1e-6) against the book's composite with conv_bias=True. One change: the
    # pooling layers' stabiliser is the book's 1e-9, not zennit's 1e-6 (with 1e-6 the maps
    # differ by up to 1e-6 / the smallest pooled activation, 7e-6 of max |R| here)
    name = "vgg16"
    _, can, zmodel = nets(name)
    x = _image(SIZE[name], IMAGENET_MEAN, IMAGENET_STD)
    ours = lrp.lrp(can, x, None, lrp.epsilon_plus_flat_composite(0.25, conv_bias=True))
    theirs = _zennit_relevance(zmodel, x, ours.targets,
                               EpsilonPlusFlat(epsilon=0.25, layer_map=[(AvgPool, Norm(1e-9))]))
    _assert_close(ours.relevance, theirs)


def test_alpha2_beta1_matches_zennit(nets):
    name = "alexnet"
    _, can, zmodel = nets(name)
    x = _image(SIZE[name], IMAGENET_MEAN, IMAGENET_STD)

    def book(n, module, is_first):
        if isinstance(module, nn.Conv2d):
            return lrp.AlphaBeta(2.0, 1.0)  # bias kept, its positive part with alpha
        if isinstance(module, nn.Linear):
            return lrp.Epsilon(0.25)
        return lrp.epsilon_composite()(n, module, is_first)  # pass, pooling

    ours = lrp.lrp(can, x, None, book)
    base = [(Activation, Pass()), (AvgPool, Norm(1e-9))]
    comp = LayerMapComposite(base + [(Convolution, AlphaBeta(2.0, 1.0, stabilizer=1e-6)),
                                     (nn.Linear, Epsilon(0.25))])
    theirs = _zennit_relevance(zmodel, x, ours.targets, comp)
    _assert_close(ours.relevance, theirs)


def test_zbox_bias_convention_is_what_zennit_disagreed_with(nets):
    # the old convention (bias in z) differs from zennit by far more than the tolerance; the
    # rule's own bookkeeping says where: the first layer no longer passes on all relevance
    name = "alexnet"
    _, can, zmodel = nets(name)
    low, high = _bounds(IMAGENET_MEAN, IMAGENET_STD)
    x = _image(SIZE[name], IMAGENET_MEAN, IMAGENET_STD)

    def with_bias(n, module, is_first):
        if is_first:
            return lrp.ZBox(low, high, bias=True)
        return lrp.epsilon_plus_box_composite(low, high)(n, module, is_first)

    old = lrp.lrp(can, x, None, with_bias, record=True)
    new = lrp.lrp(can, x, None, "epsilon_plus_box", low=low, high=high, record=True)
    theirs = _zennit_relevance(zmodel, x, new.targets, _zennit_composite("epsilon_plus_box", low, high))
    _assert_close(new.relevance, theirs)
    with pytest.raises(AssertionError):
        _assert_close(old.relevance, theirs)
    first_old, first_new = old.records[-1], new.records[-1]
    assert first_new.name == first_old.name == "features.0"
    kept_new = abs(first_new.r_in[0] / first_new.r_out[0] - 1)
    kept_old = abs(first_old.r_in[0] / first_old.r_out[0] - 1)
    assert kept_new < 1e-6 and kept_old > 100 * kept_new  # the stabiliser vs the bias's share


# -- the authors' rules, written out layer by layer ----------------------------------------------

def _layers(net):
    """The sequence of layers a torchvision VGG / AlexNet (or an nn.Sequential) applies."""
    if isinstance(net, nn.Sequential):
        return list(net)
    return [*net.features, net.avgpool, nn.Flatten(), *net.classifier]


def _authors_oracle(net, x, unpool="sum"):
    """Li et al.'s rules as their notebook defines them (papers.md section 3), for a sequential
    net, without saliency_utils.explain.lrp: forward with the activations kept, then backwards

    * Linear, z+: ``z_k = sum_j x_j w+_jk + 1e-9``, ``R_j = x_j sum_k w+_jk R_k / z_k``, no bias;
    * Conv2d, LRP-0: ``z = conv(x) + b + 1e-9``, ``R = x * W^T (R / z)`` (``W^T`` as the gradient
      of the convolution, the tutorial's trick; the authors use conv_transpose2d);
    * MaxPool2d, winner-take-all: ``R = x * unpool(R / (y + 1e-9))`` at the argmax. ``unpool``:
      ``"sum"`` adds where one input wins two overlapping windows (AlexNet's 3x3 / 2 pooling),
      ``"scatter"`` is torch's ``max_unpool2d``, which keeps one of them;
    * AdaptiveAvgPool2d (not in the authors' torchvision, identity at 224 px; at the small inputs
      here it replicates the last map): LRP-0, ``z + 1e-9``;
    * ReLU, Dropout: relevance unchanged; Flatten: a reshape.

    Relevance starts at the predicted class's logit (output x one-hot of the argmax)."""
    layers = _layers(net)
    acts, pool_idx = [x], {}
    with torch.no_grad():
        for i, layer in enumerate(layers):
            a = acts[-1]
            if isinstance(layer, nn.Conv2d):
                a = F.conv2d(a, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation,
                             layer.groups)
            elif isinstance(layer, nn.Linear):
                a = a @ layer.weight.T + layer.bias
            elif isinstance(layer, nn.ReLU):
                a = a.clamp(min=0)
            elif isinstance(layer, nn.MaxPool2d):
                a, pool_idx[i] = F.max_pool2d(a, layer.kernel_size, layer.stride, layer.padding,
                                              layer.dilation, layer.ceil_mode, return_indices=True)
            elif isinstance(layer, nn.AdaptiveAvgPool2d):
                a = F.adaptive_avg_pool2d(a, layer.output_size)
            elif isinstance(layer, nn.Flatten):
                a = a.flatten(1)
            elif not isinstance(layer, nn.Dropout):
                raise TypeError(type(layer).__name__)
            acts.append(a)
    logits = acts[-1]
    target = logits.argmax(1)
    R = logits * F.one_hot(target, logits.shape[1]).to(logits)
    for i in reversed(range(len(layers))):
        layer, a, y = layers[i], acts[i], acts[i + 1]
        if isinstance(layer, nn.Linear):
            wp = layer.weight.clamp(min=0)
            R = a * ((R / (a @ wp.T + 1e-9)) @ wp)
        elif isinstance(layer, (nn.Conv2d, nn.AdaptiveAvgPool2d)):
            ai = a.clone().requires_grad_(True)
            with torch.enable_grad():
                if isinstance(layer, nn.Conv2d):
                    out = F.conv2d(ai, layer.weight, None, layer.stride, layer.padding,
                                   layer.dilation, layer.groups)
                else:
                    out = F.adaptive_avg_pool2d(ai, layer.output_size)
                (c,) = torch.autograd.grad(out, ai, R / (y + 1e-9))
            R = a * c
        elif isinstance(layer, nn.MaxPool2d):
            s, idx = (R / (y + 1e-9)).flatten(2), pool_idx[i].flatten(2)
            if unpool == "sum":
                c = torch.zeros_like(a).flatten(2).scatter_add_(2, idx, s).view_as(a)
            else:
                c = F.max_unpool2d(R / (y + 1e-9), pool_idx[i], layer.kernel_size, layer.stride,
                                   layer.padding, a.shape[-2:])
            R = a * c
        elif isinstance(layer, nn.Flatten):
            R = R.view_as(a)
    return R, target.tolist()


class _SmallNet(nn.Sequential):
    """conv-relu-maxpool (overlapping, 3 / 2)-conv-relu-maxpool (2 / 2)-flatten-fc-relu-fc,
    with biases of both signs."""

    def __init__(self):
        torch.manual_seed(0)
        super().__init__(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
                         nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(12 * 3 * 3, 20), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(20, 7))
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.bias.uniform_(-0.3, 0.3)
        self.double().eval()


def test_authors_rules_match_the_written_out_oracle_on_a_small_net():
    net = _SmallNet()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, 15, 15, generator=g, dtype=torch.float64)
    ref, targets = _authors_oracle(net, x)
    can = lrp.canonise(net)
    ours = lrp.lrp(can, x, None, "authors")
    assert ours.targets == targets
    for b in range(x.shape[0]):
        _assert_close(ours.relevance[b], ref[b], ORACLE_TOL)
    # the comparison can fail: LRP-epsilon on the dense layers instead of z+ is far outside it
    with pytest.raises(AssertionError):
        _assert_close(lrp.lrp(can, x, None, "epsilon").relevance[0], ref[0], ORACLE_TOL)


@pytest.mark.parametrize("name", ["alexnet", "vgg16"])
def test_authors_rules_match_the_written_out_oracle_on_torchvision_networks(nets, name):
    net, can, _ = nets(name)
    x = _image(SIZE[name], IMAGENET_MEAN, IMAGENET_STD)
    ref, targets = _authors_oracle(net, x)
    ours = lrp.lrp(can, x, None, "authors")
    assert ours.targets == targets
    _assert_close(ours.relevance, ref, ORACLE_TOL)
    if name == "alexnet":
        # AlexNet's pooling windows overlap: a literal max_unpool2d (which keeps one of two
        # values where an input wins two windows) would give other maps; the book, zennit and
        # captum add them (the gradient), which conserves relevance
        scattered, _ = _authors_oracle(net, x, unpool="scatter")
        assert float((scattered - ref).abs().max()) > 1e-3 * float(ref.abs().max())
