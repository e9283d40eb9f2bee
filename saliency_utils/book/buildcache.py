"""Per-chapter execution cache: a chapter re-executes only when something it depends on changed.

:func:`chapter_key` describes what an executed chapter depends on, as a dict of digests
(:func:`chapter_components`); the cache key is the sha256 of that dict:

* ``notebook``: every code cell's source and tags, in order (outputs and execution counts are
  left out, so a committed notebook's key does not depend on whether it was run). Text
  (markdown and raw cells) is not in the key: on a hit, the stored code cells and their outputs
  are put back among the current notebook's text cells (:func:`merge_text`), so editing a
  chapter's prose needs no re-execution, as in jupyter-cache;
* ``modules``: one digest per ``saliency_utils`` module the chapter imports, directly or through
  the package's import graph (:func:`module_closure`, read with :mod:`ast` as
  :mod:`saliency_utils.book.datadeps` reads it; the parents' ``__init__`` modules included);
* ``settings``: the profile settings of every chapter whose ``settings("<chapter>", profile)``
  the notebook reads (chapter 6 also reads chapter 5's), and the digest of any repository file a
  setting names (the benchmark appendix reads ``benchmarks/results.json``);
* ``data``: per dataset the notebook may load (:func:`book.datadeps.notebook_datasets`), the digest
  of its manifest entries (paths, sizes and sha256; not the files' contents);
* ``models``: per trained model the chapter loads (:mod:`saliency_utils.book.models`), its
  checkpoint name (which carries the configuration hash) and the sha256 of the checkpoint;
* ``profile``, the lock file's digest, the Python version and :data:`CACHE_VERSION`;
* ``environment``, only when one of :data:`ENV_INPUTS` is set (so the keys of a build without
  them do not change): the variables that point a chapter at the reader's own files (weights,
  OSIE-SR masks, OSIE's object annotations, scene labels, UNISAL's weights), a file by its
  content's digest, a folder by its path only.

An entry is ``<cache>/<chapter>/<key>.ipynb`` (the executed notebook) and ``<key>.json`` (the
components, when and how long it ran); both are written to a temporary name and renamed, the
notebook first, so a reader never sees a partial entry. A miss names what changed, compared with
the chapter's most recent entry. Failed executions are not stored. A few entries per chapter are
kept (:data:`KEEP`), so switching back and forth between two versions hits both.

What the key cannot see: code the chapter runs from outside the package and its pinned
dependencies (files read by path), the contents of a folder named by an environment variable
(``$OSIE_SR_DIR``'s masks, ``$SALIENCY_DATA``'s full datasets), pretrained backbone weights in the
torch hub cache, and the data files' contents (the manifest's sha256 is what is checked;
``python -m saliency_utils data <name> --verify`` checks the files).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

from saliency_utils.fileio import atomic_copy, atomic_write_text

__all__ = [
    "CACHE_VERSION",
    "KEEP",
    "Entry",
    "cache_key",
    "chapter_components",
    "explain_miss",
    "lookup",
    "merge_text",
    "module_closure",
    "notebook_modules",
    "restore",
    "store",
]

#: Bumped when the executed notebooks change for a reason the key does not see (the pipeline).
CACHE_VERSION = "2"
#: Entries kept per chapter (the newest).
KEEP = 3
_PKG = "saliency_utils"


def _sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def _json_digest(obj) -> str:
    return _sha(json.dumps(obj, sort_keys=True, default=repr))


def _package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def _module_files(pkg_dir: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        parts = list(path.relative_to(pkg_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _lazy_names(files) -> dict[str, str]:
    """``{"saliency_utils.<name>": module}`` for the names the package's ``__init__`` imports
    lazily (its ``_LAZY`` table, read by :func:`saliency_utils.book.datadeps.lazy_table`)."""
    from saliency_utils.book.datadeps import lazy_table

    init = files.get(_PKG)
    if init is None:
        return {}
    table = lazy_table(ast.parse(init.read_text(encoding="utf-8")))
    return {f"{_PKG}.{k}": v for k, v in table.items()}


def _owning_module(qname: str, modules, lazy=None) -> str | None:
    """The longest prefix of ``qname`` that is a package module; for a name the package's
    ``__init__`` imports lazily (``lazy``, :func:`_lazy_names`), the module that defines it."""
    lazy = lazy or {}
    head = ".".join(qname.split(".")[:2])
    if head in lazy:
        return lazy[head]
    parts = qname.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        if name in modules:
            return name
    return None


def _imported_names(tree: ast.AST, module: str | None, is_package: bool) -> set[str]:
    """Absolute dotted names imported anywhere in ``tree`` (also inside functions)."""
    base = module if is_package else (module or "").rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                src = base
                for _ in range(node.level - 1):
                    src = src.rpartition(".")[0]
                src = f"{src}.{node.module}" if node.module else src
            else:
                src = node.module or ""
            names.add(src)
            names.update(f"{src}.{a.name}" for a in node.names)
    return names


def _parse(source: str) -> ast.AST:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def _graph(pkg_dir: Path) -> dict[str, set[str]]:
    files = _module_files(pkg_dir)
    lazy = _lazy_names(files)
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = {_owning_module(n, files, lazy) for n in
                   _imported_names(tree, name, path.name == "__init__.py")}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def module_closure(roots, pkg_dir: Path | None = None) -> set[str]:
    """Every package module reached from ``roots`` (module names) through imports, with the
    parent packages (their ``__init__`` runs on import)."""
    pkg_dir = Path(pkg_dir or _package_dir())
    graph = _graph(pkg_dir)
    seen, todo = set(), list(roots)
    while todo:
        m = todo.pop()
        if m in seen or m not in graph:
            continue
        seen.add(m)
        todo.extend(graph[m])
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return seen


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def notebook_modules(nb, pkg_dir: Path | None = None) -> set[str]:
    """The package modules a notebook's code imports (directly), by name."""
    pkg_dir = Path(pkg_dir or _package_dir())
    files = _module_files(pkg_dir)
    names = set()
    for c in _code_cells(nb):
        try:
            tree = _parse(c.source)
        except SyntaxError:
            continue
        names |= _imported_names(tree, None, False)
    lazy = _lazy_names(files)
    return {m for n in names if n.split(".")[0] == _PKG
            for m in [_owning_module(n, files, lazy)] if m}


