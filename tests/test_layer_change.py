import copy

import numpy as np
import pytest
import torch
from torch import nn

from saliency_utils.analysis.cka import CKAAccumulator, layer_cka, linear_cka
from saliency_utils.models.efficientnet_lite import EfficientNetLite0
from saliency_utils.analysis.layer_change import conv_groups, paired_outputs, weight_change


def test_conv_groups_efficientnet_cover_every_conv():
    torch.manual_seed(0)
    enc = EfficientNetLite0()
    g = conv_groups(enc, "efficientnet_lite0")
    assert list(g)[0] == "stem" and list(g)[-1] == "head"
    assert [k for k in g if k.startswith("block")] == [f"block{i}" for i in range(16)]
    n_conv = sum(isinstance(m, nn.Conv2d) for m in enc.modules())
    assert sum(len(v) for v in g.values()) == n_conv


def test_conv_groups_vgg16():
    import torchvision
    vgg = torchvision.models.vgg16(weights=None).features
    g = conv_groups(vgg, "vgg16")
    assert list(g) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
                       "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2",
                       "conv5_3"]
    assert g["conv1_1"] == ["0"] and g["conv5_3"] == ["28"]


def test_weight_change_known_values():
    a = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.Conv2d(1, 1, 1, bias=False))
    with torch.no_grad():
        a[0].weight.fill_(2.0); a[1].weight.fill_(1.0)
    b = copy.deepcopy(a)
    with torch.no_grad():
        b[0].weight.fill_(3.0)  # |3-2|/2 = 0.5
    out = weight_change(a, b, {"first": ["0"], "second": ["1"], "both": ["0", "1"]})
    assert out["first"] == pytest.approx(0.5)
    assert out["second"] == 0.0
    assert out["both"] == pytest.approx(1 / np.sqrt(5))
    with pytest.raises(ValueError, match="missing"):
        weight_change(a, b, {"x": ["7"]})


def test_cka_accumulator_matches_batch_cka():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 5)), rng.normal(size=(100, 3)) + rng.normal(size=(100, 1))
    acc = CKAAccumulator()
    for s in range(0, 100, 17):
        acc.update(x[s:s + 17], y[s:s + 17])
    assert acc.value() == pytest.approx(linear_cka(x, y), rel=1e-9)
    with pytest.raises(ValueError):
        CKAAccumulator().value()
    const = CKAAccumulator()
    const.update(np.ones((5, 2)), rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="constant"):
        const.value()


def test_layer_cka_identical_and_perturbed_networks():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                        nn.ReLU())
    other = copy.deepcopy(net)
    with torch.no_grad():
        other[2].weight.add_(torch.randn_like(other[2].weight))
    x = torch.randn(6, 3, 12, 12)
    mods = lambda m: {"l1": m[1], "l2": m[3]}
    twin = copy.deepcopy(net)
    same = layer_cka(paired_outputs(net, twin, x, mods(net), mods(twin)))
    assert same["l1"] == pytest.approx(1.0) and same["l2"] == pytest.approx(1.0)
    diff = layer_cka(paired_outputs(net, other, x, mods(net), mods(other), batch_size=4))
    assert diff["l1"] == pytest.approx(1.0) and diff["l2"] < 0.99
    # batches streamed or all at once, and per-image lists: the same number as linear_cka
    outs = list(paired_outputs(net, other, x, mods(net), mods(other), batch_size=6))
    a, b = outs[0]
    assert diff == pytest.approx({n: linear_cka(a[n], b[n]) for n in a}, rel=1e-9)
    per_image = [({n: list(a[n]) for n in a}, {n: list(b[n]) for n in b})]
    assert layer_cka(per_image) == pytest.approx(diff, rel=1e-9)
    with pytest.raises(ValueError, match="same layer names"):
        list(paired_outputs(net, other, x, mods(net), {"l1": other[1]}))
    with pytest.raises(ValueError, match="same layer names"):
        layer_cka([({"l1": a["l1"]}, {"l2": b["l2"]})])
    with pytest.raises(ValueError, match="spatial sizes"):
        layer_cka([({"l1": a["l1"]}, {"l1": a["l1"][:, :, :6]})])
    with pytest.raises(ValueError, match="no activations"):
        layer_cka([])
