"""Density scores, comparisons with an anchor and the quality target (saliency_utils.evaluate.model_quality),
and the validation protocol of the saliency model (data.osie_splits, training's validation choices)."""
import math

import numpy as np
import pandas as pd
import pytest

from saliency_utils import data
from saliency_utils.evaluate import metrics, stats
from saliency_utils.evaluate import model_quality as mq
from saliency_utils.data import Fixations


def _fix(xs, ys, shape):
    return Fixations.from_points(np.asarray(xs, float), np.asarray(ys, float), np.zeros(len(xs), int), shape)


# ------------------------------------------------------------------------------ split
def test_osie_splits_partition_the_ids_and_keep_the_test_set():
    s = data.osie_splits()
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (500, 100, 100)
    assert s["test"] == data.osie_split()[1]  # the test images of every earlier page
    assert set(s["train"]) | set(s["val"]) == set(data.osie_split()[0])
    assert not set(s["train"]) & set(s["val"])
    assert data.osie_splits(n_val=0)["train"] == data.osie_split()[0]
    assert data.osie_splits(seed=1)["val"] != s["val"]
    with pytest.raises(ValueError, match="n_val"):
        data.osie_splits(n_val=600)


# ------------------------------------------------------------------------------ density gain
def test_density_gain_is_zero_for_the_baseline_itself():
    rng = np.random.default_rng(0)
    p = rng.random((20, 30))
    f = _fix(rng.uniform(0, 29, 50), rng.uniform(0, 19, 50), (20, 30))
    assert mq.density_gain(np.ones((20, 30)), f) == pytest.approx(0.0, abs=1e-9)
    assert mq.density_gain(p, f, baseline=p * 7.0) == pytest.approx(0.0, abs=1e-12)


def test_density_gain_matches_the_formula():
    shape = (10, 10)
    p = np.ones(shape)
    p[2, 3] = 91.0  # sum 190
    f = _fix([3, 3, 0], [2, 2, 0], shape)  # two fixations on the peak, one elsewhere
    mix = mq.UNIFORM_MIX
    q = (1 - mix) * p / p.sum() + mix / p.size
    want = np.mean(np.log2([q[2, 3], q[2, 3], q[0, 0]]) + np.log2(100))
    assert mq.density_gain(p, f) == pytest.approx(want, rel=1e-12)
    # a point mass where every fixation falls: about log2(N) bits
    point = np.zeros(shape)
    point[2, 3] = 1.0
    assert mq.density_gain(point, _fix([3], [2], shape)) == pytest.approx(math.log2(100), abs=1e-4)
    # ... and finite (not -inf) where it puts no mass
    assert np.isfinite(mq.density_gain(point, _fix([0], [0], shape)))


@pytest.mark.parametrize("bad, match", [(np.zeros((5, 5)), "sums to 0"), (-np.ones((5, 5)), "non-negative"),
                                        (np.ones(5), "2-D"), (np.full((5, 5), np.nan), "finite")])
def test_density_gain_rejects_bad_densities(bad, match):
    with pytest.raises(ValueError, match=match):
        mq.density_gain(bad, _fix([1], [1], (5, 5)))


def test_density_gain_rejects_empty_fixations_and_shape_mismatch():
    with pytest.raises(ValueError, match="no fixations"):
        mq.density_gain(np.ones((5, 5)), (np.zeros(0), np.zeros(0)))
    with pytest.raises(ValueError, match="grid"):
        mq.density_gain(np.ones((5, 6)), _fix([1], [1], (5, 5)))
    with pytest.raises(ValueError, match="baseline shape"):
        mq.density_gain(np.ones((5, 5)), _fix([1], [1], (5, 5)), baseline=np.ones((4, 5)))


