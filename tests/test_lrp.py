"""LRP rules, composites and canonisation: known answers, conservation, references."""
import numpy as np
import pytest
import torch
from torch import nn

from saliency_utils.explain import lrp

from nets import SmallVGG, random_bn_effnet



def _x(n=3, size=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g)


def _input_x_gradient(model, x, targets):
    """captum's InputXGradient as the reference."""
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(x.clone(), target=list(targets)).detach()


# -- references --------------------------------------------------------------------------------

# LRP-0 is gradient x input on any ReLU net with max/avg pooling (a bias only changes z);
# without biases the two agree to tighter tolerances.
@pytest.mark.parametrize("bias, rtol, atol_frac", [(False, 1e-4, 1e-6), (True, 1e-3, 1e-5)])
def test_lrp0_equals_input_x_gradient(bias, rtol, atol_frac):
    net = SmallVGG(bias=bias)
    x = _x()
    res = lrp.lrp(net, x, None, "epsilon")
    ixg = _input_x_gradient(net, x, res.targets)
    assert torch.allclose(res.relevance, ixg, rtol=rtol, atol=atol_frac * float(ixg.abs().max()))


def test_authors_rules_match_captum_lrp():
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule

    net = SmallVGG(bias=True)
    x = _x()
    ours = lrp.lrp(lrp.canonise(net), x, None, "authors")
    ref_net = SmallVGG(bias=True)
    for m in ref_net.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d)):
            m.rule = EpsilonRule(1e-9)
        elif isinstance(m, nn.Linear):
            m.rule = Alpha1_Beta0_Rule(set_bias_to_zero=True)
    theirs = LRP(ref_net).attribute(x.clone(), target=ours.targets)
    assert torch.allclose(ours.relevance, theirs, rtol=1e-3, atol=1e-5 * float(theirs.abs().max()))


def test_zplus_hand_computed_two_layer_case():
    # x = (1, 2); hidden h = relu(W1 x), W1 = [[1, -1], [2, 1]] -> pre (-1, 4) -> h = (0, 4)
    # out = W2 h with W2 = [[0.5, 1], [1, -1]] -> (4, -4); explain class 0 (R = 4)
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False)).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0]]))
        net[2].weight.copy_(torch.tensor([[0.5, 1.0], [1.0, -1.0]]))
    x = torch.tensor([[1.0, 2.0]])

    # a 2-D input: wrap to the N x C x H x W interface
    class Wrap(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x4):
            return self.inner(x4.flatten(1))

    def zplus_everywhere(name, module, is_first):
        return lrp.ZPlus(0.0) if isinstance(module, nn.Linear) else lrp.Pass()

    res = lrp.lrp(Wrap(net).eval(), x.view(1, 2, 1, 1), 0, zplus_everywhere)
    # top layer: w+ of class 0 = (0.5, 1), h = (0, 4): z+ = 4, R_h = (0, 4)
    # bottom: R_h2 = 4 goes to x by x_j w+_2j = (1*2, 2*1) = (2, 2) / 4 -> (2, 2)
    assert res.relevance.view(-1).tolist() == pytest.approx([2.0, 2.0])
    assert res.explained[0] == pytest.approx(4.0)


def test_zbox_and_flat_known_answer_on_one_linear_layer():
    lin = nn.Linear(2, 1, bias=False).eval()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0]]))

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x4):
            return self.lin(x4.flatten(1))

    x = torch.tensor([[0.5, -0.25]]).view(1, 2, 1, 1)
    # z^B with l = -1, h = 1: per-input terms x w - l w+ - h w- = (0.5 + 1, 0.5 + 2) = (1.5, 2.5)
    res = lrp.lrp(Wrap().eval(), x, 0, lambda n, m, f: lrp.ZBox(-1.0, 1.0, stabiliser=0.0))
    out = 0.5 * 1 + (-0.25) * (-2)  # = 1
    assert res.relevance.view(-1).tolist() == pytest.approx([out * 1.5 / 4, out * 2.5 / 4])
    flat = lrp.lrp(Wrap().eval(), x, 0, lambda n, m, f: lrp.Flat())
    assert flat.relevance.view(-1).tolist() == pytest.approx([0.5, 0.5])


