"""Exceptions of the raft library, one type per outcome a caller must handle differently.

Owns: the public error taxonomy. `RaftError` is the base so the embedding layer can map every raft
failure at its boundary; `CorruptionError` is reported by persistence with the file and offset.

Must never: import anything outside the standard library.
"""

from __future__ import annotations

from raft.types import ServerId


class RaftError(Exception):
    """Base of every error raised by the raft library."""


class NotLeader(RaftError):
    """This server cannot serve the request; `leader_id` is the leader it knows, if any."""

    def __init__(self, leader_id: ServerId | None, reason: str = "not the leader") -> None:
        super().__init__(f"{reason} (leader: {leader_id})")
        self.leader_id = leader_id


class CommitStatusUnknown(RaftError):
    """The entry may or may not have been committed (leadership changed while waiting)."""


class DroppedEntry(RaftError):
    """The entry was appended by a leader but replaced by another leader's entry: not committed."""


class EntryTooLarge(RaftError):
    """A proposal exceeds the configured maximum entry size; nothing was appended."""


class ConfigChangeInProgress(RaftError):
    """A membership change is already under way (thesis §4.1: one change at a time)."""


class TransferInProgress(RaftError):
    """Leadership is being transferred; proposals are refused meanwhile (thesis §3.10)."""


class ReadBarrierFailed(RaftError):
    """Leadership could not be confirmed for a linearizable read."""


class Stopped(RaftError):
    """The server was stopped while the operation was waiting."""


class CorruptionError(RaftError):
    """A persisted record failed its checksum or framing; reported, never skipped."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}@{offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class ProtocolError(RaftError):
    """A malformed, truncated, oversized or unknown-version frame on the wire."""
