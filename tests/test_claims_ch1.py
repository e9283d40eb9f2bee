"""Chapter 1's claims (Simonyan et al. 2014): each is decided on small synthetic per-image values
with a planted effect and with none, keyed as the chapter keys them. This checks the wiring of
parts and estimators (the statistics are tested in test_claims.py), and that the chapter decides
every claim of the module under its MyST label."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from saliency_utils import claims
from saliency_utils.claims import simonyan2014

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "ch1_gradient_saliency.ipynb"
rng = np.random.default_rng(0)


def sign(n, shift, p_tie=0.6):
    return claims.simulate_sign(p_tie)(rng, n, shift)


def normal(n, mean, sd):
    return rng.normal(mean, sd, n)


# claim id -> (values with a planted effect, values without one); keys as in the chapter
CASES = {
    "simonyan2014.highlights_object": (
        {"mass": normal(300, 0.2, 0.15), "pointing": sign(300, 0.3)},
        {"mass": normal(1300, 0.0, 0.15), "pointing": sign(1300, 0.0)}),
    "simonyan2014.localisation_hard_seeds": (
        {"vs full-image": sign(400, -0.3), "vs centred mean-size": sign(400, -0.3)},
        {"vs full-image": sign(1300, 0.0), "vs centred mean-size": sign(1300, 0.0)}),
    "simonyan2014.localisation_soft_seeds": (
        {"vs full-image": sign(400, -0.3), "vs centred mean-size": sign(400, -0.3)},
        {"vs full-image": sign(1300, 0.0), "vs centred mean-size": sign(1300, 0.0)}),
    "simonyan2014.segmentation_needed": (
        {f"{s} vs {t}": sign(400, -0.3) for s in ("hard", "soft")
         for t in ("threshold", "blurred threshold")},
        {f"{s} vs {t}": sign(1300, 0.0) for s in ("hard", "soft")
         for t in ("threshold", "blurred threshold")}),
    # the identity: per-image relative differences at float64 rounding (or exactly 0), and
    # differences of a changed rule (1e-3 .. 1 of the map's scale)
    "simonyan2014.deconvnet_is_gradient": (
        simonyan2014.identity_values(np.r_[np.zeros(6), np.abs(normal(6, 0, 1e-15))], 1e-5),
        simonyan2014.identity_values(10 ** rng.uniform(-3, 0, 12), 1e-5)),
    "simonyan2014.randomisation_sanity": (normal(8, 0.5, 0.05), normal(40, 0.0, 0.1)),
    # per-class specificity (natural-log units): a large planted effect, and none over many
    # classes (the offline 10 classes could not exclude ln 10 with an SD of 2)
    "simonyan2014.class_model": (normal(10, 5.0, 2.0), normal(60, 0.0, 2.0)),
}


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_planted_effect_and_none(claim_id):
    effect, none = CASES[claim_id]
    c = claims.get(claim_id)
    assert c.decide(effect, power=False).verdict == claims.REPRODUCED
    v = c.decide(none, power=False)
    assert v.verdict == claims.NOT_REPRODUCED, v.row()
    assert all(p.estimate.n == len(next(iter(none.values())) if isinstance(none, dict) else none)
               for p in v.parts)


def test_one_sided_effect_is_partly():
    effect, none = CASES["simonyan2014.highlights_object"]
    v = claims.get("simonyan2014.highlights_object").decide(
        {"mass": effect["mass"], "pointing": none["pointing"]}, power=False)
    assert v.verdict == claims.PARTLY


def test_deconvnet_identity_fails_on_one_image_and_is_partly_near_the_tolerance():
    c = claims.get("simonyan2014.deconvnet_is_gradient")
    exact = np.zeros(12)
    assert c.decide(simonyan2014.identity_values(exact, 1e-5), power=False).verdict == \
        claims.REPRODUCED
    one_off = exact.copy()
    one_off[7] = 2e-5  # one image above the tolerance: the identity does not hold
    assert c.decide(simonyan2014.identity_values(one_off, 1e-5), power=False).verdict == \
        claims.NOT_REPRODUCED
    near = np.full(12, 4e-6)  # below the tolerance, but within a decade of it
    assert c.decide(simonyan2014.identity_values(near, 1e-5), power=False).verdict == \
        claims.PARTLY
    with pytest.raises(ValueError, match="finite values >= 0"):
        simonyan2014.identity_values([np.nan, 0.0], 1e-5)
    with pytest.raises(ValueError, match="tolerance"):
        simonyan2014.identity_values([0.0], 0)


def test_identity_units_match_the_offline_profile():
    """3 networks (small net, VGG-16, AlexNet) times the offline profile's images per network."""
    from saliency_utils.book.profiles import settings

    n = settings("ch1_gradient_saliency", "offline")["n_identity"]
    assert simonyan2014.N_IDENTITY == 3 * n
    assert claims.get("simonyan2014.deconvnet_is_gradient").tests[0].n_offline == 3 * n


def test_class_model_is_tested_against_an_independent_classifier_with_a_dated_rule():
    c = claims.get("simonyan2014.class_model")
    assert c.tests and not c.not_tested and c.tests[0].unit == "class"
    assert "independent classifier" in c.rule_text() and c.history[-1].date == "2026-12-04"
    assert c.tests[0].n_offline == simonyan2014.N_CLASS_MODELS
    from saliency_utils.book.profiles import settings

    assert settings("ch1_gradient_saliency", "offline")["cm_classes"] == simonyan2014.N_CLASS_MODELS


def test_wrong_keys_fail_clearly():
    with pytest.raises(ValueError, match="missing parts"):
        claims.get("simonyan2014.highlights_object").decide({"mass": normal(10, 0, 1)})


def test_every_claim_is_covered_here_and_decided_by_the_chapter():
    ids = {c.id for c in simonyan2014.CLAIMS}
    assert ids == set(CASES)
    nb = json.loads(NOTEBOOK.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for c in simonyan2014.CLAIMS:
        assert f'"{c.id}"' in code, f"the chapter does not decide {c.id}"
        assert re.search(rf"^\({re.escape(c.label)}\)=\n#", md, re.M), f"no MyST label {c.label}"
    assert "def verdict(" not in code and "46.4 + 5" not in code
