"""Permutation dissection (dissection.permutation_dissect): its null is calibrated (max-T keeps the
family-wise error over a layer's units at 5 %), a planted detector is found (power), IoU agrees
with the plain dissection, and bad input is refused."""
import numpy as np
import pytest
import torch

from saliency_utils.analysis import dissection

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


# --------------------------------------------------------------------------- per-image evidence
def _brute_excess(acts, masks, cat, quantile=0.995):
    """Per image and unit, IoU with the own mask minus the mean IoU with the other masks that
    contain ``cat``, written out with numpy (the reference of Overlaps.image_excess)."""
    thr = dissection.unit_thresholds(acts, (quantile,))[0]
    grid = masks[0][cat].shape
    on = [(torch.nn.functional.interpolate(torch.as_tensor(a)[None], size=grid, mode="bilinear",
                                           align_corners=False)[0].numpy() > thr[:, None, None])
          for a in acts]
    has = [m[cat].any() for m in masks]
    out = np.full((len(thr), len(masks)), np.nan)
    for i, act in enumerate(on):
        if not has[i]:
            continue
        for k in range(len(thr)):
            def iou(mask):
                u = (act[k] | mask).sum()
                return (act[k] & mask).sum() / u if u else 0.0
            others = [iou(masks[j][cat]) for j in range(len(masks)) if j != i and has[j]]
            out[k, i] = iou(masks[i][cat]) - np.mean(others)
    return out


def test_image_excess_matches_a_brute_force_reference_and_crossfits_on_the_other_fold():
    rng = np.random.default_rng(4)
    masks = _masks(rng, 14)
    acts = _acts(rng, masks, 5, plant={1: "head"})
    ov = dissection.unit_overlaps(acts, masks, CATS)
    ex = ov.image_excess("l", n_null=3, seed=0)
    for ci, c in enumerate(CATS):
        np.testing.assert_allclose(ex.excess[ci], _brute_excess(acts, masks, c), atol=1e-6)
        # the unit chosen on fold f is the best mean excess there; it scores the other fold
        for f in (0, 1):
            use = (ex.folds == f) & ex.contains[0, ci]
            best = int(np.argmax(np.nanmean(np.where(use, ex.excess[ci], np.nan), axis=1)))
            assert ex.selected[0, ci, f] == best
            other = (ex.folds == 1 - f) & ex.contains[0, ci]
            np.testing.assert_allclose(ex.crossfit[0, ci, other], ex.excess[ci, best, other], atol=1e-6)
    assert ex.crossfit.shape == (4, 2, 14) and ex.selected.shape == (4, 2, 2)
    assert np.array_equal(np.isfinite(ex.crossfit[0, 0]), ex.contains[0, 0])
    # the real dissection's permutation null is untouched by the shared pass
    d = ov.permutation("l", n_perm=30, seed=1)
    e = dissection.permutation_dissect("l", acts, masks, CATS, n_perm=30, seed=1)
    np.testing.assert_array_equal(d.p_adj, e.p_adj)


def test_image_excess_is_centred_without_an_effect_and_finds_a_planted_unit():
    rng = np.random.default_rng(5)
    null_means, planted, chosen = [], [], 0
    for r in range(25):
        masks = _masks(rng, 40)
        ex = dissection.unit_overlaps(_acts(rng, masks, 8), masks, CATS).image_excess("l")
        null_means.append(np.mean(ex.values("head")))
        masks = _masks(rng, 40)
        ex = dissection.unit_overlaps(_acts(rng, masks, 8, plant={2: "head"}), masks,
                                      CATS).image_excess("l")
        planted.append(np.mean(ex.values("head")))
        chosen += int(np.sum(ex.selected[0, 0] == 2))
    assert chosen >= 0.8 * 50, f"the planted unit was chosen on {chosen} of 50 folds"
    null_means, planted = np.array(null_means), np.array(planted)
    # the cross-fitted unit choice leaves no selection bias: the null mean is within noise of 0
    se = null_means.std(ddof=1) / np.sqrt(len(null_means))
    assert abs(null_means.mean()) < 3 * se + 1e-9
    assert planted.mean() > null_means.mean() + 10 * se


def test_image_excess_refuses_bad_folds_and_skips_categories_in_one_image():
    rng = np.random.default_rng(6)
    masks = _masks(rng, 6, p_head=0.0)
    masks[0]["head"][:2, :2] = True  # one image with a head: nothing to compare it with
    ov = dissection.unit_overlaps(_acts(rng, masks, 3), masks, CATS)
    ex = ov.image_excess("l")
    assert np.all(np.isnan(ex.crossfit[0, 0])) and np.all(ex.selected[0, 0] == -1)
    with pytest.raises(ValueError, match="folds"):
        ov.image_excess("l", folds=[0, 1, 2, 0, 1, 0])
    with pytest.raises(ValueError, match="n_null"):
        ov.image_excess("l", n_null=-1)


def test_with_units_equals_measuring_the_added_units_together():
    rng = np.random.default_rng(8)
    masks = _masks(rng, 30)
    acts = _acts(rng, masks, 6)
    extra = _acts(rng, masks, 1, plant={0: "head"}, strength=4.0)
    both = [torch.cat([a, b]) for a, b in zip(acts, extra)]
    merged = (dissection.unit_overlaps(acts, masks, CATS).image_excess("l", n_null=2)
              .with_units(dissection.unit_overlaps(extra, masks, CATS).image_excess("l")))
    joint = dissection.unit_overlaps(both, masks, CATS).image_excess("l")
    np.testing.assert_allclose(merged.excess, joint.excess, atol=1e-6)
    np.testing.assert_array_equal(merged.selected, joint.selected)
    np.testing.assert_allclose(merged.crossfit, joint.crossfit, atol=1e-6)
    assert set(merged.selected[0, 0]) == {6}  # the planted unit, chosen on both folds
    other = dissection.unit_overlaps(extra[:-1] + extra[:1], masks[:-1] + masks[:1], CATS)
    with pytest.raises(ValueError, match="same images"):
        merged.with_units(other.image_excess("l"))
