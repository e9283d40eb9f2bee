"""The LRP relevance pass (:func:`lrp`): rules attached by forward hooks, relevance flowing back as
the gradient; its result (:class:`LRPResult`, :class:`LayerRecord`) and the maps made from it
(:func:`relevance_map`, :func:`authors_heatmap`)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from saliency_utils.explain.lrp.composites import resolve_composite
from saliency_utils.explain.lrp.rules import per_image_sums

__all__ = ["LayerRecord", "LRPResult", "lrp", "relevance_map", "authors_heatmap"]

_STATE = threading.local()  # .inside_rule: hooks are off while a rule re-runs a module


# -- the relevance pass ------------------------------------------------------------------------

@dataclass
class LayerRecord:
    """One rule application: module name and type, rule, and per-image sums of the relevance
    entering the layer from above (``r_out``), leaving it downwards (``r_in``, summed over all
    inputs) and predicted by the rule for ``r_in`` (``predicted``)."""

    name: str
    kind: str
    rule: str
    r_out: np.ndarray
    r_in: np.ndarray
    predicted: np.ndarray | None


@dataclass
class LRPResult:
    """``relevance``: ``N x C x H x W`` input relevance (tensor, on the input's device);
    ``logits`` (``N x classes``); ``targets``: explained classes; ``records``: the layers in
    the order the backward pass met them (top first), empty unless ``record=True``;
    ``watched[name]``: per-image sums of the relevance at the watched module's (first) input
    and at its output, ``(below, above)`` (the total over every path that uses the tensor, so
    a residual block's input counts the skip connection too)."""

    relevance: torch.Tensor
    logits: torch.Tensor
    targets: list[int]
    records: list[LayerRecord] = field(default_factory=list)
    watched: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def explained(self) -> np.ndarray:
        """The explained logits ``f_c(x)``, per image (the relevance put in at the top)."""
        t = torch.as_tensor(self.targets, device=self.logits.device).view(-1, 1)
        return self.logits.gather(1, t).view(-1).double().cpu().numpy()

    @property
    def total(self) -> np.ndarray:
        """Sum of the input relevance per image."""
        return per_image_sums(self.relevance).cpu().numpy()

    def table(self):
        """DataFrame of the records: mean over images of ``r_out``, ``r_in``, their ratio, and
        the largest relative deviation of ``r_in`` from the rule's own prediction."""
        import pandas as pd

        rows = []
        for r in self.records:
            dev = (np.nan if r.predicted is None else
                   float(np.max(np.abs(r.r_in - r.predicted) / np.maximum(np.abs(r.r_out), 1e-12))))
            rows.append({"layer": r.name, "type": r.kind, "rule": r.rule,
                         "sum R above": float(np.mean(r.r_out)), "sum R below": float(np.mean(r.r_in)),
                         "kept (below / above)": float(np.mean(
                             r.r_in / np.where(r.r_out == 0, np.nan, r.r_out))),
                         "max |below - rule's prediction| / |above|": dev})
        return pd.DataFrame(rows)


class _RuleFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rule, module, log, n_in, *tensors):
        inputs, output = tensors[:n_in], tensors[n_in]
        ctx.rule, ctx.module, ctx.log = rule, module, log
        # detached views: the rules need values only (in-place modules are refused)
        ctx.inputs = [t.detach() for t in inputs]
        ctx.output = output.detach() if rule.needs_output else None
        return output.view_as(output)

    @staticmethod
    def backward(ctx, R):
        inputs, output = ctx.inputs, ctx.output
        _STATE.inside_rule = True
        try:
            rels, predicted = ctx.rule.relevance(ctx.module, inputs, output, R)
        finally:
            _STATE.inside_rule = False
        if ctx.log is not None:
            name, records = ctx.log
            r_in = sum(per_image_sums(r) for r in rels)
            records.append(LayerRecord(name, type(ctx.module).__name__, ctx.rule.name,
                                       per_image_sums(R).cpu().numpy(), r_in.cpu().numpy(),
                                       None if predicted is None else predicted().cpu().numpy()))
        return (None, None, None, None, *rels, None)


def _check_input(model, x):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError("x must be a float tensor N x C x H x W (normalised input), got "
                         f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    if model.training:
        raise ValueError("put the model in eval mode (model.eval()) before LRP")


def lrp(model: nn.Module, x: torch.Tensor, target=None, composite="authors", *,
        low=None, high=None, record: bool = False, watch: Sequence[str] = ()) -> LRPResult:
    """Input relevance of ``model`` (already :func:`canonise`-d) for ``x``.

    ``target``: ``None`` (each image's top-1 class, as the authors), an int, or one class per
    image. ``composite``: a name of :data:`COMPOSITES` or a function
    ``(name, module, is_first) -> Rule``; ``low``/``high``: input bounds for the z^B rule.
    Relevance at the top is the explained logit, so ``result.total`` is comparable with
    ``result.explained`` (conservation). ``watch``: names of (any) modules whose input and
    output relevance sums to report in ``result.watched``. Raises ``TypeError`` for a leaf module without rule
    (e.g. an unfolded BatchNorm) and ``ValueError`` for in-place activations (canonise first).
    """
    _check_input(model, x)
    rule_of = resolve_composite(composite, low, high)
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    if not leaves:
        raise TypeError("the model has no modules to attach rules to")
    first_param = next((n for n, m in leaves if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    records: list[LayerRecord] = []
    handles = []
    watched: dict[str, list] = {}
    try:
        for name, mod in leaves:
            if getattr(mod, "inplace", False):
                raise ValueError(f"module {name!r} ({type(mod).__name__}) works in place; "
                                 "use lrp.canonise(model) first")
            rule = rule_of(name, mod, name == first_param)
            if rule is None:
                hint = (" fold it into the preceding convolution with lrp.canonise(model)"
                        if isinstance(mod, nn.modules.batchnorm._BatchNorm) else "")
                raise TypeError(f"no LRP rule for module {name!r} of type "
                                f"{type(mod).__name__};{hint or ' give the composite a rule for it'}")
            log = (name, records) if record else None

            def hook(module, inputs, output, rule=rule, log=log):
                if getattr(_STATE, "inside_rule", False):
                    return None
                return _RuleFunction.apply(rule, module, log, len(inputs), *inputs, output)
            handles.append(mod.register_forward_hook(hook))
        # after the rule hooks: a watched leaf's hook then sees the routed output
        for wname in watch:
            wmod = model.get_submodule(wname)  # AttributeError for unknown names

            def whook(module, inputs, output, wname=wname):
                if getattr(_STATE, "inside_rule", False) or not output.requires_grad:
                    return None
                slot = watched.setdefault(wname, [None, None])
                inputs[0].register_hook(lambda g: slot.__setitem__(0, per_image_sums(g).cpu().numpy()))
                output.register_hook(lambda g: slot.__setitem__(1, per_image_sums(g).cpu().numpy()))
                return None
            handles.append(wmod.register_forward_hook(whook))
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(xg)
            if logits.ndim != 2:
                raise ValueError(f"the model must return N x classes logits, got "
                                 f"{tuple(logits.shape)}")
            if target is None:
                t = logits.detach().argmax(1)
            else:
                t = torch.as_tensor(np.asarray(target), device=logits.device).long().view(-1)
                if t.numel() == 1:
                    t = t.expand(logits.shape[0])
                if t.numel() != logits.shape[0]:
                    raise ValueError(f"target must be an int or one class per image "
                                     f"({logits.shape[0]}), got {t.numel()}")
                if (t < 0).any() or (t >= logits.shape[1]).any():
                    raise ValueError(f"target classes must be in [0, {logits.shape[1]}), got "
                                     f"{t.tolist()}")
            r0 = torch.zeros_like(logits).scatter_(1, t.view(-1, 1),
                                                   logits.detach().gather(1, t.view(-1, 1)))
            (rel,) = torch.autograd.grad(logits, xg, r0)
    finally:
        for h in handles:
            h.remove()
    return LRPResult(rel.detach(), logits.detach(), [int(v) for v in t.tolist()], records,
                     {k: (v[0], v[1]) for k, v in watched.items()})


def relevance_map(relevance, mode: str = "sum") -> np.ndarray:
    """``N x C x H x W`` relevance -> ``N x H x W`` float32 maps: ``"sum"`` over channels
    (signed, conserves), ``"positive"`` (its positive part), ``"abs"`` (sum of ``|R|`` over
    channels, the authors' heatmap before scaling)."""
    r = relevance.detach().float().cpu() if isinstance(relevance, torch.Tensor) else torch.as_tensor(
        np.asarray(relevance, dtype=np.float32))
    if r.ndim != 4:
        raise ValueError(f"relevance must be N x C x H x W, got shape {tuple(r.shape)}")
    if mode == "sum":
        out = r.sum(1)
    elif mode == "positive":
        out = r.sum(1).clamp(min=0)
    elif mode == "abs":
        out = r.abs().sum(1)
    else:
        raise ValueError(f"mode must be 'sum', 'positive' or 'abs', got {mode!r}")
    return out.numpy().astype(np.float32)


def authors_heatmap(relevance) -> np.ndarray:
    """The heatmap image the authors saved (and presumably fed to the context-aware saliency
    code): per-channel ``|R|``, min-max scaled over the whole ``C x H x W`` tensor, x 255, as
    an RGB ``uint8`` array ``N x H x W x 3`` (their JPEG compression is left out)."""
    r = relevance.detach().float().cpu().numpy() if isinstance(relevance, torch.Tensor) else np.asarray(
        relevance, dtype=np.float32)
    if r.ndim != 4 or r.shape[1] != 3:
        raise ValueError(f"relevance must be N x 3 x H x W, got shape {r.shape}")
    a = np.abs(r)
    lo = a.min(axis=(1, 2, 3), keepdims=True)
    hi = a.max(axis=(1, 2, 3), keepdims=True)
    if np.any(hi <= lo):
        raise ValueError("a relevance tensor is constant: no heatmap")
    img = np.rint((a - lo) / (hi - lo) * 255).astype(np.uint8)
    return np.ascontiguousarray(img.transpose(0, 2, 3, 1))
