"""Kotseruba et al. (BMVC 2019) target-detection measures."""
import numpy as np
import pytest

from saliency_utils.evaluate import search_metrics as sm
from saliency_utils.data.search_arrays import search_array


@pytest.fixture(scope="module")
def arr():
    return search_array("colour", seed=2, target_pos=17)


def test_perfect_and_inverted_maps(arr):
    good = arr.target_mask.astype(float) + 0.01
    assert sm.gsi(good, arr.target_mask, arr.distractor_mask) == pytest.approx(
        (1.01 - 0.01) / (1.01 + 0.01))
    assert sm.msr_target(good, arr.target_mask, arr.distractor_mask) == pytest.approx(101)
    assert sm.msr_background(good, arr.target_mask, arr.distractor_mask) == pytest.approx(
        0.01 / 1.01)
    assert sm.fixations_to_target(good, arr.target_mask) == (1, True)
    assert sm.item_rank(good, arr.items, 17) == 1
    bad = arr.distractor_mask.astype(float) + 0.01
    assert sm.gsi(bad, arr.target_mask, arr.distractor_mask) < 0
    assert sm.item_rank(bad, arr.items, 17) == 49
    n, found = sm.fixations_to_target(bad, arr.target_mask, ior=75)
    assert n > 10
    assert sm.target_nss(good, arr.target_mask) > 5 > sm.target_nss(bad, arr.target_mask)


def test_matches_authors_formulas_on_random_map(arr):
    rng = np.random.default_rng(0)
    s = rng.random(arr.target_mask.shape)
    t, d = arr.target_mask, arr.distractor_mask
    rt, rd = s[t].mean(), s[d].mean()
    assert sm.gsi(s, t, d) == pytest.approx((rt - rd) / (rt + rd))
    assert sm.msr_target(s, t, d) == pytest.approx(s[t].max() / s[d].max())
    assert sm.msr_background(s, t, d) == pytest.approx(s[~(t | d)].max() / s[t].max())
    z = (s - s.mean()) / s.std(ddof=1)
    assert sm.target_nss(s, t) == pytest.approx(z[t].mean())


def test_fixations_count_ranked_peaks():
    t = np.zeros((100, 100), bool)
    t[80:85, 80:85] = True
    s = np.zeros((100, 100))
    s[10, 10], s[10, 50], s[50, 50], s[82, 82] = 4, 3, 2, 1
    assert sm.fixations_to_target(s, t, ior=10) == (4, True)
    assert sm.fixations_to_target(s, t, ior=10, max_fixations=2) == (2, False)


def test_scale_invariance_and_search_scores(arr):
    rng = np.random.default_rng(1)
    s = rng.random(arr.target_mask.shape) + 2 * arr.target_mask
    a, b = sm.search_scores(s, arr), sm.search_scores(7.0 * s, arr)
    assert a == pytest.approx(b)
    assert a["rank"] == 1 and a["found"] and a["fixations"] == 1


def test_bad_input(arr):
    s = np.ones(arr.target_mask.shape)
    with pytest.raises(ValueError):
        sm.gsi(s[:10], arr.target_mask, arr.distractor_mask)
    with pytest.raises(ValueError):
        sm.gsi(s, np.zeros_like(arr.target_mask), arr.distractor_mask)
    with pytest.raises(ValueError):
        sm.target_nss(s, arr.target_mask)  # constant map
    s2 = s.copy()
    s2[0, 0] = np.nan
    with pytest.raises(ValueError):
        sm.msr_target(s2, arr.target_mask, arr.distractor_mask)
    with pytest.raises(ValueError):
        sm.item_rank(s, arr.items, 99)


def test_deepgaze_map_of_the_p3_example(bundle):
    """The bundle's DeepGaze II map of the P3 example: DeepGaze II does not single out this
    colour target (its maximum lies on distractors; values computed here, not from the paper),
    while a map that is the target mask does."""
    from saliency_utils import data

    ex = data.load_p3_example()
    g = sm.gsi(ex["deepgaze2"], ex["target_mask"], ex["distractor_mask"])
    assert -1 <= g < 0
    assert sm.msr_target(ex["deepgaze2"], ex["target_mask"], ex["distractor_mask"]) < 1
    assert sm.fixations_to_target(ex["target_mask"] * 1.0 + 0.1, ex["target_mask"]) == (1, True)
