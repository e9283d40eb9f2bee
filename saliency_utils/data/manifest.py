"""The data manifest: every file of the offline bundle with its size, sha256 and pinned source.

``manifest.tsv.gz`` (shipped with the package) is a gzip of the bundle's ``MANIFEST.tsv``:
one line per file with the columns ``dataset, path, bytes, sha256, source``, where ``source`` is
``owner/name@commit``, the public GitHub repository and commit the file was copied from. ``path``
is the file's path inside that repository, so the same file can be downloaded again from
``https://raw.githubusercontent.com/{owner}/{name}/{commit}/{path}`` and checked against the
manifest.
"""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["Entry", "manifest", "manifest_entry", "dataset_names", "sha256_file"]


@dataclass(frozen=True)
class Entry:
    """One file of the manifest."""

    dataset: str
    path: str  # relative path inside the dataset folder (= inside the source repository)
    bytes: int
    sha256: str
    repo: str  # "owner/name" on GitHub
    commit: str  # 40 hex digits

    @property
    def source(self) -> str:
        return f"{self.repo}@{self.commit}"


@lru_cache(maxsize=1)
def _entries() -> tuple[Entry, ...]:
    raw = resources.files(__package__).joinpath("manifest.tsv.gz").read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").splitlines()
    header = lines[0].split("\t")
    if header != ["dataset", "path", "bytes", "sha256", "source"]:
        raise RuntimeError(f"unexpected manifest header: {header}")
    out = []
    for line in lines[1:]:
        if not line.strip():
            continue
        dataset, path, size, sha, source = line.split("\t")
        repo, commit = source.rsplit("@", 1)
        out.append(Entry(dataset, path, int(size), sha.lower(), repo, commit))
    return tuple(out)


@lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], Entry]:
    return {(e.dataset, e.path): e for e in _entries()}


def dataset_names() -> list[str]:
    """Names of the datasets in the manifest (sorted)."""
    return sorted({e.dataset for e in _entries()})


def _check_dataset(dataset: str) -> None:
    names = dataset_names()
    if dataset not in names:
        raise ValueError(f"unknown dataset {dataset!r}; the manifest has: {', '.join(names)}")


def manifest(dataset: str | None = None, pattern: str | None = None) -> list[Entry]:
    """Manifest entries, all or those of one dataset, optionally filtered by a glob ``pattern``
    on the relative path (``fnmatch`` rules: ``*`` also matches ``/``)."""
    if dataset is not None:
        _check_dataset(dataset)
    out = [e for e in _entries() if dataset is None or e.dataset == dataset]
    if pattern is not None:
        out = [e for e in out if fnmatch.fnmatchcase(e.path, pattern)]
    return out


def manifest_entry(dataset: str, relpath: str) -> Entry | None:
    """The entry of one file, or ``None`` if the file is not in the manifest (unknown dataset:
    ``ValueError``)."""
    _check_dataset(dataset)
    return _index().get((dataset, relpath))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
