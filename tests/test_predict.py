"""``python -m saliency_utils predict``: one grey PNG per image, same size, names that cannot
collide; the PNG is the model's own map of that image (not a flipped, transposed or other
image's map) with the output exponent applied; odd sizes, grey, RGBA, 16-bit images and large
JPEGs (draft decoding) work; usage and I/O errors exit 2 before any model is loaded, skipped
inputs (broken files, dangling links, names taken by folders) exit 1, without leftovers.

A random-weight model saved as a checkpoint keeps this fast and independent of the data bundle.
Its readout weights are scaled up and it has no centre-bias prior, so that its maps depend
strongly on the image (a random model's maps are otherwise nearly its symmetric prior, and a
flipped map would pass any comparison).
"""
import os

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from saliency_utils.evaluate import maps
from saliency_utils.models import predict, saliency_model
from saliency_utils.training import saliency as training
from saliency_utils.__main__ import main
from saliency_utils.training.saliency import PRESETS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = PRESETS["smoke"].replace(weights=None, centre_bias="none")
    model = training.build_model(cfg, weights=None, device="cpu")
    with torch.no_grad():
        for p in model.readout.parameters():
            p.mul_(400.0)
    path = training.save_checkpoint(model, cfg, tmp_path_factory.mktemp("ckpt") / "m.pt", {})
    yield path
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model(checkpoint):
    return training.load_checkpoint(checkpoint, device="cpu")


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(d / "rgb_odd.png")
    Image.fromarray(rng.integers(0, 256, (61, 40, 3), dtype=np.uint8)).save(d / "photo.JPG")
    Image.fromarray(rng.integers(0, 256, (50, 70), dtype=np.uint8), "L").save(d / "grey.png")
    Image.fromarray(rng.integers(0, 256, (45, 45, 4), dtype=np.uint8), "RGBA").save(d / "rgba.png")
    Image.fromarray(rng.integers(0, 65535, (20, 90), dtype=np.uint16)).save(d / "deep16.png")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (d / "notes.txt").write_text("not an image")
    sizes = {"rgb_odd": (37, 53), "photo": (61, 40), "grey": (50, 70), "rgba": (45, 45),
             "deep16": (20, 90)}
    return d, sizes


def _model_png(model, path, exponent=None):
    """The model's own map of the image at ``path`` as PNG values (full-precision path)."""
    exponent = saliency_model.MAP_EXPONENT if exponent is None else exponent
    return predict.to_png_array(model.predict(predict.read_image(path), exponent=exponent))


def _close(written, expected) -> bool:
    """Same map up to resampling and 8-bit rounding: the written map and the model's own map
    differ by at most 1.5 grey levels on average (measured: up to 1.4), while a flipped,
    transposed or other image's map, or one without the output exponent, differs by 7 or more."""
    d = np.abs(written.astype(int) - expected.astype(int))
    return d.mean() <= 2.5 and d.max() <= 40


def _mismatches(png, model, path, other_path):
    """Maps that must *not* pass :func:`_close`: the sanity check that it can fail."""
    ref = _model_png(model, path).astype(int)
    yield "left-right flip", ref[:, ::-1]
    yield "up-down flip", ref[::-1]
    if ref.shape[0] == ref.shape[1]:
        yield "transposed", ref.T
    other = _model_png(model, other_path).astype(float)
    yield "other image", predict.to_png_array(maps.resize_map(other, ref.shape))
    yield "no output exponent", _model_png(model, path, exponent=1.0)


