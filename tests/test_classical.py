"""Classical saliency models: paper formulas, obvious singletons, bad input."""
import cv2
import numpy as np
import pytest
from scipy import ndimage

from saliency_utils.models import classical
from saliency_utils.data.search_arrays import search_array


def _hit(sal, arr, dilate=8):
    y, x = np.unravel_index(np.argmax(sal), sal.shape)
    return ndimage.binary_dilation(arr.target_mask, iterations=dilate)[y, x]


@pytest.mark.parametrize("name", list(classical.MODELS))
def test_finds_an_obvious_colour_singleton(name):
    # a saturated blue disc among the orange ones differs in colour and in luminance
    arr = search_array("colour", target_value=(0, 0, 255), seed=4, target_pos=31)
    sal = classical.MODELS[name](arr.image)
    assert sal.shape == arr.target_mask.shape and sal.min() == 0 and sal.max() == 1
    assert _hit(sal, arr)
    assert sal[arr.target_mask].mean() > 2 * sal[arr.distractor_mask].mean()


@pytest.mark.parametrize("name", list(classical.MODELS))
def test_finds_a_lone_blob(name):
    img = np.full((240, 320, 3), 40, np.uint8)
    cv2.circle(img, (250, 60), 12, (250, 250, 250), -1)
    sal = classical.MODELS[name](img)
    y, x = np.unravel_index(np.argmax(sal), sal.shape)
    assert np.hypot(x - 250, y - 60) < 25


def test_spectral_residual_follows_the_paper_formulas():
    rng = np.random.default_rng(0)
    img = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    grey = img.astype(np.float64).mean(axis=2) / 255.0  # already 64 px wide: no resize
    f = np.fft.fft2(grey)
    L = np.log(np.abs(f))
    k = np.ones((3, 3)) / 9.0
    A = ndimage.convolve(L, k, mode="nearest")
    S = np.abs(np.fft.ifft2(np.exp(L - A + 1j * np.angle(f)))) ** 2
    S = (S - S.min()) / (S.max() - S.min())
    ours = classical.spectral_residual(img, width=64, sigma=0)
    np.testing.assert_allclose(ours, S, atol=1e-9)


def test_image_signature_follows_the_paper_formula():
    rng = np.random.default_rng(1)
    img = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    from scipy.fft import dctn, idctn

    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).astype(np.float64)
    s = sum(idctn(np.sign(dctn(lab[..., c], norm="ortho")), norm="ortho") ** 2
            for c in range(3))
    s = (s - s.min()) / (s.max() - s.min())
    np.testing.assert_allclose(classical.image_signature(img, width=64, blur_frac=0), s,
                               atol=1e-6)


def test_itti_koch_conspicuity_maps():
    arr = search_array("colour", target_value=(0, 0, 255), seed=5, target_pos=9)
    maps = classical.itti_koch_maps(arr.image)
    assert set(maps) == {"intensity", "colour", "orientation", "saliency"}
    small = cv2.resize(arr.target_mask.astype(np.uint8), maps["colour"].shape[::-1]) > 0
    c = maps["colour"]
    assert c[small].max() == pytest.approx(c.max())


def test_itti_normalisation_promotes_a_single_peak():
    one = np.zeros((32, 32))
    one[10, 10] = 1.0
    many = np.zeros((32, 32))
    many[::6, ::6] = 1.0
    assert classical._normalise(one).max() == pytest.approx(1.0)
    assert classical._normalise(many).max() < 0.05


@pytest.mark.parametrize("fn", list(classical.MODELS.values()))
def test_bad_input(fn):
    with pytest.raises(ValueError):
        fn(np.full((64, 64, 3), 7, np.uint8))
    with pytest.raises(ValueError):
        fn(np.zeros((64, 64, 5)))
    with pytest.raises(ValueError):
        fn(np.zeros((4, 4, 3)))
