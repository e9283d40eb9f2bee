"""Chapter 6's wiring of its claims: per-image score tables (as crosspaper.fixation_scores and
box_scores make them) -> crosspaper.per_image -> the registry's parts -> a verdict. A planted
effect must be reproduced and no effect must not; the statistics are tested in test_claims."""
import numpy as np
import pandas as pd
import pytest

from saliency_utils import claims
from saliency_utils.book import crosspaper as cp
from saliency_utils.claims import crosspaper as cc
from saliency_utils.claims.crosspaper import part

MAPS = list(cp.CLASSIFIER_METHODS) + list(cp.SALIENCY_MAPS)
PASS = (claims.REPRODUCED, claims.PARTLY)


def _scores(rng, n, values: dict, score: str, noise: float):
    """A score table of n images: blurred classifier maps (plus an as-computed copy that
    must be ignored), saliency maps as computed; ``values``: each map's true mean."""
    rows = []
    for i in range(n):
        common = rng.normal(0, noise)  # image difficulty, shared by every map (paired design)
        for m in MAPS:
            v = values[m] + common + rng.normal(0, noise / 4)
            if m in cp.CLASSIFIER_METHODS:
                rows.append((f"im{i}", m, cp.AS_COMPUTED, -99.0))
                rows.append((f"im{i}", m, cp.BLURRED, v))
            else:
                rows.append((f"im{i}", m, cp.AS_COMPUTED, v))
    return pd.DataFrame(rows, columns=["image", "method", "variant", score])


def _evidence(effect: bool, seed: int = 0) -> dict:
    """The chapter's evidence dict built as the notebook builds it, from synthetic tables."""
    rng = np.random.default_rng(seed)
    e = 1.0 if effect else 0.0
    nss = {m: e for m in cp.CLASSIFIER_METHODS}
    nss.update({"saliency model": 3 * e, "log-Gabor reconstruction": 2 * e, "prior only": 0.0,
                "centre bias": 0.0})
    sauc = {m: 0.5 + 0.2 * e for m in MAPS}
    fx = {ds: _scores(rng, 60, nss, "NSS", 0.3).merge(
              _scores(rng, 60, sauc, "sAUC", 0.02), on=["image", "method", "variant"])
          for ds in cc.FIX_DATASETS}
    point = {m: 0.5 + 0.3 * e for m in cp.CLASSIFIER_METHODS}
    point.update({m: 0.5 for m in cp.SALIENCY_MAPS})
    box = _scores(rng, 80, point, "pointing", 0.2)

    def pi(scores, score, a, b=None):
        return cp.per_image(scores, score, a, b).to_numpy()

    clf = list(cp.CLASSIFIER_METHODS)
    # 7 maps' means: the same ranking planted (effect) or unrelated orders (none)
    x = np.arange(7.0)
    y = x + 0.1 if effect else np.array([3.0, 0.0, 6.0, 1.0, 5.0, 2.0, 4.0])
    return {
        "crosspaper.above_chance": {part(ds, m): pi(fx[ds], "NSS", m) for ds in fx for m in clf},
        "crosspaper.beats_centre": {part(ds, m, "centre bias"): pi(fx[ds], "NSS", m, "centre bias")
                                    for ds in fx for m in clf},
        "crosspaper.beyond_centre": {part(ds, m): pi(fx[ds], "sAUC", m) for ds in fx for m in clf},
        "crosspaper.model_beats_all": {part(ds, "saliency model", m):
                                       pi(fx[ds], "NSS", "saliency model", m)
                                       for ds in fx for m in clf},
        "crosspaper.point_better": {part("imagenet", m, o): pi(box, "pointing", m, o)
                                    for o in ("saliency model", "centre bias") for m in clf},
        "crosspaper.same_ranking": {part(ds, "NSS ~ pointing"): np.column_stack([x, y])
                                    for ds in fx},
        "crosspaper.loggabor_closer": {part(ds, "log-Gabor reconstruction", o):
                                       pi(fx[ds], "NSS", "log-Gabor reconstruction", o)
                                       for ds in fx for o in [cp.PRIOR_ONLY] + clf},
    }


def test_the_chapter_decides_every_claim_of_its_module():
    assert set(_evidence(True)) == {c.id for c in claims.claims_of("crosspaper")}
    assert tuple(cc.CLASSIFIER_MAPS) == tuple(cp.CLASSIFIER_METHODS)
    assert claims.CHAPTERS["crosspaper"] == ("ch6_cross_paper", "ch6")


def test_q7_is_measured_against_the_prior_only_model_and_the_ranking_leaves_it_out():
    """Q7's reference is the prior-only model of the same fit (not the Gaussian centre bias),
    recorded as a dated rule change; question 6 ranks the book's 7 maps without it."""
    c = claims.get("crosspaper.loggabor_closer")
    others = {t.name.split(" − ")[1] for t in c.tests}
    assert others == {cp.PRIOR_ONLY, *cp.CLASSIFIER_METHODS} and cc.PRIOR_ONLY == cp.PRIOR_ONLY
    assert len(c.tests) == len(cc.FIX_DATASETS) * (1 + len(cp.CLASSIFIER_METHODS))
    change = c.history[-1]
    assert "centre bias" in change.old_rule and "prior" in change.why and change.date
    assert cp.PRIOR_ONLY not in cc.RANKED_MAPS
    assert set(cc.RANKED_MAPS) == set(cp.CLASSIFIER_METHODS) | set(cp.SALIENCY_MAPS) - {cp.PRIOR_ONLY}
    assert cc.N_OFFLINE["maps"] == len(cc.RANKED_MAPS)
    assert all(t.n_offline == len(cc.RANKED_MAPS) for t in claims.get("crosspaper.same_ranking").tests)


@pytest.mark.parametrize("claim_id", sorted(c.id for c in claims.claims_of("crosspaper")))
def test_planted_effect_is_reproduced_and_none_is_not(claim_id):
    c = claims.get(claim_id)
    yes = c.decide(_evidence(True)[claim_id], power=False)
    assert yes.verdict == claims.REPRODUCED, yes.row()
    no = c.decide(_evidence(False)[claim_id], power=False)
    assert no.verdict not in PASS, no.row()
    if c.tests[0].estimator == "mean":  # 60-80 images with a tight spread exclude the margin
        assert no.verdict == claims.NOT_REPRODUCED, no.row()


def test_the_as_computed_rows_are_not_used():
    """The synthetic tables put -99 in every as-computed classifier row: none may reach a part."""
    ev = _evidence(True)
    for values in ev["crosspaper.above_chance"].values():
        assert values.min() > -50


def test_a_missing_part_is_an_error():
    ev = _evidence(True)["crosspaper.beats_centre"]
    ev.pop(next(iter(ev)))
    with pytest.raises(ValueError, match="missing parts"):
        claims.get("crosspaper.beats_centre").decide(ev, power=False)
