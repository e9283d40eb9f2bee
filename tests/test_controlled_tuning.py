"""Chapter 4's task-vs-domain experiment (controlled_tuning) at smoke size: the conditions
share everything but the objective, the warm-up leaves the encoder untouched, runs are
deterministic and cached, and the comparisons measure what they say."""
import numpy as np
import pytest
import torch

from saliency_utils.training import controlled as ct
from saliency_utils.training import saliency as training
from saliency_utils.book.profiles import settings

BASE = training.PRESETS["smoke"]


@pytest.fixture(scope="module")
def runs(model_cache):
    return {c: ct.load_or_train_control(ct.ControlConfig(base=BASE, condition=c), progress=False)
            for c in ("saliency", "shuffled", "distill", "flip")}


def test_derangement_has_no_fixed_point_and_is_seeded():
    for n in (2, 3, 10, 500):
        d = ct.derangement(n, seed=1)
        assert sorted(d) == list(range(n)) and not np.any(d == np.arange(n))
        assert np.array_equal(d, ct.derangement(n, seed=1))
    assert not np.array_equal(ct.derangement(50, 0), ct.derangement(50, 1))
    with pytest.raises(ValueError):
        ct.derangement(1, 0)


def test_config_validation_and_shared_setup():
    with pytest.raises(ValueError, match="condition"):
        ct.ControlConfig(base=BASE, condition="rotation")
    with pytest.raises(ValueError, match="labels_csv"):
        ct.ControlConfig(base=BASE, condition="scene")
    with pytest.raises(ValueError, match="labels_csv"):
        ct.ControlConfig(base=BASE, condition="flip", labels_csv="x.csv")
    with pytest.raises(ValueError, match="freeze_encoder"):
        ct.ControlConfig(base=BASE.replace(freeze_encoder=True))
    a = ct.ControlConfig(base=BASE, condition="saliency", seed=2, image_size=(64, 96),
                         warmup_epochs=3, epochs=5)
    b = ct.ControlConfig(base=BASE, condition="distill", seed=2, image_size=(64, 96),
                         warmup_epochs=3, epochs=5)
    assert a.setup == b.setup  # only the objective differs
    assert a.setup.image_size == (64, 96) and a.setup.readout_epochs == 3 and a.setup.epochs == 5
    assert a.setup.flip and a.setup.seed == 2
    assert ct.control_checkpoint_path(a) != ct.control_checkpoint_path(b)


def test_experiment_configs_follow_the_settings(tmp_path):
    cfg = settings("ch4_task_vs_domain", "offline")
    runs = ct.experiment_configs(training.PRESETS["offline"], cfg)
    assert list(runs) == list(cfg["control_conditions"])
    for group in runs.values():
        assert [c.seed for c in group] == list(cfg["control_seeds"])
        assert len({c.setup for c in group}) == len(group)
    assert len({g[0].setup for g in runs.values()}) == 1
    csv = tmp_path / "labels.csv"
    csv.write_text("image,label\n1,a\n2,b\n")
    assert "scene" in ct.experiment_configs(training.PRESETS["offline"], cfg, str(csv))


def test_warm_up_leaves_the_encoder_unchanged(model_cache):
    cfg = ct.ControlConfig(base=BASE, condition="flip", warmup_epochs=1, epochs=0)
    m, h = ct.train_control(cfg, progress=False)
    pre = training.build_model(cfg.setup)
    for (n, a), b in zip(m.encoder.state_dict().items(), pre.encoder.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu()), n
    assert [r["phase"] for r in h["epochs"]] == ["warm-up"]


