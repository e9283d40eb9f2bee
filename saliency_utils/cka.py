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
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["linear_cka", "feature_matrix"]


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
