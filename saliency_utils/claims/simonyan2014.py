"""Claims of Simonyan, Vedaldi & Zisserman 2014 (arXiv 1312.6034): gradient class saliency (chapter 1)."""
from __future__ import annotations

from .core import Claim

CLAIMS: tuple[Claim, ...] = ()
