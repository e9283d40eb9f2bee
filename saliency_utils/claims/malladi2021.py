"""Claims of Malladi, Mukhopadhyay, Larabi & Chaudhury 2021 (arXiv 2109.03575):
log-Gabor explanation (chapter 5)."""
from __future__ import annotations

from .core import Claim

CLAIMS: tuple[Claim, ...] = ()
