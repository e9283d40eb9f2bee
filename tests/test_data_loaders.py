"""Loaders against the real offline bundle (skipped only when the bundle is absent)."""
import shutil

import numpy as np
import pytest

import saliency_utils.data as D
from saliency_utils.data import ChecksumError, DataNotFoundError, Fixations


@pytest.fixture(autouse=True)
def offline_bundle(bundle, monkeypatch, tmp_path):
    """Read only the bundle: no downloads, an empty temporary cache."""
    monkeypatch.setenv("SALIENCY_DATA", str(bundle))
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path / "cache"))
    return bundle


def check_inside(f: Fixations):
    h, w = f.shape
    assert len(f) > 0
    assert np.all((f.x >= 0) & (f.x <= w - 1) & (f.y >= 0) & (f.y <= h - 1))


def round_half_up(v):  # MATLAB's round for positive values
    return np.floor(v + 0.5).astype(int)


# --- manifest, catalogue, checksums ---------------------------------------------------------

def test_manifest_and_catalogue(bundle):
    entries = D.manifest()
    assert len(entries) == 3212
    assert sorted(D.DATASETS) == sorted({e.dataset for e in entries})
    for name, info in D.DATASETS.items():
        assert {f"{e.repo}@{e.commit}" for e in D.manifest(name)} == {info["source"]}
        assert info["licence"] and info["citation"] and info["description"]
    (e,) = D.manifest("osie_sr_example", "exa_data/1023.npy")
    assert e.bytes == 1920128 and e.path == "exa_data/1023.npy" and len(e.commit) == 40
    with pytest.raises(ValueError, match="unknown dataset"):
        D.manifest("osie2")


def test_bundle_is_found_beside_the_project(monkeypatch):
    if not (D.store.project_root().parent / "shared" / "data").is_dir():
        pytest.skip("no bundle beside the project")
    monkeypatch.delenv("SALIENCY_DATA")
    labels = [label for label, _ in D.data_roots()]
    assert labels == ["offline bundle", "cache"]
    assert D.fetch("osie", "LICENSE").is_file()
    monkeypatch.setenv("SALIENCY_NO_BUNDLE", "1")
    assert [label for label, _ in D.data_roots()] == ["cache"]
    with pytest.raises(DataNotFoundError, match="SALIENCY_OFFLINE=1"):
        D.fetch("osie", "LICENSE")


def test_checksums_pass_and_tampered_copy_fails(bundle, tmp_path, monkeypatch):
    assert D.verify("osie_sr_example") == 6
    assert D.verify("mit1003", "*/demo_ims/*") == 6
    for ds, rel in [("osie", "data/eye/fixations.mat"), ("imagenet_boxes", "LICENSE")]:
        assert D.fetch(ds, rel, verify=True) == bundle / ds / rel
    # a tampered copy under SALIENCY_DATA: loads (trusted) but fails verification
    root = tmp_path / "root"
    dest = root / "osie_sr_example" / "exa_data" / "1023.png"
    dest.parent.mkdir(parents=True)
    data = bytearray((bundle / "osie_sr_example" / "exa_data" / "1023.png").read_bytes())
    data[-20] ^= 0xFF
    dest.write_bytes(bytes(data))
    monkeypatch.setenv("SALIENCY_DATA", str(root))
    monkeypatch.setenv("SALIENCY_NO_BUNDLE", "1")
    assert D.fetch("osie_sr_example", "exa_data/1023.png") == dest
    with pytest.raises(ChecksumError, match="sha256"):
        D.fetch("osie_sr_example", "exa_data/1023.png", verify=True)
    with pytest.raises(ChecksumError):
        D.verify("osie_sr_example", "*.png")


# --- Fixations ------------------------------------------------------------------------------

def test_fixations_clip_drop_and_subsets():
    f = Fixations.from_points([-0.6, -0.4, 5.0, 9.4, 9.6, np.nan, 3.0],
                              [1.0, 1.0, 2.0, 3.0, 3.0, 1.0, 4.49], [0, 0, 1, 1, 2, 2, 2],
                              (5, 10))
    assert len(f) == 4 and f.n_dropped == 3 and f.n_clipped == 3
    np.testing.assert_allclose(f.x, [0.0, 5.0, 9.0, 3.0])
    np.testing.assert_allclose(f.y, [1.0, 2.0, 3.0, 4.0])
    assert list(f.observers) == [0, 1, 2]
    assert len(f.for_observer(2)) == 1 and f.for_observer(2).n_dropped == 2
    assert len(f.excluding_observer(2)) == 3 and f.excluding_observer(2).n_dropped == 1
    assert f.counts().sum() == 4 and f.fixation_map().sum() == 4
    assert f.density(1.0).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="from_points"):
        Fixations([10.0], [0.0], [0], (5, 10))


