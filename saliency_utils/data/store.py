"""Find a data file: local copies first, then a verified download into the cache.

A file is named by ``(dataset, relpath)``: the dataset folder and the path inside it (the same
path as in the source repository and in the manifest). It is looked up, in this order, in

1. ``$SALIENCY_DATA/<dataset>/<relpath>`` if the environment variable ``SALIENCY_DATA`` names a
   data root (a copy of the offline bundle, or your own folder with the same layout);
2. the offline bundle beside the project, ``<project root>/../shared/data`` (skipped if
   ``SALIENCY_NO_BUNDLE=1``);
3. the cache: ``$SALIENCY_CACHE``, by default ``<project root>/data/cache`` in a project checkout
   or ``~/.cache/saliency-book`` when the package is installed on its own (e.g. in Colab);
4. a download of the exact file from its source repository at the pinned commit into the cache
   (see :mod:`.download`; disabled by ``SALIENCY_OFFLINE=1``).

Otherwise a :class:`DataNotFoundError` says what is missing, where it looked and how to get it.
The size of a local copy (1-3) of a manifest file is checked on every access (it costs one
``stat``): a truncated or foreign file raises :class:`ChecksumError` naming the file and the
``python -m saliency_utils data <dataset> --verify`` check. ``verify=True`` or :func:`verify`
also checks the sha256 (reading the whole file). Downloads are always checked.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .download import download_entry, source_url
from .errors import ChecksumError, DataNotFoundError
from .manifest import Entry, manifest, manifest_entry, sha256_file

__all__ = ["project_root", "data_roots", "cache_dir", "locate", "fetch", "ensure_dataset",
           "verify", "check_file", "check_size", "downloads_disabled"]

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def downloads_disabled() -> bool:
    """Whether ``SALIENCY_OFFLINE`` forbids downloads."""
    return _flag("SALIENCY_OFFLINE")


def project_root() -> Path:
    """Parent of the ``saliency_utils`` package folder."""
    return Path(__file__).resolve().parents[2]


def _is_checkout() -> bool:
    return (project_root() / "pyproject.toml").is_file()


def cache_dir() -> Path:
    """Download cache: ``$SALIENCY_CACHE``, else ``<project>/data/cache`` in a checkout, else
    ``~/.cache/saliency-book``."""
    env = os.environ.get("SALIENCY_CACHE")
    if env:
        return Path(env).expanduser()
    if _is_checkout():
        return project_root() / "data" / "cache"
    return Path.home() / ".cache" / "saliency-book"


def data_roots() -> list[tuple[str, Path]]:
    """The local data roots in search order, each as ``(label, path)``."""
    roots = []
    env = os.environ.get("SALIENCY_DATA")
    if env:
        roots.append(("SALIENCY_DATA", Path(env).expanduser()))
    if not _flag("SALIENCY_NO_BUNDLE"):
        bundle = project_root().parent / "shared" / "data"
        if bundle.is_dir():
            roots.append(("offline bundle", bundle))
    roots.append(("cache", cache_dir()))
    return roots


def locate(dataset: str, relpath: str) -> Path | None:
    """Path of a local copy of ``<dataset>/<relpath>`` (first root that has it), else ``None``.

    Works for any file, in the manifest or not (e.g. a full MIT1003 copy in ``SALIENCY_DATA``).
    """
    for _, root in data_roots():
        p = root / dataset / relpath
        if p.is_file():
            return p
    return None


def _fix_hint(entry: Entry, path: Path) -> str:
    where = ("delete it to download it again" if _under(path, cache_dir())
             else "replace it with the file from the offline bundle or its source")
    return (f"check the dataset with `python -m saliency_utils data {entry.dataset} --verify` "
            f"and {where}")


def _under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_size(path: str | Path, entry: Entry) -> None:
    """Raise :class:`ChecksumError` if the size of ``path`` differs from the manifest ``entry``
    (cheap: one ``stat``; :func:`fetch` does it on every access to a local copy)."""
    path = Path(path)
    size = path.stat().st_size
    if size != entry.bytes:
        raise ChecksumError(f"{entry.dataset}/{entry.path} at {path} has {size} bytes, "
                            f"the manifest says {entry.bytes} (truncated or another version); "
                            f"{_fix_hint(entry, path)}")


def check_file(path: str | Path, entry: Entry) -> None:
    """Raise :class:`ChecksumError` if ``path`` differs from the manifest ``entry`` (size, then
    sha256)."""
    path = Path(path)
    check_size(path, entry)
    sha = sha256_file(path)
    if sha != entry.sha256:
        raise ChecksumError(f"{entry.dataset}/{entry.path} at {path} has sha256 {sha}, "
                            f"the manifest says {entry.sha256}; {_fix_hint(entry, path)}")


def _not_found(dataset: str, relpath: str, entry: Entry | None, why: str) -> DataNotFoundError:
    searched = tuple(f"{label} {root / dataset / relpath}" for label, root in data_roots())
    if entry is None:
        hint = (f"this file is not part of the offline bundle, so it cannot be downloaded; "
                f"put it at <root>/{dataset}/{relpath} under SALIENCY_DATA (see data/README.md "
                f"for the expected layout)")
    elif _flag("SALIENCY_OFFLINE"):
        hint = (f"set SALIENCY_DATA to a copy of the offline bundle, or allow the download "
                f"(unset SALIENCY_OFFLINE) of {source_url(entry)} (source {entry.source})")
    else:
        hint = (f"set SALIENCY_DATA to a copy of the offline bundle, or check the network and "
                f"SALIENCY_DATA_URL; the file is {source_url(entry)} (source {entry.source})")
    return DataNotFoundError(f"Missing data file of dataset {dataset!r}: {relpath} ({why}).",
                             dataset=dataset, relpath=relpath, searched=searched, hint=hint)


def fetch(dataset: str, relpath: str, verify: bool = False) -> Path:
    """Local path of a data file, downloading it (verified) into the cache if needed.

    The size of a local copy of a manifest file is checked on every call, its sha256 only with
    ``verify=True`` (:class:`ChecksumError` on mismatch, naming the file and the ``data
    <dataset> --verify`` check). Files outside the manifest can only be found locally.
    """
    entry = manifest_entry(dataset, relpath)  # ValueError for an unknown dataset
    path = locate(dataset, relpath)
    if path is not None:
        if verify:
            if entry is None:
                raise ValueError(f"{dataset}/{relpath} is not in the manifest: cannot verify it")
            check_file(path, entry)
        elif entry is not None:
            check_size(path, entry)
        return path
    if entry is None:
        raise _not_found(dataset, relpath, None, "not found locally")
    if _flag("SALIENCY_OFFLINE"):
        raise _not_found(dataset, relpath, entry, "not found locally and SALIENCY_OFFLINE=1")
    try:
        return download_entry(entry, cache_dir())
    except DataNotFoundError as err:
        raise _not_found(dataset, relpath, entry, f"not found locally; {err}") from err


def ensure_dataset(dataset: str, pattern: str | None = None) -> Path:
    """Make all files of ``dataset`` (or those whose relative path matches the glob ``pattern``)
    available locally and return the dataset folder that holds them.

    If every file was found under one root, that root's ``<root>/<dataset>`` is returned. If they
    came from different roots (say some in ``SALIENCY_DATA``, the rest downloaded), the ones
    outside the cache are copied into the cache and the cache's dataset folder is returned, so
    the returned folder always holds every requested file.
    """
    entries = manifest(dataset, pattern)
    if not entries:
        raise ValueError(f"no file of dataset {dataset!r} matches {pattern!r}")
    paths = [(e, fetch(dataset, e.path)) for e in entries]
    folders = {_dataset_folder(p, e) for e, p in paths}
    if len(folders) == 1:
        return folders.pop()
    target = cache_dir() / dataset
    for e, p in paths:
        dest = target / e.path
        if dest.resolve() != p.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest)
    return target


def _dataset_folder(path: Path, entry: Entry) -> Path:
    folder = path
    for _ in Path(entry.path).parts:
        folder = folder.parent
    return folder


def verify(dataset: str, pattern: str | None = None) -> int:
    """Check size and sha256 of the dataset's files (or those matching ``pattern``) against the
    manifest, fetching missing ones. Raises :class:`ChecksumError` on the first mismatch;
    returns the number of files checked."""
    entries = manifest(dataset, pattern)
    if not entries:
        raise ValueError(f"no file of dataset {dataset!r} matches {pattern!r}")
    for e in entries:
        fetch(dataset, e.path, verify=True)
    return len(entries)
