"""Saliency evaluation metrics, following the MIT saliency benchmark conventions.

The reference convention is the MATLAB code of the MIT/Tuebingen benchmark (cvzoya/saliency,
``code_forMetrics/``), described in Bylinskii, Judd, Oliva, Torralba & Durand, "What do
different evaluation metrics tell us about saliency models?", TPAMI 2018. Every function below
ports one MATLAB file; its docstring states the convention and any deviation.

Inputs (all ``H x W``, same shape):

* ``sal``: float saliency map (any real values unless a metric says otherwise);
* ``fixmap``: binary fixation map (bool or 0/1), MIT's ``fixationPts``: a pixel fixated by several
  observers counts **once** (build it with :func:`saliency_utils.evaluate.maps.fixation_map`);
* ``density``: non-negative human fixation density (the blurred fixation map);
* ``other_fixmap``: binary map of fixations on *other* images (shuffled AUC);
* ``baseline``: baseline saliency map (usually a centre bias) for information gain.

Deviations from the MATLAB code, on purpose:

* **No silent resizing.** MATLAB ``imresize``-s the prediction to the fixation map's size. Here a
  shape mismatch raises ``ValueError``; resize first with
  ``saliency_utils.evaluate.maps.resize_map(sal, fixmap.shape)`` (bicubic + anti-aliasing, as ``imresize``).
* **No NaN.** Where MATLAB returns NaN (no fixations, constant map) or garbage (negative values in
  a distribution), a ``ValueError`` says what is wrong.
* **Extreme magnitudes.** A map whose largest absolute value is above ``2**200`` or below
  ``2**-200`` is multiplied by a power of two (exact) before sums and sums of squares, which
  would otherwise overflow or underflow (``nss(sal * 1e300, fix)`` would be 0.0); the scores are
  those of the unscaled map. AUC-Judd is not rescaled (its jitter is absolute, as in MATLAB),
  only its min-max step guards against an overflowing range.
* **Random numbers** come from ``np.random.default_rng(seed)`` and pixels are indexed in C (row-
  major) order, so AUC-Judd jitter and the AUC-Borji / sAUC splits are reproducible here but not
  bit-identical to MATLAB's ``rand``/``randi``/``randperm`` (column-major, Mersenne twister).
"""
from __future__ import annotations

import math

import numpy as np

from saliency_utils.evaluate.maps import check_map

__all__ = [
    "EPS", "METRIC_NAMES", "HIGHER_IS_BETTER",
    "auc_judd", "auc_borji", "auc_shuffled", "nss", "cc", "sim", "kld", "information_gain",
    "uniform_scores",
    ]

#: MATLAB ``eps`` (2.2204e-16), the regulariser of KLD and IG.
EPS = float(np.finfo(np.float64).eps)

#: Metric names in the order of the MIT benchmark tables (keys of
#: :func:`saliency_utils.evaluate.scoring.score_image`).
METRIC_NAMES = ("AUC-Judd", "AUC-Borji", "sAUC", "NSS", "CC", "SIM", "KLD", "IG")

#: ``True`` where a larger score is better; only KLD (a divergence) is lower-is-better.
HIGHER_IS_BETTER = {name: name != "KLD" for name in METRIC_NAMES}

_JITTER = 1e-7  # AUC_Judd.m: saliencyMap + rand(size(saliencyMap))/10000000


# --------------------------------------------------------------------------- input checks
def _same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"shape mismatch: {name_a} has shape {a.shape} but {name_b} has shape {b.shape}; "
            f"resize first, e.g. saliency_utils.evaluate.maps.resize_map({name_a}, {name_b}.shape) "
            "(the metrics never resize silently)"
        )


def _fixations(f, name: str = "fixmap", min_count: int = 1) -> np.ndarray:
    """Check a binary fixation map and return it as a bool array (a bool array as it is)."""
    arr = np.asarray(f)
    if arr.dtype == bool and arr.ndim == 2 and arr.size:
        mask = arr
    else:
        arr = check_map(f, name)
        binary = (arr == 0) | (arr == 1)
        if not np.all(binary):
            examples = np.unique(arr[~binary])[:3].tolist()
            raise ValueError(
                f"{name} must be binary (bool or 0/1), found values such as {examples}; "
                "build it with saliency_utils.evaluate.maps.fixation_map (a density is not a fixation map)"
            )
        mask = arr.astype(bool)
    count = int(np.count_nonzero(mask))
    if count == 0:
        raise ValueError(f"{name} has no fixations (all zero): the metric is undefined")
    if count < min_count:
        raise ValueError(f"{name} has {count} fixation(s); this metric needs at least {min_count}")
    return mask


