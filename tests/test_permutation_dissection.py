"""Permutation dissection (dissection.permutation_dissect): its null is calibrated (max-T keeps the
family-wise error over a layer's units at 5 %), a planted detector is found (power), IoU agrees
with the plain dissection, and bad input is refused."""
import numpy as np
import pytest
import torch

from saliency_utils import dissection

CATS = ("head", "text/sign")


def _masks(rng, n, grid=(16, 20), p_head=0.5, p_text=0.5):
    out = []
    for _ in range(n):
        m = {c: np.zeros(grid, bool) for c in CATS}
        if rng.random() < p_head:
            r, c = rng.integers(0, grid[0] - 4), rng.integers(0, grid[1] - 4)
            m["head"][r:r + 4, c:c + 4] = True
        if rng.random() < p_text:
            r, c = rng.integers(0, grid[0] - 4), rng.integers(0, grid[1] - 8)
            m["text/sign"][r:r + 4, c:c + 8] = True
        out.append(m)
    return out


def _acts(rng, masks, units, size=(8, 10), plant=None, strength=3.0):
    """Random unit maps; with ``plant={unit: category}`` those units follow that category's mask."""
    out = []
    for m in masks:
        a = rng.normal(size=(units, *size)).astype(np.float32)
        for k, c in (plant or {}).items():
            small = torch.nn.functional.adaptive_avg_pool2d(
                torch.from_numpy(m[c].astype(np.float32))[None, None], size)[0, 0].numpy()
            a[k] += strength * small
        out.append(torch.from_numpy(a))
    return out


def test_null_family_wise_error_at_most_five_percent():
    rng = np.random.default_rng(0)
    reps, hits = 60, 0
    for r in range(reps):
        masks = _masks(rng, 30)
        d = dissection.permutation_dissect("l", _acts(rng, masks, 12), masks, CATS, n_perm=199, seed=r)
        hits += any(d.counts().values())
        assert np.all(d.p_adj >= d.p - 1e-12)
    # 5 % of 60 = 3 expected at most; binomial(60, 0.05) exceeds 7 with probability < 0.5 %
    assert hits <= 7, f"{hits} of {reps} null layers had a detector"


def test_planted_detector_is_found_and_counted_for_its_category():
    rng = np.random.default_rng(1)
    found = 0
    for r in range(10):
        masks = _masks(rng, 60)
        acts = _acts(rng, masks, 20, plant={3: "head", 7: "text/sign"}, strength=4.0)
        d = dissection.permutation_dissect("l", acts, masks, CATS, n_perm=199, seed=r)
        found += (3 in d.detectors("head")) and (7 in d.detectors("text/sign"))
        assert 3 not in d.detectors("text/sign")
        assert d.images_containing["head"] == sum(m["head"].any() for m in masks)
    assert found >= 9


def test_iou_matches_plain_dissection_and_shuffles_are_reproducible():
    rng = np.random.default_rng(2)
    masks = _masks(rng, 12)
    acts = _acts(rng, masks, 6, plant={0: "head"})
    a = dissection.permutation_dissect("l", acts, masks, CATS, n_perm=50, seed=5)
    b = dissection.permutation_dissect("l", acts, masks, CATS, n_perm=50, seed=5)
    plain = dissection.dissect("l", acts, masks, quantiles=(0.995,), categories=CATS)
    np.testing.assert_allclose(a.iou, plain.iou[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(a.p_adj, b.p_adj)
    assert 1 / 51 <= a.p.min() and a.p.max() <= 1


@pytest.mark.parametrize("case, match", [
    ("lengths", "activation sets"), ("grid", "common grid"), ("missing", "every category"),
    ("one", "two images"), ("empty", "empty"),
])
def test_bad_input_is_refused(case, match):
    rng = np.random.default_rng(3)
    masks = _masks(rng, 4)
    acts = _acts(rng, masks, 3)
    if case == "lengths":
        acts = acts[:3]
    elif case == "grid":
        masks[1] = {c: np.zeros((8, 8), bool) for c in CATS}
    elif case == "missing":
        masks[0] = {"head": masks[0]["head"]}
    elif case == "one":
        masks, acts = masks[:1], acts[:1]
    elif case == "empty":
        masks = [{c: np.zeros((16, 20), bool) for c in CATS} for _ in masks]
    with pytest.raises(ValueError, match=match):
        dissection.permutation_dissect("l", acts, masks, CATS, n_perm=10)
