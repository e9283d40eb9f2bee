"""Chapter-4 glue: activations line up across networks, CKA per layer, tables, array scores."""
import numpy as np
import pandas as pd
import pytest
import torch

from saliency_utils.analysis import task_domain
from saliency_utils.analysis.cka import layer_cka, linear_cka
from saliency_utils.models.saliency_model import SaliencyModel
from saliency_utils.data.search_arrays import search_array


@pytest.fixture(scope="module")
def nets():
    a = SaliencyModel("efficientnet_lite0", weights="random", seed=0, input_size=(64, 64),
                      device="cpu")
    b = SaliencyModel("efficientnet_lite0", weights="random", seed=1, input_size=(64, 64),
                      device="cpu")
    return a, b


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [(rng.random((48, 64, 3)) * 255).astype(np.uint8) for _ in range(4)]


def test_activations_and_layer_cka(nets, images):
    a, b = nets
    acts_a = task_domain.encoder_activations(a, images, ["stage2", "head"], size=(64, 64))
    acts_b = task_domain.encoder_activations(b, images, ["stage2", "head"], size=(64, 64))
    assert len(acts_a["head"]) == 4 and acts_a["head"][0].ndim == 3
    same = layer_cka([(acts_a, acts_a)])
    assert same == pytest.approx({"stage2": 1.0, "head": 1.0})
    diff = layer_cka([(acts_a, acts_b)])
    assert diff == pytest.approx({k: linear_cka(torch.stack(acts_a[k]), torch.stack(acts_b[k]))
                                  for k in acts_a}, rel=1e-9)
    assert all(v < 0.999 for v in diff.values())
    with pytest.raises(ValueError):
        task_domain.encoder_activations(a, images, ["no_such_layer"])
    with pytest.raises(ValueError):
        task_domain.encoder_activations(a, [], ["head"])


def test_dissection_tables(nets, images):
    a, _ = nets
    acts = task_domain.encoder_activations(a, images, ["stage2", "head"], size=(64, 64))
    rng = np.random.default_rng(1)
    items = [{"masks": {"person": rng.random((16, 16)) > 0.7, "head": None}} for _ in images]
    d = task_domain.dissect_layers(acts, items, (0.9, 0.99), ["person", "head"])
    t = task_domain.count_table(d, 0.04, 0.9)
    assert list(t.columns) == ["person", "head", "units"] and t["head"].sum() == 0
    s = task_domain.sensitivity_table(d, (0.9, 0.99), (0.0, 0.04))
    assert s.shape == (4, 2)
    assert s.loc[(0.9, 0.0), "person"] >= s.loc[(0.9, 0.04), "person"]


def test_category_shares_of_a_perfect_model():
    fix = np.zeros((20, 20), bool)
    fix[5, 5] = fix[15, 12] = True
    mask = np.zeros((20, 20), bool)
    mask[2:9, 2:9] = True
    item = {"id": "x", "source": "S", "image": np.zeros((40, 40, 3), np.uint8),
            "masks": {"a": mask, "b": None, "c": np.zeros((20, 20), bool)}, "fixation_map": fix}
    human = task_domain.human_density(item, 2.0)
    sh = task_domain.category_shares(lambda im: np.kron(human, np.ones((2, 2))), [item],
                                     {"S": 2.0}, ["a", "b", "c"])
    assert sh["b"].shape == (0, 2) and sh["c"].shape == (0, 2)
    assert task_domain.pooled_ratio(sh["a"]) == pytest.approx(1.0, abs=0.05)
    assert np.isnan(task_domain.pooled_ratio(sh["b"]))
    flat = task_domain.category_shares(lambda im: np.ones(im.shape[:2]), [item], {"S": 2.0},
                                       ["a"])
    assert flat["a"][0, 0] == pytest.approx(mask.mean())
    assert task_domain.pooled_ratio([[0.1, 0.2], [0.3, 0.2]]) == pytest.approx(1.0)


def test_score_arrays():
    arr = search_array("colour", seed=0, target_pos=5)
    rows = task_domain.score_arrays({"oracle": lambda im: arr.target_mask * 1.0 + 0.01,
                                     "flat-ish": lambda im: np.random.default_rng(0).random(
                                         im.shape[:2])}, [arr])
    assert [r["model"] for r in rows] == ["oracle", "flat-ish"]
    assert rows[0]["rank"] == 1 and rows[0]["found"] and rows[0]["GSI"] > 0.9
    assert abs(rows[1]["GSI"]) < 0.05


