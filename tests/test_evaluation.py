"""The evaluation layer: datasets, score_maps and its failure policy, leave-one-out."""
import numpy as np
import pandas as pd
import pytest

from saliency_utils import data
from saliency_utils.evaluate import anchors, maps, metrics
from saliency_utils.evaluate.scoring import (FixationDataset, centre_bias_maps, score_image,
    score_fixation_sets, score_leave_one_out, score_maps)

SHAPE = (40, 50)


def _toy(n=4, empty=None):
    """A synthetic dataset of ``n`` 40 x 50 images, 3 observers with 5 fixations each."""
    rng = np.random.default_rng(0)
    fix, imgs = {}, {}
    for k in range(n):
        i = f"im{k}"
        x = rng.uniform(5, 45, 15)
        y = rng.uniform(5, 35, 15)
        if i == empty:
            x, y = x[:0], y[:0]
        fix[i] = data.Fixations.from_points(x, y, np.repeat([0, 1, 2], 5)[:x.size], SHAPE)
        imgs[i] = rng.integers(0, 255, SHAPE + (3,), dtype=np.uint8)
    return FixationDataset("toy", list(fix), imgs.__getitem__, fix.__getitem__, 2.0, 10.0)


def _blob(image):
    h, w = image.shape[:2]
    return maps.gaussian_centre_bias((h, w), (0.2, 0.3))


def test_dataset_basics():
    ds = _toy()
    assert len(ds) == 4 and ds.head(2).ids == ("im0", "im1") and ds.head(None) is ds
    assert ds.fixations(1).shape == SHAPE and ds.image(0).shape == SHAPE + (3,)
    with pytest.raises(ValueError, match="no images"):
        FixationDataset("x", [], None, None, 1.0, 1.0)
    with pytest.raises(ValueError, match="unknown dataset"):
        FixationDataset.named("nope")


def test_score_maps_equals_the_single_image_metrics():
    ds = _toy()
    df = score_maps(_blob, ds, metrics.METRIC_NAMES, centre_bias=(0.25, 0.25), seed=3)
    assert list(df.columns) == ["image", *metrics.METRIC_NAMES] and len(df) == 4
    assert df.attrs["misses"] == 0
    fixsets = ds.fixation_sets()
    f = fixsets[2]
    s = _blob(ds.image(2))
    other = anchors.other_fixation_map(fixsets, 2, SHAPE, seed=3)
    fm, dens, cb = f.fixation_map(), f.density(2.0), anchors.centre_bias_map(SHAPE, (0.25, 0.25))
    ref = {"AUC-Judd": metrics.auc_judd(s, fm, seed=3), "AUC-Borji": metrics.auc_borji(s, fm, seed=3),
           "sAUC": metrics.auc_shuffled(s, fm, other, seed=3), "NSS": metrics.nss(s, fm),
           "CC": metrics.cc(s, dens), "SIM": metrics.sim(s, dens), "KLD": metrics.kld(s, dens),
           "IG": metrics.information_gain(s, fm, cb)}
    assert df.iloc[2].drop("image").to_dict() == pytest.approx(ref, abs=0)
    # precomputed maps and a mapping of sources give the same rows
    pre = score_maps([_blob(ds.image(k)) for k in range(4)], ds, metrics.METRIC_NAMES,
                     centre_bias=(0.25, 0.25), seed=3)
    pd.testing.assert_frame_equal(pre, df)
    many = score_maps({"a": _blob, "b": centre_bias_maps(ds, (0.2, 0.3))}, ds,
                      metrics.METRIC_NAMES, centre_bias=(0.25, 0.25), seed=3)
    pd.testing.assert_frame_equal(many["a"], df)
    pd.testing.assert_frame_equal(many["b"], df)


def test_failure_policy_raise_is_the_default():
    ds = _toy()
    const = lambda im: np.ones(SHAPE)
    with pytest.raises(ValueError, match="image im0: unscorable map: .*constant"):
        score_maps(const, ds)
    with pytest.raises(ValueError, match="fixation shape"):
        score_maps(lambda im: np.random.default_rng(0).random((10, 10)), ds)
    nan = lambda im: np.where(np.arange(50) == 3, np.nan, 1.0) * np.ones(SHAPE)
    with pytest.raises(ValueError, match="NaN"):
        score_maps(nan, ds)
    with pytest.raises(ValueError, match="2-D"):
        score_maps(lambda im: np.ones((3,) + SHAPE), ds)


