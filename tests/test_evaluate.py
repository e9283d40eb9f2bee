"""``python -m saliency_utils evaluate``: images plus fixations in a plain format, scored with
the book's one scorer.

End to end on the bundle: MIT1003 images exported to a CSV of fixations and FIGRIM / MIT
images with their own ``.mat`` fixation maps; the command's per-image scores must *equal*
``evaluate.scoring.score_maps`` on the same maps and the bundle's own ``FixationDataset`` (an
independent path: the data layer's loaders against the command's readers), the fixations' own
density must beat the centre bias, and the printed means are ``evaluate.stats.mean_ci`` of the written
columns. Synthetic sets cover each bad input (exit 2, one line, nothing written), fixations
outside the image (counted, dropped; an image left without any skipped, exit 1) and the
book's model path with a random-weight checkpoint.
"""
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat

from saliency_utils import data
from saliency_utils.evaluate import anchors, cli as evaluate_cli, scoring as evaluation, metrics, stats
from saliency_utils.__main__ import main

ALL = list(metrics.METRIC_NAMES)
ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    rc = main(["evaluate", "--quiet", *map(str, argv)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _write_csv(path: Path, rows):
    lines = ["image,x,y,observer"] + [f"{i},{float(x)!r},{float(y)!r},{o}" for i, x, y, o in rows]
    path.write_text("\n".join(lines) + "\n")


def _export(ds, root: Path, maps_of=None):
    """Images of ``ds`` as PNG files, all observers' fixations as one CSV, and optionally
    ``maps_of(image, fixations)`` as .npy maps; returns the folders and the maps."""
    (root / "images").mkdir(parents=True)
    (root / "maps").mkdir()
    rows, maps_ = [], []
    for i in ds.ids:
        image = ds.load_image(i)
        Image.fromarray(image).save(root / "images" / f"{i}.png")
        f = ds.load_fixations(i)
        rows += [(f"{i}.png", x, y, o) for x, y, o in zip(f.x, f.y, f.observer)]
        if maps_of is not None:
            m = maps_of(image, f)
            np.save(root / "maps" / f"{i}.npy", m)
            maps_.append(m)
    _write_csv(root / "fixations.csv", rows)
    return root / "images", root / "fixations.csv", root / "maps", maps_


def _check_equal(frame, ref, cb, ids, suffix=".png"):
    assert list(frame["image"]) == [f"{i}{suffix}" for i in ids]
    for m in ref.columns.drop("image"):
        np.testing.assert_array_equal(frame[m].to_numpy(), ref[m].to_numpy(), err_msg=m)
        np.testing.assert_array_equal(frame[f"centre_bias_{m}"].to_numpy(), cb[m].to_numpy(),
                                      err_msg=m)


# ------------------------------------------------------------------------------ bundle, end to end
@pytest.fixture(scope="module")
def mit(bundle, tmp_path_factory):
    from saliency_utils.models import classical

    ds = evaluation.FixationDataset.mit1003(5)
    root = tmp_path_factory.mktemp("mit")
    images, fix, maps_dir, maps_ = _export(ds, root, lambda im, f: classical.spectral_residual(im))
    return ds, images, fix, maps_dir, maps_


def test_scores_equal_score_maps_on_the_bundle(mit, tmp_path, capsys):
    """(a) Maps computed by the package: every per-image score of every metric equals
    score_maps on the bundle's dataset, for the maps and for the (default, OSIE-fitted) centre
    bias; the default sigma on MIT1003 images is the book's MIT1003 sigma; the printed means
    and differences are stats.mean_ci / paired_difference of the written columns."""
    from saliency_utils.training.saliency import osie_centre_bias

    ds, images, fix, maps_dir, maps_ = mit
    out = tmp_path / "scores.csv"
    rc, text, err = run(capsys, "--images", images, "--fixations", fix, "--maps", maps_dir,
                        "--out", out, "--metrics", *ALL)
    assert rc == 0, err
    widths = osie_centre_bias()
    ref = evaluation.score_maps(maps_, ds, ALL, centre_bias=widths)
    cb = evaluation.score_maps(evaluation.centre_bias_maps(ds, widths), ds, ALL,
                               centre_bias=widths)
    frame = pd.read_csv(out)
    _check_equal(frame, ref, cb, ds.ids)
    assert list(frame["fixations"]) == [len(f) for f in ds.fixation_sets()]
    assert f"density sigma {data.MIT1003_SIGMA_PX:.2f} px" in text
    assert "not on this set" in text
    for m in ALL:
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [m])
        assert stats.mean_ci(ref[m]).text("{:.3f}") in line
        assert stats.mean_ci(cb[m]).text("{:.3f}") in line
        assert stats.paired_difference(ref[m], cb[m]).text("{:+.3f}") in line
    assert _leftovers(tmp_path) == []


def test_fixation_density_beats_the_centre_bias(mit, tmp_path, capsys):
    """(b) The fixations' own density must beat the centre bias on every metric (in the
    metric's direction), image by image on average and in the printed paired difference."""
    ds, images, fix, _, _ = mit
    dens = tmp_path / "density"
    dens.mkdir()
    for i, f in zip(ds.ids, ds.fixation_sets()):
        np.save(dens / f"{i}.npy", f.density(ds.sigma_px))
    out = tmp_path / "scores.csv"
    rc, text, err = run(capsys, "--images", images, "--fixations", fix, "--maps", dens,
                        "--out", out, "--sigma", ds.sigma_px, "--centre-bias-sigma", 0.2, 0.2)
    assert rc == 0, err
    frame = pd.read_csv(out)
    for m in anchors.FAST_METRICS:
        diff = frame[m] - frame[f"centre_bias_{m}"]
        sign = 1 if metrics.HIGHER_IS_BETTER[m] else -1
        assert sign * diff.mean() > 0, m
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [m])
        est = stats.paired_difference(frame[m], frame[f"centre_bias_{m}"])
        assert est.text("{:+.3f}") in line and sign * est.value > 0


