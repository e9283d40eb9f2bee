"""Headless book pipeline: execute every chapter with papermill, render with Jupyter Book 1.x.

``python -m saliency_utils execute --profile smoke --out _build/executed/smoke`` runs every
chapter listed in ``_toc.yml`` (in order) with the profile injected into its ``parameters`` cell,
printing one line per chapter with its wall time. A failing cell names the chapter and the cell
and makes the command fail (the other chapters still run, so one report shows every failure).

Before the chapters, the trained models they share are made once each
(:func:`saliency_utils.book.models.train_models`, progress printed). A chapter then re-executes
only when something it depends on changed: its executed notebook is kept in an execution cache
(:mod:`saliency_utils.book.buildcache`, default ``<out>/.cache``) under a key of its notebook, the
package modules it imports, its profile settings, its data, the checkpoints of its models, the
profile and the lock file; a hit copies the stored notebook, a miss executes it (the log says
which dependency changed) and stores it. ``--force`` re-executes every chapter.

``python -m saliency_utils render --executed _build/executed/smoke --out _build`` stages the book
sources with the executed notebooks in place of the committed (output-free) ones and builds the
static HTML into ``<out>/html`` (open ``<out>/html/index.html``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["project_root", "toc_page_files", "chapters", "execute", "render", "scorecard_markdown",
           "SCORECARD_MARKER"]

#: The line of ``book/intro.md`` that :func:`render` replaces with the scorecard table.
SCORECARD_MARKER = "<!-- scorecard -->"


def project_root() -> Path:
    """The checkout holding ``_toc.yml`` (the parent of the package folder)."""
    return Path(__file__).resolve().parents[2]


def _toc_files(entries) -> list[str]:
    files = []
    for e in entries or []:
        if isinstance(e, dict):
            if "file" in e:
                files.append(e["file"])
            for key in ("parts", "chapters", "sections"):
                files.extend(_toc_files(e.get(key)))
    return files


def toc_page_files(spec: dict) -> list[str]:
    """Every page file of a parsed ``_toc.yml`` (the root first, then parts, chapters and
    sections in order), as written in the toc (suffix optional)."""
    return [spec["root"]] + _toc_files(spec.get("parts") or spec.get("chapters") or [])


def chapters(root: Path | None = None) -> list[Path]:
    """The chapter notebooks, in ``_toc.yml`` order (paths relative to ``root``)."""
    import yaml

    root = Path(root or project_root())
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = toc_page_files(toc)
    out = []
    for f in files:
        p = Path(f)
        if p.suffix == "":
            p = p.with_suffix(".ipynb")
        if p.suffix == ".ipynb" and (root / p).is_file():
            out.append(p)
    return out


def _describe_failure(err) -> str:
    where = f"cell {err.cell_index}" if getattr(err, "cell_index", None) is not None else "a cell"
    if getattr(err, "exec_count", None) is not None:
        where += f" (execution count {err.exec_count})"
    first = (getattr(err, "source", "") or "").strip().splitlines()
    src = f" starting `{first[0][:80]}`" if first else ""
    return f"{where}{src}: {err.ename}: {str(err.evalue)[:300]}"


def _count_figures(path: Path) -> int:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))


def execute(profile: str, out: Path, only: list[str] | None = None, root: Path | None = None,
            timeout: int = 3600, force: bool = False, cache: Path | None = None,
            models: bool = True, log_output: bool = False) -> int:
    """Run the chapters (cached ones are copied from ``cache``, default ``<out>/.cache``;
    ``force``: execute all); first train the models they share (``models=False``: skip that
    step). ``log_output``: show what the chapters print (their own progress lines) while they
    run. Return the number of failed chapters."""
    import papermill as pm

    from saliency_utils.book.profiles import PROFILES

    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    root = Path(root or project_root())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = chapters(root)
    if only:
        todo = [c for c in todo if c.stem in only or str(c) in only]
        if not todo:
            raise SystemExit(f"no chapter matches {only}")
    # The kernel inherits the environment: figures must go to the notebook, not to Agg.
    old_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        model_report = {}
        if models:
            from saliency_utils.book.models import train_models

            t0 = time.perf_counter()
            model_report = train_models(profile, [c.stem for c in todo])
            print(f"models ready in {time.perf_counter() - t0:.1f} s", flush=True)
        cache = Path(cache) if cache is not None else out / ".cache"
        if log_output:
            import logging

            logging.basicConfig(format="    %(message)s")
            logging.getLogger("papermill").setLevel(logging.INFO)
        return _execute_all(todo, root, out, profile, timeout, pm, cache=cache, force=force,
                            model_report=model_report, log_output=log_output)
    finally:
        if old_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = old_backend


def _strip_widget_state(path: Path) -> bool:
    """Drop the saved ipywidgets state of an executed notebook (returns whether there was
    any). The explorers' widgets work only with a live kernel; their cells' outputs are
    removed from the pages (``remove-output``), and without saved state no page loads the
    widget manager from a CDN, which fails offline."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if "widgets" not in nb.metadata:
        return False
    del nb.metadata["widgets"]
    nbformat.write(nb, path)
    return True


