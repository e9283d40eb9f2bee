"""Choices made on the validation images (the map's post-processing, the loss, one-factor settings)
and the evaluation helpers (the OSIE centre bias, summaries)."""
from __future__ import annotations


import numpy as np

from saliency_utils import data
from saliency_utils.evaluate import anchors, metrics
from saliency_utils.models.saliency_model import SaliencyModel

from saliency_utils.training.saliency.config import PRESETS, SELECTION_BASES, TrainConfig
from saliency_utils.training.saliency.data import dataset_source, val_ids

__all__ = ["osie_centre_bias", "summarise", "EXPONENT_GRID", "POSTPROCESSING_RULE",
           "choose_postprocessing", "rank_candidates", "metric_ranks", "LOSS_CANDIDATES",
           "LOSS_RULE", "loss_candidates", "compare_losses", "compare_on_validation",
           "SETTING_CANDIDATES", "UNCHANGED", "SETTINGS_RULE", "setting_candidates",
           "selection_base", "compare_settings", "apply_postprocessing"]


def osie_centre_bias(split_seed: int = 0, n_test: int = 100) -> tuple[float, float]:
    """The centre-bias widths fitted to the OSIE training fixations (the book's anchor)."""
    train, _ = data.osie_split(n_test=n_test, seed=split_seed)
    return anchors.fit_centre_bias([data.load_osie_fixations(i) for i in train])


def summarise(rows) -> dict:
    """Mean of each metric over per-image scores (plus ``"images"``): a DataFrame of
    :func:`saliency_utils.evaluate.scoring.score_maps` or a list of ``{metric: score}`` dicts. A NaN
    score (a counted miss, ``failure="miss"``) makes its metric's mean NaN: it is never
    averaged away."""
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    keys = [k for k in metrics.METRIC_NAMES if any(k in r for r in rows)]
    out = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    out["images"] = len(rows)
    return out



#: The map exponents :func:`choose_postprocessing` tries (a density model; a ``"minmax"`` model
#: has no exponent to choose).
EXPONENT_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

#: The rule of :func:`choose_postprocessing`, fixed before any model was trained with it.
POSTPROCESSING_RULE = ("on the validation images, every (mirror averaging, exponent) pair is "
                       "scored with the eight MIT metrics (IG against the centre bias fitted to "
                       "the training fixations) and ranked per metric; the pair of best mean rank "
                       "is kept (ties: the exponent closest to 1, then mirror averaging on)")


class _LazyMaps:
    """``maps[k]``: the map of log-density ``logps[k]`` raised to ``exponent`` at ``shapes[k]``."""

    def __init__(self, logps, shapes, exponent):
        self.logps, self.shapes, self.exponent = logps, shapes, exponent

    def __len__(self):
        return len(self.logps)

    def __getitem__(self, k):
        from saliency_utils.models.saliency_model import log_density_to_map

        return log_density_to_map(self.exponent * self.logps[k], self.shapes[k])


def choose_postprocessing(model: SaliencyModel, config: TrainConfig, centre_bias,
                          progress: bool = False, exponents=EXPONENT_GRID) -> dict:
    """Choose the map's post-processing of a trained ``model`` on the validation images of
    ``config`` by :data:`POSTPROCESSING_RULE`. Returns ``{"exponent", "flip_average", "rule",
    "n_images", "table"}``; ``table`` has one row per candidate: its settings, the mean of each
    metric, its mean rank and ``"best_for"`` (the metrics on which it scores best: the
    per-metric choice, for comparison). ``centre_bias``: the IG baseline's widths."""
    import pandas as pd

    from saliency_utils.evaluate import scoring as evaluation

    ids = val_ids(config)
    if not ids:
        raise ValueError("config has no validation images (n_val=0)")
    load_image, load_fix, sigma = dataset_source("salicon_val" if config.dataset == "salicon" else "osie")
    fixsets = [load_fix(i) for i in ids]
    exps = tuple(float(e) for e in exponents) if model.output == "density" else (1.0,)
    sources = {}
    for flip in (True, False):
        if model.output == "density":
            logps = [model.predict_log_density(load_image(i), flip_average=flip) for i in ids]
            for e in exps:
                sources[f"{flip}|{e}"] = _LazyMaps(logps, [f.shape for f in fixsets], e)
        else:
            sources[f"{flip}|1.0"] = [model.predict(load_image(i), flip_average=flip) for i in ids]
    # scored as evaluation.score_maps does (all observers' fixations; sAUC's negatives from
    # other validation images; IG against the centre bias), on the bare fixation sets
    scored = evaluation.score_fixation_sets(sources, fixsets, sigma, metrics.METRIC_NAMES, ids=ids,
                                            set_name="validation", centre_bias=tuple(centre_bias),
                                            seed=config.seed)
    means = pd.DataFrame({name: df[list(metrics.METRIC_NAMES)].mean() for name, df in scored.items()}).T
    rows, best = rank_candidates(means)
    return {"exponent": best["exponent"], "flip_average": best["flip_average"],
            "rule": POSTPROCESSING_RULE, "n_images": len(ids), "table": rows}


