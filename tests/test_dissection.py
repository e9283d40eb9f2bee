"""Network dissection on synthetic units with known detections, category masks, ratios."""
import numpy as np
import pytest
import torch

from saliency_utils.analysis import dissection as ds


def _toy(n=6, seed=0):
    """Images 40x40 with a square 'head' region and a 'text' bar; 4 units at 10x10: unit 0
    fires on heads, unit 1 on text, unit 2 random noise, unit 3 everywhere-ish."""
    rng = np.random.default_rng(seed)
    acts, masks = [], []
    for i in range(n):
        head = np.zeros((40, 40), bool)
        y, x = rng.integers(0, 28, 2)
        head[y:y + 12, x:x + 12] = True
        text = np.zeros((40, 40), bool)
        ty = rng.integers(0, 36)
        text[ty:ty + 4, :] = True
        a = np.zeros((4, 10, 10), np.float32)
        a[0] = head.reshape(10, 4, 10, 4).mean(axis=(1, 3)) * 5
        a[1] = text.reshape(10, 4, 10, 4).mean(axis=(1, 3)) * 5
        a[2] = rng.random((10, 10))
        a[3] = 1.0 + 0.01 * rng.random((10, 10))
        acts.append(torch.from_numpy(a))
        masks.append({"head": head, "text": text})
    return acts, masks


def test_known_detectors_are_found():
    acts, masks = _toy()
    d = ds.dissect("toy", acts, masks, quantiles=(0.8, 0.9))
    best, iou = d.best(0.8)
    assert best[0] == 0 and best[1] == 1
    assert iou[0] > 0.3 and iou[1] > 0.3
    assert d.iou[0, 2].max() < d.iou[0, 0, 0]  # noise unit far below the head unit
    c = d.counts(cutoff=0.2, quantile=0.8)
    assert c["head"] >= 1 and c["text"] >= 1
    assert list(d.detectors("head", 0.2, 0.8))[0] == 0


def test_iou_formula_by_hand():
    a = torch.zeros(1, 2, 2)
    a[0, 0, 0] = 1.0
    m = {"c": np.array([[True, True], [False, False]])}
    d = ds.dissect("x", [a, a], [m, m], quantiles=(0.5,))
    # threshold = median of (1,0,0,0,1,0,0,0) = 0; upsampling 2x2 -> 2x2 is the identity
    assert d.thresholds[0, 0] == 0
    assert d.iou[0, 0, 0] == pytest.approx(2 / 4)  # intersection 1+1, union 2+2


def test_thresholds_are_per_unit_quantiles():
    rng = np.random.default_rng(0)
    acts = [rng.normal(size=(3, 5, 5)) * np.array([1, 10, 100])[:, None, None]
            for _ in range(4)]
    thr = ds.unit_thresholds(acts, (0.5, 0.99))
    flat = np.concatenate([a.reshape(3, -1) for a in acts], axis=1)
    np.testing.assert_allclose(thr, np.quantile(flat, [0.5, 0.99], axis=1))


def test_counts_move_with_cutoff():
    acts, masks = _toy()
    d = ds.dissect("toy", acts, masks, quantiles=(0.9,))
    total = [sum(d.counts(c).values()) for c in (0.0, 0.04, 0.3, 0.99)]
    assert total == sorted(total, reverse=True) and total[-1] == 0


def test_bad_input():
    acts, masks = _toy(2)
    with pytest.raises(ValueError):
        ds.dissect("x", acts, masks[:1])
    with pytest.raises(ValueError):
        ds.dissect("x", acts, [{"head": np.zeros((40, 40), bool)}] * 2)
    with pytest.raises(ValueError):
        ds.unit_thresholds(acts, (1.5,))
    with pytest.raises(ValueError):
        ds.dissect("x", [torch.zeros(10)] * 2, masks)
    d = ds.dissect("x", acts, masks)
    with pytest.raises(ValueError):
        d.counts(quantile=0.5)


def test_region_saliency_ratio():
    h = np.zeros((10, 10))
    h[:5] = 1
    p = np.ones((10, 10))
    m = np.zeros((10, 10), bool)
    m[:5] = True
    assert ds.region_saliency_ratio(p, h, m) == pytest.approx(0.5)
    assert ds.region_saliency_ratio(h, h, m) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ds.region_saliency_ratio(p, h, np.zeros((10, 10), bool))
    with pytest.raises(ValueError):
        ds.region_saliency_ratio(p, h, ~m)  # no human density there


def test_resize_mask():
    m = np.zeros((4, 4), bool)
    m[:2, :2] = True
    r = ds.resize_mask(m, (8, 8))
    assert r[:4, :4].all() and not r[4:].any()


def test_figrim_patterns_cover_the_names(bundle):
    """Every FIGRIM object name the patterns claim belongs to one category only, and the
    expected names are matched."""
    import fnmatch

    from saliency_utils import data

    names = {n for r in data.load_figrim_annotations() for n, _ in r.objects}
    hits = {c: {n for n in names if any(fnmatch.fnmatchcase(n, p) for p in pats)}
            for c, pats in ds.FIGRIM_PATTERNS.items()}
    assert {"person", "people", "child"} <= hits["person"]
    assert {"text", "sign", "logo", "billboard"} <= hits["text/sign"]
    assert {"car", "bus", "truck", "boat"} <= hits["vehicle"]
    cats = list(hits)
    for i, a in enumerate(cats):
        for b in cats[i + 1:]:
            assert not hits[a] & hits[b], (a, b, hits[a] & hits[b])
    assert "carpet" not in hits["vehicle"] and "shower head" not in hits["person"]


