"""Fixations of one image: 0-based pixel coordinates with observer ids.

Conventions (those of :mod:`saliency_utils.evaluate.maps`): ``x`` is the column and ``y`` the row, as
floats, 0-based, pixel centres at integers, so the image covers ``[-0.5, W - 0.5] x
[-0.5, H - 0.5]``. Loaders convert each dataset's own convention (often MATLAB's 1-based one)
to this and build :class:`Fixations` with :meth:`Fixations.from_points`, which

* drops points that are NaN or lie outside the image by more than half a pixel (counted in
  ``n_dropped``), and
* clips points within half a pixel of the border onto the border pixel centre, i.e. into
  ``[0, W - 1] x [0, H - 1]`` (counted in ``n_clipped``); they fall on the border pixel anyway.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from saliency_utils.evaluate import maps

__all__ = ["Fixations"]


def _as_1d(a, dtype) -> np.ndarray:
    arr = np.array(a, dtype=dtype).ravel()  # a copy: the caller's array is left alone
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Fixations:
    """Fixations on one image of shape ``(H, W)``.

    ``observer`` gives an integer id per fixation (what the id means is said by each loader).
    ``dropped_observer`` holds the observer id of every point removed by :meth:`from_points` and
    ``clipped`` flags the points it clipped, so that ``n_dropped`` and ``n_clipped`` stay right
    for per-observer subsets.
    """

    x: np.ndarray
    y: np.ndarray
    observer: np.ndarray
    shape: tuple[int, int]
    dropped_observer: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)
    clipped: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        x = _as_1d(self.x, np.float64)
        y = _as_1d(self.y, np.float64)
        obs = _as_1d(self.observer, np.int64)
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 2 or min(shape) <= 0:
            raise ValueError(f"shape must be (H, W) with positive sizes, got {self.shape}")
        if not (x.size == y.size == obs.size):
            raise ValueError(f"x, y and observer must have the same length, got "
                             f"{x.size}, {y.size}, {obs.size}")
        h, w = shape
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("fixation coordinates must be finite; use Fixations.from_points")
        if x.size and (x.min() < 0 or x.max() > w - 1 or y.min() < 0 or y.max() > h - 1):
            raise ValueError(f"fixations must lie in [0, {w - 1}] x [0, {h - 1}]; "
                             "use Fixations.from_points to clip or drop the others")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "observer", obs)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dropped_observer", _as_1d(self.dropped_observer, np.int64))
        clipped = _as_1d(np.zeros(x.size, bool) if self.clipped is None else self.clipped, bool)
        if clipped.size != x.size:
            raise ValueError("clipped must have one flag per fixation")
        object.__setattr__(self, "clipped", clipped)

    @classmethod
    def from_points(cls, x, y, observer, shape) -> "Fixations":
        """Build from 0-based coordinates, dropping NaN / out-of-image points and clipping points
        within half a pixel of the border (see the module docstring)."""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        obs = np.broadcast_to(np.asarray(observer, dtype=np.int64), x.shape).ravel()
        h, w = (int(s) for s in shape)
        with np.errstate(invalid="ignore"):
            keep = ((x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5))
        xk, yk = x[keep], y[keep]
        xc, yc = np.clip(xk, 0, w - 1), np.clip(yk, 0, h - 1)
        return cls(xc, yc, obs[keep], (h, w), dropped_observer=obs[~keep],
                   clipped=(xc != xk) | (yc != yk))

    # --- basic properties -------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def n_dropped(self) -> int:
        """Number of points removed (NaN or more than half a pixel outside the image)."""
        return int(self.dropped_observer.size)

    @property
    def n_clipped(self) -> int:
        """Number of points clipped onto the border (they were within half a pixel of it)."""
        return int(np.count_nonzero(self.clipped))

    @property
    def observers(self) -> np.ndarray:
        """Sorted unique observer ids that have at least one fixation."""
        return np.unique(self.observer)

    def __repr__(self) -> str:
        return (f"Fixations(n={len(self)}, observers={self.observers.size}, shape={self.shape}, "
                f"n_dropped={self.n_dropped}, n_clipped={self.n_clipped})")

    # --- subsets ------------------------------------------------------------------------------
    def _subset(self, mask: np.ndarray, dropped_mask: np.ndarray) -> "Fixations":
        return Fixations(self.x[mask], self.y[mask], self.observer[mask], self.shape,
                         dropped_observer=self.dropped_observer[dropped_mask],
                         clipped=self.clipped[mask])

    def for_observer(self, i: int) -> "Fixations":
        """Fixations of observer ``i`` only."""
        return self._subset(self.observer == i, self.dropped_observer == i)

    def excluding_observer(self, i: int) -> "Fixations":
        """Fixations of all observers but ``i`` (leave-one-out)."""
        return self._subset(self.observer != i, self.dropped_observer != i)

    # --- maps -----------------------------------------------------------------------------------
    def counts(self) -> np.ndarray:
        """Number of fixations per pixel (float ``H x W``)."""
        return maps.fixation_counts(self.x, self.y, self.shape)

    def fixation_map(self) -> np.ndarray:
        """Binary fixation map (bool ``H x W``; duplicates on a pixel count once)."""
        return maps.fixation_map(self.x, self.y, self.shape)

    def density(self, sigma: float) -> np.ndarray:
        """Fixation density summing to 1: counts blurred with a Gaussian of ``sigma`` *pixels*
        (use a dataset's ``*_SIGMA_PX`` constant, or :func:`saliency_utils.evaluate.maps.sigma_px`)."""
        return maps.gaussian_density(self.counts(), sigma)
