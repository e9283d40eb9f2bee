"""The rendered-site check: headless Chromium on a tiny fake site whose pages copy the markup
Jupyter Book 1.x / myst-nb writes for figures, tracebacks and stderr; the per-page rules without
a browser."""
import io

import numpy as np
import pytest
from PIL import Image

from saliency_utils.book import sitecheck
from saliency_utils.book.sitecheck import Page, PageInfo, page_problems

COLAB = "https://colab.research.google.com/github/me/book/blob/main/notebooks/{}.ipynb"

# the markup myst-nb (Jupyter Book 1.x) renders for a cell's outputs
_CELL = ('<div class="cell docutils container"><div class="cell_input docutils container">'
         '<pre>x</pre></div><div class="cell_output docutils container">{}</div></div>')
_FIG = '<img alt="_images/{0}" src="../_images/{0}" />'
_TRACEBACK = ('<div class="output traceback highlight-ipythontb notranslate">'
              '<div class="highlight">'
              '<pre>---------------------------------------------------------------------------\n'
              'ValueError                                Traceback (most recent call last)\n'
              'ValueError: bad input</pre></div></div>')
_STDERR = ('<div class="output stderr highlight-myst-ansi notranslate"><div class="highlight">'
           '<pre>/x.py:3: UserWarning: careful</pre></div></div>')
_TEXT_TRACEBACK = ('<div class="output stream highlight-myst-ansi notranslate"><pre>'
                   'Traceback (most recent call last):\n  File "x"\nKeyError: 1</pre></div>')


def _page(title, body, colab=None):
    link = f'<a href="{colab}" class="btn">Colab</a>' if colab else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><header>{link}</header><main><article><h1>{title}</h1>{body}</article></main>"
            f"</body></html>")


def _png(path, shape=(30, 40)):
    buf = io.BytesIO()
    Image.fromarray((np.arange(shape[0] * shape[1]).reshape(shape) % 256).astype(np.uint8)).save(
        buf, format="PNG")
    path.write_bytes(buf.getvalue())


PAGES = {  # stem -> (body, with a Colab button)
    "good": (_CELL.format(_FIG.format("fig.png")) + _CELL.format("<pre>42</pre>"), True),
    "traceback": (_CELL.format(_FIG.format("fig.png")) + _CELL.format(_TRACEBACK), True),
    "stderr": (_CELL.format(_FIG.format("fig.png")) + _CELL.format(_STDERR), True),
    "text_traceback": (_CELL.format(_FIG.format("fig.png")) + _CELL.format(_TEXT_TRACEBACK),
                       True),
    "nofig": (_CELL.format("<pre>no figure</pre>"), True),
    "broken": (_CELL.format(_FIG.format("missing.png")), True),
    "nocolab": (_CELL.format(_FIG.format("fig.png")), False),
    "marker": (_CELL.format(_FIG.format("fig.png"))
               + '<div class="system-message"><p>Unknown directive type "foo".</p></div>', True),
    # the page's title pushed out to the left, as in the clipped screenshots of issue 20
    "offside": ("<style>h1 { margin-left: -120px; }</style>" + _CELL.format(_FIG.format("fig.png")),
                True),
}


