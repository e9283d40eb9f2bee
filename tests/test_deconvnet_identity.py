"""Simonyan et al. (2014) sec. 4, tested as the identity it is: for a network of convolutions,
ReLUs and max-pooling, Zeiler & Fergus's DeconvNet reconstruction equals the gradient of the class
score except at the ReLUs. Checked on a small conv/ReLU/max-pooling net and on random-weight
VGG-16 and AlexNet; negative controls (a SiLU or ReLU6 in the network, shuffled pooling switches)
show that the check can fail."""
import numpy as np
import pytest
import torch
from captum.attr import Deconvolution, Saliency
from torch import nn

from saliency_utils.explain import attribution as A
from saliency_utils.models.backbones import load_backbone

TOL = A.IDENTITY_TOLERANCE


def small_net(act=nn.ReLU, seed=0):
    """conv - ReLU - max-pool - conv - act - max-pool - linear - ReLU - linear (16x16 input)."""
    return A.conv_relu_maxpool_net(16, 10, act, seed)


def images(n, size, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def assert_identity(res: A.DeconvIdentity, n: int):
    assert res.holds.shape == (n,) and res.holds.all(), res
    assert np.all(res.identity_difference <= TOL)
    # the ReLU rule matters: on a ReLU network the DeconvNet is not the gradient
    assert np.all(res.gradient_vs_deconvnet > 1e-2), res


def test_identity_holds_on_a_small_conv_relu_maxpool_net(one_thread):
    net = small_net()
    res = A.deconvnet_identity(net, images(3, 16))
    assert_identity(res, 3)
    assert res.targets == tuple(net(images(3, 16)).argmax(1).tolist())


# the smallest inputs that pass through every pooling (VGG-16: 32 px; AlexNet: 64 px); one
# VGG-16 image keeps the test within seconds on 2 CPU cores
@pytest.mark.parametrize("name,size,n", [("vgg16", 32, 1), ("alexnet", 64, 2)])
def test_identity_holds_on_random_weight_torchvision_networks(name, size, n):
    torch.manual_seed(0)
    bb = load_backbone(name, weights=None, device="cpu")
    x = images(n, size)
    assert_identity(A.deconvnet_identity(bb.model, x), n)
    # the model is unchanged (the ReLUs were swapped back) and the maps are captum's
    assert all(type(m) is not A._DeconvRuleReLU for m in bb.model.modules())


def test_float64_copy_leaves_the_model_alone_and_float32_is_close(one_thread):
    net = small_net()
    x = images(2, 16)
    r64 = A.deconvnet_identity(net, x)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert np.all(r64.identity_difference < 1e-12)  # float64: rounding only
    r32 = A.deconvnet_identity(net, x, dtype=None)  # the model's own precision
    assert r32.holds.all()
    np.testing.assert_allclose(r32.gradient_vs_deconvnet, r64.gradient_vs_deconvnet, rtol=1e-4)
    with pytest.raises(ValueError, match="dtype"):
        A.deconvnet_identity(net, x, dtype=torch.int64)


def test_reconstruction_against_a_hand_computed_reference(one_thread):
    """Two-layer net: DeconvNet = max(w2[c], 0) @ w1; with the gradient's rule it is
    (w2[c] * [w1 x + b1 > 0]) @ w1, the gradient."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 4)).eval()
    x = images(2, 2)
    w1, b1, w2 = net[1].weight, net[1].bias, net[3].weight
    zf = A.zeiler_fergus_reconstruction(net, x, 2).flatten(1)
    torch.testing.assert_close(zf, (w2[2].clamp(min=0) @ w1).expand(2, -1))
    zg = A.zeiler_fergus_reconstruction(net, x, 2, relu_rule="gradient").flatten(1)
    pre = x.flatten(1) @ w1.T + b1
    torch.testing.assert_close(zg, (w2[2] * (pre > 0)) @ w1)
    sal = Saliency(net).attribute(x.clone().requires_grad_(True), target=2, abs=False)
    torch.testing.assert_close(zg, sal.flatten(1))


def test_overlapping_pooling_sums_at_shared_switches(one_thread):
    """AlexNet's 3x3 stride-2 pooling: two windows can pick the same input; backpropagation
    adds both signals there, and so must the unpooling (max_unpool2d would overwrite one)."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(3, 2), nn.Flatten(),
                        nn.Linear(2 * 3 * 3, 3)).eval()
    x = images(1, 7)[:, :1]
    zf = A.zeiler_fergus_reconstruction(net, x, 1, relu_rule="gradient")
    g = Saliency(net).attribute(x.clone().requires_grad_(True), target=1, abs=False)
    torch.testing.assert_close(zf, g)


@pytest.mark.parametrize("act", [nn.SiLU, nn.ReLU6])
def test_negative_control_other_nonlinearity(act, one_thread):
    """With a SiLU or ReLU6 in the chain, the DeconvNet rectifies there too while the gradient
    'except at the ReLU' keeps that layer's derivative: the identity must fail."""
    res = A.deconvnet_identity(small_net(act), images(3, 16))
    assert not res.holds.any(), res
    assert np.all(res.deconvnet_vs_relu_rule_gradient > 1e-2)
    # the switches and transposes still are backpropagation
    assert np.all(res.gradient_rule_deconvnet_vs_gradient <= TOL)


def test_negative_control_shuffled_switches(one_thread):
    res = A.deconvnet_identity(small_net(), images(3, 16), shuffle_switches=True)
    assert not res.holds.any(), res
    assert np.all(res.gradient_rule_deconvnet_vs_gradient > 1e-2)


def test_gradient_with_relu_rule_matches_captum_and_restores_the_model(one_thread):
    net = small_net()
    x = images(2, 16)
    before = [type(m) for m in net.modules()]
    rule = A.gradient_with_relu_rule(net, x, 5)
    assert [type(m) for m in net.modules()] == before
    dc = Deconvolution(net).attribute(x.clone().requires_grad_(True), target=5)
    torch.testing.assert_close(rule, dc)
    plain = A.gradient_with_relu_rule(net, x, 5, relu_rule="gradient")
    sal = Saliency(net).attribute(x.clone().requires_grad_(True), target=5, abs=False)
    torch.testing.assert_close(plain, sal)
    assert not torch.allclose(rule, plain)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))

    def forward(self, x):
        return self.head(x + torch.relu(self.conv(x)))


def test_bad_input_fails_clearly(one_thread):
    net = small_net()
    x = images(2, 16)
    with pytest.raises(ValueError, match="not a chain"):
        A.deconvnet_identity(Residual().eval(), images(1, 8))
    with pytest.raises(ValueError, match="relu_rule"):
        A.zeiler_fergus_reconstruction(net, x, 0, relu_rule="guided")
    with pytest.raises(ValueError, match="at least 2 images"):
        A.zeiler_fergus_reconstruction(net, x[:1], 0, shuffle_switches=True)
    with pytest.raises(ValueError, match="eval mode"):
        A.deconvnet_identity(small_net().train(), x)
    with pytest.raises(ValueError, match="tolerance"):
        A.deconvnet_identity(net, x, tolerance=0)
    with pytest.raises(ValueError, match="out of range"):
        A.zeiler_fergus_reconstruction(net, x, 10)
    up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()
    with pytest.raises(ValueError, match="multiple of 4"):
        A.conv_relu_maxpool_net(input_size=18)
    with pytest.raises(ValueError, match="Upsample is not supported"):
        A.zeiler_fergus_reconstruction(up, images(1, 4), 0)
