"""Activation maximisation of single units: the image that most excites a unit at the centre
of the visual field (Erhan et al. 2009; with the regularisers of Yosinski et al. 2015).

For each unit (:class:`saliency_utils.analysis.receptive_fields.Unit`), gradient ascent with Adam on the
network's (normalised) input, starting from small seeded noise around the mean image, on

``a_unit(x)[centre] - weight_decay * ||x||^2``

where ``a_unit(x)[centre]`` is the unit's activation at the central cell of its layer's map.
Each step applies a random shift (``jitter`` pixels, undone after the step) and every
``blur_every`` steps a Gaussian blur (``blur_sigma``), the usual regularisers that keep the
image from turning into high-frequency noise. The units of one layer are optimised together,
one image per unit in a batch (their objectives are independent). Deterministic for a seed.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from saliency_utils.explain.classviz import gaussian_blur
from saliency_utils.analysis.receptive_fields import Unit, layer_outputs

__all__ = ["maximise_units"]


def maximise_units(model: nn.Module, modules: Mapping[str, nn.Module], units: Sequence[Unit],
                   size: tuple[int, int] = (96, 96), steps: int = 64, lr: float = 0.05,
                   weight_decay: float = 1e-3, jitter: int = 4, blur_every: int = 4,
                   blur_sigma: float = 0.5, init_std: float = 0.1, seed: int = 0,
                   device=None) -> dict:
    """Maximise each unit's activation at the centre of its map (see the module docstring).

    Returns ``{unit: (image, start, end)}``: the ``3 x H x W`` optimised input (normalised
    space, detached, CPU) and the unit's central activation for the starting noise and for
    the final image (without jitter). Raises ``ValueError`` for bad arguments or a channel
    the layer does not have.
    """
    if steps < 0 or lr <= 0 or weight_decay < 0 or jitter < 0 or blur_every < 0:
        raise ValueError("need steps >= 0, lr > 0, weight_decay, jitter, blur_every >= 0")
    if not units:
        raise ValueError("no units given")
    h, w = (int(v) for v in size)
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for layer in sorted({u.layer for u in units}):
        if layer not in modules:
            raise ValueError(f"layer {layer!r} is not in modules ({', '.join(modules)})")
        group = [u for u in units if u.layer == layer]
        mod = {layer: modules[layer]}
        channels = torch.tensor([u.channel for u in group])
        x = (init_std * torch.randn(len(group), 3, h, w, generator=gen)).to(device)

        def central(inp):
            a = layer_outputs(model, inp, mod, grad=True)[layer]
            if int(channels.max()) >= a.shape[1]:
                raise ValueError(f"layer {layer} has {a.shape[1]} channels; asked for "
                                 f"{channels.tolist()}")
            cy, cx = (a.shape[2] - 1) // 2, (a.shape[3] - 1) // 2
            return a[torch.arange(len(group)), channels.to(a.device), cy, cx]

        with torch.no_grad():
            start = central(x).detach().cpu()
        x.requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr)
        for step in range(steps):
            dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
                      if jitter else (0, 0))
            opt.zero_grad()
            shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            objective = central(shifted).sum() - weight_decay * (x ** 2).sum()
            (-objective).backward()
            opt.step()
            if blur_every and blur_sigma > 0 and (step + 1) % blur_every == 0:
                with torch.no_grad():
                    x.copy_(gaussian_blur(x, blur_sigma))
        with torch.no_grad():
            end = central(x).detach().cpu()
        for i, u in enumerate(group):
            out[u] = (x[i].detach().cpu(), float(start[i]), float(end[i]))
    return out
