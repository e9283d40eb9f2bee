"""Test the rendered book in a real browser: headless Chromium loads every page of the built site.

``python -m saliency_utils.book.sitecheck --html _build/html`` serves the site on 127.0.0.1 (a local
``http.server`` in a thread), opens each page listed in ``_toc.yml`` in headless Chromium (driven
by Selenium through Debian's ``chromedriver``), saves a full-page screenshot per page under
``--screenshots`` (default ``<html>/../screenshots``) and checks that

* the page loads (HTTP 200, a title, no severe browser-console error such as a missing file);
* every image in the page body decoded to a non-zero natural size (no broken figure);
* each chapter page (a notebook in ``_toc.yml``) shows at least one figure from its cells;
* no cell output is an error: no traceback (``.output.traceback``/``.output.error``), no stderr
  stream (warnings), no "Traceback (most recent call last)" text in an output, and no
  Sphinx/MyST error marker (``.system-message``, ``.problematic``);
* if ``_config.yml`` configures Colab launch buttons, each chapter page links to
  ``<colab_url>/github/<owner>/<repo>/blob/<branch>/<path_to_book>/<notebook>.ipynb``;
* the page's main heading (its first visible ``<h1>``) is fully inside the viewport, both in the
  window as the page opens (``--width`` CSS pixels wide, 1400 by default) and in the full-page
  screenshot, and the screenshot shows it with the same pixels as the window does
  (:func:`heading_problems`).

The full-page screenshot is what a reader sees, top to bottom: the window is made as tall as the
page (``Emulation.setDeviceMetricsOverride``, as Puppeteer's ``fullPage`` does), the page is laid
out again at the same width, and the viewport is captured. (Capturing a clip "beyond the viewport"
instead, as this check first did, gave pictures shifted to the left on long pages: the sidebar
and the start of the title were missing although the page itself was laid out correctly.)

It prints one line per page and exits 1 with every problem listed when any page fails (2 when the
site or the browser is missing). The checks of one page are a pure function of what the browser
reports (:func:`page_problems`), so they are unit-tested without a browser too.

Chromium: Debian's ``chromium`` and ``chromium-driver`` packages (``apt-get install -y chromium
chromium-driver``); ``CHROMIUM`` / ``CHROMEDRIVER`` override the binaries' paths.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Page",
    "PageInfo",
    "check_site",
    "expected_colab_url",
    "find_chromium",
    "heading_problems",
    "main",
    "page_problems",
    "site_pages",
    "sort_console",
]

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_DRIVER_NAMES = ("chromedriver",)
_DRIVER_DIRS = ("/usr/bin", "/usr/lib/chromium")


def find_chromium() -> tuple[str, str] | None:
    """``(browser, chromedriver)`` paths, or ``None`` when either is missing."""
    browser = os.environ.get("CHROMIUM") or next(
        (p for p in map(shutil.which, _CHROMIUM_NAMES) if p), None)
    driver = os.environ.get("CHROMEDRIVER") or next(
        (p for p in map(shutil.which, _DRIVER_NAMES) if p), None)
    if driver is None:
        driver = next((str(Path(d) / n) for d in _DRIVER_DIRS for n in _DRIVER_NAMES
                       if (Path(d) / n).is_file()), None)
    if not browser or not driver or not Path(browser).exists() or not Path(driver).exists():
        return None
    return browser, driver


@dataclass
class Page:
    """One page of the book: its source (as in ``_toc.yml``), its HTML path and whether it is a
    chapter (a notebook, which must show figures)."""
    source: str
    html: str
    chapter: bool


def site_pages(html_dir: Path, toc: Path) -> list[Page]:
    """The pages of ``_toc.yml`` in order; a page is a chapter when its source is a notebook
    next to ``_toc.yml`` (or named ``.ipynb`` in the toc)."""
    import yaml

    from saliency_utils.book.pipeline import toc_page_files

    toc = Path(toc)
    spec = yaml.safe_load(toc.read_text())
    if not isinstance(spec, dict) or "root" not in spec:
        raise ValueError(f"{toc} is not a Jupyter Book table of contents (no 'root')")
    files = toc_page_files(spec)
    pages = []
    for f in files:
        stem = str(Path(f).with_suffix("")) if Path(f).suffix in (".ipynb", ".md") else str(f)
        chapter = Path(f).suffix == ".ipynb" or (toc.parent / f"{stem}.ipynb").is_file()
        pages.append(Page(source=f, html=f"{stem}.html", chapter=chapter))
    return pages


def expected_colab_url(config: Path, notebook_stem: str) -> str | None:
    """The Colab launch URL Jupyter Book (sphinx-book-theme) makes for a notebook page, from
    ``_config.yml``; ``None`` when Colab launch buttons are not configured."""
    import yaml

    cfg = yaml.safe_load(Path(config).read_text()) or {}
    colab = (cfg.get("launch_buttons") or {}).get("colab_url")
    repo = cfg.get("repository") or {}
    if not colab or not repo.get("url"):
        return None
    org_repo = repo["url"].rstrip("/").split("github.com/")[-1]
    book_path = (repo.get("path_to_book") or "").strip("/")
    path = f"{book_path}/{notebook_stem}.ipynb" if book_path else f"{notebook_stem}.ipynb"
    return f"{colab.rstrip('/')}/github/{org_repo}/blob/{repo.get('branch', 'main')}/{path}"


@dataclass
class PageInfo:
    """What the browser saw on one page (filled in by :func:`_inspect`)."""
    status: int = 200
    title: str = ""
    images: list[dict] = field(default_factory=list)   # src, width, height, in_output
    errors: list[str] = field(default_factory=list)    # error outputs / markers, as text
    console: list[str] = field(default_factory=list)   # severe browser-console messages
    notes: list[str] = field(default_factory=list)     # not failures: external resources that
                                                       # failed offline, a cut screenshot
    links: list[str] = field(default_factory=list)     # every <a href> of the page
    # the main heading's box in the window as the page opens, and in the full-page screenshot
    # (see _HEADING_JS); None: no visible <h1>. Missing keys: not measured (no browser).
    heading: dict | None = field(default_factory=lambda: {"unmeasured": True})
    heading_in_shot: dict | None = field(default_factory=lambda: {"unmeasured": True})


def heading_problems(heading: dict | None, where: str) -> list[str]:
    """Problems with the main heading's box ``heading`` (viewport CSS pixels: ``left``,
    ``right``, ``top``, ``bottom``, ``viewport_width``, ``viewport_height``, ``text``) as seen
    ``where`` ("window" or "screenshot"): it must exist and lie fully inside the viewport."""
    if heading is not None and heading.get("unmeasured"):
        return []
    if heading is None:
        return [f"no visible main heading (h1) in the {where}"]
    w, h = heading["viewport_width"], heading["viewport_height"]
    text = heading.get("text", "")
    out = []
    if heading["left"] < 0 or heading["right"] > w:
        out.append(f"main heading '{text}' is cut at the side in the {where}: it spans "
                   f"x = {heading['left']:.0f} to {heading['right']:.0f} px, the viewport "
                   f"0 to {w:.0f} px")
    if heading["top"] < 0 or heading["bottom"] > h:
        out.append(f"main heading '{text}' is not fully visible in the {where}: it spans "
                   f"y = {heading['top']:.0f} to {heading['bottom']:.0f} px, the viewport "
                   f"0 to {h:.0f} px")
    if heading.get("scroll_x", 0):
        out.append(f"the {where} is scrolled sideways by {heading['scroll_x']:.0f} px")
    if heading.get("matches_window") is False:
        out.append(f"the {where} does not show the main heading '{text}' where the window "
                   "shows it (the capture is shifted or clipped)")
    if heading.get("image_width") not in (None, w):
        out.append(f"the {where} is {heading['image_width']} px wide, the page "
                   f"{w:.0f} px")
    return out


def page_problems(page: Page, info: PageInfo, colab_url: str | None = None) -> list[str]:
    """Everything wrong with one page, as readable sentences (empty: the page passes)."""
    problems = []
    if info.status != 200:
        return [f"HTTP status {info.status}: the page did not load"]
    if not info.title.strip():
        problems.append("the page has no title (did it render?)")
    broken = [im["src"] for im in info.images if not (im["width"] > 0 and im["height"] > 0)]
    if broken:
        problems.append(f"{len(broken)} image(s) did not load: {', '.join(broken[:5])}")
    if page.chapter:
        figures = [im for im in info.images if im["in_output"] and im["width"] > 0]
        if not figures:
            problems.append("chapter page shows no figure from its cells")
        if colab_url and colab_url not in info.links:
            colab = [h for h in info.links if "colab" in h]
            problems.append(f"no Colab launch button to {colab_url}"
                            + (f" (found {', '.join(colab)})" if colab else ""))
    problems += heading_problems(info.heading, "window")
    problems += heading_problems(info.heading_in_shot, "screenshot")
    problems += [f"error output: {e}" for e in info.errors]
    problems += [f"browser console: {c}" for c in info.console]
    return problems


# Runs in the page: collects images, error outputs and links. Error markers are the classes
# myst-nb gives an error output (``output traceback``), a stderr stream (``output stderr``) and
# docutils/Sphinx problems (``system-message``, ``problematic``).
_INSPECT_JS = r"""
const main = document.querySelector('main') || document.body;
const images = Array.from(main.querySelectorAll('img')).map(im => ({
  src: im.getAttribute('src') || '',
  width: im.naturalWidth, height: im.naturalHeight,
  in_output: !!im.closest('.cell_output, .output, figure, .figure'),
}));
const errors = [];
const all = el => (el.innerText || el.textContent || '').trim();
const text = el => all(el).split('\n').slice(-1)[0].slice(0, 200);
for (const el of main.querySelectorAll('.output.traceback, .output.error, .output.stderr')) {
  const kind = el.classList.contains('stderr') ? 'stderr stream' : 'traceback';
  errors.push(kind + ': ' + text(el));
}
for (const el of main.querySelectorAll('.cell_output')) {
  if ((el.innerText || '').includes('Traceback (most recent call last)')
      && !el.querySelector('.output.traceback, .output.error, .output.stderr'))
    errors.push('traceback text in a cell output: ' + text(el));
}
for (const el of main.querySelectorAll('.system-message, .problematic'))
  errors.push('Sphinx/MyST problem marker: ' + all(el).slice(0, 200));
