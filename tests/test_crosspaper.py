"""The cross-paper comparison (every explanation on the same images), plus two helpers it uses:
``evaluate.scoring.score_image`` and ``explain.loggabor_explain.fit_explainable``."""
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from saliency_utils.evaluate import anchors, boxes, scoring as evaluation, maps, metrics
from saliency_utils.explain import attribution, context_saliency, lrp
from saliency_utils.book import crosspaper as cp
from saliency_utils.models.backbones import to_uint8_rgb
from saliency_utils.evaluate.boxes import box_union_mask
from saliency_utils.evaluate.wsol import WSOLRun
from nets import tiny_backbone

pytestmark = pytest.mark.usefixtures("one_thread")

S = 32                                            # the tiny classifier's input side
CA = dict(max_side=32, query_stride=2, ref_stride=4)  # a cheap SR step
N_FIX = 3                                         # eval images per bundle test
N_BOX = 3


# ------------------------------------------------------------------------------ helpers
def explainer(**kw) -> cp.ClassifierExplainer:
    kw = {"sg_samples": 3, "ca": CA, **kw}
    return cp.ClassifierExplainer(tiny_backbone(), **kw)


def colour_images(n=3, seed=0):
    """Noisy images of different sizes and dominant colours."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = rng.integers(0, 256, size=3)
        img = base + rng.normal(0, 40, size=(36 + 4 * i, 44 - 2 * i, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def second_moments(a):
    """Standard deviations (rows, columns) of a non-negative map seen as a distribution."""
    w = a / a.sum()
    yy, xx = np.mgrid[:a.shape[0], :a.shape[1]]
    cy, cx = (w * yy).sum(), (w * xx).sum()
    return np.sqrt((w * (yy - cy) ** 2).sum()), np.sqrt((w * (xx - cx) ** 2).sum())


def delta(shape, at=None):
    m = np.zeros(shape)
    m[at or (shape[0] // 2, shape[1] // 2)] = 1.0
    return m


# ------------------------------------------------------------------------------ postprocess
def test_postprocess_shape_max_and_no_blur_is_resize_over_max():
    rng = np.random.default_rng(0)
    m = rng.random((30, 40)) ** 3 * 7.0
    out = cp.postprocess(m, (45, 70))
    assert out.shape == (45, 70)
    assert out.max() == 1.0 and out.min() >= 0
    ref = maps.resize_map(m, (45, 70))
    np.testing.assert_allclose(out, ref / ref.max(), rtol=1e-12, atol=0)
    # same shape, no blur: the map itself over its maximum
    np.testing.assert_allclose(cp.postprocess(m, m.shape), m / m.max(), rtol=1e-12)
    # scale-free: a map times a constant gives the same output
    np.testing.assert_allclose(cp.postprocess(3.5 * m, (45, 70), 2.0),
                               cp.postprocess(m, (45, 70), 2.0), rtol=1e-10)
    # a list works too, and float32 input
    out32 = cp.postprocess(m.astype(np.float32).tolist(), (45, 70))
    np.testing.assert_allclose(out32, out, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("src, dst, sigma", [
    ((200, 200), (200, 200), 6.0),     # no resize
    ((224, 224), (600, 800), 24.0),    # anisotropic upsampling (the eye-tracking images)
    ((600, 800), (224, 224), 6.0),     # downsampling (a saliency map to the classifier input)
])
def test_postprocess_blur_has_the_requested_width_in_output_pixels(src, dst, sigma):
    out = cp.postprocess(delta(src), dst, sigma)
    assert out.shape == dst and out.max() == 1.0 and out.min() >= 0
    sy, sx = second_moments(out)
    # the resize itself adds a pixel or so of width: a few percent at these sigmas
    assert sy == pytest.approx(sigma, rel=0.04)
    assert sx == pytest.approx(sigma, rel=0.04)
    # the blur widens the delta: without it the width is that of the resize alone
    sy0, sx0 = second_moments(cp.postprocess(delta(src), dst))
    assert sy0 < 0.25 * sigma and sx0 < 0.25 * sigma
    # a Gaussian blob of the same width, centred on the delta (as mapped to the output)
    yy, xx = np.mgrid[:dst[0], :dst[1]]
    cy = (src[0] // 2 + 0.5) * dst[0] / src[0] - 0.5
    cx = (src[1] // 2 + 0.5) * dst[1] / src[1] - 0.5
    g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    assert np.abs(out - g / g.max()).max() < 0.06


def test_postprocess_blur_width_per_axis_differs_when_scaled_uniformly():
    # the same output sigma on both axes though the two axes are stretched differently:
    # a single (isotropic) map-resolution sigma would give sx / sy = 800/600 here
    out = cp.postprocess(delta((224, 224)), (600, 800), 30.0)
    sy, sx = second_moments(out)
    assert sx / sy == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("bad, match", [
    (np.ones((4, 4, 3)), "2-D"),
    (np.ones(5), "2-D"),
    (np.zeros((0, 3)), "2-D"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or inf"),
    (np.array([[1.0, -0.1], [0.0, 1.0]]), "negative"),
    (np.full((5, 6), 0.3), "constant"),
    (np.zeros((5, 6)), "constant"),
])
def test_postprocess_rejects_bad_maps(bad, match):
    with pytest.raises(ValueError, match=match):
        cp.postprocess(bad, (8, 8))


def test_postprocess_rejects_negative_blur():
    with pytest.raises(ValueError, match="blur_sigma"):
        cp.postprocess(delta((10, 10)), (10, 10), -1.0)
    # a constant map stays constant after blurring: still an error
    with pytest.raises(ValueError, match="constant"):
        cp.postprocess(np.ones((10, 10)), (20, 20), 3.0)


# ------------------------------------------------------------------------------ explainer
def test_classifier_explainer_maps_methods_shapes_and_references():
    ex = explainer()
    imgs = colour_images(3)
    out, topk = ex.maps(imgs)
    assert tuple(out) == cp.CLASSIFIER_METHODS
    for k, v in out.items():
        assert v.shape == (3, S, S) and v.dtype == np.float32, k
        assert np.isfinite(v).all() and v.min() >= 0, k
        assert (v.reshape(3, -1).max(1) > 0).all(), k
    assert topk.shape == (3, 5)
    # top-5 are the model's five best classes, best first
    x = ex.backbone.preprocess(imgs)
    with torch.no_grad():
        logits = ex.backbone.model(x)
    np.testing.assert_array_equal(topk, logits.topk(5, dim=1).indices.numpy())
    assert len(set(topk[:, 0])) > 1  # the test images are told apart
    top1 = topk[:, 0].tolist()
    # each map is the library's map for the predicted class
    np.testing.assert_allclose(out["gradient"],
                               attribution.gradient_saliency(ex.backbone.model, x, top1),
                               rtol=1e-6, atol=0)
    np.testing.assert_allclose(
        out["SmoothGrad"], attribution.smoothgrad(ex.backbone.model, x, top1, n_samples=3,
                                                  stdev=0.15, seed=0), rtol=1e-6, atol=0)
    res = lrp.lrp(lrp.canonise(ex.backbone.model), x, top1, "authors")
    np.testing.assert_allclose(out["LRP"], lrp.relevance_map(res.relevance, "abs"),
                               rtol=1e-5, atol=0)
    sr = context_saliency.salient_relevance_maps(lrp.authors_heatmap(res.relevance), **CA)
    np.testing.assert_allclose(out["SR map"], sr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["SR map"].reshape(3, -1).max(1), 1.0, rtol=1e-6)
    # the explainer canonises a copy: the backbone keeps its BatchNorm layers
    assert any(isinstance(m, nn.BatchNorm2d) for m in ex.backbone.model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in ex.canonical.modules())
    assert ex.size == S


def test_classifier_explainer_target_default_explicit_and_errors():
    ex = explainer()
    imgs = colour_images(3)
    default, topk = ex.maps(imgs)
    explicit, topk2 = ex.maps(imgs, target=np.asarray(topk[:, 0]))
    np.testing.assert_array_equal(topk, topk2)
    for k in cp.CLASSIFIER_METHODS:
        np.testing.assert_allclose(default[k], explicit[k], rtol=1e-6, atol=1e-7)
    # another class gives other maps (so the comparison above can fail)
    other = [int(t) for t in topk[:, 4]]
    alt, topk3 = ex.maps(imgs, target=other)
    np.testing.assert_array_equal(topk3, topk)  # top-5 do not depend on the target
    assert np.abs(alt["gradient"] - default["gradient"]).max() > 1e-3 * default["gradient"].max()
    x = ex.backbone.preprocess(imgs)
    np.testing.assert_allclose(alt["gradient"],
                               attribution.gradient_saliency(ex.backbone.model, x, other),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="targets"):
        ex.maps(imgs, target=[1, 2])
    with pytest.raises(ValueError, match="targets"):
        ex.maps(imgs, target=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="no images"):
        ex.maps([])
    with pytest.raises(ValueError, match="sg_samples"):
        explainer(sg_samples=0)
    with pytest.raises(ValueError, match="sg_samples"):
        explainer(sg_samples=-3)


def test_classifier_explainer_seconds_accumulate():
    ex = explainer()
    imgs = colour_images(2)
    sec = {"gradient": 10.0, "unrelated": 1.0}
    ex.maps(imgs, seconds=sec)
    assert set(sec) == set(cp.CLASSIFIER_METHODS) | {"unrelated"}
    assert sec["unrelated"] == 1.0
    assert sec["gradient"] > 10.0
    assert all(sec[k] > 0 for k in cp.CLASSIFIER_METHODS)
    first = dict(sec)
    ex.maps(imgs, seconds=sec)
    for k in cp.CLASSIFIER_METHODS:
        assert sec[k] > first[k]
    assert sec["gradient"] - first["gradient"] < first["gradient"]  # added, not doubled+10
    # without a dict nothing breaks and nothing is returned for the times
    assert len(ex.maps(imgs)) == 2


# ------------------------------------------------------------------------------ fixations
def _noise_map(img):
    return np.random.default_rng(0).random(img.shape[:2])


def _constant_map(img):
    return np.ones(img.shape[:2])


def test_fixation_scores_argument_errors():
    # these are checked before any data is read
    with pytest.raises(ValueError, match="nothing to score"):
        cp.fixation_scores("osie_test", None, {}, n=2)
    with pytest.raises(ValueError, match="clash"):
        cp.fixation_scores("osie_test", None, {"LRP": _noise_map}, n=2)
    with pytest.raises(ValueError, match="clash"):
        cp.fixation_scores("osie_test", explainer(), {"SR map": _noise_map}, n=2)
    with pytest.raises(TypeError, match="callable"):
        cp.fixation_scores("osie_test", None, {"noise": np.zeros((3, 3))}, n=2)


@pytest.fixture(scope="module")
def fix_data(bundle):
    from saliency_utils.evaluate.scoring import FixationDataset

    ds = FixationDataset.named("osie_test", N_FIX)
    ids, load_img, load_fix, sigma = list(ds.ids), ds.load_image, ds.load_fixations, ds.sigma_px
    imgs = {i: to_uint8_rgb(load_img(i)) for i in ids}
    fix = {i: load_fix(i) for i in ids}
    return ids, imgs, fix, sigma


@pytest.fixture(scope="module")
def fix_run(fix_data):
    ids, imgs, fix, sigma = fix_data
    by_bytes = {imgs[i].tobytes(): i for i in ids}
    oracle = lambda img: fix[by_bytes[img.tobytes()]].density(sigma)  # noqa: E731
    centre = lambda img: anchors.centre_bias_map(img.shape[:2], (0.2, 0.2))  # noqa: E731
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = cp.fixation_scores("osie_test", explainer(),
                                 {"oracle": oracle, "centre": centre, "noise": _noise_map,
                                  "const": _constant_map}, n=N_FIX, batch_size=2, n_examples=2,
                                 failure="miss")
    finally:
        torch.set_num_threads(n)
    return run


SAL_FIX = ("oracle", "centre", "noise", "const")
WANTED = ("AUC-Judd", "sAUC", "NSS", "CC", "KLD")


@pytest.mark.slow
def test_fixation_scores_table_layout(fix_data, fix_run):
    ids, imgs, fix, sigma = fix_data
    df = fix_run.scores
    assert fix_run.dataset == "osie_test" and fix_run.ids == list(ids)
    assert fix_run.sigma_px == fix_run.blur_px == sigma
    assert list(df.columns) == ["image", "method", "variant", *WANTED]
    expected = {(i, k, v) for i in ids for k in cp.CLASSIFIER_METHODS
                for v in (cp.AS_COMPUTED, cp.BLURRED)}
    expected |= {(i, k, cp.AS_COMPUTED) for i in ids for k in SAL_FIX}
    keys = list(zip(df.image, df.method, df.variant))
    assert len(keys) == len(set(keys)) == len(expected) == N_FIX * (2 * 4 + len(SAL_FIX))
    assert set(keys) == expected
    # explained classes: the predicted (top-1) class of each image
    ex = explainer()
    x = ex.backbone.preprocess([imgs[i] for i in ids])
    with torch.no_grad():
        top1 = ex.backbone.model(x).argmax(1).numpy()
    np.testing.assert_array_equal(fix_run.targets, top1)
    assert set(fix_run.seconds) == set(cp.CLASSIFIER_METHODS) | set(SAL_FIX)
    assert all(v >= 0 for v in fix_run.seconds.values())


@pytest.mark.slow
def test_fixation_scores_oracle_beats_baselines_and_constant_fails(fix_data, fix_run):
    ids = fix_data[0]
    df = fix_run.scores.set_index(["image", "method", "variant"])
    for i in ids:
        o = df.loc[(i, "oracle", cp.AS_COMPUTED)]
        for base in ("centre", "noise"):
            b = df.loc[(i, base, cp.AS_COMPUTED)]
            assert o["NSS"] > b["NSS"] and o["CC"] > b["CC"] and o["AUC-Judd"] > b["AUC-Judd"]
            assert o["KLD"] < b["KLD"]
        assert o["CC"] == pytest.approx(1.0, abs=1e-6)  # the density itself
        assert o["KLD"] == pytest.approx(0.0, abs=1e-6)
        noise = df.loc[(i, "noise", cp.AS_COMPUTED)]
        assert abs(noise["NSS"]) < 0.1 and abs(noise["AUC-Judd"] - 0.5) < 0.05
        # the constant map: NaN in every metric, not an exception and not a score
        c = df.loc[(i, "const", cp.AS_COMPUTED)]
        assert c[list(WANTED)].isna().all()
    # nothing else is NaN
    others = fix_run.scores[fix_run.scores.method != "const"]
    assert others[list(WANTED)].notna().all().all()
    assert [f[:3] for f in fix_run.failures] == [(i, "const", cp.AS_COMPUTED) for i in ids]
    assert all("constant" in f[3] for f in fix_run.failures)
    # counted, in the run and in the table (the evaluation layer's failure policy)
    assert fix_run.misses == len(ids) == fix_run.scores.attrs["misses"]
    assert fix_run.scores.attrs["failure"] == "miss"
    assert fix_run.scores.attrs["failures"] == fix_run.failures


@pytest.mark.slow
def test_fixation_scores_rows_are_the_postprocessed_maps_scored(fix_data, fix_run):
    ids, imgs, fix, sigma = fix_data
    i = ids[1]
    f = fix[i]
    fixmap, dens = f.fixation_map(), f.density(sigma)
    ex = explainer()
    m, _ = ex.maps([imgs[i]])
    df = fix_run.scores.set_index(["image", "method", "variant"])
    for variant, blur in ((cp.AS_COMPUTED, 0.0), (cp.BLURRED, sigma)):
        s = cp.postprocess(m["gradient"][0], f.shape, blur)
        want = evaluation.score_image(s, fixmap, dens, None, None, ("AUC-Judd", "NSS", "CC"))
        got = df.loc[(i, "gradient", variant)]
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-8), (variant, k)
    # the two variants really differ (the blur is applied)
    a, b = df.loc[(i, "gradient", cp.AS_COMPUTED)], df.loc[(i, "gradient", cp.BLURRED)]
    assert abs(a["NSS"] - b["NSS"]) > 1e-3
    # sAUC uses the other images' fixations
    other = anchors.other_fixation_map([fix[j] for j in ids], 1, f.shape, seed=0)
    s = cp.postprocess(fix[i].density(sigma), f.shape)
    assert df.loc[(i, "oracle", cp.AS_COMPUTED)]["sAUC"] == pytest.approx(
        metrics.auc_shuffled(s, fixmap, other, seed=0), rel=1e-9)


@pytest.mark.slow
def test_fixation_scores_examples(fix_data, fix_run):
    ids, imgs, fix, sigma = fix_data
    assert len(fix_run.examples) == 2
    for e, i, t in zip(fix_run.examples, ids, fix_run.targets):
        assert e["id"] == i and e["target"] == t
        assert e["fixations"].shape == fix[i].shape and len(e["fixations"]) == len(fix[i])
        np.testing.assert_array_equal(e["image"], imgs[i])
        # the constant map could not be shown; the others are at the image's size, max 1
        assert set(e["maps"]) == set(cp.CLASSIFIER_METHODS) | {"oracle", "centre", "noise"}
        for k, s in e["maps"].items():
            assert s.shape == fix[i].shape and s.max() == 1.0, k
        # classifier maps are shown blurred
        ex_maps, _ = explainer().maps([imgs[i]])
        np.testing.assert_allclose(e["maps"]["LRP"],
                                   cp.postprocess(ex_maps["LRP"][0], fix[i].shape, sigma),
                                   rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_fixation_scores_saliency_maps_only(fix_data):
    ids, imgs, fix, sigma = fix_data
    run = cp.fixation_scores("osie_test", None, {"noise": _noise_map}, n=2,
                             wanted=("NSS", "CC"))
    assert list(run.scores.columns) == ["image", "method", "variant", "NSS", "CC"]
    assert len(run.scores) == 2 and set(run.scores.variant) == {cp.AS_COMPUTED}
    assert list(run.scores.image) == list(ids[:2])
    np.testing.assert_array_equal(run.targets, [-1, -1])  # nothing was classified
    assert run.failures == [] and run.examples == []
    assert set(run.seconds) == {"noise"}


# ------------------------------------------------------------------------------ boxes
def test_box_scores_argument_errors():
    from types import SimpleNamespace

    rec = SimpleNamespace(boxes=np.array([[0.0, 0, 10, 10]]), original_size=(100, 100),
                          label=1, file="x")
    with pytest.raises(ValueError, match="no records"):
        cp.box_scores([], None, {"noise": _noise_map}, blur_px=2.0, size=S)
    with pytest.raises(ValueError, match="size"):
        cp.box_scores([rec], None, {"noise": _noise_map}, blur_px=2.0)
    with pytest.raises(ValueError, match="clash"):
        cp.box_scores([rec], None, {"gradient": _noise_map}, blur_px=2.0, size=S)
    with pytest.raises(TypeError, match="callable"):
        cp.box_scores([rec], None, {"noise": 3}, blur_px=2.0, size=S)


@pytest.fixture(scope="module")
def box_data(bundle):
    from saliency_utils import data

    recs = data.imagenet_val()[:N_BOX]
    imgs = {r.file: data.load_imagenet_image(r) for r in recs}
    return recs, imgs, data.IMAGENET_SIZE


def _box_oracle(recs, imgs, size):
    by_bytes = {imgs[r.file].tobytes(): r for r in recs}
    return lambda img: box_union_mask(by_bytes[img.tobytes()].boxes, (size, size)).astype(float)


@pytest.fixture(scope="module")
def box_run(box_data):
    recs, imgs, size = box_data
    rng = np.random.default_rng(1)
    near_uniform = lambda img: 1.0 + 1e-6 * rng.random(img.shape[:2])  # noqa: E731
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = cp.box_scores(recs, explainer(),
                            {"oracle": _box_oracle(recs, imgs, size), "noise": _noise_map,
                             "uniform": near_uniform, "const": _constant_map},
                            blur_px=3.0, batch_size=2, n_examples=1, failure="miss")
    finally:
        torch.set_num_threads(n)
    return run


SAL_BOX = ("oracle", "noise", "uniform", "const")


@pytest.mark.slow
def test_box_scores_table_wsol_and_area(box_data, box_run):
    recs, imgs, size = box_data
    df = box_run.scores
    assert box_run.n == N_BOX and box_run.size == S and box_run.blur_px == 3.0
    assert list(df.columns) == ["image", "method", "variant", "pointing", "energy", "regions",
                                "largest region share"]
    keys = list(zip(df.image, df.method, df.variant))
    expected = {(r.file, k, v) for r in recs for k in cp.CLASSIFIER_METHODS
                for v in (cp.AS_COMPUTED, cp.BLURRED)}
    expected |= {(r.file, k, cp.AS_COMPUTED) for r in recs for k in SAL_BOX}
    assert len(keys) == len(set(keys)) == N_BOX * (8 + len(SAL_BOX)) and set(keys) == expected
    # tolerance: 15 px of the original image, in pixels of the S x S input
    np.testing.assert_allclose(box_run.tolerance_px,
                               [15.0 * S / max(r.original_size) for r in recs])
    # area: share of the S x S input covered by the boxes (pixel centres), computed here from
    # the 227 x 227 boxes scaled by hand; a near-uniform map's energy equals it
    yy, xx = np.mgrid[:S, :S] + 0.5
    for j, r in enumerate(recs):
        b = np.asarray(r.boxes) * S / size
        inside = np.zeros((S, S), bool)
        for x0, y0, x1, y1 in b:
            inside |= (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
        assert box_run.area[j] == pytest.approx(inside.mean())
        np.testing.assert_allclose(box_run.wsol.gt_boxes[j], b)
    uni = df[df.method == "uniform"].energy.to_numpy()
    np.testing.assert_allclose(uni, box_run.area, atol=1e-5)
    assert 0 < box_run.area.min() and box_run.area.max() < 1
    # WSOL: one maker per (method, variant), and the two baselines
    errs = box_run.wsol.errors()
    makers = {f"{k}, {v}" for k in cp.CLASSIFIER_METHODS for v in (cp.AS_COMPUTED, cp.BLURRED)}
    makers |= {f"{k}, {cp.AS_COMPUTED}" for k in SAL_BOX}
    makers |= {"full-image box", "centred box of mean size"}
    assert set(errs.index) == makers == set(box_run.wsol.boxes)
    for m in makers:
        assert box_run.wsol.boxes[m].shape == (N_BOX, 4)
    np.testing.assert_array_equal(box_run.wsol.boxes["full-image box"], [[0, 0, S, S]] * N_BOX)
    np.testing.assert_array_equal(box_run.wsol.labels, [r.label for r in recs])
    # classifier scored: topk is the model's; the oracle's box finds the object
    assert box_run.wsol.topk.shape == (N_BOX, 5) and (box_run.wsol.topk >= 0).all()
    assert errs.loc["oracle, as computed", "GT-known loc. error"] < 100.0
    assert set(box_run.seconds) == set(cp.CLASSIFIER_METHODS) | set(SAL_BOX)


@pytest.mark.slow
def test_box_scores_oracle_beats_noise_and_constant_fails(box_data, box_run):
    recs = box_data[0]
    df = box_run.scores.set_index(["image", "method", "variant"])
    for j, r in enumerate(recs):
        o = df.loc[(r.file, "oracle", cp.AS_COMPUTED)]
        nz = df.loc[(r.file, "noise", cp.AS_COMPUTED)]
        assert o["pointing"] == 1.0
        assert o["energy"] > 0.9 > box_run.area[j] + 0.1
        assert o["energy"] > nz["energy"] + 0.2
        assert nz["energy"] == pytest.approx(box_run.area[j], abs=0.1)
    assert df.xs("oracle", level="method")["pointing"].mean() >= \
        df.xs("noise", level="method")["pointing"].mean()
    # the constant map: a failure per image, its box a miss (zero area), not the full image
    assert [f[:3] for f in box_run.failures] == [(r.file, "const", cp.AS_COMPUTED) for r in recs]
    assert all("constant" in f[3] for f in box_run.failures)
    assert box_run.misses == len(recs) == box_run.scores.attrs["misses"]
    np.testing.assert_array_equal(box_run.wsol.boxes["const, as computed"], [[0, 0, 0, 0]] * N_BOX)
    assert not box_run.wsol.box_ok("const, as computed").any()
    assert df.xs("const", level="method")["regions"].isna().all()
    ok = box_run.scores[box_run.scores.method != "const"]
    assert ok[["pointing", "energy", "regions"]].notna().all().all()


@pytest.mark.slow
def test_box_scores_explain_the_true_class(box_data, box_run):
    recs, imgs, size = box_data
    ex = explainer()
    r = recs[0]
    m, topk = ex.maps([imgs[r.file]], target=[r.label])
    assert r.label not in topk[0]  # so explaining the predicted class would differ
    np.testing.assert_array_equal(box_run.wsol.topk[0], topk[0])
    gt = boxes.scale_box(r.boxes, (size, size), (S, S))
    df = box_run.scores.set_index(["image", "method", "variant"])
    for variant, blur in ((cp.AS_COMPUTED, 0.0), (cp.BLURRED, 3.0)):
        s = cp.postprocess(m["gradient"][0], (S, S), blur)
        got = df.loc[(r.file, "gradient", variant)]
        assert got["energy"] == pytest.approx(s[box_union_mask(gt, (S, S))].sum() / s.sum(),
                                              rel=1e-5)
    # examples: the first image, its boxes at S, maps at S x S (classifier maps blurred)
    assert len(box_run.examples) == 1
    e = box_run.examples[0]
    assert e["record"] is r
    np.testing.assert_allclose(e["boxes"], gt)
    assert "const" not in e["maps"] and e["maps"]["oracle"].shape == (S, S)
    np.testing.assert_allclose(e["maps"]["gradient"], cp.postprocess(m["gradient"][0], (S, S), 3.0),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_box_scores_without_explainer_and_tolerance(box_data):
    recs, imgs, size = box_data
    oracle = _box_oracle(recs, imgs, size)
    run = cp.box_scores(recs, None, {"oracle": oracle, "noise": _noise_map}, blur_px=2.0,
                        size=40)
    assert run.size == 40 and len(run.scores) == 2 * N_BOX
    assert set(run.scores.variant) == {cp.AS_COMPUTED}
    np.testing.assert_allclose(run.tolerance_px, [15.0 * 40 / max(r.original_size) for r in recs])
    # class-free: top-1 error is the GT-known error
    errs = run.wsol.errors()
    np.testing.assert_allclose(errs["top-1 loc. error"], errs["GT-known loc. error"])
    np.testing.assert_array_equal(run.wsol.topk[:, 0], [r.label for r in recs])
    # a tolerance as large as the image: every map points into a box
    wide = cp.box_scores(recs, None, {"noise": _noise_map}, blur_px=2.0, size=40,
                         tolerance_px=1e5)
    assert (wide.scores.pointing == 1.0).all()


# ------------------------------------------------------------------------------ tables
def hand_scores(shuffle_seed=None):
    """Two images, classifier method "gradient" in both variants, saliency map "model"."""
    rows = [
        ("i1", "gradient", cp.AS_COMPUTED, 1.0, 0.1),
        ("i1", "gradient", cp.BLURRED, 2.0, 0.2),
        ("i1", "model", cp.AS_COMPUTED, 5.0, 0.5),
        ("i2", "gradient", cp.AS_COMPUTED, 3.0, 0.3),
        ("i2", "gradient", cp.BLURRED, 4.0, np.nan),
        ("i2", "model", cp.AS_COMPUTED, 9.0, 0.9),
        ("i3", "gradient", cp.AS_COMPUTED, 0.0, 0.0),
        ("i3", "gradient", cp.BLURRED, 6.0, 0.6),
        ("i3", "model", cp.AS_COMPUTED, np.nan, 0.7),
    ]
    df = pd.DataFrame(rows, columns=["image", "method", "variant", "NSS", "CC"])
    if shuffle_seed is not None:
        df = df.sample(frac=1.0, random_state=shuffle_seed).reset_index(drop=True)
    return df


def test_main_rows_picks_variant_and_keeps_saliency_maps():
    df = hand_scores()
    blurred = cp.main_rows(df)
    assert list(zip(blurred.method, blurred.variant)) == [
        ("gradient", cp.BLURRED), ("model", cp.AS_COMPUTED)] * 3
    asc = cp.main_rows(df, cp.AS_COMPUTED)
    assert list(asc.NSS.fillna(-1)) == [1.0, 5.0, 3.0, 9.0, 0.0, -1]
    assert set(asc.variant) == {cp.AS_COMPUTED}
    with pytest.raises(ValueError, match="classifier_variant"):
        cp.main_rows(df, "blurred")


def test_mean_ci_table_known_means_and_nan_rows():
    df = hand_scores()
    t = cp.mean_ci_table(df, "NSS")
    assert list(t.index) == ["gradient", "model"]
    assert list(t.columns) == ["mean", "95 % low", "95 % high", "images", "misses"]
    assert t.loc["gradient", "misses"] == 0 and t.loc["model", "misses"] == 1
    assert t.loc["gradient", "mean"] == pytest.approx(4.0)    # 2, 4, 6 (blurred)
    assert t.loc["model", "mean"] == pytest.approx(7.0)       # 5, 9 (NaN left out)
    assert t.loc["gradient", "images"] == 3 and t.loc["model", "images"] == 2
    assert t["images"].dtype.kind == "i"
    for m in t.index:
        assert t.loc[m, "95 % low"] <= t.loc[m, "mean"] <= t.loc[m, "95 % high"]
    t2 = cp.mean_ci_table(df, "NSS", cp.AS_COMPUTED)
    assert t2.loc["gradient", "mean"] == pytest.approx(4.0 / 3)   # 1, 3, 0
    t3 = cp.mean_ci_table(df, "CC")
    assert t3.loc["gradient", "mean"] == pytest.approx(0.4) and t3.loc["gradient", "images"] == 2
    # the same seed, the same interval; the interval is the book's one mean_ci
    from saliency_utils.evaluate.stats import mean_ci

    assert tuple(t.loc["gradient", ["mean", "95 % low", "95 % high"]]) == pytest.approx(
        mean_ci([2.0, 4.0, 6.0], seed=0).triple())
    with pytest.raises(KeyError, match="SIM"):
        cp.mean_ci_table(df, "SIM")
    with pytest.raises(ValueError, match="classifier_variant"):
        cp.mean_ci_table(df, "NSS", "raw")
    allnan = df.assign(NSS=np.where(df.method == "model", np.nan, df.NSS))
    with pytest.raises(ValueError, match="model"):
        cp.mean_ci_table(allnan, "NSS")


def test_per_image_paired_difference_pairs_by_image_and_drops_nan():
    """The paired comparison of two maps: cp.per_image(a, b), then stats.mean_ci."""
    from saliency_utils.evaluate.stats import mean_ci

    df = hand_scores()
    v = cp.per_image(df, "NSS", "model", "gradient")
    # pairs: i1 (5 - 2), i2 (9 - 4); i3 has no model score
    assert list(v.index) == ["i1", "i2"] and v.attrs["misses"] == 1
    assert list(v) == pytest.approx([5 - 2, 9 - 4])
    d, lo, hi = mean_ci(v).triple()
    assert d == pytest.approx(((5 - 2) + (9 - 4)) / 2) and lo <= d <= hi
    assert cp.per_image(df, "NSS", "model", "gradient", cp.AS_COMPUTED).mean() == \
        pytest.approx(((5 - 1) + (9 - 3)) / 2)
    assert cp.per_image(df, "CC", "gradient", "model").mean() == \
        pytest.approx(((0.2 - 0.5) + (0.6 - 0.7)) / 2)  # i2 has no blurred CC
    # row order does not matter: rows are paired by image id
    for seed in range(4):
        w = cp.per_image(hand_scores(seed), "NSS", "model", "gradient")
        assert mean_ci(w).triple() == pytest.approx((d, lo, hi))
    # swapped: the negative difference
    assert cp.per_image(df, "NSS", "gradient", "model").mean() == pytest.approx(-d)
    with pytest.raises(KeyError, match="LRP"):
        cp.per_image(df, "NSS", "LRP", "gradient")
    with pytest.raises(KeyError):
        cp.per_image(df, "SIM", "model", "gradient")
    with pytest.raises(ValueError, match="classifier_variant"):
        cp.per_image(df, "NSS", "model", "gradient", "both")
    # no image with both scored
    disjoint = df.copy()
    disjoint.loc[(disjoint.method == "model") & (disjoint.image != "i3"), "NSS"] = np.nan
    disjoint.loc[(disjoint.method == "model") & (disjoint.image == "i3"), "NSS"] = 1.0
    disjoint.loc[(disjoint.variant == cp.BLURRED) & (disjoint.image == "i3"), "NSS"] = np.nan
    with pytest.raises(ValueError, match="no image has"):
        cp.per_image(disjoint, "NSS", "model", "gradient")


def _hand_box_run():
    """Two images of side 10, one box each; classifier 'gradient' and saliency map 'model'."""
    s = 10
    gt = [np.array([[0.0, 0, 5, 5]]), np.array([[5.0, 5, 10, 10]])]
    far = np.array([[6.0, 0, 10, 4], [0.0, 6, 4, 10]])
    box_sets = {"gradient, as computed": far,                          # both wrong: 100 %
                "gradient, 1° blur": np.stack([g[0] for g in gt]),     # both right: 0 %
                "model, as computed": np.stack([gt[0][0], far[1]])}    # one right: 50 %
    wsol = WSOLRun(labels=np.array([3, 4]), topk=np.array([[3] * 5, [4] * 5]), gt_boxes=gt,
                   boxes=box_sets)
    rows = [("a", "gradient", cp.AS_COMPUTED, 0.0, 0.1), ("a", "gradient", cp.BLURRED, 1.0, 0.6),
            ("a", "model", cp.AS_COMPUTED, 1.0, 0.8), ("b", "gradient", cp.AS_COMPUTED, 1.0, 0.3),
            ("b", "gradient", cp.BLURRED, 1.0, 0.4), ("b", "model", cp.AS_COMPUTED, 0.0, 0.2)]
    sc = pd.DataFrame(rows, columns=["image", "method", "variant", "pointing", "energy"])
    return cp.BoxRun(2, s, 1.0, [1.0, 1.0], sc, wsol, np.array([0.25, 0.25]), [], [], {})


def test_summary_known_values():
    fix = cp.FixationRun("osie_test", ["i1", "i2", "i3"], 24.0, hand_scores(),
                         np.array([1, 2, 3]), [], [], {})
    box = _hand_box_run()
    t = cp.summary([fix], box)
    assert t.columns.names == ["data", "score"] and t.index.name == "map"
    assert list(t.columns) == [("osie_test", "NSS"), ("osie_test", "CC"),
                               ("imagenet", "pointing game"), ("imagenet", "energy in boxes"),
                               ("imagenet", "GT-known loc. error (%)")]
    assert set(t.index) == {"gradient", "model"}
    assert t.loc["gradient", ("osie_test", "NSS")] == pytest.approx(4.0)
    assert t.loc["model", ("osie_test", "NSS")] == pytest.approx(7.0)
    assert t.loc["gradient", ("osie_test", "CC")] == pytest.approx(0.4)
    assert t.loc["gradient", ("imagenet", "pointing game")] == pytest.approx(1.0)
    assert t.loc["gradient", ("imagenet", "energy in boxes")] == pytest.approx(0.5)
    assert t.loc["model", ("imagenet", "pointing game")] == pytest.approx(0.5)
    assert t.loc["model", ("imagenet", "energy in boxes")] == pytest.approx(0.5)
    assert t.loc["gradient", ("imagenet", "GT-known loc. error (%)")] == pytest.approx(0.0)
    assert t.loc["model", ("imagenet", "GT-known loc. error (%)")] == pytest.approx(50.0)
    # as computed: the other classifier rows and makers, the saliency map unchanged
    t2 = cp.summary([fix], box, fixation_metrics=("NSS",), classifier_variant=cp.AS_COMPUTED)
    assert list(t2.columns) == [("osie_test", "NSS"), ("imagenet", "pointing game"),
                                ("imagenet", "energy in boxes"),
                                ("imagenet", "GT-known loc. error (%)")]
    assert t2.loc["gradient", ("osie_test", "NSS")] == pytest.approx(4.0 / 3)
    assert t2.loc["gradient", ("imagenet", "pointing game")] == pytest.approx(0.5)
    assert t2.loc["gradient", ("imagenet", "energy in boxes")] == pytest.approx(0.2)
    assert t2.loc["gradient", ("imagenet", "GT-known loc. error (%)")] == pytest.approx(100.0)
    assert t2.loc["model", ("imagenet", "GT-known loc. error (%)")] == pytest.approx(50.0)
    assert t2.loc["model", ("osie_test", "NSS")] == pytest.approx(7.0)
    # fixations only; two datasets
    fix2 = cp.FixationRun("mit1003", ["i1", "i2", "i3"], 30.0,
                          hand_scores().assign(NSS=lambda d: 2 * d.NSS), np.array([1, 2, 3]),
                          [], [], {})
    t3 = cp.summary([fix, fix2], None, fixation_metrics=("NSS",))
    assert list(t3.columns) == [("osie_test", "NSS"), ("mit1003", "NSS")]
    assert t3.loc["gradient", ("mit1003", "NSS")] == pytest.approx(8.0)
    with pytest.raises(ValueError, match="classifier_variant"):
        cp.summary([fix], None, classifier_variant="none")


# ------------------------------------------------------------------------------ fit_explainable
def test_fit_explainable_equals_the_hand_built_model():
    from saliency_utils.explain import loggabor_explain as lx
    from saliency_utils.explain.loggabor import LogGaborBank
    from saliency_utils.models.saliency_model import SaliencyModel

    torch.manual_seed(0)
    model = SaliencyModel("efficientnet_lite0", weights="default",
                          readout_layers=("stage3", "stage5", "head"), readout_hidden=4,
                          input_size=(64, 96), device="cpu")
    spec = lx.FeatureSpec(LogGaborBank(n_scales=2, n_orientations=4), lowpass=True,
                          context=(1.0,))
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8) for _ in range(4)]
    lams = [1e-3, 1e-1]
    em = lx.fit_explainable(model, "stage3", spec, imgs[:2], imgs[2:3], lambdas=lams)
    assert isinstance(em, lx.ExplainableModel) and list(em.fits) == ["stage3"]
    assert em.model is model and em.spec is spec
    fit = em.fits["stage3"]
    assert fit.layer == "stage3" and fit.lambdas == tuple(lams) and fit.lam in lams
    # by hand: statistics on the fit and validation images, then fit_layer
    st_fit = lx.collect_stats(model, imgs[:2], ["stage3"], spec)["stage3"]
    st_val = lx.collect_stats(model, imgs[2:3], ["stage3"], spec)["stage3"]
    hand = lx.ExplainableModel(model, {"stage3": lx.fit_layer("stage3", st_fit, st_val,
                                                              lambdas=lams)}, spec)
    np.testing.assert_allclose(fit.W, hand.fits["stage3"].W, rtol=1e-10)
    assert fit.lam == hand.fits["stage3"].lam
    pred, plain = em.predict(imgs[3]), model.predict(imgs[3])
    np.testing.assert_allclose(pred, hand.predict(imgs[3]), rtol=1e-6, atol=1e-12)
    # the layer is replaced: the prediction is not the model's
    assert pred.shape == plain.shape == (60, 80)
    assert np.abs(pred - plain).max() > 0.05 * plain.max()
    # validation images matter (they choose the penalty and join the refit)
    other = lx.fit_explainable(model, "stage3", spec, imgs[:2], imgs[1:2], lambdas=lams)
    assert not np.allclose(other.fits["stage3"].W, fit.W)
    # default penalties are the module's
    assert lx.fit_explainable(model, "stage3", spec, imgs[:2], imgs[2:3]).fits[
        "stage3"].lambdas == lx.DEFAULT_LAMBDAS
    with pytest.raises(KeyError):
        lx.fit_explainable(model, "nope", spec, imgs[:2], imgs[2:3])


def test_fit_explainable_and_prior_share_one_pass_of_statistics(monkeypatch):
    """The explainable and the prior-only model come from one collection of statistics (fit
    and validation images once each): the reconstruction is fit_explainable's, the prior-only
    model's constant is the layer's mean over the fit images (chapter 5's prior_only_model)."""
    from saliency_utils.explain import loggabor_explain as lx
    from saliency_utils.explain.loggabor import LogGaborBank
    from saliency_utils.models.saliency_model import SaliencyModel

    torch.manual_seed(0)
    model = SaliencyModel("efficientnet_lite0", weights="default",
                          readout_layers=("stage3", "stage5", "head"), readout_hidden=4,
                          input_size=(64, 96), device="cpu")
    spec = lx.FeatureSpec(LogGaborBank(n_scales=2, n_orientations=4), lowpass=True)
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8) for _ in range(4)]
    lams = [1e-3, 1e-1]
    st_fit = lx.collect_stats(model, imgs[:2], ["readout_input"], spec)["readout_input"]
    calls = []
    real = lx.collect_stats
    monkeypatch.setattr(lx, "collect_stats", lambda *a, **k: calls.append(1) or real(*a, **k))
    em, prior = lx.fit_explainable_and_prior(model, "readout_input", spec, imgs[:2], imgs[2:3],
                                             lambdas=lams)
    assert len(calls) == 2  # fit images once, validation images once
    monkeypatch.setattr(lx, "collect_stats", real)
    alone = lx.fit_explainable(model, "readout_input", spec, imgs[:2], imgs[2:3], lambdas=lams)
    np.testing.assert_allclose(em.fits["readout_input"].W, alone.fits["readout_input"].W,
                               rtol=1e-10)
    pf = prior.fits["readout_input"]
    assert pf.constant and not em.fits["readout_input"].constant
    np.testing.assert_allclose(pf.b, st_fit.sy / st_fit.n, rtol=1e-10)
    hand = lx.prior_only_model(model, "readout_input", st_fit, spec)
    np.testing.assert_allclose(prior.predict(imgs[3]), hand.predict(imgs[3]), rtol=1e-6)
    # no image content: the same map for two different images of one size
    np.testing.assert_allclose(prior.predict(imgs[3]), prior.predict(imgs[0]), atol=1e-6)
    assert np.abs(em.predict(imgs[3]) - em.predict(imgs[0])).max() > 0