# Magnitudes beyond these are scaled by a power of two (exact) before sums of squares or sums of
# the map, which would otherwise overflow to inf or underflow to 0 and give a plausible but wrong
# score (``nss(sal * 1e300, fix)`` was 0.0). Ordinary maps are never scaled.
_HUGE = 2.0 ** 200
_TINY = 2.0 ** -200


def _as_float(a, name: str) -> np.ndarray:
    """A 2-D, non-empty float64 array (not yet checked for NaN and inf)."""
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr.astype(np.float64, copy=False)


def _map(a, name: str) -> tuple[np.ndarray, float, float]:
    """:func:`~saliency_utils.evaluate.maps.check_map` and the map's minimum and maximum, in one go: NaN
    and inf show in the minimum or maximum, so no separate ``isfinite`` pass is needed. Maps of
    extreme magnitude come back scaled by a power of two (:data:`_HUGE`, :data:`_TINY`)."""
    arr = _as_float(a, name)
    lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf values")
    return _scaled(arr, lo, hi)


def _scaled(arr: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, float, float]:
    top = max(abs(lo), abs(hi))
    if top > _HUGE or 0 < top < _TINY:
        k = -math.frexp(top)[1]
        return np.ldexp(arr, k), math.ldexp(lo, k), math.ldexp(hi, k)
    return arr, lo, hi


def _distribution(a, name: str) -> tuple[np.ndarray, float, float]:
    """Check a non-negative map with a positive sum (a density, or a prediction read as one);
    returns it (scaled as :func:`_map` does) with its minimum and maximum."""
    arr, lo, hi = _map(a, name)
    if lo < 0:
        raise ValueError(
            f"{name} has negative values (min {lo:g}); it must be non-negative to be "
            "read as a distribution"
        )
    if not hi > 0:
        raise ValueError(f"{name} sums to 0: it cannot be normalised to a distribution")
    return arr, lo, hi


def _not_constant(lo: float, hi: float, name: str, metric: str) -> None:
    if hi == lo:
        raise ValueError(f"{metric} is undefined for a constant {name} (every value is {lo:g})")


def _minmax(a: np.ndarray, name: str, metric: str, lo=None, hi=None) -> np.ndarray:
    """MATLAB's ``(m - min(m(:))) / (max(m(:)) - min(m(:)))``; a constant map raises. A range
    that would overflow is handled by scaling with a power of two first (same result)."""
    if lo is None:
        lo, hi = float(a.min()), float(a.max())
    _not_constant(lo, hi, name, metric)
    if not math.isfinite(hi - lo):
        a, lo, hi = np.ldexp(a, -2), lo / 4, hi / 4
    out = a - lo
    out /= hi - lo
    return out


def _to_sum_one(x: np.ndarray) -> np.ndarray:
    """``x / x.sum()`` in place (``x`` is a fresh non-negative array with a positive sum)."""
    x *= 1.0 / x.sum()
    return x


def _finite(value, metric: str) -> float:
    value = float(value)
    if not np.isfinite(value):  # defensive: inputs are checked, but never return NaN silently
        raise ValueError(f"{metric} came out as {value}; check the input maps")
    return value


def _check_splits(n_splits, step) -> None:
    if int(n_splits) != n_splits or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    if not 0 < step <= 1:
        raise ValueError(f"step must lie in (0, 1], got {step!r}")


