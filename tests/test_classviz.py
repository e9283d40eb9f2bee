"""Class model visualisation by gradient ascent."""
import numpy as np
import pytest
import torch

from saliency_utils.explain.classviz import class_model, gaussian_blur, to_display
from nets import Linear



def test_linear_model_converges_to_w_over_2_lambda():
    w = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    lam = 0.25
    model = Linear(w).eval()
    img, hist = class_model(model, target=1, steps=60, lr=1.0, weight_decay=lam, size=8)
    assert img.shape == (1, 3, 8, 8)
    torch.testing.assert_close(img[0], w[1] / (2 * lam), rtol=1e-6, atol=1e-6)
    assert len(hist) == 61 and hist[0][0] == 0.0
    assert hist[-1][0] == pytest.approx(float((w[1] ** 2).sum() / (2 * lam)), rel=1e-5)


def test_jitter_and_blur_run_and_are_seeded():
    w = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    kw = dict(steps=5, jitter=2, blur_every=2, blur_sigma=0.5, size=8)
    a, _ = class_model(Linear(w).eval(), 0, **kw)
    b, _ = class_model(Linear(w).eval(), 0, **kw)
    assert torch.equal(a, b)


def test_gaussian_blur_preserves_constants_and_mass():
    x = torch.full((1, 3, 10, 10), 2.0)
    torch.testing.assert_close(gaussian_blur(x, 1.5), x)
    d = torch.zeros(1, 1, 21, 21)
    d[0, 0, 10, 10] = 1
    assert float(gaussian_blur(d, 1.0).sum()) == pytest.approx(1.0, abs=1e-6)


def test_bad_target():
    with pytest.raises(ValueError, match="out of range"):
        class_model(Linear(torch.ones(2, 3, 4, 4)).eval(), 5, steps=1, size=4)


def test_efficientnet_class_model_raises_the_logit():
    from saliency_utils.models.backbones import load_backbone
    bb = load_backbone("efficientnet_lite0", device="cpu")
    img, hist = class_model(bb.model, target=1, steps=20, lr=1.0, weight_decay=1e-3)
    scores = np.array([s for s, _ in hist])
    assert np.isfinite(scores).all() and scores[-1] > scores[0] + 5
    assert hist[-1][1] > hist[0][1]
    disp = to_display(bb, img)
    assert disp.shape == (224, 224, 3) and disp.dtype == np.uint8
    stretched = to_display(bb, img, percentile=1)
    assert stretched.std() > disp.std()
    # the zero image is the mean image: grey 127 for EfficientNet-Lite0's (p - 127) / 128
    assert np.all(to_display(bb, torch.zeros(1, 3, 4, 4)) == 127)
    assert np.array_equal(disp, bb.deprocess(img))  # the paper's presentation


def test_to_display_needs_only_mean_and_std():
    class Norm:  # a saliency model has mean and std but no deprocess
        mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

    grey = torch.zeros(3, 8, 8)
    assert np.all(to_display(Norm(), grey) == 128)
    # nothing to stretch: shown clipped, not an error
    assert np.all(to_display(Norm(), grey, percentile=1) == 128)
    x = grey.clone()
    x[:, :4] = 1.0  # half the image at 0.75
    out = to_display(Norm(), x, percentile=0)
    assert out.min() == 0 and out.max() == 255
    with pytest.raises(ValueError, match="percentile"):
        to_display(Norm(), grey, percentile=50)


