"""The one explanation verb (saliency_utils.explain.api): every method equals the function behind
it, passes are shared, bad input is refused."""
import numpy as np
import pytest
import torch

from saliency_utils.evaluate import anchors
from saliency_utils.explain import api, attribution, context_saliency, lrp
from saliency_utils.explain.api import Explanations, explain
from saliency_utils.models import classical
from tests.nets import small_cnn, tiny_backbone

CA = {"max_side": 24, "patch": 5, "k": 8, "scales": (1.0, 0.5), "ref_resolutions": (1.0,)}


@pytest.fixture(scope="module")
def net_x():
    torch.manual_seed(0)
    return small_cnn(), torch.randn(3, 3, 16, 16)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (140, 150, 3), dtype=np.uint8),
            rng.integers(0, 256, (130, 130, 3), dtype=np.uint8)]


def test_the_registry_names_every_map_of_the_book():
    assert set(api.METHODS) == {
        "gradient", "smoothgrad", "integrated_gradients", "deconvnet", "guided_backprop", "lrp",
        "sr", "saliency_model", "loggabor", "itti_koch", "spectral_residual", "image_signature",
        "centre_bias", "context_aware"}
    assert {m.kind for m in api.METHODS.values()} == {api.CLASSIFIER, api.IMAGE}
    # the randomisation checks take the same names for the same functions
    assert set(attribution.METHODS) <= set(api.METHODS)


@pytest.mark.parametrize("method,fn,kw", [
    ("gradient", attribution.gradient_saliency, {}),
    ("smoothgrad", attribution.smoothgrad, {"n_samples": 3, "stdev": 0.2, "seed": 4}),
    ("integrated_gradients", attribution.integrated_gradients, {"steps": 4}),
    ("deconvnet", attribution.deconvnet, {}),
    ("guided_backprop", attribution.guided_backprop, {"modify_relu6": False}),
])
def test_captum_methods_equal_the_functions_behind_them(net_x, method, fn, kw, tmp_path):
    net, x = net_x
    want = fn(net, x, [1, 2, 3], **kw)
    got = explain(net, x, method, target=[1, 2, 3], **kw)
    assert got.dtype == np.float32 and got.shape == (3, 16, 16)
    np.testing.assert_array_equal(got, want)
    # in batches and cached on disk: in_batches' maps (equal up to float rounding), in its cache
    batched = explain(net, x, method, target=[1, 2, 3], batch_size=2, cache=tmp_path, **kw)
    np.testing.assert_array_equal(batched, attribution.in_batches(fn, net, x, [1, 2, 3], batch_size=2, **kw))
    np.testing.assert_allclose(batched, want, rtol=1e-5, atol=1e-6)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert (tmp_path / f"{attribution._maps_key(fn, net, x, [1, 2, 3], kw)}.npy").exists()


def test_lrp_equals_lrp_on_the_canonised_network_in_every_mode():
    bb = tiny_backbone()
    x = bb.preprocess([np.full((32, 32, 3), v, np.uint8) for v in (30, 200)])
    res = lrp.lrp(lrp.canonise(bb.model), x, [5, 7], "epsilon")
    ex = Explanations(bb.model, x, [5, 7])  # BatchNorm in the network: canonised once here
    for mode in ("sum", "positive", "abs"):
        np.testing.assert_array_equal(ex.map("lrp", composite="epsilon", mode=mode),
                                      lrp.relevance_map(res.relevance, mode))
    assert ex.relevance("epsilon").targets == [5, 7]
    # a canonised copy passed in is used as it is (the caller keeps one for many batches)
    can = lrp.canonise(bb.model)
    assert lrp.is_canonical(can) and not lrp.is_canonical(bb.model)
    np.testing.assert_array_equal(explain(bb.model, x, "lrp", [5, 7], canonical=can, mode="abs"),
                                  lrp.relevance_map(lrp.lrp(can, x, [5, 7]).relevance, "abs"))


def test_sr_is_the_context_aware_saliency_of_the_authors_heatmap():
    bb = tiny_backbone()
    imgs = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(2)]
    x = bb.preprocess(imgs)
    can = lrp.canonise(bb.model)
    want = context_saliency.salient_relevance_maps(lrp.authors_heatmap(lrp.lrp(can, x, None).relevance), **CA)
    np.testing.assert_array_equal(explain(bb, imgs, "sr", **CA), want)  # a backbone preprocesses
    grad = attribution.gradient_abs(bb.model, x, [3, 4])
    np.testing.assert_array_equal(
        explain(bb, x, "sr", [3, 4], of="gradient", **CA),
        context_saliency.salient_relevance_maps(lrp.authors_heatmap(grad), **CA))
    with pytest.raises(ValueError, match="of must be"):
        explain(bb, x, "sr", of="image", **CA)


