"""Chapter 3's claims (He & Pugeault 2017) decided on small synthetic per-unit inputs shaped as
the chapter builds them: this checks the wiring of parts and estimators, not the statistics
(tests/test_claims.py calibrates the rules)."""
import numpy as np
import pytest

from saliency_utils import claims
from saliency_utils.claims import he2017


def _depth_pairs(values):
    values = np.asarray(values, float)
    return np.column_stack([np.arange(values.size), values])


def test_chapter_claims_are_registered_with_labels_and_history():
    ids = {c.id for c in claims.claims_of("he2017")}
    assert ids == {"he2017.deep_layers_change", "he2017.centre_surround_emerges"}
    for c in he2017.CLAIMS:
        assert c.label.startswith("ch3-") and c.history
        assert all(t.why for t in c.tests)


def test_deep_layers_change_with_and_without_an_effect():
    c = claims.get("he2017.deep_layers_change")
    rng = np.random.default_rng(0)
    # weight change rises and CKA falls steadily with depth (18 blocks each)
    weights = np.linspace(0.01, 0.3, 18) + rng.normal(0, 0.01, 18)
    cka = np.linspace(1.0, 0.5, 18) + rng.normal(0, 0.01, 18)
    # saliency changes the deep blocks more than the control fine-tuning does
    log_ratio = np.linspace(0.0, 1.0, 18) + rng.normal(0, 0.02, 18)
    cka_diff = np.linspace(0.0, -0.3, 18) + rng.normal(0, 0.01, 18)
    parts = {"weights": _depth_pairs(weights), "cka": _depth_pairs(cka),
             "weights_vs_control": _depth_pairs(log_ratio), "cka_vs_control": _depth_pairs(cka_diff)}
    v = c.decide(parts, note=he2017.CONTROL_NOTE, n_sim=20)
    assert v.verdict == claims.REPRODUCED
    assert "control" in v.row()["note"]
    # the control changes the deep layers just as much: the depth trend is not saliency's
    same = c.decide({**parts, "weights_vs_control": _depth_pairs(rng.permutation(log_ratio)),
                     "cka_vs_control": _depth_pairs(rng.permutation(cka_diff))}, power=False)
    assert same.verdict != claims.REPRODUCED
    # no ordering with depth: nothing is shown
    flat = c.decide({k: _depth_pairs(rng.permutation(v_[:, 1])) for k, v_ in parts.items()}, power=False)
    assert flat.verdict in (claims.INCONCLUSIVE, claims.NOT_REPRODUCED)
    # the direction of the CKA part is a decrease: CKA rising with depth is the opposite effect
    up = c.decide({**parts, "cka": _depth_pairs(cka[::-1])}, power=False)
    assert up.parts[1].verdict == claims.NOT_REPRODUCED


def test_centre_surround_with_and_without_an_effect():
    c = claims.get("he2017.centre_surround_emerges")
    rng = np.random.default_rng(1)
    n = he2017.N_DEEP_LAYERS * he2017.N_UNITS_OFFLINE  # the offline n
    v = c.decide({"ssi": rng.normal(0.2, 0.3, n)}, n_sim=20)
    assert v.verdict == claims.REPRODUCED
    assert [p.test.name for p in v.parts] == ["ssi"]
    # no change at the offline n: the margin is excluded (an equivalence bound)
    null = c.decide({"ssi": rng.normal(0, 0.3, n)}, n_sim=20)
    assert null.verdict == claims.NOT_REPRODUCED
    # no change on few units: inconclusive, and the page is told how many units would decide
    few = c.decide({"ssi": rng.normal(0, 0.3, 12)}, n_sim=20)
    assert few.verdict == claims.INCONCLUSIVE
    assert "units for 80 % power" in few.decides_with
    with pytest.raises(ValueError, match="missing parts"):
        c.decide({})


def test_probe_control_rule():
    assert he2017.probe_passes(claims.REPRODUCED, claims.NOT_REPRODUCED)
    assert he2017.probe_passes(claims.REPRODUCED, claims.INCONCLUSIVE)
    assert not he2017.probe_passes(claims.PARTLY, claims.NOT_REPRODUCED)
    assert not he2017.probe_passes(claims.REPRODUCED, claims.PARTLY)
    assert not he2017.probe_passes(claims.INCONCLUSIVE, claims.INCONCLUSIVE)


def test_planted_verdict_uses_the_claims_rule():
    rng = np.random.default_rng(2)
    assert he2017.planted_verdict(rng.normal(0.3, 0.2, 200)) == claims.REPRODUCED
    assert he2017.planted_verdict(rng.normal(0.0, 0.2, 200)) == claims.NOT_REPRODUCED
    assert he2017.planted_verdict(rng.normal(0.0, 0.2, 5)) == claims.INCONCLUSIVE


def test_planning_n_follows_the_offline_profile():
    from saliency_utils.book.profiles import settings

    cfg = settings("ch3_centre_surround", "offline")
    assert he2017.N_UNITS_OFFLINE == cfg["rf_units"]
    assert len(cfg["rf_layers"]) >= he2017.N_DEEP_LAYERS
    test = he2017.CENTRE_SURROUND_EMERGES.tests[0]
    assert test.n_offline == he2017.N_DEEP_LAYERS * cfg["rf_units"] >= 100