def test_failure_policy_miss_counts_and_keeps_the_image():
    ds = _toy()
    bad = {"im1", "im3"}
    calls = iter(ds.ids)

    def fn(image):
        i = next(calls)
        return np.zeros(SHAPE) if i in bad else _blob(image)

    df = score_maps(fn, ds, failure="miss")
    assert len(df) == 4 and list(df.image) == list(ds.ids)
    assert df.attrs["misses"] == 2
    assert [i for i, _ in df.attrs["failures"]] == ["im1", "im3"]
    assert df.set_index("image").loc[["im1", "im3"]].isna().all().all()
    assert df.set_index("image").loc[["im0", "im2"]].notna().all().all()
    with pytest.raises(ValueError, match="failure must be"):
        score_maps(_blob, ds, failure="drop")


def test_resize_is_explicit():
    ds = _toy(2)
    small = lambda im: maps.gaussian_centre_bias((20, 25), (0.2, 0.3))
    df = score_maps(small, ds, resize=True)
    ref = score_maps(lambda im: maps.resize_map(small(im), SHAPE), ds)
    pd.testing.assert_frame_equal(df, ref)


def test_bad_inputs():
    with pytest.raises(ValueError, match="no fixations"):
        score_maps(_blob, _toy(empty="im2"))
    ds = _toy()
    with pytest.raises(ValueError, match="IG needs a baseline"):
        score_maps(_blob, ds, ["IG"])
    with pytest.raises(ValueError, match="unknown metric"):
        score_maps(_blob, ds, ["AUC"])
    with pytest.raises(ValueError, match="3 maps for 4 images"):
        score_maps([np.ones(SHAPE)] * 3, ds)
    with pytest.raises(ValueError, match="unknown metric"):
        score_image(np.ones(SHAPE), None, None, wanted=["nope"])


def test_leave_one_out_inter_observer():
    ds = _toy()
    df = score_leave_one_out(lambda k, rest: rest.density(ds.sigma_px), ds,
                             ("AUC-Judd", "NSS", "CC"))
    assert list(df.columns) == ["image", "AUC-Judd", "NSS", "CC"] and len(df) == 4
    assert (df["AUC-Judd"] > 0.5).all()


def test_osie_split_is_the_package_split(bundle):
    train, test = data.osie_split()
    assert FixationDataset.osie("test").ids == tuple(test)
    assert FixationDataset.osie("train", n=5).ids == tuple(train[:5])
    ds = FixationDataset.named("osie_test", 3)
    assert ds.sigma_px == data.OSIE_SIGMA_PX and ds.px_per_degree == data.OSIE_PX_PER_DEGREE
    m = FixationDataset.named("mit1003", 2)
    assert m.ids == tuple(data.mit1003_ids()[:2]) and m.sigma_px == data.MIT1003_SIGMA_PX
    f = FixationDataset.named("figrim", 2)
    assert f.fixations(0).shape == data.FIGRIM_SHAPE[:2] and f.sigma_px == data.FIGRIM_SIGMA_PX


# Outputs of the scorers this layer replaced, on the same inputs (recorded before they were
# removed): training.evaluate_center_bias("mit1003", n=2) (anchors.score_model) and
# task_domain.score_natural(ramp, "osie_test", n=2, wanted=...) (resizing maps).
OLD_CB_MIT = [
    {"image": "i05june05_static_street_boston_p1010764", "AUC-Judd": 0.7604905358999645,
     "AUC-Borji": 0.7473260056959772, "sAUC": 0.47557444423687656, "NSS": 0.9441104706856388,
     "CC": 0.5344859435907331, "SIM": 0.5608250940131265, "KLD": 0.6555500347535479, "IG": 0.0},
    {"image": "i05june05_static_street_boston_p1010785", "AUC-Judd": 0.774373383511146,
     "AUC-Borji": 0.7583550632290952, "sAUC": 0.5247931575335751, "NSS": 1.0450859445359777,
     "CC": 0.6476469404609252, "SIM": 0.6271080707785432, "KLD": 0.47054395982785946, "IG": 0.0}]
