"""State that exists only while this server is leader (thesis §3.5, §3.10, §6.2, §6.4).

Owns: per-follower replication progress (`Progress`), the read-index rounds, the leadership
transfer target and the check-quorum activity set. The core creates a `LeaderState` when it wins
an election and drops it on stepping down, so no leader-only field can leak into another role.

Invariants:
- `match_index < next_index` for every follower;
- `match_index` never decreases within one leadership (a follower never forgets entries it
  acknowledged in our term: it persisted them before replying);
- read rounds are numbered increasingly; a read is released only once a quorum echoed a round
  number at least as large as the one started when the read arrived.

Must never: perform I/O or touch the log (the core does).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from raft.types import NO_INDEX, Configuration, Index, ServerId


class ReplicationMode(enum.Enum):
    PROBE = "probe"  # next_index is a guess: send one batch, wait for the answer
    REPLICATE = "replicate"  # the follower matches: stream entries optimistically
    SNAPSHOT = "snapshot"  # an InstallSnapshot is in flight


@dataclass(slots=True)
class Progress:
    """The leader's view of one follower (thesis figure 3.1: nextIndex, matchIndex)."""

    next_index: Index
    match_index: Index = NO_INDEX
    mode: ReplicationMode = ReplicationMode.PROBE
    # Ticks since a message that expects an answer was sent while probing or snapshotting; the
    # leader re-sends when it reaches the heartbeat/election interval (messages may be lost).
    wait_ticks: int = 0
    paused: bool = False


@dataclass(slots=True)
class PendingRead:
    """A read-index request waiting for a quorum to confirm our leadership (thesis §6.4)."""

    request_id: int
    origin: ServerId
    seq: int = 0
    index: Index = NO_INDEX


@dataclass(slots=True)
class LeaderState:
    progress: dict[ServerId, Progress] = field(default_factory=dict)
    # Check-quorum (thesis §6.2): followers heard from in the current election-timeout window.
    active: set[ServerId] = field(default_factory=set)
    # Read index (thesis §6.4).
    read_seq: int = 0
    read_acks: dict[ServerId, int] = field(default_factory=dict)
    pending_reads: list[PendingRead] = field(default_factory=list)
    # Reads that arrived before an entry of our term committed (thesis §6.4 step 1).
    waiting_reads: list[PendingRead] = field(default_factory=list)
    # Leadership transfer (thesis §3.10).
    transfer_target: ServerId | None = None
    transfer_ticks: int = 0
    # Index of this leader's first (no-op) entry; reads wait for it to commit.
    term_start_index: Index = NO_INDEX

    def sync_members(self, me: ServerId, config: Configuration, last_index: Index) -> None:
        """Track exactly the members of `config` other than ourselves (new ones start probing)."""
        wanted = config.members - {me}
        for gone in sorted(set(self.progress) - wanted):
            del self.progress[gone]
            self.read_acks.pop(gone, None)
            self.active.discard(gone)
        for new in sorted(wanted - set(self.progress)):  # sorted: replay must not depend on hashing
            self.progress[new] = Progress(next_index=Index(last_index + 1))

    def release_reads(self, me: ServerId, config: Configuration) -> list[PendingRead]:
        """Reads whose round a quorum has acknowledged; removed from the pending list."""
        if not self.pending_reads:
            return []
        acks = dict(self.read_acks)
        acks[me] = self.read_seq
        confirmed = config.quorum_index(acks)
        done = [r for r in self.pending_reads if r.seq <= confirmed]
        if done:
            self.pending_reads = [r for r in self.pending_reads if r.seq > confirmed]
        return done
