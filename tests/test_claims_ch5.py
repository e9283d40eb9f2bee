"""Chapter 5's claims (malladi2021): each decided on small synthetic per-unit values with a planted
effect and with none. These check the chapter's wiring (part names, estimators, value shapes),
not the statistics (tests/test_claims.py calibrates the rules)."""
import numpy as np
import pytest

from saliency_utils import claims
from saliency_utils.explain import loggabor_explain as lx
from saliency_utils.claims import malladi2021 as m21

RNG = np.random.default_rng(5)


def _rows(ev, n=60):
    """(SSE, SST) rows per image with explained variance about ``ev``."""
    return m21.simulate_image_errors(0.3, 0.1)(RNG, n, ev)


def _decide(claim_id, values):
    return claims.get(claim_id).decide(values, power=False)


def test_all_ch5_claims_registered_with_labels():
    ids = {c.id for c in claims.claims_of("malladi2021")}
    assert ids == {"malladi2021.reconstruct", "malladi2021.single_filter",
                   "malladi2021.coarser_with_depth", "malladi2021.explainable_comparable",
                   "malladi2021.beats_controls", "malladi2021.paper_models"}
    for c in claims.claims_of("malladi2021"):
        assert c.label.startswith("ch5-")
        for t in c.tests:
            assert t.why  # every margin says where it comes from


def test_explained_variance_statistic_matches_pooled_definition():
    rows = np.array([[1.0, 4.0], [3.0, 4.0]])
    assert m21.explained_variance(rows) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        m21.explained_variance(np.ones(3))


def test_reconstruct():
    assert _decide("malladi2021.reconstruct", _rows(0.8)).verdict == claims.REPRODUCED
    assert _decide("malladi2021.reconstruct", _rows(0.1)).verdict == claims.NOT_REPRODUCED


def test_single_filter():
    good = {r: RNG.normal(0.8, 0.1, 50) for r in m21.LAYER_ROLES}
    none = {r: RNG.normal(0.1, 0.1, 50) for r in m21.LAYER_ROLES}
    assert _decide("malladi2021.single_filter", good).verdict == claims.REPRODUCED
    assert _decide("malladi2021.single_filter", none).verdict == claims.NOT_REPRODUCED
    with pytest.raises(ValueError, match="missing parts"):
        _decide("malladi2021.single_filter", {"shallow": good["shallow"]})


def test_coarser_with_depth():
    depth = np.repeat([0, 1, 2], 100)
    wavelengths = np.array([3.0, 6.3, 13.2, 27.8, 58.3])
    trend = np.column_stack([depth, wavelengths[np.clip(depth + RNG.integers(-1, 2, 300), 0, 4)]])
    flat = np.column_stack([depth, wavelengths[RNG.integers(0, 5, 300)]])
    assert _decide("malladi2021.coarser_with_depth", trend).verdict == claims.REPRODUCED
    assert _decide("malladi2021.coarser_with_depth", flat).verdict in (claims.NOT_REPRODUCED,
                                                                       claims.INCONCLUSIVE)


def test_explainable_comparable():
    n = 200
    same = {"vs deep": RNG.normal(0.0, 0.1, n), "vs prior only": RNG.normal(0.8, 0.3, n)}
    worse = {"vs deep": RNG.normal(-0.6, 0.1, n), "vs prior only": RNG.normal(0.0, 0.05, n)}
    assert _decide("malladi2021.explainable_comparable", same).verdict == claims.REPRODUCED
    assert _decide("malladi2021.explainable_comparable", worse).verdict == claims.NOT_REPRODUCED
    with pytest.raises(ValueError, match="unknown parts"):  # the old reference is gone
        _decide("malladi2021.explainable_comparable",
                {"vs deep": same["vs deep"], "vs centre bias": same["vs prior only"]})
    assert any("prior-only" in h.why for h in claims.get("malladi2021.explainable_comparable").history)


def test_explained_variance_gain_is_the_difference_of_the_two_fits():
    rows = np.array([[1.0, 2.0, 4.0], [1.0, 3.0, 4.0]])  # EV log-Gabor 0.75, control 0.375
    assert m21.explained_variance_gain(rows) == pytest.approx(0.75 - 0.375)
    assert m21.explained_variance_gain(rows) == pytest.approx(
        m21.explained_variance(rows[:, [0, 2]]) - m21.explained_variance(rows[:, [1, 2]]))
    with pytest.raises(ValueError):
        m21.explained_variance_gain(np.ones((3, 2)))
    sim = m21.simulate_gain_rows(0.5, 0.3, 0.3, 0.8)
    assert m21.explained_variance_gain(sim(RNG, 20000, 0.1)) == pytest.approx(0.1, abs=0.01)


def test_beats_controls():
    sim = m21.simulate_gain_rows(0.3, 0.1, 0.3, 0.8)
    from saliency_utils.explain.feature_controls import CONTROL_KINDS

    assert tuple(m21.CONTROLS) == CONTROL_KINDS  # the claim's parts are the package's controls
    parts = [t.name for t in claims.get("malladi2021.beats_controls").tests]
    assert parts == [f"vs {label}" for label in m21.CONTROLS.values()]
    better = {p: sim(RNG, 80, 0.3) for p in parts}
    same = {p: sim(RNG, 80, 0.0) for p in parts}
    assert _decide("malladi2021.beats_controls", better).verdict == claims.REPRODUCED
    assert _decide("malladi2021.beats_controls", same).verdict == claims.NOT_REPRODUCED
    mixed = dict(same, **{parts[0]: better[parts[0]]})
    assert _decide("malladi2021.beats_controls", mixed).verdict == claims.PARTLY


def test_paper_models_not_tested():
    v = claims.get("malladi2021.paper_models").decide()
    assert v.verdict == claims.NOT_TESTED and "UNISAL" in v.row()["rule"]


def test_image_errors_sum_to_the_held_out_explained_variance():
    """Per-image (SSE, SST) rows reproduce lx.explained_variance of the summed statistics."""
    rng = np.random.default_rng(0)
    fit = lx.LayerStats.zeros(3, 2)
    x = rng.normal(size=(400, 3))
    fit.add(x, x @ rng.normal(size=(3, 2)) + rng.normal(size=(400, 2)))
    lf = lx.fit_layer("toy", fit, fit)
    images = []
    for _ in range(5):
        st = lx.LayerStats.zeros(3, 2)
        xi = rng.normal(size=(50, 3)) + rng.normal()
        st.add(xi, xi @ rng.normal(size=(3, 2)) + rng.normal(size=(50, 2)))
        images.append(st)
    total = images[0]
    for st in images[1:]:
        total = total + st
    rows = lx.image_errors([lx.image_residual(st, lf) for st in images])
    assert rows.shape == (5, 2)
    assert m21.explained_variance(rows) == pytest.approx(lx.explained_variance(total, lf))
    with pytest.raises(ValueError):
        lx.image_errors([lx.image_residual(images[0], lf)])
