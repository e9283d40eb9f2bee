"""One way to get every map of the book: :func:`explain` (one method) and :class:`Explanations`
(several methods on the same inputs, sharing their passes).

``explain(model, inputs, method, target=None, **options)`` returns the maps of ``method``
(a name of :data:`METHODS`) for ``inputs``. Two kinds of method:

* **classifier** methods explain a class score of an ImageNet network: ``gradient``
  (Simonyan et al.), ``smoothgrad``, ``integrated_gradients``, ``deconvnet``,
  ``guided_backprop`` (captum, :mod:`saliency_utils.explain.attribution`), ``lrp`` (one
  composite and reduction, :mod:`saliency_utils.explain.lrp`) and ``sr`` (Li et al.'s Salient
  Relevance map: the context-aware saliency of the authors' relevance heatmap,
  :mod:`saliency_utils.explain.context_saliency`). ``model``: an ``nn.Module`` returning logits
  with ``inputs`` a normalised ``N x 3 x H x W`` tensor, or a
  :class:`~saliency_utils.models.backbones.Backbone` with uint8 images (one or a sequence,
  preprocessed by the backbone) or a tensor. ``target``: ``None`` (each image's top-1 class),
  an int, or one class per image. Returns a float32 ``N x H x W`` array.
* **image** methods map an image without a class: ``saliency_model`` (a trained
  :class:`~saliency_utils.models.saliency_model.SaliencyModel`), ``loggabor`` (its log-Gabor
  reconstruction, :class:`~saliency_utils.explain.loggabor_explain.ExplainableModel`), the
  classical models ``itti_koch``, ``spectral_residual``, ``image_signature``
  (:mod:`saliency_utils.models.classical`; ``model=None``), ``centre_bias`` (the Gaussian
  centre-bias density, ``model=None``, option ``sigma_frac``) and ``context_aware`` (the
  context-aware saliency of the image itself, the SR map's control; ``model=None``). ``inputs``:
  one ``H x W x 3`` image (one map back), a sequence of images (a list of maps back, each at
  its image's size) or an ``N x H x W x C`` array (an ``N x H x W`` array back).

Each method's options are listed in :data:`METHODS`; an option the method does not take is a
``TypeError``. The functions behind the names are the ones the rest of the package tests
against captum, zennit and the authors' code; this module only routes to them, so a map from
here equals the one from the function behind it.

:class:`Explanations` holds one batch of inputs and computes maps on demand, sharing the
passes that several maps need: one LRP pass per composite (``lrp`` in each reduction and
``sr`` read the same relevance; :meth:`Explanations.relevance` gives the pass itself, e.g. its
logits or conservation), and one gradient pass (``gradient`` and ``sr`` with
``of="gradient"``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["explain", "Explanations", "Method", "METHODS", "CLASSIFIER", "IMAGE"]

CLASSIFIER, IMAGE = "classifier", "image"


@dataclass(frozen=True)
class Method:
    """One map of the book: its ``kind`` (:data:`CLASSIFIER` or :data:`IMAGE`), the options it
    takes (``None``: the keywords of the function behind it, checked there) and what it is."""

    name: str
    kind: str
    options: tuple[str, ...] | None
    doc: str


_BATCHING = ("batch_size", "cache")
_LRP = ("composite", "low", "high")

#: Every map of the book by name.
METHODS: dict[str, Method] = {m.name: m for m in [
    Method("gradient", CLASSIFIER, _BATCHING,
           "Simonyan et al.'s max_k |dS_c/dx_k| (attribution.gradient_saliency)"),
    Method("smoothgrad", CLASSIFIER, ("n_samples", "stdev", "seed", *_BATCHING),
           "SmoothGrad (attribution.smoothgrad)"),
    Method("integrated_gradients", CLASSIFIER, ("steps", "baseline", *_BATCHING),
           "integrated gradients (attribution.integrated_gradients)"),
    Method("deconvnet", CLASSIFIER, ("modify_relu6", *_BATCHING),
           "DeconvNet (attribution.deconvnet)"),
    Method("guided_backprop", CLASSIFIER, ("modify_relu6", *_BATCHING),
           "guided backpropagation (attribution.guided_backprop)"),
    Method("lrp", CLASSIFIER, (*_LRP, "mode"),
           "input relevance of one LRP composite (default the authors'), reduced over colour "
           "channels by mode 'sum' (default), 'positive' or 'abs' (lrp.lrp, lrp.relevance_map)"),
    Method("sr", CLASSIFIER, None,
           "Li et al.'s Salient Relevance map: context-aware saliency of the authors' heatmap of "
           "the relevance (of='lrp', default; composite, low, high) or of the gradient "
           "(of='gradient', the control); on_constant='zero' gives a constant relevance a zero "
           "map instead of an error; workers, cache and the keywords of "
           "context_saliency.context_aware_saliency (context_saliency.salient_relevance_maps)"),
    Method("saliency_model", IMAGE, None,
           "a trained saliency model's density at the image's size (SaliencyModel.predict and "
           "its keywords)"),
    Method("loggabor", IMAGE, None,
           "the log-Gabor reconstruction of a saliency model (ExplainableModel.predict)"),
    Method("itti_koch", IMAGE, None, "Itti, Koch & Niebur (classical.itti_koch)"),
    Method("spectral_residual", IMAGE, None, "Hou & Zhang (classical.spectral_residual)"),
    Method("image_signature", IMAGE, None, "Hou, Harel & Koch (classical.image_signature)"),
    Method("centre_bias", IMAGE, ("sigma_frac",),
           "the Gaussian centre-bias density at the image's size (anchors.centre_bias_map)"),
    Method("context_aware", IMAGE, None,
           "context-aware saliency of the image itself (uint8, or float in [0, 1]): the SR "
           "map's control; workers, cache and the keywords of "
           "context_saliency.context_aware_saliency"),
]}


def _method(name) -> Method:
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {list(METHODS)}")
    return METHODS[name]


def _check_options(m: Method, options: dict) -> None:
    if m.options is None:
        return
    unknown = sorted(set(options) - set(m.options))
    if unknown:
        raise TypeError(f"method {m.name!r} takes no option(s) {unknown}; its options: "
                        f"{list(m.options) or 'none'}")


def _is_backbone(model) -> bool:
    return hasattr(model, "preprocess") and isinstance(getattr(model, "model", None), nn.Module)


class Explanations:
    """The maps of one batch of ``inputs`` (see the module docstring), computed on demand by
    :meth:`map`; passes that several maps share are computed once per object.

    ``canonical``: the LRP-canonised network to use for ``lrp`` and ``sr`` (default: ``model``
    itself where it is canonical already, else :func:`~saliency_utils.explain.lrp.canonise` of it,
    made once per object). Pass it when the caller keeps one canonised copy for many batches.
    """

    def __init__(self, model, inputs, target=None, *, canonical: nn.Module | None = None):
        self.model, self.inputs, self.target = model, inputs, target
        self._canonical = canonical
        self._x = None
        self._lrp: dict = {}
        self._grad = None

    # -- classifier inputs -------------------------------------------------------------------
    @property
    def network(self) -> nn.Module:
        """The classifier (``backbone.model`` for a backbone)."""
        net = self.model.model if _is_backbone(self.model) else self.model
        if not isinstance(net, nn.Module):
            raise TypeError(f"classifier methods need an nn.Module or a Backbone, got "
                            f"{type(self.model).__name__}")
        return net

    @property
    def x(self) -> torch.Tensor:
        """The normalised input tensor (a backbone's images preprocessed once)."""
        if self._x is None:
            inp = self.inputs
            if not isinstance(inp, torch.Tensor):
                if not _is_backbone(self.model):
                    raise ValueError("inputs must be a normalised N x 3 x H x W tensor; pass a "
                                     "Backbone as model to explain uint8 images")
                inp = self.model.preprocess(inp)
            self._x = inp
        return self._x

    @property
    def canonical(self) -> nn.Module:
        if self._canonical is None:
            from saliency_utils.explain import lrp

            net = self.network
            self._canonical = net if lrp.is_canonical(net) else lrp.canonise(net)
        return self._canonical

    def relevance(self, composite="authors", low=None, high=None):
        """The LRP pass (:class:`~saliency_utils.explain.lrp.LRPResult`: relevance, logits,
        explained classes) of ``composite`` on the canonised network, computed once."""
        from saliency_utils.explain import lrp

        # keyed by the objects' identity; the entry keeps them alive, so an id is not reused
        key = (composite if isinstance(composite, str) else id(composite), id(low), id(high))
        if key not in self._lrp:
            self._lrp[key] = (lrp.lrp(self.canonical, self.x, self.target, composite,
                                      low=low, high=high), (composite, low, high))
        return self._lrp[key][0]

    def gradient(self) -> torch.Tensor:
        """The per-channel ``|dS_c/dx|`` (``N x C x H x W``) of the ``gradient`` map, computed
        once."""
        if self._grad is None:
            from saliency_utils.explain import attribution

            self._grad = attribution.gradient_abs(self.network, self.x, self.target)
        return self._grad

    def __getitem__(self, index: slice) -> "Explanations":
        """The same explanations for a slice of the images (classifier inputs), sharing the
        passes made so far (sliced, not recomputed): e.g. the costly maps of the first few
        images of a batch whose cheap maps are all computed."""
        if not isinstance(index, slice):
            raise TypeError(f"index with a slice, got {type(index).__name__}")
        t = self.target
        if t is not None and np.ndim(t) > 0:
            t = t[index]
        out = Explanations(self.model, self.x[index], t, canonical=self._canonical)
        if self._grad is not None:
            out._grad = self._grad[index]
        out._lrp = {k: (_slice_result(r, index), args) for k, (r, args) in self._lrp.items()}
        return out

    # -- maps --------------------------------------------------------------------------------
    def map(self, method: str, **options):
        """The maps of ``method`` with its ``options`` (see :data:`METHODS`)."""
        m = _method(method)
        _check_options(m, options)
        if m.kind == CLASSIFIER:
            return _CLASSIFIER_RUNS[m.name](self, **options)
        return _image_maps(m.name, self.model, self.inputs, options)


def _slice_result(res, index: slice):
    from saliency_utils.explain.lrp import LRPResult

    return LRPResult(res.relevance[index], res.logits[index], res.targets[index])


def explain(model, inputs, method: str, target=None, *, canonical: nn.Module | None = None,
            **options):
    """The maps of ``method`` for ``inputs`` (see the module docstring and :data:`METHODS`)."""
    return Explanations(model, inputs, target, canonical=canonical).map(method, **options)


# -- classifier methods ------------------------------------------------------------------------

def _captum(name: str) -> Callable:
    def run(ex: Explanations, batch_size=None, cache=None, **kw):
        from saliency_utils.explain import attribution

        fn = attribution.METHODS[name]  # the names the randomisation checks take, too
        if name == "gradient" and batch_size is None and cache is None:
            return attribution.channel_max(ex.gradient())
        if batch_size is None and cache is None:
            return fn(ex.network, ex.x, ex.target, **kw)
        x = ex.x
        return attribution.in_batches(fn, ex.network, x, ex.target,
                                      batch_size=batch_size or max(1, len(x)), cache=cache, **kw)
    return run


def _lrp_map(ex: Explanations, composite="authors", low=None, high=None, mode="sum"):
    from saliency_utils.explain import lrp

    return lrp.relevance_map(ex.relevance(composite, low, high).relevance, mode)


def _sr_map(ex: Explanations, of="lrp", composite="authors", low=None, high=None, workers=1,
            cache=None, on_constant="raise", **ca):
    from saliency_utils.explain import context_saliency, lrp

    if on_constant not in ("raise", "zero"):
        raise ValueError(f"on_constant must be 'raise' or 'zero', got {on_constant!r}")

    if of == "lrp":
        rel = ex.relevance(composite, low, high).relevance
    elif of == "gradient":
        if (composite, low, high) != ("authors", None, None):
            raise TypeError("composite, low and high apply to of='lrp' only")
        rel = ex.gradient()
    else:
        raise ValueError(f"of must be 'lrp' or 'gradient', got {of!r}")
    if on_constant == "raise":
        return context_saliency.salient_relevance_maps(lrp.authors_heatmap(rel), workers=workers,
                                                       cache=cache, **ca)
    out = np.zeros((len(rel), *rel.shape[-2:]), np.float32)
    for i in range(len(rel)):  # image by image: a constant relevance (or heatmap) gives 0
        try:
            out[i] = context_saliency.salient_relevance_maps(
                lrp.authors_heatmap(rel[i:i + 1]), workers=workers, cache=cache, **ca)[0]
        except ValueError:
            pass
    return out


_CLASSIFIER_RUNS: dict[str, Callable] = {
    **{name: _captum(name) for name in
       ("gradient", "smoothgrad", "integrated_gradients", "deconvnet", "guided_backprop")},
    "lrp": _lrp_map,
    "sr": _sr_map,
}


# -- image methods -----------------------------------------------------------------------------

def _one_image(a) -> bool:
    return isinstance(a, np.ndarray) and (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4)))