@pytest.mark.parametrize("sigma", [np.nan, np.inf, -1.0])
def test_postprocess_rejects_non_finite_blur(sigma):
    with pytest.raises(ValueError, match="blur_sigma"):
        cp.postprocess(np.eye(5) + 0.1, (5, 5), sigma)


def test_per_image_all_nan_method_says_nothing_is_paired():
    df = pd.DataFrame({"image": ["a", "b", "a", "b"], "method": ["x", "x", "y", "y"],
                       "variant": [cp.AS_COMPUTED] * 4, "NSS": [np.nan, np.nan, 1.0, 2.0]})
    with pytest.raises(ValueError, match="no image has 'x' and 'y' scored"):
        cp.per_image(df, "NSS", "x", "y")
    with pytest.raises(KeyError, match="no method 'z'"):
        cp.per_image(df, "NSS", "z", "y")


def test_summary_keeps_the_order_of_the_runs():
    fix = pd.DataFrame({"image": ["a"] * 3, "method": ["gradient", "model", "centre"],
                        "variant": [cp.BLURRED, cp.AS_COMPUTED, cp.AS_COMPUTED], "NSS": [1.0, 2.0, 3.0]})
    run = cp.FixationRun("osie_test", ["a"], 24.0, fix, np.array([0]), [], [], {})
    t = cp.summary([run], None, fixation_metrics=("NSS",))
    assert list(t.index) == ["gradient", "model", "centre"]
    assert t[("osie_test", "NSS")].tolist() == [1.0, 2.0, 3.0]


