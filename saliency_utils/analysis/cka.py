"""Linear centred kernel alignment (CKA) between two representations of the same inputs.

Kornblith, Norouzi, Lee & Hinton, "Similarity of neural network representations revisited",
ICML 2019: for activations ``X`` (n x p) and ``Y`` (n x q) of the same ``n`` examples, columns
centred,

``CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``.

It is 1 for identical representations, invariant to orthogonal transforms and isotropic scaling
of either side (not to arbitrary invertible linear maps), and 0 when the two are unrelated in
the limit of many examples. Convolutional feature maps are compared with each spatial position
of each image as one example (``(N, C, H, W)`` → ``(N*H*W, C)``, both sides at the same spatial
size), or after global average pooling (``pool=True``: one example per image).

:func:`layer_cka` is the book's one per-layer CKA between two networks (chapters 3 and 4): it
accumulates activations batch by batch with :class:`CKAAccumulator`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

__all__ = ["CKAAccumulator", "feature_matrix", "layer_cka", "linear_cka"]


def feature_matrix(a, pool: bool = False) -> np.ndarray:
    """``(N, C, H, W)`` or ``(N, C)`` activations → an ``(examples, C)`` float64 matrix."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 4:
        if pool:
            return a.mean(axis=(2, 3))
        return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])
    if a.ndim == 2:
        return a
    raise ValueError(f"activations must be (N, C) or (N, C, H, W), got shape {a.shape}")


def linear_cka(x, y, pool: bool = False) -> float:
    """Linear CKA between two representations of the same examples (see the module docstring).

    ``x`` and ``y`` are ``(N, C, H, W)`` feature maps (same ``N, H, W``) or ``(n, p)`` matrices
    with the same number of rows. Raises ``ValueError`` for mismatched examples, fewer than two
    examples, non-finite values or a constant representation (CKA is undefined there).
    """
    X, Y = feature_matrix(x, pool), feature_matrix(y, pool)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"x and y must describe the same examples: {X.shape[0]} vs {Y.shape[0]} "
                         "rows (feature maps need the same batch and spatial size)")
    if X.shape[0] < 2:
        raise ValueError("CKA needs at least two examples")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise ValueError("activations contain NaN or infinite values")
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    nx, ny = np.linalg.norm(X.T @ X), np.linalg.norm(Y.T @ Y)
    if nx == 0 or ny == 0:
        raise ValueError("a representation is constant over the examples; CKA is undefined")
    return float(np.linalg.norm(Y.T @ X) ** 2 / (nx * ny))


class CKAAccumulator:
    """Linear CKA of two representations accumulated over batches (rows are examples).

    ``update(x, y)`` with ``(n, p)`` and ``(n, q)`` arrays or ``(N, C, H, W)`` feature maps
    (positions as examples); :meth:`value` gives the same number as
    :func:`linear_cka` on all rows at once (up to rounding)."""

    def __init__(self):
        self.n = 0
        self.sx = self.sy = self.xx = self.yy = self.yx = None

    def update(self, x, y) -> None:
        X, Y = feature_matrix(x), feature_matrix(y)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"x and y must have the same examples: {X.shape[0]} vs {Y.shape[0]}")
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise ValueError("activations contain NaN or infinite values")
        if self.n == 0:
            self.sx, self.sy = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
            self.xx = np.zeros((X.shape[1],) * 2)
            self.yy = np.zeros((Y.shape[1],) * 2)
            self.yx = np.zeros((Y.shape[1], X.shape[1]))
        elif X.shape[1] != self.sx.size or Y.shape[1] != self.sy.size:
            raise ValueError("feature dimensions changed between updates")
        self.n += X.shape[0]
        self.sx += X.sum(0)
        self.sy += Y.sum(0)
        self.xx += X.T @ X
        self.yy += Y.T @ Y
        self.yx += Y.T @ X

    def value(self) -> float:
        if self.n < 2:
            raise ValueError("CKA needs at least two examples")
        mx, my = self.sx / self.n, self.sy / self.n
        cxx = self.xx - self.n * np.outer(mx, mx)
        cyy = self.yy - self.n * np.outer(my, my)
        cyx = self.yx - self.n * np.outer(my, mx)
        nx, ny = np.linalg.norm(cxx), np.linalg.norm(cyy)
        # relative to the activations' own scale (no absolute floor: a network with tiny
        # activations, e.g. random weights, is not constant)
        if nx <= 1e-12 * np.abs(self.xx).max() or ny <= 1e-12 * np.abs(self.yy).max():
            raise ValueError("a representation is constant over the examples; CKA is undefined")
        return float(np.linalg.norm(cyx) ** 2 / (nx * ny))


def _batch(acts, layer: str, side: str):
    """A layer's activations of one chunk: an ``(N, C, H, W)`` / ``(N, C)`` array or tensor, or
    a sequence of per-image ``(C, H, W)`` maps (stacked)."""
    if isinstance(acts, (list, tuple)):
        if not acts:
            raise ValueError(f"layer {layer}: no activations on side {side}")
        acts = torch.stack([torch.as_tensor(a) for a in acts])
    return acts


def layer_cka(chunks: Iterable[tuple[Mapping, Mapping]]) -> dict[str, float]:
    """Linear CKA per layer between two networks' activations of the same images.

    ``chunks``: ``(acts_a, acts_b)`` pairs, each ``{layer: activations of a batch}`` with the
    same layers on both sides (a list of one pair for activations held in memory, or a
    generator such as :func:`saliency_utils.analysis.layer_change.paired_outputs` to stream batches);
    activations are ``(N, C, H, W)`` (every spatial position of every image is one example;
    both sides at the same spatial size) or a list of per-image ``(C, H, W)`` maps. The sums
    of :class:`CKAAccumulator` give :func:`linear_cka` of all rows up to rounding. Returns
    ``{layer: CKA}`` in the first chunk's layer order."""
    acc: dict[str, CKAAccumulator] = {}
    for acts_a, acts_b in chunks:
        if set(acts_a) != set(acts_b):
            raise ValueError("both networks need the same layer names")
        if acc and set(acts_a) != set(acc):
            raise ValueError("the layers changed between chunks")
        for layer in acts_a:
            a, b = _batch(acts_a[layer], layer, "a"), _batch(acts_b[layer], layer, "b")
            if len(a) != len(b):
                raise ValueError(f"layer {layer}: {len(a)} vs {len(b)} images")
            if np.ndim(a) == 4 and tuple(a.shape[2:]) != tuple(b.shape[2:]):
                raise ValueError(f"layer {layer}: spatial sizes differ, {tuple(a.shape)} vs "
                                 f"{tuple(b.shape)}")
            acc.setdefault(layer, CKAAccumulator()).update(a, b)
    if not acc:
        raise ValueError("no activations given")
    return {layer: a.value() for layer, a in acc.items()}
