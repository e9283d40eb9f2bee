"""Explain a deep saliency model's activation maps with log-Gabor responses (Malladi et al. 2021).

Three steps, for any :class:`~saliency_utils.models.saliency_model.SaliencyModel` (or a module with the
same ``module(name)``, ``preprocess``, ``input_shape_for``, ``mean``/``std`` and ``predict``):

1. **Features** (:class:`FeatureSpec`). The network's own input image (the preprocessed tensor,
   mapped back to RGB in ``[0, 1]``) is split into the opponent channels ``L, RG, BY`` and
   filtered with a :class:`~saliency_utils.explain.loggabor.LogGaborBank`; the local energy
   ``|even + i odd|`` of every (channel, scale, orientation) is **average-pooled to the layer's
   grid** (one cell per activation position; adaptive pooling). Variants: ``compress`` (square
   root of the energy), ``signed`` (also the pooled even and odd responses). Optionally the pooled
   opponent channels themselves (``lowpass``: the colour and brightness that a zero-DC
   filter bank cannot see) and Gaussian-blurred copies of all pooled features (``context``,
   blur widths in cells: a larger neighbourhood, as deep units have large receptive fields).
2. **Identification and reconstruction** (:func:`collect_stats`, :func:`fit_layer`,
   :func:`explained_variance`). Each channel of a layer is regressed on the features at the
   same position: ridge regression on standardised features, one penalty per layer chosen on
   validation images, then refitted on training + validation images. Everything is computed
   from streamed sufficient statistics (``Σx, Σxxᵀ, Σy, Σy², Σxyᵀ`` in float64), so layers
   with thousands of channels and hundreds of images fit in memory. Held-out images give the
   per-channel ``R² = 1 - SSE / SST`` (SST about the held-out mean) and the layer's
   **explained variance** ``1 - ΣSSE / ΣSST`` over all channels. :func:`group_r2` refits with
   only one scale, orientation or colour channel to say which of them explain each channel
   best; :func:`best_single_feature` finds the one log-Gabor response that reconstructs each
   channel best (the sparsest explanation).
3. **Explainable model** (:class:`Reconstruction`, :class:`ExplainableModel`). Forward hooks
   replace the named layers' outputs by their reconstructions from the current input's
   log-Gabor features; the rest of the network runs unchanged, so its saliency map is computed
   from log-Gabor responses only at that layer. It is scored like any model, with
   :func:`saliency_utils.evaluate.scoring.score_maps` on :data:`EVAL_DATASETS`: the OSIE test images,
   the MIT1003 stimuli of the bundle and the 30 FIGRIM amusement-park images (eye fixations of
   all observers, encoding phase).

Channels whose activation is constant on a set of images have no variance to explain: their
R² is reported as NaN and they are flagged (``LayerResult.active``), never silently averaged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from saliency_utils.explain import feature_controls
from saliency_utils.evaluate import maps
from saliency_utils.explain.loggabor import OPPONENT_CHANNELS, LogGaborBank, opponent_channels
from saliency_utils.models.backbones import to_uint8_rgb

__all__ = ["FeatureSpec", "LayerStats", "LayerFit", "collect_stats", "fit_layer",
           "explained_variance", "image_residual", "image_errors", "r2_per_channel",
           "group_r2", "feature_groups",
           "best_single_feature", "Reconstruction", "ExplainableModel", "model_rgb",
           "EVAL_DATASETS", "DEFAULT_LAMBDAS", "fit_explainable", "fit_explainable_and_prior",
           "control_spec",
           "collect_stats_sets", "mean_fit", "prior_only_model", "retained_share", "GRIDS"]

#: Ridge penalties tried (on standardised features; the penalty is ``λ n ||β||²``).
DEFAULT_LAMBDAS = tuple(float(v) for v in np.logspace(-5, 1, 13))

#: The sets chapter 5 scores on (names of :meth:`saliency_utils.evaluate.scoring.FixationDataset.named`).
EVAL_DATASETS = ("osie_test", "mit1003", "figrim")


# ------------------------------------------------------------------------------ features
@dataclass(frozen=True)
class FeatureSpec:
    """Which pooled features describe each activation position (see the module docstring)."""

    bank: LogGaborBank = field(default_factory=LogGaborBank)
    lowpass: bool = True
    context: tuple[float, ...] = ()
    compress: bool = False  # sqrt of the energy (a compressive, saturating response)
    signed: bool = False  # also the pooled even and odd responses themselves (simple cells)

    def __post_init__(self):
        if not isinstance(self.bank, _BANKS):
            raise TypeError(f"bank must be a LogGaborBank or a control bank of "
                            f"saliency_utils.explain.feature_controls, got {type(self.bank).__name__}")
        if self.feature_kind != "energy" and (self.compress or self.signed):
            raise ValueError(f"compress and signed need an energy bank; "
                             f"{type(self.bank).__name__} gives {self.feature_kind!r} maps")
        ctx = tuple(float(c) for c in self.context)
        if any(not (c > 0 and math.isfinite(c)) for c in ctx):
            raise ValueError(f"context blur widths must be positive, got {self.context!r}")
        object.__setattr__(self, "context", ctx)

    @classmethod
    def from_settings(cls, cfg: Mapping, **kw) -> "FeatureSpec":
        """The spec of chapter 5's profile settings (``bank``: :class:`LogGaborBank`
        arguments, ``lowpass``, ``context``); ``kw`` adds the other fields."""
        return cls(LogGaborBank(**cfg["bank"]), lowpass=cfg["lowpass"], context=cfg["context"],
                   **kw)

    @property
    def feature_kind(self) -> str:
        """What the bank's maps are: ``"energy"`` (log-Gabor, random and Gabor filters) or
        ``"blur"`` (:class:`~saliency_utils.explain.feature_controls.BlurBank`)."""
        return getattr(self.bank, "feature_kind", "energy")

    @property
    def base_names(self) -> list[dict]:
        """Features at one position before context copies: energy per (channel, scale,
        orientation), then (``signed``) the even and odd responses in the same order, then the
        low-pass channels."""
        b = self.bank
        kinds = ("energy", "even", "odd") if self.signed else (self.feature_kind,)
        out = [dict(kind=k, channel=c, scale=s, orientation=o) for k in kinds
               for c in OPPONENT_CHANNELS for s in range(b.n_scales)
               for o in range(b.n_orientations)]
        if self.lowpass:
            out += [dict(kind="lowpass", channel=c, scale=None, orientation=None)
                    for c in OPPONENT_CHANNELS]
        return out

    @property
    def names(self) -> list[dict]:
        """One dict per feature: ``kind`` (energy | even | odd | lowpass), ``channel``, ``scale``,
        ``orientation`` (indices, None for low-pass), ``context`` (0 = the cell itself, else
        the blur width in cells)."""
        base = self.base_names
        return [dict(d, context=c) for c in (0.0,) + self.context for d in base]

    @property
    def n_features(self) -> int:
        return len(self.base_names) * (1 + len(self.context))

    def energy_maps(self, rgb: torch.Tensor) -> torch.Tensor:
        """Full-resolution base maps ``N x F_base x H x W`` of RGB images in ``[0, 1]``."""
        opp = opponent_channels(rgb)
        n, c, h, w = opp.shape
        if self.signed:
            r = self.bank.responses(opp).reshape(n, -1, h, w)
            even, odd = r.real, r.imag
            e = torch.sqrt(even.square() + odd.square())
        else:
            e = self.bank.energy(opp).reshape(n, -1, h, w)
        if self.compress:
            e = e.sqrt()
        maps = [e, even, odd] if self.signed else [e]
        return torch.cat(maps + ([opp] if self.lowpass else []), dim=1)

    def pool(self, maps: torch.Tensor, size) -> torch.Tensor:
        """Base maps -> pooled features ``N x F x h x w`` on the grid ``size``."""
        h, w = (int(v) for v in size)
        if h < 1 or w < 1:
            raise ValueError(f"grid size must be positive, got {(h, w)}")
        base = F.adaptive_avg_pool2d(maps, (h, w))
        return torch.cat([base] + [_blur(base, s) for s in self.context], dim=1)

    def compute(self, rgb: torch.Tensor, size) -> torch.Tensor:
        """Pooled features ``N x F x h x w`` of RGB images ``N x 3 x H x W`` in ``[0, 1]``."""
        return self.pool(self.energy_maps(rgb), size)


_BANKS = (LogGaborBank, feature_controls.RandomFilterBank, feature_controls.GaborBank,
          feature_controls.BlurBank)


def control_spec(spec: FeatureSpec, kind: str, seed: int = 0) -> FeatureSpec:
    """``spec`` with its log-Gabor bank replaced by the matched control bank ``kind``
    (:data:`saliency_utils.explain.feature_controls.CONTROL_KINDS`: ``"random"`` filters with the
    log-Gabor supports, seeded; plain ``"gabor"`` filters with linear frequency spacing;
    multi-scale ``"blur"`` of the opponent channels). Same low-pass and context options, so
    the same number of features; ``compress`` and ``signed`` must be off."""
    if not isinstance(spec.bank, LogGaborBank):
        raise TypeError("control_spec needs a log-Gabor spec to match")
    if spec.compress or spec.signed:
        raise ValueError("the controls match the plain energy spec (compress=False, signed=False)")
    out = FeatureSpec(feature_controls.control_bank(kind, spec.bank, seed), lowpass=spec.lowpass,
                      context=spec.context)
    assert out.n_features == spec.n_features
    return out


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (replicate borders) of ``N x C x h x w``."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                 groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
                    groups=c)


def model_rgb(model, x: torch.Tensor) -> torch.Tensor:
    """The RGB image in ``[0, 1]`` behind a preprocessed batch (``x * std + mean``)."""
    mean = torch.tensor(model.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(model.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * std + mean


# ------------------------------------------------------------------------------ statistics
@dataclass
class LayerStats:
    """Sufficient statistics of (features, activations) pairs over positions, float64."""

    n: int
    sx: np.ndarray  # F
    sxx: np.ndarray  # F x F
    sy: np.ndarray  # C
    syy: np.ndarray  # C (diagonal only)
    sxy: np.ndarray  # F x C
    images: int = 0

    @classmethod
    def zeros(cls, n_features: int, n_channels: int) -> "LayerStats":
        return cls(0, np.zeros(n_features), np.zeros((n_features, n_features)),
                   np.zeros(n_channels), np.zeros(n_channels),
                   np.zeros((n_features, n_channels)))

    def add(self, x, y) -> None:
        """Add rows: ``x`` (M x F) features, ``y`` (M x C) activations (tensors or arrays).
        The products of one call are computed in float32 when both inputs are float32 (the
        network's precision; much faster for wide layers), else in float64; the running sums
        are float64."""
        x, y = torch.as_tensor(x).detach().cpu(), torch.as_tensor(y).detach().cpu()
        dt = torch.float32 if (x.dtype == torch.float32 and y.dtype == torch.float32) \
            else torch.float64
        x, y = x.to(dt), y.to(dt)
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"need x (M x F) and y (M x C) with the same M, got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if x.shape[1] != self.sx.shape[0] or y.shape[1] != self.sy.shape[0]:
            raise ValueError(f"expected {self.sx.shape[0]} features and {self.sy.shape[0]} "
                             f"channels, got {x.shape[1]} and {y.shape[1]}")
        if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            raise ValueError("features or activations contain NaN or infinite values")
        self.n += int(x.shape[0])
        self.sx += x.double().sum(0).numpy()
        self.sxx += (x.T @ x).double().numpy()
        self.sy += y.double().sum(0).numpy()
        self.syy += (y.double() ** 2).sum(0).numpy()
        self.sxy += (x.T @ y).double().numpy()

    def __add__(self, other: "LayerStats") -> "LayerStats":
        if self.sxy.shape != other.sxy.shape:
            raise ValueError("cannot add statistics of different shapes")
        return LayerStats(self.n + other.n, self.sx + other.sx, self.sxx + other.sxx,
                          self.sy + other.sy, self.syy + other.syy, self.sxy + other.sxy,
                          self.images + other.images)

    def sst(self) -> np.ndarray:
        """Total sum of squares of each channel about its mean on these positions."""
        self._check()
        return np.maximum(self.syy - self.sy ** 2 / self.n, 0.0)

    def _check(self):
        if self.n < 2:
            raise ValueError(f"need statistics of at least 2 positions, have {self.n}")


def _flat(t: torch.Tensor) -> torch.Tensor:
    """``N x C x h x w`` -> ``(N h w) x C``."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


#: Pooling grids of :func:`collect_stats`: ``None``, each layer's own grid (its positions);
#: ``"coarsest"``, every layer of the pass average-pooled to the coarsest of their grids, so that
#: layers of different strides are compared on the same positions (the log-Gabor energies are
#: pooled to that grid too).
GRIDS = (None, "coarsest")


def collect_stats(model, images: Iterable, layers: Sequence[str], spec: FeatureSpec,
                  progress: bool = False, total: int | None = None,
                  grid: str | None = None) -> dict[str, LayerStats]:
    """Stream ``images`` (uint8 RGB arrays, or callables returning one) through ``model`` at its
    input size for each image and accumulate, per layer, the statistics of (pooled features,
    activations) over all positions of the layer's grid, or, with ``grid="coarsest"``, over the
    positions of the coarsest grid among ``layers`` (:data:`GRIDS`; activations average-pooled
    to it with ``adaptive_avg_pool2d``). Returns ``{layer: LayerStats}``."""
    return collect_stats_sets(model, images, {"": (spec, layers)}, progress, total, grid)[""]


@torch.no_grad()
def collect_stats_sets(model, images: Iterable,
                       sets: Mapping[str, tuple[FeatureSpec, Sequence[str]]],
                       progress: bool = False, total: int | None = None,
                       grid: str | None = None) -> dict[str, dict[str, LayerStats]]:
    """:func:`collect_stats` for several feature sets in one pass over the images (one forward
    pass per image): ``sets`` maps a name to ``(spec, layers)``; returns
    ``{name: {layer: LayerStats}}``. ``grid``: see :func:`collect_stats` (the coarsest grid of
    each set's layers)."""
    from tqdm.auto import tqdm

    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
    if not sets:
        raise ValueError("no feature sets given")
    sets = {name: (spec, list(layers)) for name, (spec, layers) in sets.items()}
    all_layers = []
    for name, (spec, layers) in sets.items():
        if not isinstance(spec, FeatureSpec):
            raise TypeError(f"set {name!r}: spec must be a FeatureSpec, got "
                            f"{type(spec).__name__}")
        if not layers:
            raise ValueError("no layers given")
        for k in layers:
            model.module(k)  # KeyError for an unknown layer
            if k not in all_layers:
                all_layers.append(k)
    stats: dict[str, dict[str, LayerStats]] = {name: {} for name in sets}
    count = 0
    for item in tqdm(images, total=total, desc="log-Gabor statistics", disable=not progress,
                     leave=False):
        img = to_uint8_rgb(item() if callable(item) else item)
        x = model.preprocess(img, size=model.input_shape_for(img.shape[:2]))
        acts = model.activations(x, all_layers)
        missing = [n for n in all_layers if n not in acts]
        if missing:
            raise ValueError(f"layer(s) {missing} were not computed by the forward pass (a "
                             "SaliencyModel stops at its deepest readout layer)")
        rgb = model_rgb(model, x).float()
        for name, (spec, layers) in sets.items():
            maps = spec.energy_maps(rgb)
            feats: dict[tuple, torch.Tensor] = {}
            coarse = (tuple(min(acts[k].shape[d] for k in layers) for d in (-2, -1))
                      if grid == "coarsest" else None)
            for k in layers:
                a = acts[k].float()
                if coarse is not None and tuple(a.shape[-2:]) != coarse:
                    a = F.adaptive_avg_pool2d(a, coarse)
                size = tuple(a.shape[-2:])
                if size not in feats:
                    feats[size] = spec.pool(maps, size)
                if k not in stats[name]:
                    stats[name][k] = LayerStats.zeros(spec.n_features, a.shape[1])
                st = stats[name][k]
                st.add(_flat(feats[size]), _flat(a))
                st.images += 1
        count += 1
    if count == 0:
        raise ValueError("no images given")
    return stats


# ------------------------------------------------------------------------------ ridge
@dataclass
class LayerFit:
    """A layer's reconstruction ``y ≈ x W + b`` (``W``: F x C on raw pooled features)."""

    layer: str
    lam: float
    W: np.ndarray
    b: np.ndarray
    lambdas: tuple
    val_explained: np.ndarray  # explained variance on the validation images, per λ
    features: np.ndarray | None = None  # indices of the features used (None: all)

    @property
    def n_channels(self) -> int:
        return self.W.shape[1]

    @property
    def constant(self) -> bool:
        """True for a fit with all weights zero (:func:`mean_fit`): the output is ``b`` at
        every position, whatever the features."""
        return not np.any(self.W)

    def apply(self, feats: torch.Tensor) -> torch.Tensor:
        """Pooled features ``N x F x h x w`` -> reconstruction ``N x C x h x w``."""
        if self.features is not None:
            feats = feats[:, torch.as_tensor(self.features, device=feats.device)]
        if feats.shape[1] != self.W.shape[0]:
            raise ValueError(f"{self.layer}: expected {self.W.shape[0]} features, got "
                             f"{feats.shape[1]}")
        W = torch.as_tensor(self.W, dtype=feats.dtype, device=feats.device)
        b = torch.as_tensor(self.b, dtype=feats.dtype, device=feats.device)
        return torch.einsum("nfhw,fc->nchw", feats, W) + b.view(1, -1, 1, 1)


def _moments(st: LayerStats, idx=None):
    st._check()
    n = st.n
    sx, sxx, sxy = st.sx, st.sxx, st.sxy
    if idx is not None:
        sx, sxx, sxy = sx[idx], sxx[np.ix_(idx, idx)], sxy[idx]
    mx, my = sx / n, st.sy / n
    cxx = sxx / n - np.outer(mx, mx)
    cxy = sxy / n - np.outer(mx, my)
    return mx, my, cxx, cxy


def _solve(st: LayerStats, lambdas, idx=None):
    """Ridge solutions ``(W, b)`` for each λ (standardised features, raw-scale output)."""
    mx, my, cxx, cxy = _moments(st, idx)
    var = np.clip(np.diag(cxx), 0.0, None)
    tiny = 1e-12 * max(float(var.max()), 1e-300)
    sd = np.where(var > tiny, np.sqrt(var), np.inf)  # constant features get weight 0
    r = cxx / np.outer(sd, sd)
    r[~np.isfinite(r)] = 0.0
    c = cxy / sd[:, None]
    e, v = np.linalg.eigh(r)
    e = np.clip(e, 0.0, None)
    vc = v.T @ c
    out = []
    for lam in lambdas:
        beta = v @ (vc / (e + lam)[:, None])
        w = beta / sd[:, None]
        out.append((w, my - mx @ w))
    return out


def _sse(st: LayerStats, w: np.ndarray, b: np.ndarray, idx=None) -> np.ndarray:
    """Per-channel sum of squared errors of ``x[:, idx] w + b`` on the positions of ``st``."""
    sx, sxx, sxy = st.sx, st.sxx, st.sxy
    if idx is not None:
        sx, sxx, sxy = sx[idx], sxx[np.ix_(idx, idx)], sxy[idx]
    sse = (st.syy - 2 * np.sum(w * sxy, 0) - 2 * b * st.sy + np.sum((sxx @ w) * w, 0)
           + 2 * b * (sx @ w) + st.n * b ** 2)
    return np.maximum(sse, 0.0)


def _explained(st: LayerStats, w, b, idx=None) -> float:
    sst = st.sst()
    if sst.sum() <= 0:
        raise ValueError("the activations are constant on these images: nothing to explain")
    return float(1.0 - _sse(st, w, b, idx).sum() / sst.sum())


def fit_layer(layer: str, fit: LayerStats, val: LayerStats,
              lambdas: Sequence[float] = DEFAULT_LAMBDAS, features=None) -> LayerFit:
    """Ridge reconstruction of every channel of ``layer``: the penalty that maximises the
    explained variance on ``val`` (one per layer), then refitted on ``fit + val``.
    ``features``: indices of a feature subset (default all)."""
    lambdas = tuple(float(v) for v in lambdas)
    if not lambdas or any(not (lam > 0) for lam in lambdas):
        raise ValueError(f"lambdas must be positive, got {lambdas!r}")
    idx = None if features is None else np.asarray(features, dtype=int)
    if idx is not None and idx.size == 0:
        raise ValueError("empty feature subset")
    scores = np.array([_explained(val, w, b, idx) for w, b in _solve(fit, lambdas, idx)])
    best = lambdas[int(np.argmax(scores))]
    (w, b), = _solve(fit + val, [best], idx)
    return LayerFit(layer, best, w, b, lambdas, scores, idx)


def r2_per_channel(st: LayerStats, lf: LayerFit) -> tuple[np.ndarray, np.ndarray]:
    """``(R², active)`` per channel on the positions of ``st``; ``active`` is False (and R²
    NaN) for channels that are constant there."""
    sst = st.sst()
    active = sst > 1e-12 * max(float(sst.max()), 1e-300)
    sse = _sse(st, lf.W, lf.b, lf.features)
    r2 = np.full(sst.shape, np.nan)
    r2[active] = 1.0 - sse[active] / sst[active]
    return r2, active


def explained_variance(st: LayerStats, lf: LayerFit) -> float:
    """``1 - ΣSSE / ΣSST`` over all channels on the positions of ``st``."""
    return _explained(st, lf.W, lf.b, lf.features)


def image_residual(st: LayerStats, lf: LayerFit) -> tuple[float, int, np.ndarray, np.ndarray]:
    """What one image's statistics ``st`` contribute to the held-out explained variance:
    ``(SSE summed over channels, positions, per-channel sum, per-channel sum of squares)``;
    small enough to keep for every image (see :func:`image_errors`)."""
    return float(_sse(st, lf.W, lf.b, lf.features).sum()), st.n, st.sy.copy(), st.syy.copy()


def image_errors(residuals: Sequence[tuple]) -> np.ndarray:
    """Rows ``(SSE, SST)`` per image from :func:`image_residual` of each image, SST about the
    channel means of all these images together, so that ``1 - ΣSSE / ΣSST`` over the rows is
    :func:`explained_variance` of the summed statistics (the held-out explained variance)."""
    residuals = list(residuals)
    if len(residuals) < 2:
        raise ValueError("need the residuals of at least 2 images")
    n = sum(r[1] for r in residuals)
    my = sum(r[2] for r in residuals) / n
    rows = [(sse, float(np.sum(syy - 2 * my * sy + ni * my ** 2)))
            for sse, ni, sy, syy in residuals]
    return np.array(rows, float)


def feature_groups(spec: FeatureSpec, by: str) -> dict[str, np.ndarray]:
    """Indices of the features of each scale (``by="scale"``), orientation (``"orientation"``)
    or opponent channel (``"channel"``; its low-pass feature included). Scale and orientation
    groups hold energy features only, of all channels and context copies."""
    names = spec.names
    b = spec.bank
    if by == "scale":
        keys = {f"λ = {lam:.1f} px": s for s, lam in enumerate(b.wavelengths)}
        return {k: np.array([i for i, d in enumerate(names) if d["scale"] == s])
                for k, s in keys.items()}
    if by == "orientation":
        keys = {f"{np.degrees(t):.0f}°": o for o, t in enumerate(b.orientations)}
        return {k: np.array([i for i, d in enumerate(names) if d["orientation"] == o])
                for k, o in keys.items()}
    if by == "channel":
        return {c: np.array([i for i, d in enumerate(names) if d["channel"] == c])
                for c in OPPONENT_CHANNELS}
    raise ValueError(f"by must be 'scale', 'orientation' or 'channel', got {by!r}")


def group_r2(fit: LayerStats, val: LayerStats, test: LayerStats, lam: float,
             groups: Mapping[str, np.ndarray]) -> tuple[dict, np.ndarray]:
    """For each group, refit with only its features (penalty ``lam``, on ``fit + val``) and
    score on ``test``. Returns ``({group: explained variance}, R² array groups x channels)``
    (NaN for channels constant on ``test``)."""
    sst = test.sst()
    active = sst > 1e-12 * max(float(sst.max()), 1e-300)
    both = fit + val
    layer_scores, per_channel = {}, []
    for name, idx in groups.items():
        idx = np.asarray(idx, dtype=int)
        if idx.size == 0:
            raise ValueError(f"group {name!r} has no features")
        (w, b), = _solve(both, [lam], idx)
        sse = _sse(test, w, b, idx)
        layer_scores[name] = float(1.0 - sse.sum() / sst.sum())
        r2 = np.full(sst.shape, np.nan)
        r2[active] = 1.0 - sse[active] / sst[active]
        per_channel.append(r2)
    return layer_scores, np.array(per_channel)


def best_single_feature(fit: LayerStats, test: LayerStats) -> tuple[np.ndarray, np.ndarray]:
    """The single feature with the highest squared correlation with each channel on ``fit``
    and the held-out R² of the least-squares line through it on ``test``:
    ``(feature index per channel, R² per channel)`` (NaN for constant channels)."""
    mx, my, cxx, cxy = _moments(fit)
    vx = np.clip(np.diag(cxx), 0.0, None)
    vy = np.maximum(fit.syy / fit.n - my ** 2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr2 = np.where((vx[:, None] > 0) & (vy[None] > 0),
                         cxy ** 2 / (vx[:, None] * vy[None]), 0.0)
    best = np.argmax(corr2, axis=0)
    ch = np.arange(cxy.shape[1])
    slope = np.where(vx[best] > 0, cxy[best, ch] / np.where(vx[best] > 0, vx[best], 1.0), 0.0)
    w = np.zeros_like(cxy)
    w[best, ch] = slope
    b = my - mx @ w
    sst = test.sst()
    active = sst > 1e-12 * max(float(sst.max()), 1e-300)
    sse = _sse(test, w, b)
    r2 = np.full(sst.shape, np.nan)
    r2[active] = 1.0 - sse[active] / sst[active]
    return best, r2


# ------------------------------------------------------------------------------ explainable model
class Reconstruction:
    """Context manager: while active, each layer in ``fits`` outputs its reconstruction from the
    log-Gabor features of the current input (forward hooks on ``model``); on exit the hooks are
    removed. The features are computed once per forward pass, at the input's resolution."""

    def __init__(self, model, fits: Mapping[str, LayerFit], spec: FeatureSpec):
        if not fits:
            raise ValueError("no layer fits given")
        self.model, self.fits, self.spec = model, dict(fits), spec
        for name in self.fits:
            model.module(name)  # KeyError for an unknown layer
        self._handles: list = []
        self._maps = None
        self._rgb = None

    def _pre(self, _module, args):
        self._rgb = model_rgb(self.model, args[0]).float()
        self._maps = None

    def _hook(self, name):
        fit = self.fits[name]

        def hook(_module, _inputs, out):
            if not isinstance(out, torch.Tensor) or out.ndim != 4:
                raise TypeError(f"{name}: can only replace N x C x h x w outputs")
            if out.shape[1] != fit.n_channels:
                raise ValueError(f"{name}: the fit has {fit.n_channels} channels, the layer "
                                 f"{out.shape[1]}")
            if fit.constant:  # no features needed: the mean vector broadcast over the grid
                b = torch.as_tensor(fit.b, dtype=out.dtype, device=out.device)
                return b.view(1, -1, 1, 1).expand_as(out).contiguous()
            if self._maps is None:
                self._maps = self.spec.energy_maps(self._rgb)
            feats = self.spec.pool(self._maps, out.shape[-2:])
            return fit.apply(feats).to(out.dtype)

        return hook

    def __enter__(self):
        self._handles = [self.model.register_forward_pre_hook(self._pre)]
        self._handles += [self.model.module(n).register_forward_hook(self._hook(n))
                          for n in self.fits]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles, self._maps, self._rgb = [], None, None
        return False


class ExplainableModel:
    """``model`` with the layers of ``fits`` replaced by their log-Gabor reconstructions;
    ``predict`` and ``predict_log_density`` as the model's (so
    :func:`saliency_utils.evaluate.scoring.model_maps` accepts it)."""

    def __init__(self, model, fits: Mapping[str, LayerFit], spec: FeatureSpec,
                 constant_is_uniform: bool = False):
        self.model, self.fits, self.spec = model, dict(fits), spec
        self.constant_is_uniform = bool(constant_is_uniform)
        Reconstruction(model, self.fits, spec)  # validates the layer names
        # every input of the readout replaced by a constant: the map depends on the image's
        # size only (the readout sees the same tensor for every image of a size), so it is
        # computed once per size and call (the prior-only model)
        self._size_only = (list(self.fits) == ["readout_input"]
                           and all(f.constant for f in self.fits.values()))
        self._cache: dict = {}

    def _cached(self, kind: str, image, args, kwargs):
        key = (kind, tuple(np.shape(image)[:2]), args, tuple(sorted(kwargs.items())))
        if key not in self._cache:
            with Reconstruction(self.model, self.fits, self.spec):
                self._cache[key] = getattr(self.model, kind)(image, *args, **kwargs)
        return self._cache[key].copy()

    def predict(self, image, *args, **kwargs) -> np.ndarray:
        """The model's map with the reconstructions in place. With ``constant_is_uniform`` (the
        prior-only model, :func:`prior_only_model`) a constant map comes back as a
        :class:`~saliency_utils.evaluate.maps.UniformMap`, which the scorers score as the uniform map.
        When the whole readout input is a constant, the map is computed once per image size."""
        if self._size_only:
            out = self._cached("predict", image, args, kwargs)
        else:
            with Reconstruction(self.model, self.fits, self.spec):
                out = self.model.predict(image, *args, **kwargs)
        if self.constant_is_uniform and float(np.ptp(out)) <= 1e-9 * float(np.max(np.abs(out))):
            return maps.uniform_map(np.shape(out))
        return out

    def predict_log_density(self, image, *args, **kwargs) -> np.ndarray:
        if self._size_only:
            return self._cached("predict_log_density", image, args, kwargs)
        with Reconstruction(self.model, self.fits, self.spec):
            return self.model.predict_log_density(image, *args, **kwargs)

    def __repr__(self) -> str:
        return f"ExplainableModel(layers={list(self.fits)})"


def fit_explainable(model, layer: str, spec: FeatureSpec, fit_images: Iterable,
                    val_images: Iterable, lambdas: Sequence[float] | None = None
                    ) -> ExplainableModel:
    """The explainable model in one call: collect the statistics of ``layer`` on
    ``fit_images`` and ``val_images`` (:func:`collect_stats`), choose the ridge penalty on the
    validation images (:func:`fit_layer`), and return ``model`` with ``layer`` replaced by its
    log-Gabor reconstruction. :func:`fit_explainable_and_prior` also returns the prior-only
    model from the same statistics."""
    return fit_explainable_and_prior(model, layer, spec, fit_images, val_images, lambdas)[0]


def fit_explainable_and_prior(model, layer: str, spec: FeatureSpec, fit_images: Iterable,
                              val_images: Iterable, lambdas: Sequence[float] | None = None
                              ) -> tuple[ExplainableModel, ExplainableModel]:
    """``(explainable, prior_only)`` from one pass of statistics: the explainable model of
    :func:`fit_explainable` and the prior-only model (:func:`prior_only_model`) whose constant
    readout input is the mean of ``layer`` over the same ``fit_images`` (as chapter 5 builds
    it), so the two are the reconstruction and its no-image-content reference of one fit."""
    st_fit = collect_stats(model, fit_images, [layer], spec)[layer]
    st_val = collect_stats(model, val_images, [layer], spec)[layer]
    kw = {} if lambdas is None else {"lambdas": tuple(lambdas)}
    explainable = ExplainableModel(model, {layer: fit_layer(layer, st_fit, st_val, **kw)}, spec)
    return explainable, prior_only_model(model, layer, st_fit, spec)


def mean_fit(layer: str, stats: LayerStats) -> LayerFit:
    """A "reconstruction" of ``layer`` that ignores the image: zero weights and the mean
    activation vector over the positions of ``stats`` (e.g. the fit images) as intercept.
    Replacing the readout input by it (:func:`prior_only_model`) leaves the saliency model only
    its learned centre-bias prior and the readout's bias."""
    if stats.n < 1:
        raise ValueError("need statistics of at least one position")
    mean = stats.sy / stats.n
    return LayerFit(layer, float("nan"), np.zeros((stats.sx.shape[0], mean.shape[0])), mean,
                    (), np.zeros(0))


def prior_only_model(model, layer: str, stats: LayerStats, spec: FeatureSpec) -> ExplainableModel:
    """The **prior-only** model: ``model`` with ``layer`` (the readout input) replaced by the
    constant mean feature vector of ``stats`` (:func:`mean_fit`), by the same
    :class:`ExplainableModel` path as the log-Gabor reconstruction. With a readout of 1x1
    convolutions the readout's output is then the same at every position, and the softmax
    removes that constant: the map is the learned centre-bias prior alone (with the model's flip
    averaging and map exponent). The reference for what image content adds. A model without a
    learned prior (e.g. the ``paper`` preset) has a constant map here: it is returned as the
    uniform map (:class:`~saliency_utils.evaluate.maps.UniformMap`), scored at the uniform map's scores
    (:func:`saliency_utils.evaluate.metrics.uniform_scores`: AUC 0.5, NSS and CC 0)."""
    return ExplainableModel(model, {layer: mean_fit(layer, stats)}, spec, constant_is_uniform=True)


def retained_share(rows) -> float:
    """Share of the deep model's gain over a reference that the explainable model keeps, as a
    ratio of means over per-image rows ``(explainable, deep, reference)``:
    ``(mean explainable - mean reference) / (mean deep - mean reference)`` (NaN when the deep
    model's mean gain is 0). For :func:`saliency_utils.evaluate.stats.bootstrap_ci` over images."""
    v = np.asarray(rows, float)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError("retained_share needs an (n, 3) array of (explainable, deep, reference)")
    e, d, r = v.mean(axis=0)
    return float((e - r) / (d - r)) if d != r else float("nan")