def rank_candidates(means) -> tuple[list[dict], dict]:
    """:data:`POSTPROCESSING_RULE` on ``means`` (a DataFrame: one row per candidate, indexed
    ``"<flip_average>|<exponent>"``, one column per metric of
    :data:`saliency_utils.evaluate.metrics.METRIC_NAMES`): ``(rows, best)``, a dict per candidate (its
    settings, means, mean rank, ``best_for``) and the chosen one."""
    ranks = metric_ranks(means)
    rows = []
    for name in means.index:
        flip, e = name.split("|")
        best_for = [m for m in metrics.METRIC_NAMES if ranks.loc[name, m] == ranks[m].min()]
        rows.append({"flip_average": flip == "True", "exponent": float(e),
                     **{m: float(means.loc[name, m]) for m in metrics.METRIC_NAMES},
                     "mean_rank": float(ranks.loc[name].mean()), "best_for": best_for})
    best = min(rows, key=lambda r: (r["mean_rank"], abs(r["exponent"] - 1.0), not r["flip_average"]))
    return rows, best


def metric_ranks(means):
    """Rank of every row of ``means`` (one column per metric of
    :data:`saliency_utils.evaluate.metrics.METRIC_NAMES`) on every metric, 1 = best in the metric's
    direction (lower KLD is better), ties averaged."""
    import pandas as pd

    return pd.DataFrame({m: means[m].rank(ascending=not metrics.HIGHER_IS_BETTER[m])
                         for m in metrics.METRIC_NAMES})


#: The loss weights compared on the validation images (chapter 3, §1.1): the KL divergence
#: alone (the offline preset's, picked by them), KL - CC - 0.5 NSS (the preset's before the
#: validation split) and KL - CC - NSS. Each is a full training of
#: the preset with only the loss changed.
LOSS_CANDIDATES = {
    "KL": dict(loss_kl=1.0, loss_cc=0.0, loss_nss=0.0),
    "KL − CC − 0.5 NSS": dict(loss_kl=1.0, loss_cc=1.0, loss_nss=0.5),
    "KL − CC − NSS": dict(loss_kl=1.0, loss_cc=1.0, loss_nss=1.0),
}

#: The rule of :func:`compare_losses`, fixed before the candidates were trained.
LOSS_RULE = ("each candidate is trained with everything else the preset's, its post-processing "
             "chosen on the validation images by the post-processing rule; the candidates' "
             "validation scores at their own choice are ranked per metric, and the loss of best "
             "mean rank is the one validation picks (ties: the preset's own)")


def loss_candidates(config: TrainConfig) -> dict[str, TrainConfig]:
    """:data:`LOSS_CANDIDATES` applied to ``config`` (a density model with validation images;
    an empty dict otherwise: the ``paper`` preset's NSS-only loss is the authors' and is not
    chosen)."""
    if config.output != "density" or not config.n_val:
        return {}
    return {name: config.replace(**w) for name, w in LOSS_CANDIDATES.items()}


def compare_losses(models: dict, preset: TrainConfig) -> tuple[list[dict], str]:
    """:data:`LOSS_RULE` on ``models`` (``{candidate name: trained model}`` of
    :func:`loss_candidates`): ``(rows, picked)``, one row per candidate (its loss weights, its
    chosen post-processing, its validation means and mean rank) and the name validation picks."""
    rows, picked = compare_on_validation(models, preset)
    for r in rows:
        cfg = models[r["candidate"]].train_config
        r.update(loss=r.pop("candidate"), loss_kl=cfg.loss_kl, loss_cc=cfg.loss_cc,
                 loss_nss=cfg.loss_nss)
    return rows, picked


