"""Context-aware saliency: known distinct regions, a brute-force reference, approximations."""
import numpy as np
import pytest

from saliency_utils.explain import context_saliency as cs
from saliency_utils.explain.context_saliency import context_aware_saliency as cas


def _noisy(shape, value, seed=0, sd=4.0):
    rng = np.random.default_rng(seed)
    return np.clip(np.full(shape, value, float) + rng.normal(0, sd, shape), 0, 255).astype(np.uint8)


def _stripes(h, w, period=6):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, (np.arange(w) // (period // 2)) % 2 == 0] = (200, 200, 60)
    img[:, (np.arange(w) // (period // 2)) % 2 == 1] = (40, 40, 160)
    return img


def _inside(s, box):
    x0, y0, x1, y1 = box
    m = np.zeros(s.shape, bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.mark.parametrize("background", ["uniform", "texture"])
def test_distinct_patch_is_most_salient(background):
    h, w = 90, 120
    img = _noisy((h, w, 3), 128) if background == "uniform" else _stripes(h, w)
    box = (80, 25, 96, 41)  # x0, y0, x1, y1: a red square
    img[box[1]:box[3], box[0]:box[2]] = (230, 20, 20)
    s = cas(img, max_side=120)
    assert s.shape == (h, w) and s.max() == pytest.approx(1.0) and s.min() >= 0
    m = _inside(s, box)
    r, c = np.unravel_index(np.argmax(s), s.shape)
    assert m[r, c]
    # a uniform map would give a ratio of 1 and put 256 / 10800 of its top pixels in the square
    assert s[m].mean() > (4 if background == "uniform" else 2) * s[~m].mean()
    top = np.argsort(-s.ravel())[: m.sum()]
    assert m.ravel()[top].mean() > 0.5


def test_grey_relevance_like_map():
    rng = np.random.default_rng(0)
    rel = rng.random((80, 80)) * 0.05  # speckle
    rel[50:62, 10:22] += 1.0
    s = cas(rel, max_side=80)
    m = _inside(s, (10, 50, 22, 62))
    assert s[m].mean() > 4 * s[~m].mean()


def _reference_scale_map(img, patch, k, c, ref_imgs, ref_stride):
    """Slow, loop-based S^r for every pixel (the formula in the module docstring)."""
    half = patch // 2
    h, w = img.shape[:2]
    L = max(h, w)
    pad = np.pad(img, ((half, half), (half, half), (0, 0)), mode="reflect")
    refs = []
    for J in ref_imgs:
        hj, wj = J.shape[:2]
        Lj = max(hj, wj)
        for i in range(half, hj - half, ref_stride):
            for j in range(half, wj - half, ref_stride):
                refs.append((J[i - half:i + half + 1, j - half:j + half + 1].ravel(),
                             np.array([(i + 0.5) / Lj, (j + 0.5) / Lj])))
    dnorm = np.sqrt(patch * patch * img.shape[2])
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            p = pad[i:i + patch, j:j + patch].ravel()
            pos = np.array([(i + 0.5) / L, (j + 0.5) / L])
            d = sorted(np.linalg.norm(p - q) / dnorm / (1 + c * np.linalg.norm(pos - qp))
                       for q, qp in refs)
            out[i, j] = 1 - np.exp(-np.mean(d[:min(k, len(d))]))
    return out


def test_scale_map_matches_brute_force_reference():
    rng = np.random.default_rng(3)
    img = rng.random((14, 17, 3)).astype(np.float32)
    small = cs._resize(img, (7, 9))
    got = cs._scale_map(img, 5, 8, 3.0, [img, small], 2, 1)
    want = _reference_scale_map(img, 5, 8, 3.0, [img, small], 2)
    # float32 distances (|q|^2 + |p|^2 - 2 q.p) vs float64 loops: agreement to rounding
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    assert np.abs(got - want).mean() < 1e-5


def test_attention_step_and_none():
    img = _noisy((60, 60, 3), 100)
    img[5:15, 5:15] = (250, 250, 0)
    raw = cas(img, max_side=60, attention=None)
    ctx = cas(img, max_side=60, attention=0.8)
    # far from the focus the immediate-context weighting lowers the map
    assert ctx[50:, 50:].mean() < raw[50:, 50:].mean()
    assert np.all(ctx <= raw + 1e-6)


def test_fast_settings_approximate_the_dense_map():
    img = _noisy((80, 100, 3), 120, sd=10)
    img[20:34, 60:74] = (240, 240, 240)
    img[50:70, 10:22] = (20, 120, 20)
    dense = cas(img, max_side=100)
    fast = cas(img, max_side=100, query_stride=3, ref_stride=5)
    assert np.corrcoef(dense.ravel(), fast.ravel())[0, 1] > 0.9


def test_batch_helper_threads_equal_serial():
    hm = np.stack([_noisy((40, 40, 3), 90, seed=i) for i in range(3)])
    hm[:, 10:18, 20:28] = 255
    a = cs.salient_relevance_maps(hm, workers=1, max_side=40)
    b = cs.salient_relevance_maps(hm, workers=2, max_side=40)
    assert a.shape == (3, 40, 40) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_map_cache_reads_back_and_keys_by_heatmap_and_parameters(tmp_path, monkeypatch):
    hm = np.stack([_noisy((40, 40, 3), 90, seed=i) for i in range(2)])
    hm[:, 10:18, 20:28] = 255
    a = cs.salient_relevance_maps(hm, max_side=40, cache=tmp_path)
    np.testing.assert_array_equal(a, cs.salient_relevance_maps(hm, max_side=40))
    assert len(list(tmp_path.glob("*.npy"))) == 2
    monkeypatch.setattr(cs, "context_aware_saliency", lambda *a, **k: 1 / 0)
    np.testing.assert_array_equal(cs.salient_relevance_maps(hm, workers=2, max_side=40, cache=tmp_path), a)
    monkeypatch.undo()
    cs.salient_relevance_maps(hm, max_side=40, query_stride=2, cache=tmp_path)  # other parameters
    cs.salient_relevance_maps(hm[:, ::-1].copy(), max_side=40, cache=tmp_path)  # other heatmaps
    assert len(list(tmp_path.glob("*.npy"))) == 6
    # passing a default explicitly is the same key
    cs.salient_relevance_maps(hm, max_side=40, k=64, cache=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 6
    for f in tmp_path.glob("*.npy"):
        f.write_bytes(b"corrupt")
    np.testing.assert_array_equal(cs.salient_relevance_maps(hm, max_side=40, cache=tmp_path), a)
    with pytest.raises(ValueError, match="constant"):
        cs.salient_relevance_maps(np.zeros((1, 20, 20, 3), np.uint8), cache=tmp_path)


def test_bad_input():
    with pytest.raises(ValueError, match="constant"):
        cas(np.full((40, 40, 3), 7, np.uint8))
    with pytest.raises(ValueError, match="too small"):
        cas(np.random.default_rng(0).random((5, 9)))
    with pytest.raises(ValueError, match="NaN"):
        cas(np.full((20, 20), np.nan))
    with pytest.raises(ValueError, match="H x W"):
        cas(np.zeros((4, 4, 4, 3)))
    with pytest.raises(ValueError, match="0..255"):
        cas(np.full((20, 20, 3), 300, np.int32))
    with pytest.raises(ValueError, match="patch"):
        cas(np.random.default_rng(0).random((30, 30)), patch=4)
    with pytest.raises(ValueError, match="attention"):
        cas(np.random.default_rng(0).random((30, 30)), attention=1.5)
    with pytest.raises(ValueError, match="N x H x W"):
        cs.salient_relevance_maps(np.zeros((0, 5, 5)))