# --- OSIE -----------------------------------------------------------------------------------

def test_osie_ids_images_and_split():
    ids = D.osie_ids()
    assert len(ids) == 700 and ids[0] == "1001" and ids[-1] == "1700"
    im = D.load_osie_image("1001")
    assert im.shape == (600, 800, 3) and im.dtype == np.uint8
    train, test = D.osie_split()
    assert len(train) == 600 and len(test) == 100 and not set(train) & set(test)
    assert sorted(train + test) == ids
    assert test[:5] == ["1003", "1006", "1014", "1024", "1027"]  # pinned: the book's split
    assert D.osie_split() == (train, test) and D.osie_split(seed=1) != (train, test)
    with pytest.raises(ValueError, match="'1001' to '1700'"):
        D.load_osie_fixations("999")
    with pytest.raises(ValueError, match="'1001' to '1700'"):
        D.load_osie_image(1701)
    with pytest.raises(ValueError):
        D.osie_split(n_test=700)


def test_osie_fixations_all_images():
    total = dropped = 0
    for i in D.osie_ids():
        f = D.load_osie_fixations(i)
        assert f.shape == D.OSIE_SHAPE
        assert len(f.observers) == 15
        total += len(f)
        dropped += f.n_dropped
    assert total + dropped == 98321 and dropped == 0
    f = D.load_osie_fixations(1001)
    check_inside(f)
    d = f.density(D.OSIE_SIGMA_PX)
    assert d.shape == (600, 800) and d.sum() == pytest.approx(1.0) and d.min() >= 0
    assert sum(len(f.for_observer(o)) for o in f.observers) == len(f)
    assert len(f.excluding_observer(0)) == len(f) - len(f.for_observer(0))


def test_osie_is_one_based():
    # the OSIE-SR binary fixation map of image 1023 is MATLAB round(fix) as a 1-based index,
    # i.e. round-half-up of our 0-based coordinates, pixel for pixel
    f = D.load_osie_fixations("1023")
    ours = np.zeros(f.shape, bool)
    ours[round_half_up(f.y), round_half_up(f.x)] = True
    ex = D.load_osie_sr_example()
    np.testing.assert_array_equal(ours, ex["fixation_map"])
    # maps.fixation_map rounds half to even: the same map up to ties (.5 coordinates)
    assert (f.fixation_map() & ex["fixation_map"]).sum() >= 0.9 * ex["fixation_map"].sum()


# --- MIT1003 --------------------------------------------------------------------------------

def test_mit1003_stimuli_and_density():
    ids = D.mit1003_ids()
    assert len(ids) == 100 and "i05june05_static_street_boston_p1010764" in ids
    assert len(D.mit1003_all_names()) == 1003
    name = ids[0]
    im = D.load_mit1003_image(name)
    den = D.load_mit1003_density(name + ".jpg")
    assert im.dtype == np.uint8 and im.shape[:2] == den.shape
    assert den.dtype == np.float64 and den.min() >= 0 and den.max() == 1.0
    with pytest.raises(ValueError, match="1003 base names"):
        D.load_mit1003_fixations("no_such_image")
    other = sorted(set(D.mit1003_all_names()) - set(ids))[0]
    assert D.load_mit1003_density(other).ndim == 2  # density maps: all 1003
    with pytest.raises(DataNotFoundError, match="ALLSTIMULI"):
        D.load_mit1003_image(other)