# ------------------------------------------------------------------------------ comparisons
def _frames(effect, n=60, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.normal(1.0, 0.5, n)
    model = ref + effect + rng.normal(0, 0.3, n)
    imgs = [f"i{k}" for k in range(n)]
    return {"model": pd.DataFrame({"image": imgs, "NSS": model, "KLD": 2 - model}),
            "centre bias": pd.DataFrame({"image": imgs, "NSS": ref, "KLD": 2 - ref})}


def test_compare_with_finds_a_planted_gain_in_the_metric_direction():
    t = mq.compare_with(_frames(0.3), "centre bias", ["NSS", "KLD"])
    m = t[t["predictor"] == "model"].set_index("score")
    assert m.loc["NSS", "better"] and m.loc["KLD", "better"]  # lower KLD is better
    assert not m.loc["NSS", "worse"]
    assert (t["p_holm"].dropna() >= t["p"].dropna()).all()
    opposite = mq.compare_with(_frames(-0.3), "centre bias", ["NSS"]).set_index("predictor")
    assert opposite.loc["model", "worse"] and not opposite.loc["model", "better"]


def test_compare_with_rarely_calls_a_null_difference_better():
    calls = sum(bool(mq.compare_with(_frames(0.0, seed=s), "centre bias", ["NSS"])
                     .set_index("predictor").loc["model", "better"]) for s in range(60))
    assert calls <= 6  # 2.5 % one-sided; 60 runs


def test_compare_with_rejects_unpaired_frames():
    f = _frames(0.1)
    f["model"] = f["model"].iloc[::-1]
    with pytest.raises(ValueError, match="not scored on the images"):
        mq.compare_with(f, "centre bias", ["NSS"])


def test_target_side_reads_the_interval():
    e = stats.Estimate
    assert mq.target_side(e(0.7, 0.66, 0.74, 10), 0.65) == "met"
    assert mq.target_side(e(0.7, 0.60, 0.80, 10), 0.65) == "not decided"  # the mean alone never decides
    assert mq.target_side(e(0.5, 0.40, 0.60, 10), 0.65) == "missed"
    assert mq.target_side(e(0.5, 0.40, 0.60, 10), 0.65, above_is_good=False) == "met"


def test_judge_target_reads_each_kind():
    good = _frames(3.0)
    comp = {"osie_test": mq.compare_with(good, "centre bias", ["NSS", "KLD"])}
    gap = {"osie_test": stats.Estimate(0.7, 0.66, 0.8, 100), "mit1003": stats.Estimate(0.5, 0.4, 0.6, 100),
           "figrim": stats.Estimate(0.7, 0.5, 0.9, 30)}
    out = mq.judge_target(comp, gap, "model", metric_names=("NSS", "KLD")).set_index("id")
    assert out.loc["nss", "reading"] == "met"  # mean NSS about 4, CI above 2.9
    assert out.loc["aucj", "reading"] == "not scored"
    assert out.loc["gap_osie", "reading"] == "met" and out.loc["gap_mit", "reading"] == "missed"
    assert out.loc["gap_figrim", "reading"] == "not decided"
    assert out.loc["ig_mit", "reading"] == "not scored"
    near = {k: v.assign(NSS=v["NSS"] * 0 + 2.9 + np.random.default_rng(1).normal(0, 0.3, len(v)))
            if k == "model" else v for k, v in _frames(0.0).items()}
    out = mq.judge_target({"osie_test": mq.compare_with(near, "centre bias", ["NSS"])}, {}, "model",
                          metric_names=("NSS",)).set_index("id")
    assert out.loc["nss", "reading"] == "not decided"  # a mean near 2.9 with a CI across it


# ------------------------------------------------------------------------------ page tables
def test_format_ci_and_target_markdown():
    assert mq.format_ci(1.0, 0.5, 1.5) == "1.000 [0.500, 1.500]"
    assert mq.format_ci(0.0, np.nan, np.nan, "{:+.2f}") == "+0.00 (constant)"
    judged = pd.DataFrame([{"id": "a", "target": "T1", "estimate": "1", "reading": "met"},
                           {"id": "b", "target": "T2", "estimate": "not scored", "reading": "not scored"},
                           {"id": "c", "target": "T3", "estimate": "0", "reading": "not decided"}])
    md = mq.target_markdown(judged).splitlines()
    assert len(md) == 5 and md[2].endswith("**met** |") and md[3].endswith("not scored |")
    assert md[4].endswith("not decided |")


def test_metric_density_and_loo_tables():
    n = 40
    rng = np.random.default_rng(3)
    imgs = [f"i{k}" for k in range(n)]

    def frame(shift):
        return pd.DataFrame({"image": imgs, **{m: rng.normal(1 + shift, 0.2, n) for m in ("NSS", "KLD")}})

    scores = {mq.MAP: frame(1.0), mq.DENSITY: frame(0.9), mq.CENTRE_BIAS: frame(0.0)}
    t = mq.compare_with(scores, mq.CENTRE_BIAS, ["NSS", "KLD"])
    mt = mq.metric_table(t, map_label="map (x)")
    assert list(mt.index) == ["NSS", "KLD"]
    assert list(mt.columns) == ["map (x)", "map − centre bias (p Holm)", "density (exponent 1)",
                                "centre bias"]
    dens = {p: pd.DataFrame({"image": imgs, mq.DENSITY_SCORES[0]: rng.normal(1, 0.1, n),
                             mq.DENSITY_SCORES[1]: rng.normal(0.5, 0.1, n)}) for p in scores}
    dt = mq.density_table(mq.compare_with(dens, mq.CENTRE_BIAS, mq.DENSITY_SCORES))
    assert list(dt.index) == [mq.DENSITY, mq.MAP, mq.CENTRE_BIAS]
    assert list(dt.columns) == list(mq.DENSITY_SCORES)
    loo = {mq.MAP: frame(1.0), mq.CENTRE_BIAS: frame(0.0), "inter-observer": frame(2.0)}
    for f in loo.values():
        f["AUC-Judd"] = f["NSS"] / 4
        f["CC"], f["SIM"] = f["NSS"] / 3, f["NSS"] / 5
        f["AUC-Borji"], f["sAUC"], f["IG"] = f["NSS"] / 4.5, f["NSS"] / 6, f["NSS"] - 1
    gap = {"s": stats.Estimate(0.5, 0.4, 0.6, n)}
    lt = mq.loo_table({"s": loo}, gap)
    assert list(lt.index) == [("s", m) for m in mq.LOO_METRICS]
    assert set(mq.LOO_METRICS) == set(metrics.METRIC_NAMES)  # every metric against both anchors
    assert lt.loc[("s", "NSS"), "NSS gap closed"] == "50% [40%, 60%]"
    assert lt.loc[("s", "AUC-Judd"), "NSS gap closed"] == ""
    # paired differences from both anchors: the model sits between them on NSS (planted +-1)
    for who, planted in (("centre bias", 1.0), ("inter-observer", -1.0)):
        value = float(lt.loc[("s", "NSS"), f"model − {who}"].split()[0])
        assert abs(value - planted) < 0.15, (who, value)
