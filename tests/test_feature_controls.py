"""The matched control banks of chapter 5 (saliency_utils.explain.feature_controls)."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.filters import gabor_kernel

from saliency_utils.explain import feature_controls as fc
from saliency_utils.explain import loggabor_explain as lx
from saliency_utils.explain.loggabor import LogGaborBank

pytestmark = pytest.mark.usefixtures("one_thread")

REF = LogGaborBank(n_scales=3, n_orientations=4)
SPEC = lx.FeatureSpec(REF, lowpass=True, context=(1.0,))


def _grating(along_y: bool, wavelength: float, shape=(64, 64)) -> torch.Tensor:
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    img = 0.5 + 0.4 * np.cos(2 * np.pi * (yy if along_y else xx) / wavelength)
    return torch.from_numpy(np.repeat(img[None, None], 3, 1)).float()


@pytest.mark.parametrize("kind", fc.CONTROL_KINDS)
def test_control_specs_match_the_log_gabor_dimension(kind):
    spec = lx.control_spec(SPEC, kind, seed=3)
    assert spec.n_features == SPEC.n_features == (3 * 3 * 4 + 3) * 2
    assert len(spec.names) == spec.n_features
    rgb = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    f = spec.compute(rgb, (6, 8))
    assert f.shape == (2, spec.n_features, 6, 8) and torch.isfinite(f).all()
    ref = SPEC.compute(rgb, (6, 8))
    n_bank = 3 * 3 * 4
    # the low-pass features are the same, the bank's features are not
    torch.testing.assert_close(f[:, n_bank:n_bank + 3], ref[:, n_bank:n_bank + 3])
    assert not torch.allclose(f[:, :n_bank], ref[:, :n_bank], rtol=0.1, atol=1e-3)
    assert {d["kind"] for d in spec.names} == {"blur" if kind == "blur" else "energy", "lowpass"}


def test_random_filters_are_seeded_zero_mean_with_the_log_gabor_support():
    a, b, c = fc.RandomFilterBank(REF, 0), fc.RandomFilterBank(REF, 0), fc.RandomFilterBank(REF, 1)
    for ka, kb, kc in zip(a.kernels(), fc.RandomFilterBank(REF, 0)._make(), c.kernels()):
        np.testing.assert_array_equal(ka, kb)  # deterministic (a fresh draw, not the cache)
        assert not np.allclose(ka, kc)
    np.testing.assert_array_equal(a.filters((40, 50)), b.filters((40, 50)))
    for s, k in enumerate(a.kernels()):
        assert k.shape[0] == REF.n_orientations and k.shape[1] == k.shape[2] and k.shape[1] % 2
        np.testing.assert_allclose(k.real.sum(axis=(1, 2)), 0, atol=1e-10)
        np.testing.assert_allclose(k.imag.sum(axis=(1, 2)), 0, atol=1e-10)
        # the log-Gabor impulse response (same crop) has the same energy
        n = 256
        lg = np.fft.fftshift(REF.spatial_kernels((n, n))[s], axes=(-2, -1))
        r = k.shape[1] // 2
        crop = lg[:, n // 2 - r:n // 2 + r + 1, n // 2 - r:n // 2 + r + 1]
        np.testing.assert_allclose(np.linalg.norm(k, axis=(1, 2)), np.linalg.norm(crop, axis=(1, 2)),
                                   rtol=1e-4)  # the bank's envelope grid is smaller than 256
        # weighted by the log-Gabor envelope: small where the envelope is small
        small = np.abs(crop) < 1e-3 * np.abs(crop).max(axis=(1, 2), keepdims=True)
        assert small.any() and np.abs(k[small]).max() < 0.02 * np.abs(k).max()
    # the kernels do not depend on the image size: the response of an impulse is the kernel
    x = torch.zeros(1, 1, 64, 80, dtype=torch.float64)
    x[0, 0, 30, 40] = 1.0
    k1 = a.kernels()[1][2]
    r = k1.shape[0] // 2
    resp = a.responses(x)[0, 0, 1, 2].numpy()
    np.testing.assert_allclose(resp[30 - r:30 + r + 1, 40 - r:40 + r + 1], k1, atol=1e-12)


def test_kernel_banks_filter_like_a_periodic_spatial_convolution():
    bank = fc.GaborBank(REF)
    rng = np.random.default_rng(0)
    img = rng.random((40, 48))
    resp = bank.responses(torch.from_numpy(img)[None, None])[0, 0].numpy()
    for s, k in enumerate(bank.kernels()):
        for o in (0, 3):
            want = (ndimage.convolve(img, k[o].real, mode="wrap")
                    + 1j * ndimage.convolve(img, k[o].imag, mode="wrap"))
            np.testing.assert_allclose(resp[s, o], want, atol=1e-10)
    e = bank.energy(torch.from_numpy(img)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(e, np.abs(resp), atol=1e-10)


def test_gabor_bank_design_and_orientation_convention():
    g = fc.GaborBank(REF)
    f = g.frequencies
    assert f[0] == pytest.approx(REF.frequencies[0]) and f[-1] == pytest.approx(REF.frequencies[-1])
    np.testing.assert_allclose(np.diff(f), np.diff(f)[0])  # linear spacing
    k = g.kernels()[0][1]
    ref = gabor_kernel(f[0], theta=math.pi / 2 - REF.orientations[1], sigma_x=g.sigma,
                       sigma_y=g.sigma, n_stds=3)
    pad = (k.shape[0] - ref.shape[0]) // 2
    np.testing.assert_allclose(k[pad:k.shape[0] - pad, pad:k.shape[0] - pad], ref)
    # θ = 0 responds to horizontal bars (intensity along y), like the log-Gabor bank
    wl = 1 / f[0]
    spec = lx.FeatureSpec(g, lowpass=False)
    for along_y, want in ((True, 0), (False, 2)):
        e = spec.compute(_grating(along_y, wl, (60, 60)), (3, 3))[0].mean(dim=(1, 2))
        assert spec.names[int(torch.argmax(e))]["orientation"] == want
        assert spec.names[int(torch.argmax(e))]["scale"] == 0


def test_blur_bank_is_a_gaussian_blur_without_orientation():
    bank = fc.BlurBank(REF)
    sig = bank.sigmas
    assert sig.shape == (3, 4) and np.all(np.diff(sig.ravel()) > 0)
    assert sig.ravel()[0] == pytest.approx(REF.wavelengths[0] / 2)
    assert sig.ravel()[-1] == pytest.approx(REF.wavelengths[-1])
    rng = np.random.default_rng(1)
    img = rng.random((64, 72))
    out = bank.energy(torch.from_numpy(img)[None, None])[0, 0].numpy()
    for s, o in ((0, 0), (1, 2)):
        want = ndimage.gaussian_filter(img, sig[s, o], mode="wrap", truncate=6.0)
        np.testing.assert_allclose(out[s, o], want, atol=2e-4)
    # no orientation: horizontal and vertical bars give the same pooled features
    spec = lx.FeatureSpec(bank, lowpass=False)
    h = spec.compute(_grating(True, 8.0), (4, 4))[0].mean(dim=(1, 2))
    v = spec.compute(_grating(False, 8.0), (4, 4))[0].mean(dim=(1, 2))
    torch.testing.assert_close(h, v, rtol=1e-4, atol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown control"):
        fc.control_bank("wavelet", REF)
    with pytest.raises(TypeError):
        fc.GaborBank("kovesi")
    with pytest.raises(TypeError):
        fc.RandomFilterBank(REF, seed=1.5)
    with pytest.raises(ValueError, match="energy bank"):
        lx.FeatureSpec(fc.BlurBank(REF), compress=True)
    with pytest.raises(ValueError, match="larger than"):
        fc.RandomFilterBank(LogGaborBank(n_scales=5)).filters((40, 40))
    with pytest.raises(ValueError, match="plain energy"):
        lx.control_spec(lx.FeatureSpec(REF, signed=True), "random")
    with pytest.raises(TypeError):
        lx.control_spec(lx.FeatureSpec(fc.GaborBank(REF)), "random")