def test_mit1003_fixations():
    name = "i05june05_static_street_boston_p1010764"
    f = D.load_mit1003_fixations(name)
    check_inside(f)
    assert f.shape == D.load_mit1003_density(name).shape
    assert set(f.observers) <= set(range(15)) and len(f.observers) == 15
    g = D.load_mit1003_fixations(name, drop_first=False)
    assert len(g) == len(f) + 15  # one central fixation per observer
    assert f.density(D.MIT1003_SIGMA_PX).sum() == pytest.approx(1.0)
    # every row of the table is either kept or counted as dropped (NA rows, off-image points)
    kept = dropped = 0
    for n in D.mit1003_all_names():
        g = D.load_mit1003_fixations(n, drop_first=False)
        kept, dropped = kept + len(g), dropped + g.n_dropped
    assert kept + dropped == 112344
    assert dropped == 3068  # 2406 NA rows + 662 points off the image


def test_mit1003_full_layout(bundle, tmp_path, monkeypatch):
    other = sorted(set(D.mit1003_all_names()) - set(D.mit1003_ids()))[0]
    full = tmp_path / "root" / "mit1003" / "ALLSTIMULI"
    full.mkdir(parents=True)
    # any JPEG stands in for the missing stimulus
    shutil.copyfile(bundle / "osie" / "data" / "stimuli" / "1001.jpg", full / f"{other}.jpeg")
    monkeypatch.setenv("SALIENCY_DATA", str(tmp_path / "root"))  # the bundle is still found
    assert other in D.mit1003_ids() and len(D.mit1003_ids()) == 101
    assert D.load_mit1003_image(other).shape == (600, 800, 3)


# --- ImageNet -------------------------------------------------------------------------------

def test_imagenet():
    recs = D.imagenet_val()
    assert len(recs) == 1300
    assert recs[0].file == "ILSVRC2012_val_00000347.JPEG" and recs[0].label == 472
    assert all(len(r.boxes) >= 1 for r in recs)
    boxes = np.concatenate([r.boxes for r in recs])
    assert boxes.shape == (1943, 4)
    assert boxes.min() >= 0 and boxes.max() <= 227
    assert np.all(boxes[:, 0] <= boxes[:, 2]) and np.all(boxes[:, 1] <= boxes[:, 3])
    assert len({r.label for r in recs}) == 725
    n, bad = D.imagenet_labels_agree()
    assert n == 1300 and bad == []
    names = D.imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[recs[0].label] == "canoe"
    im = D.load_imagenet_image(recs[0])
    assert im.shape == (227, 227, 3) and im.dtype == np.uint8
    assert np.array_equal(D.load_imagenet_image("./data/" + recs[0].file), im)
    with pytest.raises(ValueError, match="1300 files"):
        D.load_imagenet_image("ILSVRC2012_val_00000001.JPEG")


# --- SALICON --------------------------------------------------------------------------------

def test_salicon():
    names = D.salicon_examples()
    assert len(names) == 10 and names[0] == "COCO_train2014_000000123067.jpg"
    total = 0
    for n in names:
        f = D.load_salicon_fixations(n)
        assert f.shape == (480, 640) and f.n_dropped == 0
        check_inside(f)
        total += len(f)
    assert total == 73630
    assert D.load_salicon_image(123067).shape == (480, 640, 3)
    assert len(D.load_salicon_fixations("COCO_train2014_000000123067")) == len(
        D.load_salicon_fixations(names[0]))
    # 1-based [row, col]: the extremes land exactly on the last row / column
    xs = np.concatenate([D.load_salicon_fixations(n).x for n in names])
    ys = np.concatenate([D.load_salicon_fixations(n).y for n in names])
    assert xs.min() == 0 and xs.max() == 639 and ys.min() == 0 and ys.max() == 479
    with pytest.raises(ValueError, match="COCO ids"):
        D.load_salicon_fixations(1)


# --- pop-out, categories --------------------------------------------------------------------

def test_popout_examples():
    p3 = D.load_p3_example()
    assert p3["image"].shape == (1024, 1024, 3) and p3["image"].dtype == np.uint8
    t, d = p3["target_mask"], p3["distractor_mask"]
    assert t.dtype == bool and d.dtype == bool and t.any() and d.any() and not (t & d).any()
    rows, cols = np.nonzero(t)
    assert abs(cols.mean() - 790) < 2 and abs(rows.mean() - 663) < 2
    assert p3["deepgaze2"].shape == (1024, 1024)
    o3 = D.load_o3_example()
    assert o3["image"].shape[:2] == o3["target_mask"].shape == o3["distractor_mask"].shape
    assert o3["target_mask"].any() and o3["distractor_mask"].any()