def test_batched_class_models_equal_single_runs_with_and_without_jitter():
    """Each image of a batch follows its own class (a linear model's optimum w_c / 2 lambda),
    and with jitter every image gets the shifts a single seeded call draws."""
    from saliency_utils.explain.classviz import class_models

    w = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    model = Linear(w).eval()
    imgs, hist = class_models(model, [2, 0, 3], steps=60, weight_decay=0.25, size=8)
    assert imgs.shape == (3, 3, 8, 8) and hist.shape == (3, 61, 2)
    for i, c in enumerate([2, 0, 3]):
        torch.testing.assert_close(imgs[i], w[c] / 0.5, rtol=1e-6, atol=1e-6)
    kw = dict(steps=6, jitter=2, blur_every=2, blur_sigma=0.5, size=8, seed=4, weight_decay=0.1)
    batch, bh = class_models(model, [1, 3], **kw)
    for i, c in enumerate([1, 3]):
        one, h1 = class_model(model, c, **kw)
        torch.testing.assert_close(batch[i:i + 1], one, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(bh[i], np.array(h1), rtol=1e-4, atol=1e-9)
    with pytest.raises(ValueError, match="empty"):
        class_models(model, [], steps=1, size=8)


def test_class_model_cache_is_keyed_by_model_class_and_settings(tmp_path):
    from saliency_utils.explain.classviz import class_models

    w = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    model = Linear(w).eval()
    kw = dict(steps=5, weight_decay=0.1, size=8, cache=tmp_path)
    a, ha = class_models(model, [0, 1], **kw)
    assert len(list(tmp_path.glob("*.pt"))) == 2
    b, hb = class_models(model, [1, 0, 2], **kw)  # two read back, one computed
    assert len(list(tmp_path.glob("*.pt"))) == 3
    torch.testing.assert_close(b[:2], a.flip(0), rtol=0, atol=0)
    np.testing.assert_array_equal(hb[:2], ha[::-1])
    # a stored file is what is returned: tamper with one and it comes back
    f = sorted(tmp_path.glob("*.pt"))[0]
    d = torch.load(f, weights_only=True)
    d["image"] += 1
    torch.save(d, f)
    c, _ = class_models(model, [0, 1, 2], **kw)
    assert sum(not torch.equal(c[i], b[j]) for i, j in [(0, 1), (1, 0), (2, 2)]) == 1
    # other settings or other weights: other keys (recomputed, not read)
    d_, _ = class_models(model, [0], **{**kw, "weight_decay": 0.2})
    e, _ = class_models(Linear(w * 2).eval(), [0], **kw)
    assert len(list(tmp_path.glob("*.pt"))) == 5
    torch.testing.assert_close(e[0], 2 * a[0], rtol=1e-5, atol=1e-6)
    (tmp_path / "junk").mkdir()
    f.write_bytes(b"not a tensor file")
    with pytest.raises(ValueError, match="unreadable.*delete it"):
        class_models(model, [0, 1, 2], **kw)


def test_specificity_is_zero_for_exchangeable_rows_and_positive_for_own_class():
    from saliency_utils.explain.classviz import specificity

    rng = np.random.default_rng(0)
    t = [5, 1, 7]
    common = rng.normal(size=10)
    lp = np.tile(common, (3, 1))  # identical rows: nothing class-specific
    np.testing.assert_allclose(specificity(lp, t), 0, atol=1e-12)
    lp2 = lp.copy()
    lp2[0, 5] += 3.0  # image 0 raises its own class by 3
    lp2[2, 1] += 1.5  # image 2 raises class 1 (image 1's): class 1 loses 1.5 / 2
    np.testing.assert_allclose(specificity(lp2, t), [3.0, -0.75, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="distinct"):
        specificity(lp[:2], [1, 1])
    with pytest.raises(ValueError, match="N x classes"):
        specificity(lp, [1, 2])
    # exchangeable random rows: mean 0 over many draws (the null the claim's rule assumes)
    vals = [specificity(rng.normal(size=(6, 20)), range(6)).mean() for _ in range(2000)]
    assert abs(np.mean(vals)) < 0.02


def test_reference_log_probs_see_the_displayed_image():
    from saliency_utils.explain.classviz import reference_log_probs
    from saliency_utils.models.backbones import load_backbone

    src = load_backbone("efficientnet_lite0", weights="random", device="cpu")
    ref = load_backbone("efficientnet_lite1", weights="random", device="cpu")
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 3
    lp = reference_log_probs(ref, src, x, batch_size=2)
    assert lp.shape == (3, 1000)
    np.testing.assert_allclose(np.exp(lp).sum(1), 1, rtol=1e-9)
    with torch.no_grad():
        direct = torch.log_softmax(ref.logits(ref.preprocess([to_display(src, x[1:2])])).double(), 1)
    np.testing.assert_allclose(lp[1], direct[0].numpy(), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="N x C"):
        reference_log_probs(ref, src, x[0])
