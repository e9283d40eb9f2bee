"""Download path of the data layer, against a local HTTP server (no network needed).

The server serves ``<owner>/<name>/<commit>/<relpath>`` like raw.githubusercontent.com, with a
few real files copied from the offline bundle.
"""
import functools
import http.server
import shutil
import threading

import pytest

from saliency_utils.data import ChecksumError, DataNotFoundError, ensure_dataset, fetch, manifest
from saliency_utils.data import download

# small real files of three datasets
FILES = [("mit1003", "README.md"), ("osie", "LICENSE"), ("osie", "README.md"),
         ("popout_p3o3", "README.md")]


def entry(dataset, relpath):
    (e,) = [e for e in manifest(dataset) if e.path == relpath]
    return e


class Handler(http.server.SimpleHTTPRequestHandler):
    requests: list  # set per server
    fail_status: int | None = None

    def do_GET(self):
        self.requests.append(self.path)
        if self.fail_status:
            self.send_error(self.fail_status)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, bundle, monkeypatch):
    """Serve tmp_path/srv; point the data layer at it, with no local data and a temp cache."""
    srv = tmp_path / "srv"
    srv.mkdir()
    handler = type("H", (Handler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(srv)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SALIENCY_DATA_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("SALIENCY_DATA", str(empty))
    monkeypatch.setenv("SALIENCY_NO_BUNDLE", "1")
    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SALIENCY_OFFLINE", raising=False)
    monkeypatch.setattr(download.time, "sleep", lambda s: None)  # no back-off waits in tests

    def publish(dataset, relpath, data=None):
        e = entry(dataset, relpath)
        dest = srv / e.repo / e.commit / e.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            shutil.copyfile(bundle / dataset / relpath, dest)
        else:
            dest.write_bytes(data)

    yield type("S", (), {"handler": handler, "publish": staticmethod(publish),
                         "cache": tmp_path / "cache", "root": empty})
    httpd.shutdown()
    httpd.server_close()


def cached_files(cache):
    return sorted(p for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def test_download_verifies_and_caches(server, bundle):
    for ds, rel in FILES:
        server.publish(ds, rel)
    for ds, rel in FILES:
        p = fetch(ds, rel)
        assert p == server.cache / ds / rel
        assert p.read_bytes() == (bundle / ds / rel).read_bytes()
    assert len(server.handler.requests) == len(FILES)
    # second time: served from the cache, no request; verify=True re-checks the local copy
    for ds, rel in FILES:
        assert fetch(ds, rel, verify=True) == server.cache / ds / rel
    assert len(server.handler.requests) == len(FILES)
    e = entry("osie", "LICENSE")
    assert server.handler.requests[1] == f"/{e.repo}/{e.commit}/LICENSE"
    assert not any(p.suffix == ".part" for p in cached_files(server.cache))


@pytest.mark.parametrize("tamper", ["flip", "truncate"])
def test_corrupted_download_is_rejected(server, bundle, tamper):
    data = bytearray((bundle / "osie" / "LICENSE").read_bytes())
    if tamper == "flip":
        data[10] ^= 0x01  # same size, different sha256
    else:
        data = data[:-5]
    server.publish("osie", "LICENSE", bytes(data))
    with pytest.raises(ChecksumError, match=r"osie/LICENSE does not match the manifest"):
        fetch("osie", "LICENSE")
    assert cached_files(server.cache) == []
    assert len(server.handler.requests) == 1  # a bad file is not retried


def test_missing_file_404(server):
    e = entry("mit1003", "README.md")
    with pytest.raises(DataNotFoundError) as err:
        fetch("mit1003", "README.md")
    msg = str(err.value)
    assert "'mit1003'" in msg and "README.md" in msg and "HTTP 404" in msg
    assert "SALIENCY_DATA" in msg and e.source in msg
    assert str(server.root / "mit1003" / "README.md") in msg  # where it looked
    assert isinstance(err.value, FileNotFoundError)
    assert len(server.handler.requests) == 1  # 404 is not retried
    assert cached_files(server.cache) == []


def test_server_error_is_retried_twice(server):
    server.publish("osie", "LICENSE")
    server.handler.fail_status = 503
    with pytest.raises(DataNotFoundError, match=r"after 3 attempt\(s\): HTTP 503"):
        fetch("osie", "LICENSE")
    assert len(server.handler.requests) == 3


def test_offline_makes_no_request(server, monkeypatch):
    server.publish("osie", "LICENSE")
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match=r"'osie'.*LICENSE.*SALIENCY_OFFLINE=1"):
        fetch("osie", "LICENSE")
    assert server.handler.requests == []


def test_ensure_dataset_mixed_roots(server, bundle):
    # README.md is local (SALIENCY_DATA), LICENSE has to be downloaded: the cache gets both
    (server.root / "osie").mkdir()
    shutil.copyfile(bundle / "osie" / "README.md", server.root / "osie" / "README.md")
    server.publish("osie", "LICENSE")
    folder = ensure_dataset("osie", "[LR]*")
    assert folder == server.cache / "osie"
    assert sorted(p.name for p in folder.iterdir()) == ["LICENSE", "README.md"]
    # all files under one root: that root's folder
    assert ensure_dataset("osie", "README.md") == server.root / "osie"
    with pytest.raises(ValueError, match="matches"):
        ensure_dataset("osie", "no-such-file*")


def test_unknown_dataset_and_unlisted_file(server):
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*osie"):
        fetch("nope", "x.jpg")
    with pytest.raises(DataNotFoundError, match="not part of the offline bundle"):
        fetch("mit1003", "ALLSTIMULI/i1.jpeg")
    assert server.handler.requests == []


def test_cache_location(monkeypatch, tmp_path):
    from pathlib import Path

    from saliency_utils.data import cache_dir, store

    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SALIENCY_CACHE")
    assert cache_dir() == store.project_root() / "data" / "cache"  # a checkout
    monkeypatch.setattr(store, "_is_checkout", lambda: False)  # installed without a checkout
    assert cache_dir() == Path.home() / ".cache" / "saliency-book"