def test_one_pass_is_shared_between_the_maps_that_need_it(monkeypatch):
    bb = tiny_backbone()
    x = bb.preprocess([np.full((32, 32, 3), 90, np.uint8)])
    calls = {"lrp": 0, "grad": 0}
    real_lrp, real_grad = lrp.lrp, attribution.gradient_abs

    def counting_lrp(*a, **k):
        calls["lrp"] += 1
        return real_lrp(*a, **k)

    def counting_grad(*a, **k):
        calls["grad"] += 1
        return real_grad(*a, **k)
    monkeypatch.setattr(lrp, "lrp", counting_lrp)
    monkeypatch.setattr(attribution, "gradient_abs", counting_grad)
    ex = Explanations(bb, x, [2])
    ex.map("lrp", mode="abs"), ex.map("lrp", mode="positive"), ex.map("sr", **CA)
    ex.map("gradient"), ex.map("sr", of="gradient", **CA)
    assert calls == {"lrp": 1, "grad": 1}
    ex.map("lrp", composite="epsilon")  # another composite: another pass
    assert calls["lrp"] == 2
    np.testing.assert_array_equal(ex.map("gradient"), attribution.gradient_saliency(bb.model, x, [2]))


class _Model:
    def predict(self, image, exponent=None):
        h, w = image.shape[:2]
        return np.full((h, w), 1.0 / (h * w)) * (1 if exponent is None else exponent)


def test_image_methods_map_one_image_a_list_or_an_array(images):
    one = explain(_Model(), images[0], "saliency_model", exponent=2.0)
    assert one.shape == (140, 150) and np.isclose(one.sum(), 2.0)
    many = explain(_Model(), images, "saliency_model")
    assert [m.shape for m in many] == [(140, 150), (130, 130)]
    for name in ("itti_koch", "spectral_residual", "image_signature"):
        np.testing.assert_array_equal(explain(None, images[1], name), getattr(classical, name)(images[1]))
    np.testing.assert_array_equal(explain(None, images[0], "centre_bias", sigma_frac=(0.2, 0.3)),
                                  anchors.centre_bias_map((140, 150), (0.2, 0.3)))
    arr = np.stack([images[1], images[1][::-1]])
    ca = explain(None, arr, "context_aware", **CA)
    np.testing.assert_array_equal(ca, context_saliency.salient_relevance_maps(arr, **CA))
    np.testing.assert_array_equal(explain(None, images[1], "context_aware", **CA), ca[0])


def test_bad_calls_are_refused_with_a_clear_message(net_x, images):
    net, x = net_x
    with pytest.raises(ValueError, match="unknown method 'grad'"):
        explain(net, x, "grad")
    with pytest.raises(TypeError, match="takes no option.*n_samples"):
        explain(net, x, "gradient", n_samples=3)
    with pytest.raises(ValueError, match="Backbone as model"):
        explain(net, images, "gradient")
    with pytest.raises(TypeError, match="takes no model"):
        explain(net, images[0], "itti_koch")
    with pytest.raises(TypeError, match="needs sigma_frac"):
        explain(None, images[0], "centre_bias")
    with pytest.raises(TypeError, match="ExplainableModel"):
        explain(_Model(), images[0], "loggabor")
    with pytest.raises(ValueError, match="not a normalised tensor"):
        explain(_Model(), x, "saliency_model")
    with pytest.raises(TypeError, match="nn.Module or a Backbone"):
        explain(_Model(), x, "gradient")


def test_a_slice_shares_the_passes_made_and_on_constant_zero_keeps_going(monkeypatch):
    bb = tiny_backbone()
    imgs = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(3)]
    ex = Explanations(bb, imgs, [1, 2, 3])
    full = ex.map("sr", **CA)
    ex.map("gradient")
    calls = []
    monkeypatch.setattr(lrp, "lrp", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(attribution, "gradient_abs", lambda *a, **k: calls.append(1))
    head = ex[:2]
    np.testing.assert_array_equal(head.map("sr", **CA), full[:2])
    assert head.map("sr", of="gradient", **CA).shape == (2, 32, 32)
    assert head.relevance().targets == [1, 2] and not calls  # sliced, not recomputed
    with pytest.raises(TypeError, match="slice"):
        ex[0]
    monkeypatch.undo()
    # a network that puts no relevance anywhere: an error, or zero maps with on_constant="zero"
    silent = tiny_backbone()
    torch.nn.init.zeros_(silent.model[-1].weight)
    torch.nn.init.zeros_(silent.model[-1].bias)
    with pytest.raises(ValueError):
        explain(silent, imgs, "sr", [1, 2, 3], **CA)
    assert not explain(silent, imgs, "sr", [1, 2, 3], on_constant="zero", **CA).any()
