"""Claims of He, Tavakoli, Borji, Mi & Pugeault, CVPR 2019 (arXiv 1903.02501):
categories, pop-out, task vs domain (chapter 4)."""
from __future__ import annotations

from .core import Claim

CLAIMS: tuple[Claim, ...] = ()