# ------------------------------------------------------------------------------ from settings
def test_settings_constructors_match_the_hand_built_objects(bundle):
    """ClassifierExplainer.from_settings, FeatureSpec.from_settings and saliency_maps build
    what chapter 6 used to build by hand from the same settings."""
    from saliency_utils import data
    from saliency_utils.training import saliency as training
    from saliency_utils.explain import loggabor_explain as lx
    from saliency_utils.explain.loggabor import LogGaborBank
    from saliency_utils.book.profiles import settings
    from saliency_utils.models.saliency_model import SaliencyModel

    cfg, c5 = settings("ch6_cross_paper", "smoke"), settings("ch5_loggabor_explanation", "smoke")
    ex = cp.ClassifierExplainer.from_settings(cfg)
    assert (ex.backbone.name, ex.sg_samples, ex.sg_stdev, ex.ca, ex.workers, ex.seed) == \
        (cfg["backbone"], cfg["sg_samples"], cfg["sg_stdev"], dict(cfg["ca"]), cfg["workers"], cfg["seed"])
    spec = lx.FeatureSpec.from_settings(c5)
    assert spec == lx.FeatureSpec(LogGaborBank(**c5["bank"]), lowpass=c5["lowpass"], context=c5["context"])
    assert lx.FeatureSpec.from_settings(c5, compress=True).compress

    torch.manual_seed(0)
    model = SaliencyModel("efficientnet_lite0", weights="default",
                          readout_layers=("stage3", "stage5", "head"), readout_hidden=4,
                          input_size=(48, 64), device="cpu")
    c5_small = {**c5, "main_layer": "stage3"}
    sm = cp.saliency_maps(model, c5_small, n_fit=2, n_val=1)
    assert tuple(sm) == cp.SALIENCY_MAPS == ("saliency model", "log-Gabor reconstruction",
                                             "prior only", "centre bias")
    train, test = data.osie_split()
    img = data.load_osie_image(test[0])
    fit_imgs = [data.load_osie_image(i) for i in train[:2]]
    hand = lx.fit_explainable(model, "stage3", spec, fit_imgs, [data.load_osie_image(train[2])])
    np.testing.assert_allclose(sm["log-Gabor reconstruction"](img), hand.predict(img), rtol=1e-6)
    # the prior-only model of the same fit: the layer's mean over the fit images, everywhere
    st_fit = lx.collect_stats(model, fit_imgs, ["stage3"], spec)["stage3"]
    prior = lx.prior_only_model(model, "stage3", st_fit, spec)
    np.testing.assert_allclose(sm["prior only"](img), prior.predict(img), rtol=1e-6)
    assert np.abs(sm["prior only"](img) - sm["saliency model"](img)).max() > 0
    # on the readout input (every profile's layer) the prior-only map is the same for every
    # image of one size: computed once per size, and a caller cannot change the stored map
    sm = cp.saliency_maps(model, {**c5, "main_layer": "readout_input"}, n_fit=2, n_val=1)
    st_ri = lx.collect_stats(model, fit_imgs, ["readout_input"], spec)["readout_input"]
    prior = lx.prior_only_model(model, "readout_input", st_ri, spec)
    other = data.load_osie_image(test[1])
    assert other.shape == img.shape and not np.array_equal(other, img)
    first = sm["prior only"](img)
    np.testing.assert_allclose(first, prior.predict(img), rtol=1e-6)
    np.testing.assert_allclose(sm["prior only"](other), prior.predict(other), rtol=1e-5, atol=1e-9)
    first[:] = 0
    np.testing.assert_allclose(sm["prior only"](img), prior.predict(img), rtol=1e-6)
    small = img[:40, :50]
    assert sm["prior only"](small).shape == (40, 50)
    np.testing.assert_allclose(sm["saliency model"](img), model.predict(img))
    np.testing.assert_allclose(sm["centre bias"](img),
                               anchors.centre_bias_map(img.shape[:2], training.osie_centre_bias()))