# --------------------------------------------------------------------------- AUC variants
def auc_judd(sal, fixmap, jitter=True, seed=0) -> float:
    """AUC-Judd (Judd et al. 2009; MIT ``AUC_Judd.m``).

    Positives are the fixated pixels, negatives **all non-fixated pixels**. Steps:

    1. if ``jitter``: add uniform noise in ``[0, 1e-7)`` to every pixel
       (``rng.random(shape) / 1e7`` with ``rng = np.random.default_rng(seed)``) to break ties, as
       MATLAB does by default; then min-max normalise to ``[0, 1]``;
    2. thresholds are the saliency values at the ``N_f`` fixated pixels, in descending order;
       at the i-th threshold ``t_i``: ``TP_i = i / N_f`` and
       ``FP_i = (#{pixels with S >= t_i} - i) / (N - N_f)``;
    3. add the end points (0, 0) and (1, 1) and integrate with the trapezoidal rule.

    Because only ``N_f`` thresholds are used, the ROC is interpolated linearly between them, so
    the score is slightly above the exact (Mann-Whitney) AUC when there are few fixations.

    Ties, with ``jitter=False``: MATLAB's formula assumes distinct values. When fixated pixels
    share a value, ``#{S >= t_i}`` already counts all of them at the first of the tied thresholds,
    so the others are counted as false positives there and the ROC steps back. This port keeps
    that behaviour for parity (a binary map equal to ``fixmap`` scores
    ``1 - (N_f - 1) / (2 (N - N_f))`` instead of 1); keep ``jitter=True`` for maps with ties.

    The jitter is absolute and added before normalisation, as in MATLAB: negligible for maps in
    ``[0, 1]`` or ``[0, 255]``, but it reorders values in maps with a tiny range (e.g. a density
    summing to 1 over 10^5 pixels); rescale such maps to ``[0, 1]`` first.

    A constant map raises ``ValueError`` even with jitter (the score would be pure noise), as
    does a fixation map covering every pixel (no negatives).
    """
    s = check_map(sal, "sal")
    f = _fixations(fixmap)
    _same_shape(s, f, "sal", "fixmap")
    _not_constant(float(s.min()), float(s.max()), "sal", "AUC-Judd")
    n_pix, n_fix = s.size, int(f.sum())
    if n_fix == n_pix:
        raise ValueError("AUC-Judd: every pixel is fixated, there are no negatives")
    if jitter:
        s = s + np.random.default_rng(seed).random(s.shape) * _JITTER
    flat = _minmax(s, "sal", "AUC-Judd").ravel()

    # n_above[i] = #{pixels with S >= t_i}, counted without sorting the whole map: each pixel
    # is binned by how many thresholds it reaches (at most n_fix, usually a few hundred)
    ascending = np.sort(flat[f.ravel()])
    reached = np.bincount(np.searchsorted(ascending, flat, side="right"), minlength=n_fix + 1)
    n_above = np.cumsum(reached[::-1])[:-1]  # thresholds in descending order
    i = np.arange(1, n_fix + 1)
    tp = np.concatenate(([0.0], i / n_fix, [1.0]))
    fp = np.concatenate(([0.0], (n_above - i) / (n_pix - n_fix), [1.0]))
    return _finite(np.trapezoid(tp, fp), "AUC-Judd")


def _split_auc(pos: np.ndarray, neg: np.ndarray, step: float) -> float:
    """Mean fixed-step ROC area over the rows of ``neg`` (MATLAB AUC_Borji / AUC_shuffled sweep).

    ``pos``: normalised values at the fixations, shape ``(n_pos,)``; ``neg``: normalised values at
    the sampled negatives, one row per split. MATLAB sweeps ``t = 0:step:max([pos; neg_row])``;
    here every split uses the common grid ``0:step:1``, which gives the same area because a
    threshold above the split's maximum adds the point (0, 0), of zero width.
    """
    n_thr = int(np.floor(1.0 / step + 1e-9)) + 1
    # k * step rounded to 12 decimals: 0.6, not 0.6000000000000001, so that a normalised 8-bit
    # value such as 153/255 == 0.6 reaches the 0.6 threshold (MATLAB's colon aims for the same).
    thr = np.round(np.arange(n_thr) * step, 12)

    def rate_at_or_above(values: np.ndarray) -> np.ndarray:
        """(rows, m) values -> (rows, n_thr) fraction of each row with value >= thr[k]."""
        rows, m = values.shape
        reached = np.searchsorted(thr, values, side="right")  # value >= thr[k]  <=>  k < reached
        hist = np.bincount((reached + (n_thr + 1) * np.arange(rows)[:, None]).ravel(),
                           minlength=rows * (n_thr + 1)).reshape(rows, n_thr + 1)
        at_or_above = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
        return at_or_above / m

    tp = rate_at_or_above(pos[None, :])[0, ::-1]  # descending thresholds
    fp = rate_at_or_above(neg)[:, ::-1]
    rows = fp.shape[0]
    tp = np.broadcast_to(np.concatenate(([0.0], tp, [1.0])), (rows, n_thr + 2))
    fp = np.hstack([np.zeros((rows, 1)), fp, np.ones((rows, 1))])
    return float(np.mean(np.trapezoid(tp, fp, axis=1)))


