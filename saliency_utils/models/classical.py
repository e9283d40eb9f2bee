"""Classical (pre-deep) saliency models, written from their papers.

* :func:`itti_koch` — Itti, Koch & Niebur, "A model of saliency-based visual attention for rapid
  scene analysis", PAMI 1998: dyadic Gaussian pyramids (scales 0..8) of intensity
  ``I = (r + g + b) / 3``, broadly tuned colour channels ``R = r - (g + b)/2``,
  ``G = g - (r + b)/2``, ``B = b - (r + g)/2``, ``Y = (r + g)/2 - |r - g|/2 - b`` (negative values
  set to 0; r, g, b divided by I where I > max(I)/10, else 0) and Gabor orientation pyramids
  (0°, 45°, 90°, 135°); centre-surround differences ``|F(c) ⊖ F(s)|`` for centres c ∈ {2, 3, 4} and
  surrounds s = c + δ, δ ∈ {3, 4} (colour double-opponent maps ``RG = R - G`` and ``BY = B - Y``
  as ``|RG(c) ⊖ RG(s)|``, ``|BY(c) ⊖ BY(s)|``: the paper writes ``|(R - G)(c) ⊖ (G - R)(s)|``,
  which read literally adds centre and surround; we take the centre-surround difference that the
  double-opponent description means); each map normalised by the operator N(·) (scale to [0, M], then
  multiply by (M - m̄)², m̄ the mean of the local maxima other than the global one), summed across
  scales at scale 4 into conspicuity maps Ī, C̄, Ō, and ``S = (N(Ī) + N(C̄) + N(Ō)) / 3``. The paper's
  winner-take-all network and inhibition of return are not part of the map (search metrics such
  as :func:`saliency_utils.evaluate.search_metrics.fixations_to_target` simulate them on any map). Our
  choices where the paper is silent: 5x5 binomial pyramid (OpenCV ``pyrDown``), Gabor filters
  of wavelength 4 px and σ 2 px on the intensity pyramid (the paper uses oriented Laplacian-like
  pyramids), local maxima found on a 3x3 neighbourhood at scale 4.
* :func:`spectral_residual` — Hou & Zhang, "Saliency detection: a spectral residual approach",
  CVPR 2007: grey image resized to 64 px width, ``L = log |F(I)|``, ``A = h₃ * L`` (3x3 mean
  filter), ``R = L - A``, ``S = g * |F⁻¹(exp(R + iφ))|²`` with the phase φ of ``F(I)`` and a
  Gaussian g. The paper states σ = 8 (without a unit); on the 64-px working image that blurs
  over an eighth of the width, so the default here is σ = 2.5 px at 64 px width (``sigma=8``
  gives the paper's reading).
* :func:`image_signature` — Hou, Harel & Koch, "Image signature: highlighting sparse salient
  regions", PAMI 2012: per channel of CIELAB, ``x̄ = IDCT(sign(DCT(x)))``, saliency
  ``S = g * Σ_channels (x̄ ∘ x̄)``, at 64 px width with a Gaussian of σ = 0.045 × width (the
  authors' MATLAB defaults).

Every model takes an RGB image (uint8 H x W x 3, or grey H x W) and returns a float64 map of the
image's size scaled to [0, 1]. A constant image raises ``ValueError`` (no saliency defined).
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import fft as sfft
from scipy import ndimage

__all__ = ["itti_koch", "itti_koch_maps", "spectral_residual", "image_signature", "MODELS"]


def _rgb(image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"image must be H x W x 3 (or grey H x W), got shape {a.shape}")
    a = a[..., :3]
    if a.shape[0] < 16 or a.shape[1] < 16:
        raise ValueError(f"image too small for a saliency model: {a.shape[:2]}")
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise ValueError("image must hold finite numbers")
    a = a.astype(np.float64)
    if a.max() > 1.0 + 1e-9 or a.dtype == np.uint8:
        a = a / 255.0
    if np.ptp(a) == 0:
        raise ValueError("image is constant: saliency is undefined")
    return a


def _unit(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    m = a.max()
    return a / m if m > 0 else a


def _resize(a: np.ndarray, hw) -> np.ndarray:
    return cv2.resize(a.astype(np.float64), (int(hw[1]), int(hw[0])),
                      interpolation=cv2.INTER_LINEAR)


def _small(rgb: np.ndarray, width: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    hh = max(8, int(round(h * width / w)))
    return cv2.resize(rgb, (width, hh), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------------- Itti, Koch & Niebur 1998
def _pyramid(a: np.ndarray, levels: int = 9) -> list:
    out = [a]
    for _ in range(levels - 1):
        out.append(cv2.pyrDown(out[-1]))
    return out


def _normalise(m: np.ndarray, top: float = 1.0) -> np.ndarray:
    """Itti's N(.): scale to [0, top], multiply by (top - mean of the other local maxima)²."""
    m = np.maximum(m, 0)
    mx = m.max()
    if mx <= 0:
        return np.zeros_like(m)
    m = m * (top / mx)
    peaks = (m == ndimage.maximum_filter(m, size=3, mode="constant")) & (m > 0)
    vals = np.sort(m[peaks])
    others = vals[:-1]  # every local maximum but (one instance of) the global one
    mbar = others.mean() if others.size else 0.0
    return m * (top - mbar) ** 2


