"""Value types shared by every layer of the raft library.

Owns: the strongly typed ids (`ServerId`, `Term`, `Index`), log entries, cluster configurations
(with joint consensus and non-voting learners) and snapshot descriptors.

Invariants:
- every value here is immutable (frozen, slotted dataclasses / frozensets), so the core can hand
  them to the caller in a `Ready` without copying and without the caller mutating core state;
- `Index(0)` / `Term(0)` mean "before the first entry": the log's first real entry is index 1.

Must never: perform I/O or import anything outside the standard library.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NewType

ServerId = NewType("ServerId", str)
Term = NewType("Term", int)
Index = NewType("Index", int)

# "Before the first entry"; module constants so dataclass defaults need no call.
NO_INDEX: Index = Index(0)
NO_TERM: Term = Term(0)


class EntryKind(enum.IntEnum):
    """Kind of a log entry. Embedded on disk and on the wire: never renumber."""

    COMMAND = 0  # opaque bytes for the state machine
    CONFIG = 1  # a membership change (thesis §4.3); the entry carries a Configuration
    NOOP = 2  # appended by each new leader to commit entries of earlier terms (thesis §3.6.2)


@dataclass(frozen=True, slots=True)
class Configuration:
    """A cluster membership, possibly joint (thesis §4.3).

    `voters` is C_new; `old_voters` is C_old while the configuration is joint, else None.
    `learners` receive the log but never vote and never count towards a quorum (thesis §4.2.1).
    Invariant: `learners` is disjoint from `voters` (a server is in one role at a time).
    """

    voters: frozenset[ServerId]
    learners: frozenset[ServerId] = frozenset()
    old_voters: frozenset[ServerId] | None = None

    def __post_init__(self) -> None:
        if self.voters & self.learners:
            raise ValueError(f"servers both voter and learner: {sorted(self.voters & self.learners)}")

    @property
    def is_joint(self) -> bool:
        return self.old_voters is not None

    @property
    def all_voters(self) -> frozenset[ServerId]:
        return self.voters | (self.old_voters or frozenset())

    @property
    def members(self) -> frozenset[ServerId]:
        """Everyone who receives the log: voters of both halves and learners."""
        return self.all_voters | self.learners

    def can_vote(self, server: ServerId) -> bool:
        return server in self.all_voters

    def has_quorum(self, granted: Iterable[ServerId]) -> bool:
        """True when `granted` holds a majority of each voter set (both, while joint)."""
        got = set(granted)
        if not _majority(self.voters, got):
            return False
        return self.old_voters is None or _majority(self.old_voters, got)

    def quorum_index(self, match: Mapping[ServerId, int]) -> int:
        """Highest index that a majority of each voter set has (`match` defaults to 0)."""
        best = _quorum_value(self.voters, match)
        if self.old_voters is not None:
            best = min(best, _quorum_value(self.old_voters, match))
        return best

    def leave_joint(self) -> Configuration:
        """C_new of a joint configuration (thesis §4.3, second phase)."""
        return Configuration(voters=self.voters, learners=self.learners - self.voters)


def _majority(voters: frozenset[ServerId], granted: set[ServerId]) -> bool:
    if not voters:
        # An empty voter set cannot elect anyone; treat it as never satisfied.
        return False
    return len(voters & granted) * 2 > len(voters)


def _quorum_value(voters: frozenset[ServerId], match: Mapping[ServerId, int]) -> int:
    if not voters:
        return 0
    values = sorted((match.get(v, 0) for v in voters), reverse=True)
    # values[k] is held by at least k+1 voters; a majority is len//2 + 1 voters.
    return values[len(values) // 2]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the replicated log. `config` is set iff kind is CONFIG."""

    term: Term
    index: Index
    kind: EntryKind = EntryKind.COMMAND
    data: bytes = b""
    config: Configuration | None = None

    def size_bytes(self) -> int:
        return len(self.data) + 24


@dataclass(frozen=True, slots=True)
class SnapshotDescriptor:
    """What a snapshot covers: every entry up to and including `index` (thesis §5.1)."""

    index: Index
    term: Term
    config: Configuration


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot descriptor plus the state machine's serialized state."""

    descriptor: SnapshotDescriptor
    data: bytes


@dataclass(frozen=True, slots=True)
class HardState:
    """The state that must be durable before any message produced with it is sent (thesis §3.8)."""

    term: Term
    vote: ServerId | None