def test_wrong_size_map_is_an_error_unless_resized(mit, tmp_path, capsys):
    """(c) A map of the wrong size names the file and both sizes (exit 2, nothing written);
    with --resize-maps it is resized as score_maps(resize=True) does."""
    ds, images, fix, maps_dir, maps_ = mit
    bad = tmp_path / "maps"
    bad.mkdir()
    for i, m in zip(ds.ids, maps_):
        np.save(bad / f"{i}.npy", m)
    small = maps_[2][::2, ::2]
    np.save(bad / f"{ds.ids[2]}.npy", small)
    out = tmp_path / "scores.csv"
    rc, _, err = run(capsys, "--images", images, "--fixations", fix, "--maps", bad, "--out", out)
    h, w = ds.load_fixations(ds.ids[2]).shape
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{ds.ids[2]}.npy" in err and f"{small.shape[0]} x {small.shape[1]}" in err
    assert f"{h} x {w}" in err and "--resize-maps" in err
    assert not out.exists() and _leftovers(tmp_path) == []
    rc, _, err = run(capsys, "--images", images, "--fixations", fix, "--maps", bad, "--out", out,
                     "--resize-maps", "--centre-bias-sigma", 0.2, 0.25, "--sigma", ds.sigma_px)
    assert rc == 0, err
    mixed = list(maps_)
    mixed[2] = small
    ref = evaluation.score_maps(mixed, ds, centre_bias=(0.2, 0.25), resize=True)
    for m in anchors.FAST_METRICS:
        np.testing.assert_array_equal(pd.read_csv(out)[m].to_numpy(), ref[m].to_numpy())


