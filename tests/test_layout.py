"""The package's layout holds: one subpackage per concern, the library never imports the book
tooling, no module imports another module's private names, and the top-level entry points
resolve to what they name."""
import ast
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import saliency_utils

PKG = Path(saliency_utils.__file__).resolve().parent
ROOT = PKG.parent
LIBRARY = ("data", "models", "training", "explain", "evaluate", "analysis")
SUBPACKAGES = (*LIBRARY, "claims", "book")


def _modules(sub=None):
    base = PKG / sub if sub else PKG
    for path in sorted(base.rglob("*.py")):
        if "third_party" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), path, is_pkg


def _imports(path, name, is_pkg):
    """(absolute module, imported names) of every import in the file, also inside functions."""
    base = name if is_pkg else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            src = node.module or ""
            if node.level:
                b = base
                for _ in range(node.level - 1):
                    b = b.rpartition(".")[0]
                src = f"{b}.{node.module}" if node.module else b
            yield src, [a.name for a in node.names]


def test_the_top_level_holds_only_the_subpackages_and_shared_utilities():
    flat = sorted(p.stem for p in PKG.glob("*.py"))
    assert flat == ["__init__", "__main__", "fileio"]
    dirs = sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert dirs == sorted([*SUBPACKAGES, "third_party"])


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_subpackage_says_what_lives_there(sub):
    mod = importlib.import_module(f"saliency_utils.{sub}")
    assert mod.__doc__ and len(mod.__doc__.split()) > 15, sub
    # every module the docstring names by :mod:`.name` exists, and every module is named
    here = {p.stem for p in (PKG / sub).glob("*.py") if not p.stem.startswith("_")} | {
        p.name for p in (PKG / sub).iterdir() if (p / "__init__.py").exists()}
    named = set(__import__("re").findall(r":mod:`\.(\w+)`", mod.__doc__))
    assert named <= here, named - here
    if sub not in ("data", "claims"):  # these two list their modules elsewhere (README, registry)
        assert here <= named, f"{sub}: not described in its docstring: {sorted(here - named)}"


@pytest.mark.parametrize("sub", LIBRARY)
def test_the_library_never_imports_the_book_tooling(sub):
    bad = [(name, src) for name, path, is_pkg in _modules(sub)
           for src, names in _imports(path, name, is_pkg)
           if src.startswith("saliency_utils.book")
           or (src == "saliency_utils" and "book" in names)]
    assert not bad, bad


def test_no_module_imports_another_modules_private_names():
    bad = []
    for name, path, is_pkg in _modules():
        for src, names in _imports(path, name, is_pkg):
            if not src.startswith("saliency_utils") or src == name:
                continue
            bad += [(name, f"{src}.{n}") for n in names if n.startswith("_") and n != "__version__"
                    and not (PKG / Path(*src.split(".")[1:]) / f"{n}.py").exists()]
    assert not bad, bad


def test_the_entry_points_resolve_to_what_they_name_and_load_lazily():
    code = ("import sys, saliency_utils as s\n"
            "assert [m for m in sys.modules if m.startswith('saliency_utils.')] == [], 'eager'\n"
            "for n in s.__all__: getattr(s, n)\n"
            "print(len(s.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    for name, module in saliency_utils._LAZY.items():
        assert getattr(importlib.import_module(module), name) is getattr(saliency_utils, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        saliency_utils.nope  # noqa: B018


def test_the_version_is_the_projects():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["dynamic"] == ["version"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "saliency_utils.__version__"
    from importlib.metadata import version
    assert version("saliency-utils") == saliency_utils.__version__


def test_the_shared_test_networks_are_defined_once():
    """The small networks the tests share live in ``tests/nets.py``; no test module defines
    its own copy under the same name."""
    tests = Path(__file__).resolve().parent
    shared = {n.name for n in ast.parse((tests / "nets.py").read_text()).body
              if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"Linear", "small_cnn", "SmallVGG", "random_bn_effnet", "tiny_backbone"} <= shared
    copies = [(p.name, n.name) for p in sorted(tests.glob("test_*.py"))
              for n in ast.parse(p.read_text()).body
              if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name.lstrip("_") in shared]
    assert not copies, copies
