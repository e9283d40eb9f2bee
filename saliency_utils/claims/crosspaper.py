"""Claims of The cross-paper chapter's questions (chapter 6)."""
from __future__ import annotations

from .core import Claim

CLAIMS: tuple[Claim, ...] = ()
