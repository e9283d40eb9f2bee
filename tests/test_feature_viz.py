import pytest
import torch
from torch import nn

from saliency_utils.explain.feature_viz import maximise_units
from saliency_utils.analysis.receptive_fields import Unit


def _net():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 2, 5, padding=2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 2, 2] = 1.0   # unit 0 likes a bright red centre pixel
        conv.weight[1, 2, 2, 2] = -1.0  # unit 1 likes a dark blue centre pixel
    act = nn.Identity()
    return nn.Sequential(conv, act, nn.Conv2d(2, 1, 1)), act


def test_maximisation_raises_activation_and_finds_the_preferred_pattern():
    net, act = _net()
    res = maximise_units(net, {"a": act}, [Unit("a", 0), Unit("a", 1)], size=(9, 9), steps=30,
                         lr=0.1, jitter=0, blur_every=0)
    img0, s0, e0 = res[Unit("a", 0)]
    img1, s1, e1 = res[Unit("a", 1)]
    assert e0 > s0 + 1 and e1 > s1 + 1
    assert img0[0, 4, 4] > 1 and img1[2, 4, 4] < -1
    # weight decay keeps the pixels the unit ignores near zero
    assert img0[1].abs().max() < 0.5


def test_deterministic_and_errors():
    net, act = _net()
    a = maximise_units(net, {"a": act}, [Unit("a", 0)], size=(9, 9), steps=5, seed=3)
    b = maximise_units(net, {"a": act}, [Unit("a", 0)], size=(9, 9), steps=5, seed=3)
    assert torch.equal(a[Unit("a", 0)][0], b[Unit("a", 0)][0])
    with pytest.raises(ValueError, match="channels"):
        maximise_units(net, {"a": act}, [Unit("a", 7)], size=(9, 9), steps=1)
    with pytest.raises(ValueError, match="not in modules"):
        maximise_units(net, {"a": act}, [Unit("b", 0)], size=(9, 9), steps=1)
    with pytest.raises(ValueError):
        maximise_units(net, {"a": act}, [Unit("a", 0)], lr=0)
