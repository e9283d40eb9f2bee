"""The book pipeline: chapter discovery, papermill execution with a profile, failure reporting,
profiles, and the committed notebooks' hygiene."""
import json
from pathlib import Path

import nbformat
import pytest

from saliency_utils.book import pipeline as book, profiles

ROOT = Path(__file__).resolve().parents[1]


def _nb(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for src, tags in cells:
        c = nbformat.v4.new_code_cell(src)
        c.metadata["tags"] = tags
        nb.cells.append(c)
    return nb


def _toy_book(tmp_path, cells):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/toy\n")
    nbformat.write(_nb(cells), tmp_path / "notebooks" / "toy.ipynb")
    return tmp_path


def test_chapters_follow_the_toc():
    chs = book.chapters(ROOT)
    assert chs, "no chapter notebooks found from _toc.yml"
    assert all(c.suffix == ".ipynb" and (ROOT / c).is_file() for c in chs)
    assert Path("notebooks/appendix_data.ipynb") in chs


def test_execute_injects_the_profile(tmp_path, capsys):
    root = _toy_book(tmp_path, [("profile = 'offline'", ["parameters"]),
                                ("assert profile == 'smoke', profile", [])])
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 0
    assert "toy" in capsys.readouterr().out
    timings = json.loads((out / "timings.json").read_text())
    assert timings["chapters"]["toy"]["status"] == "ok"


def test_a_failing_cell_is_named(tmp_path, capsys):
    root = _toy_book(tmp_path, [("profile = 'offline'", ["parameters"]),
                                ("x = 1", []),
                                ("raise RuntimeError('boom in chapter')", [])])
    assert book.execute("smoke", tmp_path / "out", root=root) == 1
    err = capsys.readouterr().err
    assert "notebooks/toy.ipynb" in err and "RuntimeError: boom in chapter" in err
    assert "cell 3" in err  # 0: parameters, 1: injected parameters, 2: x = 1, 3: the raise


def test_unknown_profile_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown profile"):
        book.execute("huge", tmp_path)
    with pytest.raises(ValueError, match="choose one of"):
        profiles.settings("appendix_data", "huge")
    with pytest.raises(ValueError, match="unknown chapter"):
        profiles.settings("no-such-chapter", "smoke")


def test_settings_are_typed_read_only_and_written_once():
    """Each chapter's settings are one frozen dataclass per chapter, read as a mapping or as
    attributes; a value shared by every profile is the field's default (written once), so a
    profile's entry cannot repeat it by accident without it showing here."""
    import dataclasses

    for ch in profiles.CHAPTERS:
        per = {p: profiles.settings(ch, p) for p in profiles.PROFILES}
        cls = type(per["smoke"])
        assert issubclass(cls, profiles.Settings) and cls is not profiles.Settings
        for p, cfg in per.items():
            assert type(cfg) is cls and cfg.profile == p and cfg["profile"] == p
            assert dict(cfg) == {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
            assert list(cfg)[:2] == ["seed", "weights"] and list(cfg)[-1] == "profile"
            with pytest.raises(dataclasses.FrozenInstanceError):
                cfg.seed = 1
            with pytest.raises(KeyError):
                cfg["_keys"]
        # a field without a default differs between the written-out profiles (else it would
        # be a default)
        base = [per[p] for p in ("smoke", "offline", "paper")]
        for f in dataclasses.fields(cls):
            if f.name in ("profile", "weights", "seed"):
                continue
            values = [getattr(c, f.name) for c in base]
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                assert any(v != values[0] for v in values), f"{ch}.{f.name}: shared, make it a default"
    cfg = profiles.settings("ch1_gradient_saliency", "smoke")
    assert cfg.n_loc == cfg["n_loc"] and cfg.get("no_such_key") is None and "n_loc" in cfg


def test_every_chapter_has_profiles_and_is_committed_clean():
    for ch in book.chapters(ROOT):
        nb = nbformat.read(ROOT / ch, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.get("outputs") for c in code), f"{ch} is committed with outputs"
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{ch} needs exactly one cell tagged 'parameters'"
        assert "profile" in tagged[0].source
        for p in profiles.PROFILES:
            profiles.settings(ch.stem, p)  # settings exist for every profile


def test_figures_reach_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as the Makefile exports for the tests
    root = _toy_book(tmp_path, [("profile = 'offline'", ["parameters"]),
                                ("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()", [])])
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 0
    assert json.loads((out / "timings.json").read_text())["chapters"]["toy"]["figures"] == 1


def test_scorecard_rows_reference_the_chapters_glue(tmp_path, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from saliency_utils import claims
    from saliency_utils.book.pipeline import SCORECARD_COLUMNS, scorecard_markdown

    P = "application/papermill.record/"
    fake = claims.Claim("test.c", "p", "§1", "a claim", not_tested="why", label="chx-claim")
    monkeypatch.setitem(claims.REGISTRY, "test.c", fake)

    def out(name, value=None):
        return new_output("display_data", data={P + "text/plain": value or name},
                          metadata={"scrapbook": {"name": name, "mime_prefix": P}})

    nb = new_notebook()
    keys = [k for _, k in SCORECARD_COLUMNS]
    nb.cells = [new_markdown_cell("# Chapter X: a paper"),
                new_code_cell("", outputs=[out(f"chx_{w}_{i}") for i in (1, 2) for w in keys]
                              + [out("chx_id_1", "test.c"), out("chx_id_2", "unknown.claim"),
                                 out("chx_network")])]
    nbformat.write(nb, tmp_path / "chx.ipynb")
    empty = new_notebook()
    empty.cells = [new_markdown_cell("# Appendix")]
    nbformat.write(empty, tmp_path / "app.ipynb")
    md = scorecard_markdown(tmp_path, [Path("notebooks/chx.ipynb"), Path("notebooks/app.ipynb")])
    lines = md.splitlines()
    assert lines[0] == "| ch. | claim | verdict | estimate [CI] | n | power | rule | section |"
    ref = "{glue:}`../notebooks/chx.ipynb::chx_%s_1`"
    assert lines[2] == ("| [1](../notebooks/chx.ipynb) | "
                        + " | ".join(ref % k for k in keys) + " | {ref}`§ <chx-claim>` |")
    assert lines[3].startswith("| [1](../notebooks/chx.ipynb) | {glue:}`../notebooks/chx.ipynb::chx_claim_2`")
    assert lines[3].endswith("|  |")  # an id the registry does not know gets no link
    assert "Appendix" not in md and "chx_network" in md


def test_a_widget_cell_runs_and_leaves_no_widget_state(tmp_path):
    """An explorer's widget cell executes headless, and the executed notebook keeps no widget
    state (which would make the page load the widget manager from a CDN)."""
    pytest.importorskip("ipywidgets")
    root = _toy_book(tmp_path, [("profile = 'offline'", ["parameters"]),
                                ("import ipywidgets as w\ns = w.IntSlider(3)\ns", ["remove-output"])])
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 0
    nb = nbformat.read(out / "toy.ipynb", as_version=4)
    assert "widgets" not in nb.metadata
    shown = [o for c in nb.cells for o in c.get("outputs", []) if "data" in o]
    assert any("application/vnd.jupyter.widget-view+json" in o["data"] for o in shown)
    assert book._strip_widget_state(out / "toy.ipynb") is False  # nothing left to strip


def test_paper_smoke_is_the_paper_code_path_at_smoke_sizes():
    """Every chapter has ``paper-smoke``: its network keys are the paper profile's, every other
    key the smoke profile's (so the sizes are tiny), its weights random, and a training preset
    becomes the ``paper-smoke`` preset (the paper preset's architecture, random weights)."""
    from saliency_utils.training import saliency as training

    def is_network_key(k):  # which network, which of its layers, per-layer steps
        return (k in ("backbone", "networks", "main_layer", "planted_stride")
                or k.endswith("layers"))

    for ch in book.chapters(ROOT):
        ps, paper, smoke = (profiles.settings(ch.stem, p)
                            for p in ("paper-smoke", "paper", "smoke"))
        keys = profiles.PAPER_KEYS[ch.stem]
        assert ps["weights"] == "random" and paper["weights"] == smoke["weights"] == "imagenet"
        for k in paper:
            if is_network_key(k):  # a network key must come from paper
                assert k in keys, f"{ch.stem}: network setting {k!r} not in PAPER_KEYS"
        for k in set(ps) - {"profile", "weights", "preset"}:
            assert ps[k] == (paper[k] if k in keys else smoke[k]), (ch.stem, k)
        if "preset" in paper:
            assert ps["preset"] == "paper-smoke"
            pre, real = training.PRESETS[ps["preset"]], training.PRESETS[paper["preset"]]
            assert pre.weights == "random"
            assert (pre.backbone, pre.readout_layers) == (real.backbone, real.readout_layers)
    assert profiles.random_weights("paper-smoke") and not profiles.random_weights("offline")


def test_every_chapter_shows_the_weights_banner_after_its_parameters():
    for ch in book.chapters(ROOT):
        nb = nbformat.read(ROOT / ch, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        i = next(k for k, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
        assert f'weights_banner("{ch.stem}", profile)' in code[i + 1].source, ch.stem


def test_every_cited_key_is_in_the_bibliography():
    """A {cite} key missing from book/references.bib is a -W render failure in CI; catch it in
    the unit tests, naming the file and the key."""
    import re

    root = Path(__file__).resolve().parents[1]
    bib = (root / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.M))
    assert keys, "no entries parsed from book/references.bib"
    sources = list((root / "notebooks").glob("*.ipynb")) + list((root / "book").glob("*.md"))
    missing = []
    for src in sources:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", src.read_text(encoding="utf-8")):
            missing += [(src.name, k.strip()) for k in group.split(",") if k.strip() not in keys]
    assert not missing, f"cited but not in book/references.bib: {missing}"


def test_a_page_shows_the_parameters_of_its_run_once(tmp_path):
    """papermill keeps the defaults cell and adds the injected one; the staged page removes
    the defaults and labels the injected values as this page's."""
    root = _toy_book(tmp_path, [("profile = 'offline'  # smoke | offline", ["parameters"]),
                                ("x = 1", [])])
    out = tmp_path / "out"
    assert book.execute("smoke", out, root=root) == 0
    staged = tmp_path / "staged.ipynb"
    staged.write_bytes((out / "toy.ipynb").read_bytes())
    assert book._show_run_parameters(staged)
    nb = nbformat.read(staged, as_version=4)
    by_tag = {t: c for c in nb.cells for t in c.metadata.get("tags", [])}
    assert "remove-cell" in by_tag["parameters"].metadata["tags"]
    injected = by_tag["injected-parameters"]
    assert "remove-cell" not in injected.metadata["tags"]
    assert "executed with" in injected.source and "profile = \"smoke\"" in injected.source
    assert not book._show_run_parameters(tmp_path / "notebooks" / "toy.ipynb")  # not executed
