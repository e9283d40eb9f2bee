"""OSIE's object annotations (Xu et al., J. Vision 2014): ``data/attrs.mat`` of the OSIE repository.

For each of the 700 images the authors outlined the objects by hand (pixel masks) and labelled
each with semantic attributes (``face``, ``text``, ... : 12 names, stored in the file). The file
is over 4 MiB and not in the offline bundle; it is found, in this order, at

1. ``$OSIE_ATTRS`` (a path to the file);
2. ``<root>/osie/data/attrs.mat`` under a data root (``SALIENCY_DATA``, the bundle, the cache);
3. a download from the OSIE repository at the bundle's pinned commit into the cache, verified
   against the file's git blob id in that commit's tree (:data:`ATTRS_BLOB`; the manifest has no
   sha256 for it). ``SALIENCY_OFFLINE=1`` disables the download.

**Structure**, as the authors' MATLAB code reads it (``src/model/computeSemanticMaps.m`` and
``extractObjectFeatures.m`` at the pinned commit): ``attrNames`` is a cell array of the attribute
names; ``attrs`` a cell array with one struct per image, ``.img`` (file name, e.g. ``1001.jpg``)
and ``.objs`` (a cell array of structs, one per object, with ``.map``, the object's binary mask at
the image's size, and ``.features``, one value per attribute name). An object *has* an attribute
where its value is > 0, the test ``computeSemanticMaps.m`` applies. The loader reads MATLAB v5/v7
files (scipy); a v7.3 (HDF5) file gets a clear error.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ._io import read_mat
from .download import download_git_file
from .errors import DataFileError, DataNotFoundError
from .manifest import manifest
from .osie import OSIE_SHAPE
from .store import cache_dir, data_roots, downloads_disabled, locate

__all__ = ["ATTRS_PATH", "ATTRS_BLOB", "ENV_ATTRS", "OsieObjects", "osie_attributes_path",
           "load_osie_attributes"]

DATASET = "osie"
ATTRS_PATH = "data/attrs.mat"
#: git blob id of ``data/attrs.mat`` in the tree of the bundle's pinned OSIE commit
#: (NUS-VIP/predicting-human-gaze-beyond-pixels@4a467890fcb4).
ATTRS_BLOB = "244f2974ae411252b6f668564c36bb02b0aae86c"
ENV_ATTRS = "OSIE_ATTRS"


@dataclass(frozen=True)
class OsieObjects:
    """The labelled objects of one OSIE image: ``masks`` (``k x 600 x 800`` bool, one per
    object), ``values`` (``k x n`` float, one column per name in ``names``)."""

    image_id: str
    masks: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]

    def _column(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"unknown OSIE attribute {name!r}; the file has {', '.join(self.names)}")
        return self.names.index(name)

    def has(self, name: str) -> np.ndarray:
        """Per object: whether it has attribute ``name`` (its value > 0)."""
        return self.values[:, self._column(name)] > 0

    def mask(self, name: str) -> np.ndarray:
        """The union of the masks of the objects with attribute ``name`` (``600 x 800`` bool;
        all False where no object has it)."""
        sel = self.has(name)
        return self.masks[sel].any(axis=0) if sel.any() else np.zeros(OSIE_SHAPE, bool)


def _source() -> tuple[str, str]:
    """The OSIE repository and commit the bundle's files come from."""
    e = manifest(DATASET, "data/eye/fixations.mat")[0]
    return e.repo, e.commit