def test_osie_sr_items(bundle):
    (item,) = ds.osie_sr_items(mask_scale=0.25)
    assert item["masks"]["head"].shape == (150, 200)
    assert item["masks"]["head"].any() and item["masks"]["text/sign"].any()
    assert not item["masks"]["vehicle"].any()
    assert (item["masks"]["head"] <= item["masks"]["person"]).all()
    assert item["fixation_map"].any()


def test_osie_sr_folder_items(tmp_path, bundle):
    from PIL import Image

    seg = tmp_path / "SegmentationClass"
    seg.mkdir()
    a = np.zeros((600, 800), np.uint8)
    a[100:200, 100:200] = 1
    a[300:320, 400:600] = 37
    im = Image.frombytes("P", (800, 600), a.tobytes())  # labelme-style indexed PNG
    im.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    im.save(seg / "1001.png")
    (item,) = ds.osie_sr_folder_items(tmp_path, mask_scale=0.5)
    assert item["masks"]["head"].sum() == 50 * 50
    assert item["masks"]["text/sign"].sum() == 10 * 100
    with pytest.raises(FileNotFoundError):
        ds.osie_sr_folder_items(tmp_path / "nothing")


def test_unannotated_category_is_left_out():
    acts, masks = _toy(4)
    d_all = ds.dissect("toy", acts, masks, quantiles=(0.8,))
    # mark 'text' as not annotated in the last two images: only the first two count
    partial = [dict(m) for m in masks]
    for m in partial[2:]:
        m["text"] = None
    d_part = ds.dissect("toy", acts, partial, quantiles=(0.8,))
    d_two = ds.dissect("toy", acts[:2], masks[:2], quantiles=(0.8,))
    # the head IoU is unchanged; the text IoU equals a dissection of the first two images with
    # the thresholds of all four
    np.testing.assert_allclose(d_part.iou[0, :, 0], d_all.iou[0, :, 0])
    assert not np.allclose(d_part.iou[0, :, 1], d_all.iou[0, :, 1])
    assert d_two.iou.shape == d_part.iou.shape


def test_rotated_masks_destroy_alignment():
    acts, masks = _toy(8)
    items = [{"masks": m} for m in masks]
    rot = ds.rotated_items(items)
    assert np.array_equal(rot[0]["masks"]["head"], masks[0]["head"][::-1, ::-1])
    d = ds.dissect("toy", acts, masks, quantiles=(0.8,))
    d_rot = ds.dissect("toy", acts, [it["masks"] for it in rot], quantiles=(0.8,))
    assert d_rot.iou[0, 0, 0] < 0.5 * d.iou[0, 0, 0]
    assert d_rot.iou[0, 1, 1] < 0.5 * d.iou[0, 1, 1]


def test_shuffled_masks_come_from_other_images():
    acts, masks = _toy(8)
    items = [{"source": "toy", "id": k, "masks": m} for k, m in enumerate(masks)]
    items.append({"source": "other", "id": 99, "masks": masks[0]})
    sh = ds.shuffled_items(items, seed=3)
    assert [it["id"] for it in sh] == [it["id"] for it in items]
    for k in range(8):
        src = [j for j in range(8) if sh[k]["masks"]["head"] is masks[j]["head"]]
        assert len(src) == 1 and src[0] != k
    assert np.array_equal(sh[8]["masks"]["head"], masks[0]["head"][::-1, ::-1])
    d = ds.dissect("toy", acts, masks, quantiles=(0.8,))
    d_sh = ds.dissect("toy", acts, [it["masks"] for it in sh[:8]], quantiles=(0.8,))
    assert d_sh.iou[0, 0, 0] < 0.5 * d.iou[0, 0, 0]


def test_dissect_sets_equals_separate_dissections():
    acts, masks = _toy(5)
    sh = [it["masks"] for it in ds.shuffled_items([{"masks": m} for m in masks], seed=1)]
    both = ds.dissect_sets("toy", acts, {"a": masks, "b": sh}, quantiles=(0.8, 0.9))
    np.testing.assert_allclose(both["a"].iou, ds.dissect("toy", acts, masks, (0.8, 0.9)).iou)
    np.testing.assert_allclose(both["b"].iou, ds.dissect("toy", acts, sh, (0.8, 0.9)).iou)
    with pytest.raises(ValueError):
        ds.dissect_sets("toy", acts, {"a": masks, "b": masks[:2]})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unit_thresholds_equal_numpy_quantiles(seed):
    rng = np.random.default_rng(seed)
    acts = [rng.gamma(1.0, 1.0, (5, 7, 9)).astype(np.float32) for _ in range(13)]
    acts[0][2] = 0.0  # ties
    q = (0.5, 0.99, 0.995, 0.999)
    flat = np.concatenate([a.reshape(5, -1) for a in acts], axis=1).astype(np.float64)
    np.testing.assert_allclose(ds.unit_thresholds(acts, q), np.quantile(flat, q, axis=1),
                               rtol=1e-13, atol=0)
