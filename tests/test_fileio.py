"""The book's one atomic writer (saliency_utils.fileio): complete files or none, no temporary
file left behind, an existing target kept on failure; and every writer of the package uses it."""
import os
import re
import stat
from pathlib import Path

import pytest

from saliency_utils import fileio

PKG = Path(__file__).resolve().parents[1] / "saliency_utils"


def test_writes_all_at_once_with_the_umask_mode(tmp_path):
    t = tmp_path / "out.bin"
    fileio.atomic_write(t, lambda f: f.write(b"abc"))
    assert t.read_bytes() == b"abc" and os.listdir(tmp_path) == ["out.bin"]
    assert stat.S_IMODE(t.stat().st_mode) == 0o666 & ~fileio.umask()
    fileio.atomic_write(t, lambda f: f.write(b"x"), mode=0o600)
    assert t.read_bytes() == b"x" and stat.S_IMODE(t.stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    t = tmp_path / "out.bin"
    t.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise KeyboardInterrupt  # not only Exception: an interrupted build too

    with pytest.raises(KeyboardInterrupt):
        fileio.atomic_write(t, fail)
    assert t.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    with pytest.raises(FileNotFoundError):  # the folder must exist
        fileio.atomic_write(tmp_path / "no" / "x", lambda f: None)


def test_text_and_copy_create_the_folder(tmp_path):
    fileio.atomic_write_text(tmp_path / "a" / "b.json", "{\"é\": 1}")
    assert (tmp_path / "a" / "b.json").read_text(encoding="utf-8") == "{\"é\": 1}"
    fileio.atomic_copy(tmp_path / "a" / "b.json", tmp_path / "c" / "d.json")
    assert (tmp_path / "c" / "d.json").read_bytes() == (tmp_path / "a" / "b.json").read_bytes()


def test_no_other_writer_renames_temporary_files():
    """One way to write a file: only fileio (and the download, which verifies bytes in a
    separate partial folder before its rename) calls os.replace."""
    users = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                   if re.search(r"\bos\.replace\(", p.read_text()))
    assert users == ["data/download.py", "fileio.py"]


def test_cached_array_reads_back_and_replaces_bad_files(tmp_path):
    import numpy as np

    from saliency_utils.fileio import cached_array

    calls = []

    def compute():
        calls.append(1)
        return np.arange(6.0).reshape(2, 3)

    path = tmp_path / "sub" / "a.npy"
    a = cached_array(path, compute)
    b = cached_array(path, compute)
    np.testing.assert_array_equal(a, b)
    assert len(calls) == 1 and list(path.parent.glob(".*")) == []  # no temporary file left
    cached_array(path, compute, lambda x: x.shape == (3, 2))  # invalid: recomputed
    assert len(calls) == 2
    path.write_bytes(b"not numpy")  # unreadable: recomputed and replaced
    np.testing.assert_array_equal(cached_array(path, compute), a)
    assert len(calls) == 3 and np.load(path).shape == (2, 3)
