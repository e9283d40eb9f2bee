import numpy as np
import pytest
import torch

from saliency_utils.explain import loggabor_explain as lx
from saliency_utils.evaluate import maps
from saliency_utils.explain.loggabor import LogGaborBank, opponent_channels
from saliency_utils.models.saliency_model import SaliencyModel


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lite():
    # ImageNet weights (the offline package): random ones give vanishing activations
    torch.manual_seed(0)
    return SaliencyModel("efficientnet_lite0", weights="default",
                         readout_layers=("stage3", "stage5", "head"), readout_hidden=4,
                         input_size=(64, 96), device="cpu")


SPEC = lx.FeatureSpec(LogGaborBank(n_scales=2, n_orientations=4), lowpass=True, context=(1.0,))


def _stats(x, y):
    st = lx.LayerStats.zeros(x.shape[1], y.shape[1])
    for i in range(0, len(x), 37):  # streamed in pieces
        st.add(x[i:i + 37], y[i:i + 37])
    return st


def _synthetic(n, rng, w, noise=0.1):
    x = rng.normal(size=(n, w.shape[0])) * np.arange(1, w.shape[0] + 1) + 2.0
    y = x @ w + 0.5 + noise * rng.normal(size=(n, w.shape[1]))
    return x, y


def test_ridge_from_statistics_equals_direct_ridge():
    rng = np.random.default_rng(0)
    x, y = _synthetic(300, rng, rng.normal(size=(5, 3)))
    st = _stats(x, y)
    lam = 0.3
    (w, b), = lx._solve(st, [lam])
    # direct: standardise (population std), ridge on centred data with penalty lam * n
    mu, sd = x.mean(0), x.std(0)
    z = (x - mu) / sd
    beta = np.linalg.solve(z.T @ z + lam * len(x) * np.eye(5), z.T @ (y - y.mean(0)))
    np.testing.assert_allclose(w, beta / sd[:, None], rtol=1e-8)
    np.testing.assert_allclose(b, y.mean(0) - mu @ (beta / sd[:, None]), rtol=1e-8)
    # SSE from statistics equals the explicit sum
    np.testing.assert_allclose(lx._sse(st, w, b), ((y - x @ w - b) ** 2).sum(0), rtol=1e-8)
    np.testing.assert_allclose(st.sst(), ((y - y.mean(0)) ** 2).sum(0), rtol=1e-10)
    # float32 inputs (the network's precision): products in float32, sums in float64
    st32 = _stats(x.astype(np.float32), y.astype(np.float32))
    (w32, b32), = lx._solve(st32, [lam])
    np.testing.assert_allclose(w32, w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lx._sse(st32, w32, b32), lx._sse(st, w, b), rtol=1e-3)


def test_fit_recovers_a_linear_map_and_scores_held_out_data():
    rng = np.random.default_rng(1)
    w_true = rng.normal(size=(6, 4))
    fit, val, test = (_stats(*_synthetic(n, rng, w_true)) for n in (400, 200, 300))
    lf = lx.fit_layer("toy", fit, val)
    np.testing.assert_allclose(lf.W, w_true, atol=0.02)
    r2, active = lx.r2_per_channel(test, lf)
    assert active.all() and (r2 > 0.99).all()
    assert lx.explained_variance(test, lf) > 0.99
    assert lf.lam in lf.lambdas and len(lf.val_explained) == len(lf.lambdas)
    # pure noise is not explained on held-out data
    noise = [_stats(rng.normal(size=(n, 6)), rng.normal(size=(n, 2))) for n in (300, 100, 300)]
    lf0 = lx.fit_layer("noise", noise[0], noise[1])
    assert lx.explained_variance(noise[2], lf0) < 0.02