def _execute_all(todo, root, out, profile, timeout, pm, cache: Path, force: bool = False,
                 model_report: dict | None = None, log_output: bool = False) -> int:
    from saliency_utils.book import buildcache

    timings, failures = {}, []
    print(f"executing {len(todo)} chapter(s), profile '{profile}', into {out} "
          f"(execution cache {cache}{', forced' if force else ''})", flush=True)
    for i, nb in enumerate(todo, 1):
        dest = out / nb.name
        t0 = time.perf_counter()
        try:
            components = buildcache.chapter_components(root / nb, profile, root)
        except (ValueError, SyntaxError, OSError) as err:  # e.g. unparsable code: run it,
            # and let the cell report the error
            components = None
            entry, why = None, f"no cache key: {type(err).__name__}: {str(err)[:200]}"
        if components is not None:
            entry, why = ((None, "forced") if force
                          else buildcache.lookup(cache, nb, components))
        ran = None
        if entry is not None:
            try:  # the stored outputs among the current text cells
                buildcache.restore(entry, dest, root / nb)
                status, ran = "cached", entry.read().get("seconds")
                n_fig = _count_figures(dest)
            except ValueError as err:
                entry, why = None, f"stored execution unusable: {err}"
        if entry is None:
            print(f"[{i}/{len(todo)}] {nb.stem:<32} running ({why})", flush=True)
            try:
                pm.execute_notebook(str(root / nb), str(dest), parameters={"profile": profile},
                                    kernel_name="python3", cwd=str(root / nb.parent),
                                    progress_bar=False, log_output=log_output,
                                    execution_timeout=timeout)
                _strip_widget_state(dest)
                status = "ok"
                n_fig = _count_figures(dest)
                if components is not None:
                    buildcache.store(cache, nb, components, dest, time.perf_counter() - t0)
            except pm.PapermillExecutionError as e:
                n_fig = 0
                status = "FAILED"
                failures.append(f"{nb}: {_describe_failure(e)}")
        dt = time.perf_counter() - t0
        timings[nb.stem] = {"seconds": round(dt, 2), "status": status, "figures": n_fig,
                            "key": components and buildcache.cache_key(components)}
        if entry is None:
            timings[nb.stem]["why"] = why
        if ran is not None:
            timings[nb.stem]["executed_seconds"] = ran
        note = f"  (hit; executed in {ran:.1f} s)" if ran is not None else ""
        print(f"[{i}/{len(todo)}] {nb.stem:<32} {status:<6} {dt:8.1f} s  {n_fig:3d} figures"
              + note, flush=True)
    (out / "timings.json").write_text(json.dumps({"profile": profile, "chapters": timings,
                                                 "models": model_report or {}}, indent=2))
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr, flush=True)
    return len(failures)


_BOOK_SOURCES = ("_config.yml", "_toc.yml", "book", "references.bib")


def _glue_values(nb) -> dict[str, str]:
    """Glue name -> its plain-text value, for every value a notebook glued."""
    out = {}
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for o in c.get("outputs", []):
            sb = o.get("metadata", {}).get("scrapbook", {})
            if sb.get("name"):
                data = o.get("data", {})
                text = data.get(sb.get("mime_prefix", "") + "text/plain", data.get("text/plain", ""))
                out[sb["name"]] = "".join(text) if isinstance(text, list) else str(text)
    return out


#: Scorecard columns: heading and the glue key of each verdict's cell.
SCORECARD_COLUMNS = (("claim", "claim"), ("verdict", "verdict"), ("estimate [CI]", "estimate"),
                     ("n", "n"), ("power", "power"), ("rule", "rule"))


