"""UNISAL vendored for static images (saliency_utils.third_party.unisal) and its adapter
(saliency_utils.models.unisal): offline build, shapes, chapter 5's hook path, weight files."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from saliency_utils.explain import loggabor_explain as lx
from saliency_utils.evaluate import maps
from saliency_utils.models import unisal as us
from saliency_utils.explain.loggabor import LogGaborBank
from saliency_utils.book.profiles import settings
from saliency_utils.third_party.unisal import UNISAL
from saliency_utils.third_party.unisal.model import MobileNetV2

SIZE = (64, 96)


@pytest.fixture(scope="module")
def model():
    return us.load_unisal("random", seed=0, input_size=SIZE, device="cpu")


def _images(n, seed=0, shape=(60, 90)):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.integers(0, 256, size=(shape[0] // 6 + 1, shape[1] // 6 + 1, 3))
        img = np.kron(base, np.ones((6, 6, 1)))[: shape[0], : shape[1]]  # blocky: some structure
        out.append(img.astype(np.uint8))
    return out


def test_builds_offline_without_reading_or_downloading(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("UNISAL must build without reading or downloading weights")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    m = us.load_unisal("random", seed=3, input_size=SIZE, device="cpu")
    assert m.weights_source == "random initialisation (seed 3)"
    assert not any(k.startswith(("rnn.", "post_rnn.")) for k in m.net.state_dict())
    with pytest.raises(ValueError, match="does not load ImageNet weights"):
        MobileNetV2(pretrained=True, last_channel=1280)


def test_random_weights_are_seeded(model):
    again = us.load_unisal("random", seed=0, input_size=SIZE, device="cpu")
    other = us.load_unisal("random", seed=1, input_size=SIZE, device="cpu")
    a, b, c = (dict(m.net.state_dict()) for m in (model, again, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_forward_shapes_and_density(model):
    img = _images(1)[0]
    x = model.preprocess(img)
    assert tuple(x.shape) == (1, 3) + SIZE
    with torch.no_grad():
        out = model(x)
        big = model(x, target_size=(100, 150))
    assert tuple(out.shape) == (1,) + SIZE and tuple(big.shape) == (1, 100, 150)
    for o in (out, big):
        assert torch.isfinite(o).all()
        assert float(o.exp().sum()) == pytest.approx(1.0, abs=1e-4)
    p = model.predict(img)
    assert p.shape == img.shape[:2] and p.sum() == pytest.approx(1.0)
    # the map is UNISAL's density at the image's size
    lp = model.predict_log_density(img, target_size=img.shape[:2])
    np.testing.assert_allclose(p, np.exp(lp) / np.exp(lp).sum(), rtol=1e-5, atol=1e-12)


def test_layer_shapes(model):
    x = model.preprocess(_images(1)[0])
    acts = model.activations(x, us.CH5_LAYERS + ("readout", "post_cnn"))
    h, w = SIZE
    expect = {"feat_4x": (64, h // 8, w // 8), "feat_2x": (160, h // 16, w // 16),
              "feat_1x": (1280, h // 32, w // 32), "readout_input": (64, h // 8, w // 8),
              "readout": (1, h // 8, w // 8), "post_cnn": (256, h // 32, w // 32)}
    for k, shape in expect.items():
        assert tuple(acts[k].shape[1:]) == shape, k
    with pytest.raises(KeyError, match="unknown layer"):
        model.module("conv5_3")


def test_unisal_input_shape_rule():
    assert us.unisal_input_shape((600, 800)) == (288, 384)  # 4:3 -> the SALICON size
    assert us.unisal_input_shape((800, 600)) == (384, 288)
    assert us.unisal_input_shape((405, 1024)) == (256, 416)  # widest grid: 8 x 13
    assert us.unisal_input_shape((500, 500)) == (320, 320)  # 10 x 10
    m = us.UnisalModel(UNISAL(), "random", input_size=None, device="cpu")
    assert m.input_shape_for((600, 800)) == (288, 384)
    with pytest.raises(ValueError, match="multiples of 32"):
        us.UnisalModel(UNISAL(), "random", input_size=(60, 90), device="cpu")


def test_chapter5_hook_path(model):
    spec = lx.FeatureSpec(LogGaborBank(n_scales=2, n_orientations=2), lowpass=True, context=(2.0,))
    imgs = _images(5, seed=1)
    st_fit = lx.collect_stats(model, imgs[:3], list(us.CH5_LAYERS), spec)
    st_val = lx.collect_stats(model, imgs[3:], list(us.CH5_LAYERS), spec)
    channels = {"feat_4x": 64, "feat_2x": 160, "feat_1x": 1280, "readout_input": 64}
    for k in us.CH5_LAYERS:
        assert st_fit[k].images == 3 and st_fit[k].sy.shape[0] == channels[k]
        assert st_fit[k].sx.shape[0] == spec.n_features
    fits = {k: lx.fit_layer(k, st_fit[k], st_val[k]) for k in us.CH5_LAYERS}
    img = imgs[0]
    deep = model.predict(img)
    expl = lx.ExplainableModel(model, {"readout_input": fits["readout_input"]}, spec)
    p = expl.predict(img, **us.MAP_KWARGS)
    assert p.shape == img.shape[:2] and np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
    # the reconstruction is in place (random UNISAL's maps are nearly flat: compare log-densities)
    assert np.abs(np.log(p) - np.log(deep)).max() > 1e-5
    np.testing.assert_array_equal(model.predict(img), deep)  # and removed afterwards
    # an encoder layer too: its reconstruction replaces it and flows on into the decoder
    x = model.preprocess(img)
    base = model.activations(x, ["readout_input"])["readout_input"]
    with lx.Reconstruction(model, {"feat_4x": fits["feat_4x"]}, spec):
        got = model.activations(x, ["feat_4x", "readout_input"])
    rec = fits["feat_4x"].apply(spec.compute(lx.model_rgb(model, x).float(), got["feat_4x"].shape[-2:]))
    torch.testing.assert_close(got["feat_4x"], rec.to(got["feat_4x"].dtype))
    assert (got["readout_input"] - base).abs().max() > 1e-4 * base.abs().max()
    # prior-only: a constant readout input gives UNISAL's uniform map (priors enter earlier)
    prior = lx.prior_only_model(model, "readout_input", st_fit["readout_input"], spec)
    u = prior.predict(img, **us.MAP_KWARGS)
    assert isinstance(u, maps.UniformMap)


def _saved(tmp_path, sd, name="weights_best.pth"):
    path = tmp_path / name
    torch.save(sd, path)
    return path


def test_weights_round_trip(tmp_path, monkeypatch):
    src = us.load_unisal("random", seed=5, input_size=SIZE, device="cpu")
    sd = dict(src.net.state_dict())
    sd["rnn.cell0.weight"] = torch.zeros(3)  # released files carry the Bypass-RNN: dropped
    sd["post_rnn.0.weight"] = torch.zeros(2)
    path = _saved(tmp_path, sd)
    got = us.load_unisal(path, input_size=SIZE, device="cpu")
    own = got.net.state_dict()
    assert all(torch.equal(own[k], v) for k, v in src.net.state_dict().items())
    assert "weights_best.pth" in got.weights_source
    img = _images(1, seed=4)[0]
    np.testing.assert_allclose(got.predict(img), src.predict(img), rtol=1e-6)
    # a UNISAL training checkpoint, through the environment variable
    ck = _saved(tmp_path, {"model_state_dict": sd, "epoch": torch.tensor(3)}, "chkpnt.pth")
    monkeypatch.setenv(us.ENV_WEIGHTS, str(ck))
    assert us.weights_path() == ck
    env = us.load_unisal("env", input_size=SIZE, device="cpu")
    assert all(torch.equal(env.net.state_dict()[k], v) for k, v in own.items())


def test_env_unset(monkeypatch):
    monkeypatch.delenv(us.ENV_WEIGHTS, raising=False)
    assert us.weights_path() is None
    monkeypatch.setenv(us.ENV_WEIGHTS, "  ")
    assert us.weights_path() is None
    with pytest.raises(us.UnisalWeightsError, match=us.ENV_WEIGHTS) as e:
        us.load_unisal("env")
    assert us.WEIGHTS_URL in str(e.value)


def test_bad_weight_files(tmp_path):
    net_sd = dict(UNISAL().state_dict())
    missing = tmp_path / "nope.pth"
    with pytest.raises(us.UnisalWeightsError, match="not found.*nope.pth") as e:
        us.load_unisal(missing)
    assert us.ENV_WEIGHTS in str(e.value) and us.WEIGHTS_URL in str(e.value)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00\x01 not a torch file" * 10)
    with pytest.raises(us.UnisalWeightsError, match="cannot read UNISAL weights .*junk.pth"):
        us.load_unisal(junk)
    lfs = tmp_path / "lfs.pth"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n")
    with pytest.raises(us.UnisalWeightsError, match="Git LFS pointer"):
        us.load_unisal(lfs)
    html = tmp_path / "page.pth"
    html.write_text("<!DOCTYPE html><html><body>GitHub</body></html>")
    with pytest.raises(us.UnisalWeightsError, match="HTML page"):
        us.load_unisal(html)
    with pytest.raises(us.UnisalWeightsError, match="not a PyTorch state dict"):
        us.load_unisal(_saved(tmp_path, torch.zeros(3), "tensor.pth"))
    part = {k: v for k, v in net_sd.items() if not k.startswith("skip_2x.")}
    with pytest.raises(us.UnisalWeightsError, match=r"does not match UNISAL.*missing.*skip_2x"):
        us.load_unisal(_saved(tmp_path, part, "part.pth"))
    extra = dict(net_sd, **{"decoder.extra": torch.zeros(1)})
    with pytest.raises(us.UnisalWeightsError, match=r"unexpected.*decoder\.extra"):
        us.load_unisal(_saved(tmp_path, extra, "extra.pth"))
    key = "adaptation_salicon.0.weight"
    wrong = dict(net_sd, **{key: torch.zeros(2, 64, 1, 1)})
    with pytest.raises(us.UnisalWeightsError, match=rf"another shape.*{key}"):
        us.load_unisal(_saved(tmp_path, wrong, "wrong.pth"))
    with pytest.raises(ValueError, match="no 'imagenet' weights"):
        us.load_unisal("imagenet")


def test_inference_only(model):
    with pytest.raises(RuntimeError, match="inference only"):
        model.train()
    assert not model.training and not model.net.training


def test_profile_settings():
    s = {p: settings("ch5_loggabor_explanation", p) for p in ("smoke", "offline", "paper",
                                                               "paper-smoke")}
    assert not s["smoke"]["unisal_run"] and not s["offline"]["unisal_run"]
    assert s["paper"]["unisal_run"] and s["paper"]["unisal_input_size"] is None
    assert s["paper-smoke"]["unisal_run"] and s["paper-smoke"]["weights"] == "random"
    assert s["paper-smoke"]["unisal_input_size"] == s["smoke"]["unisal_input_size"]
    assert all(v % 32 == 0 for v in s["paper-smoke"]["unisal_input_size"])


def test_analysis_verdicts_plumbing():
    """loggabor_analysis.verdicts decides the chapter's five claims from an Analysis."""
    from saliency_utils.book import loggabor_analysis as la

    rng = np.random.default_rng(0)
    layers = list(us.CH5_LAYERS)
    sst = rng.gamma(4.0, 0.25, 30)
    rows = np.column_stack([sst * 0.3, sst])
    a = la.Analysis(
        network="test", layers=layers, main="readout_input", fits={}, recon_table=None,
        image_rows={"readout_input": rows},
        single_r2={k: rng.uniform(0, 1, 40) for k in layers},
        dominant_wavelength={k: rng.choice([3.0, 6.3, 13.2], 40) for k in layers},
        score_table=None, paired={"vs deep": rng.normal(0, 0.1, 30),
                                  "vs prior only": rng.normal(0.5, 0.1, 30)},
        diff_table=None,
        control_gain_rows={lab: np.column_stack([sst * 0.3, sst * 0.5, sst])
                           for lab in ("random filters", "Gabor filters", "multi-scale blur")})
    vs = la.verdicts(a, power=False)
    assert [v.claim.id for v in vs] == ["malladi2021.reconstruct", "malladi2021.single_filter",
                                        "malladi2021.coarser_with_depth",
                                        "malladi2021.explainable_comparable",
                                        "malladi2021.beats_controls"]
    a.control_gain_rows = {}
    assert "not tested" in la.verdicts(a, power=False)[-1].verdict
    a.layers = ["feat_4x", "readout_input"]
    with pytest.raises(ValueError, match="encoder layers"):
        la.verdicts(a, power=False)
