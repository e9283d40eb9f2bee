"""Helpers for full datasets that exist only as local copies under a data root.

These datasets (full SALICON, CAT2000) are not in the manifest and cannot be downloaded: their
files are looked up under every root of :func:`.store.data_roots` (``SALIENCY_DATA``, the offline
bundle, the cache), and a missing file raises :class:`DataNotFoundError` naming the expected
layout and every place searched.
"""
from __future__ import annotations

from pathlib import Path

from .errors import DataNotFoundError
from .store import data_roots, locate

__all__ = ["local_dirs", "searched", "find_local", "missing"]


def local_dirs(dataset: str, reldir: str) -> list[Path]:
    """The existing folders ``<root>/<dataset>/<reldir>`` over all data roots, in search order."""
    return [root / dataset / reldir for _, root in data_roots()
            if (root / dataset / reldir).is_dir()]


def searched(dataset: str, relpath: str) -> tuple[str, ...]:
    """``'<label> <path>'`` for each data root, as :class:`DataNotFoundError` lists them."""
    return tuple(f"{label} {root / dataset / relpath}" for label, root in data_roots())


def missing(dataset: str, relpath: str, message: str, layout: str) -> DataNotFoundError:
    """The error for a file or folder of a local-only dataset that was not found."""
    return DataNotFoundError(
        message, dataset=dataset, relpath=relpath, searched=searched(dataset, relpath),
        hint=(f"this dataset is not part of the offline bundle and is never downloaded; put your "
              f"copy under a data root (SALIENCY_DATA=/path/to/root) in the layout {layout} "
              f"(see data/README.md, 'Full datasets you may have locally')"))


def find_local(dataset: str, relpaths: list[str], message: str, layout: str) -> Path:
    """First of ``relpaths`` found under a data root, else :func:`missing` for the first one."""
    for rel in relpaths:
        p = locate(dataset, rel)
        if p is not None:
            return p
    raise missing(dataset, relpaths[0], message, layout)