@pytest.fixture(scope="module")
def fake_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    html = root / "_build" / "html"
    (html / "_images").mkdir(parents=True)
    (html / "notebooks").mkdir()
    (html / "book").mkdir()
    (root / "notebooks").mkdir()
    _png(html / "_images" / "fig.png")
    (html / "index.html").write_text(
        '<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (html / "book" / "intro.html").write_text(_page("Intro", "<p>Words only.</p>"))
    for stem, (body, colab) in PAGES.items():
        (html / "notebooks" / f"{stem}.html").write_text(
            _page(stem, body, COLAB.format(stem) if colab else None))
        (root / "notebooks" / f"{stem}.ipynb").write_text("{}")
    toc = "format: jb-book\nroot: book/intro\nchapters:\n" + "".join(
        f"  - file: notebooks/{s}\n" for s in [*PAGES, "absent"])
    (root / "_toc.yml").write_text(toc)
    (root / "notebooks" / "absent.ipynb").write_text("{}")
    (root / "_config.yml").write_text(
        "repository:\n  url: https://github.com/me/book\n  branch: main\n"
        "launch_buttons:\n  colab_url: https://colab.research.google.com\n")
    return root


def test_site_pages_follow_the_toc(fake_site):
    pages = sitecheck.site_pages(fake_site / "_build" / "html", fake_site / "_toc.yml")
    assert pages[0] == Page("book/intro", "book/intro.html", chapter=False)
    assert [p.html for p in pages[1:]] == [f"notebooks/{s}.html" for s in [*PAGES, "absent"]]
    assert all(p.chapter for p in pages[1:])


def test_site_pages_rejects_a_file_that_is_not_a_toc(tmp_path):
    (tmp_path / "_toc.yml").write_text("- just a list\n")
    with pytest.raises(ValueError, match="table of contents"):
        sitecheck.site_pages(tmp_path, tmp_path / "_toc.yml")


def _info(**kw):
    base = {"title": "T", "images": [{"src": "a.png", "width": 10, "height": 8, "in_output": True}],
            "links": [COLAB.format("x")]}
    return PageInfo(**{**base, **kw})


def test_page_rules_without_a_browser():
    ch = Page("notebooks/x", "notebooks/x.html", chapter=True)
    assert page_problems(ch, _info(), COLAB.format("x")) == []
    assert page_problems(ch, _info(status=404)) == ["HTTP status 404: the page did not load"]
    assert any("no figure" in p for p in page_problems(ch, _info(images=[])))
    assert any("did not load" in p for p in page_problems(
        ch, _info(images=[{"src": "b.png", "width": 0, "height": 0, "in_output": True}])))
    assert any("error output" in p for p in page_problems(ch, _info(errors=["traceback: E"])))
    assert any("console" in p for p in page_problems(ch, _info(console=["404 x.js"])))
    assert any("Colab" in p for p in page_problems(ch, _info(links=[]), COLAB.format("x")))
    assert any("no title" in p for p in page_problems(ch, _info(title=" ")))
    # a page that is not a chapter needs no figure and no launch button
    assert page_problems(Page("book/intro", "book/intro.html", False), _info(images=[], links=[]),
                         None) == []


def _box(left=20, right=600, top=100, bottom=160, **kw):
    return {"text": "What do deep networks learn about saliency?", "left": left, "right": right,
            "top": top, "bottom": bottom, "viewport_width": 1400, "viewport_height": 757,
            "scroll_x": 0, **kw}


def test_the_main_heading_must_be_inside_the_viewport():
    assert sitecheck.heading_problems(_box(), "window") == []
    assert sitecheck.heading_problems(_box(image_width=1400), "screenshot") == []
    cut = sitecheck.heading_problems(_box(left=-45), "screenshot")
    assert cut == [("main heading 'What do deep networks learn about saliency?' is cut at the side "
                    "in the screenshot: it spans x = -45 to 600 px, the viewport 0 to 1400 px")]
    assert "cut at the side" in sitecheck.heading_problems(_box(right=1500), "window")[0]
    assert "not fully visible" in sitecheck.heading_problems(_box(bottom=900), "window")[0]
    assert "not fully visible" in sitecheck.heading_problems(_box(top=-10), "window")[0]
    assert "scrolled sideways by 300 px" in sitecheck.heading_problems(_box(scroll_x=300),
                                                                       "window")[0]
    assert "1280 px wide" in sitecheck.heading_problems(_box(image_width=1280), "screenshot")[0]
    assert "capture is shifted" in sitecheck.heading_problems(_box(matches_window=False),
                                                             "screenshot")[0]
    assert sitecheck.heading_problems(_box(matches_window=True), "screenshot") == []
    assert sitecheck.heading_problems(None, "window") == [
        "no visible main heading (h1) in the window"]
    # the page rules apply them to both boxes; a page measured without a browser is not judged
    ch = Page("notebooks/x", "notebooks/x.html", chapter=True)
    assert page_problems(ch, _info(heading=_box(), heading_in_shot=_box())) == []
    problems = page_problems(ch, _info(heading=_box(), heading_in_shot=_box(left=-300)))
    assert len(problems) == 1 and "in the screenshot" in problems[0]
    assert any("no visible main heading" in p for p in page_problems(ch, _info(heading=None)))
    assert page_problems(ch, _info()) == []


def test_a_shifted_capture_is_told_from_the_window(tmp_path):
    """The pixel comparison behind 'matches_window': the same picture matches itself; the same
    picture moved 60 px to the left (the clipped screenshots of issue 20) does not."""
    rng = np.random.default_rng(0)
    page = rng.integers(0, 255, (300, 800), dtype=np.uint8)

    def png(a):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        return buf.getvalue()

    box = {"left": 100, "right": 500, "top": 50, "bottom": 120}
    assert sitecheck._same_pixels(png(page), png(page), box)
    shifted = np.roll(page, -60, axis=1)
    assert not sitecheck._same_pixels(png(page), png(shifted), box)
    taller = np.vstack([page, page])  # a full-page picture: same top, longer
    assert sitecheck._same_pixels(png(page), png(taller), box)


def test_console_messages_are_sorted():
    base = "http://127.0.0.1:8000"
    problems, notes, ignored = sitecheck.sort_console([
        f"{base}/favicon.ico - Failed to load resource: 404",
        (f"{base}/x.html 61:12 Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been "
         "declared"),
        "https://cdn.example.org/mathjax.js - Failed to load resource: net::ERR_NAME_NOT_RESOLVED",
        f"{base}/_images/fig.png - Failed to load resource: 404",
        f"{base}/x.html 3:1 Uncaught TypeError: x is undefined",
    ], base)
    assert len(ignored) == 2
    assert len(notes) == 1 and "cdn.example.org" in notes[0]
    assert [p.split(" ")[0] for p in problems] == [f"{base}/_images/fig.png", f"{base}/x.html"]


def test_missing_site_or_browser_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no built site"):
        sitecheck.check_site(tmp_path, tmp_path / "_toc.yml")
    (tmp_path / "index.html").write_text("x")
    monkeypatch.setattr(sitecheck, "find_chromium", lambda: None)
    with pytest.raises(FileNotFoundError, match="apt-get install -y chromium chromium-driver"):
        sitecheck.check_site(tmp_path, tmp_path / "_toc.yml")


needs_chromium = pytest.mark.skipif(
    sitecheck.find_chromium() is None,
    reason="headless Chromium not installed (apt-get install -y chromium chromium-driver)")


@pytest.fixture(scope="module")
def checked(fake_site):
    out = io.StringIO()
    shots = fake_site / "_build" / "screenshots"
    res = sitecheck.check_site(fake_site / "_build" / "html", fake_site / "_toc.yml",
                               fake_site / "_config.yml", shots, out=out)
    return res, out.getvalue(), shots


def _problems(checked, stem):
    return checked[0][f"notebooks/{stem}.html"]


@needs_chromium
def test_browser_passes_a_page_with_a_figure(checked):
    res, report, _ = checked
    assert res["book/intro.html"] == []
    assert _problems(checked, "good") == []
    assert "ok     notebooks/good.html" in report


@needs_chromium
@pytest.mark.parametrize("stem, expect", [
    ("traceback", "error output: traceback: ValueError: bad input"),
    ("stderr", "error output: stderr stream"),
    ("text_traceback", "traceback text in a cell output"),
    ("nofig", "chapter page shows no figure"),
    ("broken", "did not load: ../_images/missing.png"),
    ("nocolab", "no Colab launch button"),
    ("marker", "Sphinx/MyST problem marker: Unknown directive"),
    ("absent", "HTTP status 404"),
    ("offside", "main heading 'offside' is cut at the side in the window: it spans x = -"),
])
def test_browser_fails_a_bad_page(checked, stem, expect):
    problems = _problems(checked, stem)
    assert any(expect in p for p in problems), problems
    assert f"FAILED notebooks/{stem}.html" in checked[1]


@needs_chromium
def test_browser_saves_a_full_page_screenshot_per_page(checked):
    _, _, shots = checked
    for stem in ["good", "traceback", "nofig"]:
        png = shots / "notebooks" / f"{stem}.png"
        assert png.is_file()
        with Image.open(png) as im:
            w, h = im.size
            assert w >= 1000 and h > 100
            assert np.asarray(im.convert("L")).std() > 0  # not a blank picture
    assert (shots / "book" / "intro.png").is_file()


@needs_chromium
def test_browser_measures_the_heading_in_the_window_and_the_screenshot(checked):
    res = checked[0]
    assert res["book/intro.html"] == []  # measured, and inside: no problem
    offside = _problems(checked, "offside")
    assert any("in the window" in p for p in offside), offside
    assert any("in the screenshot" in p for p in offside), offside


@needs_chromium
def test_command_line_exit_status(fake_site, tmp_path, capsys):
    html = fake_site / "_build" / "html"
    rc = sitecheck.main(["--html", str(html), "--toc", str(fake_site / "_toc.yml"),
                         "--config", str(fake_site / "_config.yml"),
                         "--screenshots", str(tmp_path / "s")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "site check FAILED on 9 page(s)" in err
    good = tmp_path / "_toc.yml"
    good.write_text("format: jb-book\nroot: book/intro\n"
                    "chapters:\n  - file: notebooks/good.ipynb\n")
    rc = sitecheck.main(["--html", str(html), "--toc", str(good),
                         "--config", str(fake_site / "_config.yml"),
                         "--screenshots", str(tmp_path / "s2")])
    assert rc == 0
    assert (tmp_path / "s2" / "notebooks" / "good.png").is_file()


def _jb_notebook(path, outputs_per_cell):
    import base64

    import nbformat

    buf = io.BytesIO()
    Image.fromarray(np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))).save(buf, format="PNG")
    png = base64.b64encode(buf.getvalue()).decode()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}")]
    for outputs in outputs_per_cell:
        c = nbformat.v4.new_code_cell("pass")
        c.outputs = [nbformat.v4.new_output("display_data",
                                            data={"image/png": png, "text/plain": "<Figure>"})
                     if o == "figure" else o for o in outputs]
        nb.cells.append(c)
    nbformat.write(nb, path)