def _settings_read(nb) -> list[str]:
    """Chapters whose ``settings("<chapter>", ...)`` the notebook reads (string literals)."""
    found = []
    for c in _code_cells(nb):
        try:
            tree = _parse(c.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args \
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) == "settings" \
                    and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str) and node.args[0].value not in found:
                found.append(node.args[0].value)
    return found


def _file_settings(values, root: Path) -> dict[str, str]:
    """Digests of the repository files that setting values name (relative paths)."""
    out = {}
    for v in values:
        if isinstance(v, str) and "/" in v and not os.path.isabs(v):
            p = root / v
            if p.is_file():
                out[v] = _sha(p.read_bytes())
    return out


def _notebook_digest(nb) -> str:
    return _json_digest([(c.source, sorted(c.metadata.get("tags", [])))
                         for c in _code_cells(nb)])


_INJECTED = "injected-parameters"  # papermill's tag for the cell it inserts


def merge_text(executed, current):
    """``current`` (a notebook) with the code cells, outputs included, of ``executed`` (the
    stored execution of the same code): text cells come from ``current``, code cells in order
    from ``executed``, each followed by papermill's injected-parameters cell where there was
    one. Raises ``ValueError`` when the code cells differ."""
    import copy

    ran = _code_cells(executed)
    merged, k = [], 0
    for cell in current.cells:
        if cell.cell_type != "code":
            merged.append(copy.deepcopy(cell))
            continue
        while k < len(ran) and _INJECTED in ran[k].metadata.get("tags", []):
            merged.append(ran[k])
            k += 1
        if k >= len(ran) or ran[k].source != cell.source:
            raise ValueError("the stored execution has other code cells")
        merged.append(ran[k])
        k += 1
    merged += [c for c in ran[k:] if _INJECTED in c.metadata.get("tags", [])]
    if len([c for c in merged if c.cell_type == "code"]) != len(ran):
        raise ValueError("the stored execution has other code cells")
    out = copy.deepcopy(executed)
    out.cells = merged
    return out


