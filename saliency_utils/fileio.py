"""Writing files all at once: the book's one atomic writer.

Every file the book writes (command outputs, trained models, caches, executed notebooks) goes
through :func:`atomic_write`: the bytes go to a hidden temporary file in the target's folder,
which is renamed onto the target (``os.replace``) only when they are complete. A failure leaves
no temporary file behind and an existing target as it was. This module needs only the standard
library, so the data layer can use it without depending on the model code (the execution cache
keys a chapter on the package modules it imports, :mod:`saliency_utils.book.buildcache`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_text", "atomic_copy", "cached_array", "umask"]


def umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(target: str | Path, write: Callable[[BinaryIO], object],
                 mode: int | None = None) -> None:
    """Write a file all at once: ``write(f)`` fills a hidden temporary file (binary) in
    ``target``'s folder, which is then given ``mode`` (default: 0o666 less the umask) and
    renamed onto ``target``; the temporary file never survives a failure (an exception in
    ``write`` included) and an existing ``target`` stays as it was. The folder must exist."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, (0o666 & ~umask()) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(target: str | Path, text: str, encoding: str = "utf-8") -> None:
    """:func:`atomic_write` of ``text``, creating ``target``'s folder if needed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda f: f.write(text.encode(encoding)))


def atomic_copy(src: str | Path, dest: str | Path) -> None:
    """Copy ``src`` onto ``dest`` all at once (:func:`atomic_write`), creating ``dest``'s
    folder if needed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)

    def copy(f):
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f)

    atomic_write(dest, copy)


def cached_array(path: str | Path, compute: Callable[[], object],
                 valid: Callable[[object], bool] = lambda a: True):
    """The one on-disk cache of a computed array: read ``path`` (a ``.npy`` file, no pickles)
    if it loads and ``valid(array)`` holds; otherwise ``compute()``, write the result there
    with :func:`atomic_write` (creating the folder) and return it. An unreadable or invalid
    file is recomputed and replaced. (numpy is imported only when this is called, so the module
    stays importable with the standard library alone.)"""
    import numpy as np

    path = Path(path)
    if path.is_file():
        try:
            a = np.load(path, allow_pickle=False)
            if valid(a):
                return a
        except (OSError, ValueError):
            pass  # recomputed below
    a = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.save(f, a, allow_pickle=False))
    return a
