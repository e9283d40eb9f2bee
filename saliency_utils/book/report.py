"""Reporting helpers for chapters: glue numbers into the book and format tables (verdicts are
glued by :func:`saliency_utils.claims.glue_verdicts`).

``glue`` stores a value under a key with myst-nb so other pages (the intro's scorecard) can cite
the number the chapter computed; outside Jupyter Book (Colab, plain Jupyter) it only returns the
value.

**Random weights.** A chapter's second cell calls :func:`weights_banner` with its profile. With
random weights (the ``paper-smoke`` profile) it shows "random weights: code path only" at the
top of the page and sets :data:`CODE_PATH_ONLY` for the rest of the run: every matplotlib figure
then carries the label (a ``figure.hooks`` entry), and the package's captions
(:func:`saliency_utils.book.plotting.caption`), tables (:func:`mean_table`) and verdicts
(:func:`saliency_utils.claims.show`, :func:`~saliency_utils.claims.glue_verdicts`) say it too
(:func:`mark`).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterable, Mapping

import numpy as np

from saliency_utils.models.backbones import RANDOM_WEIGHTS_LABEL

__all__ = ["glue", "mean_table", "Text", "weights_banner", "set_code_path_only", "mark",
           "CODE_PATH_ONLY", "RANDOM_WEIGHTS_LABEL", "Timings"]

#: True while the running chapter uses random weights (set by :func:`weights_banner`).
CODE_PATH_ONLY = False
_FIGURE_HOOK = "saliency_utils.book.report:_mark_figure"


def _mark_figure(fig) -> None:
    """matplotlib ``figure.hooks`` entry: the random-weights label in the figure's top left."""
    fig.text(0.005, 0.998, RANDOM_WEIGHTS_LABEL, ha="left", va="top", fontsize=9,
             color="crimson", weight="bold", zorder=10)


def set_code_path_only(flag: bool) -> None:
    """Turn the random-weights labels on (``True``) or off for this process: :data:`CODE_PATH_ONLY`
    and the matplotlib figure hook that labels every new figure."""
    import matplotlib as mpl

    global CODE_PATH_ONLY
    CODE_PATH_ONLY = bool(flag)
    hooks = [h for h in mpl.rcParams["figure.hooks"] if h != _FIGURE_HOOK]
    mpl.rcParams["figure.hooks"] = hooks + ([_FIGURE_HOOK] if CODE_PATH_ONLY else [])


def mark(text: str) -> str:
    """``text`` prefixed with the random-weights label when :data:`CODE_PATH_ONLY`, else as is."""
    return f"[{RANDOM_WEIGHTS_LABEL}] {text}" if CODE_PATH_ONLY else str(text)


def weights_banner(chapter: str, profile: str) -> bool:
    """Show the random-weights banner when ``chapter``'s settings under ``profile`` use random
    weights, and set (or clear) :data:`CODE_PATH_ONLY` accordingly; returns it. Prints nothing
    with real weights."""
    from saliency_utils.book.profiles import settings

    weights = settings(chapter, profile)["weights"]
    set_code_path_only(weights is None or weights == "random")
    if CODE_PATH_ONLY:
        text = (f"{RANDOM_WEIGHTS_LABEL.upper()}. Profile '{profile}': the papers' networks "
                "with random weights on tiny inputs. This page checks that the code runs; no "
                "number, figure, table or verdict on it is a result.")
        print(text)
        try:
            from IPython.display import HTML, display

            display(HTML('<div style="border:3px solid crimson;padding:0.6em;font-weight:bold;'
                         f'color:crimson">{text}</div>'))
        except ImportError:  # plain Python: the printed line is the banner
            pass
    return CODE_PATH_ONLY


def glue(name: str, value, display: bool = False):
    """Record ``value`` for ``{glue:text}`` references (no-op without myst-nb)."""
    try:
        from myst_nb import glue as _glue
    except ImportError:  # Colab / plain Jupyter without the book toolchain
        return value
    _glue(name, value, display=display)
    return value


def mean_table(rows_by_model: Mapping[str, Iterable[Mapping[str, float]]], order=None,
               decimals: int = 3):
    """Per-image scores per model (a DataFrame of :func:`saliency_utils.evaluate.scoring.score_maps`
    or a list of score dicts) -> a pandas DataFrame of means (rows: models) with the number of
    images, columns in ``order`` (default: the scores present)."""
    import pandas as pd

    table = {}
    for model, rows in rows_by_model.items():
        rows = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
        if not rows:
            raise ValueError(f"no scores for {model!r}")
        keys = order or list(rows[0])
        table[model] = {k: float(np.mean([r[k] for r in rows])) for k in keys if k in rows[0]}
        table[model]["images"] = len(rows)
    df = pd.DataFrame.from_dict(table, orient="index")
    df["images"] = df["images"].astype(int)
    if CODE_PATH_ONLY:  # shown in the table's header corner
        df.columns.name = RANDOM_WEIGHTS_LABEL
    return df.round(decimals)


class Text:
    """A string that pastes as plain text: its HTML form (what myst-nb's inline ``{glue:}``
    role renders) is the escaped string, its plain form the string itself (no quotes)."""

    def __init__(self, text: str, strong: bool = False):
        self.text, self.strong = str(text), strong

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html
        t = html.escape(self.text)
        return f"<strong>{t}</strong>" if self.strong else t


class Timings(dict):
    """Wall-clock seconds of a chapter's steps, by name, in the order they first ran: the one
    timer of the chapters. ``timings = Timings()`` starts the clock; ``with timings("scoring"):``
    adds the block's seconds under ``"scoring"`` (blocks with the same name add up, so a step
    timed inside a loop totals over the loop); a step that spans notebook cells is timed with
    :meth:`start` and :meth:`stop`; ``timings["scoring"]`` reads the seconds and :meth:`total`
    gives the seconds since the clock started. A mapping, so ``pd.Series(timings)`` makes the
    table. Initial entries (``Timings({"a": 0.0, "b": 0.0})``) fix the order."""

    def __init__(self, initial: Mapping[str, float] | None = None):
        super().__init__(initial or {})
        self._start = time.perf_counter()
        self._open: dict[str, float] = {}

    def start(self, name: str) -> None:
        """Start timing ``name`` (stopped by :meth:`stop`, perhaps in a later cell)."""
        if name in self._open:
            raise ValueError(f"{name!r} is already being timed")
        self._open[name] = time.perf_counter()

    def stop(self, name: str) -> float:
        """Stop timing ``name``; adds the seconds since :meth:`start` and returns the total."""
        if name not in self._open:
            raise ValueError(f"{name!r} was not started")
        self[name] = self.get(name, 0.0) + time.perf_counter() - self._open.pop(name)
        return self[name]

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield self
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - t0

    def total(self) -> float:
        """Seconds since this clock started."""
        return time.perf_counter() - self._start