# -- conservation ------------------------------------------------------------------------------

@pytest.mark.parametrize("composite", ["authors", "epsilon", "epsilon_plus_flat", "epsilon_plus_box"])
def test_conservation_without_biases(composite):
    net = SmallVGG(bias=False)
    x = _x(n=4)
    res = lrp.lrp(net, x, None, composite, low=-4.0, high=4.0, record=True)
    if composite.startswith("epsilon_plus"):
        # epsilon 0.25 at the dense layers absorbs relevance; everything below conserves
        below_dense = [r for r in res.records if r.kind != "Linear" and r.name != "classifier.1"]
        for r in below_dense:
            np.testing.assert_allclose(r.r_in, r.r_out, rtol=1e-4, atol=1e-7)
    else:
        np.testing.assert_allclose(res.total, res.explained, rtol=1e-4)
        for r in res.records:
            np.testing.assert_allclose(r.r_in, r.r_out, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("composite", ["authors", "epsilon", "epsilon_plus_flat", "epsilon_plus_box"])
def test_each_layer_matches_its_rules_prediction_with_biases(composite):
    net = SmallVGG(bias=True)
    res = lrp.lrp(net, _x(n=2), None, composite, low=-4.0, high=4.0, record=True)
    assert len(res.records) == 10  # every leaf module met once
    for r in res.records:
        assert r.predicted is not None
        np.testing.assert_allclose(r.r_in, r.predicted, rtol=1e-4,
                                   atol=1e-6 * max(1.0, float(np.abs(r.r_out).max())))
    # the top layer receives exactly the explained logit
    np.testing.assert_allclose(res.records[0].r_out, res.explained, rtol=1e-6)


def test_biases_make_conservation_fail_and_the_record_shows_it():
    net = SmallVGG(bias=True)
    with torch.no_grad():
        net.features[0].bias.fill_(3.0)  # a large positive bias absorbs relevance
    res = lrp.lrp(net, _x(n=2), None, "epsilon", record=True)
    first = [r for r in res.records if r.name == "features.0"][0]
    assert np.all(np.abs(first.r_in - first.r_out) > 1e-3 * np.abs(first.r_out))


# -- canonisation ------------------------------------------------------------------------------

def test_fold_batchnorm_is_exact():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    bn = nn.BatchNorm2d(6, eps=1e-3)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.2, 3)
    bn.weight.data.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 4, 7, 7)
    assert torch.allclose(lrp.fold_batchnorm(conv, bn)(x), bn(conv(x)), atol=1e-5)
    with pytest.raises(ValueError, match="channels"):
        lrp.fold_batchnorm(conv, nn.BatchNorm2d(5))
    with pytest.raises(TypeError):
        lrp.fold_batchnorm(nn.Linear(2, 2), bn)


