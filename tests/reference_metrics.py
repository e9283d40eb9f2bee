"""Naive reference implementations of the saliency metrics, for tests only.

Written independently of ``saliency_utils.evaluate.metrics`` from the published definitions (Judd et al.
2009; Borji et al. 2013; Bylinskii et al., TPAMI 2018) and the MIT MATLAB code they describe:
plain Python loops over pixels, thresholds and splits, no vectorisation, no shared helpers.
Slow; use only on small maps.

Random parts draw the same numbers as the package so that results can be compared exactly:

* AUC-Judd jitter: ``rng.random(shape) / 1e7``;
* AUC-Borji: ``rng.integers(0, n_pixels, size=(n_splits, n_fix))``, C-order pixel indices;
* sAUC: ``rng.random((n_splits, n_other))`` keys, the split takes the other-image fixations
  (C order) with the smallest keys.
"""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

EPS = 2.220446049250313e-16  # MATLAB eps


def _pixels(a):
    """All pixel values in C (row-major) order, as a list of Python floats."""
    a = np.asarray(a, dtype=float)
    return [float(a[r, c]) for r in range(a.shape[0]) for c in range(a.shape[1])]


def _normalise01(values):
    lo, hi = min(values), max(values)
    return [(v - lo) / (hi - lo) for v in values]


def _trapz(xs, ys):
    area = 0.0
    for k in range(1, len(xs)):
        area += (xs[k] - xs[k - 1]) * (ys[k] + ys[k - 1]) / 2.0
    return area


def ref_auc_judd(sal, fixmap, jitter=True, seed=0):
    sal = np.asarray(sal, dtype=float)
    if jitter:
        sal = sal + np.random.default_rng(seed).random(sal.shape) / 10000000
    s = _normalise01(_pixels(sal))
    fix = _pixels(fixmap)
    sth = [v for v, f in zip(s, fix) if f > 0]
    n_fix, n_pix = len(sth), len(s)
    xs, ys = [0.0], [0.0]
    for i, thresh in enumerate(sorted(sth, reverse=True), start=1):
        above = sum(1 for v in s if v >= thresh)
        ys.append(i / n_fix)
        xs.append((above - i) / (n_pix - n_fix))
    xs.append(1.0)
    ys.append(1.0)
    return _trapz(xs, ys)


def _thresholds(max_value, step):
    """MATLAB ``fliplr(0:step:max_value)``, each k*step as the double nearest its decimal value."""
    dstep = Decimal(repr(step))
    out, k = [], 0
    while True:
        t = float(dstep * k)
        if t > max_value + 1e-9 * step:
            break
        out.append(t)
        k += 1
    return out[::-1]


def _fixed_step_auc(sth, negatives, step):
    """One split: MATLAB's loop, thresholds up to the split's maximum."""
    xs, ys = [0.0], [0.0]
    for t in _thresholds(max(sth + negatives), step):
        ys.append(sum(1 for v in sth if v >= t) / len(sth))
        xs.append(sum(1 for v in negatives if v >= t) / len(negatives))
    xs.append(1.0)
    ys.append(1.0)
    return _trapz(xs, ys)


def ref_auc_borji(sal, fixmap, n_splits=100, step=0.1, seed=0):
    s = _normalise01(_pixels(sal))
    fix = _pixels(fixmap)
    sth = [v for v, f in zip(s, fix) if f > 0]
    draws = np.random.default_rng(seed).integers(0, len(s), size=(n_splits, len(sth)))
    aucs = []
    for split in range(n_splits):
        negatives = [s[int(j)] for j in draws[split]]
        aucs.append(_fixed_step_auc(sth, negatives, step))
    return sum(aucs) / len(aucs)


def ref_auc_shuffled(sal, fixmap, other_fixmap, n_splits=100, step=0.1, seed=0):
    s = _normalise01(_pixels(sal))
    fix = _pixels(fixmap)
    sth = [v for v, f in zip(s, fix) if f > 0]
    other = [j for j, f in enumerate(_pixels(other_fixmap)) if f > 0]
    n_oth = min(len(sth), len(other))
    keys = np.random.default_rng(seed).random((n_splits, len(other)))
    aucs = []
    for split in range(n_splits):
        order = sorted(range(len(other)), key=lambda k: keys[split, k])
        negatives = [s[other[k]] for k in order[:n_oth]]
        aucs.append(_fixed_step_auc(sth, negatives, step))
    return sum(aucs) / len(aucs)


def ref_nss(sal, fixmap):
    s = _pixels(sal)
    mean = sum(s) / len(s)
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / (len(s) - 1))
    z = [(v - mean) / std for v, f in zip(s, _pixels(fixmap)) if f > 0]
    return sum(z) / len(z)


def ref_cc(map1, map2):
    a, b = _pixels(map1), _pixels(map2)
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb)


def ref_sim(map1, map2):
    p, q = _normalise01(_pixels(map1)), _normalise01(_pixels(map2))
    sp, sq = sum(p), sum(q)
    return sum(min(x / sp, y / sq) for x, y in zip(p, q))


def ref_kld(sal, density):
    p, q = _pixels(sal), _pixels(density)
    sp, sq = sum(p), sum(q)
    total = 0.0
    for x, y in zip(p, q):
        x, y = x / sp, y / sq
        total += y * math.log(EPS + y / (x + EPS))
    return total


def ref_information_gain(sal, fixmap, baseline):
    p, b = _normalise01(_pixels(sal)), _normalise01(_pixels(baseline))
    sp, sb = sum(p), sum(b)
    gains = [math.log2(EPS + x / sp) - math.log2(EPS + y / sb)
             for x, y, f in zip(p, b, _pixels(fixmap)) if f > 0]
    return sum(gains) / len(gains)
