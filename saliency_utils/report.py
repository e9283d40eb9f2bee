"""Reporting helpers for chapters: glue numbers into the book, format tables and verdicts.

``glue`` stores a value under a key with myst-nb so other pages (the intro's scorecard) can cite
the number the chapter computed; outside Jupyter Book (Colab, plain Jupyter) it only returns the
value.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

__all__ = ["glue", "glue_verdicts", "mean_table", "VERDICTS", "Text"]

VERDICTS = ("reproduced", "partly", "not reproduced")


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


def glue_verdicts(prefix: str, table, network: str) -> int:
    """Glue a chapter's verdict table for the intro's scorecard: for row ``i`` (from 1) the
    keys ``<prefix>_claim_<i>``, ``<prefix>_number_<i>`` and ``<prefix>_verdict_<i>`` (the
    table's first three columns: claim, our number, verdict) and ``<prefix>_network`` (which
    network and data produced the numbers). Returns the number of rows. Raises ``ValueError``
    for a table with fewer than three columns or no rows, so that a broken table cannot leave
    the scorecard silently stale."""
    cols = list(getattr(table, "columns", []))
    if len(cols) < 3 or len(table) == 0:
        raise ValueError("the verdict table needs rows and at least three columns "
                         "(claim, our number, verdict)")
    for i, (claim, number, verdict) in enumerate(table[cols[:3]].itertuples(index=False), 1):
        glue(f"{prefix}_claim_{i}", Text(claim))
        glue(f"{prefix}_number_{i}", Text(number))
        glue(f"{prefix}_verdict_{i}", Text(verdict, strong=True))
    glue(f"{prefix}_network", Text(network))
    return len(table)
