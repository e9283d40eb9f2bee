"""Damaged local data files: a size that differs from the manifest is rejected on every access
(path and the ``data <dataset> --verify`` hint in the message), and a file that cannot be
decoded raises :class:`DataFileError` naming it, instead of a bare ``OSError``.

The damaged copies live in a temporary ``SALIENCY_DATA`` root, which is searched before the
offline bundle; the bundle itself is only read.
"""
import shutil

import numpy as np
import pytest
from PIL import Image

from saliency_utils import data
from saliency_utils.data import ChecksumError, DataFileError, fetch, manifest
from saliency_utils.data._io import read_gray, read_mat, read_rgb

OSIE_IMAGE = "data/stimuli/1001.jpg"


@pytest.fixture
def root(tmp_path, monkeypatch, bundle):
    monkeypatch.setenv("SALIENCY_DATA", str(tmp_path / "root"))
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    return tmp_path / "root"


def _copy(bundle, root, dataset, relpath):
    dest = root / dataset / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(bundle / dataset / relpath, dest)
    return dest


def test_local_copy_with_the_wrong_size_is_rejected_on_every_access(bundle, root):
    assert any(e.path == OSIE_IMAGE for e in manifest("osie"))
    dest = _copy(bundle, root, "osie", OSIE_IMAGE)
    assert fetch("osie", OSIE_IMAGE) == dest  # intact copy: used as it is
    dest.write_bytes(dest.read_bytes()[:-100])  # truncated
    for _ in range(2):  # every access, not only the first or with verify=True
        with pytest.raises(ChecksumError) as err:
            fetch("osie", OSIE_IMAGE)
        msg = str(err.value)
        assert str(dest) in msg and "data osie --verify" in msg and "bytes" in msg
    with pytest.raises(ChecksumError, match="data osie --verify"):
        data.load_osie_image("1001")
    with pytest.raises(ChecksumError, match="data osie --verify"):
        fetch("osie", OSIE_IMAGE, verify=True)


def test_same_size_but_undecodable_file_names_the_file(bundle, root):
    dest = _copy(bundle, root, "osie", OSIE_IMAGE)
    dest.write_bytes(b"\0" * dest.stat().st_size)  # same size: passes the cheap check
    with pytest.raises(DataFileError) as err:
        data.load_osie_image("1001")
    msg = str(err.value)
    assert str(dest) in msg and "data osie --verify" in msg
    assert isinstance(err.value, OSError)  # callers catching OSError still do
    with pytest.raises(ChecksumError, match="sha256"):  # the full check says why
        fetch("osie", OSIE_IMAGE, verify=True)


def test_readers_name_truncated_and_foreign_files(tmp_path):
    img = tmp_path / "cut.jpg"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(img, quality=90)
    img.write_bytes(img.read_bytes()[:400])
    for reader in (read_rgb, read_gray):
        with pytest.raises(DataFileError, match="cut.jpg") as err:
            reader(img)
        assert "truncated" in str(err.value) or "broken" in str(err.value) or "cannot" in str(
            err.value)
    mat = tmp_path / "fix.mat"
    mat.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x01" * 50)
    with pytest.raises(DataFileError, match="fix.mat"):
        read_mat(mat)
    with pytest.raises(FileNotFoundError):  # a missing file is not a decoding error
        read_rgb(tmp_path / "missing.jpg")
