"""Compactness, localisation scores of one map, deletion / insertion curves."""
import numpy as np
import pytest
import torch
from torch import nn

from saliency_utils import faithfulness as fa


def test_top_fraction_components():
    s = np.zeros((20, 20))
    s[2:5, 2:5] = 1.0   # 9 pixels
    s[12:17, 12:17] = 2.0  # 25 pixels
    n, share = fa.top_fraction_components(s, q=34 / 400)
    assert n == 2 and share == pytest.approx(25 / 34)
    n1, share1 = fa.top_fraction_components(s, q=25 / 400)
    assert n1 == 1 and share1 == 1.0
    with pytest.raises(ValueError):
        fa.top_fraction_components(s, q=1.5)


def test_pixel_order_is_a_permutation_with_seeded_ties():
    s = np.zeros((4, 4))
    s[0, 0] = 5
    r1 = fa.pixel_order(s, seed=1)
    assert r1[0, 0] == 0 and sorted(r1.ravel()) == list(range(16))
    np.testing.assert_array_equal(r1, fa.pixel_order(s, seed=1))
    assert not np.array_equal(r1, fa.pixel_order(s, seed=2))


class Region(nn.Module):
    """Two classes; logit 0 = 4 x mean of channel 0 inside rows 0..3 (the 'object'), logit 1 = 0."""

    def forward(self, x):
        a = 4 * x[:, 0, :4, :].mean((1, 2))
        return torch.stack([a, torch.zeros_like(a)], 1)


def test_deletion_insertion_ranks_a_faithful_map_above_an_unfaithful_one():
    model = Region().eval()
    x = torch.ones(1, 3, 8, 8)
    good = np.zeros((8, 8))
    good[:4] = 1 + np.arange(32).reshape(4, 8) / 100
    bad = good[::-1].copy()
    res = fa.deletion_insertion(model, x, 0, {"good": good, "bad": bad}, steps=4, batch_size=5,
                                insertion_baseline=torch.zeros_like(x))
    p_full = torch.sigmoid(torch.tensor(4.0)).item()
    assert res.fractions.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    # good map: deleting the top half removes the object -> p = sigmoid(0) = 0.5 at step 2
    assert res.deletion["good"][[0, 2, 3, 4]] == pytest.approx([p_full, 0.5, 0.5, 0.5])
    assert res.deletion["good"][1] == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item())
    assert res.deletion["bad"][:3] == pytest.approx([p_full] * 3)
    auc = res.auc()
    assert auc["good"][0] < auc["bad"][0]
    assert auc["good"][1] > auc["bad"][1]
    # curves start / end at the shared images
    assert res.insertion["good"][-1] == pytest.approx(p_full)
    assert res.insertion["good"][0] == res.insertion["bad"][0]


def test_blurred_baseline_keeps_constant_images_and_smooths():
    x = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(fa.blurred_baseline(x), x, atol=1e-6)
    y = torch.zeros(1, 1, 21, 21)
    y[0, 0, 10, 10] = 1.0
    b = fa.blurred_baseline(y)
    assert b[0, 0, 10, 10] < 0.1 and b.sum() == pytest.approx(1.0, abs=1e-5)


def test_deletion_insertion_bad_input():
    model = Region().eval()
    x = torch.ones(1, 3, 8, 8)
    m = {"a": np.random.default_rng(0).random((8, 8))}
    with pytest.raises(ValueError, match="one image"):
        fa.deletion_insertion(model, torch.ones(2, 3, 8, 8), 0, m)
    with pytest.raises(ValueError, match="shape"):
        fa.deletion_insertion(model, x, 0, {"a": np.ones((4, 4))})
    with pytest.raises(ValueError, match="steps"):
        fa.deletion_insertion(model, x, 0, m, steps=0)
    with pytest.raises(ValueError, match="no maps"):
        fa.deletion_insertion(model, x, 0, {})
    with pytest.raises(ValueError, match="constant"):
        fa.deletion_insertion(model, x, 0, {"a": np.ones((8, 8))})


def test_score_map_collects_everything():
    s = np.zeros((20, 20))
    s[3:6, 3:6] = 1.0
    s[15, 15] = 0.5
    out = fa.score_map(s, [[2, 2, 8, 8]], box_fracs=(0.2, 0.8), top_q=0.025)
    assert out["pointing"] == 1.0
    assert out["energy"] == pytest.approx(9 / 9.5)
    assert out["regions"] == 2
    assert out["box@0.2"].tolist() == [3, 3, 6, 6] and out["box@0.8"].tolist() == [3, 3, 6, 6]
    assert out["failed"] == ""
    with pytest.raises(ValueError, match="negative"):
        fa.score_map(-s, [[2, 2, 8, 8]])


def test_score_map_failure_policy_counts_a_miss():
    """failure="miss": an unscorable map is a miss (no hit, no energy, a zero-area box that no
    IoU accepts), flagged with the reason; "raise" (default) raises; anything else is refused."""
    from saliency_utils import boxes

    gt = [[0, 0, 20, 20]]  # the object fills the frame: a full-image box would have been a hit
    out = fa.score_map(np.zeros((20, 20)), gt, box_fracs=(0.2, 0.5), failure="miss")
    assert out["pointing"] == 0.0 and out["energy"] == 0.0
    assert np.isnan(out["regions"]) and np.isnan(out["largest region share"])
    for f in ("0.2", "0.5"):
        assert out[f"box@{f}"].tolist() == [0, 0, 0, 0]
        assert not boxes.localisation_correct(out[f"box@{f}"][None], [0], gt, 0)
    assert out["failed"]
    with pytest.raises(ValueError):
        fa.score_map(np.zeros((20, 20)), gt)
    with pytest.raises(ValueError, match="failure must be"):
        fa.score_map(np.ones((20, 20)), gt, failure="drop")


def test_the_uniform_map_scores_as_chance_on_boxes():
    from saliency_utils import boxes, maps

    box = np.array([[10.0, 20.0, 30.0, 40.0]])  # x0, y0, x1, y1 on a 50 x 60 image
    u = maps.uniform_map((50, 60))
    sc = fa.score_map(u, box, tolerance=3.0, box_fracs=(0.2, 0.5))
    assert sc["failed"] == "" and sc["regions"] == 1 and sc["largest region share"] == 1.0
    assert sc["energy"] == pytest.approx(boxes.area_in_boxes((50, 60), box))
    np.testing.assert_array_equal(sc["box@0.5"], boxes.full_image_box((50, 60)))
    # pointing: the share of pixels a random pointer would hit, by brute force
    inside = boxes.box_union_mask(box, (50, 60))
    rr, cc = np.nonzero(inside)
    hits = [min((rr - r) ** 2 + (cc - c) ** 2) <= 9 for r in range(50) for c in range(60)]
    assert sc["pointing"] == pytest.approx(np.mean(hits))
    assert boxes.uniform_pointing((50, 60), box, 0.0) == pytest.approx(inside.mean())
    with pytest.raises(ValueError):
        boxes.uniform_pointing((50, 60), box, -1.0)
    # a plain constant map still cannot point
    with pytest.raises(ValueError, match="constant"):
        fa.score_map(np.ones((50, 60)), box)
