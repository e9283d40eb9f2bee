"""The training losses: KL divergence, CC and NSS terms (see the package docstring)."""
from __future__ import annotations


import torch


from saliency_utils.training.saliency.config import TrainConfig

__all__ = ["kl_loss", "saliency_loss"]


def kl_loss(logp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(target || exp(logp)) per image (``N``), both ``N x H x W`` densities."""
    return (torch.xlogy(target, target) - target * logp).flatten(1).sum(1)


def _cc(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    a = p.flatten(1) - p.flatten(1).mean(1, keepdim=True)
    b = g.flatten(1) - g.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt().clamp_min(1e-12)


def _nss(p: torch.Tensor, fixmap: torch.Tensor) -> torch.Tensor:
    p = p.flatten(1)
    f = fixmap.flatten(1).float()
    z = (p - p.mean(1, keepdim=True)) / p.std(1, keepdim=True).clamp_min(1e-12)
    return (z * f).sum(1) / f.sum(1).clamp_min(1.0)


def saliency_loss(logp, density, fixmap, config: TrainConfig) -> tuple[torch.Tensor, dict]:
    """The training loss of ``config`` (KL, CC and NSS terms with its weights) of predicted
    log-densities ``logp`` against target densities and fixation maps; returns ``(loss, parts)``
    (``parts``: the terms' values as floats, and ``loss``)."""
    if config.loss_kl:
        kl = kl_loss(logp, density).mean()
        loss = config.loss_kl * kl
    else:  # reported, not trained on
        with torch.no_grad():
            kl = kl_loss(logp, density).mean()
        loss = 0.0
    parts = {"kl": kl.item()}
    if config.loss_cc or config.loss_nss:
        # the map the model outputs, up to a positive affine map (NSS and CC ignore it): the
        # density, or for "minmax" the log-density (see the module docstring, "Loss")
        p = logp if config.output == "minmax" else logp.exp()
        if config.loss_cc:
            cc = _cc(p, density).mean()
            loss = loss - config.loss_cc * cc
            parts["cc"] = cc.item()
        if config.loss_nss:
            nss = _nss(p, fixmap).mean()
            loss = loss - config.loss_nss * nss
            parts["nss"] = nss.item()
    parts["loss"] = loss.item()
    return loss, parts
