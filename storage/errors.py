"""Storage-layer exceptions.

Owns the one exception family the rest of the server sees from `storage/`. A corrupt file is
always reported with where it is broken (path and byte offset), never silently skipped.
"""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Base class of every error raised by `storage/`."""


class CorruptionError(StorageError):
    """A checksum or structural error in an on-disk file.

    `offset` is the byte offset in `path` where the broken record starts (or -1 when the
    problem is the file as a whole, e.g. a missing component).
    """

    def __init__(self, path: Path | str, offset: int, reason: str = "") -> None:
        self.path = Path(path)
        self.offset = offset
        self.reason = reason
        super().__init__(f"corruption in {self.path} at offset {offset}: {reason}")


class UnknownTabletError(StorageError):
    """An operation named a tablet (or table) that was never added, or was dropped."""