@pytest.mark.slow
def test_unscorable_map_raises_by_default_and_bad_policy_is_an_error(bundle):
    """One failure policy: by default an unscorable map is an error naming image, map, variant."""
    from saliency_utils import data

    with pytest.raises(ValueError, match=r"image .*map 'const' \(as computed\): unscorable map"):
        cp.fixation_scores("osie_test", None, {"const": _constant_map}, n=2)
    with pytest.raises(ValueError, match="failure must be one of"):
        cp.fixation_scores("osie_test", None, {"const": _constant_map}, n=1, failure="skip")
    rec = data.imagenet_val()[:1]
    with pytest.raises(ValueError, match="unscorable map"):
        cp.box_scores(rec, None, {"const": _constant_map}, blur_px=2.0, size=S)
    with pytest.raises(ValueError, match="failure must be one of"):
        cp.box_scores(rec, None, {"const": _constant_map}, blur_px=2.0, size=S, failure="drop")
    run = cp.fixation_scores("osie_test", None, {"const": _constant_map}, n=2, failure="miss")
    assert run.misses == 2 and run.scores["NSS"].isna().all()


def test_per_image_values_differences_and_counted_misses():
    df = hand_scores(shuffle_seed=3)
    v = cp.per_image(df, "NSS", "gradient")
    assert dict(v) == {"i1": 2.0, "i2": 4.0, "i3": 6.0} and v.attrs["misses"] == 0
    d = cp.per_image(df, "NSS", "model", "gradient")
    assert dict(d) == {"i1": 3.0, "i2": 5.0} and d.attrs["misses"] == 1  # i3: model unscored
    assert cp.per_image(df, "NSS", "model", "gradient", cp.AS_COMPUTED).to_dict() == \
        {"i1": 4.0, "i2": 6.0}
    with pytest.raises(KeyError, match="LRP"):
        cp.per_image(df, "NSS", "LRP")
    with pytest.raises(KeyError, match="SIM"):
        cp.per_image(df, "SIM", "model")
    allnan = df.assign(NSS=np.where(df.method == "model", np.nan, df.NSS))
    with pytest.raises(ValueError, match="no image has"):
        cp.per_image(allnan, "NSS", "model")


