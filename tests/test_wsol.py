"""Dataset-level weakly supervised localisation: protocol, baselines, soft-seed GrabCut."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from saliency_utils.evaluate import boxes, wsol
from saliency_utils.evaluate.boxes import iou, mask_to_box
from saliency_utils.evaluate.localisation import saliency_box, threshold_box

S = 24          # image side
N_CLASSES = 8


def blob_box(c):
    """Class c's 'object' position: a 6x6 square on a 4x2 grid of positions."""
    x0, y0 = 2 + 5 * (c % 4), 4 + 10 * (c // 4)
    return np.array([x0, y0, x0 + 6, y0 + 6], float)


def fake_saliency(model, x, target):
    """A map that is a bright square where the target class's object would be."""
    out = np.zeros((x.shape[0], S, S), np.float32)
    for i, c in enumerate(target):
        x0, y0, x1, y1 = blob_box(int(c)).astype(int)
        out[i] += 0.01
        out[i, y0:y1, x0:x1] = 1.0
    return out


class Scores(nn.Module):
    """logits = the per-class values stored in the image's first row of pixels (red)."""

    def forward(self, x):
        return x[:, 0, 0, :N_CLASSES]


def toy_backbone():
    def preprocess(ims):
        return torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).float() / 255
    return SimpleNamespace(model=Scores().eval(), preprocess=preprocess)


def toy_data(seed=0, n=12):
    rng = np.random.default_rng(seed)
    images, labels, gts = [], [], []
    for i in range(n):
        img = rng.integers(0, 50, (S, S, 3)).astype(np.uint8)
        img[0, :N_CLASSES, 0] = rng.permutation(N_CLASSES) * 20 + 50  # class ranking
        y = int(rng.integers(N_CLASSES))
        images.append(img)
        labels.append(y)
        # half the images: the object is where the true class's map points; else elsewhere
        gts.append(blob_box(y)[None] if i % 2 == 0 else blob_box((y + 3) % N_CLASSES)[None])
    return images, labels, gts


MAKERS = {"threshold": lambda im, s: threshold_box(s, 0.5),
          "full": wsol.full_image_maker,
          "centre": wsol.centred_maker(0.25, 0.25)}


def test_errors_match_the_literal_top5_protocol_and_hand_counts():
    images, labels, gts = toy_data()
    bb = toy_backbone()
    run = wsol.localise(bb, images, labels, gts, MAKERS, saliency=fake_saliency, guesses="topk")
    fast = wsol.localise(bb, images, labels, gts, MAKERS, saliency=fake_saliency, batch_size=5)
    lit, err = run.errors_literal(), fast.errors()
    for col in ["top-1 loc. error", "top-5 loc. error"]:
        np.testing.assert_allclose(lit[col].to_numpy(), err[col].to_numpy())
    np.testing.assert_array_equal(run.boxes["threshold"], fast.boxes["threshold"])
    # by hand: threshold boxes are exact on even images, wrong on odd ones
    y = np.array(labels)
    ranks = [np.argsort(-im[0, :N_CLASSES, 0].astype(int)) for im in images]
    in1 = np.array([r[0] == t for r, t in zip(ranks, y)])
    in5 = np.array([t in r[:5] for r, t in zip(ranks, y)])
    even = np.arange(len(y)) % 2 == 0
    assert err.loc["threshold", "GT-known loc. error"] == pytest.approx(50.0)
    assert err.loc["threshold", "top-1 loc. error"] == pytest.approx(100 * (1 - np.mean(in1 & even)))
    assert err.loc["threshold", "top-5 loc. error"] == pytest.approx(100 * (1 - np.mean(in5 & even)))
    # full image (24x24) vs 6x6 objects: IoU 1/16, never correct
    assert err.loc["full", "GT-known loc. error"] == 100.0
    assert fast.classification_errors()["top-1"] == pytest.approx(100 * (1 - in1.mean()))
    # every guess gets the box of its own class (the true class reuses its box)
    g = run.guess_boxes["threshold"]
    for i in range(len(y)):
        for j, c in enumerate(run.topk[i]):
            np.testing.assert_array_equal(g[i, j], blob_box(c))


