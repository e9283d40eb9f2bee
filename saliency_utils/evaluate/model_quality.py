"""The book's saliency model judged as a model of fixations (chapter 3, section 1).

* :func:`density_gain`: the model's output is a probability density, so it is scored as one
  (Kümmerer, Wallis & Bethge, PNAS 2015): the mean log-likelihood of the fixations, in bits per
  fixation, relative to a baseline density (uniform, or the centre bias). Unlike the MIT
  benchmark's IG (:func:`saliency_utils.evaluate.metrics.information_gain`, which min-max normalises
  both maps and adds an epsilon), the densities are used as they are.
* :func:`score_densities`: that gain over the uniform and over the centre-bias density for
  every image of a dataset.
* :func:`compare_with`: every score with a bootstrap CI over images, and the paired difference
  from a reference predictor (the centre bias) on the same images with a sign-flip test,
  Holm-adjusted over all the comparisons in the table.
* :data:`QUALITY_TARGET` and :func:`judge_target`: the quality target of issue 15, fixed before
  the model trained under the validation protocol was scored, and its reading.
* :func:`evaluate_model`: all of it for one model on one dataset, per image; and the tables a
  page shows from it (:func:`metric_table`, :func:`density_table`, :func:`loo_table`,
  :func:`target_markdown`).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from saliency_utils.evaluate import anchors, metrics, stats

__all__ = ["UNIFORM_MIX", "density_gain", "score_densities", "DENSITY_SCORES", "compare_with",
           "QUALITY_TARGET", "target_side", "judge_target", "LOO_METRICS", "evaluate_model", "MAP", "DENSITY",
           "PER_METRIC", "CENTRE_BIAS", "format_ci", "metric_table", "density_table", "loo_table",
           "target_markdown"]

#: Every density is mixed with this weight of the uniform density before its log is taken, so
#: that a pixel that resampling rounded to 0 costs a finite ``log2(UNIFORM_MIX / N)`` bits.
UNIFORM_MIX = 1e-6

#: The columns of :func:`score_densities` (bits per fixation).
DENSITY_SCORES = ("IG vs uniform (bits)", "IG vs centre bias (bits)")


def _density(p, name: str) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) == 0:
        raise ValueError(f"{name} must be a non-empty 2-D map, got shape {a.shape}")
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    total = a.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to 0: not a density")
    return (1.0 - UNIFORM_MIX) * (a / total) + UNIFORM_MIX / a.size


def _pixel_index(fixations, shape) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every fixation (a :class:`~saliency_utils.data.Fixations`, or an
    ``(x, y)`` pair of arrays) on the ``shape`` grid (rounded, clipped)."""
    if hasattr(fixations, "x"):
        x, y = np.asarray(fixations.x, float), np.asarray(fixations.y, float)
        if tuple(fixations.shape) != tuple(shape):
            raise ValueError(f"fixations are on a {tuple(fixations.shape)} grid, "
                             f"the density is {tuple(shape)}")
    else:
        x, y = (np.asarray(v, float) for v in fixations)
    if x.size == 0:
        raise ValueError("no fixations to score")
    h, w = shape
    r = np.clip(np.rint(y), 0, h - 1).astype(int)
    c = np.clip(np.rint(x), 0, w - 1).astype(int)
    return r, c


def density_gain(density, fixations, baseline=None) -> float:
    """Mean over ``fixations`` of ``log2 p(x) - log2 b(x)``, in bits per fixation: the
    information gain of the density ``density`` over the ``baseline`` density (``None``: the
    uniform density, ``b = 1 / N``). Both are normalised to sum 1 and mixed with
    :data:`UNIFORM_MIX` of the uniform density. Every fixation counts (a pixel fixated twice
    counts twice). 0 when ``density`` is the baseline; positive when the density puts more
    probability where people look."""
    p = _density(density, "density")
    r, c = _pixel_index(fixations, p.shape)
    lp = np.log2(p[r, c])
    if baseline is None:
        lb = np.full(lp.shape, -np.log2(p.size))
    else:
        b = _density(baseline, "baseline")
        if b.shape != p.shape:
            raise ValueError(f"baseline shape {b.shape} differs from the density's {p.shape}")
        lb = np.log2(b[r, c])
    return float(np.mean(lp - lb))