def scorecard_markdown(executed: Path, notebooks: list[Path], page_dir: str = "book") -> str:
    """The reproducibility scorecard: one table row per verdict that an executed chapter glued
    with :func:`saliency_utils.claims.glue_verdicts` (keys ``<prefix>_<what>_<i>`` for
    ``what`` in id, claim, verdict, estimate, n, power, rule, and ``<prefix>_network``). Every
    cell is a ``{glue:}`` reference into the chapter, so the table shows exactly what the
    chapter computed; the last column links to the chapter section of the claim (its MyST
    label in the claims registry). Chapters that glued no verdicts are left out. ``page_dir``:
    folder of the page the table goes into (glue paths are relative to it)."""
    import re

    import nbformat

    from saliency_utils import claims

    heads = [h for h, _ in SCORECARD_COLUMNS]
    rows = ["| ch. | " + " | ".join(heads) + " | section |",
            "|---" * (len(heads) + 2) + "|"]
    nets = []
    for number, nb_path in enumerate(notebooks, 1):
        run = Path(executed) / nb_path.name
        if not run.is_file():
            continue
        nb = nbformat.read(run, as_version=4)
        title = next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("#")), nb_path.stem)
        values = _glue_values(nb)
        found = sorted({(m.group(1), int(m.group(2))) for k in values
                        if (m := re.fullmatch(r"(\w+?)_verdict_(\d+)", k))}, key=lambda t: t[1])
        if not found:
            continue
        rel = os.path.relpath(nb_path.as_posix(), page_dir).replace(os.sep, "/")
        for prefix, i in found:
            cells = [f"{{glue:}}`{rel}::{prefix}_{key}_{i}`" for _, key in SCORECARD_COLUMNS]
            claim_id = values.get(f"{prefix}_id_{i}", "").strip()
            label = claims.REGISTRY[claim_id].label if claim_id in claims.REGISTRY else ""
            section = f"{{ref}}`§ <{label}>`" if label else ""
            rows.append(f"| [{number}]({rel}) | " + " | ".join(cells) + f" | {section} |")
        if f"{found[0][0]}_network" in values:
            nets.append(f"* [{title}]({rel}): {{glue:}}`{rel}::{found[0][0]}_network`")
    out = "\n".join(rows) + "\n"
    if nets:
        out += "\nNetworks and data behind the numbers:\n\n" + "\n".join(nets) + "\n"
    return out


def _show_run_parameters(path: Path) -> bool:
    """Show a page's parameters once, as the run used them: papermill keeps the notebook's
    ``parameters`` cell (its defaults) and adds an ``injected-parameters`` cell after it with
    the values of the run; on the page the defaults cell is removed (``remove-cell``) and the
    injected one says that it holds the values this page was executed with. Returns whether
    the notebook had an injected cell (the staged copy is changed in place)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    if not any("injected-parameters" in t for t in tags):
        return False
    for cell, t in zip(nb.cells, tags):
        if "parameters" in t and "injected-parameters" not in t:
            cell.metadata["tags"] = sorted(t | {"remove-cell"})
        elif "injected-parameters" in t:
            cell.source = cell.source.replace(
                "# Parameters", "# Parameters this page was executed with (papermill)", 1)
    nbformat.write(nb, path)
    return True


def render(executed: Path, out: Path, root: Path | None = None) -> int:
    """Build the HTML book from executed notebooks; return the Jupyter Book exit code."""
    root = Path(root or project_root())
    executed, out = Path(executed), Path(out)
    stage = out / "site-src"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in _BOOK_SOURCES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, stage / name)
        elif src.is_file():
            shutil.copy2(src, stage / name)
    missing = []
    for nb in chapters(root):
        run = executed / nb.name
        if not run.is_file():
            missing.append(str(nb))
            continue
        (stage / nb.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy2(run, stage / nb)
        _show_run_parameters(stage / nb)
    if missing:
        print(f"not executed (run `make chapters` first): {', '.join(missing)}", file=sys.stderr)
        return 2
    intro = stage / "book" / "intro.md"
    if intro.is_file() and SCORECARD_MARKER in intro.read_text():
        card = scorecard_markdown(executed, chapters(root), page_dir="book")
        intro.write_text(intro.read_text().replace(SCORECARD_MARKER, card))
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(stage), "-W", "-n",
           "--keep-going"]
    print("rendering:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    html = out / "html"
    if rc == 0:
        if html.exists():
            shutil.rmtree(html)
        shutil.move(str(stage / "_build" / "html"), str(html))
        html = html / "index.html"
    print(f"render {'ok' if rc == 0 else 'FAILED'} in {time.perf_counter() - t0:.1f} s"
          + (f": {html}" if rc == 0 else ""), flush=True)
    return rc