OLD_RAMP_OSIE = [
    {"image": "1003", "AUC-Judd": 0.3277360655347935, "sAUC": 0.3037268274536549,
     "NSS": -0.5214586963478781, "CC": -0.07872922751920354, "KLD": 3.23134598841183},
    {"image": "1006", "AUC-Judd": 0.4768065493023701, "sAUC": 0.6488878671188,
     "NSS": -0.14958365627453635, "CC": -0.012619260349951568, "KLD": 1.7936492855423178}]


def test_same_numbers_as_the_old_scorers(bundle):
    from saliency_utils.training import saliency as training

    frac = training.osie_centre_bias()
    ds = FixationDataset.named("mit1003", 2)
    new = score_maps(centre_bias_maps(ds, frac), ds, metrics.METRIC_NAMES, centre_bias=frac)
    pd.testing.assert_frame_equal(new, pd.DataFrame(OLD_CB_MIT), rtol=1e-12)
    fn = lambda im: np.asarray(im, float).mean(2)[::2, ::2] + 1
    wanted = ("AUC-Judd", "sAUC", "NSS", "CC", "KLD")
    new = score_maps(fn, FixationDataset.named("osie_test", 2), wanted, resize=True)
    pd.testing.assert_frame_equal(new, pd.DataFrame(OLD_RAMP_OSIE), rtol=1e-12)


# ------------------------------------------------------------------------------ score_image
def _fixation_inputs(shape=(40, 50), seed=0):
    rng = np.random.default_rng(seed)
    fixmap = np.zeros(shape, bool)
    fixmap[rng.integers(0, shape[0], 30), rng.integers(0, shape[1], 30)] = True
    other = np.zeros(shape, bool)
    other[rng.integers(0, shape[0], 40), rng.integers(0, shape[1], 40)] = True
    density = maps.gaussian_density(fixmap.astype(float), 3.0)
    sal = maps.gaussian_density(fixmap.astype(float), 1.5) + 0.02 * rng.random(shape) / fixmap.size
    base = anchors.centre_bias_map(shape, (0.25, 0.25))
    return sal, fixmap, density, other, base


def test_score_image_matches_the_metric_functions():
    sal, fixmap, dens, other, base = _fixation_inputs()
    got = score_image(sal, fixmap, dens, other, base, seed=3)
    assert list(got) == list(metrics.METRIC_NAMES)
    want = {"AUC-Judd": metrics.auc_judd(sal, fixmap, seed=3),
            "AUC-Borji": metrics.auc_borji(sal, fixmap, seed=3),
            "sAUC": metrics.auc_shuffled(sal, fixmap, other, seed=3),
            "NSS": metrics.nss(sal, fixmap), "CC": metrics.cc(sal, dens),
            "SIM": metrics.sim(sal, dens), "KLD": metrics.kld(sal, dens),
            "IG": metrics.information_gain(sal, fixmap, base)}
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-12, abs=1e-15), k
        assert isinstance(got[k], float)
    # an informative map: better than chance
    assert got["AUC-Judd"] > 0.8 and got["NSS"] > 1 and got["CC"] > 0.5
    # a subset, in the order asked
    sub = score_image(sal, fixmap, dens, wanted=("NSS", "AUC-Judd"))
    assert list(sub) == ["NSS", "AUC-Judd"] and sub["NSS"] == got["NSS"]


def test_score_image_skips_what_the_inputs_do_not_allow_and_rejects_unknown():
    sal, fixmap, dens, other, base = _fixation_inputs(seed=1)
    no_other = score_image(sal, fixmap, dens, None, base)
    assert "sAUC" not in no_other and "IG" in no_other
    no_base = score_image(sal, fixmap, dens, other, None)
    assert "IG" not in no_base and "sAUC" in no_base
    neither = score_image(sal, fixmap, dens)
    assert set(neither) == set(metrics.METRIC_NAMES) - {"sAUC", "IG"}
    assert score_image(sal, fixmap, dens, wanted=("sAUC",)) == {}
    with pytest.raises(ValueError, match="AUC-Foo"):
        score_image(sal, fixmap, dens, other, base, wanted=("NSS", "AUC-Foo"))
    with pytest.raises(ValueError, match="unknown"):
        score_image(sal, fixmap, dens, wanted=("nss",))  # names are case-sensitive