def auc_borji(sal, fixmap, n_splits=100, step=0.1, seed=0) -> float:
    """AUC-Borji (Borji et al. 2013; MIT ``AUC_Borji.m``).

    The map is min-max normalised. For each of ``n_splits`` splits, ``N_f`` negatives are drawn
    **uniformly with replacement from all pixels** (fixated ones included):
    ``rng.integers(0, H * W, size=(n_splits, N_f))`` indexes the C-order flattened map, with
    ``rng = np.random.default_rng(seed)``. Thresholds are the multiples of ``step`` from 0 up to
    the largest value at the fixations or the negatives, in descending order (11 thresholds for
    ``step=0.1``); ``TP = #{S_fix >= t} / N_f`` and ``FP = #{S_neg >= t} / N_f``. The end points
    (0, 0) and (1, 1) are added, the area is taken with the trapezoidal rule and averaged over
    the splits. The coarse grid shifts the score by up to about 0.01 from the exact ROC area.
    (On this common grid the area is linear in the FP rates, so the mean over splits equals the
    area computed with all ``n_splits * N_f`` negatives pooled: more splits only reduce the
    sampling noise.)

    Needs at least 2 fixations (MATLAB's documented convention) and a non-constant map.
    """
    _check_splits(n_splits, step)
    s, lo, hi = _map(sal, "sal")
    f = _fixations(fixmap, min_count=2)
    _same_shape(s, f, "sal", "fixmap")
    flat = _minmax(s, "sal", "AUC-Borji", lo, hi).ravel()
    pos = flat[f.ravel()]
    rng = np.random.default_rng(seed)
    neg = flat[rng.integers(0, flat.size, size=(int(n_splits), pos.size))]
    return _finite(_split_auc(pos, neg, step), "AUC-Borji")


def auc_shuffled(sal, fixmap, other_fixmap, n_splits=100, step=0.1, seed=0) -> float:
    """Shuffled AUC, sAUC (Zhang et al. 2008, Borji et al. 2013; MIT ``AUC_shuffled.m``).

    As :func:`auc_borji`, but the negatives are the saliency values at the fixated pixels of
    ``other_fixmap`` (the union of the fixations on other images; Borji used 10), which cancels
    the centre bias shared by all images. Each split takes ``N_oth = min(N_f, #other)`` of these
    locations **without replacement**: with ``rng = np.random.default_rng(seed)``, the split
    keeps the ``N_oth`` locations (C order) with the smallest keys of
    ``rng.random((n_splits, #other))``, a uniformly random subset as MATLAB's ``randperm``.
    ``FP = #{S_neg >= t} / N_oth``; thresholds and integration as in :func:`auc_borji`.

    Pixels fixated in both maps are kept in both (as in MATLAB). ``other_fixmap`` must be binary,
    of the same shape as ``fixmap`` (rescale the other images' fixation coordinates first) and
    non-empty.
    """
    _check_splits(n_splits, step)
    s, lo, hi = _map(sal, "sal")
    f = _fixations(fixmap)
    _same_shape(s, f, "sal", "fixmap")
    other = _fixations(other_fixmap, "other_fixmap")
    _same_shape(f, other, "fixmap", "other_fixmap")
    flat = _minmax(s, "sal", "sAUC", lo, hi).ravel()
    pos = flat[f.ravel()]
    candidates = np.flatnonzero(other.ravel())
    n_oth = min(pos.size, candidates.size)
    # the n_oth smallest keys of each split: only the set matters (the rates count it), so a
    # partial partition gives the same negatives as a full sort, in linear time; when every
    # candidate is taken the keys decide nothing
    if n_oth < candidates.size:
        keys = np.random.default_rng(seed).random((int(n_splits), candidates.size))
        chosen = candidates[np.argpartition(keys, n_oth - 1, axis=1)[:, :n_oth]]
    else:
        chosen = np.broadcast_to(candidates, (int(n_splits), candidates.size))
    return _finite(_split_auc(pos, flat[chosen], step), "sAUC")