def test_runs_are_deterministic_cached_and_change_the_encoder(runs):
    cfg = ct.ControlConfig(base=BASE, condition="distill")
    again = ct.load_or_train_control(cfg, progress=False)
    assert again.from_cache and not runs["distill"].from_cache
    fresh, _ = ct.train_control(cfg, progress=False)
    for k, v in runs["distill"].state_dict().items():
        assert torch.equal(v.cpu(), again.state_dict()[k].cpu()), k
        assert torch.equal(v.cpu(), fresh.state_dict()[k].cpu()), k
    pre = training.build_model(cfg.setup)
    for name, m in runs.items():
        change = ct.weight_change(pre, m)
        assert "_fc" not in change and len(change) > 10, name
        assert max(change.values()) > 0, name
    assert runs["saliency"].classifier is None and runs["flip"].classifier.out_features == 2
    assert runs["distill"].classifier.out_features == 1000
    # the same seed and setup: the two saliency-like conditions differ only in the targets,
    # so their encoders differ
    a, b = runs["saliency"].encoder.state_dict(), runs["shuffled"].encoder.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_scene_condition_reads_labels(tmp_path, model_cache):
    ids = training.train_ids(BASE)
    p = tmp_path / "labels.csv"
    p.write_text("image,label\n" + "".join(f"{i},{'indoor' if k % 2 else 'outdoor'}\n"
                                            for k, i in enumerate(ids)))
    m, h = ct.train_control(ct.ControlConfig(base=BASE, condition="scene", labels_csv=str(p)),
                            progress=False)
    assert h["classes"] == ["indoor", "outdoor"] and m.classifier.out_features == 2
    short = tmp_path / "short.csv"
    short.write_text(f"image,label\n{ids[0]},a\n{ids[1]},b\n")
    with pytest.raises(ValueError, match="no label"):
        ct.train_control(ct.ControlConfig(base=BASE, condition="scene", labels_csv=str(short)),
                         progress=False)


def test_weight_change_is_zero_for_the_same_weights():
    pre = training.build_model(BASE)
    assert all(v == 0 for v in ct.weight_change(pre, pre).values())


def test_representation_change(runs, model_cache):
    pre = training.build_model(BASE)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (60, 80, 3), dtype=np.uint8) for _ in range(3)]
    layers = ["stage2", "head"]
    r = ct.representation_change(pre, {"pre": [pre, pre], "saliency": [runs["saliency"]]},
                                 images, layers, size=(64, 96))
    assert all(abs(v - 1) < 1e-5 for d in r["vs_reference"]["pre"] for v in d.values())
    assert len(r["between_seeds"]["pre"]) == 2 and r["between_seeds"]["saliency"] == []
    assert set(r["vs_reference"]["saliency"][0]) == set(layers)
    assert r["vs_reference"]["saliency"][0]["head"] < 1
    # a cached measurement with image ids: the same numbers, read back without a forward pass
    groups = {"pre": [pre, pre], "saliency": [runs["saliency"]]}
    first = ct.representation_change(pre, groups, images, layers, size=(64, 96), image_ids=["a", "b", "c"])
    assert first == r
    files = list((model_cache / "measurements").glob("cka-*.json"))
    assert len(files) == 1

    def no_forward(*a, **k):
        raise AssertionError("recomputed")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ct, "encoder_activations", no_forward)
        assert ct.representation_change(pre, groups, images, layers, (64, 96), image_ids=["a", "b", "c"]) == r
        with pytest.raises(AssertionError, match="recomputed"):  # other images: another key
            ct.representation_change(pre, groups, images, layers, (64, 96), image_ids=["a", "b", "d"])
    files[0].write_text("{not json")  # a corrupt file is recomputed and replaced
    assert ct.representation_change(pre, groups, images, layers, (64, 96), image_ids=["a", "b", "c"]) == r
    with pytest.raises(ValueError, match="image ids"):
        ct.representation_change(pre, groups, images, layers, (64, 96), image_ids=["a"])


def test_held_out_check_scores_each_condition_on_its_task(runs):
    from saliency_utils import data

    ids = data.osie_split()[1][:2]
    images = [data.load_osie_image(i) for i in ids]
    fix = [data.load_osie_fixations(i) for i in ids]
    size = BASE.image_size
    assert set(ct.held_out_check(runs["saliency"], images, size, fix)) == {"NSS"}
    assert ct.held_out_check(runs["shuffled"], images, size) == {}
    acc = ct.held_out_check(runs["flip"], images, size)["accuracy (chance 0.5)"]
    assert acc in (0.0, 0.25, 0.5, 0.75, 1.0)
    agree = ct.held_out_check(runs["distill"], images, size)
    assert 0 <= agree["top-1 agreement with the pre-trained network"] <= 1
    with pytest.raises(ValueError, match="fixation sets"):
        ct.held_out_check(runs["saliency"], images, size, fix[:1])
    with pytest.raises(ValueError, match="not a model of the experiment"):
        ct.held_out_check(training.build_model(BASE), images, size)