def test_mat_fixation_maps_of_the_bundle(bundle, tmp_path, capsys):
    """MIT-style .mat fixation maps as the bundle ships them (FIGRIM ``fixLocs``, the MIT
    benchmark's ``FIXATIONLOCS/i210.mat`` with ``fixations``), linked unchanged: the scores
    equal score_maps on a dataset built by the data layer's own readers of those maps."""
    from saliency_utils.models import classical
    from saliency_utils.data import figrim

    names = data.figrim_amusement_park_ids()[:2]
    (tmp_path / "images").mkdir()
    (tmp_path / "mats").mkdir()
    (tmp_path / "maps").mkdir()
    fixmaps, images = {}, {}
    for n in names:
        images[n] = data.load_figrim_image(n)
        fixmaps[n] = data.load_figrim_fixation_map(n)
        os.symlink(data.fetch(figrim.AP_DATASET, f"{figrim._AP_MAPS}{n}.mat"),
                   tmp_path / "mats" / f"{n}.mat")
    demo = data.load_mit1003_demo("i210")
    images["i210"], fixmaps["i210"] = demo["image"], demo["fixation_map"]
    os.symlink(data.fetch("mit1003", "code_forVisualization/demo_ims/FIXATIONLOCS/i210.mat"),
               tmp_path / "mats" / "i210.mat")
    ids = tuple(sorted(images))
    maps_ = []
    for n in ids:
        Image.fromarray(images[n]).save(tmp_path / "images" / f"{n}.png")
        maps_.append(classical.spectral_residual(images[n]))
        np.save(tmp_path / "maps" / f"{n}.npy", maps_[-1])

    def fixations(n):
        y, x = np.nonzero(fixmaps[n])
        return data.Fixations.from_points(x, y, 0, fixmaps[n].shape)

    ds = evaluation.FixationDataset("mats", ids, images.__getitem__, fixations, 30.0, 30.0)
    out = tmp_path / "scores.csv"
    rc, _, err = run(capsys, "--images", tmp_path / "images", "--fixations", tmp_path / "mats",
                     "--maps", tmp_path / "maps", "--out", out, "--sigma", 30,
                     "--centre-bias-sigma", 0.2, 0.2, "--metrics", "AUC-Judd,NSS,CC,sAUC,IG")
    assert rc == 0, err
    wanted = ["AUC-Judd", "NSS", "CC", "sAUC", "IG"]
    ref = evaluation.score_maps(maps_, ds, wanted, centre_bias=(0.2, 0.2))
    cb = evaluation.score_maps(evaluation.centre_bias_maps(ds, (0.2, 0.2)), ds, wanted,
                               centre_bias=(0.2, 0.2))
    _check_equal(pd.read_csv(out), ref, cb, ids)


# ------------------------------------------------------------------------------ synthetic sets
SHAPES = {"a.png": (48, 64), "b.jpg": (40, 56), "c.png": (48, 64), "d.png": (30, 30)}


@pytest.fixture
def toy(tmp_path):
    """Four small images, clustered fixations (10 per image, 2 observers), their densities as
    .npy maps, and a CSV."""
    rng = np.random.default_rng(0)
    img, mp = tmp_path / "images", tmp_path / "maps"
    img.mkdir()
    mp.mkdir()
    rows = []
    for name, (h, w) in SHAPES.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(img / name)
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        ys = np.clip(cy + rng.normal(0, 3, 10), 0, h - 1)
        xs = np.clip(cx + rng.normal(0, 3, 10), 0, w - 1)
        rows += [(name, x, y, k % 2) for k, (x, y) in enumerate(zip(xs, ys))]
        f = data.Fixations.from_points(xs, ys, 0, (h, w))
        np.save(mp / f"{Path(name).stem}.npy", f.density(3.0))
    _write_csv(tmp_path / "fix.csv", rows)
    return tmp_path, img, tmp_path / "fix.csv", mp, rows


def _args(t, **kw):
    root, img, fix, mp, _ = t
    base = {"--images": img, "--fixations": fix, "--maps": mp, "--out": root / "out" / "s.csv",
            "--centre-bias-sigma": ["0.2", "0.2"], "--sigma": 3}
    base.update(kw)
    argv = []
    for k, v in base.items():
        if v is None:
            continue
        argv += [k] + ([str(x) for x in v] if isinstance(v, list) else ([] if v is True
                                                                         else [str(v)]))
    return argv


def test_toy_set_scores_and_writes(toy, capsys):
    root = toy[0]
    rc, text, err = run(capsys, *_args(toy))
    assert rc == 0, err
    frame = pd.read_csv(root / "out" / "s.csv")
    assert list(frame["image"]) == sorted(SHAPES)
    assert list(frame["fixations"]) == [10] * 4 and list(frame["dropped"]) == [0] * 4
    assert "AUC-Judd" in text and "per-image scores" in text
    assert _leftovers(root / "out") == []