def score_densities(source: Callable[[np.ndarray], np.ndarray] | Sequence, dataset,
                    centre_bias: tuple[float, float], progress: bool = False):
    """:func:`density_gain` of ``source`` (``image -> density at the image's size``, e.g.
    ``model_maps(model, exponent=1.0)``, or a list of densities aligned with the dataset)
    over the uniform density and over the centre-bias density
    (:func:`saliency_utils.evaluate.anchors.centre_bias_map` with ``centre_bias``) on every image of
    ``dataset`` (a :class:`~saliency_utils.evaluate.scoring.FixationDataset` or a name). Returns a
    DataFrame: ``image`` and the :data:`DENSITY_SCORES` columns."""
    import pandas as pd
    from tqdm.auto import tqdm

    from saliency_utils.evaluate.scoring import as_dataset

    ds = as_dataset(dataset)
    rows = []
    for k, (i, f) in enumerate(tqdm(list(zip(ds.ids, ds.fixation_sets())), disable=not progress,
                                    leave=False, desc=f"densities on {ds.name}")):
        d = source(ds.load_image(i)) if callable(source) else source[k]
        d = np.asarray(d, dtype=np.float64)
        if d.shape != tuple(f.shape):
            raise ValueError(f"{ds.name} image {i}: density of shape {d.shape}, "
                             f"fixations on {tuple(f.shape)}")
        base = anchors.centre_bias_map(f.shape, centre_bias)
        rows.append({"image": i, DENSITY_SCORES[0]: density_gain(d, f),
                     DENSITY_SCORES[1]: density_gain(d, f, base)})
    return pd.DataFrame(rows)


def compare_with(scores: Mapping[str, object], reference: str, columns: Sequence[str],
                 seed: int = 0):
    """One row per (predictor, score) of ``scores`` (``{predictor: per-image DataFrame}``, the
    same images in the same order): the mean with its bootstrap CI over images, and for every
    predictor but ``reference`` the paired difference from ``reference`` (mean, CI, sign-flip
    p-value, Holm-adjusted over every comparison of the table) and whether it is better
    (the CI excludes 0 in the metric's direction; lower KLD is better)."""
    import pandas as pd

    ref = scores[reference]
    rows = []
    for name, df in scores.items():
        if list(df["image"]) != list(ref["image"]):
            raise ValueError(f"{name!r} is not scored on the images of {reference!r}")
        for col in columns:
            e = stats.mean_ci(df[col].to_numpy(), seed=seed)
            row = {"predictor": name, "score": col, "mean": e.value, "lo": e.lo, "hi": e.hi,
                   "images": e.n}
            if name != reference:
                d = stats.paired_difference(df[col].to_numpy(), ref[col].to_numpy(), seed=seed)
                higher = metrics.HIGHER_IS_BETTER.get(col, True)
                row.update({"diff": d.value, "diff_lo": d.lo, "diff_hi": d.hi, "p": d.p,
                            "better": bool(d.lo > 0) if higher else bool(d.hi < 0),
                            "worse": bool(d.hi < 0) if higher else bool(d.lo > 0)})
            rows.append(row)
    out = pd.DataFrame(rows)
    if "p" in out:
        tested = out["p"].notna()
        out.loc[tested, "p_holm"] = stats.holm(out.loc[tested, "p"].to_numpy())
    return out


#: Issue 15's quality target, fixed before the model trained under the validation protocol
#: (500 / 100 / 100) was scored on test images. Each entry: ``(id, text, set, score, kind,
#: value)``; ``kind`` "at least": the score's mean reaches ``value``; "better than zero": it
#: exceeds 0; "better than centre bias": the paired difference from the centre bias is in the
#: metric's direction (every metric when ``score`` is None); "gap": the share of the NSS gap
#: between the centre bias and the inter-observer anchor (leave-one-observer-out on every image
#: of the set) reaches ``value``. Each is read off the 95 % CI (:func:`judge_target`).
QUALITY_TARGET = (
    ("nss", "OSIE test NSS ≥ 2.9", "osie_test", "NSS", "at least", 2.9),
    ("aucj", "OSIE test AUC-Judd ≥ 0.88", "osie_test", "AUC-Judd", "at least", 0.88),
    ("ig_osie", "IG over the centre bias > 0 (95 % CI above 0), OSIE test", "osie_test",
     DENSITY_SCORES[1], "better than zero", 0.0),
    ("ig_mit", "IG over the centre bias > 0 (95 % CI above 0), MIT1003", "mit1003",
     DENSITY_SCORES[1], "better than zero", 0.0),
    ("ig_figrim", "IG over the centre bias > 0 (95 % CI above 0), FIGRIM", "figrim",
     DENSITY_SCORES[1], "better than zero", 0.0),
    ("mit_all", "better than the centre bias on every metric, MIT1003", "mit1003", None,
     "better than centre bias", None),
    ("gap_osie", "closes ≥ 65 % of the NSS gap to the inter-observer anchor, OSIE test",
     "osie_test", "NSS", "gap", 0.65),
    ("gap_mit", "closes ≥ 65 % of the NSS gap to the inter-observer anchor, MIT1003",
     "mit1003", "NSS", "gap", 0.65),
    ("gap_figrim", "closes ≥ 65 % of the NSS gap to the inter-observer anchor, FIGRIM",
     "figrim", "NSS", "gap", 0.65),
)


