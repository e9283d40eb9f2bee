import numpy as np
import pytest
import torch
from phasecongruency import gaborconvolve
from scipy import ndimage

from saliency_utils.explain.loggabor import LogGaborBank, opponent_channels


def _grating(shape, cycles_y, cycles_x, phase=0.0):
    """A periodic grating with an integer number of cycles along y and x."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    return np.cos(2 * np.pi * (cycles_y * y / h + cycles_x * x / w) + phase)


def test_zero_dc_response():
    bank = LogGaborBank()
    filt = bank.filters((48, 64))
    assert filt.shape == (4, 6, 48, 64)
    assert np.all(filt[:, :, 0, 0] == 0)
    const = torch.full((1, 1, 48, 64), 3.7, dtype=torch.float64)
    assert bank.responses(const).abs().max() < 1e-12
    # and a constant offset does not change the response to an image
    img = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 1, 48, 64)))
    torch.testing.assert_close(bank.responses(img + 5.0), bank.responses(img))


@pytest.mark.parametrize("s", [0, 1, 2, 3])
@pytest.mark.parametrize("o", [0, 2, 5])
def test_peak_frequency_and_orientation_where_designed(s, o):
    bank = LogGaborBank()
    f = np.geomspace(0.02, 0.5, 1001)  # steps of 0.32 %
    t = np.linspace(-np.pi, np.pi, 721)  # steps of 0.5 degree
    ff, tt = np.meshgrid(f, t, indexing="ij")
    g = bank.transfer(ff * np.cos(tt), ff * np.sin(tt))[s, o]
    i, j = np.unravel_index(np.argmax(g), g.shape)
    # the Butterworth low-pass (cut-off 0.45) lowers the finest scale's peak by < 0.5 %
    assert f[i] == pytest.approx(bank.frequencies[s], rel=0.005)
    assert t[j] == pytest.approx(bank.orientations[o], abs=np.radians(0.26))
    assert g.max() == pytest.approx(1.0, abs=0.002)


def test_orientation_convention_with_gratings():
    # theta = 0 passes intensity changes along y (horizontal bars), theta = 90 deg along x
    bank = LogGaborBank(n_scales=1, n_orientations=4, min_wavelength=4.0)
    horizontal = torch.from_numpy(_grating((64, 64), 16, 0))[None, None]
    vertical = torch.from_numpy(_grating((64, 64), 0, 16))[None, None]
    e_h = bank.energy(horizontal).mean(dim=(-2, -1))[0, 0, 0]
    e_v = bank.energy(vertical).mean(dim=(-2, -1))[0, 0, 0]
    assert int(torch.argmax(e_h)) == 0
    assert int(torch.argmax(e_v)) == 2


def test_radial_tuning_with_gratings_peaks_at_design_scale():
    bank = LogGaborBank(n_scales=3, n_orientations=4, min_wavelength=4.0, mult=2.0)
    # wavelengths 4, 8, 16 px on a 64 px image: 16, 8, 4 cycles
    for s, cycles in enumerate([16, 8, 4]):
        img = torch.from_numpy(_grating((64, 64), cycles, 0))[None, None]
        e = bank.energy(img).mean(dim=(-2, -1))[0, 0, :, 0]
        assert int(torch.argmax(e)) == s


def test_even_and_odd_parts_are_in_quadrature():
    # six orientations: the angular Gaussian's leak into the opposite half-plane is ~1e-11
    bank = LogGaborBank(n_scales=2, n_orientations=6, min_wavelength=4.0)
    # a grating at the peak frequency of filter (0, 0): the response is A exp(i phase)
    img = torch.from_numpy(_grating((64, 64), 16, 0, phase=0.3))[None, None]
    r = bank.responses(img)[0, 0, 0, 0].numpy()
    mag = np.abs(r)
    assert mag.std() / mag.mean() < 1e-9  # constant energy: even and odd have equal amplitude
    even_ref = _grating((64, 64), 16, 0, phase=0.3)
    odd_ref = _grating((64, 64), 16, 0, phase=0.3 - np.pi / 2)
    assert np.corrcoef(r.real.ravel(), even_ref.ravel())[0, 1] > 0.999999
    assert np.corrcoef(r.imag.ravel(), odd_ref.ravel())[0, 1] > 0.999999
    # kernels: real part even, imaginary part odd about the origin, equal energy (Hilbert pair)
    k = bank.spatial_kernels((33, 35))
    flipped = np.roll(k[..., ::-1, ::-1], shift=(1, 1), axis=(-2, -1))  # k(-y, -x)
    np.testing.assert_allclose(flipped.real, k.real, atol=1e-12)
    np.testing.assert_allclose(flipped.imag, -k.imag, atol=1e-12)
    # equal up to the overlap of H(f) and H(-f) at 90 degrees from the peak (~1e-5)
    np.testing.assert_allclose((k.real ** 2).sum((-2, -1)), (k.imag ** 2).sum((-2, -1)),
                               rtol=1e-4)


def test_matches_kovesi_gaborconvolve_reference():
    img = np.random.default_rng(1).random((40, 56))
    params = dict(n_scales=3, n_orientations=5, min_wavelength=3.0, mult=2.1, sigma_on_f=0.55,
                  d_theta_on_sigma=1.3)
    ours = LogGaborBank(**params).responses(torch.from_numpy(img)[None, None])[0, 0].numpy()
    eo, _ = gaborconvolve(img, 3, 5, 3.0, 2.1, 0.55, 1.3)
    for s in range(3):
        for o in range(5):
            np.testing.assert_allclose(ours[s, o], eo[s][o], atol=1e-12)


def test_fft_response_equals_spatial_circular_convolution():
    # independent of the FFT: direct (periodic) convolution with the spatial kernels
    bank = LogGaborBank(n_scales=2, n_orientations=3, min_wavelength=3.0)
    shape = (31, 33)
    img = np.random.default_rng(2).random(shape)
    k = np.fft.fftshift(bank.spatial_kernels(shape), axes=(-2, -1))
    ours = bank.responses(torch.from_numpy(img)[None, None])[0, 0].numpy()
    for s in range(2):
        for o in range(3):
            even = ndimage.convolve(img, k[s, o].real, mode="wrap")
            odd = ndimage.convolve(img, k[s, o].imag, mode="wrap")
            np.testing.assert_allclose(ours[s, o].real, even, atol=1e-10)
            np.testing.assert_allclose(ours[s, o].imag, odd, atol=1e-10)


def test_radial_bandwidth_follows_kovesi_formula():
    bank = LogGaborBank(sigma_on_f=0.55)
    assert bank.octave_bandwidth == pytest.approx(2.03, abs=0.01)  # "about two octaves"
    f = np.geomspace(0.005, 0.2, 20001)
    g = bank.transfer(f, np.zeros_like(f))[2, 0]  # scale 2 (away from the low-pass), theta 0
    above = f[g >= 0.5 * g.max()]
    assert np.log2(above.max() / above.min()) == pytest.approx(bank.octave_bandwidth, abs=0.01)


def test_opponent_channels():
    rgb = torch.zeros(2, 3, 4, 5)
    rgb[0] = 0.5  # grey
    rgb[1, 0] = 1.0  # red
    opp = opponent_channels(rgb)
    torch.testing.assert_close(opp[0, 0], torch.full((4, 5), 0.5))
    assert opp[0, 1:].abs().max() == 0
    torch.testing.assert_close(opp[1, :, 0, 0], torch.tensor([1 / 3, 1.0, -0.5]))


def test_energy_chunks_agree_and_shapes():
    bank = LogGaborBank(n_scales=2, n_orientations=3)
    x = torch.rand(3, 2, 20, 24)
    e1 = bank.energy(x, chunk=1)
    e3 = bank.energy(x, chunk=3)
    assert e1.shape == (3, 2, 2, 3, 20, 24)
    torch.testing.assert_close(e1, e3)
    torch.testing.assert_close(e1, bank.responses(x).abs())
    assert bank.names() == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


@pytest.mark.parametrize("kw", [dict(n_scales=0), dict(n_orientations=2.5),
                                dict(min_wavelength=1.5), dict(mult=1.0),
                                dict(sigma_on_f=1.2), dict(d_theta_on_sigma=0)])
def test_bad_bank_parameters(kw):
    with pytest.raises(ValueError):
        LogGaborBank(**kw)


def test_bad_inputs():
    bank = LogGaborBank()
    with pytest.raises(ValueError):
        bank.responses(torch.rand(3, 16, 16))
    with pytest.raises(TypeError):
        bank.responses(torch.zeros(1, 1, 16, 16, dtype=torch.int64))
    with pytest.raises(TypeError):
        bank.responses(np.zeros((1, 1, 16, 16)))
    bad = torch.rand(1, 1, 16, 16)
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError):
        bank.responses(bad)
    with pytest.raises(ValueError):
        bank.responses(torch.rand(0, 1, 16, 16))
    with pytest.raises(ValueError):
        bank.filters((1, 16))
    with pytest.raises(ValueError):
        bank.energy(torch.rand(1, 1, 16, 16), chunk=0)
    with pytest.raises(ValueError):
        opponent_channels(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError):
        bank.transfer(np.zeros(3), np.zeros(4))