def test_constant_channel_is_flagged_not_averaged():
    rng = np.random.default_rng(2)
    x, y = _synthetic(200, rng, rng.normal(size=(3, 2)))
    y = np.concatenate([y, np.full((200, 1), 4.0)], axis=1)
    st = _stats(x, y)
    lf = lx.fit_layer("c", st, st)
    r2, active = lx.r2_per_channel(st, lf)
    assert list(active) == [True, True, False]
    assert np.isnan(r2[2]) and np.isfinite(r2[:2]).all()
    const = _stats(x, np.full((200, 2), 1.0))
    with pytest.raises(ValueError, match="constant"):
        lx.fit_layer("k", const, const)


def test_groups_and_best_single_feature_find_the_source():
    rng = np.random.default_rng(3)
    w = np.zeros((6, 2))
    w[4, 0] = 2.0  # channel 0 <- feature 4 only
    w[1, 1], w[2, 1] = 1.0, -1.0  # channel 1 <- features 1 and 2
    fit, val, test = (_stats(*_synthetic(n, rng, w, noise=0.05)) for n in (400, 200, 300))
    groups = {"A": np.array([0, 1, 2]), "B": np.array([3, 4, 5])}
    layer, per_ch = lx.group_r2(fit, val, test, 1e-3, groups)
    assert per_ch.shape == (2, 2)
    assert per_ch[1, 0] > 0.99 and per_ch[0, 0] < 0.05  # channel 0: group B
    assert per_ch[0, 1] > 0.99 and per_ch[1, 1] < 0.05  # channel 1: group A
    best, r2 = lx.best_single_feature(fit, test)
    assert best[0] == 4 and r2[0] > 0.99
    assert best[1] == 2 and 0.1 < r2[1] < 0.95  # one of its two features: partly explained


def test_feature_spec_names_shapes_and_groups():
    names = SPEC.names
    assert len(names) == SPEC.n_features == (3 * 2 * 4 + 3) * 2
    rgb = torch.rand(2, 3, 48, 64)
    f = SPEC.compute(rgb, (6, 8))
    assert f.shape == (2, SPEC.n_features, 6, 8)
    assert torch.isfinite(f).all()
    g = lx.feature_groups(SPEC, "scale")
    assert len(g) == 2 and all(len(v) == 3 * 4 * 2 for v in g.values())
    assert len(lx.feature_groups(SPEC, "orientation")) == 4
    ch = lx.feature_groups(SPEC, "channel")
    assert set(ch) == {"L", "RG", "BY"} and all(len(v) == (2 * 4 + 1) * 2 for v in ch.values())
    with pytest.raises(ValueError):
        lx.feature_groups(SPEC, "colour")
    # variants: compressed energy is the square root before pooling; signed adds even and odd
    comp = lx.FeatureSpec(SPEC.bank, lowpass=False, compress=True)
    plain = lx.FeatureSpec(SPEC.bank, lowpass=False)
    torch.testing.assert_close(comp.energy_maps(rgb), plain.energy_maps(rgb).sqrt())
    signed = lx.FeatureSpec(SPEC.bank, lowpass=True, signed=True)
    assert signed.n_features == 3 * (3 * 2 * 4) + 3
    maps = signed.energy_maps(rgb)
    n_e = 3 * 2 * 4
    torch.testing.assert_close(maps[:, :n_e], plain.energy_maps(rgb), rtol=1e-4, atol=1e-5)
    r = SPEC.bank.responses(opponent_channels(rgb)).reshape(2, n_e, 48, 64)
    torch.testing.assert_close(maps[:, n_e:2 * n_e], r.real)
    torch.testing.assert_close(maps[:, 2 * n_e:3 * n_e], r.imag)
    assert [d["kind"] for d in signed.names[n_e - 1:n_e + 1]] == ["energy", "even"]
    with pytest.raises(ValueError):
        lx.FeatureSpec(context=(0.0,))
    with pytest.raises(TypeError):
        lx.FeatureSpec(bank="kovesi")