const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
return {title: document.title, images: images, errors: errors, links: links};
"""

# The main heading: the first visible <h1> of the article (Jupyter Book also writes a print-only
# copy of the title, hidden on screen), its box in viewport coordinates.
_HEADING_JS = r"""
const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
const h = Array.from(document.querySelectorAll('article h1, main h1, h1')).find(visible);
if (!h) return null;
const r = h.getBoundingClientRect();
const text = (h.innerText || h.textContent || '').replace(/#\s*$/, '').trim().slice(0, 120);
return {text: text, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
        viewport_width: document.documentElement.clientWidth,
        viewport_height: window.innerHeight, scroll_x: window.scrollX};
"""

# Wait (in the page) until every image has finished loading or failing.
_WAIT_IMAGES_JS = "return Array.from(document.images).every(im => im.complete);"


# Browser-console messages that are not the book's fault, each with why it is harmless.
KNOWN_CONSOLE_NOISE = {
    "/favicon.ico": "the browser asks every site for a favicon; the book has none",
    "Identifier 'THEBE_JS_URL' has already been declared":
        "sphinx-thebe (Jupyter Book 1.x) writes its settings script twice into every page; "
        "thebe (live code) is not used by this book",
    "Got invalid theme mode": "pydata-sphinx-theme logs this on a first visit (no stored mode)",
}


def sort_console(messages, local_base: str) -> tuple[list[str], list[str], list[str]]:
    """Split severe console messages into (problems, notes, ignored).

    Known harmless theme messages (:data:`KNOWN_CONSOLE_NOISE`) are ignored; a resource that
    failed to load from outside the local site (a CDN, unreachable offline) is a note; every
    other message (a local file missing, a JavaScript error) is a problem."""
    problems, notes, ignored = [], [], []
    for m in messages:
        if any(k in m for k in KNOWN_CONSOLE_NOISE):
            ignored.append(m)
        elif m.startswith(("http://", "https://")) and not m.startswith(local_base):
            notes.append(f"external resource failed (offline?): {m}")
        else:
            problems.append(m)
    return problems, notes, ignored


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the browser may drop a connection
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the report readable
        pass


@contextlib.contextmanager
def _serve(directory: Path):
    """A static file server for ``directory`` on 127.0.0.1 (a free port) in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _driver(browser: str, chromedriver: str, width: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1", "--mute-audio",
                "--no-first-run", "--disable-extensions", f"--window-size={width},900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingOptions", {"browser": "ALL"})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(executable_path=chromedriver))


