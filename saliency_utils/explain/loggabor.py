"""A log-Gabor filter bank (Field 1987) applied to colour-opponent channels.

The transfer functions are built in the frequency domain exactly as in Peter Kovesi's
``gaborconvolve`` (phase-congruency code), using the maintained Python port of his functions,
the package ``phasecongruency`` (``filtergrids``, ``loggabor``, ``lowpassfilter``,
``gaussianangularfilter``). Filter ``(s, o)`` is

``G(f, θ) = exp(-ln(f / f_s)^2 / (2 ln(σ_f/f_0)^2)) · exp(-(θ - θ_o)^2 / (2 σ_θ^2)) · B(f)``

with ``f`` the radial frequency (cycles per pixel), centre frequencies ``f_s = 1 / λ_s``,
wavelengths ``λ_s = min_wavelength · mult^s``, ``σ_θ = π / n_orientations / d_theta_on_sigma``
and ``B`` Kovesi's Butterworth low-pass (cut-off 0.45 cycles/pixel, order 15) that removes the
corners of the frequency plane. ``G`` is zero at ``f = 0`` (no DC response) and, because the
angular Gaussian lives on one half of the frequency plane, each filter is *analytic*: the real
part of its impulse response is an even (cosine-phase) filter and the imaginary part the odd
(sine-phase) filter in quadrature with it. The magnitude of the complex response is the local
energy (a complex-cell model).

**Orientation convention.** ``θ`` is the direction of the filter's peak frequency vector
``(f_y, f_x) = f_s (cos θ, sin θ)`` (``f_y`` along the rows, downwards): ``θ = 0`` passes
intensity changes along ``y``, i.e. *horizontal* edges and bars; ``θ = 90°`` vertical ones.
This is Kovesi's grid convention (``sintheta = f_x / f``, ``costheta = f_y / f``).

Defaults are Kovesi's phase-congruency defaults [``phasecong2``]: 4 scales, 6 orientations,
minimum wavelength 3 px, multiplier 2.1, ``σ_f/f_0 = 0.55`` (about two octaves),
``d_theta_on_sigma = 1.2``. Malladi et al. (2021) do not state theirs in anything we could check
(``notes/papers.md`` §6).

**Channels** (:func:`opponent_channels`): from RGB in ``[0, 1]``, luminance
``L = (R + G + B) / 3``, red-green ``RG = R - G`` and blue-yellow ``BY = B - (R + G) / 2``.

Responses are computed with ``torch.fft`` (batched, on the input's device; periodic borders as
in Kovesi's code, which also filters by FFT).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from phasecongruency import filtergrids, gaussianangularfilter, loggabor, lowpassfilter

__all__ = ["LogGaborBank", "OPPONENT_CHANNELS", "opponent_channels", "fft_energy", "fft_responses",
           "check_images", "check_shape"]

OPPONENT_CHANNELS = ("L", "RG", "BY")

#: Kovesi's low-pass applied to every radial component (gaborconvolve / phasecong).
LOWPASS_CUTOFF, LOWPASS_ORDER = 0.45, 15


def opponent_channels(rgb: torch.Tensor) -> torch.Tensor:
    """``N x 3 x H x W`` RGB in ``[0, 1]`` -> ``N x 3 x H x W`` channels ``L, RG, BY``
    (see the module docstring)."""
    if not isinstance(rgb, torch.Tensor):
        raise TypeError(f"rgb must be a torch.Tensor, got {type(rgb).__name__}")
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be N x 3 x H x W, got shape {tuple(rgb.shape)}")
    if not torch.isfinite(rgb).all():
        raise ValueError("rgb contains NaN or infinite values")
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return torch.stack([(r + g + b) / 3.0, r - g, b - (r + g) / 2.0], dim=1)


@dataclass(frozen=True)
class LogGaborBank:
    """``n_scales x n_orientations`` log-Gabor filters (see the module docstring)."""

    n_scales: int = 4
    n_orientations: int = 6
    min_wavelength: float = 3.0
    mult: float = 2.1
    sigma_on_f: float = 0.55
    d_theta_on_sigma: float = 1.2

    def __post_init__(self):
        for name in ("n_scales", "n_orientations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not self.min_wavelength >= 2.0:
            raise ValueError(f"min_wavelength must be >= 2 px (the Nyquist limit), got "
                             f"{self.min_wavelength!r}")
        if not self.mult > 1.0:
            raise ValueError(f"mult must be > 1, got {self.mult!r}")
        if not 0.0 < self.sigma_on_f < 1.0:
            raise ValueError(f"sigma_on_f must be in (0, 1), got {self.sigma_on_f!r}")
        if not self.d_theta_on_sigma > 0.0:
            raise ValueError(f"d_theta_on_sigma must be > 0, got {self.d_theta_on_sigma!r}")

    # -- design -------------------------------------------------------------------------------
    @property
    def wavelengths(self) -> np.ndarray:
        """Centre wavelength of each scale in pixels."""
        return self.min_wavelength * self.mult ** np.arange(self.n_scales)

    @property
    def frequencies(self) -> np.ndarray:
        """Centre frequency of each scale in cycles per pixel."""
        return 1.0 / self.wavelengths

    @property
    def orientations(self) -> np.ndarray:
        """Orientation ``θ_o = o π / n_orientations`` of each filter in radians."""
        return np.arange(self.n_orientations) * np.pi / self.n_orientations

    @property
    def theta_sigma(self) -> float:
        """Standard deviation of the angular Gaussian in radians."""
        return math.pi / self.n_orientations / self.d_theta_on_sigma

    @property
    def octave_bandwidth(self) -> float:
        """Full width at half maximum of the radial transfer function in octaves
        (``2 sqrt(2 ln 2) |ln(σ_f/f_0)| / ln 2``)."""
        return 2.0 * math.sqrt(2.0 * math.log(2.0)) * abs(math.log(self.sigma_on_f)) / math.log(2)

    def transfer(self, fy, fx) -> np.ndarray:
        """Transfer functions at arbitrary frequencies ``(fy, fx)`` (cycles per pixel, arrays of
        one shape): float64 array ``n_scales x n_orientations x *shape``."""
        fy = np.asarray(fy, dtype=np.float64)
        fx = np.asarray(fx, dtype=np.float64)
        if fy.shape != fx.shape:
            raise ValueError(f"fy and fx must have one shape, got {fy.shape} and {fx.shape}")
        f = np.sqrt(fy ** 2 + fx ** 2)
        safe = np.where(f == 0, 1.0, f)  # as Kovesi's gridangles: angle undefined at DC
        sint, cost = fx / safe, fy / safe
        low = lowpassfilter(f, LOWPASS_CUTOFF, LOWPASS_ORDER)
        radial = [loggabor(f, fo, self.sigma_on_f) * low for fo in self.frequencies]
        angular = [gaussianangularfilter(a, self.theta_sigma, sint, cost)
                   for a in self.orientations]
        return np.stack([np.stack([r * a for a in angular]) for r in radial])

    def filters(self, shape) -> np.ndarray:
        """Transfer functions on the FFT grid of an ``H x W`` image (zero frequency at
        ``[0, 0]``, as ``numpy.fft``): float64 ``n_scales x n_orientations x H x W``
        (read-only, cached per shape)."""
        return _filters(self, check_shape(shape))

    def spatial_kernels(self, shape) -> np.ndarray:
        """Complex impulse responses on an ``H x W`` periodic grid, centred at ``[0, 0]``
        (``ifft2`` of :meth:`filters`): real part even, imaginary part odd."""
        return np.fft.ifft2(self.filters(shape), axes=(-2, -1))

    # -- application --------------------------------------------------------------------------
    def responses(self, x: torch.Tensor) -> torch.Tensor:
        """Complex responses of ``N x C x H x W`` real images: ``N x C x S x O x H x W``
        (``real`` = even filter, ``imag`` = odd filter). Computed in ``x``'s precision
        (float64 input gives complex128) on ``x``'s device."""
        x = check_images(x)
        return fft_responses(x, _torch_filters(self, check_shape(x.shape[-2:]), x.device,
                                               x.dtype))

    def energy(self, x: torch.Tensor, chunk: int = 1) -> torch.Tensor:
        """Local energy ``|response|`` of ``N x C x H x W`` images, ``N x C x S x O x H x W``
        real, computed ``chunk`` images at a time to bound memory."""
        x = check_images(x)
        return fft_energy(x, _torch_filters(self, check_shape(x.shape[-2:]), x.device,
                                            x.dtype), chunk)

    def names(self) -> list[tuple[int, int]]:
        """``(scale, orientation)`` index pairs in the order of the ``S x O`` axes."""
        return [(s, o) for s in range(self.n_scales) for o in range(self.n_orientations)]


