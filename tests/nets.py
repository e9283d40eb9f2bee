"""The small networks the unit tests share, in one place (test modules import them with
``from nets import ...``; pytest puts this folder on the import path)."""
import torch
from torch import nn

from saliency_utils.models.backbones import Backbone
from saliency_utils.models.efficientnet_lite import EfficientNetLite0


class Linear(nn.Module):
    """logit = W x (flattened): dS_c/dx = W_c, known exactly. ``w``: classes x C x H x W."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w, requires_grad=False)

    def forward(self, x):
        return x.flatten(1) @ self.w.flatten(1).T


def small_cnn(act=nn.ReLU, seed=0, classes=10):
    """conv-act-conv-act-adaptive pool(2)-linear, in eval mode."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), act(), nn.Conv2d(8, 8, 3, padding=1), act(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, classes)).eval()


class SmallVGG(nn.Module):
    """conv-relu-maxpool-conv-relu-avgpool-(functional flatten)-fc-relu-fc, like VGG/AlexNet."""

    def __init__(self, bias=True, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1, bias=bias), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(32, 16, bias=bias), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(16, 5, bias=bias))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def randomise_batchnorm(net: nn.Module, mean: float, bias: float) -> nn.Module:
    """Every BatchNorm2d of ``net`` (in module order) gets random statistics and affine
    parameters: running mean in [-mean, mean], running variance in [0.5, 2], weight in
    [0.5, 1.5], bias in [-bias, bias] (so that folding BatchNorm is not trivial). In place."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-mean, mean)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-bias, bias)
    return net


def random_bn_effnet(seed=0, num_classes=1000, double=False) -> nn.Module:
    """EfficientNet-Lite0 with random weights and random BatchNorm statistics and affine
    parameters (so that folding BatchNorm is not trivial), in eval mode."""
    torch.manual_seed(seed)
    net = randomise_batchnorm(EfficientNetLite0(num_classes=num_classes), mean=0.5, bias=0.2)
    return (net.double() if double else net).eval()


def tiny_backbone(seed=0, n_classes=1000, size=32) -> Backbone:
    """A :class:`Backbone` of conv-BN-ReLU-conv-BN-ReLU-global pool-linear, random weights and
    BN statistics (so that folding BN for LRP is not trivial), 1000 classes (ImageNet labels are
    valid targets), ``size`` x ``size`` input."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, n_classes))
    randomise_batchnorm(net, mean=0.2, bias=0.1)
    with torch.no_grad():
        net[-1].weight.mul_(20.0)  # spread the logits: different images, different top-1
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return Backbone("tiny", net, size, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), {},
                    "random", torch.device("cpu"))
