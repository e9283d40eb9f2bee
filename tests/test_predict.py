"""``python -m saliency_utils predict``: one grey PNG per image, same size and base name; odd
sizes, grey, RGBA and 16-bit images work; broken files are reported and skipped.

A random-weight model saved as a checkpoint keeps this fast and independent of the data bundle.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from saliency_utils import predict, training
from saliency_utils.__main__ import main
from saliency_utils.training import PRESETS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = PRESETS["smoke"].replace(weights=None)
    model = training.build_model(cfg, weights=None, device="cpu")
    path = training.save_checkpoint(model, cfg, tmp_path_factory.mktemp("ckpt") / "m.pt", {})
    yield path
    torch.set_num_threads(n)


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


def test_predict_command_writes_maps_and_skips_broken_files(folder, checkpoint, tmp_path,
                                                           capsys):
    images, sizes = folder
    out = tmp_path / "maps"
    rc = main(["predict", "--images", str(images), "--out", str(out),
               "--checkpoint", str(checkpoint), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1  # one file skipped, the others written
    assert "broken.png" in err and "skipped" in err
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{k}.png" for k in sizes)
    for name, (h, w) in sizes.items():
        with Image.open(out / f"{name}.png") as im:
            assert im.mode == "L" and im.size == (w, h)
            a = np.asarray(im)
        assert a.dtype == np.uint8 and a.max() == 255


def test_all_good_folder_exits_zero_and_name_clash_is_kept(folder, checkpoint, tmp_path):
    images, _ = folder
    (images / "broken.png").unlink()
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(images / "grey.jpg")  # same base name
    model = training.load_checkpoint(checkpoint, device="cpu")
    notes = []
    report = predict.predict_folder(images, tmp_path / "o", model=model, progress=False,
                                    log=notes.append)
    assert report.ok and len(report.written) == 6
    assert (tmp_path / "o" / "grey.png").is_file() and (tmp_path / "o" / "grey.png.png").is_file()
    assert any("base name" in n for n in notes)
    rc = main(["predict", "--images", str(images), "--out", str(tmp_path / "o2"),
               "--checkpoint", str(checkpoint), "--quiet"])
    assert rc == 0


def test_bad_arguments_exit_two(folder, checkpoint, tmp_path, capsys):
    images, _ = folder
    assert main(["predict", "--images", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                 "--checkpoint", str(checkpoint)]) == 2
    assert main(["predict", "--images", str(images), "--out", str(images),
                 "--checkpoint", str(checkpoint)]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    assert main(["predict", "--images", str(images), "--out", str(tmp_path / "o"),
                 "--checkpoint", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err


def test_png_scaling():
    a = predict.to_png_array(np.array([[0.0, 0.5], [0.25, 1.0]]))
    assert a.tolist() == [[0, 128], [64, 255]]
    assert predict.to_png_array(np.zeros((2, 2))).max() == 0