def _across(maps_: list, shape) -> np.ndarray:
    return sum(_resize(m, shape) for m in maps_)


def itti_koch_maps(image, centres=(2, 3, 4), deltas=(3, 4), orientations=(0, 45, 90, 135),
                   max_side: int = 640) -> dict:
    """The conspicuity maps ``intensity``, ``colour``, ``orientation`` and the ``saliency`` map
    (all at scale 4, i.e. 1/16 of the input side; ``max_side``: the image is first shrunk so
    its longer side is at most this many pixels)."""
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        rgb = cv2.resize(rgb, (max(16, round(w * s)), max(16, round(h * s))),
                         interpolation=cv2.INTER_AREA)
    if min(rgb.shape[:2]) < 2 ** (max(centres) + max(deltas) - 1):
        raise ValueError(f"image of {rgb.shape[:2]} px is too small for surround scale "
                         f"{max(centres) + max(deltas)}")
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    inten = (r + g + b) / 3.0
    mask = inten > inten.max() / 10.0
    safe = np.where(mask, inten, 1.0)
    rn, gn, bn = (np.where(mask, c / safe, 0.0) for c in (r, g, b))
    R = rn - (gn + bn) / 2
    G = gn - (rn + bn) / 2
    B = bn - (rn + gn) / 2
    Y = (rn + gn) / 2 - np.abs(rn - gn) / 2 - bn
    R, G, B, Y = (np.maximum(c, 0) for c in (R, G, B, Y))
    n_levels = max(centres) + max(deltas) + 1
    pI = _pyramid(inten, n_levels)
    pR, pG, pB, pY = (_pyramid(c, n_levels) for c in (R, G, B, Y))
    kernels = [cv2.getGaborKernel((9, 9), 2.0, np.deg2rad(t), 4.0, 1.0, 0, ktype=cv2.CV_64F)
               for t in orientations]
    pO = [[np.abs(cv2.filter2D(level, cv2.CV_64F, k)) for level in pI] for k in kernels]
    out_shape = pI[4].shape

    def cs(pc):
        maps_ = []
        for c in centres:
            for d in deltas:
                s = c + d
                centre = pc[c]
                surround = _resize(pc[s], centre.shape)
                maps_.append(_normalise(np.abs(centre - surround)))
        return _across(maps_, out_shape)

    rg = [pR[i] - pG[i] for i in range(n_levels)]
    by = [pB[i] - pY[i] for i in range(n_levels)]
    i_bar = cs(pI)
    c_bar = cs(rg) + cs(by)  # |RG(c) - RG(s)|, |BY(c) - BY(s)|: see the module docstring
    o_bar = sum(_normalise(cs(p)) for p in pO)
    sal = (_normalise(i_bar) + _normalise(c_bar) + _normalise(o_bar)) / 3.0
    return {"intensity": i_bar, "colour": c_bar, "orientation": o_bar, "saliency": sal}


def itti_koch(image, blur_frac: float = 0.0, **kwargs) -> np.ndarray:
    """Itti-Koch-Niebur saliency map at the image's size, in [0, 1] (see the module docstring;
    ``blur_frac`` > 0 adds a Gaussian blur of that fraction of the image width)."""
    rgb = np.asarray(image)
    sal = itti_koch_maps(image, **kwargs)["saliency"]
    out = _resize(sal, rgb.shape[:2])
    if blur_frac > 0:
        out = ndimage.gaussian_filter(out, blur_frac * rgb.shape[1])
    return _unit(out)


# ---------------------------------------------------------------------- Hou & Zhang 2007
def spectral_residual(image, width: int = 64, avg_size: int = 3, sigma: float = 2.5) -> np.ndarray:
    """Spectral-residual saliency at the image's size, in [0, 1] (see the module docstring;
    ``sigma`` in pixels of the ``width``-pixel working image, 0 for none)."""
    rgb = _rgb(image)
    grey = _small(rgb, width).mean(axis=2)
    if np.ptp(grey) == 0:
        raise ValueError("image is constant at the working resolution")
    f = np.fft.fft2(grey)
    amp = np.abs(f)
    log_amp = np.log(np.maximum(amp, 1e-12))
    phase = np.angle(f)
    residual = log_amp - ndimage.uniform_filter(log_amp, size=avg_size, mode="nearest")
    s = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    if sigma > 0:
        s = ndimage.gaussian_filter(s, sigma)
    return _unit(_resize(s, rgb.shape[:2]))


# ---------------------------------------------------------------------- Hou, Harel & Koch 2012
def image_signature(image, width: int = 64, blur_frac: float = 0.045) -> np.ndarray:
    """Image-signature saliency (CIELAB, DCT sign) at the image's size, in [0, 1]."""
    rgb = _rgb(image)
    small = _small(rgb, width).astype(np.float32)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab).astype(np.float64)
    s = np.zeros(lab.shape[:2])
    for c in range(3):
        x = lab[..., c]
        xr = sfft.idctn(np.sign(sfft.dctn(x, norm="ortho")), norm="ortho")
        s += xr * xr
    if blur_frac > 0:
        s = ndimage.gaussian_filter(s, blur_frac * width)
    return _unit(_resize(s, rgb.shape[:2]))


#: Name -> function, for looping over the classical models.
MODELS = {"Itti-Koch-Niebur": itti_koch, "spectral residual": spectral_residual,
          "image signature": image_signature}