# --------------------------------------------------------------------------- other metrics
def nss(sal, fixmap) -> float:
    """Normalized Scanpath Saliency (Peters et al. 2005; MIT ``NSS.m``).

    ``S`` is standardised with its mean and its **sample** standard deviation (``ddof=1``,
    MATLAB ``std``), then averaged over the fixated pixels; each fixated pixel counts once
    (pysaliency uses ``ddof=0`` and weights each fixation, so its numbers differ slightly).
    Invariant to ``a * sal + b`` for ``a > 0``. A constant map (std 0) raises ``ValueError``.
    """
    s = _as_float(sal, "sal")
    f = _fixations(fixmap)
    _same_shape(s, f, "sal", "fixmap")
    n = s.size
    # Fast path: sum of squared deviations from two sums, no min/max/isfinite pass. Both sums
    # finite means every value is finite; ``ss`` well above the cancellation error means the map
    # is not constant. Anything else (NaN, inf, overflow, underflow, a large offset) takes the
    # checked path: min/max checks, scaling by a power of two, centring before squaring.
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        total = float(s.sum())
        total_sq = float(np.multiply(s, s).sum())
    mean = total / n
    ss = total_sq - n * mean * mean
    if not (math.isfinite(total) and math.isfinite(total_sq) and total_sq > _TINY ** 3
            and ss > 1e-4 * total_sq):
        s, lo, hi = _map(s, "sal")
        _not_constant(lo, hi, "sal", "NSS")
        mean = float(s.sum()) / n
        d = s - mean
        np.multiply(d, d, out=d)
        ss = float(d.sum())
    std = math.sqrt(ss / (n - 1))
    return _finite((s[f].mean() - mean) / std, "NSS")


def cc(sal, density) -> float:
    """Pearson linear correlation coefficient (MIT ``CC.m``: standardise both maps, ``corr2``).

    ``sum(a b) / sqrt(sum(a^2) sum(b^2))`` with ``a``, ``b`` the mean-subtracted maps; in
    ``[-1, 1]`` and symmetric in its two arguments. ``density`` must be non-negative; ``sal`` may
    take any real values. Either map constant raises ``ValueError``.
    """
    a, alo, ahi = _map(sal, "sal")
    g, glo, ghi = _distribution(density, "density")
    _same_shape(a, g, "sal", "density")
    _not_constant(alo, ahi, "sal", "CC")
    _not_constant(glo, ghi, "density", "CC")
    a = a - a.mean()
    b = g - g.mean()
    ab = np.multiply(a, b).sum()
    np.multiply(a, a, out=a)
    np.multiply(b, b, out=b)
    return _finite(ab / (math.sqrt(a.sum()) * math.sqrt(b.sum())), "CC")


def sim(sal, density) -> float:
    """Similarity, or histogram intersection (MIT ``similarity.m``).

    Each map is min-max normalised to ``[0, 1]`` and then divided by its sum (so that a map
    with an offset gains nothing), and ``SIM = sum(min(P, Q))``, in ``[0, 1]``, 1 for identical
    maps. Note that the min-max step moves the density too if its minimum is positive.
    A constant map (min-max undefined; MATLAB returns NaN, or 0 for an all-zero map) raises.
    """
    a, alo, ahi = _map(sal, "sal")
    g, glo, ghi = _distribution(density, "density")
    _same_shape(a, g, "sal", "density")
    _not_constant(alo, ahi, "sal", "SIM")
    _not_constant(glo, ghi, "density", "SIM")
    # min-max then divide by the sum == subtract the minimum then divide by the sum
    p = _to_sum_one(a - alo)
    q = _to_sum_one(g - glo)
    return _finite(np.minimum(p, q, out=p).sum(), "SIM")


def kld(sal, density) -> float:
    """Kullback-Leibler divergence KL(density || sal) (MIT ``KLdiv.m``).

    Both maps are divided by their sums (no min-max), then
    ``KLD = sum(Q * ln(EPS + Q / (P + EPS)))`` with ``P`` the prediction, ``Q`` the density and
    ``EPS = 2.2204e-16`` (MATLAB ``eps``; deep-learning code often uses 1e-7, which gives very
    different numbers because near-zero predictions dominate). Lower is better; 0 up to about
    ``N * EPS`` for ``sal == density`` (the ``EPS`` terms can make it a hair negative).
    ``sal`` must be non-negative with a positive sum (it is read as a distribution).
    """
    p, *_ = _distribution(sal, "sal")
    q, *_ = _distribution(density, "density")
    _same_shape(p, q, "sal", "density")
    p = p / p.sum()
    p += EPS
    q = q / q.sum()
    r = np.divide(q, p, out=p)
    r += EPS
    np.log(r, out=r)
    return _finite(np.multiply(q, r, out=r).sum(), "KLD")


