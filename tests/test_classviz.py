"""Class model visualisation by gradient ascent."""
import numpy as np
import pytest
import torch
from torch import nn

from saliency_utils.classviz import class_model, gaussian_blur, to_display


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w, requires_grad=False)

    def forward(self, x):
        return x.flatten(1) @ self.w.flatten(1).T


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
    from saliency_utils.models import load_backbone
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
