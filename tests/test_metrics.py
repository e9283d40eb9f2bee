"""Saliency metrics: hand-computed cases, properties, agreement with a naive reference
implementation (tests/reference_metrics.py), the MIT1003 i210 example, bad inputs, determinism."""
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from saliency_utils.evaluate import metrics as M
from saliency_utils.evaluate.scoring import score_image
from saliency_utils.evaluate.maps import fixation_map, gaussian_centre_bias, gaussian_density, resize_map

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_metrics as R  # noqa: E402

DATA = Path(os.environ.get("SALIENCY_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "data")
I210 = DATA / "mit1003" / "code_forVisualization" / "demo_ims"


def needs_data(test):
    """Mark a test that reads the offline data bundle (run whenever the bundle is there)."""
    skip = pytest.mark.skipif(not I210.is_dir(), reason=f"data bundle not found at {DATA}")
    return pytest.mark.slow(skip(test))


def make_case(seed, shape=(24, 31), quantise=False):
    """Smooth random saliency map, fixations drawn from it, their density, other-image
    fixations and a centre-bias baseline."""
    rng = np.random.default_rng(seed)
    sal = ndimage.gaussian_filter(rng.random(shape), 2.0)
    sal = (sal - sal.min()) / np.ptp(sal)
    if quantise:  # 8-bit map: ties among fixated pixels and values such as 153/255 == 0.6
        sal = np.round(sal * 255)
    fixmap = rng.random(shape) < 0.12 * (sal / sal.max()) ** 2
    fixmap[shape[0] // 2, shape[1] // 2] = fixmap[1, 1] = True  # at least two fixations
    density = gaussian_density(fixmap.astype(float), 2.0)
    other = rng.random(shape) < 0.06
    return sal, fixmap, density, other, gaussian_centre_bias(shape)


# ------------------------------------------------------------------ hand-computed 2 x 3 case
SAL = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
FIX = np.array([[0, 0, 1], [0, 1, 0]], dtype=bool)  # fixated values 3 and 5
DENS = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("jitter", [False, True])
def test_hand_auc_judd(jitter):
    # min-max: S = [0, .2, .4, .6, .8, 1]; fixated .4, .8; N = 6, N_f = 2, negatives 4.
    # t = .8: 2 pixels >= t -> TP = 1/2, FP = (2-1)/4 = .25
    # t = .4: 4 pixels >= t -> TP = 1,   FP = (4-2)/4 = .5
    # (0,0) (.25,.5) (.5,1) (1,1): .25*.25/2 + .25*(.5+1)/2 + .5*1 = .0625 + .1875 + .5 = .75
    # (the exact ROC area, 5 of 8 positive/negative pairs ordered, is .625: the MIT sweep
    # interpolates between fixation thresholds). A 1e-7 jitter cannot reorder these values.
    assert M.auc_judd(SAL, FIX, jitter=jitter) == pytest.approx(0.75, abs=1e-12)


def test_hand_nss():
    # mean 3.5, sample variance (6.25+2.25+.25)*2/5 = 3.5; z at 3 and 5: -.5/sqrt(3.5), 1.5/sqrt(3.5)
    assert M.nss(SAL, FIX) == pytest.approx(0.5 / math.sqrt(3.5), abs=1e-12)


def test_hand_cc():
    # sal - mean = [-2.5,-1.5,-.5,.5,1.5,2.5], sum of squares 17.5; density mean 1/3,
    # sum of squares 2 - 6/9 = 4/3; covariance sum = -.5 + 1.5 = 1  ->  CC = 1/sqrt(17.5*4/3)
    assert M.cc(SAL, DENS) == pytest.approx(math.sqrt(3 / 70), abs=1e-12)


def test_hand_sim():
    # min-max then / sum: P = [0,1,2,3,4,5]/15, Q = [0,0,.5,0,.5,0]; sum min = 2/15 + 4/15 = .4
    assert M.sim(SAL, DENS) == pytest.approx(0.4, abs=1e-12)


def test_hand_kld():
    # P = [1..6]/21 (no min-max), Q = [0,0,.5,0,.5,0]:
    # .5 ln(.5/(3/21)) + .5 ln(.5/(5/21)) = .5 ln(3.5 * 2.1) = .5 ln 7.35
    assert M.kld(SAL, DENS) == pytest.approx(0.5 * math.log(7.35), abs=1e-12)


def test_hand_information_gain():
    # P = [0,1,2,3,4,5]/15; baseline [[2,1,2],[1,3,1]] min-max [.5,0,.5,0,1,0] / 2 ->
    # B = [.25,0,.25,0,.5,0]; at the fixations log2((2/15)/.25) = log2((4/15)/.5) = log2(8/15)
    base = np.array([[2.0, 1.0, 2.0], [1.0, 3.0, 1.0]])
    assert M.information_gain(SAL, FIX, base) == pytest.approx(math.log2(8 / 15), abs=1e-12)


def test_hand_fixed_step_sweep():
    # positives [1, .35], one split of negatives [0, .35], thresholds 1.0, .9, ..., 0:
    # t in .4..1: TP .5, FP 0; t in .1..0.3: TP 1, FP .5; t = 0: (1, 1).
    # (0,0) -> (0,.5) -> (.5,1) -> (1,1): .5*.75 + .5*1 = .875
    assert M._split_auc(np.array([1.0, 0.35]), np.array([[0.0, 0.35]]), 0.1) == pytest.approx(0.875)
    # thresholds are decimal: the 8-bit value 153/255 == 0.6 reaches t = 0.6 (not 0.6000000000000001)
    assert M._split_auc(np.array([153 / 255]), np.array([[0.55]]), 0.1) == 1.0


# ------------------------------------------------------------------ properties
def test_perfect_map_auc_judd():
    sal, fixmap, *_ = make_case(1)
    perfect = fixmap.astype(float)
    assert M.auc_judd(perfect, fixmap) == 1.0
    # without jitter MATLAB's sweep counts tied fixated pixels as false positives:
    n_fix, n_neg = fixmap.sum(), fixmap.size - fixmap.sum()
    assert M.auc_judd(perfect, fixmap, jitter=False) == pytest.approx(
        1 - (n_fix - 1) / (2 * n_neg), abs=1e-12)
    assert M.auc_borji(perfect, fixmap) > 0.9


def test_shuffled_map_gives_chance_auc():
    rng = np.random.default_rng(7)
    sal, fixmap, _, other, _ = make_case(7, shape=(80, 100))
    shuffled = rng.permutation(sal.ravel()).reshape(sal.shape)
    assert M.auc_judd(sal, fixmap) > 0.65  # the map predicts its fixations
    assert M.auc_judd(shuffled, fixmap) == pytest.approx(0.5, abs=0.06)
    assert M.auc_borji(shuffled, fixmap) == pytest.approx(0.5, abs=0.06)
    assert M.auc_shuffled(shuffled, fixmap, other) == pytest.approx(0.5, abs=0.06)
    assert abs(M.nss(shuffled, fixmap)) < 0.3


def test_sauc_against_own_fixations_is_one_half():
    # negatives = a permutation of the positives -> FP = TP at every threshold
    sal, fixmap, *_ = make_case(3)
    assert M.auc_shuffled(sal, fixmap, fixmap) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("a, b", [(3.7, -2.0), (0.01, 100.0), (1.0, 0.0)])
def test_nss_and_cc_affine_invariance(a, b):
    sal, fixmap, density, *_ = make_case(2)
    assert M.nss(a * sal + b, fixmap) == pytest.approx(M.nss(sal, fixmap), abs=1e-9)
    assert M.cc(a * sal + b, density) == pytest.approx(M.cc(sal, density), abs=1e-9)
    assert M.auc_judd(a * sal + b, fixmap, jitter=False) == pytest.approx(
        M.auc_judd(sal, fixmap, jitter=False), abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_ranges_and_symmetry(seed):
    sal, fixmap, density, *_ = make_case(seed)
    other = make_case(seed + 10)[0]
    assert M.cc(sal, other) == pytest.approx(M.cc(other, sal), abs=1e-12)
    assert -1 <= M.cc(sal, density) <= 1
    assert 0 <= M.sim(sal, density) <= 1
    assert M.kld(sal, density) >= -1e-9
    assert M.kld(other, sal) >= -1e-9
    assert M.information_gain(sal, fixmap, sal) == 0.0


def test_density_as_prediction():
    _, _, density, *_ = make_case(5)
    assert M.cc(density, density) == pytest.approx(1.0, abs=1e-12)
    assert M.sim(density, density) == pytest.approx(1.0, abs=1e-12)
    assert M.kld(density, density) == pytest.approx(0.0, abs=1e-9)


def test_score_image_matches_single_metrics():
    sal, fixmap, density, other, base = make_case(4)
    scores = score_image(sal, fixmap, density, other, base, seed=3)
    assert tuple(scores) == M.METRIC_NAMES
    assert scores == {
        "AUC-Judd": M.auc_judd(sal, fixmap, seed=3), "AUC-Borji": M.auc_borji(sal, fixmap, seed=3),
        "sAUC": M.auc_shuffled(sal, fixmap, other, seed=3), "NSS": M.nss(sal, fixmap),
        "CC": M.cc(sal, density), "SIM": M.sim(sal, density), "KLD": M.kld(sal, density),
        "IG": M.information_gain(sal, fixmap, base)}
    assert all(isinstance(v, float) for v in scores.values())
    assert tuple(score_image(sal, fixmap, density)) == ("AUC-Judd", "AUC-Borji", "NSS", "CC",
                                                       "SIM", "KLD")
    with pytest.raises(ValueError, match="at least 2"):
        score_image(sal, fixmap * 0 + (np.arange(fixmap.size).reshape(fixmap.shape) == 0),
                    density, wanted=["AUC-Borji"])
    assert set(M.HIGHER_IS_BETTER) == set(M.METRIC_NAMES)
    assert [k for k, v in M.HIGHER_IS_BETTER.items() if not v] == ["KLD"]


# ------------------------------------------------------------------ reference implementation
@pytest.mark.parametrize("seed, quantise", [(11, False), (12, True), (13, False), (14, True)])
def test_agrees_with_reference(seed, quantise):
    sal, fixmap, density, other, base = make_case(seed, shape=(18 + seed % 3, 25),
                                                  quantise=quantise)
    checks = [
        (M.auc_judd(sal, fixmap, jitter=False), R.ref_auc_judd(sal, fixmap, jitter=False)),
        (M.auc_judd(sal, fixmap, seed=seed), R.ref_auc_judd(sal, fixmap, seed=seed)),
        (M.auc_borji(sal, fixmap, seed=seed), R.ref_auc_borji(sal, fixmap, seed=seed)),
        (M.auc_borji(sal, fixmap, n_splits=9, step=0.03, seed=seed),
         R.ref_auc_borji(sal, fixmap, n_splits=9, step=0.03, seed=seed)),
        (M.auc_shuffled(sal, fixmap, other, seed=seed),
         R.ref_auc_shuffled(sal, fixmap, other, seed=seed)),
        (M.auc_shuffled(sal, other, fixmap, n_splits=7, step=0.25, seed=seed),  # N_oth < N_f
         R.ref_auc_shuffled(sal, other, fixmap, n_splits=7, step=0.25, seed=seed)),
        (M.nss(sal, fixmap), R.ref_nss(sal, fixmap)),
        (M.cc(sal, density), R.ref_cc(sal, density)),
        (M.sim(sal, density), R.ref_sim(sal, density)),
        (M.kld(sal, density), R.ref_kld(sal, density)),
        (M.information_gain(sal, fixmap, base), R.ref_information_gain(sal, fixmap, base)),
    ]
    for k, (ours, ref) in enumerate(checks):
        assert ours == pytest.approx(ref, abs=1e-6), (k, ours, ref)


# ------------------------------------------------------------------ MIT1003 i210 example
@pytest.fixture(scope="module")
def i210():
    from PIL import Image
    from scipy.io import loadmat

    def grey(path):
        return np.asarray(Image.open(path), dtype=np.float64)

    fixmap = loadmat(I210 / "FIXATIONLOCS" / "i210.mat")["fixations"]  # uint8 0/1, 675 x 1024
    models = {m: grey(I210 / "MODELS" / f"{m}_i210.jpg") for m in ("Judd", "ittikoch")}
    # stand-in for other images' fixations: 3000 centre-biased points (seeded)
    rng = np.random.default_rng(0)
    h, w = fixmap.shape
    ys = np.clip(rng.normal(h / 2, h / 6, 3000), 0, h - 1)
    xs = np.clip(rng.normal(w / 2, w / 6, 3000), 0, w - 1)
    return dict(fixmap=fixmap, density=grey(I210 / "FIXATIONMAPS" / "i210.jpg"), models=models,
                other=fixation_map(xs, ys, fixmap.shape), centre=gaussian_centre_bias((h, w)))


@needs_data
def test_i210_models(i210):
    d = i210
    assert d["fixmap"].shape == (675, 1024) and d["fixmap"].sum() == 259
    scores = {m: score_image(s, d["fixmap"], d["density"], d["other"], d["centre"])
              for m, s in d["models"].items()}
    for s in scores.values():
        assert tuple(s) == M.METRIC_NAMES and all(np.isfinite(list(s.values())))
        assert 0.5 < s["AUC-Judd"] < 1 and 0.5 < s["AUC-Borji"] < 1 and 0.5 < s["sAUC"] < 1
        assert s["NSS"] > 0 and 0 < s["CC"] < 1 and 0 < s["SIM"] < 1 and s["KLD"] > 0
    judd, itti = scores["Judd"], scores["ittikoch"]
    for name in ("AUC-Judd", "AUC-Borji", "sAUC", "NSS", "CC", "SIM", "IG"):
        assert judd[name] > itti[name], name
    assert judd["KLD"] < itti["KLD"]
    # Judd's model contains a centre bias, which sAUC discounts
    assert judd["sAUC"] < judd["AUC-Borji"] - 0.05


@needs_data
def test_i210_density_and_centre_bias(i210):
    d = i210
    dens = d["density"]
    assert M.cc(dens, dens) == pytest.approx(1.0, abs=1e-12)
    assert M.sim(dens, dens) == pytest.approx(1.0, abs=1e-12)
    assert M.kld(dens, dens) == pytest.approx(0.0, abs=1e-9)
    assert M.auc_judd(dens, d["fixmap"]) > M.auc_judd(d["models"]["Judd"], d["fixmap"])
    centre = d["centre"]
    assert M.auc_borji(centre, d["fixmap"]) > 0.75  # centre bias is strong on MIT1003 ...
    assert M.auc_shuffled(centre, d["fixmap"], d["other"]) < 0.6  # ... and sAUC removes it


@needs_data
def test_i210_resized_prediction(i210):
    d = i210
    small = resize_map(d["models"]["Judd"], (169, 256))
    with pytest.raises(ValueError, match="shape mismatch.*resize_map"):
        M.nss(small, d["fixmap"])
    restored = resize_map(small, d["fixmap"].shape)
    assert M.auc_judd(restored, d["fixmap"]) == pytest.approx(
        M.auc_judd(d["models"]["Judd"], d["fixmap"]), abs=0.01)


# ------------------------------------------------------------------ bad inputs
S3, F3, D3 = SAL, FIX, DENS
F_ONE = np.zeros((2, 3), bool)
F_ONE[0, 0] = True
NAN = SAL.copy()
NAN[0, 1] = np.nan
INF = DENS.copy()
INF[1, 1] = np.inf
CONST = np.full((2, 3), 0.5)
BIG = np.ones((3, 3))

BAD = [
    # shape mismatch between the two maps
    (M.auc_judd, (BIG, F3), "shape mismatch"),
    (M.auc_borji, (BIG, F3), "shape mismatch"),
    (M.auc_shuffled, (S3, F3, np.ones((3, 3), bool)), "shape mismatch"),
    (M.nss, (BIG, F3), "shape mismatch"),
    (M.cc, (S3, BIG), "shape mismatch"),
    (M.sim, (BIG, D3), "shape mismatch"),
    (M.kld, (S3, BIG), "shape mismatch"),
    (M.information_gain, (S3, F3, BIG), "shape mismatch"),
    # not 2-D
    (M.nss, (SAL.ravel(), FIX.ravel()), "2-D"),
    (M.cc, (np.stack([SAL, SAL]), DENS), "2-D"),
    (M.auc_judd, (SAL, FIX[None]), "2-D"),
    # no fixations, too few for AUC-Borji, not binary
    (M.auc_judd, (S3, np.zeros((2, 3))), "no fixations"),
    (M.nss, (S3, np.zeros((2, 3), bool)), "no fixations"),
    (M.information_gain, (S3, np.zeros((2, 3)), D3), "no fixations"),
    (M.auc_borji, (S3, F_ONE), "at least 2"),
    (M.auc_judd, (S3, DENS / DENS.sum()), "binary"),
    (M.nss, (S3, 2 * FIX.astype(int)), "binary"),
    (M.auc_shuffled, (S3, F3, 0.5 * F3), "binary"),
    # constant maps
    (M.auc_judd, (CONST, F3), "constant sal"),
    (M.auc_borji, (CONST, F3), "constant sal"),
    (M.auc_shuffled, (CONST, F3, F3), "constant sal"),
    (M.nss, (CONST, F3), "constant sal"),
    (M.cc, (CONST, D3), "constant sal"),
    (M.cc, (S3, CONST), "constant density"),
    (M.sim, (CONST, D3), "constant sal"),
    (M.information_gain, (CONST, F3, S3), "constant sal"),
    (M.information_gain, (S3, F3, CONST), "constant baseline"),
    # NaN / inf
    (M.nss, (NAN, F3), "NaN or inf"),
    (M.auc_judd, (NAN, F3), "NaN or inf"),
    (M.cc, (S3, INF), "NaN or inf"),
    (M.kld, (NAN, D3), "NaN or inf"),
    (M.auc_borji, (S3, np.where(FIX, np.nan, 0)), "NaN or inf"),
    # negative or empty densities
    (M.cc, (S3, -D3), "negative"),
    (M.sim, (S3, D3 - 0.5), "negative"),
    (M.kld, (S3, D3 - 0.5), "negative"),
    (M.kld, (SAL - 3, D3), "negative"),
    (M.kld, (S3, np.zeros((2, 3))), "sums to 0"),
    (M.kld, (np.zeros((2, 3)), D3), "sums to 0"),
    (M.sim, (S3, np.zeros((2, 3))), "sums to 0"),
    (M.cc, (S3, np.zeros((2, 3))), "sums to 0"),
    # shuffled AUC without other fixations; sampling parameters; no negatives
    (M.auc_shuffled, (S3, F3, np.zeros((2, 3), bool)), "other_fixmap has no fixations"),
    (M.auc_borji, (S3, F3, 0), "n_splits"),
    (M.auc_shuffled, (S3, F3, F3, 10, 0.0), "step"),
    (M.auc_borji, (S3, F3, 10, 1.5), "step"),
    (M.auc_judd, (S3, np.ones((2, 3), bool)), "no negatives"),
]


@pytest.mark.parametrize("func, args, match", BAD,
                         ids=[f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_bad_input_raises(func, args, match):
    with pytest.raises(ValueError, match=match):
        func(*args)


# ------------------------------------------------------------------ determinism
def test_same_seed_same_result():
    sal, fixmap, density, other, base = make_case(9, quantise=True)
    for f in (lambda s: M.auc_judd(sal, fixmap, seed=s),
              lambda s: M.auc_borji(sal, fixmap, seed=s),
              lambda s: M.auc_shuffled(sal, fixmap, other, seed=s),
              lambda s: score_image(sal, fixmap, density, other, base, seed=s)):
        assert f(0) == f(0)
        assert f(123) == f(123)
    assert M.auc_borji(sal, fixmap, seed=0) != M.auc_borji(sal, fixmap, seed=1)
    assert M.auc_shuffled(sal, fixmap, other, seed=0) != M.auc_shuffled(sal, fixmap, other, seed=1)
    assert M.auc_judd(sal, fixmap, seed=0) != M.auc_judd(sal, fixmap, seed=1)  # 8-bit ties


# ------------------------------------------------------------------ extreme magnitudes
@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e306, 2.0 ** -1000])
def test_extreme_magnitudes_give_the_unscaled_value(scale):
    """Sums of squares and sums of a map of extreme magnitude overflow or underflow; the metrics
    scale by a power of two first, so that the score is the one of the unscaled map (before,
    ``nss(sal * 1e300, fix)`` and ``kld(sal, dens * 1e306)`` were 0.0)."""
    sal, fixmap, density, other, base = make_case(4)
    s, d = sal * scale, density * scale
    assert M.nss(s, fixmap) == pytest.approx(M.nss(sal, fixmap), rel=1e-9)
    assert M.cc(s, density) == pytest.approx(M.cc(sal, density), rel=1e-9)
    assert M.cc(sal, d) == pytest.approx(M.cc(sal, density), rel=1e-9)
    assert M.sim(s, d) == pytest.approx(M.sim(sal, density), rel=1e-9)
    assert M.kld(sal, d) == pytest.approx(M.kld(sal, density), rel=1e-9)
    assert M.kld(s, density) == pytest.approx(M.kld(sal, density), rel=1e-9)
    assert M.auc_borji(s, fixmap) == pytest.approx(M.auc_borji(sal, fixmap), abs=1e-12)
    assert M.auc_shuffled(s, fixmap, other) == pytest.approx(
        M.auc_shuffled(sal, fixmap, other), abs=1e-12)
    assert M.information_gain(s, fixmap, base * scale) == pytest.approx(
        M.information_gain(sal, fixmap, base), rel=1e-9)
    assert M.auc_judd(s, fixmap, jitter=False) == pytest.approx(
        M.auc_judd(sal, fixmap, jitter=False), abs=1e-12)


def test_range_that_overflows_and_large_offset():
    sal, fixmap, density, *_ = make_case(5)
    wide = 1.7e308 * (2 * sal - 1)  # max - min overflows
    assert M.nss(wide, fixmap) == pytest.approx(M.nss(sal, fixmap), rel=1e-9)
    assert M.cc(wide, density) == pytest.approx(M.cc(sal, density), rel=1e-9)
    assert M.sim(wide, density) == pytest.approx(M.sim(sal, density), rel=1e-9)
    assert M.auc_judd(wide, fixmap, jitter=False) == pytest.approx(
        M.auc_judd(sal, fixmap, jitter=False), abs=1e-12)
    # an offset 1e8 times the range: NSS centres before squaring (no cancellation)
    assert M.nss(sal + 1e8, fixmap) == pytest.approx(M.nss(sal, fixmap), rel=1e-6)
    with pytest.raises(ValueError, match="constant sal"):
        M.nss(np.full((5, 6), 1e300), np.eye(5, 6, dtype=bool))
    with pytest.raises(ValueError, match="NaN or inf"):
        M.nss(np.where(fixmap, np.inf, sal), fixmap)
