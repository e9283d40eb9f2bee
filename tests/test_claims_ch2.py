"""Chapter 2's claims (saliency_utils.claims.li2019): the wiring of parts, estimators and the
per-unit helpers the chapter uses, on small synthetic inputs with a planted effect and with none.
The statistics themselves are tested in test_claims.py and test_stats.py."""
import numpy as np
import pytest

from saliency_utils import claims
from saliency_utils.claims import li2019

N = 400
PASSED = (claims.REPRODUCED, claims.PARTLY)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _hits(rng, p, n=N):
    return (rng.random(n) < p).astype(float)


def test_every_claim_is_registered_with_a_label_and_a_unique_id():
    ids = [c.id for c in li2019.CLAIMS]
    assert len(set(ids)) == len(ids)
    for c in li2019.CLAIMS:
        assert claims.get(c.id) is c
        assert c.label.startswith("ch2-")
        for t in c.tests:
            assert t.why, f"{c.id}/{t.name}: the margin needs a reason"


def test_conservation_deviation_and_verdicts():
    """An equivalence rule: within the tolerance is reproduced; a share well below the logit
    (even one clearly above zero) is not; a noisy share around 1 is inconclusive."""
    rng = _rng(1)
    n = li2019.N_IMAGES
    explained = rng.uniform(5, 15, n)
    c = claims.get("li2019.conservation")
    assert c.tests[0].rule.null == li2019.TOLERANCE

    def verdict(share):
        return c.decide(li2019.conservation_deviation(explained * share, explained), power=False).verdict

    assert verdict(rng.normal(1.0, 0.02, n)) == claims.REPRODUCED       # conserved within a few %
    assert verdict(1 + rng.choice([-1, 1], n) * rng.uniform(0.06, 0.09, n)) == claims.PARTLY
    assert verdict(rng.normal(0.1, 0.05, n)) == claims.NOT_REPRODUCED   # pixels receive a tenth
    assert verdict(rng.normal(0.05, 0.3, n)) == claims.NOT_REPRODUCED   # about nothing
    assert verdict(1.5 + rng.normal(0, 0.02, n)) == claims.NOT_REPRODUCED  # overshoot counts too
    few = explained[:4] * np.array([1.0, 0.99, 1.25, 1.01])  # 4 images: neither in nor out
    assert c.decide(li2019.conservation_deviation(few, explained[:4]),
                    power=False).verdict == claims.INCONCLUSIVE
    with pytest.raises(ValueError, match="explained logit is 0"):
        li2019.conservation_deviation([1.0], [0.0])
    with pytest.raises(ValueError, match="one total"):
        li2019.conservation_deviation([1.0, 2.0], [1.0])


def test_sr_compact_uses_the_blurred_control():
    rng = _rng(2)
    blur = rng.integers(2, 20, N).astype(float)
    c = claims.get("li2019.sr_compact")
    fewer, dropped = li2019.log2_ratio(np.maximum(1, np.round(blur / 3)), blur)
    assert dropped == 0
    assert c.decide(fewer, power=False).verdict == claims.REPRODUCED
    same, _ = li2019.log2_ratio(blur, np.maximum(1, blur + rng.integers(-1, 2, N)))
    assert c.decide(same, power=False).verdict == claims.NOT_REPRODUCED  # equivalence: no change
    ident, _ = li2019.log2_ratio(blur, blur)  # no spread at all: no interval, no verdict either way
    assert c.decide(ident, power=False).verdict == claims.INCONCLUSIVE
    reg = blur.copy()
    reg[:3] = np.nan  # maps that could not be scored are dropped and counted
    vals, dropped = li2019.log2_ratio(reg, blur)
    assert dropped == 3 and vals.size == N - 3
    with pytest.raises(ValueError, match="positive"):
        li2019.log2_ratio([0.0], [1.0])


@pytest.mark.parametrize("claim_id", ["li2019.sr_localises", "li2019.sr_beyond_blur",
                                      "li2019.sr_beyond_image"])
def test_localisation_claims_three_parts(claim_id):
    rng = _rng(3)
    c = claims.get(claim_id)
    assert [t.name for t in c.tests] == ["pointing", "energy", "box"]
    other_hit, other_box = _hits(rng, 0.5), _hits(rng, 0.3)
    other_energy = rng.uniform(0.2, 0.6, N)
    better = {"pointing": li2019.paired(np.maximum(other_hit, _hits(rng, 0.5)), other_hit),
              "energy": li2019.paired(other_energy + rng.normal(0.2, 0.05, N), other_energy),
              "box": li2019.paired(np.maximum(other_box, _hits(rng, 0.5)), other_box)}
    v = c.decide(better, power=False)
    assert v.verdict == claims.REPRODUCED and v.level == pytest.approx(1 - 0.05 / 3)

    def nearly_same(a):  # the same outcome on ~98 % of the images
        return np.where(rng.random(N) < 0.02, 1.0 - a, a)

    none = {"pointing": li2019.paired(nearly_same(other_hit), other_hit),
            "energy": li2019.paired(other_energy + rng.normal(0, 0.01, N), other_energy),
            "box": li2019.paired(nearly_same(other_box), other_box)}
    assert c.decide(none, power=False).verdict == claims.NOT_REPRODUCED
    with pytest.raises(ValueError, match="NaN"):
        li2019.paired([np.nan, 1.0], [0.0, 1.0])


