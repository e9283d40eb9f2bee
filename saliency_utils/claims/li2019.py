"""Claims of Li, Tian, Mueller & Chen 2019 (arXiv 1712.08268): LRP and Salient Relevance maps (chapter 2)."""
from __future__ import annotations

from .core import Claim

CLAIMS: tuple[Claim, ...] = ()
