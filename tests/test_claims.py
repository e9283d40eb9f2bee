"""The claims registry: rules decide as documented, and every rule of the book is calibrated
(false-pass rate under the null at most 5 % at the chapter's offline n)."""
import pandas as pd
import numpy as np
import pytest

from saliency_utils import claims
from saliency_utils.evaluate import stats
from saliency_utils.claims import core


def _est(lo, hi):
    return stats.Estimate((lo + hi) / 2, lo, hi, 100)


RULE = claims.Rule(null=0.0, margin=0.1)


@pytest.mark.parametrize("lo,hi,want", [
    (0.02, 0.3, claims.REPRODUCED),       # above 0, compatible with the effect
    (0.02, 0.08, claims.PARTLY),          # above 0, smaller than the margin
    (-0.05, 0.08, claims.NOT_REPRODUCED),  # effect of the margin's size excluded
    (-0.3, -0.1, claims.NOT_REPRODUCED),  # significant opposite effect
    (-0.05, 0.3, claims.INCONCLUSIVE),    # neither
])
def test_rule_outcomes(lo, hi, want):
    assert RULE.decide(_est(lo, hi)) == want


def test_rule_direction_down():
    r = claims.Rule(null=0.5, margin=0.1, direction=-1)
    assert r.decide(_est(0.1, 0.45)) == claims.REPRODUCED
    assert r.decide(_est(0.45, 0.7)) == claims.NOT_REPRODUCED
    assert "below 0.5" in r.text("the share")
    with pytest.raises(ValueError):
        claims.Rule(null=0, margin=-1)


def _claim(parts=1, n=60, **kw):
    tests = tuple(claims.Test(f"p{i}", "mean x", "image", RULE, claims.simulate_normal(1.0), n, 1.0)
                  for i in range(parts))
    return claims.Claim("test.c", "paper", "§1", "a claim", tests, **kw)


def test_decide_one_and_many_parts():
    rng = np.random.default_rng(0)
    c = _claim()
    v = c.decide(rng.normal(0.6, 1, 200))
    assert v.verdict == claims.REPRODUCED and v.parts[0].estimate.n == 200
    assert 0 <= v.parts[0].power <= 1
    c2 = _claim(parts=2)
    v2 = c2.decide({"p0": rng.normal(0.6, 1, 200), "p1": rng.normal(-0.6, 1, 200)})
    assert v2.verdict == claims.PARTLY and v2.level == pytest.approx(0.975)
    with pytest.raises(ValueError, match="missing parts"):
        c2.decide({"p0": [1.0, 2.0]})
    with pytest.raises(ValueError, match="pass a dict"):
        c2.decide([1.0, 2.0])


def test_an_unmeasured_part_is_inconclusive_and_says_why():
    rng = np.random.default_rng(2)
    c2 = _claim(parts=2)
    v = c2.decide({"p0": rng.normal(0.6, 1, 200)}, unmeasured={"p1": "its control failed"})
    assert v.verdict == claims.PARTLY  # one part shows the effect, the other is not measured
    assert v.parts[1].estimate is None and v.parts[1].verdict == claims.INCONCLUSIVE
    assert "p1: not measured (its control failed)" in v.row()["note"]
    assert "p1: not measured" in v.row()["estimate [CI]"]
    with pytest.raises(ValueError, match="both given and unmeasured"):
        c2.decide({"p0": [1.0, 2.0], "p1": [1.0, 2.0]}, unmeasured={"p1": "x"})
    with pytest.raises(ValueError, match="unknown parts"):
        c2.decide({"p0": [1.0, 2.0], "p1": [1.0, 2.0]}, unmeasured={"p9": "x"})


def test_inconclusive_says_what_n_would_decide():
    rng = np.random.default_rng(1)
    v = _claim().decide(rng.normal(0.0, 1, 10))
    assert v.verdict == claims.INCONCLUSIVE
    assert "images for 80 % power" in v.row()["note"]


def test_not_tested_and_rule_text():
    c = claims.Claim("test.nt", "p", "§2", "VGG-16 beats AlexNet", not_tested="needs VGG weights")
    v = c.decide()
    assert v.verdict == claims.NOT_TESTED and "VGG" in v.row()["rule"] and v.row()["note"] == ""
    assert "not tested here" in c.rule_text()
    with pytest.raises(ValueError):
        claims.Claim("test.x", "p", "§", "no tests and no reason")


