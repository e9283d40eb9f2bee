"""What the book knows about each backbone architecture, in one place.

One :class:`Architecture` per backbone (EfficientNet-Lite0 and -Lite1, VGG-16, AlexNet):
friendly layer names and their module paths, the order in which cascading model randomisation
re-initialises the layers, the convolution / BatchNorm pairs that LRP's canonisation folds, the
convolutions of each friendly layer (weight change), and which parameters belong to the ImageNet
classifier rather than the feature extractor. The rest of the package asks
:func:`architecture` (by name) or :func:`architecture_of` (by module) instead of branching on
backbone names or classes; ``models.backbones.load_backbone`` builds the networks and holds their weights.

Adding a backbone means adding one subclass here (and its constructor and weights in
:mod:`saliency_utils.models.backbones`).
"""
from __future__ import annotations

import re
from typing import Iterator

import torch
from torch import nn

from saliency_utils.models.efficientnet_lite import (REPEATS, EfficientNetLite0, MBConvBlock, block_args,
                                                     stages)

__all__ = ["Architecture", "ARCHITECTURES", "architecture", "architecture_of", "IMAGENET_MEAN",
           "IMAGENET_STD"]

#: torchvision's ImageNet normalisation of pixel values in [0, 1] (VGG-16, AlexNet)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Architecture:
    """The facts about one backbone architecture that the package's analyses need."""

    #: the backbone's name (``models.backbones.BACKBONES``)
    name: str = ""
    #: prefix of the ImageNet classifier's parameter names inside the network that the saliency
    #: model uses as its encoder, when the encoder holds the classifier but its forward pass does
    #: not reach it (fine-tuning must not count those parameters); ``None`` if it does not hold it
    classifier_prefix: str | None = None
    #: preprocessing: the square input size the ImageNet weights were trained at, and the
    #: per-channel mean and standard deviation of pixel values in [0, 1] that the network expects
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    #: the friendly names (:meth:`encoder_layers`) a saliency model reads out by default: the
    #: deepest encoder stage, as the papers' models do; empty where there is no encoder
    default_readout: tuple[str, ...] = ()

    def layers(self) -> dict[str, str]:
        """Friendly layer name -> module path (``Backbone.layers``)."""
        raise NotImplementedError

    def randomisation_order(self) -> list[str]:
        """Module paths of the parametrised layers from the logits down, together covering every
        parameter: the order of cascading model randomisation (Adebayo et al. 2018)."""
        raise NotImplementedError

    def batchnorm_pairs(self, model: nn.Module) -> list[tuple[nn.Module, str, str]]:
        """``(parent module, convolution attribute, BatchNorm attribute)`` for every BatchNorm
        that directly follows a convolution outside an ``nn.Sequential`` (LRP's canonisation folds
        them; BatchNorms inside an ``nn.Sequential`` are found there without this list)."""
        return []

    def conv_groups(self, encoder: nn.Module) -> dict[str, list[str]]:
        """Friendly layer name -> module paths of its convolutions, in depth order."""
        raise ValueError(f"no convolution groups are defined for {self.name!r}")

    def relevance_checkpoints(self, model: nn.Module) -> list[str]:
        """Module paths of ``model`` (the network, canonised or not) at whose inputs LRP's
        conservation is followed through the depth (chapter 2): every convolution and dense
        layer of a plain chain; the residual blocks where there are any."""
        return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]

    # -- as the encoder of a saliency model (saliency_model.SaliencyModel) ---------------------
    def encoder(self, model: nn.Module) -> nn.Module:
        """The part of the ImageNet network ``model`` that a saliency model uses as its encoder
        (its module paths are those of :meth:`encoder_layers`)."""
        raise ValueError(f"{self.name!r} is not available as a saliency-model encoder")

    def encoder_layers(self) -> dict[str, str]:
        """Friendly layer name -> module path inside :meth:`encoder` (the readout's choices)."""
        raise ValueError(f"{self.name!r} is not available as a saliency-model encoder")

    def staged_forward(self, encoder: nn.Module, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """The encoder's forward pass stage by stage, lazily: ``(module path, output)`` in depth
        order (a caller that has the outputs it needs stops iterating, and the rest is not
        computed)."""
        raise ValueError(f"{self.name!r} is not available as a saliency-model encoder")

    def random_encoder_backbone(self, seed: int):
        """A cheaper stand-in for ``load_backbone(name, weights="random", seed=seed)`` that builds
        only what :meth:`encoder` keeps, or ``None`` where there is none (then the whole network
        is built)."""
        return None


class _EfficientNetLite(Architecture):
    classifier_prefix = "_fc."
    default_readout = ("head",)
    mean, std = (127 / 255,) * 3, (128 / 255,) * 3  # the TF-Lite models' (p - 127) / 128

    def __init__(self, name: str, input_size: int):
        self.name = name
        self.input_size = input_size
        self.repeats = REPEATS[name.split("_")[1]]

    def layers(self) -> dict[str, str]:
        blocks = stages(self.repeats)
        layers = {"stem": "act_stem"}
        layers.update({f"block{i}": f"_blocks.{i}" for i in range(sum(map(len, blocks.values())))})
        layers.update({s: f"_blocks.{idx[-1]}" for s, idx in blocks.items()})
        layers.update({"head": "act_head", "logits": "_fc"})
        return layers

    def randomisation_order(self) -> list[str]:
        # the head BatchNorm is a step of its own, above the head convolution (see
        # attribution.cascading_randomisation: a trained BN over a randomised block silences
        # everything above it)
        n = len(block_args(self.repeats))
        return (["_fc", "_bn1", "_conv_head"] + [f"_blocks.{i}" for i in range(n - 1, -1, -1)]
                + ["_bn0", "_conv_stem"])

    def batchnorm_pairs(self, model: nn.Module) -> list[tuple[nn.Module, str, str]]:
        pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
        for block in model._blocks:
            if block.has_expand:
                pairs.append((block, "_expand_conv", "_bn0"))
            pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
        return pairs

    def encoder(self, model: nn.Module) -> nn.Module:
        return model  # the classifier (_fc) stays in the module; staged_forward never reaches it

    def encoder_layers(self) -> dict[str, str]:
        return {k: v for k, v in self.layers().items() if k != "logits"}

    def staged_forward(self, encoder: nn.Module, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        x = encoder.act_stem(encoder._bn0(encoder._conv_stem(x)))
        yield "act_stem", x
        for i, block in enumerate(encoder._blocks):
            x = block(x)
            yield f"_blocks.{i}", x
        x = encoder.act_head(encoder._bn1(encoder._conv_head(x)))
        yield "act_head", x

    def relevance_checkpoints(self, model: nn.Module) -> list[str]:
        return [n for n, m in model.named_modules() if isinstance(m, MBConvBlock)]

    def conv_groups(self, encoder: nn.Module) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for path, m in encoder.named_modules():
            if not isinstance(m, nn.Conv2d):
                continue
            b = re.match(r"_blocks\.(\d+)\.", path)
            name = (f"block{b.group(1)}" if b else "stem" if path == "_conv_stem"
                    else "head" if path == "_conv_head" else None)
            if name is None:
                raise ValueError(f"unexpected convolution {path!r} in an {self.name}")
            groups.setdefault(name, []).append(path)
        return groups


_VGG_CONV5_3 = 29  # index of the ReLU after conv5_3 in torchvision's vgg16.features


class _VGGEncoder(nn.Module):
    """VGG-16 ``conv1_1`` ... ``conv5_3`` (with ReLUs); ``features.N`` as in torchvision."""

    def __init__(self, vgg: nn.Module):
        super().__init__()
        self.features = vgg.features[: _VGG_CONV5_3 + 1]


class _VGG16(Architecture):
    name = "vgg16"
    default_readout = ("conv5_3",)

    def encoder(self, model: nn.Module) -> nn.Module:
        return _VGGEncoder(model)

    def encoder_layers(self) -> dict[str, str]:
        return {k: v for k, v in self.layers().items()
                if k.startswith("conv") and int(v.split(".")[1]) <= _VGG_CONV5_3}

    def staged_forward(self, encoder: nn.Module, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        for i, layer in enumerate(encoder.features):
            x = layer(x)
            yield f"features.{i}", x

    def random_encoder_backbone(self, seed: int):
        """Only ``features`` built (torchvision's VGG-16 configuration and initialisation of the
        convolutions, from torch's generator seeded by ``seed``; the caller's stream untouched)."""
        from types import SimpleNamespace

        from torchvision.models.vgg import cfgs, make_layers

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            features = make_layers(cfgs["D"], batch_norm=False)
            for m in features.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.constant_(m.bias, 0)
        return SimpleNamespace(model=SimpleNamespace(features=features),
                               weights=f"random initialisation (seed {seed})", mean=self.mean,
                               std=self.std, layers=self.layers())

    def layers(self) -> dict[str, str]:
        convs = [(1, 2), (2, 2), (3, 3), (4, 3), (5, 3)]
        layers, i = {}, 0
        for block, n in convs:
            for j in range(1, n + 1):
                layers[f"conv{block}_{j}"] = f"features.{i + 1}"  # after ReLU
                i += 2
            layers[f"pool{block}"] = f"features.{i}"
            i += 1
        layers.update({"fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6",
                       "logits": "classifier.6"})
        return layers

    def randomisation_order(self) -> list[str]:
        return (["classifier.6", "classifier.3", "classifier.0"]
                + [f"features.{i}" for i in (28, 26, 24, 21, 19, 17, 14, 12, 10, 7, 5, 2, 0)])

    def conv_groups(self, encoder: nn.Module) -> dict[str, list[str]]:
        by_path = {p: n for n, p in self.layers().items() if n.startswith("conv")}
        groups: dict[str, list[str]] = {}
        for path, m in encoder.named_modules():
            if isinstance(m, nn.Conv2d):
                # torchvision's features.N (or N when given features itself); the friendly
                # name sits on the ReLU after the convolution, features.N+1
                k = int(path.split(".")[-1])
                groups[by_path[f"features.{k + 1}"]] = [path]
        return groups


class _AlexNet(Architecture):
    name = "alexnet"

    def layers(self) -> dict[str, str]:
        return {"conv1": "features.1", "pool1": "features.2", "conv2": "features.4",
                "pool2": "features.5", "conv3": "features.7", "conv4": "features.9",
                "conv5": "features.11", "pool5": "features.12", "fc6": "classifier.2",
                "fc7": "classifier.5", "fc8": "classifier.6", "logits": "classifier.6"}

    def randomisation_order(self) -> list[str]:
        return (["classifier.6", "classifier.4", "classifier.1"]
                + [f"features.{i}" for i in (10, 8, 6, 3, 0)])


#: name -> its :class:`Architecture`.
ARCHITECTURES: dict[str, Architecture] = {
    "efficientnet_lite0": _EfficientNetLite("efficientnet_lite0", input_size=224),
    "efficientnet_lite1": _EfficientNetLite("efficientnet_lite1", input_size=240),
    "vgg16": _VGG16(),
    "alexnet": _AlexNet(),
}


def architecture(name: str) -> Architecture:
    """The :class:`Architecture` of backbone ``name``; ``ValueError`` naming the known ones."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def architecture_of(model: nn.Module) -> Architecture | None:
    """The :class:`Architecture` of a network of the EfficientNet-Lite family (recognised by its
    class and number of blocks), or ``None`` for any other module: torchvision's VGG-16 and
    AlexNet need nothing from here that their module alone does not show (their BatchNorm-free
    ``nn.Sequential`` layers), so callers that hold only a module ask this."""
    if isinstance(model, EfficientNetLite0):  # EfficientNetLite1 subclasses it
        n = len(model._blocks)
        for arch in ARCHITECTURES.values():
            if isinstance(arch, _EfficientNetLite) and len(block_args(arch.repeats)) == n:
                return arch
    return None