def target_side(estimate, line: float, above_is_good: bool = True) -> str:
    """``"met"`` when the interval ``[estimate.lo, estimate.hi]`` lies on the good side of
    ``line``, ``"missed"`` when it lies on the other side, ``"not decided"`` otherwise (the
    book's reading of every quality target: a point estimate alone never decides)."""
    lo, hi = float(estimate.lo), float(estimate.hi)
    if (lo > line) if above_is_good else (hi < line):
        return "met"
    if (hi < line) if above_is_good else (lo > line):
        return "missed"
    return "not decided"


def judge_target(comparisons: Mapping[str, object], gaps: Mapping[str, stats.Estimate],
                 model: str, density_model: str | None = None,
                 metric_names: Sequence[str] = metrics.METRIC_NAMES):
    """Read :data:`QUALITY_TARGET` from ``comparisons`` (``{set: compare_with table}``, with
    ``model`` (its map, for the metrics) and ``density_model`` (its density, for the
    :data:`DENSITY_SCORES`; default ``model``) among its predictors and the centre bias as
    reference) and ``gaps`` (``{set: anchors.gap_closed estimate}``). Returns a DataFrame:
    target, estimate (with its 95 % CI) and ``reading``: ``"met"`` / ``"missed"`` / ``"not
    decided"`` by :func:`target_side` (the CI against the target's line; for "better than the
    centre bias on every metric": met when every paired CI shows the model better, missed when
    one shows it worse), or ``"not scored"``."""
    import pandas as pd

    rows = []
    for tid, text, ds, score, kind, value in QUALITY_TARGET:
        row = {"id": tid, "target": text, "estimate": "not scored", "reading": "not scored"}
        rows.append(row)
        if kind == "gap":
            if ds in gaps:
                e = gaps[ds]
                row.update(estimate=f"{e.value:.0%} [{e.lo:.0%}, {e.hi:.0%}]",
                           reading=target_side(e, value))
            continue
        if ds not in comparisons:
            continue
        t = comparisons[ds]
        who = density_model if score in DENSITY_SCORES and density_model else model
        keep = (t["predictor"] == who) & t["score"].isin([score] if score else metric_names)
        own = t[keep].set_index("score")
        if score is not None and score not in own.index:
            continue
        if kind in ("at least", "better than zero"):
            r = own.loc[score]
            fmt = "{:.3f}" if kind == "at least" else "{:+.3f}"
            row.update(estimate=format_ci(r["mean"], r["lo"], r["hi"], fmt),
                       reading=target_side(stats.Estimate(r["mean"], r["lo"], r["hi"], int(r["images"])),
                                           value))
        else:
            scored = [m for m in metric_names if m in own.index]
            better = [m for m in scored if bool(own.loc[m, "better"])]
            worse = [m for m in scored if bool(own.loc[m, "worse"])]
            row.update(estimate=f"better on {len(better)} of {len(scored)} metrics"
                       + (f", worse on {', '.join(worse)}" if worse else ""),
                       reading="met" if len(better) == len(scored) else "missed" if worse
                       else "not decided")
    return pd.DataFrame(rows)


#: The metrics of the leave-one-observer-out comparison on every image (the inter-observer anchor
#: and the NSS gap): all of :data:`saliency_utils.evaluate.metrics.METRIC_NAMES` (the distribution metrics
#: CC, SIM and KLD against the held-out observer's density; IG against the centre bias at the
#: held-out observer's fixations; sAUC's negatives from other images).
LOO_METRICS = metrics.METRIC_NAMES