def test_a_damaged_checkpoint_says_which_file_and_what_to_do(runs):
    cfg = ct.ControlConfig(base=BASE, condition="flip")
    path = ct.control_checkpoint_path(cfg)
    good = path.read_bytes()
    try:
        path.write_bytes(good[: len(good) // 3])
        with pytest.raises(training.CheckpointError, match="delete it to retrain") as e:
            ct.load_or_train_control(cfg, progress=False)
        assert str(path) in str(e.value)
    finally:
        path.write_bytes(good)
    assert ct.load_or_train_control(cfg, progress=False).from_cache


def test_scene_condition_is_checked_against_held_out_labels(model_cache, tmp_path):
    from saliency_utils import data

    train_ids, test_ids = data.osie_split()
    every = list(train_ids) + list(test_ids)
    # a made-up three-class labelling of every OSIE image (no meaning: the check's bookkeeping)
    label = {i: ("a", "b", "b", "c")[int(i) % 4] for i in every}
    csv = tmp_path / "scene.csv"
    csv.write_text("image,label\n" + "".join(f"{i},{label[i]}\n" for i in every))
    model = ct.load_or_train_control(ct.ControlConfig(base=BASE, condition="scene", labels_csv=str(csv)),
                                     progress=False)
    counts = model.history["train_label_counts"]
    assert sum(counts.values()) == model.history["n_images"] and set(counts) <= {"a", "b", "c"}
    majority = max(counts, key=counts.get)
    ids = list(test_ids[:3])
    images = [data.load_osie_image(i) for i in ids]
    got = ct.held_out_check(model, images, BASE.image_size, per_image=True, ids=ids)
    assert set(got) == {"accuracy", "majority baseline"}
    assert got["accuracy"].shape == (3,) and set(np.unique(got["accuracy"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(got["majority baseline"], [float(label[i] == majority) for i in ids])
    assert ct.held_out_check(model, images, BASE.image_size) == {}  # no ids: no labels to check
    with pytest.raises(ValueError, match="ids"):
        ct.held_out_check(model, images, BASE.image_size, ids=ids[:2])
    # the key names the labels file by name and content, not by its folder
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "scene.csv").write_bytes(csv.read_bytes())
    assert (ct.control_checkpoint_path(ct.ControlConfig(base=BASE, condition="scene", labels_csv=str(csv)))
            == ct.control_checkpoint_path(ct.ControlConfig(base=BASE, condition="scene",
                                                           labels_csv=str(moved / "scene.csv"))))


def test_the_books_scene_labels_cover_osie_and_are_resolved_from_the_settings(tmp_path, monkeypatch):
    import csv

    from saliency_utils import data
    from saliency_utils.book import models as book_models
    from saliency_utils.training.classification import read_labels_csv

    monkeypatch.delenv("SCENE_LABELS_CSV", raising=False)
    cfg = settings("ch4_task_vs_domain", "offline")
    path = book_models.scene_labels_csv(cfg, "osie")
    table = read_labels_csv(path)
    assert set(table) == {str(i) for i in range(1001, 1701)}  # every OSIE image, once
    assert set(table.values()) == {"indoor", "outdoor_manmade", "outdoor_natural", "unclear"}
    with open(path, newline="") as f:  # the used label is one of the two labellers' answers
        for r in csv.DictReader(f):
            assert r["label"] in (r["labeller_a"], r["labeller_b"])
            assert (r["adjudicated"] == "yes") == (r["labeller_a"] != r["labeller_b"])
    splits = data.osie_splits()
    assert all(i in table for s in splits.values() for i in s)
    # the book's labels are OSIE's: none for an experiment trained on SALICON
    assert book_models.scene_labels_csv(cfg, "salicon") is None
    assert "scene" in ct.experiment_configs(training.PRESETS["offline"], cfg, path)
    # your own labels replace the book's, whatever the data set; a missing file says which
    own = tmp_path / "mine.csv"
    own.write_text("image,label\n1001,a\n1002,b\n")
    monkeypatch.setenv("SCENE_LABELS_CSV", str(own))
    assert book_models.scene_labels_csv(cfg, "salicon") == str(own)
    monkeypatch.setenv("SCENE_LABELS_CSV", str(tmp_path / "gone.csv"))
    with pytest.raises(FileNotFoundError, match="gone.csv"):
        book_models.scene_labels_csv(cfg, "osie")