def test_the_uniform_map_gets_the_uniform_scores_and_a_plain_constant_map_still_fails():
    ds = _toy()
    cb = (0.25, 0.25)
    df = score_maps(lambda im: maps.uniform_map((7, 9)), ds, metrics.METRIC_NAMES,
                    centre_bias=cb, resize=False, seed=3)  # any size: uniform is uniform
    assert df.attrs["misses"] == 0 and len(df) == 4
    f = ds.fixations(1)
    fm, dens = f.fixation_map(), f.density(2.0)
    base = anchors.centre_bias_map(SHAPE, cb)
    row = df.iloc[1].drop("image").to_dict()
    assert row["AUC-Judd"] == row["AUC-Borji"] == row["sAUC"] == 0.5
    assert row["NSS"] == row["CC"] == 0.0
    # the density-based metrics, by hand: the uniform distribution u = 1/N
    n = fm.size
    q = (dens - dens.min()) / (dens - dens.min()).sum()
    assert row["SIM"] == pytest.approx(np.minimum(q, 1 / n).sum(), rel=1e-12)
    assert row["KLD"] == pytest.approx(metrics.kld(np.full(SHAPE, 5.0), dens), rel=1e-12)
    b = (base - base.min()) / (base - base.min()).sum()
    ig = np.mean(np.log2(metrics.EPS + 1 / n) - np.log2(metrics.EPS + b[fm.astype(bool)]))
    assert row["IG"] == pytest.approx(ig, rel=1e-12)
    # the uniform map is the chance model: worse than a map that knows where people look
    blob = score_maps(_blob, ds, ("NSS", "SIM"))
    assert (blob["SIM"] > df["SIM"]).mean() > 0.5
    # score_image takes it directly (sAUC and IG skipped without their inputs, as for any map)
    one = score_image(maps.uniform_map(SHAPE), fm, dens, wanted=metrics.METRIC_NAMES)
    assert set(one) == set(metrics.METRIC_NAMES) - {"sAUC", "IG"}
    with pytest.raises(ValueError, match="shape"):
        score_image(maps.uniform_map((3, 3)), fm, dens)
    # arithmetic gives back a plain array: a constant made from it is unscorable again
    with pytest.raises(ValueError, match="constant"):
        score_maps(lambda im: maps.uniform_map(SHAPE) * 2.0, ds)
    assert type(maps.uniform_map(SHAPE) + 0) is np.ndarray
    with pytest.raises(ValueError, match="positive shape"):
        maps.uniform_map((0, 5))


# ------------------------------------------------------------------ other image shapes (issue 15)
def test_shape_windows():
    from saliency_utils.evaluate.scoring import SHAPE_VERSIONS, shape_window

    assert SHAPE_VERSIONS == ("original", "square", "portrait", "small")
    assert shape_window((600, 800), "original") == (0, 0, 600, 800, 1.0)
    assert shape_window((600, 800), "square") == (0, 100, 600, 600, 1.0)
    assert shape_window((600, 800), "portrait") == (0, 175, 600, 450, 1.0)
    assert shape_window((600, 800), "small") == (0, 0, 600, 800, 0.32)
    assert shape_window((800, 600), "square") == (100, 0, 600, 600, 1.0)
    assert shape_window((800, 600), "portrait") == (0, 0, 800, 600, 1.0)  # already 3:4
    assert shape_window((1000, 600), "portrait") == (100, 0, 800, 600, 1.0)
    with pytest.raises(ValueError, match="unknown version 'wide'"):
        shape_window((600, 800), "wide")