def test_features_see_orientation_of_a_grating():
    y = np.arange(64)[:, None] * np.ones((1, 64))
    img = 0.5 + 0.4 * np.cos(2 * np.pi * y / 4.0)  # horizontal bars, wavelength 4 px
    rgb = torch.from_numpy(np.repeat(img[None, None], 3, 1)).float()
    spec = lx.FeatureSpec(LogGaborBank(n_scales=2, n_orientations=4, min_wavelength=4.0),
                          lowpass=False)
    f = spec.compute(rgb, (4, 4))[0].mean(dim=(1, 2))
    i = int(torch.argmax(f))
    assert spec.names[i] == dict(kind="energy", channel="L", scale=0, orientation=0, context=0.0)


def test_collect_stats_and_reconstruction_hook(lite):
    rng = np.random.default_rng(4)
    imgs = [rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8) for _ in range(3)]
    layers = ["stage3", "head", "readout_input"]
    st = lx.collect_stats(lite, imgs, layers, SPEC)
    h, w = lite.input_shape_for((60, 80))
    assert st["stage3"].n == 3 * (h // 8) * (w // 8) and st["stage3"].images == 3
    assert st["readout_input"].sy.shape == (40 + 112 + 1280,)
    fits = {n: lx.fit_layer(n, st[n], st[n]) for n in layers}
    x = lite.preprocess(imgs[0], size=(h, w))
    plain = lite.activations(x, layers)
    with lx.Reconstruction(lite, {"stage3": fits["stage3"]}, SPEC):
        hooked = lite.activations(x, layers)
    expected = fits["stage3"].apply(SPEC.compute(lx.model_rgb(lite, x), (h // 8, w // 8)))
    torch.testing.assert_close(hooked["stage3"], expected, rtol=1e-4, atol=1e-4)
    # the rest of the net ran on the reconstruction
    diff = (hooked["head"] - plain["head"]).abs().max()
    assert diff > 1e-2 * plain["head"].abs().max()
    torch.testing.assert_close(lite.activations(x, layers)["stage3"], plain["stage3"])  # removed
    em = lx.ExplainableModel(lite, {"readout_input": fits["readout_input"]}, SPEC)
    sal = em.predict(imgs[1])
    assert sal.shape == (60, 80) and np.isfinite(sal).all()
    assert sal.sum() == pytest.approx(1.0)
    assert np.abs(sal - lite.predict(imgs[1])).max() > 1e-2 * sal.max()
    # a reconstruction that is the layer's own mean leaves the readout a constant input
    flat = lx.LayerFit("readout_input", 1.0, np.zeros_like(fits["readout_input"].W),
                       fits["readout_input"].b, (1.0,), np.zeros(1))
    logp = lx.ExplainableModel(lite, {"readout_input": flat}, SPEC).predict_log_density(imgs[2])
    logp_b = lx.ExplainableModel(lite, {"readout_input": flat}, SPEC).predict_log_density(imgs[0])
    np.testing.assert_allclose(logp, logp_b, atol=1e-5)  # image content no longer matters
    plain_a, plain_b = lite.predict_log_density(imgs[2]), lite.predict_log_density(imgs[0])
    assert np.abs(plain_a - plain_b).max() > 1e-2  # ... while it does for the model


def test_works_for_the_paper_profiles_vgg16_layers():
    torch.manual_seed(0)
    vgg = SaliencyModel("vgg16", weights=None, readout_hidden=0, centre_bias="none",
                        input_size=(48, 64), device="cpu")
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8) for _ in range(2)]
    layers = ["conv3_3", "conv5_3", "readout_input"]
    st = lx.collect_stats(vgg, imgs, layers, SPEC)
    assert st["conv3_3"].sy.shape == (256,) and st["conv3_3"].n == 2 * 12 * 16
    assert st["conv5_3"].n == 2 * 3 * 4 and st["readout_input"].sy.shape == (512,)
    fits = {k: lx.fit_layer(k, st[k], st[k]) for k in layers}
    sal = lx.ExplainableModel(vgg, {"conv3_3": fits["conv3_3"]}, SPEC).predict(imgs[0])
    assert sal.shape == (48, 64) and sal.sum() == pytest.approx(1.0)


def test_bad_inputs(lite):
    img = np.zeros((40, 40, 3), dtype=np.uint8)
    with pytest.raises(KeyError):
        lx.collect_stats(lite, [img], ["nope"], SPEC)
    with pytest.raises(ValueError):
        lx.collect_stats(lite, [], ["stage3"], SPEC)
    with pytest.raises(ValueError):
        lx.collect_stats(lite, [img], [], SPEC)
    st = lx.LayerStats.zeros(3, 2)
    with pytest.raises(ValueError):
        st.add(np.zeros((4, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError):
        st.add(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        st.add(np.full((4, 3), np.nan), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        lx.fit_layer("x", st, st)  # no positions
    rng = np.random.default_rng(0)
    ok = _stats(rng.normal(size=(50, 3)), rng.normal(size=(50, 2)))
    with pytest.raises(ValueError):
        lx.fit_layer("x", ok, ok, lambdas=[0.0])
    with pytest.raises(ValueError):
        lx.fit_layer("x", ok, ok, features=[])
    lf = lx.fit_layer("x", ok, ok)
    with pytest.raises(ValueError):
        lf.apply(torch.zeros(1, 5, 2, 2))
    with pytest.raises(ValueError):
        lx.Reconstruction(lite, {}, SPEC)
    with pytest.raises(KeyError):
        lx.ExplainableModel(lite, {"nope": lf}, SPEC)
    with pytest.raises(ValueError):
        with lx.Reconstruction(lite, {"stage3": lf}, SPEC):  # 2 channels, the layer has 40
            lite.predict(np.zeros((64, 96, 3), dtype=np.uint8))


@pytest.mark.slow
def test_figrim_eval_set(bundle):
    from saliency_utils.evaluate.scoring import FixationDataset

    ds = FixationDataset.named("figrim", 3)
    fix = ds.fixation_sets()
    assert len(ds) == len(fix) == 3
    assert all(f.shape == (1000, 1000) and len(f) > 50 for f in fix)


def test_collect_stats_sets_equals_one_set_at_a_time(lite):
    rng = np.random.default_rng(6)
    imgs = [rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8) for _ in range(2)]
    gabor = lx.control_spec(SPEC, "gabor")
    both = lx.collect_stats_sets(lite, imgs, {"lg": (SPEC, ["stage3", "readout_input"]),
                                              "gabor": (gabor, ["readout_input"])})
    assert set(both) == {"lg", "gabor"} and set(both["gabor"]) == {"readout_input"}
    one = lx.collect_stats(lite, imgs, ["readout_input"], gabor)["readout_input"]
    np.testing.assert_allclose(both["gabor"]["readout_input"].sxy, one.sxy, rtol=1e-6)
    lg = lx.collect_stats(lite, imgs, ["stage3"], SPEC)["stage3"]
    np.testing.assert_allclose(both["lg"]["stage3"].sxx, lg.sxx, rtol=1e-6)
    assert not np.allclose(both["lg"]["readout_input"].sxy, one.sxy)  # different features
    with pytest.raises(ValueError):
        lx.collect_stats_sets(lite, imgs, {})
    with pytest.raises(TypeError):
        lx.collect_stats_sets(lite, imgs, {"x": ("spec", ["stage3"])})


def test_prior_only_model_is_the_prior_without_image_content(lite):
    rng = np.random.default_rng(7)
    imgs = [rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8) for _ in range(3)]
    st = lx.collect_stats(lite, imgs, ["readout_input"], SPEC)["readout_input"]
    mf = lx.mean_fit("readout_input", st)
    assert mf.constant and not lx.fit_layer("readout_input", st, st).constant
    np.testing.assert_allclose(mf.b, st.sy / st.n)
    prior = lx.prior_only_model(lite, "readout_input", st, SPEC)
    h, w = lite.input_shape_for((60, 80))
    x = lite.preprocess(imgs[0], size=(h, w))
    with lx.Reconstruction(lite, prior.fits, SPEC):
        ri = lite.activations(x, ["readout_input"])["readout_input"]
    torch.testing.assert_close(ri[0, :, 0, 0], torch.as_tensor(mf.b, dtype=ri.dtype))
    assert float(ri.std(dim=(2, 3)).max()) == 0.0  # the same vector at every position
    # the map: the learned prior, renormalised (softmax removes the readout's constant output)
    logp = prior.predict_log_density(imgs[1])
    with torch.no_grad():
        log_prior = lite.prior((h, w)).cpu().numpy().reshape(h, w)
    want = log_prior - np.log(np.exp(log_prior).sum())
    np.testing.assert_allclose(logp.reshape(h, w), want, atol=1e-4)
    np.testing.assert_allclose(prior.predict(imgs[2]), prior.predict(imgs[0]), atol=1e-6)


def test_retained_share_is_a_ratio_of_means():
    rows = np.array([[1.0, 2.0, 0.0], [2.0, 3.0, 1.0]])  # means 1.5, 2.5, 0.5
    assert lx.retained_share(rows) == pytest.approx(0.5)
    assert np.isnan(lx.retained_share(np.array([[1.0, 1.0, 1.0]])))
    with pytest.raises(ValueError):
        lx.retained_share(np.ones((3, 2)))


def test_prior_only_model_of_a_model_without_prior_is_the_uniform_map():
    """The paper preset has no learned prior: its prior-only map is constant, and it is returned
    as the uniform map (scored at chance), not as an unscorable constant."""
    torch.manual_seed(0)
    plain = SaliencyModel("efficientnet_lite0", weights="random", readout_layers=("stage3",),
                          readout_hidden=0, centre_bias="none", input_size=(64, 96), device="cpu")
    rng = np.random.default_rng(8)
    imgs = [rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8) for _ in range(2)]
    st = lx.collect_stats(plain, imgs, ["readout_input"], SPEC)["readout_input"]
    prior = lx.prior_only_model(plain, "readout_input", st, SPEC)
    m = prior.predict(imgs[0])
    assert isinstance(m, maps.UniformMap) and m.shape == (60, 80)
    np.testing.assert_allclose(m, 1 / m.size)
    # the explainable model of the same model is not flagged: a constant map there is a bug
    assert not lx.ExplainableModel(plain, prior.fits, SPEC).constant_is_uniform


def test_stats_on_the_coarsest_grid_pool_every_layer_to_it(lite):
    """grid="coarsest": the deepest layer's statistics are its own-grid ones; a shallower
    layer's are those of its activations average-pooled to the deepest grid, against the
    energies pooled to that grid."""
    import torch.nn.functional as F

    rng = np.random.default_rng(9)
    imgs = [rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8) for _ in range(2)]
    own = lx.collect_stats(lite, imgs, ["stage3", "head"], SPEC)
    fixed = lx.collect_stats(lite, imgs, ["stage3", "head"], SPEC, grid="coarsest")
    np.testing.assert_allclose(fixed["head"].sxy, own["head"].sxy, rtol=1e-6)
    assert fixed["head"].n == own["head"].n and fixed["stage3"].n == own["head"].n
    assert own["stage3"].n > fixed["stage3"].n
    # by hand for one image: pooled activations against the energies at the coarse size
    x = lite.preprocess(imgs[0], size=lite.input_shape_for((60, 80)))
    acts = lite.activations(x, ["stage3", "head"])
    coarse = tuple(acts["head"].shape[-2:])
    a = F.adaptive_avg_pool2d(acts["stage3"].float(), coarse)
    feats = SPEC.pool(SPEC.energy_maps(lx.model_rgb(lite, x).float()), coarse)
    one = lx.collect_stats(lite, imgs[:1], ["stage3", "head"], SPEC, grid="coarsest")["stage3"]
    fx = feats.flatten(2).transpose(1, 2).reshape(-1, feats.shape[1]).double().numpy()
    ay = a.flatten(2).transpose(1, 2).reshape(-1, a.shape[1]).double().numpy()
    np.testing.assert_allclose(one.sxy, fx.T @ ay, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="grid"):
        lx.collect_stats(lite, imgs, ["head"], SPEC, grid="finest")
