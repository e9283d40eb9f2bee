"""Fixation maps, densities, the centre bias and the anchors' helpers."""
import numpy as np
import pytest
from scipy import ndimage

from saliency_utils.evaluate import anchors, maps


def test_fixation_map_rounds_to_nearest_pixel_and_counts_duplicates():
    x = np.array([0.0, 2.4, 2.5, 3.4])  # 2.5 rounds up (MATLAB), unlike np.rint
    y = np.array([0.0, 1.0, 1.0, 1.0])
    fm = maps.fixation_map(x, y, (3, 4))
    assert fm.dtype == bool and fm.sum() == 3
    assert fm[0, 0] and fm[1, 2] and fm[1, 3]
    counts = maps.fixation_counts(x, y, (3, 4))
    assert counts[1, 3] == 2 and counts.sum() == 4


@pytest.mark.parametrize("x,y,msg", [
    ([4.0], [0.0], "outside"), ([-0.6], [0.0], "outside"),
    ([np.nan], [0.0], "NaN"), ([1.0, 2.0], [1.0], "same length"),
])
def test_fixation_map_rejects_bad_points(x, y, msg):
    with pytest.raises(ValueError, match=msg):
        maps.fixation_map(x, y, (3, 4))


@pytest.mark.parametrize("n_points", [5, 300])  # sparse (matrix product) and dense (filter) paths
def test_gaussian_density_matches_scipy_filter(n_points):
    rng = np.random.default_rng(n_points)
    c = np.zeros((60, 80))
    np.add.at(c, (rng.integers(0, 60, n_points), rng.integers(0, 80, n_points)), 1.0)
    ref = ndimage.gaussian_filter(c, 4.0, mode="constant", truncate=4.0)
    d = maps.gaussian_density(c, 4.0)
    assert d.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(d, ref / ref.sum(), rtol=0, atol=1e-12)


def test_gaussian_density_bad_input():
    with pytest.raises(ValueError, match="no fixations"):
        maps.gaussian_density(np.zeros((4, 4)), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        maps.gaussian_density(-np.ones((4, 4)), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        maps.gaussian_density(np.ones((4, 4)), 0.0)
    with pytest.raises(ValueError, match="2-D"):
        maps.gaussian_density(np.ones(4), 1.0)


def test_centre_bias_map_is_a_centred_density():
    cb = maps.gaussian_centre_bias((61, 81), (0.2, 0.3))
    assert cb.sum() == pytest.approx(1.0)
    assert np.unravel_index(cb.argmax(), cb.shape) == (30, 40)
    np.testing.assert_allclose(cb, cb[::-1, ::-1])
    with pytest.raises(ValueError):
        maps.gaussian_centre_bias((10, 10), (0.0, 0.2))


def test_sigma_px_and_to_density():
    assert maps.sigma_px(1.0, 35.0) == 35.0
    with pytest.raises(ValueError):
        maps.sigma_px(-1, 35)
    assert maps.to_density(np.ones((2, 2))).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="negative"):
        maps.to_density(np.array([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="zero"):
        maps.to_density(np.zeros((2, 2)))


def test_resize_map_keeps_non_negative_and_shape():
    a = np.zeros((40, 40))
    a[20, 20] = 1
    r = maps.resize_map(a, (10, 12))
    assert r.shape == (10, 12) and r.min() >= 0 and r.max() > 0


class _Fix:
    """Minimal stand-in for data.Fixations (x, y, shape)."""

    def __init__(self, x, y, shape):
        self.x, self.y, self.shape = np.asarray(x, float), np.asarray(y, float), shape


def test_fit_centre_bias_recovers_the_generating_widths():
    rng = np.random.default_rng(0)
    h, w = 300, 400
    sets = [_Fix(np.clip(rng.normal(w / 2 - 0.5, 0.2 * w, 500), 0, w - 1),
                 np.clip(rng.normal(h / 2 - 0.5, 0.1 * h, 500), 0, h - 1), (h, w))
            for _ in range(10)]
    sy, sx = anchors.fit_centre_bias(sets)
    assert sy == pytest.approx(0.1, abs=0.01) and sx == pytest.approx(0.2, abs=0.01)


def test_other_fixation_map_excludes_the_image_and_rescales():
    a = _Fix([0.0], [0.0], (10, 10))      # its own fixation must not appear
    b = _Fix([19.0], [9.0], (10, 20))     # bottom-right corner of a 10 x 20 image
    m = anchors.other_fixation_map([a, b], 0, (5, 5))
    assert m.sum() == 1 and m[4, 4] and not m[0, 0]
    with pytest.raises(ValueError, match="at least one other"):
        anchors.other_fixation_map([a], 0, (5, 5))


@pytest.mark.parametrize("src,dst", [((224, 224), (600, 800)), ((60, 80), (17, 23)),
                                     ((30, 40), (30, 97)), ((5, 1), (9, 4)), ((1, 1), (3, 2))])
def test_resize_map_equals_skimage_resize(src, dst):
    """The separable product is skimage's resize (bicubic, mirror borders, anti-aliasing when
    shrinking, clipped to the input range) to rounding error, up and down, per axis."""
    from skimage.transform import resize

    a = ndimage.gaussian_filter(np.random.default_rng(3).random(src), 1.5) - 0.2
    ref = resize(a, dst, order=3, mode="reflect", anti_aliasing=True, preserve_range=True)
    out = maps.resize_map(a, dst)
    assert out.shape == dst and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    lin = resize(a, dst, order=1, mode="reflect", anti_aliasing=True, preserve_range=True)
    np.testing.assert_allclose(maps.resize_map(a, dst, order=1), lin, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="two positive sizes"):
        maps.resize_map(a, (0, 4))
