"""The book's statistics against scipy and simulation."""
import numpy as np
import pytest
from scipy import stats as st

from saliency_utils.evaluate import stats


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_mean_ci_matches_scipy_bootstrap(method):
    rng = np.random.default_rng(1)
    v = rng.exponential(size=150)
    ours = stats.mean_ci(v, n_boot=20000, method=method, expand=False)
    ref = st.bootstrap((v,), np.mean, n_resamples=20000, method=method,
                       random_state=np.random.default_rng(2)).confidence_interval
    assert ours.value == pytest.approx(v.mean())
    assert ours.lo == pytest.approx(ref.low, abs=0.01)
    assert ours.hi == pytest.approx(ref.high, abs=0.01)
    assert method in ours.method


def test_bootstrap_ci_generic_statistic_over_rows():
    rng = np.random.default_rng(0)
    pairs = rng.normal(size=(80, 2)) + [0.0, 0.5]
    e = stats.bootstrap_ci(pairs, lambda x: float(np.mean(x[:, 1] - x[:, 0])), n_boot=500)
    assert e.lo < 0.5 < e.hi and e.n == 80


def test_mean_ci_coverage_is_near_nominal():
    rng = np.random.default_rng(3)
    covered = [(e := stats.mean_ci(rng.normal(0.2, 1, 60), n_boot=500, seed=i)).lo < 0.2 < e.hi
               for i in range(300)]
    assert 0.9 <= np.mean(covered) <= 0.99


def test_degenerate_and_bad_input():
    for n in (10, 100):  # no spread: no interval (a rule on it is inconclusive)
        e = stats.mean_ci(np.ones(n))
        assert e.value == 1.0 and np.isnan(e.lo) and np.isnan(e.hi) and "same value" in e.method
    with pytest.raises(ValueError, match="NaN"):
        stats.mean_ci([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="at least one unit"):
        stats.mean_ci([])
    with pytest.raises(ValueError, match="same shape"):
        stats.paired_difference([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="method"):
        stats.mean_ci([1, 2, 3], method="normal")


def test_paired_difference_and_sign_flip():
    rng = np.random.default_rng(4)
    a = rng.normal(size=200)
    e = stats.paired_difference(a + 0.5, a + rng.normal(0, 0.1, 200))
    assert e.lo > 0.4 and e.p < 0.001
    null = stats.paired_difference(a, a + rng.normal(0, 1, 200) * 0)
    assert null.p == 1.0 and null.value == 0


def test_permutation_test_detects_shift_and_not_null():
    rng = np.random.default_rng(5)
    assert stats.permutation_test(rng.normal(1, 1, 40), rng.normal(0, 1, 40)) < 0.01
    assert stats.permutation_test(rng.normal(0, 1, 40), rng.normal(0, 1, 40)) > 0.05


def test_spearman_ci():
    rng = np.random.default_rng(6)
    x = rng.normal(size=200)
    e = stats.spearman_ci(x, x + rng.normal(0, 0.5, 200))
    assert e.lo < e.value < e.hi and e.lo > 0.7
    small = stats.spearman_ci(np.arange(7), np.arange(7))
    assert small.value == pytest.approx(1.0) and small.p == pytest.approx(2 / 5040)
    e8 = stats.spearman_ci(np.arange(8), [0, 2, 1, 3, 4, 6, 5, 7])
    assert 0 < e8.p < 0.01
    with pytest.raises(ValueError, match="constant"):
        stats.spearman_ci(np.arange(6), np.ones(6))


def test_tost():
    rng = np.random.default_rng(7)
    assert stats.tost(rng.normal(0, 1, 500), -0.3, 0.3) < 0.01
    assert stats.tost(rng.normal(1, 1, 500), -0.3, 0.3) > 0.5


def test_holm_and_bh():
    p = [0.01, 0.04, 0.03, 0.2]
    np.testing.assert_allclose(stats.holm(p), [0.04, 0.09, 0.09, 0.2])
    np.testing.assert_allclose(stats.fdr_bh(p), [0.04, 0.0533333, 0.0533333, 0.2], rtol=1e-5)


def test_n_for_power_matches_simulation():
    n = stats.n_for_power(1.0, 0.3)
    rng = np.random.default_rng(8)
    hits = [stats.mean_ci(rng.normal(0.3, 1, n), n_boot=400, seed=i).lo > 0 for i in range(300)]
    assert 0.72 <= np.mean(hits) <= 0.88


def test_paired_difference_of_one_unit_has_no_interval_and_no_p():
    e = stats.paired_difference([2.0], [1.0])
    assert e.value == 1.0 and e.n == 1
    assert np.isnan(e.lo) and np.isnan(e.hi) and np.isnan(e.p)


def test_cohens_kappa_textbook_example_and_edges():
    # Cohen (1960)-style 2x2 table (Wikipedia's worked example): 20 yes/yes, 5 yes/no,
    # 10 no/yes, 15 no/no -> p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert stats.cohens_kappa(a, b) == pytest.approx(0.4)
    assert stats.cohens_kappa(a, a) == pytest.approx(1.0)
    assert stats.cohens_kappa([1, 2, 3], [2, 3, 1]) < 0  # systematic disagreement
    assert np.isnan(stats.cohens_kappa(["x"] * 4, ["x"] * 4))
    with pytest.raises(ValueError, match="same items"):
        stats.cohens_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="no items"):
        stats.cohens_kappa([], [])