def osie_attributes_path() -> Path:
    """Where ``attrs.mat`` is (see the module docstring for the order), downloading it if
    allowed; :class:`DataNotFoundError` says where it looked and how to get it."""
    env = os.environ.get(ENV_ATTRS, "").strip()
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise DataNotFoundError(f"{ENV_ATTRS}={env} is not a file.",
                                    dataset=DATASET, relpath=ATTRS_PATH,
                                    hint=f"point {ENV_ATTRS} at OSIE's data/attrs.mat, or unset it")
        return p
    p = locate(DATASET, ATTRS_PATH)
    if p is not None:
        return p
    repo, commit = _source()
    url_hint = f"https://github.com/{repo}/blob/{commit}/{ATTRS_PATH}"
    searched = tuple(f"{label} {root / DATASET / ATTRS_PATH}" for label, root in data_roots())
    if downloads_disabled():
        raise DataNotFoundError(
            f"OSIE's object annotations ({ATTRS_PATH}) are not found locally and "
            "SALIENCY_OFFLINE=1.", dataset=DATASET, relpath=ATTRS_PATH, searched=searched,
            hint=f"download {url_hint} and set {ENV_ATTRS} to its path, or put it at "
                 f"<SALIENCY_DATA>/{DATASET}/{ATTRS_PATH}; or unset SALIENCY_OFFLINE")
    try:
        return download_git_file(repo, commit, ATTRS_PATH, ATTRS_BLOB, DATASET, cache_dir())
    except DataNotFoundError as err:
        raise DataNotFoundError(
            f"OSIE's object annotations ({ATTRS_PATH}) are not found locally; {err}",
            dataset=DATASET, relpath=ATTRS_PATH, searched=searched,
            hint=f"download {url_hint} and set {ENV_ATTRS} to its path") from err


def _objects(image_id: str, objs, names: tuple[str, ...], path: Path) -> OsieObjects:
    items = [] if objs is None else list(np.atleast_1d(objs))
    masks, values = [], []
    for j, ob in enumerate(items):
        where = f"{path}: image {image_id}, object {j + 1}"
        try:
            m, v = np.asarray(ob.map), np.atleast_1d(np.asarray(ob.features, dtype=float))
        except AttributeError as e:
            raise DataFileError(f"{where} has no .map or .features field ({e}); not the "
                                "structure of OSIE's attrs.mat") from e
        if m.shape != OSIE_SHAPE:
            raise DataFileError(f"{where}: mask of shape {m.shape}, expected {OSIE_SHAPE}")
        if v.shape != (len(names),):
            raise DataFileError(f"{where}: {v.size} attribute values for {len(names)} names")
        masks.append(m.astype(bool))
        values.append(v)
    return OsieObjects(image_id,
                       np.stack(masks) if masks else np.zeros((0, *OSIE_SHAPE), bool),
                       np.stack(values) if values else np.zeros((0, len(names))), names)


@lru_cache(maxsize=2)
def _parse(path: str, mtime_ns: int, size: int) -> dict[str, OsieObjects]:
    p = Path(path)
    try:
        mat = read_mat(p, squeeze_me=True, struct_as_record=False)
    except DataFileError as e:
        if "v7.3" in str(e) or "HDF" in str(e):
            raise DataFileError(f"{p} is a MATLAB v7.3 (HDF5) file; this loader reads v5/v7 "
                                "files, as the OSIE repository ships them (re-save it in MATLAB "
                                "with save(..., '-v7'))") from e
        raise
    missing = [k for k in ("attrNames", "attrs") if k not in mat]
    if missing:
        raise DataFileError(f"{p} has no variable(s) {', '.join(missing)}; not OSIE's attrs.mat "
                            f"(it has {', '.join(k for k in mat if not k.startswith('__'))})")
    names = tuple(str(n) for n in np.atleast_1d(mat["attrNames"]))
    out = {}
    for item in np.atleast_1d(mat["attrs"]):
        try:
            image_id = str(item.img).removesuffix(".jpg")
            objs = item.objs
        except AttributeError as e:
            raise DataFileError(f"{p}: an image entry has no .img or .objs field ({e}); not the "
                                "structure of OSIE's attrs.mat") from e
        out[image_id] = _objects(image_id, objs, names, p)
    return out


def load_osie_attributes(path: str | Path | None = None) -> dict[str, OsieObjects]:
    """OSIE's labelled objects, ``{image id: OsieObjects}`` (ids as in :func:`.osie_ids`),
    from ``path`` or :func:`osie_attributes_path`. Parsed once per file version."""
    p = Path(path) if path is not None else osie_attributes_path()
    st = p.stat()
    return _parse(str(p.resolve()), st.st_mtime_ns, st.st_size)