def test_canonised_efficientnet_same_output_no_batchnorm_and_lrp_consistent():
    net = random_bn_effnet(num_classes=10)
    can = lrp.canonise(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in can.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # original untouched
    x = _x(n=2, size=64)
    with torch.no_grad():
        assert torch.allclose(can(x), net(x), atol=1e-4 * net(x).abs().max())
    for composite in ["authors", "epsilon_plus_box"]:
        res = lrp.lrp(can, x, None, composite, low=-1.0, high=1.0, record=True)
        assert torch.isfinite(res.relevance).all()
        adds = [r for r in res.records if r.kind == "Add"]
        assert len(adds) == 9  # the residual blocks of EfficientNet-Lite0
        for r in adds:  # proportional split conserves up to the tiny stabiliser
            np.testing.assert_allclose(r.r_in, r.r_out, rtol=1e-4, atol=1e-6)
        for r in res.records:
            np.testing.assert_allclose(r.r_in, r.predicted, rtol=2e-3,
                                       atol=1e-5 * max(1.0, float(np.abs(r.r_out).max())))


def test_torchvision_alexnet_layout_runs_after_canonise():
    tvm = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    net = tvm.alexnet(weights=None).eval()
    with pytest.raises(ValueError, match="in place"):
        lrp.lrp(net, _x(n=1, size=64), None, "authors")
    can = lrp.canonise(net)
    res = lrp.lrp(can, _x(n=1, size=64), None, "authors", record=True)
    assert torch.isfinite(res.relevance).all()
    kinds = {r.kind for r in res.records}
    assert {"Conv2d", "MaxPool2d", "Linear", "ReLU", "Dropout"} <= kinds


# -- bad input ---------------------------------------------------------------------------------

def test_unfolded_batchnorm_and_other_errors():
    net = random_bn_effnet(num_classes=10)
    x = _x(n=1, size=32)
    with pytest.raises(TypeError, match="canonise"):
        lrp.lrp(net, x, None, "authors")
    can = lrp.canonise(net)
    with pytest.raises(ValueError, match="N x C x H x W"):
        lrp.lrp(can, x[0], None)
    with pytest.raises(ValueError, match="NaN"):
        lrp.lrp(can, x * float("nan"))
    with pytest.raises(ValueError, match="target classes"):
        lrp.lrp(can, x, 10)
    with pytest.raises(ValueError, match="one class per image"):
        lrp.lrp(can, x, [1, 2])
    with pytest.raises(ValueError, match="unknown composite"):
        lrp.lrp(can, x, None, "nope")
    with pytest.raises(ValueError, match="low and high"):
        lrp.lrp(can, x, None, "epsilon_plus_box")
    can.train()
    with pytest.raises(ValueError, match="eval"):
        lrp.lrp(can, x)


def test_zplus_refuses_negative_inputs():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    with pytest.raises(ValueError, match="non-negative"):
        lrp.lrp(lin, -torch.ones(1, 3, 2, 2), 0, "authors")


def test_rule_parameter_errors():
    with pytest.raises(ValueError):
        lrp.Epsilon(-1)
    with pytest.raises(ValueError):
        lrp.AlphaBeta(2, 0)
    with pytest.raises(ValueError):
        lrp.ZBox(1.0, 0.0)


def test_relevance_map_and_authors_heatmap():
    r = torch.zeros(2, 3, 4, 5)
    r[0, 0, 1, 2] = -2.0
    r[0, 1, 1, 2] = 1.0
    r[1, 2, 0, 0] = 3.0
    s = lrp.relevance_map(r, "sum")
    assert s.shape == (2, 4, 5) and s[0, 1, 2] == -1.0
    assert lrp.relevance_map(r, "positive")[0, 1, 2] == 0.0
    assert lrp.relevance_map(r, "abs")[0, 1, 2] == 3.0
    hm = lrp.authors_heatmap(r)
    assert hm.shape == (2, 4, 5, 3) and hm.dtype == np.uint8
    assert hm[0, 1, 2].tolist() == [255, 128, 0] and hm[1, 0, 0, 2] == 255
    with pytest.raises(ValueError, match="constant"):
        lrp.authors_heatmap(torch.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        lrp.relevance_map(r, "max")


def test_watched_modules_report_relevance_at_their_input_and_output():
    net = SmallVGG(bias=True)
    res = lrp.lrp(net, _x(n=2), None, "authors", record=True,
                  watch=["features", "classifier", "classifier.0"])
    below_f, above_f = res.watched["features"]
    np.testing.assert_allclose(below_f, res.total, rtol=1e-5)
    np.testing.assert_allclose(res.watched["classifier"][1], res.explained, rtol=1e-6)
    fc0 = [r for r in res.records if r.name == "classifier.0"][0]
    np.testing.assert_allclose(res.watched["classifier.0"][0], fc0.r_in, rtol=1e-6)
    np.testing.assert_allclose(above_f, fc0.r_in, rtol=1e-6)


def test_alphabeta_without_bias_conserves_with_biases_present():
    net = SmallVGG(bias=True)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.fill_(0.5)
    x = _x(n=2)
    keep = lrp.lrp(net, x, None, lrp.epsilon_plus_box_composite(-4, 4, conv_bias=True), record=True)
    drop = lrp.lrp(net, x, None, lrp.epsilon_plus_box_composite(-4, 4, conv_bias=False), record=True)
    conv = lambda res: [r for r in res.records if r.name == "features.3"][0]
    np.testing.assert_allclose(conv(drop).r_in, conv(drop).r_out, rtol=1e-4)
    assert np.all(conv(keep).r_in < 0.999 * conv(keep).r_out)  # positive biases absorb
