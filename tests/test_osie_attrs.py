"""OSIE's object annotations (saliency_utils.data.osie_attrs): the loader on files written in the
structure the authors' MATLAB code reads (the real attrs.mat is not in the offline bundle), the
lookup order, clear errors, and the download verified by git blob id against a local server."""
import functools
import http.server
import shutil
import subprocess
import threading

import numpy as np
import pytest
import scipy.io

from saliency_utils.data import (DataFileError, DataNotFoundError, load_osie_attributes,
                                 osie_attributes_path)
from saliency_utils.data import download, osie_attrs
from saliency_utils.data.errors import ChecksumError

NAMES = ["face", "text", "gazed"]


def _mask(r0, r1, c0, c1, shape=(600, 800)):
    m = np.zeros(shape, np.uint8)
    m[r0:r1, c0:c1] = 1
    return m


def _cell(items):
    out = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out


def write_attrs(path, images=None, names=NAMES):
    """An attrs.mat as MATLAB would save it: attrNames a cell of names, attrs a cell of structs
    (.img, .objs: a cell of structs with .map and .features)."""
    if images is None:
        images = {"1001.jpg": [(_mask(10, 20, 10, 30), [1, 0, 0]), (_mask(100, 120, 200, 260), [0, 1, 2])],
                  "1002.jpg": [(_mask(0, 600, 0, 10), [0, 0, 1])],  # one object: squeezed to a struct
                  "1003.jpg": []}
    attrs = _cell([{"img": img, "objs": _cell([{"map": m, "features": np.array(f, float)}
                                               for m, f in objs])}
                   for img, objs in images.items()])
    scipy.io.savemat(path, {"attrNames": _cell(names), "attrs": attrs})
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No bundle, an empty data root and a temp cache; downloads to a dead local port."""
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("SALIENCY_DATA", str(root))
    monkeypatch.setenv("SALIENCY_NO_BUNDLE", "1")
    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OSIE_ATTRS", raising=False)
    monkeypatch.delenv("SALIENCY_OFFLINE", raising=False)
    monkeypatch.setattr(download.time, "sleep", lambda s: None)
    return root


def test_objects_masks_and_attributes(tmp_path):
    d = load_osie_attributes(write_attrs(tmp_path / "attrs.mat"))
    assert sorted(d) == ["1001", "1002", "1003"]
    a = d["1001"]
    assert a.names == tuple(NAMES) and a.masks.shape == (2, 600, 800) and a.masks.dtype == bool
    assert a.has("face").tolist() == [True, False] and a.has("gazed").tolist() == [False, True]
    assert a.mask("text").sum() == 20 * 60 and a.mask("text")[110, 230] and not a.mask("text")[15, 15]
    assert a.mask("face").sum() == 10 * 20
    one = d["1002"]  # a single object (MATLAB cell of one struct)
    assert one.masks.shape == (1, 600, 800) and one.mask("gazed").sum() == 600 * 10
    assert not one.mask("face").any()
    empty = d["1003"]
    assert empty.masks.shape == (0, 600, 800) and not empty.mask("text").any()
    with pytest.raises(ValueError, match="unknown OSIE attribute 'head'.*face, text, gazed"):
        a.mask("head")


def test_value_above_zero_means_the_attribute(tmp_path):
    """computeSemanticMaps.m: an object has an attribute where its value is > 0 (2 counts, 0 and
    negative values do not)."""
    p = write_attrs(tmp_path / "a.mat", {"1001.jpg": [(_mask(0, 5, 0, 5), [2, 0, -1])]})
    a = load_osie_attributes(p)["1001"]
    assert a.has("face").tolist() == [True] and not a.has("text")[0] and not a.has("gazed")[0]


def test_bad_files_name_the_file(tmp_path):
    small = _mask(0, 5, 0, 5, (480, 640))
    bad_shape = write_attrs(tmp_path / "shape.mat", {"1001.jpg": [(small, [1, 0, 0])]})
    with pytest.raises(DataFileError, match=r"shape.mat: image 1001, object 1: mask of shape \(480, 640\)"):
        load_osie_attributes(bad_shape)
    bad_n = write_attrs(tmp_path / "n.mat", {"1001.jpg": [(_mask(0, 5, 0, 5), [1, 0])]})
    with pytest.raises(DataFileError, match="2 attribute values for 3 names"):
        load_osie_attributes(bad_n)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"fixations": np.zeros(3)})
    with pytest.raises(DataFileError, match="other.mat has no variable.*attrNames, attrs"):
        load_osie_attributes(other)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file at all" * 20)
    with pytest.raises(DataFileError, match="junk.mat"):
        load_osie_attributes(junk)


def test_a_v73_file_gets_a_clear_error(tmp_path):
    p = write_attrs(tmp_path / "v73.mat")
    raw = bytearray(p.read_bytes())
    raw[124:126] = (0x0200).to_bytes(2, "little")  # the header's version field of a v7.3 file
    p.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match="v7.3 .HDF5.*save"):
        load_osie_attributes(p)


def test_lookup_order_env_then_data_root(isolated, tmp_path, monkeypatch):
    in_root = isolated / "osie" / "data" / "attrs.mat"
    in_root.parent.mkdir(parents=True)
    write_attrs(in_root)
    assert osie_attributes_path() == in_root
    env = write_attrs(tmp_path / "mine.mat", {"1005.jpg": []})
    monkeypatch.setenv("OSIE_ATTRS", str(env))
    assert osie_attributes_path() == env and list(load_osie_attributes()) == ["1005"]
    monkeypatch.setenv("OSIE_ATTRS", str(tmp_path / "nope.mat"))
    with pytest.raises(DataNotFoundError, match="OSIE_ATTRS=.*nope.mat is not a file"):
        osie_attributes_path()


def test_offline_says_where_it_looked_and_how_to_get_it(isolated, monkeypatch):
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as e:
        osie_attributes_path()
    msg = str(e.value)
    assert "SALIENCY_OFFLINE=1" in msg and "Searched:" in msg and "OSIE_ATTRS" in msg
    assert "github.com/NUS-VIP/predicting-human-gaze-beyond-pixels/blob/4a467890" in msg


def test_git_blob_id_is_gits(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    for data in (b"", b"hello\n", bytes(range(256)) * 1000):
        p = tmp_path / "f"
        p.write_bytes(data)
        ref = subprocess.run(["git", "hash-object", str(p)], capture_output=True, text=True,
                             check=True).stdout.strip()
        assert download.git_blob_id(p) == ref


@pytest.fixture
def server(tmp_path, isolated, monkeypatch):
    srv = tmp_path / "srv"
    srv.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(type("H", (http.server.SimpleHTTPRequestHandler,),
                                                 {"log_message": lambda *a: None}),
                                            directory=str(srv)))
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("SALIENCY_DATA_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    repo, commit = osie_attrs._source()
    served = srv / repo / commit / "data" / "attrs.mat"
    served.parent.mkdir(parents=True)
    yield served
    httpd.shutdown()
    httpd.server_close()


def test_download_is_verified_by_git_blob_id(server, tmp_path, monkeypatch):
    write_attrs(server)
    monkeypatch.setattr(osie_attrs, "ATTRS_BLOB", download.git_blob_id(server))
    p = osie_attributes_path()
    assert p == tmp_path / "cache" / "osie" / "data" / "attrs.mat"
    assert p.read_bytes() == server.read_bytes() and "1001" in load_osie_attributes()
    assert osie_attributes_path() == p  # found in the cache now (a data root)


def test_download_of_other_bytes_is_not_kept(server, tmp_path, monkeypatch):
    write_attrs(server)
    monkeypatch.setattr(osie_attrs, "ATTRS_BLOB", "0" * 40)
    with pytest.raises(ChecksumError, match="git blob id .*expected 000000000000"):
        osie_attributes_path()
    cache = tmp_path / "cache"
    assert not [q for q in cache.rglob("*") if q.is_file()]


def test_download_404_says_how_to_get_it(server):
    with pytest.raises(DataNotFoundError, match="HTTP 404.*To get it: download https://github.com"):
        osie_attributes_path()