def test_history_is_rendered():
    c = _claim(history=(claims.RuleChange("2026-12-03", "old rule", "partly", "passed under the null"),))
    md = claims.history_markdown([c.decide(np.ones(20))])
    assert "old rule" in md and "passed under the null" in md


def test_calibration_catches_a_rule_that_passes_under_the_null():
    """The harness must be able to fail: a rule on the point estimate alone (the kind the
    review found) passes about half the time without an effect."""
    class PointRule(claims.Rule):
        def decide(self, est):
            return claims.REPRODUCED if est.value > self.null else claims.NOT_REPRODUCED

    bad = claims.Claim("test.bad", "p", "§", "x", (claims.Test(
        "p", "mean x", "image", PointRule(0.0, 0.1), claims.simulate_normal(1.0), 50, 1.0),))
    assert claims.calibrate(bad, n_sim=200).false_pass > 0.3
    good = _claim(parts=4, n=12)
    cal = claims.calibrate(good, n_sim=200)
    assert cal.false_pass <= 0.05


def test_simulators_plant_the_effect():
    rng = np.random.default_rng(2)
    assert np.mean(claims.simulate_sign(0.5)(rng, 20000, 0.1)) == pytest.approx(0.1, abs=0.02)
    xy = claims.simulate_correlation()(rng, 5000, 0.5)
    assert stats.spearman_ci(xy[:, 0], xy[:, 1]).value == pytest.approx(0.5, abs=0.05)


def test_registry_ids_unique_and_prefixed():
    for cid, c in claims.REGISTRY.items():
        assert cid == c.id and "." in cid
        assert c.tests or c.not_tested
        for t in c.tests:
            assert t.n_offline >= 1 and t.rule.margin > 0


@pytest.mark.parametrize("claim_id", sorted(c.id for c in claims.REGISTRY.values() if c.tests))
def test_every_rule_is_calibrated(claim_id):
    """At the chapter's offline n, no rule says reproduced or partly more than 5 % of the time
    without an effect (global null, 200 simulations, fixed seed)."""
    cal = claims.calibrate(claims.get(claim_id), n_sim=200)
    assert cal.false_pass <= 0.05, cal
    assert cal.false_fail <= 0.05, cal  # an effect of the claimed size is rarely 'refuted'


def test_core_exports():
    assert set(core.VERDICTS) == {claims.REPRODUCED, claims.PARTLY, claims.NOT_REPRODUCED,
                                  claims.INCONCLUSIVE, claims.NOT_TESTED}


def test_offline_sample_sizes_are_the_offline_profiles():
    """The n at which each claim is calibrated (and its power reported) is the offline profile's
    n: the claim modules' constants must follow profiles.py, so that changing a profile without
    the claim (or the reverse) fails here instead of silently calibrating at the wrong n."""
    from saliency_utils.claims import crosspaper as cx, he2019, li2019, simonyan2014
    from saliency_utils.book.profiles import settings

    ch1 = settings("ch1_gradient_saliency", "offline")
    assert (simonyan2014.N_IDENTITY, simonyan2014.N_LOGIT, simonyan2014.N_CLASS_MODELS) == \
        (3 * ch1["n_identity"], ch1["n_logit"], ch1["cm_classes"])
    ch2 = settings("ch2_lrp_salient_relevance", "offline")
    assert (li2019.N_CONSERVATION, li2019.N_CURVES) == (ch2["n_conservation"], ch2["n_curves"])
    assert li2019.N_CONTROLS == ch2["n_controls"] >= ch2["n_curves"]
    # n_loc / n_score None: every validation image of the bundle with boxes (1300)
    assert ch1["n_loc"] is None and ch2["n_score"] is None
    assert simonyan2014.N_LOC == li2019.N_IMAGES == 1300
    ch4 = settings("ch4_task_vs_domain", "offline")
    # the images containing heads and text were counted on these held-out sets, all images
    assert (ch4["heldout_sets"], ch4["heldout_n"]) == (("osie_val", "osie_test", "mit1003"), None)
    assert ch4["n_figrim"] is None and set(he2019._N_HELD) == {"head", "text", "vehicle"}
    assert he2019._N_NATURAL == ch4["n_osie"] + ch4["n_mit"]
    assert he2019._N_ARRAYS == 4 * ch4["n_arrays"]
    assert he2019._N_SEEDS == len(ch4["control_seeds"])
    ch6 = settings("ch6_cross_paper", "offline")
    assert ch6["n_osie"] is None and cx.N_OFFLINE["osie_test"] == 100
    assert (cx.N_OFFLINE["mit1003"], cx.N_OFFLINE["imagenet"]) == (ch6["n_mit"], ch6["n_imagenet"])
    assert cx.N_OFFLINE["maps"] == len(cx.RANKED_MAPS)  # question 6 ranks these maps