def _bad_cases(t):
    """(name, how to break the set, extra argv, expected exit, substrings of the one line)."""
    root, img, fix, mp, rows = t

    def colour_map():
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
                        ).save(mp / "a.png")
        (mp / "a.npy").unlink()

    def write(path, text):
        return lambda: Path(path).write_text(text)

    def unknown_images():
        _write_csv(fix, rows + [(f"ghost{k}.png", 1, 1, 0) for k in range(7)])

    def all_outside():
        _write_csv(fix, [(n, -5, y, o) for n, x, y, o in rows])

    def broken_image():
        (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 8)
        _write_csv(fix, rows + [("broken.png", 1, 1, 0)])

    def broken_map():
        (mp / "a.npy").write_bytes(b"not a numpy file")

    def missing_map():
        (mp / "c.npy").unlink()

    def constant_map():
        np.save(mp / "b.npy", np.ones((40, 56)))

    def out_parent_is_a_file():
        (root / "plain").write_text("x")

    def make_out_dir():
        (root / "out" / "s.csv").mkdir(parents=True)

    def nothing():
        pass

    return [
        ("missing images", nothing, {"--images": root / "nope"}, ["--images", "does not exist"]),
        ("images is a file", nothing, {"--images": fix}, ["--images", "is not a folder"]),
        ("missing fixations", nothing, {"--fixations": root / "nope.csv"},
         ["--fixations", "does not exist"]),
        ("missing maps", nothing, {"--maps": root / "nomaps"}, ["--maps", "does not exist"]),
        ("columns", write(fix, "image,x\na.png,1\n"), {}, ["lacks the column(s) y", "image,x"]),
        ("empty csv", write(fix, ""), {}, ["is empty"]),
        ("header only", write(fix, "image,x,y\n"), {}, ["no fixation rows"]),
        ("not a number", write(fix, "image,x,y\na.png,1,2\na.png,one,2\n"), {},
         ["line 3", "'one'"]),
        ("unknown images", unknown_images, {},
         ["7 image(s) not in --images", "'ghost0.png'", "'ghost4.png'", "and 2 more"]),
        ("no fixation inside", all_outside, {}, ["no image has a fixation inside it"]),
        ("unreadable image", broken_image, {}, ["cannot read image", "broken.png"]),
        ("unreadable map", broken_map, {}, ["cannot read map", "a.npy"]),
        ("colour map", colour_map, {}, ["a.png", "colour image"]),
        ("missing map", missing_map, {}, ["no map for 1 image(s): c.png"]),
        ("constant map", constant_map, {}, ["b.npy", "constant"]),
        ("out is a folder", make_out_dir, {}, ["--out", "is a folder"]),
        ("out under a file", out_parent_is_a_file, {"--out": root / "plain" / "s.csv"},
         ["--out", "plain"]),
        ("out is the input", nothing, {"--out": fix}, ["--out", "is an input file"]),
        ("unknown metric", nothing, {"--metrics": ["NSS", "AUC"]}, ["unknown metric(s) AUC"]),
        ("bad sigma", nothing, {"--sigma": -1}, ["--sigma"]),
        ("bad centre bias", nothing, {"--centre-bias-sigma": ["0", "0.2"]},
         ["--centre-bias-sigma"]),
        ("sAUC on one image", write(fix, "image,x,y\na.png,1,2\n"), {"--metrics": "sAUC"},
         ["sAUC needs at least two images"]),
        ("maps and checkpoint", nothing, {"--checkpoint": fix}, ["--checkpoint", "--maps"]),
    ]