def _image_fn(name: str, model, options: dict) -> Callable[[np.ndarray], np.ndarray]:
    if name in ("saliency_model", "loggabor"):
        if name == "loggabor":
            from saliency_utils.explain.loggabor_explain import ExplainableModel

            if not isinstance(model, ExplainableModel):
                raise TypeError(f"method 'loggabor' needs an ExplainableModel "
                                f"(loggabor_explain.fit_explainable), got {type(model).__name__}")
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"method {name!r} needs a saliency model with predict(image), got "
                            f"{type(model).__name__}")
        return lambda image: model.predict(image, **options)
    if model is not None:
        raise TypeError(f"method {name!r} takes no model (pass model=None)")
    if name == "centre_bias":
        if "sigma_frac" not in options:
            raise TypeError("method 'centre_bias' needs sigma_frac=(sigma_y/H, sigma_x/W)")
        from saliency_utils.evaluate import anchors

        return lambda image: anchors.centre_bias_map(np.shape(image)[:2], options["sigma_frac"])
    from saliency_utils.models import classical

    fn = getattr(classical, name)
    return lambda image: fn(image, **options)


def _image_maps(name: str, model, inputs, options: dict):
    if name == "context_aware":
        if model is not None:
            raise TypeError("method 'context_aware' takes no model (pass model=None)")
        from saliency_utils.explain import context_saliency

        one = _one_image(inputs)
        batch = np.asarray(inputs)[None] if one else (
            inputs if isinstance(inputs, np.ndarray) else np.stack([np.asarray(a) for a in inputs]))
        out = context_saliency.salient_relevance_maps(batch, **options)
        return out[0] if one else (out if isinstance(inputs, np.ndarray) else list(out))
    fn = _image_fn(name, model, options)
    if _one_image(inputs):
        return fn(inputs)
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 4:
            raise ValueError(f"images must be one H x W (x 3) image, a sequence of images or an "
                             f"N x H x W x C array, got shape {inputs.shape}")
        return np.stack([fn(a) for a in inputs])
    if isinstance(inputs, torch.Tensor):
        raise ValueError(f"method {name!r} maps uint8 images, not a normalised tensor")
    return [fn(a) for a in inputs]
