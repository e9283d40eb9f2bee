"""Download one manifest file from its public source repository, verified, into the cache.

The URL is ``{base}/{owner}/{name}/{commit}/{path}`` with ``base`` from ``SALIENCY_DATA_URL``
(default ``https://raw.githubusercontent.com``). The file is streamed into a temporary file under
``<cache>/.partial/``, its size and sha256 are checked against the manifest, and only then is it
renamed (atomically) to ``<cache>/<dataset>/<path>``. A file that fails the check is deleted.
A source file outside the manifest (OSIE's ``data/attrs.mat``, too large for the bundle) is
checked against its git blob id at the pinned commit instead (:func:`download_git_file`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import ChecksumError, DataNotFoundError
from .manifest import Entry

__all__ = ["DEFAULT_BASE_URL", "base_url", "source_url", "download_entry", "git_blob_id",
           "download_git_file"]

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
TIMEOUT_S = 60
RETRIES = 2  # extra attempts after the first, for network errors and HTTP 5xx only

log = logging.getLogger(__name__)


def base_url() -> str:
    return (os.environ.get("SALIENCY_DATA_URL") or DEFAULT_BASE_URL).rstrip("/")


def source_url(entry: Entry) -> str:
    """Raw-file URL of a manifest entry at its pinned commit."""
    return f"{base_url()}/{entry.repo}/{entry.commit}/{urllib.parse.quote(entry.path)}"


def _stream_to(url: str, tmp: Path) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"User-Agent": "saliency-book-data"})
    h = hashlib.sha256()
    n = 0
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp, open(tmp, "wb") as out:
        for block in iter(lambda: resp.read(1 << 16), b""):
            out.write(block)
            h.update(block)
            n += len(block)
    return n, h.hexdigest()


def _download(url: str, cache: Path, dataset: str, relpath: str, check) -> Path:
    """Stream ``url`` into a temporary file under ``<cache>/.partial/``, retrying network errors
    and HTTP 5xx; ``check(tmp, size, sha256)`` returns ``None`` if the bytes are right, else
    what differs (then :class:`ChecksumError`, nothing kept); only then the file is renamed to
    ``<cache>/<dataset>/<relpath>``."""
    dest, label = cache / dataset / relpath, f"{dataset}/{relpath}"
    partial = cache / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=partial, prefix=Path(relpath).name + ".", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        for attempt in range(RETRIES + 1):
            try:
                log.info("downloading %s", url)
                size, sha = _stream_to(url, tmp)
                break
            except urllib.error.HTTPError as err:
                if err.code < 500 or attempt == RETRIES:
                    raise DataNotFoundError(
                        f"download of {label} failed after {attempt + 1} "
                        f"attempt(s): HTTP {err.code} for {url}",
                        dataset=dataset, relpath=relpath) from err
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                if attempt == RETRIES:
                    raise DataNotFoundError(
                        f"download of {label} failed after {attempt + 1} "
                        f"attempt(s): {err} ({url})",
                        dataset=dataset, relpath=relpath) from err
            time.sleep(0.5 * (attempt + 1))
        wrong = check(tmp, size, sha)
        if wrong:
            raise ChecksumError(f"downloaded {label} {wrong} from {url}; the file was not kept")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def download_entry(entry: Entry, cache: Path) -> Path:
    """Download ``entry`` into ``cache`` and return its path there.

    Raises :class:`DataNotFoundError` if the server answers 404 (or keeps failing) and
    :class:`ChecksumError` if the bytes differ from the manifest (nothing is kept then).
    """
    def check(tmp: Path, size: int, sha: str) -> str | None:
        if size == entry.bytes and sha == entry.sha256:
            return None
        return (f"does not match the manifest (got {size} bytes, sha256 {sha[:12]}…; expected "
                f"{entry.bytes} bytes, sha256 {entry.sha256[:12]}…)")

    return _download(source_url(entry), cache, entry.dataset, entry.path, check)


def git_blob_id(path: str | Path) -> str:
    """Git's object id of a file's bytes (``git hash-object``: sha1 of ``"blob <size>\\0"`` and
    the bytes): what a repository's tree records for the file at a commit."""
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def download_git_file(repo: str, commit: str, relpath: str, blob_id: str, dataset: str,
                      cache: Path) -> Path:
    """Download ``relpath`` of ``repo`` at ``commit`` into ``<cache>/<dataset>/<relpath>``,
    verified against its git blob id (for a source file outside the manifest, whose tree at
    the pinned commit gives the id but whose sha256 was never recorded). Raises as
    :func:`download_entry`."""
    url = f"{base_url()}/{repo}/{commit}/{urllib.parse.quote(relpath)}"

    def check(tmp: Path, size: int, sha: str) -> str | None:
        got = git_blob_id(tmp)
        return None if got == blob_id else (f"is not the file of {repo}@{commit[:12]} (git blob "
                                            f"id {got[:12]}…, expected {blob_id[:12]}…)")

    return _download(url, cache, dataset, relpath, check)