def compare_on_validation(models: dict, preset: TrainConfig) -> tuple[list[dict], str]:
    """The rule shared by :data:`LOSS_RULE` and :data:`SETTINGS_RULE` on ``models``
    (``{candidate name: trained model}``, each with its post-processing chosen on the validation
    images): ``(rows, picked)``. A row per candidate: ``candidate``, its chosen ``exponent`` and
    ``flip_average``, the mean validation score of each MIT metric at that choice, ``mean_rank``
    (over the metrics, 1 = best) and ``is_preset`` (its configuration is ``preset``).
    ``picked``: the candidate of best mean rank (ties: the preset's)."""
    import pandas as pd

    rows = {}
    for name, model in models.items():
        pp = model.history["postprocessing"]
        own = next(r for r in pp["table"]
                   if (r["flip_average"], r["exponent"]) == (pp["flip_average"], pp["exponent"]))
        rows[name] = {"candidate": name, "exponent": pp["exponent"],
                      "flip_average": pp["flip_average"],
                      **{m: own[m] for m in metrics.METRIC_NAMES},
                      "is_preset": model.train_config == preset}
    means = pd.DataFrame({n: {m: r[m] for m in metrics.METRIC_NAMES} for n, r in rows.items()}).T
    mean_rank = metric_ranks(means).mean(axis=1)
    for n in rows:
        rows[n]["mean_rank"] = float(mean_rank[n])
    picked = min(rows, key=lambda n: (rows[n]["mean_rank"], not rows[n]["is_preset"]))
    return list(rows.values()), picked


def _scaled_size(size, factor: float, multiple: int = 8) -> tuple[int, int]:
    return tuple(int(multiple * round(factor * s / multiple)) for s in size)


#: One-factor alternatives to the preset compared on the validation images after the loss
#: (chapter 3, section 1.1): the schedule (twice the end-to-end epochs, still keeping the epoch of
#: lowest validation loss), the readout (a single 1x1 convolution per readout layer, the
#: papers' readout, instead of one hidden layer) and the resolution (1.2 times each side,
#: rounded to a multiple of 8: 288x384 for the offline preset). Each is a full training of the
#: preset with that one setting changed.
SETTING_CANDIDATES = {
    "twice the end-to-end epochs": lambda c: c.replace(epochs=2 * c.epochs),
    "a single 1×1 readout (the papers')": lambda c: c.replace(readout_hidden=0),
    "1.2 × the resolution": lambda c: c.replace(image_size=_scaled_size(c.image_size, 1.2)),
}

#: The name of the configuration itself among :func:`setting_candidates`.
UNCHANGED = "unchanged"

#: The rule of :func:`compare_settings`, fixed before the candidates were trained.
SETTINGS_RULE = ("the configuration with the loss validation picked and each one-factor "
                 "alternative to it (schedule, readout, resolution) are trained with everything "
                 "else the same, each with its own post-processing chosen on the validation "
                 "images; their validation scores are ranked per metric, and the candidate of "
                 "best mean rank is validation's pick and becomes the preset (ties: the "
                 "configuration unchanged). The loss is chosen first, then these settings, in "
                 "one pass: the loss is not compared again at the settings picked")


def setting_candidates(config: TrainConfig) -> dict[str, TrainConfig]:
    """``{"unchanged": config}`` and :data:`SETTING_CANDIDATES` applied to ``config`` (a density
    model with validation images, trained end to end; an empty dict otherwise: the ``paper``
    preset's setup is the authors')."""
    if config.output != "density" or not config.n_val or config.freeze_encoder:
        return {}
    return {UNCHANGED: config, **{name: f(config) for name, f in SETTING_CANDIDATES.items()}}


def selection_base(config: TrainConfig) -> TrainConfig:
    """The configuration the one-pass validation protocol compared the loss and the settings
    around, for a preset that is its outcome (:data:`SELECTION_BASES`); ``config`` itself
    otherwise (a preset whose settings were not chosen this way, such as ``smoke``, shows the
    comparison around itself)."""
    for name, base in SELECTION_BASES.items():
        if config == PRESETS[name]:
            return base
    return config


def compare_settings(models: dict, preset: TrainConfig) -> tuple[list[dict], str]:
    """:data:`SETTINGS_RULE` on ``models`` (``{candidate name: trained model}`` of
    :func:`setting_candidates`): ``(rows, picked)`` as :func:`compare_on_validation`, each row
    with the candidate's ``epochs``, ``readout_hidden``, ``image_size`` and the epoch it kept."""
    rows, picked = compare_on_validation(models, preset)
    for r in rows:
        m = models[r["candidate"]]
        cfg, kept = m.train_config, m.history.get("kept_epoch") or {}
        r.update(epochs=cfg.epochs, kept_epoch=kept.get("epoch"), readout_hidden=cfg.readout_hidden,
                 image_size="×".join(map(str, cfg.image_size)))
    return rows, picked


def apply_postprocessing(model: SaliencyModel, choice: dict | None) -> SaliencyModel:
    """Make ``choice`` (of :func:`choose_postprocessing`) ``model``'s default for
    :meth:`~saliency_utils.models.saliency_model.SaliencyModel.predict`; ``None`` leaves the package
    defaults (a checkpoint trained without validation images)."""
    if choice:
        model.map_exponent = float(choice["exponent"])
        model.flip_average = bool(choice["flip_average"])
    return model
