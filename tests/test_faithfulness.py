"""Compactness, localisation scores of one map, deletion / insertion curves."""
import numpy as np
import pytest
import torch
from torch import nn

from saliency_utils.evaluate import faithfulness as fa


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


def test_extra_deletions_equal_their_own_run():
    """An extra deletion baseline gives the curve a separate run with that baseline gives, and
    leaves the main curves unchanged."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.randn(1, 3, 10, 10)
    maps = {"a": np.random.default_rng(0).random((10, 10)), "b": np.random.default_rng(1).random((10, 10))}
    blur = fa.blurred_baseline(x, sigma=2.0, kernel=5)
    both = fa.deletion_insertion(model, x, 1, maps, steps=5, batch_size=7,
                                 extra_deletions={"blur": blur})
    plain = fa.deletion_insertion(model, x, 1, maps, steps=5, batch_size=3)
    alone = fa.deletion_insertion(model, x, 1, maps, steps=5, deletion_baseline=blur)
    for m in maps:
        np.testing.assert_allclose(both.deletion[m], plain.deletion[m], rtol=1e-6)
        np.testing.assert_allclose(both.insertion[m], plain.insertion[m], rtol=1e-6)
        np.testing.assert_allclose(both.extra_deletion["blur"][m], alone.deletion[m], rtol=1e-6)
    assert both.extra_auc("blur")["a"] == pytest.approx(alone.auc()["a"][0])
    with pytest.raises(KeyError, match="no extra deletion baseline"):
        plain.extra_auc("blur")
    with pytest.raises(ValueError, match="extra deletion baseline"):
        fa.deletion_insertion(model, x, 1, maps, extra_deletions={"blur": blur[..., :5]})


def test_curves_over_images_with_a_disk_cache(tmp_path, monkeypatch):
    """``curves`` equals ``deletion_insertion`` image by image (seed + i), reads its cache back
    without a forward pass, and keys the cache by the maps and the weights."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.randn(3, 3, 12, 12)
    g = np.random.default_rng(2)
    maps = {"a": g.random((3, 12, 12)), "b": np.round(g.random((3, 12, 12)), 1)}  # ties in b
    targets = [0, 2, 1]
    res = fa.curves(model, x, targets, maps, steps=4, deletions=("mean", "blur"), batch_size=5,
                    seed=3, cache=tmp_path)
    assert sorted(res.curves) == ["deletion (blur)", "deletion (mean)", "insertion"]
    for i in range(3):
        ref = fa.deletion_insertion(model, x[i:i + 1], targets[i], {k: v[i] for k, v in maps.items()},
                                    steps=4, seed=3 + i)
        for m in maps:
            np.testing.assert_allclose(res.curves["deletion (mean)"][m][i], ref.deletion[m], rtol=1e-6)
            np.testing.assert_allclose(res.curves["insertion"][m][i], ref.insertion[m], rtol=1e-6)
    assert res.auc("insertion")["a"].shape == (3,)
    assert res.mean_curve("deletion (blur)")["b"].shape == (5,)
    assert len(list(tmp_path.glob("*.npy"))) == 3

    calls = []
    monkeypatch.setattr(fa, "deletion_insertion", lambda *a, **k: calls.append(1))
    again = fa.curves(model, x, targets, maps, steps=4, deletions=("mean", "blur"), batch_size=2,
                      seed=3, cache=tmp_path)
    assert not calls and again.n_cached == 3 and res.n_cached == 0  # read back
    for c in res.curves:
        for m in maps:
            np.testing.assert_array_equal(again.curves[c][m], res.curves[c][m])
    monkeypatch.undo()
    other = {**maps, "a": maps["a"][:, ::-1].copy()}
    fa.curves(model, x, targets, other, steps=4, deletions=("mean", "blur"), seed=3, cache=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 6  # other maps: other keys
    before = set(tmp_path.glob("*.npy"))
    with torch.no_grad():
        model[0].weight.mul_(2)
    fresh = fa.curves(model, x, targets, maps, steps=4, deletions=("mean", "blur"), seed=3, cache=tmp_path)
    new = sorted(set(tmp_path.glob("*.npy")) - before)
    assert len(new) == 3  # other weights: other keys
    # a corrupt cache file is recomputed and replaced
    new[0].write_bytes(b"not numpy")
    again = fa.curves(model, x, targets, maps, steps=4, deletions=("mean", "blur"), seed=3, cache=tmp_path)
    assert np.load(new[0]).shape == (3, 2, 5)
    np.testing.assert_array_equal(again.curves["insertion"]["a"], fresh.curves["insertion"]["a"])


def test_curves_bad_input():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    x = torch.zeros(2, 3, 4, 4)
    m = {"a": np.ones((2, 4, 4))}
    with pytest.raises(ValueError, match="targets for 2 images"):
        fa.curves(model, x, [0], m)
    with pytest.raises(ValueError, match="need"):
        fa.curves(model, x, [0, 1], {"a": np.ones((1, 4, 4))})
    with pytest.raises(ValueError, match="deletions must be"):
        fa.curves(model, x, [0, 1], m, deletions=("zeros",))
    with pytest.raises(ValueError, match="deletions must be"):
        fa.curves(model, x, [0, 1], m, deletions=("mean", "mean"))
    with pytest.raises(ValueError, match="no maps"):
        fa.curves(model, x, [0, 1], {})
    with pytest.raises(ValueError, match="N x C x H x W"):
        fa.curves(model, x[0], [0], m)


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
    from saliency_utils.evaluate import boxes

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
    from saliency_utils.evaluate import boxes, maps

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
