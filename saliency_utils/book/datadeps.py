"""Which datasets a chapter needs: a static analysis of the calls its code makes into this package.

A chapter's first cell (the Colab setup, see ``scripts/nbtools.py``) fetches the datasets listed
in ``DATASETS`` before anything runs, so that list must name every dataset the chapter loads.
:func:`notebook_datasets` finds them without running the notebook: it reads the package's
source with :mod:`ast`, maps every top-level function and class to the datasets it touches
directly (a module constant such as ``DATASET = "osie"`` or a string literal naming a dataset of
:data:`saliency_utils.data.DATASETS`) or through the package functions it calls, and applies
that map to the names the notebook's code uses (``data.load_osie_image``,
``training.saliency.load_or_train``, ...).

The analysis over-approximates in one way: a class counts as using what any of its methods use.
It cannot see a dataset chosen at run time from a variable that is not a literal.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import nbformat

__all__ = ["package_uses", "code_datasets", "notebook_datasets", "declared_datasets", "lazy_table"]

_PKG = "saliency_utils"


def _dataset_names() -> frozenset[str]:
    from saliency_utils.data.catalog import DATASETS

    return frozenset(DATASETS)


def lazy_table(tree: ast.Module) -> dict[str, str]:
    """``{name: defining module}`` of the names a package's ``__init__`` imports on first use:
    its module-level ``_LAZY`` dict literal (``{}`` without one). The one reader of that table,
    for this analysis and the execution cache's import graph."""
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == "_LAZY" and node.value is not None:
            return dict(ast.literal_eval(node.value))
    return {}


class _Module:
    def __init__(self, name: str, tree: ast.Module, is_package: bool):
        self.name = name
        self.base = name if is_package else name.rpartition(".")[0]
        self.imports: dict[str, str] = {}
        self.defs: dict[str, ast.AST] = {}
        self.consts: dict[str, str] = {}
        names = _dataset_names()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.imports[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                src = self._absolute(node)
                for a in node.names:
                    self.imports[a.asname or a.name] = f"{src}.{a.name}"
        for attr, module in lazy_table(tree).items():  # imported on first use: an import too
            self.imports[attr] = f"{module}.{attr}"
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                value = node.value
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if isinstance(value, ast.Constant) and value.value in names:
                    for t in targets:
                        if isinstance(t, ast.Name):
                            self.consts[t.id] = value.value

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = self.base
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        return f"{base}.{node.module}" if node.module else base


@functools.lru_cache(maxsize=None)
def _modules(root: str) -> dict[str, _Module]:
    pkg_dir = Path(root)
    out = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        rel = path.relative_to(pkg_dir.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        out[name] = _Module(name, ast.parse(path.read_text(encoding="utf-8")), is_package)
    return out


def _resolve(mods: dict[str, _Module], qname: str, depth: int = 0):
    """``qname`` (dotted) -> ``("def", "module.name")``, ``("const", dataset)`` or ``None``."""
    if depth > 20:
        return None
    parts = qname.split(".")
    for i in range(len(parts) - 1, 0, -1):
        mod = mods.get(".".join(parts[:i]))
        if mod is None:
            continue
        head, rest = parts[i], parts[i + 1:]
        if head in mod.defs:
            return ("def", f"{mod.name}.{head}")
        if head in mod.consts:
            return ("const", mod.consts[head])
        if head in mod.imports:
            return _resolve(mods, ".".join([mod.imports[head], *rest]), depth + 1)
        if f"{mod.name}.{head}" in mods:  # a submodule named as an attribute
            continue
        return None
    return None


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else ``None``."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(attrs)])
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _references(mods, module_name: str, imports: dict[str, str], defs, consts,
                tree: ast.AST) -> tuple[set[str], set[str]]:
    """(datasets named directly, package defs referenced) in ``tree``."""
    names = _dataset_names()
    skip = _docstrings(tree)
    datasets, refs = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value in names and id(node) not in skip:
            datasets.add(node.value)
            continue
        if not isinstance(node, (ast.Name, ast.Attribute)):
            continue
        dotted = _dotted(node)
        if dotted is None:
            continue
        head, _, rest = dotted.partition(".")
        if head in consts:
            datasets.add(consts[head])
            continue
        if head in defs:
            target = ("def", f"{module_name}.{head}")
        elif head in imports:
            target = _resolve(mods, imports[head] + (f".{rest}" if rest else ""))
        else:
            continue
        if target is None:
            continue
        if target[0] == "const":
            datasets.add(target[1])
        else:
            refs.add(target[1])
    return datasets, refs


def _package_dir() -> str:
    return str(Path(__file__).resolve().parents[1])


@functools.lru_cache(maxsize=None)
def _uses(root: str) -> dict[str, frozenset[str]]:
    mods = _modules(root)
    direct, edges = {}, {}
    for mod in mods.values():
        for name, node in mod.defs.items():
            q = f"{mod.name}.{name}"
            direct[q], edges[q] = _references(mods, mod.name, mod.imports, mod.defs, mod.consts,
                                              node)
    total = {q: set(d) for q, d in direct.items()}
    changed = True
    while changed:  # fixed point of the call graph (it may have cycles)
        changed = False
        for q, targets in edges.items():
            before = len(total[q])
            for t in targets:
                total[q] |= total.get(t, set())
            changed |= len(total[q]) != before
    return {q: frozenset(d) for q, d in total.items()}


def package_uses() -> dict[str, frozenset[str]]:
    """``{"saliency_utils.<module>.<function or class>": datasets it may load}``."""
    return dict(_uses(_package_dir()))


def code_datasets(source: str) -> set[str]:
    """Datasets that Python ``source`` (say, a notebook's code) may load through this package.

    IPython magics and shell lines (``%...``, ``!...``) are ignored."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as err:
        raise ValueError(f"cannot parse the code: {err}") from err
    mods = _modules(_package_dir())
    uses = _uses(_package_dir())
    nb = _Module("__code__", tree, is_package=False)
    datasets, refs = _references(mods, nb.name, nb.imports, nb.defs, nb.consts, tree)
    for r in refs:
        datasets |= uses.get(r, frozenset())
    return datasets


def _code_cells(nb, skip_tag: str | None):
    return [c for c in nb.cells if c.cell_type == "code"
            and not (skip_tag and skip_tag in c.metadata.get("tags", []))]


def notebook_datasets(path: str | Path) -> set[str]:
    """Datasets a notebook's code may load, without running it (the Colab setup cell, tagged
    ``remove-cell``, is left out: it is where the datasets are declared)."""
    nb = nbformat.read(str(path), as_version=4)
    return code_datasets("\n".join(c.source for c in _code_cells(nb, "remove-cell")))


def declared_datasets(path: str | Path) -> list[str] | None:
    """The ``DATASETS = [...]`` list of a notebook's Colab setup cell, or ``None`` without one."""
    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        tree = ast.parse("\n".join(ln for ln in c.source.splitlines()
                                   if not ln.lstrip().startswith(("%", "!"))))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "DATASETS" for t in node.targets):
                return list(ast.literal_eval(node.value))
    return None
