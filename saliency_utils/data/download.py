"""Download one manifest file from its public source repository, verified, into the cache.

The URL is ``{base}/{owner}/{name}/{commit}/{path}`` with ``base`` from ``SALIENCY_DATA_URL``
(default ``https://raw.githubusercontent.com``). The file is streamed into a temporary file under
``<cache>/.partial/``, its size and sha256 are checked against the manifest, and only then is it
renamed (atomically) to ``<cache>/<dataset>/<path>``. A file that fails the check is deleted.
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

__all__ = ["DEFAULT_BASE_URL", "base_url", "source_url", "download_entry"]

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


def download_entry(entry: Entry, cache: Path) -> Path:
    """Download ``entry`` into ``cache`` and return its path there.

    Raises :class:`DataNotFoundError` if the server answers 404 (or keeps failing) and
    :class:`ChecksumError` if the bytes differ from the manifest (nothing is kept then).
    """
    url = source_url(entry)
    dest = cache / entry.dataset / entry.path
    partial = cache / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=partial, prefix=Path(entry.path).name + ".", suffix=".part")
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
                        f"download of {entry.dataset}/{entry.path} failed after {attempt + 1} "
                        f"attempt(s): HTTP {err.code} for {url}",
                        dataset=entry.dataset, relpath=entry.path) from err
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                if attempt == RETRIES:
                    raise DataNotFoundError(
                        f"download of {entry.dataset}/{entry.path} failed after {attempt + 1} "
                        f"attempt(s): {err} ({url})",
                        dataset=entry.dataset, relpath=entry.path) from err
            time.sleep(0.5 * (attempt + 1))
        if size != entry.bytes or sha != entry.sha256:
            raise ChecksumError(
                f"downloaded {entry.dataset}/{entry.path} does not match the manifest "
                f"(got {size} bytes, sha256 {sha[:12]}…; expected {entry.bytes} bytes, "
                f"sha256 {entry.sha256[:12]}…) from {url}; the file was not kept")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)

