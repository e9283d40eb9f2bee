"""Full SALICON (LSUN 2017) and CAT2000 loaders on tiny synthetic copies of the official layouts."""
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

import saliency_utils.data as D
from saliency_utils.data import DataNotFoundError

SAL_H, SAL_W = 48, 64   # SALICON is 480 x 640; tiny here
CAT_H, CAT_W = 24, 40   # CAT2000 is 1080 x 1920; tiny here


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """An empty data root and an empty cache; no bundle, no downloads."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("SALIENCY_DATA", str(root))
    monkeypatch.setenv("SALIENCY_CACHE", str(cache))
    monkeypatch.setenv("SALIENCY_NO_BUNDLE", "1")
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    return root, cache


def _jpeg(path: Path, h: int, w: int, grey: bool = False, value: int = 128):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((h, w) if grey else (h, w, 3), value, np.uint8)
    Image.fromarray(arr).save(path, quality=95)


def _gaze(workers):
    """A MATLAB struct array like SALICON's ``gaze``: one entry per worker."""
    g = np.zeros((len(workers), 1), dtype=[("location", "O"), ("timestamp", "O"),
                                           ("fixations", "O")])
    for k, (loc, fix) in enumerate(workers):
        g[k, 0]["location"] = np.asarray(loc, np.float64).reshape(-1, 2)
        g[k, 0]["timestamp"] = np.arange(len(loc), dtype=np.float64).reshape(-1, 1) * 10
        g[k, 0]["fixations"] = np.asarray(fix, np.float64).reshape(-1, 2)
    return g


def _salicon(root: Path, name: str, split: str, workers, image=True, density=True,
             resolution=(SAL_H, SAL_W)):
    s = root / "salicon"
    if image:
        _jpeg(s / "images" / split / f"{name}.jpg", SAL_H, SAL_W)
    path = s / "fixations" / split / f"{name}.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"image": name, "resolution": np.array([resolution], np.float64),
                            "gaze": _gaze(workers)})
    if density:
        (s / "maps" / split).mkdir(parents=True, exist_ok=True)
        ramp = np.tile(np.arange(SAL_W, dtype=np.uint8) * 4, (SAL_H, 1))
        Image.fromarray(ramp).save(s / "maps" / split / f"{name}.png")


TRAIN_A = "COCO_train2014_000000000009"
TRAIN_B = "COCO_train2014_000000000025"
VAL_A = "COCO_val2014_000000000042"


def test_salicon_full(roots):
    root, cache = roots
    workers = [
        # 1-based [x, y]: the corners, one inner point and one point right of the image
        ([[1, 1], [2, 2], [3, 3]], [[1, 1], [SAL_W, SAL_H], [10, 5]]),
        ([[5, 5]], [[SAL_W + 6, 5]]),
        ([[7, 7], [8, 8]], np.zeros((0, 2))),  # a worker without fixations
    ]
    _salicon(root, TRAIN_A, "train", workers)
    _salicon(root, TRAIN_B, "train", workers[:1], image=False, density=False)
    _salicon(cache, VAL_A, "val", workers[:1])  # another data root (the cache) counts too

    assert D.salicon_full_ids("train") == [TRAIN_A]  # ids list the local images
    assert D.salicon_full_ids("val") == [VAL_A]

    img = D.load_salicon_full_image(TRAIN_A)
    assert img.shape == (SAL_H, SAL_W, 3) and img.dtype == np.uint8
    assert np.array_equal(D.load_salicon_full_image(9, "train"), img)
    assert np.array_equal(D.load_salicon_full_image(TRAIN_A + ".jpg", "train"), img)

    f = D.load_salicon_full_fixations(TRAIN_A)
    assert f.shape == (SAL_H, SAL_W)
    assert (len(f), f.n_dropped, f.n_clipped) == (3, 1, 0)
    pts = set(zip(f.x.tolist(), f.y.tolist()))
    assert pts == {(0.0, 0.0), (SAL_W - 1.0, SAL_H - 1.0), (9.0, 4.0)}
    assert f.counts()[4, 9] == 1  # 1-based [x=10, y=5] lands on row 4, column 9
    assert f.observer.tolist() == [0, 0, 0] and f.dropped_observer.tolist() == [1]

    m = D.load_salicon_full_fixations(TRAIN_A, points="mouse")
    assert len(m) == 6 and m.observers.tolist() == [0, 1, 2]
    assert m.counts()[6, 6] == 1  # mouse sample [7, 7] of worker 2

    # without a local image the shape comes from the file's resolution [height, width]
    fb = D.load_salicon_full_fixations(TRAIN_B)
    assert fb.shape == (SAL_H, SAL_W) and len(fb) == 3

    d = D.load_salicon_full_density(TRAIN_A, "train")
    assert d.shape == (SAL_H, SAL_W) and 0 <= d.min() and d.max() <= 1
    assert d[0, 1] == pytest.approx(4 / 255)
    assert D.load_salicon_full_density(VAL_A).shape == (SAL_H, SAL_W)

    with pytest.raises(ValueError, match="split 'train', not 'val'"):
        D.load_salicon_full_image(TRAIN_A, "val")
    with pytest.raises(ValueError, match="needs the split"):
        D.load_salicon_full_image(9)
    with pytest.raises(ValueError, match="not public"):
        D.load_salicon_full_fixations(1, "test")
    with pytest.raises(ValueError, match="unknown points"):
        D.load_salicon_full_fixations(TRAIN_A, points="eyes")
    with pytest.raises(ValueError, match="unknown SALICON split"):
        D.salicon_full_ids("training")
    with pytest.raises(DataNotFoundError, match="maps/train/COCO_train2014_000000000025.png"):
        D.load_salicon_full_density(TRAIN_B)