def test_osie_sr_example():
    ex = D.load_osie_sr_example()
    assert ex["image"].shape == (600, 800, 3) and ex["instances"].shape == (600, 800)
    assert ex["instance_labels"] == {1: 37, 2: 1, 3: 1, 4: 1, 5: 27}  # text, 3 heads, object
    assert set(np.unique(ex["semantic"])) == {0, 1, 27, 37}
    assert ex["label_names"][37] == "text" and ex["fixation_map"].sum() == 161


def test_figrim():
    recs = D.load_figrim_annotations()
    assert len(recs) == 630
    cats = {}
    for r in recs:
        cats[r.category] = cats.get(r.category, 0) + 1
    assert len(cats) == 21 and set(cats.values()) == {30}
    r = recs[0]
    assert r.file == "sun_awmodvmqonpeudqi.jpg" and r.category == "airport_terminal"
    assert set(r.fixations) == {"enc", "rec", "rec2"}
    for f in r.fixations.values():
        check_inside(f)
    masks = D.category_masks(r, {"person": ["person*", "people"], "none": ["unicorn"]})
    assert masks["person"].any() and not masks["none"].any()
    sq = D.polygon_mask([[1, 1], [3, 1], [3, 3], [1, 3]], (5, 5))
    assert sq.sum() == 9 and sq[1:4, 1:4].all()
    # fixLocs maps are MATLAB round of the 1-based encoding fixations: pixel for pixel
    ids = D.figrim_amusement_park_ids()
    assert len(ids) == 30
    by_file = {r.file: r for r in recs}
    for name in ids[:5]:
        f = by_file[name + ".jpg"].fixations["enc"]
        ours = np.zeros(f.shape, bool)
        ours[round_half_up(f.y), round_half_up(f.x)] = True
        np.testing.assert_array_equal(ours, D.load_figrim_fixation_map(name))
    assert D.load_figrim_image(ids[0]).shape == (1000, 1000, 3)
    with pytest.raises(ValueError, match="figrim_amusement_park_ids"):
        D.load_figrim_image("sun_nope")


def test_mit1003_demo_example(bundle):
    from saliency_utils import data

    d = data.load_mit1003_demo("i210")
    assert d["fixation_map"].dtype == bool and d["fixation_map"].sum() > 10
    assert d["density"].shape == d["fixation_map"].shape == d["image"].shape[:2]
    assert set(d["models"]) == {"Judd", "ittikoch"}
    with pytest.raises(ValueError, match="i210"):
        data.load_mit1003_demo("i999")


def test_mit1003_parsed_table_cache(tmp_path, monkeypatch):
    """The parsed .Rda kept on disk gives the parse's arrays exactly; a corrupt cache file is
    parsed again (with a warning) and replaced; an unwritable cache folder only warns."""
    from saliency_utils.data import mit1003 as m

    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path / "cache"))
    rda = m.fetch(m.FIX_DATASET, m._RDA)
    ref = m._parse_table(rda)
    path = m._table_cache_path(rda)
    assert path.parent.parent == tmp_path / "cache"

    def fresh():
        m._table.cache_clear()
        return m._table()

    try:
        first = fresh()  # parses and writes
        assert path.is_file() and not list(path.parent.glob(".*.tmp"))
        cached = fresh()  # reads
        for table in (first, cached):
            assert list(table) == list(ref)
            for k in ref:
                for u, v in zip(ref[k], table[k]):
                    assert u.dtype == v.dtype and np.array_equal(u, v, equal_nan=True)
        path.write_bytes(b"not an npz")
        with pytest.warns(UserWarning, match="unreadable"):
            again = fresh()
        assert np.array_equal(again["i05june05_static_street_boston_p1010764"][0],
                              ref["i05june05_static_street_boston_p1010764"][0], equal_nan=True)
        assert m._read_table_cache(path).keys() == ref.keys()  # replaced by a good file
        path.unlink()

        def refuse(*a):
            raise PermissionError("read-only file system")

        monkeypatch.setattr(m, "_write_table_cache", refuse)
        with pytest.warns(UserWarning, match="could not keep"):
            assert fresh().keys() == ref.keys()
        assert not path.exists()
    finally:
        m._table.cache_clear()