def test_reshaped_images_and_fixations_stay_in_register():
    """A fixation on a bright dot is still on the dot after every crop and the downscale; points
    outside a crop are dropped and counted; the density width follows the scale."""
    h, w = 120, 160
    img = np.zeros((h, w, 3), np.uint8)
    img[59:62, 99:102] = 255  # a dot centred on (x=100, y=60)
    fix = data.Fixations.from_points([100.0, 5.0], [60.0, 60.0], [0, 1], (h, w))
    ds = FixationDataset("dot", ["a"], lambda i: img, lambda i: fix, 4.0, 20.0)
    for version in ("square", "portrait", "small"):
        r = ds.reshaped(version, long_side=80)
        im, f = r.image(0), r.fixations(0)
        assert im.shape[:2] == f.shape
        yy, xx = np.unravel_index(np.argmax(im[..., 0].astype(float)), im.shape[:2])
        on_dot = np.flatnonzero(f.observer == 0)
        assert on_dot.size == 1
        assert abs(f.x[on_dot[0]] - xx) <= 1 and abs(f.y[on_dot[0]] - yy) <= 1, version
    sq = ds.reshaped("square")
    assert sq.fixations(0).n_dropped == 1 and len(sq.fixations(0)) == 1  # x=5 is outside
    assert ds.reshaped("small", long_side=80).sigma_px == pytest.approx(2.0)
    assert ds.reshaped("original") is ds


def test_leave_one_out_without_density_metrics_gives_the_same_nss():
    ds = _toy()
    pred = lambda i, rest: _blob(ds.image(i))  # noqa: E731
    nss_only = score_leave_one_out(pred, ds, ["NSS"])
    with_cc = score_leave_one_out(pred, ds, ["NSS", "CC"])
    assert np.array_equal(nss_only["NSS"].to_numpy(), with_cc["NSS"].to_numpy())


def test_leave_one_out_with_several_predictors_scores_each_as_alone():
    ds = _toy()
    preds = {"blob": lambda i, rest: _blob(ds.image(i)),
             "others": lambda i, rest: rest.density(ds.sigma_px)}
    together = score_leave_one_out(preds, ds, ["NSS", "CC", "KLD"])
    assert set(together) == set(preds)
    for name, fn in preds.items():
        alone = score_leave_one_out(fn, ds, ["NSS", "CC", "KLD"])
        pd.testing.assert_frame_equal(together[name], alone)
    # the other observers predict a held-out observer better than a fixed blob does here
    assert not together["blob"].equals(together["others"])
    with pytest.raises(ValueError, match="'blob', "):
        score_leave_one_out({"blob": lambda i, rest: np.zeros((3, 3))}, ds, ["NSS"])


def test_score_fixation_sets_is_score_maps_without_a_dataset():
    ds = _toy()
    fixsets = ds.fixation_sets()
    precomputed = [_blob(ds.image(k)) for k in range(len(ds))]
    names = list(metrics.METRIC_NAMES)
    via_ds = score_maps(precomputed, ds, names, centre_bias=(0.2, 0.2), seed=3)
    bare = score_fixation_sets(precomputed, fixsets, ds.sigma_px, names, ids=ds.ids,
                               centre_bias=(0.2, 0.2), seed=3)
    pd.testing.assert_frame_equal(via_ds, bare)
    by_image = score_fixation_sets(_blob, fixsets, ds.sigma_px, ["NSS"], ids=ds.ids,
                                   load_image=ds.load_image)
    assert np.allclose(by_image["NSS"], via_ds["NSS"])
    with pytest.raises(ValueError, match="needs load_image"):
        score_fixation_sets(_blob, fixsets, ds.sigma_px, ["NSS"])
    with pytest.raises(ValueError, match="3 ids for 4 fixation sets"):
        score_fixation_sets(precomputed, fixsets, ds.sigma_px, ["NSS"], ids=ds.ids[:3])
    with pytest.raises(ValueError, match="val image 2: unscorable"):
        score_fixation_sets(precomputed[:2] + [np.ones(SHAPE)] + precomputed[3:], fixsets, ds.sigma_px,
                            ["NSS"], set_name="val")


def test_gap_closed_recovers_a_planted_share():
    rng = np.random.default_rng(3)
    cb = rng.normal(1.0, 0.3, 200)
    io = cb + rng.normal(1.5, 0.3, 200)
    model = cb + 0.6 * (io - cb) + rng.normal(0, 0.1, 200)
    est = anchors.gap_closed(model, cb, io)
    assert est.lo < 0.6 < est.hi and est.hi - est.lo < 0.1
    assert anchors.gap_closed(io, cb, io).value == pytest.approx(1.0)
    assert anchors.gap_closed(cb, cb, io).value == pytest.approx(0.0)
    with pytest.raises(ValueError, match="does not beat the centre bias"):
        anchors.gap_closed(model, io, cb)
    with pytest.raises(ValueError):
        anchors.gap_closed(model[:5], cb, io)