@needs_chromium
@pytest.mark.slow
def test_real_jupyter_book_build(tmp_path):
    """The check against what Jupyter Book 1.x / myst-nb really render (not hand-written HTML):
    a clean chapter passes; tracebacks, stderr and a missing figure are caught; the Colab launch
    button is where the config says."""
    import nbformat

    from saliency_utils.book.pipeline import render

    root, executed = tmp_path / "src", tmp_path / "executed"
    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    executed.mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n\nWords.\n")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/clean\n"
        "  - file: notebooks/broken\n  - file: notebooks/nofig\n")
    (root / "_config.yml").write_text(
        "title: t\nexecute:\n  execute_notebooks: 'off'\nonly_build_toc_files: true\n"
        "repository:\n  url: https://github.com/me/book\n  branch: main\n"
        "launch_buttons:\n  colab_url: https://colab.research.google.com\n")
    err = nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                 traceback=["ZeroDivisionError  Traceback (most recent call last)",
                                            "ZeroDivisionError: division by zero"])
    warn = nbformat.v4.new_output("stream", name="stderr", text="x.py:1: UserWarning: careful\n")
    text = nbformat.v4.new_output("stream", name="stdout", text="all good\n")
    for name, cells in {"clean": [["figure"], [text]], "broken": [["figure"], [err], [warn]],
                        "nofig": [[text]]}.items():
        _jb_notebook(executed / f"{name}.ipynb", cells)
        (root / "notebooks" / f"{name}.ipynb").write_text("{}")
    assert render(executed, tmp_path / "out", root=root) == 0
    res = sitecheck.check_site(tmp_path / "out" / "html", root / "_toc.yml",
                               root / "_config.yml", tmp_path / "shots", out=io.StringIO())
    assert res["book/intro.html"] == [] and res["notebooks/clean.html"] == []
    broken = res["notebooks/broken.html"]
    assert any("traceback: ZeroDivisionError: division by zero" in p for p in broken), broken
    assert any("stderr stream: x.py:1: UserWarning: careful" in p for p in broken), broken
    assert any("no figure" in p for p in res["notebooks/nofig.html"])
    assert (tmp_path / "shots" / "notebooks" / "clean.png").is_file()