def evaluate_model(model, dataset, centre_bias: tuple[float, float], seed: int = 0,
                   loo: bool | int = True, per_metric: Mapping[str, float] | None = None,
                   progress: bool = False) -> dict:
    """Everything chapter 3 reports about the saliency ``model`` on ``dataset``, per image:

    * ``"metrics"``: the MIT metrics (:data:`saliency_utils.evaluate.metrics.METRIC_NAMES`) of
      ``"saliency model"`` (its map with the post-processing chosen on the validation images,
      :meth:`~saliency_utils.models.saliency_model.SaliencyModel.predict`'s defaults), of
      ``"saliency model, density"`` (the trained density itself: exponent 1, the same mirror
      averaging) and of ``"centre bias"`` (widths ``centre_bias``);
    * with ``per_metric`` (``{metric: exponent}``, e.g. each metric's best exponent on the
      validation images), ``"metrics"`` also has ``"saliency model, per-metric maps"``: each
      metric scored on the map with its own exponent (metric-specific maps, Kümmerer et al.,
      ECCV 2018, restricted to the exponent family);
    * ``"density"``: :func:`score_densities` of the model's map, its density and the centre bias;
    * ``"loo"`` (unless ``loo`` is False): :data:`LOO_METRICS` under the leave-one-observer-out
      protocol of ``"saliency model"``, ``"centre bias"`` and ``"inter-observer"`` (the other
      observers' fixation density), on every image (``loo=True``) or the first ``loo`` images.

    Each entry is ``{predictor: DataFrame}`` (``image`` and one column per score). The network
    runs once per image: both maps come from one log-density (a ``"minmax"`` model: its map
    is :meth:`~saliency_utils.models.saliency_model.SaliencyModel.predict`'s min-max map, its density
    the softmax of its readout, which its loss did not train as a density)."""
    from saliency_utils.evaluate.scoring import as_dataset, score_leave_one_out, score_maps
    from saliency_utils.models.saliency_model import log_density_to_map

    ds = as_dataset(dataset)
    fixsets = ds.fixation_sets()
    exponent = model.exponent
    minmax = getattr(model, "output", "density") == "minmax"
    maps_, dens, lps = [], [], []
    for k in range(len(ds)):
        img = ds.image(k)
        lp = model.predict_log_density(img, flip_average=model.flip_average)
        lps.append(lp)
        # a "minmax" model's map is its min-max map (predict); its density the softmax it
        # computes but was not trained as (the paper preset's NSS-only loss)
        maps_.append(model.predict(img) if minmax else log_density_to_map(exponent * lp, fixsets[k].shape))
        dens.append(log_density_to_map(lp, fixsets[k].shape))
    cb = [anchors.centre_bias_map(f.shape, centre_bias) for f in fixsets]
    sources = {"saliency model": maps_, "saliency model, density": dens, "centre bias": cb}
    out = {"metrics": score_maps(sources, ds, metrics.METRIC_NAMES, centre_bias=centre_bias,
                                 seed=seed, progress=progress),
           "density": {name: score_densities(src, ds, centre_bias) for name, src in sources.items()}}
    if per_metric and not minmax:
        unknown = set(per_metric) - set(metrics.METRIC_NAMES)
        if unknown:
            raise ValueError(f"per_metric: unknown metric(s) {sorted(unknown)}")
        frame = out["metrics"]["saliency model"][["image"]].copy()
        for e in sorted(set(float(v) for v in per_metric.values())):
            wanted = [m for m in metrics.METRIC_NAMES if m in per_metric and float(per_metric[m]) == e]
            if e == float(exponent):  # already scored: the map, or the density
                scored = out["metrics"]["saliency model"]
            elif e == 1.0:
                scored = out["metrics"]["saliency model, density"]
            else:
                em = [log_density_to_map(e * lp, f.shape) for lp, f in zip(lps, fixsets)]
                scored = score_maps(em, ds, wanted, centre_bias=centre_bias, seed=seed)
            for m in wanted:
                frame[m] = scored[m].to_numpy()
        out["metrics"]["saliency model, per-metric maps"] = frame[
            ["image"] + [m for m in metrics.METRIC_NAMES if m in per_metric]]
    if loo is not False:
        sigma = ds.sigma_px
        loo_ds = ds if loo is True else ds.head(int(loo))
        out["loo"] = score_leave_one_out({"saliency model": lambda i, rest: maps_[i],
                                          "centre bias": lambda i, rest: cb[i],
                                          "inter-observer": lambda i, rest: rest.density(sigma)},
                                         loo_ds, [m for m in LOO_METRICS if m != "sAUC" or len(loo_ds) > 1],
                                         centre_bias=centre_bias, seed=seed)  # sAUC: other images
    return out