def information_gain(sal, fixmap, baseline) -> float:
    """Information gain over a baseline, in bits per fixated pixel (MIT ``InfoGain.m``).

    ``sal`` and ``baseline`` are each min-max normalised and divided by their sums;
    ``IG = mean over fixated pixels of log2(EPS + P) - log2(EPS + B)``. The MIT benchmark uses
    a centre bias as ``baseline`` (e.g. :func:`saliency_utils.evaluate.maps.gaussian_centre_bias`).
    Because of the min-max step the minimum pixel of each map has probability 0, so a fixation
    there costs ``log2(EPS) = -52`` bits. A constant ``sal`` or ``baseline`` raises (a uniform
    baseline is not expressible in this convention).
    """
    s, slo, shi = _map(sal, "sal")
    b, blo, bhi = _map(baseline, "baseline")
    f = _fixations(fixmap)
    _same_shape(s, f, "sal", "fixmap")
    _same_shape(b, f, "baseline", "fixmap")
    _not_constant(slo, shi, "sal", "IG")
    _not_constant(blo, bhi, "baseline", "IG")
    p = _to_sum_one(s - slo)
    q = _to_sum_one(b - blo)
    return _finite(np.mean(np.log2(EPS + p[f]) - np.log2(EPS + q[f])), "IG")




def uniform_scores(fixmap, density=None, baseline=None,
                   wanted=METRIC_NAMES) -> dict:
    """The ``wanted`` metrics of the **uniform map** (every pixel equally likely; a
    :class:`saliency_utils.evaluate.maps.UniformMap`), whose scores the map formulas leave undefined
    (they min-max normalise or standardise a constant):

    * AUC-Judd, AUC-Borji, sAUC: **0.5** (every pixel has the same rank: the ROC is the diagonal);
    * NSS, CC: **0** (no covariance with the fixations or the density; the limit of the
      standardised map);
    * SIM: ``sum(min(1/N, Q))`` with ``Q`` the density min-max normalised and summed to 1 as
      :func:`sim` does;
    * KLD: :func:`kld` of a constant map (defined: KLD reads the map as a distribution);
    * IG: ``mean over fixations of log2(EPS + 1/N) - log2(EPS + B)``, the baseline ``B``
      normalised as :func:`information_gain` does: the uniform map read as the uniform
      probability (the min-max convention cannot express it).

    ``density`` is needed for CC, SIM and KLD and ``baseline`` for IG (each skipped without
    it, as :func:`saliency_utils.evaluate.scoring.score_image` skips sAUC and IG)."""
    f = _fixations(fixmap)
    n = f.size
    out = {}
    for name in wanted:
        if name in ("AUC-Judd", "AUC-Borji", "sAUC"):
            out[name] = 0.5
        elif name in ("NSS", "CC"):
            if name == "CC" and density is None:
                continue
            out[name] = 0.0
        elif name in ("SIM", "KLD"):
            if density is None:
                continue
            g, glo, ghi = _map(density, "density")
            _same_shape(g, f, "density", "fixmap")
            if name == "KLD":
                out[name] = kld(np.ones(f.shape), g)
            else:
                _not_constant(glo, ghi, "density", "SIM")
                q = _to_sum_one(g - glo)
                out[name] = _finite(np.minimum(q, 1.0 / n).sum(), "SIM")
        elif name == "IG":
            if baseline is None:
                continue
            b, blo, bhi = _map(baseline, "baseline")
            _same_shape(b, f, "baseline", "fixmap")
            _not_constant(blo, bhi, "baseline", "IG")
            q = _to_sum_one(b - blo)
            out[name] = _finite(np.mean(np.log2(EPS + 1.0 / n) - np.log2(EPS + q[f])), "IG")
        else:
            raise ValueError(f"unknown metric {name!r}; known: {METRIC_NAMES}")
    return out
