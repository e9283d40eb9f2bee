"""Gradient attributions: analytic toy cases, ReLU6 handling, EfficientNet-Lite0, sanity check."""
import matplotlib.cbook as cbook
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from saliency_utils.explain import attribution as A
from nets import Linear, small_cnn



@pytest.fixture(scope="module")
def toy():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, 5, 6, generator=g)
    x = torch.randn(2, 3, 5, 6, generator=g)
    return Linear(w).eval(), w, x


def test_gradient_saliency_of_a_linear_model_is_channel_max_abs_weight(toy):
    model, w, x = toy
    m = A.gradient_saliency(model, x, [1, 3])
    assert m.shape == (2, 5, 6) and m.dtype == np.float32
    np.testing.assert_allclose(m[0], w[1].abs().amax(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(m[1], w[3].abs().amax(0).numpy(), rtol=1e-6)
    # int target = same class for all; None = top-1 prediction
    np.testing.assert_array_equal(A.gradient_saliency(model, x, 1)[1], m[0])
    top = model(x).argmax(1).tolist()
    np.testing.assert_allclose(A.gradient_saliency(model, x, None)[0],
                               w[top[0]].abs().amax(0).numpy(), rtol=1e-6)


def test_other_methods_on_a_linear_model(toy):
    model, w, x = toy
    wc = w[2].abs().amax(0).numpy()
    # constant gradient: SmoothGrad = gradient, deconvnet / guided backprop = gradient (no ReLU)
    np.testing.assert_allclose(A.smoothgrad(model, x, 2, n_samples=3)[0], wc, rtol=1e-5)
    with pytest.warns(UserWarning, match="no nn.ReLU"):
        np.testing.assert_allclose(A.guided_backprop(model, x, 2)[0], wc, rtol=1e-6)
    # IG of a linear model = (x - baseline) * w exactly
    ig = A.integrated_gradients(model, x, 2, steps=4)
    np.testing.assert_allclose(ig, (x * w[2]).abs().amax(1).numpy(), rtol=1e-5)
    base = torch.full_like(x, 0.5)
    ig = A.integrated_gradients(model, x, 2, steps=4, baseline=base)
    np.testing.assert_allclose(ig, ((x - 0.5) * w[2]).abs().amax(1).numpy(), rtol=1e-4)


def test_channel_max():
    a = torch.tensor([[[[1.0, -5.0]], [[-3.0, 2.0]]]])  # 1 x 2 x 1 x 2
    np.testing.assert_array_equal(A.channel_max(a), [[[3.0, 5.0]]])
    np.testing.assert_array_equal(A.channel_max(a.numpy()[0]), [[3.0, 5.0]])


def relu6_mlp():
    """x (1 x 1 x 1 x 3) -> Linear(3, 3) -> ReLU6 -> Linear(3, 2); hidden pre-activations
    z = (-1, 3, 8) at x = (1, 1, 1): one below 0, one inside (0, 6), one above 6."""
    l1, l2 = nn.Linear(3, 3, bias=False), nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[-1.0, 0, 0], [0, 3, 0], [0, 0, 8]]) +
                        torch.tensor([[0.0, 0, 0], [1, 0, -1], [0, 0, 0]]))
        l2.weight.copy_(torch.tensor([[2.0, -1.0, 3.0], [1.0, 1.0, 1.0]]))
    model = nn.Sequential(nn.Flatten(), l1, nn.ReLU6(), l2).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, l1.weight.clone(), l2.weight[0].clone()


def test_relu6_rules_are_exact():
    model, w1, g = relu6_mlp()
    x = torch.ones(1, 1, 1, 3)
    z = (x.flatten(1) @ w1.T)[0]
    assert z.tolist() == [-1.0, 3.0, 8.0]
    inside = ((z > 0) & (z < 6)).float()
    expect = {
        A.gradient_saliency: (g * inside) @ w1,
        A.guided_backprop: (g.clamp(min=0) * inside) @ w1,
        A.deconvnet: g.clamp(min=0) @ w1,
    }
    for fn, e in expect.items():
        np.testing.assert_allclose(fn(model, x, 0)[0, 0], e.abs().numpy(), rtol=1e-6,
                                   err_msg=fn.__name__)
    # captum alone leaves ReLU6 untouched: guided backprop = plain gradient
    with pytest.warns(UserWarning, match="ReLU6 not modified"):
        plain = A.guided_backprop(model, x, 0, modify_relu6=False)
    np.testing.assert_allclose(plain[0, 0], expect[A.gradient_saliency].abs().numpy(), rtol=1e-6)


def test_relu6_swap_is_temporary_and_keeps_the_forward():
    model = small_cnn(act=nn.ReLU6)
    x = torch.randn(2, 3, 8, 8)
    y = model(x)
    with A.relu6_as_relu(model) as n:
        assert n == 2
        assert all(not isinstance(m, nn.ReLU6) for m in model.modules())
        assert torch.equal(model(x), y)
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 2
    assert not any(isinstance(m, A.ReLU6AsReLU) for m in model.modules())


