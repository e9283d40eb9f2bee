"""Boxes, IoU, the ILSVRC localisation criterion, pointing game and energy in boxes."""
import numpy as np
import pytest

from saliency_utils.evaluate import boxes as B


def test_iou_hand_cases():
    a = (0, 0, 10, 10)
    assert B.iou(a, a) == 1.0
    assert B.iou(a, (10, 0, 20, 10)) == 0.0  # touching edges: no overlap
    assert B.iou(a, (20, 20, 30, 30)) == 0.0
    # half overlap: intersection 50, union 150
    assert B.iou(a, (5, 0, 15, 10)) == pytest.approx(1 / 3)
    # nested: 25 / 100
    assert B.iou(a, (0, 0, 5, 5)) == pytest.approx(0.25)
    # zero-area boxes
    assert B.iou((1, 1, 1, 1), (1, 1, 1, 1)) == 0.0


def test_ilsvrc_inclusive_boxes_convert_with_plus_one():
    # devkit: inclusive corners, area (xmax - xmin + 1) * (ymax - ymin + 1)
    a, b = (0, 0, 9, 9), (5, 0, 14, 9)
    iw, ih = 9 - 5 + 1, 9 - 0 + 1
    devkit = iw * ih / (100 + 100 - iw * ih)
    conv = [(x0, y0, x1 + 1, y1 + 1) for x0, y0, x1, y1 in (a, b)]
    assert B.iou(*conv) == pytest.approx(devkit)


def test_iou_matrix_agrees_with_iou():
    rng = np.random.default_rng(0)
    def rand_boxes(n):
        xy = rng.uniform(0, 50, (n, 2))
        wh = rng.uniform(0, 30, (n, 2))
        return np.hstack([xy, xy + wh])
    A, Bx = rand_boxes(7), rand_boxes(5)
    M = B.iou_matrix(A, Bx)
    assert M.shape == (7, 5)
    for i in range(7):
        for j in range(5):
            assert M[i, j] == pytest.approx(B.iou(A[i], Bx[j]))
    assert np.allclose(B.iou_matrix(Bx, A), M.T)


@pytest.mark.parametrize("bad", [(5, 0, 4, 10), (0, 5, 10, 4), (0, 0, 1), [[0, 0, 1, 1, 2]],
                                 (0, 0, np.nan, 1)])
def test_bad_boxes_raise(bad):
    with pytest.raises(ValueError):
        B.iou(bad, (0, 0, 1, 1))


def test_mask_to_box_and_largest_component():
    m = np.zeros((10, 12), bool)
    m[2:5, 3:7] = True  # 12 pixels
    m[8, 0] = True
    assert B.mask_to_box(m).tolist() == [0, 2, 7, 9]
    big = B.largest_component(m)
    assert big.sum() == 12 and B.mask_to_box(big).tolist() == [3, 2, 7, 5]
    # a single pixel at (row 8, col 0) has the box (0, 8, 1, 9): area 1
    one = np.zeros((10, 12), bool)
    one[8, 0] = True
    assert B.mask_to_box(one).tolist() == [0, 8, 1, 9]
    with pytest.raises(ValueError, match="no True"):
        B.mask_to_box(np.zeros((3, 3), bool))
    assert not B.largest_component(np.zeros((3, 3), bool)).any()


def test_largest_component_uses_8_connectivity():
    m = np.eye(5, dtype=bool)  # a diagonal: one component with 8-neighbours, 5 with 4
    m[0, 4] = m[1, 4] = True
    assert B.largest_component(m).sum() == 5


def test_scale_full_and_centred_boxes():
    assert B.full_image_box((480, 640, 3)).tolist() == [0, 0, 640, 480]
    b = B.scale_box((10, 20, 110, 120), (224, 224), (448, 672))
    assert b.tolist() == [30, 40, 330, 240]
    assert B.scale_box(np.array([[0, 0, 224, 224]] * 2), (224, 224), (100, 50)).shape == (2, 4)
    assert B.centred_box((100, 200), 0.5, 0.4).tolist() == [50, 30, 150, 70]
    with pytest.raises(ValueError):
        B.centred_box((100, 200), 0, 0.5)


