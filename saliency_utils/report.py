"""Reporting helpers for chapters: glue numbers into the book, format tables and verdicts.

``glue`` stores a value under a key with myst-nb so other pages (the intro's scorecard) can cite
the number the chapter computed; outside Jupyter Book (Colab, plain Jupyter) it only returns the
value.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

__all__ = ["glue", "mean_table", "VERDICTS"]

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
    """Per-image score dicts per model -> a pandas DataFrame of means (rows: models) with the
    number of images, columns in ``order`` (default: the metrics present)."""
    import pandas as pd

    table = {}
    for model, rows in rows_by_model.items():
        rows = list(rows)
        if not rows:
            raise ValueError(f"no scores for {model!r}")
        keys = order or list(rows[0])
        table[model] = {k: float(np.mean([r[k] for r in rows])) for k in keys if k in rows[0]}
        table[model]["images"] = len(rows)
    df = pd.DataFrame.from_dict(table, orient="index")
    df["images"] = df["images"].astype(int)
    return df.round(decimals)
