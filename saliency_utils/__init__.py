"""saliency_utils: the machinery behind the executable reproducibility book on deep visual saliency.

Subpackages, one concern each (``ARCHITECTURE.md`` draws how they depend on each other):

* :mod:`saliency_utils.data`: the datasets, their manifest, the on-disk cache and verified
  downloads, and generated stimuli (search arrays);
* :mod:`saliency_utils.models`: one spec per backbone architecture, the ImageNet backbones, the
  book's deep saliency model, the classical models and UNISAL;
* :mod:`saliency_utils.training`: training the saliency model and the fine-tuning controls, with
  the cache of trained models;
* :mod:`saliency_utils.explain`: the one way to get a map (``explain.api.explain``), gradient
  attributions, LRP, Salient Relevance maps, class models, feature visualisation and the
  log-Gabor reconstruction;
* :mod:`saliency_utils.evaluate`: maps, fixation metrics, the one scorer of maps on a dataset,
  box and localisation scores, faithfulness, search-array measures and statistics;
* :mod:`saliency_utils.analysis`: receptive fields, surround suppression, dissection, CKA and
  layer change;
* :mod:`saliency_utils.claims`: every claim of the five papers with its decision rule;
* :mod:`saliency_utils.book`: the book's tooling (profiles, papermill pipeline, render, site
  check) and chapter-only glue.

The names below are the entry points a reader starts from; each is imported on first use, so
``import saliency_utils`` stays light.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first access; the book's execution
#: cache reads this table to know which module a notebook's ``from saliency_utils import name``
#: depends on).
_LAZY = {
    # networks
    "architecture": "saliency_utils.models.architectures",
    "load_backbone": "saliency_utils.models.backbones",
    "SaliencyModel": "saliency_utils.models.saliency_model",
    # training
    "load_or_train": "saliency_utils.training.saliency",
    "TrainConfig": "saliency_utils.training.saliency",
    "PRESETS": "saliency_utils.training.saliency",
    # scoring and statistics
    "FixationDataset": "saliency_utils.evaluate.scoring",
    "score_maps": "saliency_utils.evaluate.scoring",
    "mean_ci": "saliency_utils.evaluate.stats",
    "paired_difference": "saliency_utils.evaluate.stats",
    # explanations: every map of the book through one verb (saliency_utils.explain.api.explain;
    # the name ``explain`` here is the subpackage), several maps of the same images sharing passes
    "Explanations": "saliency_utils.explain.api",
    "METHODS": "saliency_utils.explain.api",
    # claims
    "REGISTRY": "saliency_utils.claims",
}
_SUBPACKAGES = ("data", "models", "training", "explain", "evaluate", "analysis", "claims", "book")

__all__ = ["__version__", *_LAZY, *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
