"""The per-chapter execution cache: what invalidates a chapter (and what does not), atomic
entries, the explanation of a miss, and the shared-model registry against the notebooks."""
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from saliency_utils.book import pipeline as book, models as book_models, buildcache
from saliency_utils.training import saliency as training
from saliency_utils.book.profiles import settings

ROOT = Path(__file__).resolve().parents[1]


def _fake_package(tmp_path):
    """A package named like ours with a small import graph: a -> b (inside a function), c alone,
    sub.d -> c."""
    pkg = tmp_path / "pkg" / "saliency_utils"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""pkg"""\n')
    (pkg / "a.py").write_text("def f():\n    from .b import g\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    return 1\n")
    (pkg / "c.py").write_text("X = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "d.py").write_text("from ..c import X\n")
    return pkg


def _chapter(path, code):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"),
                nbformat.v4.new_code_cell("profile = 'smoke'"),
                nbformat.v4.new_code_cell(code)]
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


def _components(nb, pkg, tmp_path):
    return buildcache.chapter_components(nb, "smoke", tmp_path, pkg_dir=pkg, models=[])


def test_module_closure_follows_the_import_graph(tmp_path):
    pkg = _fake_package(tmp_path)
    assert buildcache.module_closure(["saliency_utils.a"], pkg) == {
        "saliency_utils", "saliency_utils.a", "saliency_utils.b"}
    assert buildcache.module_closure(["saliency_utils.sub.d"], pkg) == {
        "saliency_utils", "saliency_utils.sub", "saliency_utils.sub.d", "saliency_utils.c"}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "%matplotlib inline\nimport numpy as np\nfrom saliency_utils import a\n"
        "from saliency_utils.sub.d import X\nimport saliency_utils.c as c")]
    assert buildcache.notebook_modules(nb, pkg) == {
        "saliency_utils", "saliency_utils.a", "saliency_utils.sub.d", "saliency_utils.c"}


def test_a_name_the_package_imports_lazily_depends_on_its_module(tmp_path):
    """``from saliency_utils import g`` where the package's ``__init__`` imports ``g`` on first
    use (its ``_LAZY`` table): the chapter depends on the module that defines ``g``, not on every
    module the table names."""
    pkg = _fake_package(tmp_path)
    (pkg / "__init__.py").write_text(
        '"""pkg"""\n_LAZY = {"g": "saliency_utils.b", "X": "saliency_utils.c"}\n')
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from saliency_utils import g\nimport saliency_utils")]
    mods = buildcache.notebook_modules(nb, pkg)
    assert mods == {"saliency_utils", "saliency_utils.b"}
    assert buildcache.module_closure(mods, pkg) == {"saliency_utils", "saliency_utils.b"}
    # a package module using a lazy name depends on the defining module too
    (pkg / "sub" / "d.py").write_text("from saliency_utils import X\n")
    assert buildcache.module_closure(["saliency_utils.sub.d"], pkg) == {
        "saliency_utils", "saliency_utils.sub", "saliency_utils.sub.d", "saliency_utils.c"}


def test_the_real_chapters_depend_on_what_they_use():
    nb3 = ROOT / "notebooks" / "ch3_centre_surround.ipynb"
    comp = buildcache.chapter_components(nb3, "smoke", ROOT, models=[])
    assert {"saliency_utils.training.saliency", "saliency_utils.models.saliency_model",
            "saliency_utils.book.profiles", "saliency_utils"} <= set(comp["modules"])
    assert "osie" in comp["data"] and list(comp["settings"]) == ["ch3_centre_surround"]
    c6 = buildcache.chapter_components(ROOT / "notebooks" / "ch6_cross_paper.ipynb", "smoke",
                                       ROOT, models=[])
    assert set(c6["settings"]) == {"ch6_cross_paper", "ch5_loggabor_explanation"}
    app = buildcache.chapter_components(ROOT / "notebooks" / "appendix_benchmarks.ipynb",
                                        "smoke", ROOT, models=[])
    assert "benchmarks/results.json" in app["setting_files"]
    assert "saliency_utils.training.saliency" not in buildcache.chapter_components(
        ROOT / "notebooks" / "appendix_data.ipynb", "smoke", ROOT, models=[])["modules"]


def test_a_changed_module_invalidates_only_the_chapters_that_import_it(tmp_path):
    pkg = _fake_package(tmp_path)
    nb_a = _chapter(tmp_path / "ch_a.ipynb", "from saliency_utils import a\na.f()")
    nb_c = _chapter(tmp_path / "ch_c.ipynb", "from saliency_utils.sub import d")
    cache = tmp_path / "cache"
    for nb in (nb_a, nb_c):
        entry, why = buildcache.lookup(cache, nb, _components(nb, pkg, tmp_path))
        assert entry is None and why == "no cache entry"
        buildcache.store(cache, nb, _components(nb, pkg, tmp_path), nb, 1.5)
        entry, why = buildcache.lookup(cache, nb, _components(nb, pkg, tmp_path))
        assert entry is not None and why == "" and entry.read()["seconds"] == 1.5

    (pkg / "b.py").write_text("def g():\n    return 2\n")  # a imports b: ch_a only
    entry, why = buildcache.lookup(cache, nb_a, _components(nb_a, pkg, tmp_path))
    assert entry is None and why == "package module: changed saliency_utils.b"
    assert buildcache.lookup(cache, nb_c, _components(nb_c, pkg, tmp_path))[0] is not None

    (pkg / "c.py").write_text("X = 2\n")  # sub.d imports c: ch_c only
    assert "changed saliency_utils.c" in buildcache.lookup(
        cache, nb_c, _components(nb_c, pkg, tmp_path))[1]
    (pkg / "b.py").write_text("def g():\n    return 1\n")  # back to the stored version: a hit
    assert buildcache.lookup(cache, nb_a, _components(nb_a, pkg, tmp_path))[0] is not None


def test_editing_one_chapter_leaves_the_others_cached(tmp_path):
    pkg = _fake_package(tmp_path)
    nb_a = _chapter(tmp_path / "ch_a.ipynb", "from saliency_utils import a")
    nb_c = _chapter(tmp_path / "ch_c.ipynb", "from saliency_utils import c")
    cache = tmp_path / "cache"
    for nb in (nb_a, nb_c):
        buildcache.store(cache, nb, _components(nb, pkg, tmp_path), nb, 1.0)
    _chapter(nb_c, "from saliency_utils import c\nprint(c.X)")
    assert buildcache.lookup(cache, nb_a, _components(nb_a, pkg, tmp_path))[0] is not None
    entry, why = buildcache.lookup(cache, nb_c, _components(nb_c, pkg, tmp_path))
    assert entry is None and why == "the notebook changed"
    # outputs and execution counts are not part of the key
    nb = nbformat.read(nb_a, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[2].execution_count = 3
    nbformat.write(nb, nb_a)
    assert buildcache.lookup(cache, nb_a, _components(nb_a, pkg, tmp_path))[0] is not None


def test_other_dependencies_are_named_in_the_miss():
    old = {"version": "1", "profile": "smoke", "notebook": "n", "modules": {"m": "1"},
           "settings": {"ch": "s"}, "setting_files": {}, "data": {"osie": "d"},
           "models": {"saliency-x-1.pt": "w"}, "lock": "l", "python": "3.11"}
    new = {**old, "settings": {"ch": "s2"}, "models": {"saliency-x-2.pt": "w"},
           "data": {"osie": "d", "mit1003": "e"}, "lock": "l2"}
    why = buildcache.explain_miss(old, new)
    assert "profile settings: changed ch" in why
    assert "model checkpoint: new saliency-x-2.pt; no longer saliency-x-1.pt" in why
    assert "data manifest of: new mit1003" in why and "the lock file changed" in why
    assert buildcache.explain_miss(None, new) == "no cache entry"


def test_a_readers_files_named_in_the_environment_enter_the_key(tmp_path, monkeypatch):
    """A weights file in $SALIENCY_WEIGHTS_VGG16 (or another reader's input) re-executes the
    chapter when it is set, changed or unset; with none set the key has no such component."""
    for var in buildcache.ENV_INPUTS:
        monkeypatch.delenv(var, raising=False)
    pkg = _fake_package(tmp_path)
    nb = _chapter(tmp_path / "ch_a.ipynb", "from saliency_utils import a")
    cache = tmp_path / "cache"
    plain = _components(nb, pkg, tmp_path)
    assert "environment" not in plain
    buildcache.store(cache, nb, plain, nb, 1.0)
    w = tmp_path / "vgg16.pth"
    w.write_bytes(b"weights 1")
    monkeypatch.setenv("SALIENCY_WEIGHTS_VGG16", str(w))
    first = _components(nb, pkg, tmp_path)
    entry, why = buildcache.lookup(cache, nb, first)
    assert entry is None and why == "environment variable changed"
    buildcache.store(cache, nb, first, nb, 1.0)
    assert buildcache.lookup(cache, nb, _components(nb, pkg, tmp_path))[0] is not None
    w.write_bytes(b"weights two")  # other contents (and size): a miss
    entry, why = buildcache.lookup(cache, nb, _components(nb, pkg, tmp_path))
    assert entry is None and "environment variable: changed SALIENCY_WEIGHTS_VGG16" in why
    monkeypatch.setenv("OSIE_SR_DIR", str(tmp_path))
    assert _components(nb, pkg, tmp_path)["environment"]["OSIE_SR_DIR"] == f"{tmp_path} (folder)"
    monkeypatch.delenv("SALIENCY_WEIGHTS_VGG16")
    monkeypatch.delenv("OSIE_SR_DIR")
    assert buildcache.lookup(cache, nb, _components(nb, pkg, tmp_path))[0] is not None


def test_the_environment_inputs_cover_every_weights_variable():
    from saliency_utils.models import backbones as models, unisal

    assert set(models.WEIGHTS_ENV.values()) | {unisal.ENV_WEIGHTS} <= set(buildcache.ENV_INPUTS)


def test_entries_are_written_atomically(tmp_path, monkeypatch):
    pkg = _fake_package(tmp_path)
    nb = _chapter(tmp_path / "ch_a.ipynb", "from saliency_utils import a")
    comp = _components(nb, pkg, tmp_path)
    cache = tmp_path / "cache"

    def broken_copy(src, dst, *args):
        dst.write(b"{partial")
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfileobj", broken_copy)  # inside fileio.atomic_copy
    with pytest.raises(OSError, match="disk full"):
        buildcache.store(cache, nb, comp, nb, 1.0)
    monkeypatch.undo()
    folder = cache / "ch_a"
    assert list(folder.iterdir()) == []  # neither the partial file nor a record
    assert buildcache.lookup(cache, nb, comp)[0] is None
    # a notebook without its record (a crash between the two renames) is not an entry
    entry = buildcache.store(cache, nb, comp, nb, 1.0)
    entry.record.unlink()
    assert buildcache.lookup(cache, nb, comp)[0] is None


def test_only_the_newest_entries_are_kept(tmp_path):
    pkg = _fake_package(tmp_path)
    nb = _chapter(tmp_path / "ch_a.ipynb", "x = 0")
    cache = tmp_path / "cache"
    for i in range(buildcache.KEEP + 2):
        _chapter(nb, f"x = {i}")
        buildcache.store(cache, nb, _components(nb, pkg, tmp_path), nb, 1.0)
    assert len(list((cache / "ch_a").glob("*.json"))) == buildcache.KEEP
    assert len(list((cache / "ch_a").glob("*.ipynb"))) == buildcache.KEEP


def _toy_book(tmp_path, chapters):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        + "".join(f"  - file: notebooks/{c}\n" for c in chapters))
    for c in chapters:
        _chapter(tmp_path / "notebooks" / f"{c}.ipynb", f"print('{c}', profile)")
    return tmp_path


def test_execute_copies_cached_chapters_and_reruns_changed_ones(tmp_path, capsys):
    root = _toy_book(tmp_path, ["one", "two"])
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 0
    log = capsys.readouterr().out
    assert "one                              running (no cache entry)" in log
    assert book.execute("smoke", out, root=root) == 0
    t = json.loads((out / "timings.json").read_text())["chapters"]
    assert t["one"]["status"] == t["two"]["status"] == "cached"
    assert "(hit; executed in" in capsys.readouterr().out
    _chapter(root / "notebooks" / "two.ipynb", "print('two, edited', profile)")
    assert book.execute("smoke", out, root=root) == 0
    t = json.loads((out / "timings.json").read_text())["chapters"]
    assert t["one"]["status"] == "cached"
    assert t["two"]["status"] == "ok" and t["two"]["why"] == "the notebook changed"
    nb = nbformat.read(out / "two.ipynb", as_version=4)
    assert "two, edited smoke" in nb.cells[-1].outputs[0]["text"]
    assert book.execute("smoke", out, root=root, force=True) == 0
    t = json.loads((out / "timings.json").read_text())["chapters"]
    assert t["one"]["status"] == "ok" and t["one"]["why"] == "forced"


def test_a_text_edit_reuses_the_stored_outputs(tmp_path, capsys):
    root = _toy_book(tmp_path, ["prose"])
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 0
    path = root / "notebooks" / "prose.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "# prose, retitled"
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("A new paragraph between the cells."))
    nbformat.write(nb, path)
    assert book.execute("smoke", out, root=root) == 0
    assert json.loads((out / "timings.json").read_text())["chapters"]["prose"]["status"] == \
        "cached"
    done = nbformat.read(out / "prose.ipynb", as_version=4)
    kinds = [(c.cell_type, c.metadata.get("tags", [])) for c in done.cells]
    assert kinds == [("markdown", []), ("code", ["parameters"]), ("markdown", []),
                     ("code", ["injected-parameters"]), ("code", [])]
    assert done.cells[0].source == "# prose, retitled"
    assert done.cells[2].source == "A new paragraph between the cells."
    assert done.cells[4].outputs[0]["text"] == "prose smoke\n"  # the stored output


def test_merge_text_refuses_other_code(tmp_path):
    a = nbformat.read(_chapter(tmp_path / "a.ipynb", "x = 1"), as_version=4)
    b = nbformat.read(_chapter(tmp_path / "b.ipynb", "x = 2"), as_version=4)
    assert buildcache.merge_text(a, a).cells[2].source == "x = 1"
    with pytest.raises(ValueError, match="other code cells"):
        buildcache.merge_text(a, b)


def test_a_failed_chapter_is_not_cached(tmp_path):
    root = _toy_book(tmp_path, ["bad"])
    _chapter(root / "notebooks" / "bad.ipynb", "raise RuntimeError('boom')")
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 1
    assert not list((out / ".cache").glob("bad/*.json"))


def _code(stem):
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _n_runs_ch4(profile):
    """Runs of chapter 4's experiment: every condition at every seed, plus the scene condition
    where the profile has scene labels (the book's own for OSIE training)."""
    cfg = settings("ch4_task_vs_domain", profile)
    scene = book_models.scene_labels_csv(cfg, book_models.saliency_config(cfg).dataset)
    return (len(cfg["control_conditions"]) + bool(scene)) * len(cfg["control_seeds"])


def test_the_model_registry_lists_every_chapter_that_loads_a_model():
    uses = {c.stem for c in book.chapters(ROOT) if "load_or_train" in _code(c.stem)}
    assert uses == set(book_models.CHAPTER_MODELS)
    ch4 = book_models.chapter_models("ch4_task_vs_domain", "smoke")
    n_runs = _n_runs_ch4("smoke")
    assert [m.kind for m in ch4] == ["saliency", "saliency"] + ["control"] * n_runs
    assert "freeze_encoder=True" in _code("ch4_task_vs_domain") and ch4[1].config.freeze_encoder
    assert "controlled_tuning.experiment_configs(preset, cfg" in _code("ch4_task_vs_domain")
    shared = book_models.book_models("smoke")
    # the preset's model (shared by chapters 3 to 6), the rotation control of chapter 3, the
    # fixed-encoder twin, chapter 3's two other loss candidates and three setting alternatives
    # (compared on validation), and every run of chapter 4's task-vs-domain experiment
    assert len(shared) == 8 + n_runs
    ch3 = book_models.chapter_models("ch3_centre_surround", "smoke")
    smoke = training.PRESETS["smoke"]
    assert {m.config for m in ch3 if m.kind == "saliency"} == set(
        training.loss_candidates(smoke).values()) | set(training.setting_candidates(smoke).values())
    # offline: the preset and every candidate around the configuration it was chosen from, once
    off = [m.config for m in book_models.chapter_models("ch3_centre_surround", "offline")
           if m.kind == "saliency"]
    base = training.selection_base(training.PRESETS["offline"])
    assert off[0] == training.PRESETS["offline"] and len(off) == len(set(off))
    assert set(off) == ({training.PRESETS["offline"]} | set(training.loss_candidates(base).values())
                        | set(training.setting_candidates(base).values()))
    first = next(iter(shared.values()))
    assert first[1] == list(book_models.CHAPTER_MODELS)
    assert book_models.chapter_models("appendix_data", "smoke") == []


@pytest.mark.parametrize("chapter", ["ch3_centre_surround", "ch4_task_vs_domain"])
def test_with_full_salicon_the_paper_models_and_their_controls_train_on_it(chapter, tmp_path,
                                                                           monkeypatch):
    """Paper profile, a local full SALICON copy: the saliency model, the fixed-encoder twin and
    the classification control all train on its train split (controls change one thing); the
    notebook builds its models with the same function. Without it, on OSIE."""
    import numpy as np
    from PIL import Image

    def datasets():
        return {m.config.dataset if m.kind == "saliency" else
                m.config.setup.dataset if m.kind == "control" else m.config.base.dataset
                for m in book_models.chapter_models(chapter, "paper")}

    monkeypatch.setenv("SALIENCY_NO_BUNDLE", "1")
    monkeypatch.setenv("SALIENCY_DATA", str(tmp_path))
    assert datasets() == {"osie"}
    folder = tmp_path / "salicon" / "images" / "train"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(folder / "COCO_train2014_000000000009.jpg")
    assert datasets() == {"salicon"}
    assert book_models.chapter_models(chapter, "offline")[0].config.dataset == "osie"
    assert "book_models.saliency_config(cfg)" in _code(chapter)
    assert "PRESETS[" not in _code(chapter)


def test_train_models_reports_each_model_once(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(book_models.ModelSpec, "load_or_train", lambda self, progress: None)
    monkeypatch.setenv("SALIENCY_CACHE", str(tmp_path))
    report = book_models.train_models("smoke")
    n = len(book_models.book_models("smoke"))
    # 8 saliency/rotation models and the runs of chapter 4's experiment (smoke: 5 conditions
    # with the scene labels, 2 seeds)
    assert len(report) == n == 8 + _n_runs_ch4("smoke") == 8 + 10
    assert all(r["trained"] for r in report.values())
    log = capsys.readouterr().out
    assert log.count("training ") == n and f"[model {n}/{n}]" in log


def test_log_output_shows_what_a_chapter_prints(tmp_path, caplog):
    import logging

    root = _toy_book(tmp_path, ["loud"])
    caplog.set_level(logging.INFO, logger="papermill")
    assert book.execute("smoke", tmp_path / "out", root=root, log_output=True) == 0
    assert "loud smoke" in caplog.text


def test_a_chapter_without_a_cache_key_still_runs_and_reports_its_error(tmp_path, capsys):
    root = _toy_book(tmp_path, ["syntax"])
    _chapter(root / "notebooks" / "syntax.ipynb", "def broken(:\n    pass")
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 1
    captured = capsys.readouterr()
    assert "running (no cache key: ValueError: cannot parse the code" in captured.out
    assert "SyntaxError" in captured.err
    assert not (out / ".cache" / "syntax").exists()


def test_the_benchmark_page_says_build_times_are_pending_until_measured(benchmark_script):
    bench = benchmark_script("run_benchmarks")
    md = "\n".join(bench._build_markdown({}))
    assert "not measured yet (pending)" in md and "cold <= 45 min" in md
    run = {"seconds": 9.0, "steps": {"models": 1.0, "chapters": 7.0, "render": 1.0},
           "chapters": {"ch": {"seconds": 7.0, "status": "ok"}}, "models": {}}
    md = "\n".join(bench._build_markdown({"smoke": {
        "cold": run, "warm": {**run, "chapters": {"ch": {"seconds": 0.5, "status": "cached"}}},
        "edited chapter": "ch", "when": "today", "note": None,
        "models": {"m.pt": {"label": "saliency model", "chapters": ["ch"], "seconds": 3.0}}}}))
    assert "| cold | 9.0 | 1.0 | 7.0 | 1.0 | <= 45 min |" in md
    assert "| incremental | pending |" in md
    assert "| ch | 7.0 (ok) | 0.5 (cached) |" in md
    assert "| saliency model | ch | 3.0 |" in md
    assert "Offline profile (the book `make book` renders): not measured yet (pending)" in md