def test_guided_backprop_differs_from_gradient_on_a_relu_net():
    model = small_cnn()
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    g = A.gradient_saliency(model, x, 3)
    gb = A.guided_backprop(model, x, 3)
    dc = A.deconvnet(model, x, 3)
    assert gb.shape == g.shape == dc.shape == (2, 12, 12)
    assert not np.allclose(gb, g) and not np.allclose(dc, g)


def test_determinism_and_input_untouched():
    model = small_cnn()
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    x0 = x.clone()
    for name, fn in A.METHODS.items():
        kw = {"n_samples": 4} if name == "smoothgrad" else {}
        np.testing.assert_array_equal(fn(model, x, [1, 2], **kw), fn(model, x, [1, 2], **kw),
                                      err_msg=name)
    assert torch.equal(x, x0) and not x.requires_grad and x.grad is None
    assert not np.array_equal(A.smoothgrad(model, x, 1, n_samples=4, seed=0),
                              A.smoothgrad(model, x, 1, n_samples=4, seed=1))


@pytest.mark.parametrize("x,target,msg", [
    (torch.zeros(3, 12, 12), 0, "4-D"),
    (torch.zeros(1, 3, 12, 12), 10, "out of range"),
    (torch.zeros(2, 3, 12, 12), [0, 10], "out of range"),
    (torch.zeros(1, 3, 12, 12), -1, ">= 0"),
    (torch.zeros(2, 3, 12, 12), [0, 1, 2], "one class per image"),
    (torch.zeros(1, 3, 12, 12), 1.5, "int"),
    (torch.zeros(1, 3, 12, 12, dtype=torch.int64), 0, "float"),
    (np.zeros((1, 3, 12, 12), np.float32), 0, "torch.Tensor"),
])
def test_bad_input_raises(x, target, msg):
    model = small_cnn()
    for fn in (A.gradient_saliency, A.guided_backprop, A.integrated_gradients):
        with pytest.raises(ValueError, match=msg):
            fn(model, x, target)


def test_cascading_randomisation_destroys_the_map():
    model = small_cnn(seed=3)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    before = [p.clone() for p in model.parameters()]
    res = A.cascading_randomisation(model, x, 4, "gradient", ["6", "2", "0"], seed=0)
    assert [n for n, _ in res] == ["original", "6", "2", "0"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # deep copy
    rho = [A.rank_correlation(res[0][1][0], m[0]) for _, m in res]
    assert rho[0] == pytest.approx(1.0)
    assert rho[-1] < 0.5, rho
    # reproducible, and the factory form gives the same result
    res2 = A.cascading_randomisation(lambda: small_cnn(seed=3), x, 4, A.gradient_saliency,
                                     ["6", "2", "0"], seed=0)
    for (_, a), (_, b) in zip(res, res2):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no parameters"):
        A.cascading_randomisation(model, x, 4, "gradient", ["1"])


def test_rank_correlation():
    a = np.arange(12.0).reshape(3, 4)
    assert A.rank_correlation(a, a ** 3) == pytest.approx(1.0)
    assert A.rank_correlation(a, -a) == pytest.approx(-1.0)
    assert np.isnan(A.rank_correlation(a, np.ones_like(a)))
    with pytest.raises(ValueError, match="shapes"):
        A.rank_correlation(a, a.T)


# -- the real network ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lite0():
    from saliency_utils.models.backbones import load_backbone
    bb = load_backbone("efficientnet_lite0", device="cpu")
    img = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
                     .convert("RGB"))
    return bb, bb.preprocess(img)


def test_efficientnet_gradient_map(lite0):
    bb, x = lite0
    m = A.gradient_saliency(bb.model, x, None)
    assert m.shape == (1, 224, 224)
    assert np.isfinite(m).all() and m.std() > 0 and m.min() >= 0
    np.testing.assert_array_equal(m, A.gradient_saliency(bb.model, x, None))


def test_efficientnet_guided_backprop_uses_relu6_rule(lite0):
    bb, x = lite0
    g = A.gradient_saliency(bb.model, x, 652)
    gb = A.guided_backprop(bb.model, x, 652)
    assert np.isfinite(gb).all() and gb.std() > 0
    assert A.rank_correlation(g[0], gb[0]) < 0.9  # modified at every ReLU6
    assert sum(isinstance(mod, nn.ReLU6) for mod in bb.model.modules()) == 33  # restored


def test_smoothgrad_of_an_image_does_not_depend_on_its_batch():
    """An image's SmoothGrad map is the same alone, first or second in a batch, or in another
    batch: the noise is re-seeded per image."""
    model = small_cnn()
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    batch = A.smoothgrad(model, x, [1, 2, 3], n_samples=4, seed=5)
    for i, t in enumerate([1, 2, 3]):
        alone = A.smoothgrad(model, x[i:i + 1], t, n_samples=4, seed=5)
        np.testing.assert_allclose(alone[0], batch[i], rtol=1e-5, atol=1e-7)
    swapped = A.smoothgrad(model, x[[2, 0]], [3, 1], n_samples=4, seed=5)
    np.testing.assert_allclose(swapped, batch[[2, 0]], rtol=1e-5, atol=1e-7)