def chapter_components(notebook: Path, profile: str, root: Path,
                       pkg_dir: Path | None = None, models=None) -> dict:
    """What the executed ``notebook`` depends on, as ``{component: digest or {name: digest}}``
    (see the module's docstring). ``models``: the chapter's :class:`book.models.ModelSpec`
    list (default: from :func:`book.models.chapter_models`)."""
    import nbformat

    from saliency_utils.book import models as book_models
    from saliency_utils.data import manifest
    from saliency_utils.book.datadeps import notebook_datasets
    from saliency_utils.book.profiles import settings

    pkg_dir = Path(pkg_dir or _package_dir())
    files = _module_files(pkg_dir)
    nb = nbformat.read(str(notebook), as_version=4)
    chapter = Path(notebook).stem
    mods = module_closure(notebook_modules(nb, pkg_dir), pkg_dir)
    read = [chapter] + [ch for ch in _settings_read(nb) if ch != chapter]
    known = [ch for ch in read if _has_settings(ch)]
    sett = {ch: dict(settings(ch, profile)) for ch in known}
    datasets = sorted(notebook_datasets(notebook))
    data = {}
    for ds in datasets:
        try:
            entries = manifest(ds)
        except ValueError:  # not a manifest dataset (a local-only one): its name is all we know
            entries = []
        data[ds] = _json_digest([(e.path, e.bytes, e.sha256) for e in entries])
    if models is None:
        models = book_models.chapter_models(chapter, profile)
    lock = Path(root) / "requirements-lock.txt"
    env = _environment()
    return ({"environment": env} if env else {}) | {
        "version": CACHE_VERSION,
        "profile": profile,
        "notebook": _notebook_digest(nb),
        "modules": {m: _sha(files[m].read_bytes()) for m in sorted(mods)},
        "settings": {ch: _json_digest(s) for ch, s in sett.items()},
        # relative to the checkout the package is in, as the chapters read them
        # (``book.project_root()``), whichever ``root`` the book's sources come from
        "setting_files": _file_settings([v for s in sett.values() for v in s.values()],
                                        pkg_dir.parent),
        "data": data,
        "models": {s.checkpoint.name: book_models.checkpoint_digest(s.checkpoint)
                   for s in models},
        "lock": _sha(lock.read_bytes()) if lock.is_file() else "absent",
        "python": sys.version.split()[0],
    }


