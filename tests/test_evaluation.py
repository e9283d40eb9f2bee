"""The evaluation layer: datasets, score_maps and its failure policy, leave-one-out."""
import numpy as np
import pandas as pd
import pytest

from saliency_utils import anchors, data, maps, metrics
from saliency_utils.evaluation import (
    FixationDataset,
    centre_bias_maps,
    score_image,
    score_leave_one_out,
    score_maps,
)

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
    return maps.gaussian_center_bias((h, w), (0.2, 0.3))


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
    ref = metrics.score_all(s, f.fixation_map(), f.density(2.0), other,
                            anchors.center_bias(SHAPE, (0.25, 0.25)), seed=3)
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
    small = lambda im: maps.gaussian_center_bias((20, 25), (0.2, 0.3))
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


def test_same_numbers_as_the_old_scorers(bundle):
    """score_maps reproduces anchors.score_model (via training.evaluate_center_bias) and
    task_domain.score_natural on the same images (kept until those are removed)."""
    from saliency_utils import task_domain, training

    frac = training.osie_center_bias()
    ds = FixationDataset.named("mit1003", 2)
    old = pd.DataFrame(training.evaluate_center_bias("mit1003", n=2))
    new = score_maps(centre_bias_maps(ds, frac), ds, metrics.METRIC_NAMES, centre_bias=frac)
    pd.testing.assert_frame_equal(old, new)
    fn = lambda im: np.asarray(im, float).mean(2)[::2, ::2] + 1
    wanted = ("AUC-Judd", "sAUC", "NSS", "CC", "KLD")
    old = pd.DataFrame(task_domain.score_natural(fn, "osie_test", n=2, wanted=wanted))
    pd.testing.assert_frame_equal(old, score_maps(fn, FixationDataset.named("osie_test", 2), wanted, resize=True))