def test_lazy_images_resizing_scores_failures_and_threads():
    images, labels, gts = toy_data(1, n=6)
    bb = toy_backbone()
    big = [np.kron(im, np.ones((2, 2, 1), np.uint8)) for im in images]  # 48x48 images
    big_gts = [g * 2 for g in gts]

    def flaky(im, s):
        raise ValueError("no box here")

    makers = {"grabcut": wsol.box_from_mask_maker(saliency_box), "flaky": flaky}
    kw = dict(saliency=fake_saliency, map_scores={"mass": boxes.energy_in_boxes,
                                                  "point": boxes.pointing_game})
    a = wsol.localise(bb, lambda i: big[i], labels, big_gts, makers, workers=1, **kw)
    b = wsol.localise(bb, big, labels, big_gts, makers, workers=2, batch_size=4, **kw)
    np.testing.assert_array_equal(a.boxes["grabcut"], b.boxes["grabcut"])
    assert a.failures == {"grabcut": 0, "flaky": 6} and "no box" in a.failure_messages["flaky"]
    # a failed box is a miss (zero area), never the full-image box
    np.testing.assert_array_equal(a.boxes["flaky"], np.zeros((6, 4)))
    assert not a.box_ok("flaky").any()
    assert a.scores["point"].tolist() == [1.0, 0.0] * 3
    assert np.all(a.scores["mass"][::2] > 0.7) and np.all(a.scores["mass"][1::2] < 0.1)
    assert {"forward", "saliency", "boxes (wall)", "grabcut"} <= set(a.seconds)


def test_bad_inputs():
    images, labels, gts = toy_data(n=3)
    bb = toy_backbone()
    with pytest.raises(ValueError, match="guesses"):
        wsol.localise(bb, images, labels, gts, MAKERS, saliency=fake_saliency, guesses="all")
    with pytest.raises(ValueError, match="box sets"):
        wsol.localise(bb, images, labels, gts[:2], MAKERS, saliency=fake_saliency)
    with pytest.raises(ValueError, match="no box makers"):
        wsol.localise(bb, images, labels, gts, {}, saliency=fake_saliency)
    with pytest.raises(ValueError, match="at least one"):
        wsol.localise(bb, images, labels, [g[:0] for g in gts], MAKERS, saliency=fake_saliency)
    with pytest.raises(ValueError, match="k must be"):
        wsol.localise(bb, images, labels, gts, MAKERS, saliency=fake_saliency, k=3)
    run = wsol.localise(bb, images, labels, gts, MAKERS, saliency=fake_saliency)
    with pytest.raises(ValueError, match="topk"):
        run.errors_literal()


def test_box_fractions_masks_and_scores():
    fw, fh = wsol.mean_box_fraction([np.array([[0, 0, 10, 5], [0, 0, 20, 10]]),
                                     np.array([[5, 5, 15, 25]])], [(10, 20), (50, 40)])
    assert fw == pytest.approx(np.mean([0.5, 1.0, 0.25])) and fh == pytest.approx(np.mean([0.5, 1.0, 0.4]))
    with pytest.raises(ValueError):
        wsol.mean_box_fraction([], [])
    m = boxes.box_union_mask([[1, 2, 3, 4], [2, 2, 5, 3]], (6, 6))
    assert m.sum() == 4 + 2 and m[2:4, 1:3].all() and m[2, 3:5].all()
    s = np.zeros((6, 6)); s[2, 1] = 3.0; s[5, 5] = 1.0
    assert boxes.energy_in_boxes(s, [[1, 2, 3, 4]]) == pytest.approx(0.75)
    assert boxes.area_in_boxes(s, [[0, 0, 3, 6]]) == pytest.approx(0.5)
    assert boxes.area_in_boxes((6, 6), [[0, 0, 3, 6]]) == pytest.approx(0.5)
    assert boxes.pointing_game(s, [[1, 2, 3, 4]]) is True
    assert boxes.pointing_game(s, [[4, 4, 6, 6]]) is False
    with pytest.raises(ValueError):
        boxes.energy_in_boxes(-s, [[0, 0, 1, 1]])
    img = np.zeros((10, 20, 3), np.uint8)
    np.testing.assert_array_equal(wsol.full_image_maker(img), [0, 0, 20, 10])
    np.testing.assert_array_equal(wsol.centred_maker(0.5, 0.4)(img), [5, 3, 15, 7])


