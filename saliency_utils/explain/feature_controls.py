"""Matched control filter banks for the log-Gabor features of chapter 5 (issue 19).

"Log-Gabor responses reconstruct the activations" says something about log-Gabor filters only if
other features of the same size reconstruct them worse. Each bank here stands in for a
:class:`~saliency_utils.explain.loggabor.LogGaborBank` (``reference``) inside a
:class:`~saliency_utils.explain.loggabor_explain.FeatureSpec`: the same ``n_scales x n_orientations``
maps per opponent channel (``L, RG, BY``), so with the same low-pass and context options the
spec has exactly as many features, and the ridge regression, the penalty choice on the
validation images and the explainable model are unchanged
(:func:`saliency_utils.explain.loggabor_explain.control_spec`).

* :class:`RandomFilterBank`: random zero-mean filters with the **log-Gabor's support**. Filter
  ``(s, o)`` is a pair of white-noise kernels (real and imaginary part) multiplied by the
  envelope ``|k_so|`` of the log-Gabor impulse response ``(s, o)`` (cropped where it falls below
  1 % of its peak), each part made zero-mean under that envelope and scaled to the log-Gabor
  kernel's L2 norm. The feature is the modulus of the complex response, as the log-Gabor energy.
  Seeded (``numpy.random.default_rng(seed)``), independent of the image size.
* :class:`GaborBank`: plain complex **Gabor** filters (``skimage.filters.gabor_kernel``) at the
  reference's orientations and ``n_scales`` centre frequencies spaced **linearly** between the
  reference's highest and lowest, all with one absolute bandwidth: the frequency-domain SD is
  ``Δf / (2 sqrt(2 ln 2))`` (neighbouring scales cross at half maximum), i.e. one spatial SD
  ``1 / (2π σ_f)`` for every scale. Unlike a log-Gabor filter, a Gabor filter passes DC (most at
  the lowest frequencies) and its bandwidth is constant in cycles per pixel, not in octaves.
  Feature: the modulus of the complex response (Gabor energy).
* :class:`BlurBank`: no oriented filter at all: each opponent channel blurred by Gaussians of
  ``n_scales x n_orientations`` widths spaced geometrically from half the reference's shortest
  wavelength to its longest (periodic borders, an exact Gaussian transfer function). The feature
  is the blurred value itself (signed for RG and BY): a multi-scale colour and luminance set,
  the opponent channels being a linear analogue of CIELAB's L, a, b.

Orientation convention as :mod:`saliency_utils.explain.loggabor`: ``θ`` is the direction of the peak
frequency vector ``(f_y, f_x) = f (cos θ, sin θ)``; ``θ = 0`` responds to horizontal edges.
scikit-image's ``theta`` measures the frequency vector from the x axis, so ``theta = π/2 − θ``.

All banks filter by FFT on the image's periodic grid (``fft_energy``, as the log-Gabor bank); a
kernel larger than the image raises ``ValueError`` rather than wrapping around.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from saliency_utils.explain.loggabor import LogGaborBank, check_images, check_shape, fft_energy, fft_responses

__all__ = ["RandomFilterBank", "GaborBank", "BlurBank", "CONTROL_KINDS", "control_bank"]

#: Envelope level (relative to its peak) that bounds a random filter's support.
SUPPORT_LEVEL = 0.01


def _check_reference(ref) -> None:
    if not isinstance(ref, LogGaborBank):
        raise TypeError(f"reference must be a LogGaborBank, got {type(ref).__name__}")


class _MatchedBank:
    """A bank with the ``S x O`` layout of its ``reference`` log-Gabor bank, applied by FFT
    with the transfer functions of its ``filters``."""

    @property
    def n_scales(self) -> int:
        return self.reference.n_scales

    @property
    def n_orientations(self) -> int:
        return self.reference.n_orientations

    def responses(self, x: torch.Tensor) -> torch.Tensor:
        """Responses ``N x C x S x O x H x W`` (periodic convolution)."""
        x = check_images(x)
        return fft_responses(x, _torch_filters(self, check_shape(x.shape[-2:]), x.device,
                                               x.dtype))


class _KernelBank(_MatchedBank):
    """Complex spatial kernels, one ``O x k_s x k_s`` stack per scale, applied by FFT."""

    feature_kind = "energy"

    def kernels(self) -> list[np.ndarray]:
        """Per scale, complex128 ``O x k x k`` kernels (odd ``k``, centre at ``k // 2``)."""
        return _kernels(self)

    def filters(self, shape) -> np.ndarray:
        """Transfer functions on the FFT grid of an ``H x W`` image: complex128
        ``S x O x H x W`` (``fft2`` of the kernels centred at ``[0, 0]``)."""
        return _grid_filters(self, check_shape(shape))

    def energy(self, x: torch.Tensor, chunk: int = 1) -> torch.Tensor:
        """Modulus of the complex responses, ``N x C x S x O x H x W`` real."""
        x = check_images(x)
        return fft_energy(x, _torch_filters(self, check_shape(x.shape[-2:]), x.device,
                                            x.dtype), chunk)


@dataclass(frozen=True)
class RandomFilterBank(_KernelBank):
    """Random zero-mean complex filters with the log-Gabor envelopes of ``reference``."""

    reference: LogGaborBank
    seed: int = 0

    def __post_init__(self):
        _check_reference(self.reference)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")

    def _make(self) -> list[np.ndarray]:
        ref = self.reference
        rng = np.random.default_rng(int(self.seed))
        out = []
        for s, lam in enumerate(ref.wavelengths):
            n = int(2 ** math.ceil(math.log2(max(32.0, 8 * lam))))  # grid well beyond the support
            k = np.fft.fftshift(ref.spatial_kernels((n, n))[s], axes=(-2, -1))  # O x n x n
            env = np.abs(k)
            c = n // 2
            mask = env >= SUPPORT_LEVEL * env.max(axis=(-2, -1), keepdims=True)
            ys, xs = np.nonzero(mask.any(axis=0))
            r = int(max(np.abs(ys - c).max(), np.abs(xs - c).max()))
            sl = slice(c - r, c + r + 1)
            env, k = env[:, sl, sl], k[:, sl, sl]
            stack = []
            for o in range(ref.n_orientations):
                e = env[o]
                parts = []
                for _ in range(2):  # real and imaginary part
                    z = rng.standard_normal(e.shape)
                    p = e * (z - np.sum(e * z) / np.sum(e))  # zero mean, same support
                    parts.append(p / np.linalg.norm(p))
                norm = np.linalg.norm(k[o]) / math.sqrt(2)  # each part: half the energy
                stack.append(norm * (parts[0] + 1j * parts[1]))
            out.append(np.stack(stack))
        return out


@dataclass(frozen=True)
class GaborBank(_KernelBank):
    """Complex Gabor filters, linear frequency spacing, the orientations of ``reference``."""

    reference: LogGaborBank

    def __post_init__(self):
        _check_reference(self.reference)

    @property
    def frequencies(self) -> np.ndarray:
        """Centre frequencies (cycles per pixel), linear from the reference's highest to its
        lowest."""
        f = self.reference.frequencies
        return np.linspace(f[0], f[-1], self.n_scales)

    @property
    def sigma_f(self) -> float:
        """Frequency-domain SD (cycles per pixel), the same for every scale: neighbouring scales
        cross at half maximum (one scale: a one-octave full width at its frequency)."""
        f = self.frequencies
        fwhm = abs(f[0] - f[1]) if len(f) > 1 else f[0] / math.sqrt(2)
        return float(fwhm / (2 * math.sqrt(2 * math.log(2))))

    @property
    def sigma(self) -> float:
        """Spatial SD of the Gaussian envelope in pixels, ``1 / (2π σ_f)``."""
        return 1.0 / (2 * math.pi * self.sigma_f)

    def _make(self) -> list[np.ndarray]:
        from skimage.filters import gabor_kernel

        sd = self.sigma
        out = []
        for f in self.frequencies:
            ks = [gabor_kernel(float(f), theta=math.pi / 2 - float(t), sigma_x=sd, sigma_y=sd,
                               n_stds=3) for t in self.reference.orientations]
            size = max(k.shape[0] for k in ks)  # odd; the size varies with θ by rounding
            out.append(np.stack([np.pad(k, (size - k.shape[0]) // 2) for k in ks]))
        return out


@dataclass(frozen=True)
class BlurBank(_MatchedBank):
    """Gaussian blurs of the opponent channels at ``S x O`` widths (see the module
    docstring); the feature is the blurred value, not an energy."""

    reference: LogGaborBank
    feature_kind = "blur"

    def __post_init__(self):
        _check_reference(self.reference)

    @property
    def sigmas(self) -> np.ndarray:
        """Blur SDs in pixels, ``S x O`` (geometric from λ_min / 2 to λ_max)."""
        w = self.reference.wavelengths
        n = self.n_scales * self.n_orientations
        return np.geomspace(w[0] / 2, w[-1], n).reshape(self.n_scales, self.n_orientations)

    def filters(self, shape) -> np.ndarray:
        """Gaussian transfer functions ``exp(-2 π² σ² f²)`` on the FFT grid, ``S x O x H x W``."""
        h, w = check_shape(shape)
        fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
        f2 = fy ** 2 + fx ** 2
        return np.exp(-2 * math.pi ** 2 * self.sigmas[..., None, None] ** 2 * f2)

    def energy(self, x: torch.Tensor, chunk: int = 1) -> torch.Tensor:
        """The blurred channels ``N x C x S x O x H x W`` (real, signed)."""
        x = check_images(x)
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        filt = _torch_filters(self, check_shape(x.shape[-2:]), x.device, x.dtype)
        out = torch.empty(*x.shape[:2], *filt.shape, dtype=x.dtype, device=x.device)
        for i in range(0, x.shape[0], chunk):
            spec = torch.fft.fft2(x[i:i + chunk])[:, :, None]
            for s in range(self.n_scales):
                out[i:i + chunk, :, s] = torch.fft.ifft2(spec * filt[s]).real
        return out


#: The controls of chapter 5, by name: a bank class taking ``(reference, seed)``.
CONTROL_KINDS = ("random", "gabor", "blur")


def control_bank(kind: str, reference: LogGaborBank, seed: int = 0):
    """The control bank ``kind`` (one of :data:`CONTROL_KINDS`) matched to ``reference``."""
    if kind == "random":
        return RandomFilterBank(reference, seed)
    if kind == "gabor":
        return GaborBank(reference)
    if kind == "blur":
        return BlurBank(reference)
    raise ValueError(f"unknown control {kind!r}; choose one of {CONTROL_KINDS}")


@lru_cache(maxsize=8)
def _kernels(bank: _KernelBank) -> list[np.ndarray]:
    out = bank._make()
    for k in out:
        k.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def _grid_filters(bank: _KernelBank, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    out = np.zeros((bank.n_scales, bank.n_orientations, h, w), complex)
    for s, k in enumerate(bank.kernels()):
        size = k.shape[-1]
        if size > h or size > w:
            raise ValueError(f"{type(bank).__name__}: scale {s} has a {size} x {size} px "
                             f"kernel, larger than the {h} x {w} image")
        r = size // 2
        grid = np.zeros((k.shape[0], h, w), complex)
        grid[:, :size, :size] = k
        out[s] = np.fft.fft2(np.roll(grid, (-r, -r), axis=(-2, -1)), axes=(-2, -1))
    out.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def _torch_filters(bank, shape: tuple[int, int], device, dtype) -> torch.Tensor:
    f = bank.filters(shape)
    if np.iscomplexobj(f):
        cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
        return torch.tensor(f, device=device, dtype=cdt)
    return torch.tensor(f, device=device, dtype=dtype)
