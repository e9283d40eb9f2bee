"""GrabCut localisation from saliency seeds and the threshold baseline."""
import cv2
import numpy as np
import pytest
from scipy import ndimage

from saliency_utils.evaluate.boxes import iou, mask_to_box
from saliency_utils.evaluate.localisation import grabcut_seeds, saliency_box, threshold_box

H = W = 227


@pytest.fixture(scope="module")
def scene():
    """A noisy red disc on a textured green background, and the disc mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:H, :W]
    disc = (xx - 140) ** 2 + (yy - 100) ** 2 < 45 ** 2
    tex = rng.integers(0, 60, (H, W))
    img = np.stack([30 + tex // 2, 120 + tex, 20 + tex // 3], axis=-1)
    img[disc] = np.array([200, 30, 40]) + rng.integers(-20, 20, (disc.sum(), 3))
    return img.astype(np.uint8), disc, xx


def _blur(mask, sigma=4.0):
    return ndimage.gaussian_filter(mask.astype(float), sigma)


def test_seeds_follow_quantiles(scene):
    _, disc, _ = scene
    sal = _blur(disc) + 0.1 * np.random.default_rng(1).random((H, W))
    seeds = grabcut_seeds(sal, 0.95, 0.30)
    assert set(np.unique(seeds)) == {cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD}
    assert np.mean(seeds == cv2.GC_FGD) == pytest.approx(0.05, abs=0.002)
    assert np.mean(seeds == cv2.GC_BGD) == pytest.approx(0.30, abs=0.002)
    assert disc[seeds == cv2.GC_FGD].all() and not disc[seeds == cv2.GC_BGD].any()


def test_grabcut_recovers_the_disc(scene):
    img, disc, _ = scene
    sal = _blur(disc) + 0.1 * np.random.default_rng(1).random((H, W))
    box, mask = saliency_box(img, sal)
    assert mask.dtype == bool and mask.shape == (H, W)
    assert iou(box, mask_to_box(disc)) >= 0.7
    assert (mask ^ disc).mean() < 0.01
    # reproducible
    box2, mask2 = saliency_box(img, sal)
    assert np.array_equal(box, box2) and np.array_equal(mask, mask2)


def test_colour_model_extends_a_partial_saliency_map(scene):
    """Saliency mostly on the left part of the disc: the colour model recovers the whole
    object (the paper's motivation for GraphCut), the 20%-of-max threshold does not."""
    img, disc, xx = scene
    part = disc & (xx < 130)
    sal = _blur(part) + 0.05 * _blur(disc) + 0.1 * np.random.default_rng(2).random((H, W))
    gt = mask_to_box(disc)
    box, _ = saliency_box(img, sal)
    assert iou(box, gt) >= 0.9
    assert iou(threshold_box(sal), gt) < 0.6


def test_threshold_box_on_a_blob():
    s = np.zeros((50, 60))
    s[10:20, 30:45] = 1.0
    s[40:42, 0:2] = 0.9  # smaller component
    s += 0.1 * np.random.default_rng(0).random(s.shape)  # below 20% of max
    assert threshold_box(s, 0.2).tolist() == [30, 10, 45, 20]


def test_errors():
    img = np.zeros((20, 30, 3), np.uint8)
    sal = np.random.default_rng(0).random((20, 30))
    with pytest.raises(ValueError, match="resize"):
        saliency_box(img, sal[:, :25])
    with pytest.raises(ValueError, match="constant"):
        saliency_box(img, np.ones((20, 30)))
    with pytest.raises(ValueError, match="constant"):
        threshold_box(np.zeros((20, 30)))
    with pytest.raises(ValueError, match="uint8"):
        saliency_box(img.astype(float), sal)
    with pytest.raises(ValueError, match="2-D"):
        threshold_box(np.ones((2, 20, 30)))
    with pytest.raises(ValueError, match="seed"):
        grabcut_seeds(np.r_[np.zeros(97), [1.0, 2.0, 3.0]].reshape(10, 10))