def test_soft_seed_grabcut_recovers_an_object():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    disc = (xx - 55) ** 2 + (yy - 40) ** 2 < 20 ** 2
    img = np.stack([30 + rng.integers(0, 40, (96, 96)), 120 + rng.integers(0, 40, (96, 96)),
                    20 + rng.integers(0, 20, (96, 96))], -1)
    img[disc] = np.array([200, 30, 40]) + rng.integers(-20, 20, (disc.sum(), 3))
    img = img.astype(np.uint8)
    # saliency only on the disc's centre part, as gradients often cover a discriminative part
    sal = ndimage.gaussian_filter(((xx - 55) ** 2 + (yy - 40) ** 2 < 8 ** 2).astype(float), 2)
    sal += 0.05 * rng.random(sal.shape)
    box, mask = wsol.saliency_box_soft_seeds(img, sal)
    assert iou(box, mask_to_box(disc)) > 0.8 and (mask ^ disc).mean() < 0.02
    box2, _ = wsol.saliency_box_soft_seeds(img, sal)
    np.testing.assert_array_equal(box, box2)
    with pytest.raises(ValueError, match="constant"):
        wsol.saliency_box_soft_seeds(img, np.ones((96, 96)))
    with pytest.raises(ValueError, match="resize"):
        wsol.saliency_box_soft_seeds(img, sal[:50])


def test_paired_difference():
    images, labels, gts = toy_data(n=12)
    run = wsol.localise(toy_backbone(), images, labels, gts, MAKERS, saliency=fake_saliency)
    err = run.errors()
    d, lo, hi = run.paired_difference("threshold", "full")
    assert d == pytest.approx(err.loc["threshold", "top-5 loc. error"]
                              - err.loc["full", "top-5 loc. error"])
    assert lo <= d <= hi and hi < 0  # the threshold box wins on every image it gets right
    same = run.paired_difference("full", "full")  # no disagreement: no interval can be made
    assert same[0] == 0.0 and np.isnan(same[1]) and np.isnan(same[2])


def test_default_saliency_is_the_captum_gradient():
    """The fused forward/backward path gives the same maps (hence boxes) as
    attribution.gradient_saliency, batch by batch."""
    from saliency_utils.explain.attribution import gradient_saliency

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 7)).eval()
    bb = SimpleNamespace(model=net, preprocess=lambda ims: torch.from_numpy(
        np.stack(ims)).permute(0, 3, 1, 2).float() / 255 - 0.5)
    images, labels, gts = toy_data(2, n=5)
    labels = [y % 7 for y in labels]
    kw = dict(map_scores={"mass": boxes.energy_in_boxes}, batch_size=2)
    a = wsol.localise(bb, images, labels, gts, MAKERS, **kw)
    b = wsol.localise(bb, images, labels, gts, MAKERS, saliency=gradient_saliency, **kw)
    c = wsol.localise(bb, images, labels, gts, MAKERS, saliency="gradient", **kw)  # the verb's
    for other in (b, c):
        np.testing.assert_allclose(a.scores["mass"], other.scores["mass"], rtol=1e-6)
        np.testing.assert_array_equal(a.topk, other.topk)
        for m in MAKERS:
            np.testing.assert_array_equal(a.boxes[m], other.boxes[m])
    np.testing.assert_array_equal(b.scores["mass"], c.scores["mass"])
    with pytest.raises(ValueError, match="unknown method"):
        wsol.localise(bb, images, labels, gts, MAKERS, saliency="grad", **kw)
    with pytest.raises(ValueError, match="eval"):
        wsol.localise(SimpleNamespace(model=net.train(), preprocess=bb.preprocess), images,
                      labels, gts, MAKERS)