def test_in_batches_gives_the_maps_of_one_batch():
    net = small_cnn().eval()
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    targets = np.array([0, 3, 1, 7, 2])
    for method, kw in ((A.gradient_saliency, {}), (A.smoothgrad, {"n_samples": 3}),
                       (A.guided_backprop, {})):
        whole = method(net, x, targets, **kw)
        batched = A.in_batches(method, net, x, targets, batch_size=2, **kw)
        assert batched.shape == whole.shape == (5, 16, 16)
        np.testing.assert_allclose(batched, whole, rtol=1e-5, atol=1e-7)
    one_class = A.in_batches(A.gradient_saliency, net, x, 4, batch_size=3)
    np.testing.assert_allclose(one_class, A.gradient_saliency(net, x, 4), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="4 targets for 5 images"):
        A.in_batches(A.gradient_saliency, net, x, targets[:4])
    with pytest.raises(ValueError, match="batch_size"):
        A.in_batches(A.gradient_saliency, net, x, targets, batch_size=0)


def test_in_batches_caches_maps_by_weights_input_and_arguments(tmp_path):
    net = small_cnn().eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    calls = []

    def counted(model, x, target=None, **kw):
        calls.append(len(x))
        return A.gradient_saliency(model, x, target, **kw)

    first = A.in_batches(counted, net, x, [0, 1, 2], batch_size=2, cache=tmp_path)
    assert calls == [2, 1] and len(list(tmp_path.glob("*.npy"))) == 1
    again = A.in_batches(counted, net, x, [0, 1, 2], batch_size=2, cache=tmp_path)
    assert calls == [2, 1]  # read back, not recomputed
    np.testing.assert_array_equal(first, again)
    A.in_batches(counted, net, x, [0, 1, 3], batch_size=2, cache=tmp_path)  # another target
    other = small_cnn(seed=1).eval()
    A.in_batches(counted, other, x, [0, 1, 2], batch_size=2, cache=tmp_path)  # other weights
    assert calls == [2, 1] * 3 and len(list(tmp_path.glob("*.npy"))) == 3
    for f in tmp_path.glob("*.npy"):
        f.write_bytes(b"not an array")  # a corrupt file is recomputed and replaced
    fixed = A.in_batches(counted, net, x, [0, 1, 2], batch_size=2, cache=tmp_path)
    np.testing.assert_array_equal(first, fixed)
    assert calls == [2, 1] * 4


def test_randomisation_correlations_per_seed_with_a_cache(tmp_path):
    model = small_cnn(seed=3)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    layers = ["6", "2", "0"]
    rho = A.randomisation_correlations(model, x, None, "gradient", layers, seeds=[0, 5])
    assert rho.shape == (2, 3, 3)
    # seed 5 is the cascade with seed 5, step by step, against the original model's maps
    res = A.cascading_randomisation(model, x, None, "gradient", layers, seed=5)
    expect = [[A.rank_correlation(res[0][1][i], m[i]) for i in range(3)] for _, m in res[1:]]
    np.testing.assert_array_equal(rho[1], expect)
    assert not np.array_equal(rho[0], rho[1])  # another re-initialisation
    # cached per seed: the second call reads the files (the network is not run)
    first = A.randomisation_correlations(model, x, None, "gradient", layers, seeds=[0, 5], cache=tmp_path)
    np.testing.assert_array_equal(first, rho)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    calls = []
    counted = lambda m, xx, t: calls.append(1) or A.gradient_saliency(m, xx, t)  # noqa: E731
    A.randomisation_correlations(model, x, None, counted, layers, seeds=[0], cache=tmp_path)
    assert calls  # another method: another key, computed
    calls.clear()
    A.randomisation_correlations(model, x, None, counted, layers, seeds=[0], cache=tmp_path)
    assert not calls
    # other weights, another seed or other layers: other keys
    A.randomisation_correlations(small_cnn(seed=4), x, None, "gradient", layers, seeds=[0], cache=tmp_path)
    A.randomisation_correlations(model, x, None, "gradient", layers[:2], seeds=[0], cache=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 5
    # a corrupt file is recomputed
    for f in tmp_path.glob("*.npy"):
        f.write_bytes(b"not an array")
    again = A.randomisation_correlations(model, x, None, "gradient", layers, seeds=[0, 5], cache=tmp_path)
    np.testing.assert_array_equal(again, rho)
    with pytest.raises(ValueError, match="seeds is empty"):
        A.randomisation_correlations(model, x, None, "gradient", layers, seeds=[])
    with pytest.raises(ValueError, match="unknown method"):
        A.randomisation_correlations(model, x, None, "nope", layers, cache=tmp_path)