def test_sr_on_object_against_the_centre_prior():
    rng = _rng(4)
    c = claims.get("li2019.sr_on_object")
    centre_hit, centre_energy = _hits(rng, 0.6), rng.uniform(0.3, 0.5, N)
    worse = {"pointing": li2019.paired(centre_hit * _hits(rng, 0.5), centre_hit),
             "energy": li2019.paired(centre_energy - 0.1, centre_energy)}
    assert c.decide(worse, power=False).verdict == claims.NOT_REPRODUCED  # significant opposite
    half = {"pointing": li2019.paired(np.maximum(centre_hit, _hits(rng, 0.6)), centre_hit),
            "energy": li2019.paired(centre_energy + rng.normal(0, 0.3, N), centre_energy)}
    assert c.decide(half, power=False).verdict in (claims.PARTLY, claims.REPRODUCED)


def test_sr_faithful_directions():
    rng = _rng(5)
    c = claims.get("li2019.sr_faithful")
    n = li2019.N_CURVES
    assert [t.name for t in c.tests] == ["deletion", "deletion (blur)", "insertion"]
    assert [t.rule.direction for t in c.tests] == [-1, -1, 1]
    faithful = {"deletion": rng.normal(-0.06, 0.03, n), "deletion (blur)": rng.normal(-0.06, 0.03, n),
                "insertion": rng.normal(0.06, 0.03, n)}
    assert c.decide(faithful, power=False).verdict == claims.REPRODUCED
    # a win that holds only where pixels are set to a flat colour is not a full reproduction
    artefact = {**faithful, "deletion (blur)": rng.normal(0.03, 0.03, n)}
    assert c.decide(artefact, power=False).verdict == claims.PARTLY
    less = {"deletion": rng.normal(0.03, 0.03, n), "deletion (blur)": rng.normal(0.03, 0.03, n),
            "insertion": rng.normal(0.0, 0.01, n)}
    assert c.decide(less, power=False).verdict == claims.NOT_REPRODUCED
    with pytest.raises(ValueError, match="missing parts"):
        c.decide({"deletion": faithful["deletion"], "insertion": faithful["insertion"]})
    assert c.history[-1].date == li2019.FAITHFUL_REVIEW


def test_right_wrong_is_not_tested_and_says_what_would_test_it():
    v = claims.get("li2019.right_wrong").decide()
    assert v.verdict == claims.NOT_TESTED and "What would test it" in v.row()["rule"]


def test_vgg_over_alexnet_is_paired_between_networks():
    """Tested in the paper profile (both networks): VGG-16 − AlexNet over the same images, the
    three localisation parts with Bonferroni; a profile with one network says why it is not."""
    rng = _rng(7)
    c = claims.get("li2019.vgg_over_alexnet")
    assert [t.name for t in c.tests] == ["pointing", "energy", "box"]
    assert all("VGG-16 SR map − AlexNet SR map" in t.measure for t in c.tests)
    assert {t.n_offline for t in c.tests} == {li2019.N_IMAGES}
    alex_hit, alex_energy, alex_box = _hits(rng, 0.5), rng.uniform(0.2, 0.6, N), _hits(rng, 0.3)
    vgg_better = {"pointing": li2019.paired(np.maximum(alex_hit, _hits(rng, 0.5)), alex_hit),
                  "energy": li2019.paired(alex_energy + rng.normal(0.15, 0.05, N), alex_energy),
                  "box": li2019.paired(np.maximum(alex_box, _hits(rng, 0.5)), alex_box)}
    assert c.decide(vgg_better, power=False).verdict == claims.REPRODUCED
    alex_better = {k: -v for k, v in vgg_better.items()}
    assert c.decide(alex_better, power=False).verdict == claims.NOT_REPRODUCED
    noise = {"pointing": li2019.paired(_hits(rng, 0.5, 30), _hits(rng, 0.5, 30)),
             "energy": rng.normal(0, 0.3, 30), "box": li2019.paired(_hits(rng, 0.3, 30), _hits(rng, 0.3, 30))}
    assert c.decide(noise, power=False).verdict == claims.INCONCLUSIVE
    v = c.not_tested_here("one network in this run")
    assert v.verdict == claims.NOT_TESTED and v.note == "one network in this run"


def test_sr_beyond_image_is_judged_on_the_control_subset():
    """The control claim is calibrated at the profile's control n, not at every scored image."""
    c = claims.get("li2019.sr_beyond_image")
    assert {t.n_offline for t in c.tests} == {li2019.N_CONTROLS}
    assert all("CA of the image" in t.measure for t in c.tests)
    assert {t.n_offline for t in claims.get("li2019.sr_beyond_blur").tests} == {li2019.N_IMAGES}