# ------------------------------------------------------------------------------ tables for a page
#: Predictor names of :func:`evaluate_model`.
MAP, DENSITY, PER_METRIC, CENTRE_BIAS = ("saliency model", "saliency model, density",
                                         "saliency model, per-metric maps", "centre bias")


def format_ci(mean, lo, hi, fmt: str = "{:.3f}") -> str:
    """``"mean [lo, hi]"``; ``"mean (constant)"`` when the interval is undefined (a score that is
    the same on every image, such as the centre bias's gain over itself)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{fmt.format(mean)} (constant)"
    return f"{fmt.format(mean)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def metric_table(comparison, map_label: str = MAP):
    """The MIT metrics of a :func:`compare_with` table (rows) for the model's map, its paired
    difference from the centre bias (with the Holm-adjusted p), the density, the per-metric maps
    and the centre bias (columns, each ``mean [95 % CI]``)."""
    import pandas as pd

    t = comparison
    rows = {}
    diff = "map − centre bias (p Holm)"
    for r in t[t["score"].isin(metrics.METRIC_NAMES)].itertuples():
        row = rows.setdefault(r.score, {})
        row[r.predictor] = format_ci(r.mean, r.lo, r.hi)
        if r.predictor == MAP:
            row[diff] = format_ci(r.diff, r.diff_lo, r.diff_hi, "{:+.3f}") + f" ({r.p_holm:.2g})"
    out = pd.DataFrame.from_dict(rows, orient="index")
    cols = [c for c in (MAP, diff, DENSITY, PER_METRIC, CENTRE_BIAS) if c in out]
    return out[cols].rename(columns={MAP: map_label, DENSITY: "density (exponent 1)",
                                     PER_METRIC: "per-metric maps"})


def density_table(comparison):
    """Bits per fixation (:data:`DENSITY_SCORES`, ``mean [95 % CI]``) of the density, the map and
    the centre bias (rows) from a :func:`compare_with` table."""
    t = comparison
    d = t[t["score"].isin(DENSITY_SCORES) & t["predictor"].isin([MAP, DENSITY, CENTRE_BIAS])]
    d = d.assign(value=[format_ci(r.mean, r.lo, r.hi, "{:+.3f}") for r in d.itertuples()])
    order = [p for p in (DENSITY, MAP, CENTRE_BIAS) if p in set(d["predictor"])]
    return d.pivot(index="predictor", columns="score", values="value").loc[order, list(DENSITY_SCORES)]


def loo_table(loo_scores: Mapping[str, Mapping[str, object]], gaps: Mapping[str, stats.Estimate],
              seed: int = 0):
    """One row per (set, metric of :data:`LOO_METRICS`) from ``{set: evaluate_model(...)["loo"]}``:
    each predictor's mean [95 % CI] under the leave-one-observer-out protocol, the model's paired
    differences from the centre bias and from the inter-observer anchor (lower KLD is better),
    and the NSS gap closed (``gaps``)."""
    import pandas as pd

    rows = []
    for name, lo in loo_scores.items():
        for m in LOO_METRICS:
            if m not in lo[MAP]:  # (sAUC on a single image: no other image's fixations)
                continue
            row = {"set": name, "metric": m, "images": len(lo[MAP])}
            for who in (MAP, CENTRE_BIAS, "inter-observer"):
                e = stats.mean_ci(lo[who][m].to_numpy(), seed=seed)
                row[who] = format_ci(e.value, e.lo, e.hi)
            for who in (CENTRE_BIAS, "inter-observer"):
                d = stats.paired_difference(lo[MAP][m].to_numpy(), lo[who][m].to_numpy(), seed=seed)
                row[f"model − {who}"] = format_ci(d.value, d.lo, d.hi, "{:+.3f}")
            g = gaps.get(name) if m == "NSS" else None
            row["NSS gap closed"] = format_ci(g.value, g.lo, g.hi, "{:.0%}") if g is not None else ""
            rows.append(row)
    return pd.DataFrame(rows).set_index(["set", "metric"])


def target_markdown(judged) -> str:
    """A Markdown table of :func:`judge_target`'s rows: target, estimate, reading."""
    lines = ["| target | estimate [95 % CI] | reading |", "|---|---|---|"]
    lines += [f"| {r.target} | {r.estimate} | "
              + (f"**{r.reading}**" if r.reading in ("met", "missed") else r.reading) + " |"
              for r in judged.itertuples()]
    return "\n".join(lines)