def test_localisation_correct_top1_top5():
    gt = [(0, 0, 10, 10), (50, 50, 60, 60)]
    good, bad = (50, 50, 61, 60), (30, 30, 40, 40)
    assert B.iou(good, gt[1]) >= 0.5
    # right class, good box on the second GT object
    assert B.localisation_correct([good], [3], gt, 3)
    # right box, wrong class
    assert not B.localisation_correct([good], [4], gt, 3)
    # right class, box misses every GT box
    assert not B.localisation_correct([bad], [3], gt, 3)
    # top-5: the correct guess is 4th
    preds = [bad, good, bad, good, bad]
    labels = [3, 1, 2, 3, 7]
    assert B.localisation_correct(preds, labels, gt, 3)
    assert not B.localisation_correct(preds, labels, gt, 3, top_k=1)
    assert not B.localisation_correct(preds, labels, gt, 3, top_k=3)
    assert B.localisation_correct(preds, labels, gt, 3, top_k=4)
    # IoU exactly at the threshold counts
    half = (0, 0, 10, 5)  # IoU 0.5 with gt[0]
    assert B.localisation_correct([half], [3], gt, 3)
    with pytest.raises(ValueError, match="labels"):
        B.localisation_correct([good, bad], [3], gt, 3)


# --------------------------------------------------------------------------- map vs boxes
def test_pointing_game_with_and_without_tolerance():
    s = np.zeros((20, 20))
    s[10, 15] = 1.0
    box = np.array([[2.0, 2.0, 12.0, 12.0]])  # covers columns 2..11, rows 2..11
    assert B.pointing_game(s, box) is False
    assert B.pointing_game(s, box, tolerance=4) is True  # column 15 vs 11: 4 px away
    assert B.pointing_game(s, box, tolerance=3.9) is False
    s2 = np.zeros((20, 20))
    s2[5, 5] = 2.0
    assert B.pointing_game(s2, box) is True
    with pytest.raises(ValueError, match="constant"):
        B.pointing_game(np.ones((5, 5)), box)
    with pytest.raises(ValueError, match="tolerance"):
        B.pointing_game(s, box, tolerance=-1)


def test_energy_in_boxes_known_answer():
    s = np.zeros((10, 10))
    s[1, 1] = 3.0
    s[8, 8] = 1.0
    assert B.energy_in_boxes(s, [0, 0, 5, 5]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="negative"):
        B.energy_in_boxes(s - 1, [0, 0, 5, 5])


def test_pointing_game_ties_multiple_boxes_and_the_old_rule():
    """Ties: the first maximum in raster order; several boxes: a hit in any of them; the merged
    function equals the old wsol.point_in_boxes (argmax in the union mask, 1.0 / 0.0) on every
    non-constant map, here checked against that rule written out."""
    s = np.zeros((10, 10))
    s[1, 8] = s[7, 2] = 5.0  # tie: (1, 8) comes first in raster order
    assert B.pointing_game(s, [[0, 5, 4, 10]]) is False  # covers (7, 2) only
    assert B.pointing_game(s, [[0, 5, 4, 10], [7, 0, 10, 3]]) is True  # second box has (1, 8)
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.random((12, 15))
        b = np.sort(rng.uniform(0, 12, (2, 2)), axis=0).T.ravel()[[0, 2, 1, 3]]
        r, c = np.unravel_index(int(np.argmax(m)), m.shape)
        old = float(B.box_union_mask(b, m.shape)[r, c])
        assert float(B.pointing_game(m, b)) == old
    for bad, match in [(np.full((4, 4), np.nan), "NaN"), (np.ones(4), "2-D"),
                       (np.zeros((0, 4)), "2-D")]:
        with pytest.raises(ValueError, match=match):
            B.pointing_game(bad, [[0, 0, 1, 1]])
