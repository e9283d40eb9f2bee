"""Reporting helpers for chapters: glue numbers into the book and format tables (verdicts are
glued by :func:`saliency_utils.claims.glue_verdicts`).

``glue`` stores a value under a key with myst-nb so other pages (the intro's scorecard) can cite
the number the chapter computed; outside Jupyter Book (Colab, plain Jupyter) it only returns the
value.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

__all__ = ["glue", "mean_table", "Text"]


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
    """Per-image scores per model (a DataFrame of :func:`saliency_utils.evaluation.score_maps`
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
