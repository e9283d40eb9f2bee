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
    v = c.decide({"weights": _depth_pairs(weights), "cka": _depth_pairs(cka)},
                 note=he2017.NO_CONTROL_NOTE, n_sim=20)
    assert v.verdict == claims.REPRODUCED
    assert "control" in v.row()["note"]
    # no ordering with depth: nothing is shown
    flat = c.decide({"weights": _depth_pairs(rng.permutation(weights)),
                     "cka": _depth_pairs(rng.permutation(cka))}, power=False)
    assert flat.verdict in (claims.INCONCLUSIVE, claims.NOT_REPRODUCED)
    # the direction of the CKA part is a decrease: CKA rising with depth is the opposite effect
    up = c.decide({"weights": _depth_pairs(rng.permutation(weights)), "cka": _depth_pairs(cka[::-1])},
                  power=False)
    assert up.parts[1].verdict == claims.NOT_REPRODUCED


def test_centre_surround_with_and_without_an_effect():
    c = claims.get("he2017.centre_surround_emerges")
    rng = np.random.default_rng(1)
    n = 200  # units pooled over the deep layers, more than offline so the planted effect shows
    d_csi = rng.normal(0.3, 0.3, n)
    d_flag = rng.choice([1.0, 0.0, -1.0], size=n, p=[0.45, 0.5, 0.05])
    v = c.decide({"csi": d_csi, "antagonistic": d_flag}, n_sim=20)
    assert v.verdict == claims.REPRODUCED
    assert [p.test.name for p in v.parts] == ["csi", "antagonistic"]
    # no change at the offline n: inconclusive, and the page is told how many units would decide
    null = c.decide({"csi": rng.normal(0, 0.3, 24),
                     "antagonistic": rng.choice([1.0, 0.0, -1.0], size=24, p=[0.15, 0.7, 0.15])},
                    n_sim=20)
    assert null.verdict in (claims.INCONCLUSIVE, claims.NOT_REPRODUCED)
    if null.verdict == claims.INCONCLUSIVE:
        assert "units for 80 % power" in null.decides_with
    with pytest.raises(ValueError, match="missing parts"):
        c.decide({"csi": d_csi})
