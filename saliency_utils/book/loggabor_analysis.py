"""Chapter 5's analysis of one network in one call: the log-Gabor reconstruction of its layers,
the explainable and prior-only models, their scores and the evidence of every verdict of
:mod:`saliency_utils.claims.malladi2021`. Chapter 5 computes the same quantities step by step
for the book's own model; this function runs them on a second network with the chapter's
interface (:mod:`saliency_utils.explain.loggabor_explain`), UNISAL in the ``paper`` profile
(:mod:`saliency_utils.models.unisal`).

Every step is the chapter's: statistics of (pooled features, activations) on the fit and
validation images (:func:`~saliency_utils.explain.loggabor_explain.collect_stats`), one ridge penalty
per layer (:func:`~saliency_utils.explain.loggabor_explain.fit_layer`), held-out per-image residuals
(:func:`~saliency_utils.explain.loggabor_explain.image_errors`), the best single response and the
dominant scale per channel, the explainable model of the main layer and the prior-only model
scored on :data:`~saliency_utils.explain.loggabor_explain.EVAL_DATASETS` beside the centre bias, and the
matched controls of the main layer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from saliency_utils.explain import loggabor_explain as lx
from saliency_utils.evaluate import stats

__all__ = ["Analysis", "run", "verdicts", "DEEP", "EXPL", "PRIOR", "CENTRE"]

DEEP, EXPL, PRIOR, CENTRE = ("deep model", "explainable (readout input ← log-Gabor)",
                             "prior only (constant readout input)", "centre bias")


@dataclass
class Analysis:
    """What :func:`run` computed for one network (tables are pandas DataFrames)."""

    network: str
    layers: list
    main: str
    fits: dict
    recon_table: object  # per layer: channels, λ, explained variance (fit, held-out, CI), R²
    image_rows: dict  # layer -> (n held-out images, 2) rows (SSE, SST)
    single_r2: dict  # layer -> held-out R² of the best single response, non-constant channels
    dominant_wavelength: dict  # layer -> dominant scale's wavelength (px), non-constant channels
    score_table: object  # (dataset, model) -> mean scores
    paired: dict  # "vs deep" / "vs prior only" -> per-image NSS differences, all datasets
    diff_table: object  # (dataset, comparison) -> mean paired NSS difference and CI
    control_gain_rows: dict = field(default_factory=dict)  # control label -> (SSE lg, SSE c, SST)
    control_table: object = None  # control label -> held-out EV and the gain's CI
    seconds: float = 0.0


def _images(loaders):
    return list(loaders)


def run(model, layers: Sequence[str], main: str, spec: lx.FeatureSpec, fit_images, val_images,
        held_images, eval_n: int | None, metrics: Sequence[str], centre_bias,
        map_kwargs: Mapping | None = None, controls: Sequence[str] = (), control_seed: int = 0,
        seed: int = 0, network: str = "") -> Analysis:
    """Chapter 5's analysis of ``model`` (see the module docstring). ``*_images``: uint8
    images or callables returning one (OSIE training images for fit and validation, OSIE test
    images held out); ``eval_n``: images per evaluation set (None = all); ``metrics`` must
    include NSS; ``centre_bias``: the Gaussian centre bias ``(sigma_y/H, sigma_x/W)`` (anchor
    and IG baseline); ``map_kwargs``: ``predict``'s arguments for the model's own map (UNISAL:
    :data:`saliency_utils.models.unisal.MAP_KWARGS`); ``controls``: kinds of
    :func:`~saliency_utils.explain.loggabor_explain.control_spec` fitted for the main layer."""
    import pandas as pd

    from saliency_utils.claims import malladi2021 as m21
    from saliency_utils.evaluate.scoring import FixationDataset, centre_bias_maps, model_maps, score_maps
    from saliency_utils.book.report import mean_table

    layers = list(layers)
    if main not in layers:
        raise ValueError(f"the main layer {main!r} must be one of the layers {layers}")
    if m21.METRIC not in metrics:
        raise ValueError(f"metrics must include {m21.METRIC} (the verdict's metric)")
    t_start = time.perf_counter()
    fit_images, val_images, held_images = (_images(v) for v in (fit_images, val_images,
                                                                 held_images))
    mk = dict(map_kwargs or {})
    st_fit = lx.collect_stats(model, fit_images, layers, spec)
    st_val = lx.collect_stats(model, val_images, layers, spec)
    fits = {k: lx.fit_layer(k, st_fit[k], st_val[k]) for k in layers}
    st_test, resid = None, {k: [] for k in layers}
    for load in held_images:
        st_i = lx.collect_stats(model, [load], layers, spec)
        for k in layers:
            resid[k].append(lx.image_residual(st_i[k], fits[k]))
        st_test = st_i if st_test is None else {k: st_test[k] + st_i[k] for k in layers}
    image_rows = {k: lx.image_errors(resid[k]) for k in layers}

    scale_groups = lx.feature_groups(spec, "scale")
    wavelengths = np.asarray(spec.bank.wavelengths, float)
    rows, single_r2, dom_wl = {}, {}, {}
    for k in layers:
        lf, te = fits[k], st_test[k]
        r2, active = lx.r2_per_channel(te, lf)
        _, r2_single = lx.best_single_feature(st_fit[k] + st_val[k], te)
        single_r2[k] = r2_single[active]
        _, per_ch = lx.group_r2(st_fit[k], st_val[k], te, lf.lam, scale_groups)
        best = np.argmax(np.where(active[None], per_ch, -np.inf), axis=0)[active]
        dom_wl[k] = wavelengths[best]
        ci = stats.bootstrap_ci(image_rows[k], m21.explained_variance, seed=seed)
        rows[k] = {"channels": lf.n_channels, "λ": lf.lam,
                   "explained var. (fit)": lx.explained_variance(st_fit[k] + st_val[k], lf),
                   "explained var. (held-out)": lx.explained_variance(te, lf),
                   "held-out 95 % CI": f"[{ci.lo:.3f}, {ci.hi:.3f}]",
                   "median channel R²": float(np.median(r2[active])) if active.any() else np.nan,
                   "best single response: median R²":
                       float(np.median(r2_single[active])) if active.any() else np.nan,
                   "mean dominant wavelength (px)":
                       float(dom_wl[k].mean()) if dom_wl[k].size else np.nan,
                   "constant channels": int((~active).sum())}
    recon_table = pd.DataFrame(rows).T
    recon_table.index.name = "layer"

    explainable = lx.ExplainableModel(model, {main: fits[main]}, spec)
    prior_only = lx.prior_only_model(model, main, st_fit[main], spec)
    eval_rows = {}
    for ds in lx.EVAL_DATASETS:
        eval_ds = FixationDataset.named(ds, eval_n)
        scored = score_maps({DEEP: model_maps(model, **mk), EXPL: model_maps(explainable, **mk),
                             PRIOR: model_maps(prior_only, **mk),
                             CENTRE: centre_bias_maps(eval_ds, centre_bias)},
                            eval_ds, list(metrics), centre_bias=centre_bias, seed=seed)
        for name, df in scored.items():
            eval_rows[(ds, name)] = df.set_index("image")
    score_table = pd.concat({ds: mean_table({m: eval_rows[(ds, m)].reset_index()
                                             for m in (DEEP, EXPL, PRIOR, CENTRE)},
                                            order=list(metrics))
                             for ds in lx.EVAL_DATASETS}, names=["dataset", "model"])
    paired = {"vs deep": [], "vs prior only": []}
    diff_rows = {}
    for ds in lx.EVAL_DATASETS:
        e_nss = eval_rows[(ds, EXPL)][m21.METRIC]
        for part, other in (("vs deep", DEEP), ("vs prior only", PRIOR), (None, CENTRE)):
            d = (e_nss - eval_rows[(ds, other)][m21.METRIC].loc[e_nss.index]).to_numpy()
            if part is not None:
                paired[part].append(d)
            e = stats.mean_ci(d)
            diff_rows[(ds, f"explainable − {other}")] = {
                f"mean {m21.METRIC} difference": e.value, "95 % low": e.lo, "95 % high": e.hi,
                "n": e.n}
    paired = {part: np.concatenate(v) for part, v in paired.items()}
    diff_table = pd.DataFrame(diff_rows).T
    diff_table.index.names = ["dataset", "comparison"]

    gain_rows, ctrl_rows = {}, {}
    if controls:
        sets = {m21.CONTROLS[c]: (lx.control_spec(spec, c, seed=control_seed), [main])
                for c in controls}
        c_fit = lx.collect_stats_sets(model, fit_images, sets)
        c_val = lx.collect_stats_sets(model, val_images, sets)
        c_fits = {n: lx.fit_layer(main, c_fit[n][main], c_val[n][main]) for n in sets}
        c_resid = {n: [] for n in sets}
        for load in held_images:
            st_i = lx.collect_stats_sets(model, [load], sets)
            for n in sets:
                c_resid[n].append(lx.image_residual(st_i[n][main], c_fits[n]))
        lg = image_rows[main]
        for n in sets:
            rows_c = lx.image_errors(c_resid[n])
            if not np.allclose(rows_c[:, 1], lg[:, 1]):
                raise ValueError(f"{n}: the held-out images differ from the log-Gabor fit's")
            gain_rows[n] = np.column_stack([lg[:, 0], rows_c[:, 0], lg[:, 1]])
            g = stats.bootstrap_ci(gain_rows[n], m21.explained_variance_gain, seed=seed)
            ctrl_rows[n] = {"held-out explained var.": m21.explained_variance(rows_c),
                            "log-Gabor − control": g.value, "95 % low": g.lo, "95 % high": g.hi,
                            "n": g.n}
    ctrl_table = pd.DataFrame(ctrl_rows).T if ctrl_rows else None
    return Analysis(network, layers, main, fits, recon_table, image_rows, single_r2, dom_wl,
                    score_table, paired, diff_table, gain_rows, ctrl_table,
                    time.perf_counter() - t_start)


def verdicts(a: Analysis, power: bool = True) -> list:
    """The verdicts of :mod:`saliency_utils.claims.malladi2021` decided from ``a`` as chapter 5
    decides them for the book's model: ``a.layers`` must be three encoder layers (shallow to
    deep) and the main layer, the readout input. ``paper_models`` is not among them (it is
    about the paper's tables). ``power``: also estimate each part's power (the claims'
    ``decide``)."""
    from saliency_utils import claims
    from saliency_utils.claims import malladi2021 as m21

    enc = [k for k in a.layers if k != a.main]
    if len(enc) != len(m21.LAYER_ROLES):
        raise ValueError(f"the claims expect {len(m21.LAYER_ROLES)} encoder layers besides the "
                         f"main layer, got {enc}")
    role_layer = dict(zip(m21.LAYER_ROLES, enc))
    depth_pairs = np.concatenate([np.column_stack([np.full(a.dominant_wavelength[k].size, d),
                                                   a.dominant_wavelength[k]])
                                  for d, k in enumerate(enc)])
    coarser = claims.get("malladi2021.coarser_with_depth")
    try:
        v_coarser = coarser.decide(depth_pairs, power=power)
    except ValueError as err:  # e.g. every channel has the same dominant scale
        v_coarser = coarser.not_tested_here(f"the rank correlation is undefined in this run: {err}")
    beats = claims.get("malladi2021.beats_controls")
    if set(a.control_gain_rows) == set(m21.CONTROLS.values()):
        v_beats = beats.decide({f"vs {label}": a.control_gain_rows[label]
                                for label in m21.CONTROLS.values()}, power=power)
    else:
        v_beats = beats.not_tested_here(f"this run fitted the controls {list(a.control_gain_rows)}, "
                                        f"the claim needs {list(m21.CONTROLS.values())}")
    return [
        claims.get("malladi2021.reconstruct").decide(a.image_rows[a.main], power=power),
        claims.get("malladi2021.single_filter").decide(
            {role: a.single_r2[k] for role, k in role_layer.items()}, power=power),
        v_coarser,
        claims.get("malladi2021.explainable_comparable").decide(a.paired, power=power),
        v_beats,
    ]