def _http_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _inspect(driver, url: str, base: str, shot: Path | None, timeout: float = 60.0) -> PageInfo:
    status = _http_status(url)
    if status != 200:
        return PageInfo(status=status)
    driver.get(url)  # returns after the load event
    t0 = time.monotonic()
    while not driver.execute_script(_WAIT_IMAGES_JS) and time.monotonic() - t0 < timeout:
        time.sleep(0.2)
    got = driver.execute_script(_INSPECT_JS)
    heading = driver.execute_script(_HEADING_JS)
    console, notes, _ = sort_console(
        [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"], base)
    in_shot = {"unmeasured": True}
    if shot is not None:
        window_png = driver.get_screenshot_as_png()  # what a reader sees on opening the page
        in_shot, cut = _full_page_screenshot(driver, shot)
        if in_shot is not None and heading is not None:
            in_shot["matches_window"] = _same_pixels(window_png, shot.read_bytes(), heading)
        if cut:
            notes.append(f"screenshot {shot} cut at its maximum height")
    return PageInfo(status=status, title=got["title"], images=got["images"],
                    errors=got["errors"], console=console, notes=notes, links=got["links"],
                    heading=heading, heading_in_shot=in_shot)


def _same_pixels(png_a: bytes, png_b: bytes, box: dict, tolerance: float = 8.0) -> bool:
    """Whether two screenshots show the same pixels inside ``box`` (CSS pixels at scale 1:
    ``left``, ``top``, ``right``, ``bottom``): mean absolute grey difference ``<= tolerance``."""
    import io

    import numpy as np
    from PIL import Image

    crops = []
    for png in (png_a, png_b):
        with Image.open(io.BytesIO(png)) as im:
            w, h = im.size
            x0, y0 = max(0, int(box["left"])), max(0, int(box["top"]))
            x1, y1 = min(w, int(box["right"] + 0.999)), min(h, int(box["bottom"] + 0.999))
            if x1 <= x0 or y1 <= y0:
                return False
            crops.append(np.asarray(im.convert("L").crop((x0, y0, x1, y1)), dtype=float))
    if crops[0].shape != crops[1].shape:
        return False
    return float(np.abs(crops[0] - crops[1]).mean()) <= tolerance


def _full_page_screenshot(driver, path: Path, max_height: int = 60000) -> tuple[dict | None,
                                                                                bool]:
    """A screenshot of the whole page as a reader sees it: the viewport is made as tall as the
    page (same width), the page laid out again, and the viewport captured; pages taller than
    ``max_height`` CSS pixels are cut there. Returns (the main heading's box while the picture
    was taken, with the picture's width as ``image_width``; whether the picture was cut)."""
    import base64
    import io

    from PIL import Image

    width, height = driver.execute_script(
        "return [document.documentElement.clientWidth, "
        "Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)];")
    tall = min(int(height), max_height)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": int(width), "height": tall, "deviceScaleFactor": 1,
                            "mobile": False})
    try:
        driver.execute_script("window.scrollTo(0, 0);")
        # the page is laid out again for the tall viewport (sticky sidebars, lazy images)
        t0 = time.monotonic()
        while not driver.execute_script(_WAIT_IMAGES_JS) and time.monotonic() - t0 < 30:
            time.sleep(0.2)
        driver.execute_script("return new Promise(r => requestAnimationFrame(() => "
                              "requestAnimationFrame(r)));")
        heading = driver.execute_script(_HEADING_JS)
        png = base64.b64decode(driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "fromSurface": True})["data"])
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    with Image.open(io.BytesIO(png)) as im:
        if heading is not None:
            heading["image_width"] = im.size[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return heading, height > max_height


def check_site(html_dir: Path, toc: Path, config: Path | None = None,
               screenshots: Path | None = None, width: int = 1400,
               out=sys.stdout) -> dict[str, list[str]]:
    """Load every page of ``_toc.yml`` from the built site in headless Chromium; return
    ``{page html path: [problems]}`` (a page with no problem maps to an empty list)."""
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        raise FileNotFoundError(f"no built site at {html_dir} (index.html missing): "
                                f"render the book first")
    found = find_chromium()
    if found is None:
        raise FileNotFoundError("headless Chromium not found: install Debian's packages "
                                "(apt-get install -y chromium chromium-driver) or set CHROMIUM "
                                "and CHROMEDRIVER")
    pages = site_pages(html_dir, toc)
    results = {}
    with _serve(html_dir) as base:
        driver = _driver(*found, width=width)
        try:
            for page in pages:
                t0 = time.perf_counter()
                shot = (Path(screenshots) / page.html).with_suffix(".png") if screenshots else None
                info = _inspect(driver, f"{base}/{page.html}", base, shot)
                colab = (expected_colab_url(config, str(Path(page.source).with_suffix("")))
                         if config and page.chapter else None)
                problems = page_problems(page, info, colab)
                results[page.html] = problems
                n_fig = sum(im["in_output"] and im["width"] > 0 for im in info.images)
                print(f"{'ok' if not problems else 'FAILED':<6} {page.html:<44} "
                      f"{n_fig:3d} figures {time.perf_counter() - t0:6.1f} s"
                      + (f"  -> {shot}" if shot else ""), file=out, flush=True)
                for p in problems:
                    print(f"       - {p}", file=out, flush=True)
                for n in info.notes:
                    print(f"       note (not counted): {n}", file=out, flush=True)
        finally:
            driver.quit()
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m saliency_utils.book.sitecheck",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--html", type=Path, default=Path("_build/html"), help="the built site")
    p.add_argument("--toc", type=Path, default=Path("_toc.yml"))
    p.add_argument("--config", type=Path, default=Path("_config.yml"),
                   help="Jupyter Book config (for the Colab launch-button check)")
    p.add_argument("--screenshots", type=Path, default=None,
                   help="folder for one full-page PNG per page (default: <html>/../screenshots)")
    p.add_argument("--width", type=int, default=1400,
                   help="window width in CSS pixels (default 1400)")
    args = p.parse_args(argv)
    shots = args.screenshots or args.html.resolve().parent / "screenshots"
    try:
        results = check_site(args.html, args.toc, args.config if args.config.is_file() else None,
                             shots, width=args.width)
    except FileNotFoundError as err:
        print(f"site check: {err}", file=sys.stderr)
        return 2
    bad = {k: v for k, v in results.items() if v}
    print(f"site check: {len(results) - len(bad)} of {len(results)} page(s) ok; "
          f"screenshots in {shots}", flush=True)
    if bad:
        print(f"site check FAILED on {len(bad)} page(s): {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
