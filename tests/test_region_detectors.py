"""Head and text masks from the packaged detectors (region_detectors): masks from detections,
agreement measures, the on-disk cache, and the two real detectors on images where the answer is
known (rendered text; the OSIE-SR example's annotated heads)."""
import json

import cv2
import numpy as np
import pytest

from saliency_utils.analysis import region_detectors as rd


def _det(heads=(), text=(), shape=(100, 200)):
    return rd.Detections(shape, np.asarray(heads, float).reshape(-1, 5),
                         [np.asarray(q, float) for q in text])


def test_masks_from_detections_scale_to_any_grid():
    d = _det(heads=[[20, 10, 60, 50, 0.99]], text=[[[100, 20], [180, 20], [180, 40], [100, 40]]])
    m = rd.mask_from_detections(d, "head")
    assert m.shape == (100, 200) and m[10:50, 20:60].all() and m.sum() == 40 * 40
    g = rd.mask_from_detections(d, "head", (50, 100))
    assert g.shape == (50, 100) and g[5:25, 10:30].all() and not g[30:].any()
    t = rd.mask_from_detections(d, "text/sign", (50, 100))
    assert t[10:20, 50:90].any() and not t[:, :45].any()
    with pytest.raises(ValueError, match="not 'vehicle'"):
        rd.mask_from_detections(d, "vehicle")
    both = rd.masks({"a": d}, (10, 20))
    assert set(both["a"]) == set(rd.CATEGORIES)


def test_head_agreement_and_pixel_validation():
    d = _det(heads=[[20, 10, 60, 50, 0.99], [150, 60, 170, 80, 0.95]])
    person = np.zeros((100, 200), bool)
    person[0:100, 10:70] = True          # contains the first head's centre, 100 px tall
    small = np.zeros((100, 200), bool)
    small[90:100, 190:200] = True        # 10 px tall: too small to count for recall
    assert rd.head_agreement(d, [person, small]) == (2, 1, 1, 1)
    human = {"head": np.zeros((100, 200), bool)}
    human["head"][10:50, 20:40] = True   # half of the first head box
    v = rd.validate([d], [human], "head")
    assert v["recall"] == pytest.approx(1.0)
    assert v["precision"] == pytest.approx(800 / (1600 + 400))
    est = rd.ratio_ci(np.array([[1, 2, 3], [2, 2, 4], [0, 1, 1]]), 0, 1)
    assert est.value == pytest.approx(3 / 5) and est.lo <= est.value <= est.hi


def test_detect_caches_per_dataset_and_reports_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path))
    monkeypatch.setattr(rd, "detector_versions", lambda: {"fake": "1"})
    calls = []

    def fake(image):
        calls.append(image.shape)
        return _det(heads=[[1, 1, 5, 5, 0.99]], shape=image.shape[:2])

    monkeypatch.setattr(rd, "detect_image", fake)
    load = lambda i: np.zeros((10 + int(i), 12, 3), np.uint8)  # noqa: E731
    out = rd.detect("toy", ["1", "2"], load)
    assert [d.shape for d in out.values()] == [(11, 12), (12, 12)] and len(calls) == 2
    out = rd.detect("toy", ["2", "3"], load)  # only the new image runs
    assert len(calls) == 3 and list(out) == ["2", "3"]
    path = next((tmp_path / "regions").glob("toy-*.json"))
    assert set(json.loads(path.read_text())) == {"1", "2", "3"}
    path.write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        rd.detect("toy", ["1"], load)


def test_detect_image_refuses_bad_input():
    with pytest.raises(ValueError, match="uint8 RGB"):
        rd.detect_image(np.zeros((10, 10), np.uint8))


def test_text_detector_finds_rendered_text():
    pytest.importorskip("rapidocr_onnxruntime")
    img = np.full((240, 480, 3), 255, np.uint8)
    cv2.putText(img, "SALIENCY 2019", (40, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (0, 0, 0), 4)
    d = rd.detect_image(img)
    m = rd.mask_from_detections(d, "text/sign")
    assert len(d.text) >= 1
    assert m[110:140, 60:400].mean() > 0.5 and not m[:60].any() and not m[200:].any()


def test_face_detector_finds_the_annotated_heads(bundle):
    pytest.importorskip("facenet_pytorch")
    from saliency_utils import data

    sr = data.load_osie_sr_example()
    d = rd.detect_image(sr["image"])
    heads = np.isin(sr["semantic"], (1,))
    m = rd.mask_from_detections(d, "head")
    assert len(d.heads) >= 2
    assert (m & heads).sum() / heads.sum() > 0.8  # the annotated heads are covered


def test_no_deps_pins_agree_with_requirements_file():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pins = [ln.strip() for ln in (root / "requirements-nodeps.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert tuple(pins) == rd.NO_DEPS_WHEELS