def test_model_predict_scores_as_model_maps(bundle, nets):
    """Chapter 4 scores ``model.predict`` with several maps in one pass of score_maps; that
    equals evaluation.model_maps(model) scored alone (chapters 3 and 5)."""
    from saliency_utils.evaluate.scoring import FixationDataset, model_maps, score_maps

    a, _ = nets
    wanted = ["AUC-Judd", "sAUC", "NSS", "CC", "KLD"]
    ds = FixationDataset.named("osie_test", 2)
    ref = score_maps(model_maps(a), ds, wanted)

    def ramp(im):
        return np.ones(im.shape[:2]) + np.arange(im.shape[1]) * 1e-3

    ours = score_maps({"m": a.predict, "ramp": ramp}, ds, wanted, resize=True)
    assert len(ours["ramp"]) == 2
    pd.testing.assert_frame_equal(ours["m"], ref)
    with pytest.raises(ValueError, match="IG needs a baseline"):
        score_maps({"m": a.predict}, ds, ["IG"])


def test_without_prior_divides_the_prior_out(nets):
    a, _ = nets
    img = (np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8)
    free = task_domain.without_prior(a)(img)
    full = a.predict(img, exponent=1.0)
    prior = np.exp(a.prior((64, 64))[0, 0].detach().double().numpy())
    expect = free * prior
    np.testing.assert_allclose(expect / expect.sum(), full, rtol=1e-5, atol=1e-12)
    # the exponent applies to the prior-free log-density; a model without prior keeps its map
    sharp = a.predict(img, flip_average=True, exponent=2.0, prior=False)
    np.testing.assert_allclose(sharp, free ** 2 / (free ** 2).sum(), rtol=1e-6, atol=1e-15)
    plain = SaliencyModel("efficientnet_lite0", weights="random", seed=0, input_size=(64, 64),
                          device="cpu", centre_bias="none")
    np.testing.assert_array_equal(plain.predict(img, prior=False), plain.predict(img))


def test_heldout_detector_counts_are_cached_by_model_and_settings(tmp_path, monkeypatch):
    import torch

    from saliency_utils.analysis import region_detectors

    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path))
    monkeypatch.setattr(region_detectors, "detector_versions", lambda: {"fake": "1"})
    rng = np.random.default_rng(0)
    items = []
    for i in range(6):
        m = {c: np.zeros((8, 10), bool) for c in region_detectors.CATEGORIES}
        m["head"][2:5, 3:6] = i % 2 == 0
        items.append({"id": str(i), "source": "toy", "image": np.zeros((8, 10, 3), np.uint8),
                      "grid_masks": m})
    calls = []

    def fake_acts(net, images, layers, size=None):
        calls.append(len(images))
        return {l: [torch.from_numpy(rng.normal(size=(4, 4, 5)).astype(np.float32)) for _ in images]
                for l in layers}

    monkeypatch.setattr(task_domain, "encoder_activations", fake_acts)
    a = task_domain.heldout_detector_counts(None, "model-A", items, ["l1", "l2"], n_perm=20)
    b = task_domain.heldout_detector_counts(None, "model-A", items, ["l1", "l2"], n_perm=20)
    assert calls == [6] and a.equals(b) and list(a.index) == ["l1", "l2"]
    task_domain.heldout_detector_counts(None, "model-B", items, ["l1", "l2"], n_perm=20)
    assert calls == [6, 6]  # another model is another measurement
    # the per-image evidence is another measurement of the same model; cached with its null
    d1, e1 = task_domain.heldout_evidence(None, "model-A", items, ["l1", "l2"], n_perm=20, n_null=5)
    d2, e2 = task_domain.heldout_evidence(None, "model-A", items, ["l1", "l2"], n_perm=20, n_null=5)
    assert calls == [6, 6, 6]
    for l in ("l1", "l2"):
        np.testing.assert_array_equal(d1[l].p_adj, d2[l].p_adj)
        assert d1[l].images_containing == d2[l].images_containing
        np.testing.assert_array_equal(e1[l].crossfit, e2[l].crossfit)
        np.testing.assert_array_equal(e1[l].selected, e2[l].selected)
        assert e2[l].crossfit.shape[0] == 6 and e2[l].categories == tuple(region_detectors.CATEGORIES)
    paths = list((tmp_path / "measurements").glob("heldout-evidence-*.npz"))
    assert len(paths) == 3
    for path in paths:
        path.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="corrupt"):
        task_domain.heldout_detector_counts(None, "model-A", items, ["l1", "l2"], n_perm=20)
