"""P3-style search arrays: masks match what is drawn, one feature differs, reproducible, errors,
and statistics like the P3 example of the bundle."""
import numpy as np
import pytest
from scipy import ndimage

from saliency_utils.data import search_arrays as stimuli
from saliency_utils.data.search_arrays import FEATURES, search_array


@pytest.fixture(scope="module")
def arrays():
    return {f: search_array(f, seed=3) for f in FEATURES}


@pytest.mark.parametrize("feature", FEATURES)
def test_masks_match_drawn_items(arrays, feature):
    a = arrays[feature]
    bg = np.array(a.meta["bg_color"])
    drawn = np.any(a.image != bg, axis=2)
    items = a.target_mask | a.distractor_mask
    assert not (a.target_mask & a.distractor_mask).any()
    # every masked pixel is drawn; drawn pixels outside the masks are only anti-aliased edges
    assert drawn[items].all()
    edge = drawn & ~items
    assert edge.sum() < 0.15 * items.sum()
    assert (ndimage.binary_dilation(items, iterations=2) | ~edge).all()
    # interior pixels carry exactly the item colours
    t_in = ndimage.binary_erosion(a.target_mask, iterations=2)
    d_in = ndimage.binary_erosion(a.distractor_mask, iterations=2)
    assert (a.image[t_in] == np.array(a.meta["t_color"])).all()
    assert (a.image[d_in] == np.array(a.meta["d_color"])).all()
    # 48 distractor components + 1 target, the target at t_pos's centre
    assert ndimage.label(a.distractor_mask)[1] == 48
    assert ndimage.label(a.target_mask)[1] == 1
    cy, cx = ndimage.center_of_mass(a.target_mask)
    assert abs(cx - a.meta["t_x"]) < 2.5 and abs(cy - a.meta["t_y"]) < 6
    assert a.items[int(a.meta["t_y"]), int(a.meta["t_x"])] == a.meta["t_pos"]


@pytest.mark.parametrize("feature", FEATURES)
def test_singleton_differs_in_exactly_the_requested_feature(arrays, feature):
    m = arrays[feature].meta
    diffs = {"colour": m["t_color"] != m["d_color"], "shape": m["t_shape"] != m["d_shape"],
             "size": m["t_size"] != m["d_size"], "orientation": m["t_ori"] != m["d_ori"]}
    assert [k for k, v in diffs.items() if v] == [feature]
    # and the pixels agree: target and distractor areas
    a = arrays[feature]
    t_area = a.target_mask.sum()
    d_areas = ndimage.sum(a.distractor_mask, ndimage.label(a.distractor_mask)[0], range(1, 49))
    if feature in ("colour", "orientation"):
        assert abs(t_area - np.median(d_areas)) < 0.03 * t_area
    else:
        assert abs(t_area - np.median(d_areas)) > 0.1 * t_area


def test_orientation_singleton_is_rotated():
    a = search_array("orientation", target_value=90, seed=0, target_pos=25)
    ys, xs = np.nonzero(a.target_mask)
    assert np.ptp(xs) > 2 * np.ptp(ys)  # a horizontal bar among vertical ones
    lab, _ = ndimage.label(a.distractor_mask)
    ys, xs = np.nonzero(lab == lab[np.nonzero(lab)][0])
    assert np.ptp(ys) > 2 * np.ptp(xs)


def test_reproducible_and_seed_dependent():
    a, b = search_array("size", seed=7), search_array("size", seed=7)
    c = search_array("size", seed=8)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.target_mask, b.target_mask)
    assert not np.array_equal(a.image, c.image)


def test_target_position_respected():
    for pos in (1, 25, 49):
        a = search_array("colour", target_pos=pos, seed=1)
        row, col = divmod(pos - 1, 7)
        cell = 1024 / 7
        assert abs(a.meta["t_x"] - (col + 0.5) * cell) <= 15
        assert abs(a.meta["t_y"] - (row + 0.5) * cell) <= 15


@pytest.mark.parametrize("kwargs", [
    dict(feature="texture"), dict(feature="colour", target_value=(227, 159, 0)),
    dict(feature="colour", target_value=(300, 0, 0)), dict(feature="colour", target_value="red"),
    dict(feature="size", target_value=75), dict(feature="size", target_value=-3),
    dict(feature="size", target_value=140), dict(feature="shape", target_value="circle"),
    dict(feature="shape", target_value="star"), dict(feature="orientation", target_value=180),
    dict(feature="orientation", distractor_shape="circle"), dict(target_pos=0),
    dict(target_pos=50), dict(grid=0), dict(item_size=0), dict(jitter=-1),
    dict(background=(227, 159, 0)),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises((ValueError, TypeError)):
        search_array(**kwargs)


def test_statistics_match_the_p3_example(bundle):
    from saliency_utils import data

    ex = data.load_p3_example()
    a = search_array("colour", seed=0, target_pos=34)
    assert a.image.shape == ex["image"].shape
    # background colour = the example's most common colour, item colours as in the example
    vals, counts = np.unique(ex["image"].reshape(-1, 3), axis=0, return_counts=True)
    assert tuple(vals[counts.argmax()]) == a.meta["bg_color"]
    assert tuple(np.median(ex["image"][ex["target_mask"]], axis=0)) == a.meta["t_color"]
    assert tuple(np.median(ex["image"][ex["distractor_mask"]], axis=0)) == a.meta["d_color"]
    # item areas, item count and grid layout within a few per cent of the example's
    assert a.target_mask.sum() == pytest.approx(ex["target_mask"].sum(), rel=0.03)
    assert a.distractor_mask.sum() == pytest.approx(ex["distractor_mask"].sum(), rel=0.03)
    lab, n = ndimage.label(ex["distractor_mask"])
    assert n == ndimage.label(a.distractor_mask)[1] == 48
    cell = 1024 / 7
    for m in (ex["distractor_mask"], a.distractor_mask):
        lab, n = ndimage.label(m)
        cs = np.array(ndimage.center_of_mass(m, lab, range(1, n + 1)))
        off = cs - (np.floor(cs / cell) + 0.5) * cell  # offset from the cell centre
        assert np.abs(off).max() < 20
    # the example's target lies in grid position 34 (row 5, column 6, 1-based)
    cy, cx = ndimage.center_of_mass(ex["target_mask"])
    assert int(cy // cell) * 7 + int(cx // cell) + 1 == 34


def test_search_array_set():
    s = stimuli.search_array_set(2, features=("colour", "size"), seed=1)
    assert [a.meta["feature"] for a in s] == ["colour", "colour", "size", "size"]
    assert s[0].meta["seed"] != s[1].meta["seed"]
