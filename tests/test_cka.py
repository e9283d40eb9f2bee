import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from saliency_utils.analysis.cka import feature_matrix, linear_cka


def _rng():
    return np.random.default_rng(0)


def test_self_similarity_is_one():
    x = _rng().normal(size=(50, 8))
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_invariant_to_orthogonal_transform_and_scale():
    rng = _rng()
    x = rng.normal(size=(60, 10))
    q = ortho_group.rvs(10, random_state=1)
    assert linear_cka(x, 3.0 * x @ q) == pytest.approx(1.0)
    y = rng.normal(size=(60, 5))
    assert linear_cka(x @ q, y) == pytest.approx(linear_cka(x, y))


def test_not_invariant_to_general_linear_map():
    rng = _rng()
    x = rng.normal(size=(200, 6))
    a = np.diag([10.0, 1, 1, 1, 1, 0.1])
    assert linear_cka(x, x @ a) < 0.9


def test_independent_representations_low_and_matches_hsic_form():
    rng = _rng()
    x, y = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4))
    assert linear_cka(x, y) < 0.02
    # reference: kernel (HSIC) form with centred Gram matrices
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 7))
    h = np.eye(30) - 1 / 30
    k, l = h @ x @ x.T @ h, h @ y @ y.T @ h
    ref = np.sum(k * l) / np.sqrt(np.sum(k * k) * np.sum(l * l))
    assert linear_cka(x, y) == pytest.approx(ref)


def test_feature_maps_positions_as_examples_and_pooling():
    a = torch.randn(3, 4, 5, 6)
    assert feature_matrix(a).shape == (90, 4)
    assert feature_matrix(a, pool=True).shape == (3, 4)
    np.testing.assert_allclose(feature_matrix(a)[0], a[0, :, 0, 0].numpy())
    assert linear_cka(a, a) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["rows", "one", "nan", "constant", "ndim"])
def test_bad_input(bad):
    x = _rng().normal(size=(10, 3))
    with pytest.raises(ValueError):
        if bad == "rows":
            linear_cka(x, x[:9])
        elif bad == "one":
            linear_cka(x[:1], x[:1])
        elif bad == "nan":
            y = x.copy(); y[0, 0] = np.nan; linear_cka(x, y)
        elif bad == "constant":
            linear_cka(x, np.ones((10, 3)))
        else:
            linear_cka(np.zeros((2, 3, 4)), x)