#: Environment variables that point a chapter at the reader's own inputs (see the README's "Your
#: own weights and data"); set ones enter the key (:func:`_environment`).
ENV_INPUTS = ("SALIENCY_WEIGHTS_EFFICIENTNET_LITE0", "SALIENCY_WEIGHTS_EFFICIENTNET_LITE1",
              "SALIENCY_WEIGHTS_VGG16",
              "SALIENCY_WEIGHTS_ALEXNET", "OSIE_SR_DIR", "OSIE_ATTRS", "SCENE_LABELS_CSV",
              "SALIENCY_UNISAL_WEIGHTS")


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, read once per (path, size, mtime) in a process (weights can be large)."""
    from saliency_utils.data.manifest import sha256_file

    return sha256_file(path)[:24]


def _environment() -> dict[str, str]:
    """The set variables of :data:`ENV_INPUTS`: a file as ``path sha256:<digest>``, a folder
    as its path (its contents are not read), anything else as ``path (missing)``."""
    out = {}
    for var in ENV_INPUTS:
        value = os.environ.get(var, "").strip()
        if not value:
            continue
        p = Path(value).expanduser()
        if p.is_file():
            st = p.stat()
            out[var] = f"{p} sha256:{_file_digest(str(p.resolve()), st.st_size, st.st_mtime_ns)}"
        else:
            out[var] = f"{p} (folder)" if p.is_dir() else f"{p} (missing)"
    return out


def _has_settings(chapter: str) -> bool:
    from saliency_utils.book.profiles import CHAPTERS

    return chapter in CHAPTERS


def cache_key(components: dict) -> str:
    """The cache key: sha256 of the components (first 24 hex digits)."""
    return _json_digest(components)[:24]


_WHAT = {"notebook": "the notebook", "modules": "package module", "settings": "profile settings",
         "setting_files": "file named in the settings", "data": "data manifest of",
         "models": "model checkpoint", "lock": "the lock file", "python": "the Python version",
         "profile": "the profile", "version": "the cache version",
         "environment": "environment variable"}


def explain_miss(old: dict | None, new: dict) -> str:
    """Why ``new`` misses, compared with the chapter's previous components ``old``."""
    if old is None:
        return "no cache entry"
    reasons = []
    for k, v in new.items():
        before = old.get(k)
        if before == v:
            continue
        if isinstance(v, dict) and isinstance(before, dict):
            changed = sorted(n for n in v if n in before and before[n] != v[n])
            added = sorted(set(v) - set(before))
            removed = sorted(set(before) - set(v))
            parts = ([f"changed {', '.join(changed)}"] if changed else []) \
                + ([f"new {', '.join(added)}"] if added else []) \
                + ([f"no longer {', '.join(removed)}"] if removed else [])
            reasons.append(f"{_WHAT.get(k, k)}: {'; '.join(parts)}")
        else:
            reasons.append(f"{_WHAT.get(k, k)} changed")
    return "; ".join(reasons) or "entry missing"


class Entry:
    """A stored execution: the notebook and its record (components, seconds, when)."""

    def __init__(self, folder: Path, key: str):
        self.notebook = Path(folder) / f"{key}.ipynb"
        self.record = Path(folder) / f"{key}.json"
        self.key = key

    def complete(self) -> bool:
        return self.notebook.is_file() and self.record.is_file()

    def read(self) -> dict:
        return json.loads(self.record.read_text())


def _folder(cache: Path, notebook: Path) -> Path:
    return Path(cache) / Path(notebook).stem


def _latest_record(folder: Path) -> dict | None:
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for r in records:
        try:
            return json.loads(r.read_text())["components"]
        except (OSError, ValueError, KeyError):
            continue
    return None


def lookup(cache: Path, notebook: Path, components: dict) -> tuple[Entry | None, str]:
    """``(entry, "")`` on a hit, ``(None, why)`` on a miss."""
    folder = _folder(cache, notebook)
    entry = Entry(folder, cache_key(components))
    if entry.complete():
        try:
            entry.read()
            return entry, ""
        except (OSError, ValueError):
            pass
    return None, explain_miss(_latest_record(folder) if folder.is_dir() else None,
                              components)


def store(cache: Path, notebook: Path, components: dict, executed: Path, seconds: float) -> Entry:
    """Store the executed notebook under the key of ``components`` (atomically: the notebook,
    then the record that makes the entry complete); keep the newest :data:`KEEP` entries."""
    folder = _folder(cache, notebook)
    entry = Entry(folder, cache_key(components))
    atomic_copy(Path(executed), entry.notebook)
    atomic_write_text(entry.record, json.dumps({"key": entry.key, "components": components,
                                            "seconds": round(seconds, 2),
                                            "stored": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())}, indent=1))
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in records[KEEP:]:
        old.with_suffix(".ipynb").unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return entry


def restore(entry: Entry, dest: Path, notebook: Path | None = None) -> None:
    """Write a cached executed notebook to ``dest`` (atomically); with ``notebook`` (the
    current source), its text cells replace the stored ones (:func:`merge_text`)."""
    if notebook is None:
        atomic_copy(entry.notebook, Path(dest))
        return
    import nbformat

    merged = merge_text(nbformat.read(str(entry.notebook), as_version=4),
                        nbformat.read(str(notebook), as_version=4))
    atomic_write_text(Path(dest), nbformat.writes(merged))
