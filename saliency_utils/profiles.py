"""Run profiles: the one place where each chapter's sizes and settings live.

* ``smoke``: seconds per chapter, tiny inputs; what ``make test`` runs.
* ``offline``: the offline data bundle and the offline backbone (EfficientNet-Lite0), a few
  minutes per chapter on 2 CPU cores; what the rendered book shows (``make book``).
* ``paper``: the papers' networks (torchvision VGG-16 / AlexNet, weights need internet once) and
  the full data a reader has; a GPU is advised.

A chapter asks ``settings("appendix_data", profile)`` in its parameters cell and gets a read-only
mapping; individual values can still be overridden with papermill ``-p``.
"""
from __future__ import annotations

from types import MappingProxyType

__all__ = ["PROFILES", "DEFAULT_PROFILE", "settings"]

PROFILES = ("smoke", "offline", "paper")
DEFAULT_PROFILE = "offline"

_COMMON = {
    "seed": 0,
}

# chapter -> profile -> settings. ``None`` for a count means "all available".
_SETTINGS = {
    "appendix_data": {
        "smoke": dict(backbone="efficientnet_lite0", n_imagenet=24, n_osie=4, n_mit1003=4,
                      n_loo=2, anchor_metrics="fast", n_show=2),
        "offline": dict(backbone="efficientnet_lite0", n_imagenet=None, n_osie=None,
                        n_mit1003=None, n_loo=25, anchor_metrics="all", n_show=4),
        "paper": dict(backbone="vgg16", n_imagenet=None, n_osie=None, n_mit1003=None,
                      n_loo=None, anchor_metrics="all", n_show=4),
    },
    "ch1_gradient_saliency": {
        # n_loc: images for localisation (None = all 1300); n_check: images scored with all
        # five guesses to confirm the true-class shortcut; cm_*: class model visualisation;
        # n_compare: images for gradient vs deconvnet / guided backprop; n_beyond: images for
        # SmoothGrad / IG; cascade_*: model-randomisation check; workers: GrabCut threads.
        "smoke": dict(backbone="efficientnet_lite0", n_loc=8, n_check=3, n_show=3,
                      cm_classes=2, cm_steps=4, cm_lr=1.0, cm_weight_decay=1e-3, cm_jitter=8,
                      cm_blur_every=4, cm_blur_sigma=0.5, n_compare=4, n_beyond=1,
                      sg_samples=3, ig_steps=4, n_cascade=2, cascade_depth=3, workers=2),
        "offline": dict(backbone="efficientnet_lite0", n_loc=None, n_check=20, n_show=8,
                        cm_classes=10, cm_steps=60, cm_lr=1.0, cm_weight_decay=1e-3,
                        cm_jitter=8, cm_blur_every=4, cm_blur_sigma=0.5, n_compare=32,
                        n_beyond=3, sg_samples=25, ig_steps=32, n_cascade=4,
                        cascade_depth=None, workers=2),
        "paper": dict(backbone="vgg16", n_loc=None, n_check=100, n_show=8,
                      cm_classes=10, cm_steps=200, cm_lr=1.0, cm_weight_decay=1e-3,
                      cm_jitter=8, cm_blur_every=4, cm_blur_sigma=0.5, n_compare=200,
                      n_beyond=8, sg_samples=25, ig_steps=32, n_cascade=16,
                      cascade_depth=None, workers=4),
    },
}


def settings(chapter: str, profile: str = DEFAULT_PROFILE) -> MappingProxyType:
    """Settings of ``chapter`` under ``profile`` (read-only mapping, with ``profile`` included)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if chapter not in _SETTINGS:
        raise ValueError(f"unknown chapter {chapter!r}; known: {', '.join(_SETTINGS)}")
    return MappingProxyType({**_COMMON, **_SETTINGS[chapter][profile], "profile": profile})
