"""Errors of the data layer."""
from __future__ import annotations

__all__ = ["ChecksumError", "DataFileError", "DataNotFoundError"]


class DataNotFoundError(FileNotFoundError):
    """A data file is neither available locally nor downloadable.

    The message names the dataset and file, the places searched and how to get the file.
    """

    def __init__(self, message: str, dataset: str = "", relpath: str = "",
                 searched: tuple[str, ...] = (), hint: str = ""):
        parts = [message]
        if searched:
            parts.append("Searched: " + "; ".join(searched) + ".")
        if hint:
            parts.append("To get it: " + hint + ".")
        super().__init__(" ".join(parts))
        self.dataset = dataset
        self.relpath = relpath
        self.searched = searched

    def __str__(self) -> str:  # FileNotFoundError would print "[Errno None] ..." otherwise
        return self.args[0]


class ChecksumError(ValueError):
    """A file's size or sha256 differs from the manifest."""


class DataFileError(OSError):
    """A data file exists but cannot be decoded (truncated, corrupt, not the expected format).

    The message names the file and how to check it
    (``python -m saliency_utils data <dataset> --verify``)."""

    def __str__(self) -> str:
        return self.args[0]