def test_written_png_is_the_models_map_of_that_image(folder, checkpoint, model, tmp_path,
                                                      capsys):
    images, sizes = folder
    out = tmp_path / "maps"
    rc = main(["predict", "--images", str(images), "--out", str(out),
               "--checkpoint", str(checkpoint), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1  # one file skipped, the others written
    assert "broken.png" in err and "skipped" in err and "Traceback" not in err
    assert "notes.txt" in err  # ignored, with a note
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.png" for k in sizes)
    srcs = {p.stem: p for p in images.iterdir()}
    for name, (h, w) in sizes.items():
        with Image.open(out / f"{name}.png") as im:
            assert im.mode == "L" and im.size == (w, h)
            a = np.asarray(im)
        assert a.dtype == np.uint8 and a.max() == 255
        assert _close(a, _model_png(model, srcs[name])), name
        other = srcs["grey" if name != "grey" else "rgb_odd"]
        for what, wrong in _mismatches(a, model, srcs[name], other):
            assert not _close(a, wrong), (name, what)


def test_output_exponent_is_applied(folder, model, monkeypatch):
    images, _ = folder
    path = images / "rgb_odd.png"
    for exponent in (saliency_model.MAP_EXPONENT, 0.4, 1.6):
        monkeypatch.setattr(saliency_model, "MAP_EXPONENT", exponent)
        png = predict.saliency_png(model, path)
        assert _close(png, _model_png(model, path, exponent)), exponent
        assert not _close(png, _model_png(model, path, 1.0)), exponent


def test_the_checkpoints_own_choice_is_applied(folder, model, monkeypatch):
    """A checkpoint trained with validation images carries its exponent and mirror averaging;
    predict's PNG and SaliencyModel.predict both follow them."""
    images, _ = folder
    path = images / "rgb_odd.png"
    monkeypatch.setattr(model, "map_exponent", 1.6)
    png = predict.saliency_png(model, path)
    assert _close(png, predict.to_png_array(model.predict(predict.read_image(path), exponent=1.6)))
    assert not _close(png, _model_png(model, path, saliency_model.MAP_EXPONENT))
    monkeypatch.setattr(model, "flip_average", False)
    img = predict.read_image(path)
    np.testing.assert_allclose(model.predict(img), model.predict(img, flip_average=False, exponent=1.6))
    assert not np.allclose(model.predict(img), model.predict(img, flip_average=True, exponent=1.6))
    png = predict.saliency_png(model, path)
    assert _close(png, predict.to_png_array(model.predict(img)))


def test_large_jpeg_is_decoded_in_draft_mode_and_matches(tmp_path, model):
    rng = np.random.default_rng(1)
    arr = ndimage.zoom(rng.integers(0, 256, (60, 80, 3)).astype(np.uint8), (20, 20, 1), order=1)
    path = tmp_path / "big.jpg"
    Image.fromarray(arr).save(path, quality=92)
    png = predict.saliency_png(model, path)
    assert png.shape == (1200, 1600) and png.max() == 255
    assert _close(png, _model_png(model, path))
    assert not _close(png, _model_png(model, path)[::-1])


def test_output_names_cannot_collide():
    from pathlib import Path

    files = [Path(n) for n in ["A.jpg", "A.jpg.bmp", "A.png", "B.JPG", "b.png", "c.gif",
                               "a.jpg.png.bmp"]]
    names = predict.output_names(files)
    assert len({n.lower() for n in names.values()}) == len(files)
    assert names[Path("c.gif")] == "c.png"
    assert names[Path("A.png")] == "A.png.png"
    assert names[Path("B.JPG")] == "B.JPG.png" and names[Path("b.png")] == "b.png.png"
    assert names[Path("A.jpg.bmp")] == "A.jpg.png"  # its base name is its own
    assert names[Path("A.jpg")] == "A.jpg.2.png"  # so the clash A.jpg / A.png numbers A.jpg


def test_name_clashes_are_written_side_by_side(folder, model, tmp_path):
    images, _ = folder
    (images / "broken.png").unlink()
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(images / "grey.jpg")  # same base name
    Image.fromarray(np.ones((11, 12, 3), np.uint8)).save(images / "grey.jpg.bmp")
    notes = []
    report = predict.predict_folder(images, tmp_path / "o", model=model, progress=False,
                                    log=notes.append)
    assert report.ok and len(report.written) == 7
    written = {p.name for p in (tmp_path / "o").iterdir()}
    assert {"grey.png.png", "grey.jpg.2.png", "grey.jpg.png"} <= written
    assert "grey.png" not in written
    with Image.open(tmp_path / "o" / "grey.jpg.2.png") as im:
        assert im.size == (12, 10)  # grey.jpg's map, not overwritten by grey.jpg.bmp's
    with Image.open(tmp_path / "o" / "grey.jpg.png") as im:
        assert im.size == (12, 11)  # grey.jpg.bmp's
    assert sum("writing" in n for n in notes) == 2


def test_usage_and_io_errors_exit_two_before_loading_a_model(folder, tmp_path, monkeypatch,
                                                            capsys):
    images, _ = folder

    def no_model(*_a, **_k):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(predict, "load_model", no_model)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    only_links = tmp_path / "links"
    only_links.mkdir()
    (only_links / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    cases = {
        "missing --images": (tmp_path / "nope", tmp_path / "o1"),
        "--images is a file": (a_file, tmp_path / "o2"),
        "--out is a file": (images, a_file),
        "--out cannot be created": (images, a_file / "sub"),
        "--out == --images": (images, images),
        "empty folder": (empty, tmp_path / "o3"),
        "only a dangling link": (only_links, tmp_path / "o4"),
    }
    for what, (src, out) in cases.items():
        rc = main(["predict", "--images", str(src), "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2, what
        assert err.strip().splitlines()[-1].startswith("error:"), (what, err)
        assert "Traceback" not in err, what
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            assert main(["predict", "--images", str(images), "--out", str(ro)]) == 2
        finally:
            ro.chmod(0o700)


def test_bad_checkpoint_exits_two_with_one_line(folder, tmp_path, capsys):
    images, _ = folder
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    for ckpt in (bad, tmp_path / "missing.pt"):
        rc = main(["predict", "--images", str(images), "--out", str(tmp_path / "o"),
                   "--checkpoint", str(ckpt), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and "error:" in err and "Traceback" not in err
        assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1


def test_skipped_inputs_are_reported_and_leave_nothing_behind(folder, checkpoint, tmp_path,
                                                              capsys):
    images, _ = folder
    (images / "dangling.png").symlink_to(tmp_path / "deleted.png")
    good = images / "rgb_odd.png"
    (images / "link.jpg").symlink_to(good)  # a link to a file is an ordinary input
    trunc = images / "truncated.jpg"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(trunc, quality=90)
    trunc.write_bytes(trunc.read_bytes()[:300])
    out = tmp_path / "maps"
    (out / "photo.png").mkdir(parents=True)  # an output name taken by a folder
    rc = main(["predict", "--images", str(images), "--out", str(out),
               "--checkpoint", str(checkpoint), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    for name in ("dangling.png", "broken.png", "photo.JPG", "truncated.jpg"):
        assert name in err, name
    assert "taken by a folder" in err and "dangling symbolic link" in err
    left = sorted(p.name for p in out.iterdir())
    assert not [n for n in left if n.endswith(".tmp")], left
    assert "link.png" in left and "rgb_odd.png" in left
    assert (out / "photo.png").is_dir()


def test_png_scaling():
    a = predict.to_png_array(np.array([[0.0, 0.5], [0.25, 1.0]]))
    assert a.tolist() == [[0, 128], [64, 255]]
    assert predict.to_png_array(np.zeros((2, 2))).max() == 0


def test_resize_map_reference_values():
    """``evaluate.maps.resize_map`` pinned: bicubic (order 3) with anti-aliasing, reflect mode, pixel
    centres aligned (output pixel ``j`` samples input coordinate ``(j + 0.5) * in / out - 0.5``)."""
    a = np.arange(12, dtype=float).reshape(3, 4) ** 1.5
    expected_up = np.array([
        [0.155698, 0.455067, 1.416314, 2.610778, 4.599922, 5.335367],
        [3.077744, 3.70737, 5.526989, 7.219425, 9.779251, 10.722903],
        [15.294876, 16.482977, 19.780762, 22.408244, 26.085748, 27.434942],
        [22.431381, 23.749024, 27.405433, 30.304782, 34.331805, 35.806679],
    ])
    np.testing.assert_allclose(maps.resize_map(a, (4, 6)), expected_up, atol=1e-5)
    np.testing.assert_allclose(maps.resize_map(a[:, ::-1], (4, 6)), expected_up[:, ::-1],
                               atol=1e-5)
    np.testing.assert_allclose(maps.resize_map(a.T, (6, 4)), expected_up.T, atol=1e-5)
    ramp = np.arange(64, dtype=float).reshape(8, 8)  # value = 8 * row + col
    expected_down = np.array([[8.340264, 10.913568, 13.486872],
                              [28.926696, 31.5, 34.073304],
                              [49.513128, 52.086432, 54.659736]])
    np.testing.assert_allclose(maps.resize_map(ramp, (3, 3)), expected_down, atol=1e-5)
    # geometry, independently of the kernel: away from the borders a linear ramp is sampled at
    # the aligned pixel centres
    row = maps.resize_map(np.tile(np.arange(10.0), (10, 1)), (10, 20))[5]
    j = np.arange(6, 14)
    np.testing.assert_allclose(row[j], (j + 0.5) * 0.5 - 0.5, atol=0.01)
    np.testing.assert_array_equal(maps.resize_map(a, (3, 4)), a)  # same shape: a copy
    spike = np.zeros((5, 5))
    spike[2, 2] = 1.0
    assert maps.resize_map(spike, (9, 9)).min() >= 0  # non-negative input stays non-negative


def test_out_folder_inside_images_is_not_an_input(folder, model, tmp_path):
    images, _ = folder
    (images / "broken.png").unlink()
    out = images / "maps.png"  # an output folder with an image-like name, inside --images
    report = predict.predict_folder(images, out, model=model, progress=False, log=lambda m: None)
    assert report.ok and len(report.written) == 5
    again = predict.predict_folder(images, out, model=model, progress=False, log=lambda m: None)
    assert again.ok and len(again.written) == 5


def test_minmax_model_writes_its_min_max_map(tmp_path, checkpoint):
    """A model with ``output="minmax"`` (the paper preset's) gets its min-max map, as
    ``predict`` gives it, not the exponentiated density."""
    density_model = training.load_checkpoint(checkpoint, device="cpu")
    cfg = density_model.train_config.replace(output="minmax", readout_bias=False, loss_kl=0.0, loss_nss=1.0)
    model = training.build_model(cfg, weights=None, device="cpu")
    state = {k: v for k, v in density_model.state_dict().items() if k != "readout.conv2.bias"}
    model.load_state_dict(state)
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (45, 70, 3), dtype=np.uint8)) \
        .save(path)
    png = predict.saliency_png(model, path)
    assert png.shape == (45, 70) and png.max() == 255
    assert _close(png, predict.to_png_array(model.predict(predict.read_image(path))))
    assert not _close(png, _model_png(density_model, path))
