"""Claims of He & Pugeault 2017 (arXiv 1801.04261):
what a network learns when fine-tuned for saliency (chapter 3)."""
from __future__ import annotations

from .core import Claim

CLAIMS: tuple[Claim, ...] = ()