@pytest.mark.parametrize("case", range(23))
def test_bad_input_exits_two_with_one_line_and_writes_nothing(toy, case, capsys, monkeypatch):
    cases = _bad_cases(toy)
    assert len(cases) == 23
    name, breaker, extra, wanted = cases[case]
    monkeypatch.setattr("saliency_utils.models.predict.load_model",
                        lambda *a: pytest.fail("a model was loaded"))
    breaker()
    rc, text, err = run(capsys, *_args(toy, **extra))
    assert rc == 2, (name, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (name, err)
    for w in wanted:
        assert w in lines[0], (name, w, lines[0])
    assert "Traceback" not in err and text == ""
    out_dir = toy[0] / "out"
    if out_dir.is_dir():
        assert [p for p in out_dir.iterdir() if p.is_file()] == [], name
        assert _leftovers(out_dir) == []
    assert _leftovers(toy[0]) == []


def test_fixations_outside_are_counted_dropped_and_an_empty_image_skipped(toy, capsys):
    root, img, fix, mp, rows = toy
    extra = [("a.png", 64.6, 3, 0), ("a.png", 10, -0.8, 1), ("a.png", 63.4, 47.4, 0),
             ("b.jpg", 1e4, 1e4, 0)]  # 63.4, 47.4: within half a pixel, clipped and kept
    moved = [(n, -3 if n == "d.png" else x, y, o) for n, x, y, o in rows]
    _write_csv(fix, moved + extra)
    rc, text, err = run(capsys, *_args(toy))
    assert rc == 1, err
    warning = next(ln for ln in err.splitlines() if ln.startswith("warning:"))
    assert "dropped 13 fixation(s)" in warning and "from 3 image(s)" in warning
    assert "a.png (2)" in warning and "b.jpg (1)" in warning and "d.png (10)" in warning
    assert any(ln.startswith("skipped d.png") for ln in err.splitlines())
    frame = pd.read_csv(root / "out" / "s.csv")
    assert list(frame["image"]) == ["a.png", "b.jpg", "c.png"]
    assert list(frame["fixations"]) == [11, 10, 10] and list(frame["dropped"]) == [2, 1, 0]


def test_unused_images_are_noted_not_scored(toy, capsys):
    root, img, fix, mp, rows = toy
    _write_csv(fix, [r for r in rows if r[0] != "c.png"])
    rc, _, err = run(capsys, *_args(toy))
    assert rc == 0, err
    assert "1 image(s) of --images have no fixations" in err and "c.png" in err
    assert list(pd.read_csv(root / "out" / "s.csv")["image"]) == ["a.png", "b.jpg", "d.png"]


def test_grey_png_maps_and_stem_names(toy, capsys):
    """Grey 8- and 16-bit PNG maps, matched by stem; CSV names without extension resolve; a
    UTF-8 byte-order mark before the header is skipped."""
    root, img, fix, mp, rows = toy
    for name in SHAPES:
        stem = Path(name).stem
        m = np.load(mp / f"{stem}.npy")
        (mp / f"{stem}.npy").unlink()
        if stem == "a":
            Image.fromarray(np.round(m / m.max() * 65535).astype(np.uint16)).save(mp / "a.png")
        else:
            Image.fromarray(np.round(m / m.max() * 255).astype(np.uint8), "L").save(
                mp / f"{stem}.png")
    _write_csv(fix, [(Path(n).stem, x, y, o) for n, x, y, o in rows])
    fix.write_bytes(b"\xef\xbb\xbf" + fix.read_bytes())  # a spreadsheet's byte-order mark
    rc, _, err = run(capsys, *_args(toy))
    assert rc == 0, err
    frame = pd.read_csv(root / "out" / "s.csv")
    assert (frame["NSS"] > frame["centre_bias_NSS"]).all()


def test_mat_folder_errors(toy, capsys):
    root, img, fix, mp, rows = toy
    mats = root / "mats"
    mats.mkdir()
    savemat(mats / "a.mat", {"fixLocs": np.eye(48, 64, dtype=bool)})
    savemat(mats / "c.mat", {"fixLocs": np.eye(40, 64, dtype=bool)})
    rc, _, err = run(capsys, *_args(toy, **{"--fixations": mats}))
    assert rc == 2 and "c.mat is 40 x 64" in err and "c.png is 48 x 64" in err, err
    savemat(mats / "c.mat", {"fixLocs": np.zeros((48, 64), bool)})
    savemat(mats / "zz.mat", {"fixLocs": np.eye(48, 64, dtype=bool)})
    rc, _, err = run(capsys, *_args(toy, **{"--fixations": mats}))
    assert rc == 2 and "not in --images: zz.mat" in err, err
    (mats / "zz.mat").unlink()
    rc, _, err = run(capsys, *_args(toy, **{"--fixations": mats}))
    assert rc == 1 and "skipped c.png: its fixation map is empty" in err, err
    frame = pd.read_csv(root / "out" / "s.csv")
    assert list(frame["image"]) == ["a.png"] and list(frame["fixations"]) == [48]


def test_failures_leave_an_existing_out_untouched(toy, capsys, monkeypatch):
    """An unscorable map found while scoring, or a failure while writing the CSV, leaves a
    previous --out as it was and no temporary file."""
    root = toy[0]
    out = root / "out" / "s.csv"
    out.parent.mkdir()
    out.write_text("previous\n")
    np.save(toy[3] / "c.npy", np.full((48, 64), np.nan))
    rc, _, err = run(capsys, *_args(toy))
    assert rc == 2 and "c.npy" in err, err
    assert out.read_text() == "previous\n" and _leftovers(out.parent) == []
    np.save(toy[3] / "c.npy", np.ones((48, 64)) + np.eye(48, 64))

    def boom(self, f, **kw):
        f.write("image,half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    rc, _, err = run(capsys, *_args(toy))
    assert rc == 2 and "No space left on device" in err, err
    assert out.read_text() == "previous\n" and _leftovers(out.parent) == []


def test_the_books_model_path_with_a_checkpoint(toy, tmp_path, capsys, one_thread):
    """Without --maps the book's model (here a random-weight checkpoint, cheap) predicts the
    maps: the scores equal score_maps(model_maps(model)) on the same images."""
    import torch

    from saliency_utils.training import saliency as training
    from saliency_utils.training.saliency import PRESETS

    torch.manual_seed(0)
    cfg = PRESETS["smoke"].replace(weights=None, centre_bias="none")
    model = training.build_model(cfg, weights=None, device="cpu")
    ckpt = training.save_checkpoint(model, cfg, tmp_path / "m.pt", {})
    model = training.load_checkpoint(ckpt, device="cpu")
    root, img, fix, mp, rows = toy
    rc, text, err = run(capsys, *_args(toy, **{"--maps": None, "--checkpoint": ckpt}))
    assert rc == 0, err
    assert "the book's saliency model" in text
    from saliency_utils.models.predict import read_image

    fixsets = {}
    for n, x, y, o in rows:
        fixsets.setdefault(n, []).append((x, y, o))
    ids = tuple(sorted(SHAPES))
    ds = evaluation.FixationDataset(
        "toy", ids, lambda i: read_image(img / i),
        lambda i: data.Fixations.from_points(*np.array(fixsets[i]).T, SHAPES[i]), 3.0, 3.0)
    ref = evaluation.score_maps(evaluation.model_maps(model), ds, centre_bias=(0.2, 0.2))
    frame = pd.read_csv(root / "out" / "s.csv")
    for m in anchors.FAST_METRICS:
        np.testing.assert_allclose(frame[m].to_numpy(), ref[m].to_numpy(), rtol=1e-9, atol=0)


def test_a_model_load_failure_is_one_line(toy, capsys):
    bad = toy[0] / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    rc, _, err = run(capsys, *_args(toy, **{"--maps": None, "--checkpoint": bad}))
    assert rc == 2 and err.startswith("error: cannot load the model") and err.count("\n") == 1


def test_help_documents_the_format_and_its_defaults():
    """The help text states the defaults the code uses (the text is static, so that building
    the command line stays light: this test keeps them in step)."""
    from saliency_utils.models.predict import IMAGE_EXTENSIONS

    text = evaluate_cli.FORMAT
    assert " ".join(anchors.FAST_METRICS) in text
    assert " ".join(metrics.METRIC_NAMES) in " ".join(text.split())
    assert f"{data.MIT1003_SIGMA_PX:g} px" in text and f"{evaluate_cli.MIT1003_LONG_SIDE} px" in text
    assert "image,x,y[,observer]" in text and "0-based" in text
    assert evaluate_cli.default_sigma([(768, 1024), (1024, 700), (600, 1024)]) == \
        data.MIT1003_SIGMA_PX
    assert set(IMAGE_EXTENSIONS) <= set(evaluate_cli.MAP_EXTENSIONS)
    ns = Namespace(metrics=None)
    assert evaluate_cli._metrics(ns.metrics) == anchors.FAST_METRICS


def test_command_line_exit_status_and_no_traceback(toy):
    """Through ``python -m saliency_utils``: exit 2, one line, no traceback."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "saliency_utils", "evaluate",
                        *_args(toy, **{"--images": toy[0] / "nope"})],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "saliency_utils", "evaluate", "--help"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "image,x,y[,observer]" in r.stdout
