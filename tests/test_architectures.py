"""The architecture specs: every backbone's facts in one place, consistent with its network."""
import pytest
import torch
from torch import nn

from saliency_utils.models import architectures as A
from saliency_utils.explain import lrp
from saliency_utils.models.backbones import load_backbone


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "vgg16", "alexnet"])
def test_each_spec_matches_its_network(name):
    arch = A.architecture(name)
    bb = load_backbone(name, weights="random")
    net = bb.model
    # the preprocessing the weights expect comes from the spec
    assert (bb.mean, bb.std, bb.input_size) == (arch.mean, arch.std, arch.input_size)
    assert bb.input_size == {"efficientnet_lite1": 240}.get(name, 224)
    assert (bb.mean[0] == 127 / 255) == name.startswith("efficientnet")
    # every friendly layer is a module of the network
    for friendly, path in arch.layers().items():
        net.get_submodule(path)
    # the randomisation order covers every parameter exactly once
    covered = [id(p) for path in arch.randomisation_order() for p in net.get_submodule(path).parameters()]
    assert sorted(covered) == sorted(id(p) for p in net.parameters())
    assert len(covered) == len(set(covered))
    # canonisation folds every BatchNorm: the pairs outside nn.Sequential name real conv/BN modules
    for parent, conv, bn in arch.batchnorm_pairs(net):
        assert isinstance(getattr(parent, conv), nn.Conv2d)
        assert isinstance(getattr(parent, bn), nn.BatchNorm2d)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in lrp.canonise(net).modules())
    assert (A.architecture_of(net) is arch) == name.startswith("efficientnet")
    # LRP's conservation checkpoints: real modules, in depth order, the same after canonisation
    watch = arch.relevance_checkpoints(net)
    n_expected = {"efficientnet_lite0": 16, "efficientnet_lite1": 21, "vgg16": 16, "alexnet": 8}[name]
    assert len(watch) == n_expected and watch == arch.relevance_checkpoints(lrp.canonise(net))
    # a saliency model's default readout is one of its encoder's layers
    if arch.default_readout:
        assert set(arch.default_readout) <= set(arch.encoder_layers())


@pytest.mark.parametrize("name", ["efficientnet_lite0", "vgg16"])
def test_staged_forward_reaches_every_encoder_layer_in_order(name):
    arch = A.architecture(name)
    bb = load_backbone(name, weights="random")
    enc = arch.encoder(bb.model)
    paths = [p for p, _ in arch.staged_forward(enc, torch.zeros(1, 3, 64, 64))]
    assert set(arch.encoder_layers().values()) <= set(paths)
    assert len(paths) == len(set(paths))
    # lazily: stopping after the first stage computes nothing more
    first = next(arch.staged_forward(enc, torch.zeros(1, 3, 64, 64)))
    assert first[0] == paths[0]
    groups = arch.conv_groups(enc)
    convs = {p for p, m in enc.named_modules() if isinstance(m, nn.Conv2d)}
    assert {p for g in groups.values() for p in g} == convs


def test_unknown_backbones_and_missing_facts_say_so():
    with pytest.raises(ValueError, match="choose one of"):
        A.architecture("resnet50")
    with pytest.raises(ValueError, match="not available as a saliency-model encoder"):
        A.architecture("alexnet").encoder(nn.Identity())
    with pytest.raises(ValueError, match="no convolution groups"):
        A.architecture("alexnet").conv_groups(nn.Identity())
    assert A.architecture_of(nn.Linear(2, 2)) is None
    assert A.architecture("vgg16").random_encoder_backbone(0).layers == A.architecture("vgg16").layers()
