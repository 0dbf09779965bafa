"""State shared by every part of the raft core, and its output (`ready()` / `advance()`).

Owns: `CoreOptions`, every field of a server's protocol state (term, vote, role, log, election
timer, leader-only state, pending outputs) and the assembly of `Ready` bundles. The behaviour is
split by concept across mixins that all extend `CoreBase`: leader-side replication and commit
(raft/replication.py), forwarded proposals and read index (raft/client_requests.py), and elections,
roles, follower-side replication and the public API (raft/core.py, whose `Core` combines them).

Invariants: only `ready()` hands out outputs and only `advance()` marks log entries durable; see
raft/ready.py for the rules the driver follows in between.

Must never: read a clock, draw random numbers or perform I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from raft import messages as m
from raft.leader import LeaderState, PendingRead, Progress
from raft.log import RaftLog
from raft.ready import ProposalOutcome, ReadState, Ready, Role
from raft.types import Configuration, EntryKind, HardState, Index, LogEntry, ServerId, Snapshot, Term


@dataclass(frozen=True, slots=True)
class CoreOptions:
    election_timeout_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True  # thesis §9.6
    check_quorum: bool = True  # thesis §6.2 (also enables leader stickiness, §4.2.3)
    max_entry_bytes: int = 1 << 20
    max_append_bytes: int = 1 << 20


class CoreBase(ABC):
    """Fields and output of the core; behaviour lives in the mixins (see the module docstring)."""

    def __init__(
        self,
        server_id: ServerId,
        hard_state: HardState,
        snapshot: Snapshot,
        entries: list[LogEntry],
        options: CoreOptions | None = None,
        election_timeout: Callable[[], int] | None = None,
    ) -> None:
        """`election_timeout` returns the next randomized timeout in ticks, normally drawn from
        [T, 2T) by the caller (thesis §3.4); the core itself has no randomness."""
        self.id = server_id
        self.options = options or CoreOptions()
        self._next_timeout = election_timeout or (lambda: self.options.election_timeout_ticks)
        self.term: Term = hard_state.term
        self.vote: ServerId | None = hard_state.vote
        self.log = RaftLog(snapshot.descriptor, entries)
        self.role = Role.FOLLOWER
        self.leader_id: ServerId | None = None
        self._snapshot = snapshot
        self._applied: Index = snapshot.descriptor.index
        self._election_elapsed = 0
        self._timeout = self._next_timeout()
        self._votes: dict[ServerId, bool] = {}
        self._leader: LeaderState | None = None
        self._heartbeat_elapsed = 0
        # Outputs accumulated until the next ready().
        self._persisted_hs = hard_state
        self._pending_snapshot: Snapshot | None = None
        self._outbox: list[m.Message] = []
        self._read_states: list[ReadState] = []
        self._outcomes: list[ProposalOutcome] = []
        self._need_broadcast = False
        # Requests this follower forwarded to a leader: id -> leader asked.
        self._forwarded_proposals: dict[int, ServerId] = {}
        self._forwarded_reads: dict[int, ServerId] = {}

    @property
    def config(self) -> Configuration:
        return self.log.configuration()

    @property
    def applied_index(self) -> Index:
        return self._applied

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def transfer_target(self) -> ServerId | None:
        """Leader only: the server leadership is being transferred to, if any (thesis §3.10)."""
        return self._leader.transfer_target if self._leader else None

    def progress(self, server: ServerId) -> Progress | None:
        """Leader only: replication progress of `server` (None elsewhere)."""
        return self._leader.progress.get(server) if self._leader else None

    def _send(self, msg: m.Message) -> None:
        self._outbox.append(msg)

    def has_ready(self) -> bool:
        return bool(
            self._outbox
            or self._need_broadcast
            or self._read_states
            or self._outcomes
            or self._pending_snapshot is not None
            or self.log.stable_index < self.log.last_index
            or self._applied < self.log.commit_index
            or self._persisted_hs != HardState(self.term, self.vote)
        )

    def ready(self) -> Ready:
        """Collect everything to persist, send and apply; follow the rules in raft/ready.py."""
        if self._need_broadcast and self._leader is not None:
            self._broadcast()
        self._need_broadcast = False
        hs = HardState(self.term, self.vote)
        committed_end = min(self.log.commit_index, self.log.last_index)
        committed = tuple(self.log.slice(self._applied + 1, committed_end)) if committed_end > self._applied else ()
        rd = Ready(
            hard_state=hs if hs != self._persisted_hs else None,
            snapshot=self._pending_snapshot,
            entries=tuple(self.log.unstable_entries()),
            messages=tuple(self._outbox),
            committed=committed,
            read_states=tuple(self._read_states),
            proposal_outcomes=tuple(self._outcomes),
            role=self.role,
            leader_id=self.leader_id,
            term=self.term,
            commit_index=self.log.commit_index,
        )
        self._outbox = []
        self._read_states = []
        self._outcomes = []
        self._pending_snapshot = None
        if committed:
            self._applied = committed[-1].index
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver processed `rd` (persisted, sent, applied)."""
        if rd.hard_state is not None:
            self._persisted_hs = rd.hard_state
        if rd.entries:
            last = rd.entries[-1]
            self.log.stable_to(last.index, last.term)
            self._maybe_commit()  # our own newly durable entries may complete a quorum

    # ---- implemented by the mixins / Core (declared here so each part type-checks alone) ------

    @abstractmethod
    def _become_follower(self, term: Term, leader_id: ServerId | None, reset_timer: bool = True) -> None:
        ...

    @abstractmethod
    def _broadcast(self) -> None:
        ...

    @abstractmethod
    def _maybe_commit(self) -> None:
        ...

    @abstractmethod
    def _append(self, kind: EntryKind, data: bytes, config: Configuration | None) -> Index:
        ...

    @abstractmethod
    def _append_command(self, data: bytes, kind: EntryKind) -> tuple[Term, Index]:
        ...

    @abstractmethod
    def _send_heartbeat(self, peer: ServerId, pr: Progress) -> None:
        ...

    @abstractmethod
    def _leader_read(self, read: PendingRead) -> None:
        ...

    @abstractmethod
    def _release_reads(self, leader: LeaderState) -> None:
        ...

    @abstractmethod
    def _fail_leader_reads(self, leader: LeaderState) -> None:
        ...

    @abstractmethod
    def _fail_forwarded(self) -> None:
        ...