@pytest.mark.slow
def test_one_image_examples_are_the_scorers_examples(fix_data, fix_run, box_data, box_run):
    """fixation_example / box_example (what the explorer shows beyond the first images) give
    the scorers' examples for the same image: same maps, density, boxes and explained class."""
    ids, imgs, fix, sigma = fix_data
    by_bytes = {imgs[i].tobytes(): i for i in ids}
    sal = {"oracle": lambda img: fix[by_bytes[img.tobytes()]].density(sigma),
           "centre": lambda img: anchors.centre_bias_map(img.shape[:2], (0.2, 0.2)),
           "noise": _noise_map, "const": _constant_map}
    for i in (0, 1):  # image 1 is second in its scoring batch: SmoothGrad's noise is the same
        e = cp.fixation_example("osie_test", i, explainer(), sal)
        want = fix_run.examples[i]
        assert (e["dataset"], e["id"], e["target"]) == ("osie_test", want["id"], want["target"])
        np.testing.assert_array_equal(e["image"], want["image"])
        np.testing.assert_allclose(e["density"], fix[ids[i]].density(sigma))
        np.testing.assert_allclose(e["density"], want["density"])
        assert set(e["maps"]) == set(want["maps"]) and "const" not in e["maps"]
        for k in want["maps"]:
            np.testing.assert_allclose(e["maps"][k], want["maps"][k], rtol=1e-4, atol=1e-6,
                                       err_msg=k)
    with pytest.raises(IndexError):
        cp.fixation_example("osie_test", 10_000, None, sal)
    recs, bimgs, size = box_data
    sal_b = {"oracle": _box_oracle(recs, bimgs, size), "noise": _noise_map, "const": _constant_map}
    b = cp.box_example(recs[0], explainer(), sal_b, blur_px=3.0)
    want = box_run.examples[0]
    assert b["target"] == want["target"] == recs[0].label and b["dataset"] == "imagenet"
    np.testing.assert_allclose(b["boxes"], want["boxes"])
    for k in ("oracle", "noise", *cp.CLASSIFIER_METHODS):
        np.testing.assert_allclose(b["maps"][k], want["maps"][k], rtol=1e-4, atol=1e-6, err_msg=k)
    with pytest.raises(ValueError, match="size"):
        cp.box_example(recs[0], None, sal_b, blur_px=3.0)


def test_explainer_sends_the_sr_search_to_the_backbones_cuda_device():
    """With the classifier on a GPU, the SR maps' distance search goes there too (dense SR maps
    take seconds each on a CPU); an explicit ``device`` in ``ca`` wins; on the CPU nothing is
    added. Only the configuration is checked here: no CUDA device is needed."""
    bb = tiny_backbone()
    on_gpu = dataclasses.replace(bb, device=torch.device("cuda", 0))
    assert cp.ClassifierExplainer(on_gpu, ca=CA).ca["device"] == torch.device("cuda", 0)
    assert cp.ClassifierExplainer(on_gpu, ca={**CA, "device": "cpu"}).ca["device"] == "cpu"
    assert "device" not in cp.ClassifierExplainer(bb, ca=CA).ca
    assert "device" not in CA  # the caller's dict is not changed