def fft_responses(x: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """``ifft2(fft2(x) · filt)`` for ``N x C x H x W`` images and ``S x O x H x W`` transfer
    functions (real or complex, on the FFT grid): ``N x C x S x O x H x W`` complex (periodic
    borders)."""
    return torch.fft.ifft2(torch.fft.fft2(x)[:, :, None, None] * filt)


def fft_energy(x: torch.Tensor, filt: torch.Tensor, chunk: int = 1) -> torch.Tensor:
    """``|fft_responses(x, filt)|`` computed ``chunk`` images and one scale at a time (bounded
    memory): ``N x C x S x O x H x W`` in ``x``'s dtype."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    n_scales, n_orientations = filt.shape[:2]
    out = torch.empty(*x.shape[:2], n_scales, n_orientations, *x.shape[-2:],
                      dtype=x.dtype, device=x.device)
    for i in range(0, x.shape[0], chunk):
        spec = torch.fft.fft2(x[i:i + chunk])[:, :, None]
        for s in range(n_scales):  # one scale at a time bounds the memory
            r = torch.fft.ifft2(spec * filt[s])
            # sqrt(re² + im²) is several times faster than complex abs() on CPU
            out[i:i + chunk, :, s] = torch.sqrt(r.real.square() + r.imag.square())
    return out


def check_shape(shape) -> tuple[int, int]:
    """``(H, W)`` as ints, at least 2 x 2; ``ValueError`` otherwise."""
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (H, W), got {shape!r}") from None
    if h < 2 or w < 2:
        raise ValueError(f"shape must be at least 2 x 2, got {(h, w)}")
    return h, w


def check_images(x) -> torch.Tensor:
    """``x`` if it is a finite, non-empty, real floating-point ``N x C x H x W`` tensor;
    ``TypeError`` / ``ValueError`` naming what is wrong otherwise."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"images must be N x C x H x W, got shape {tuple(x.shape)}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"images must be a real floating-point tensor, got {x.dtype}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"empty batch: shape {tuple(x.shape)}")
    check_shape(x.shape[-2:])
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or infinite values")
    return x


@lru_cache(maxsize=16)
def _torch_filters(bank: LogGaborBank, shape: tuple[int, int], device, dtype) -> torch.Tensor:
    return torch.tensor(_filters(bank, shape), device=device, dtype=dtype)


@lru_cache(maxsize=16)
def _filters(bank: LogGaborBank, shape: tuple[int, int]) -> np.ndarray:
    _, fx, fy = filtergrids(shape[0], shape[1])
    out = bank.transfer(fy, fx)
    out.setflags(write=False)
    return out