def test_max_estimator_is_the_worst_unit():
    """For a deterministic check: the estimate is the largest value, with no interval, so one
    unit above the null (direction -1) decides 'not reproduced'."""
    e = core.estimate("max", [-3.0, -2.0, -2.5])
    assert (e.value, e.lo, e.hi, e.n) == (-2.0, -2.0, -2.0, 3)
    r = claims.Rule(null=0.0, margin=1.0, direction=-1)
    assert r.decide(e) == claims.REPRODUCED
    assert r.decide(core.estimate("max", [-3.0, 0.1])) == claims.NOT_REPRODUCED
    assert r.decide(core.estimate("max", [-0.5, -0.2])) == claims.PARTLY
    with pytest.raises(ValueError, match="finite"):
        core.estimate("max", [np.nan, 1.0])


def test_calibration_table_is_the_same_with_parallel_workers():
    """The claims are calibrated independently, each from its own seeded generator: two
    forked workers give the same table as one process."""
    one = claims.calibration_table(n_sim=2)
    two = claims.calibration_table(n_sim=2, workers=2)
    pd.testing.assert_frame_equal(one, two)
    assert len(one) == sum(1 for c in claims.REGISTRY.values() if c.tests)


def test_close_calls_name_the_bound_near_its_threshold():
    claim = claims.Claim("x.close", "p", "s", "t", tests=(
        claims.Test("a", "m", "unit", claims.Rule(null=0.0, margin=0.05), claims.simulate_normal(0.1), 10),))
    from saliency_utils.evaluate import stats

    def verdict(lo, hi):
        est = stats.Estimate((lo + hi) / 2, lo, hi, 3, 0.95, "t")
        part = core.PartResult(claim.tests[0], est, claim.tests[0].rule.decide(est))
        return core.Verdict(claim, part.verdict, (part,), 0.95)

    assert verdict(0.001, 0.17).close_calls() == [("a", "null", pytest.approx(0.001))]
    assert verdict(-0.2, 0.051).close_calls() == [("a", "margin", pytest.approx(0.001))]
    assert verdict(0.3, 0.5).close_calls() == []
    assert verdict(0.01, 0.02).close_calls(frac=0.0) == []


def test_a_part_is_looked_up_by_name_on_the_claim_and_on_its_verdict():
    claim = claims.Claim("x.parts", "p", "s", "t", tests=(
        claims.Test("a", "m", "image", claims.Rule(null=0.0, margin=0.05), claims.simulate_normal(0.1), 10),
        claims.Test("b", "m", "class", claims.Rule(null=0.0, margin=0.05), claims.simulate_normal(0.1), 10)))
    assert claim.test("b") is claim.tests[1] and claim.test("a").unit == "image"
    with pytest.raises(ValueError, match=r"x.parts has no part 'c'; its parts: \['a', 'b'\]"):
        claim.test("c")
    rng = np.random.default_rng(0)
    v = claim.decide({"a": rng.normal(0.3, 0.1, 12), "b": rng.normal(0.0, 0.1, 12)}, power=False)
    assert v.part("a").test is claim.tests[0] and v.part("a").estimate.value == pytest.approx(
        v.parts[0].estimate.value)
    assert v.part("b").verdict == v.parts[1].verdict
    with pytest.raises(ValueError, match="has no part 'z'"):
        v.part("z")