def test_salicon_full_absent(roots):
    root, cache = roots
    with pytest.raises(DataNotFoundError) as err:
        D.salicon_full_ids("train")
    msg = str(err.value)
    assert "No full SALICON train images found" in msg
    assert str(root / "salicon" / "images" / "train") in msg and str(cache) in msg
    assert "<root>/salicon/fixations/<split>/COCO_<split>2014_<id>.mat" in msg
    assert "never downloaded" in msg and err.value.dataset == "salicon"
    with pytest.raises(DataNotFoundError, match="fixations/val/COCO_val2014_000000000042.mat"):
        D.load_salicon_full_fixations(42, "val")
    with pytest.raises(FileNotFoundError):  # DataNotFoundError is a FileNotFoundError
        D.load_salicon_full_image(VAL_A)


def _cat2000(root: Path, image_id: str, ones_1based, size=(CAT_H, CAT_W)):
    t = root / "cat2000" / "trainSet"
    _jpeg(t / "Stimuli" / f"{image_id}.jpg", *size)
    _jpeg(t / "FIXATIONMAPS" / f"{image_id}.jpg", *size, grey=True, value=200)
    locs = np.zeros(size, np.uint8)
    for r, c in ones_1based:  # MATLAB 1-based (row, column)
        locs[r - 1, c - 1] = 1
    path = t / "FIXATIONLOCS" / f"{image_id}.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"fixLocs": locs})


def test_cat2000(roots):
    root, cache = roots
    _cat2000(root, "Action/002", [(1, 1), (5, 10), (CAT_H, CAT_W)])
    _cat2000(root, "Action/001", [(3, 3)])
    _cat2000(cache, "Art/010", [(2, 4)])
    # model outputs of the archive (Output folders) are not stimuli
    _jpeg(root / "cat2000" / "trainSet" / "Stimuli" / "Action" / "Output" / "001_x.jpg", 4, 4)

    assert D.cat2000_ids() == ["Action/001", "Action/002", "Art/010"]
    img = D.load_cat2000_image("Action/002")
    assert img.shape == (CAT_H, CAT_W, 3) and img.dtype == np.uint8
    assert np.array_equal(D.load_cat2000_image("Action/2.jpg"), img)

    fmap = D.load_cat2000_fixation_map("Action/002")
    assert fmap.dtype == bool and fmap.shape == (CAT_H, CAT_W) and fmap.sum() == 3
    f = D.load_cat2000_fixations("Action/002")
    assert f.shape == (CAT_H, CAT_W) and len(f) == 3 and f.n_dropped == 0
    assert set(zip(f.x.tolist(), f.y.tolist())) == {(0.0, 0.0), (9.0, 4.0),
                                                     (CAT_W - 1.0, CAT_H - 1.0)}
    assert f.observers.tolist() == [0]
    assert np.array_equal(f.fixation_map(), fmap)  # MATLAB (row 5, col 10) -> x=9, y=4

    d = D.load_cat2000_density("Art/010")
    assert d.shape == (CAT_H, CAT_W) and np.allclose(d, 200 / 255, atol=2 / 255)

    assert D.CAT2000_SIGMA_PX == D.CAT2000_PX_PER_DEGREE == 38.0
    with pytest.raises(ValueError, match="not a CAT2000 image id"):
        D.load_cat2000_image("001")
    with pytest.raises(DataNotFoundError, match="FIXATIONLOCS/Art/011.mat"):
        D.load_cat2000_fixations("Art/011")


def test_cat2000_absent(roots):
    root, _ = roots
    with pytest.raises(DataNotFoundError) as err:
        D.cat2000_ids()
    msg = str(err.value)
    assert "No CAT2000 training images found" in msg
    assert str(root / "cat2000" / "trainSet" / "Stimuli") in msg
    assert "<root>/cat2000/trainSet/FIXATIONLOCS/<Category>/<NNN>.mat" in msg
    with pytest.raises(DataNotFoundError, match="CAT2000 stimulus Action/001 not found"):
        D.load_cat2000_image("Action/001")
