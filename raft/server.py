"""The asyncio raft server: drives a `Core` with real time, persistence, transport and a state
machine, and offers the client API (add_entry, read_barrier, modify_config, transfer).

Owns: the single loop task that is the only caller of `Core.step/tick/ready/advance`; the
waiters of client requests; snapshotting by log size; the failure detector.

Invariants:
- each `Ready` is processed strictly in the order of raft/ready.py: persist (in a worker thread,
  so the loop keeps receiving), then send, then apply, then `advance`;
- `add_entry` returns only after the entry is applied locally, so a caller that then reads the
  local state machine sees its own write;
- a waiter is resolved exactly once: applied, dropped (another entry took its index), unknown
  (timeout, snapshot, stop) or not-leader.

Must never: call the state machine concurrently with itself, or send before persisting.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from raft import messages as m
from raft.core import Core, CoreOptions
from raft.errors import (
    CommitStatusUnknown,
    ConfigChangeInProgress,
    DroppedEntry,
    NotLeader,
    RaftError,
    ReadBarrierFailed,
    Stopped,
)
from raft.failure_detector import FailureDetector
from raft.persistence import PersistentState
from raft.ready import OutcomeKind, Ready, Role
from raft.state_machine import StateMachine
from raft.transport import Transport
from raft.types import Configuration, EntryKind, HardState, Index, LogEntry, ServerId, Snapshot, Term

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class Persistence(Protocol):
    """What the server needs from storage (raft/persistence.py's FilePersistence)."""

    def is_initialized(self) -> bool: ...

    def bootstrap(self, config: Configuration) -> None: ...

    def load(self) -> PersistentState: ...

    def save(self, hard_state: HardState | None, snapshot: Snapshot | None, entries: tuple[LogEntry, ...]) -> None: ...

    def compact(self, snapshot: Snapshot, keep_from: Index) -> None: ...


@dataclass(frozen=True, slots=True)
class ServerConfig:
    tick_ms: int = 25
    election_timeout_ticks: int = 12  # randomized in [T, 2T) ticks: 300-600 ms by default
    heartbeat_ticks: int = 2
    pre_vote: bool = True
    check_quorum: bool = True
    max_entry_bytes: int = 1 << 20
    max_append_bytes: int = 1 << 20
    snapshot_threshold_bytes: int = 4 << 20  # take a snapshot after this much applied log
    snapshot_trailing_entries: int = 200  # entries kept behind a snapshot (cf. §5.1)
    request_timeout_s: float = 10.0
    forward_proposals: bool = True


class RaftServer:
    def __init__(
        self,
        server_id: ServerId,
        persistence: Persistence,
        transport: Transport,
        state_machine: StateMachine,
        config: ServerConfig | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = server_id
        self._persistence = persistence
        self._transport = transport
        self._sm = state_machine
        self.config = config or ServerConfig()
        self._rng = rng or random.Random()
        self._clock = clock
        c = self.config
        self.failure_detector = FailureDetector(clock, 2 * c.election_timeout_ticks * c.tick_ms / 1000)
        self._core: Core | None = None
        self._inbox: list[m.Message] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._ids = itertools.count(1)
        self._commit_waiters: dict[int, list[tuple[Term, asyncio.Future[None]]]] = {}
        self._apply_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._proposals: dict[int, asyncio.Future[tuple[Term, Index]]] = {}
        self._reads: dict[int, asyncio.Future[Index]] = {}
        self._state_changed = asyncio.Event()
        self._applied_bytes_since_snapshot = 0

    # ---- lifecycle -----------------------------------------------------------------------

    @staticmethod
    def bootstrap(persistence: Persistence, voters: Iterable[ServerId]) -> None:
        """Create the initial state of the first server(s) of a cluster: every listed voter must
        be bootstrapped with the same list. Other servers join with `prepare_to_join`."""
        persistence.bootstrap(Configuration(frozenset(voters)))

    @staticmethod
    def prepare_to_join(persistence: Persistence) -> None:
        """Create the state of a server that will be added later by `modify_config(add=...)` on
        the leader: it starts with an empty configuration, never campaigns, and learns the
        cluster's log and configuration from the leader."""
        if not persistence.is_initialized():
            persistence.bootstrap(Configuration(frozenset()))

    async def start(self) -> None:
        state = await asyncio.to_thread(self._persistence.load)
        c = self.config
        options = CoreOptions(
            election_timeout_ticks=c.election_timeout_ticks,
            heartbeat_ticks=c.heartbeat_ticks,
            pre_vote=c.pre_vote,
            check_quorum=c.check_quorum,
            max_entry_bytes=c.max_entry_bytes,
            max_append_bytes=c.max_append_bytes,
        )
        self._core = Core(
            self.id, state.hard_state, state.snapshot, state.entries, options,
            election_timeout=lambda: self._rng.randrange(c.election_timeout_ticks, 2 * c.election_timeout_ticks),
        )
        # The commit index is not persisted: replay starts from the snapshot (state_machine.py).
        await self._sm.load_snapshot(state.snapshot.data)
        await self._transport.start(self._receive)
        self._task = asyncio.create_task(self._run(), name=f"raft-{self.id}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._transport.stop()
        self._fail_all(Stopped("raft server stopped"))

    # ---- queries -------------------------------------------------------------------------

    @property
    def core(self) -> Core:
        if self._core is None:
            raise Stopped("raft server not started")
        return self._core

    @property
    def is_leader(self) -> bool:
        return self._core is not None and self._core.role == Role.LEADER

    @property
    def leader_id(self) -> ServerId | None:
        return self._core.leader_id if self._core else None

    @property
    def term(self) -> Term:
        return self.core.term

    @property
    def configuration(self) -> Configuration:
        return self.core.config

    @property
    def applied_index(self) -> Index:
        return self.core.applied_index

    async def wait_for_leader(self, timeout_s: float | None = None) -> ServerId:
        deadline = self._clock() + (timeout_s if timeout_s is not None else self.config.request_timeout_s)
        while self.leader_id is None:
            await self._wait_state_change(deadline)
        assert self.leader_id is not None
        return self.leader_id

    # ---- client API ----------------------------------------------------------------------

    async def add_entry(self, data: bytes) -> None:
        """Replicate `data`; returns once it is committed and applied here.

        Raises NotLeader (with the leader's id) if this server cannot accept it, DroppedEntry
        if it was superseded, CommitStatusUnknown if leadership changed before we could tell.
        """
        core = self.core
        deadline = self._clock() + self.config.request_timeout_s
        if core.role == Role.LEADER:
            term, index = core.propose(data)
            self._wake.set()
        else:
            if core.leader_id is None:
                await self.wait_for_leader(self.config.request_timeout_s)
                if self.is_leader:
                    return await self.add_entry(data)
            if not self.config.forward_proposals or core.leader_id is None:
                raise NotLeader(core.leader_id)
            if not self.failure_detector.is_alive(core.leader_id):
                raise NotLeader(core.leader_id, "leader unreachable")
            pid = next(self._ids)
            fut: asyncio.Future[tuple[Term, Index]] = asyncio.get_running_loop().create_future()
            self._proposals[pid] = fut
            core.forward_proposal(pid, data)
            self._wake.set()
            term, index = await self._await(fut, deadline, pid, self._proposals)
        await self._wait_committed(term, index, deadline)

    async def read_barrier(self) -> None:
        """Return once the local state machine reflects every entry committed before the call
        (thesis §6.4: read index, confirmed by a quorum heartbeat round). Retries across leader
        changes until the request timeout, then raises ReadBarrierFailed."""
        try:
            await self._read_barrier(self._clock() + self.config.request_timeout_s)
        except CommitStatusUnknown as err:  # a timeout while waiting for a leader
            raise ReadBarrierFailed(str(err)) from None

    async def _read_barrier(self, deadline: float) -> None:
        while True:
            core = self.core
            if core.leader_id is None:
                await self.wait_for_leader(max(0.0, deadline - self._clock()))
            rid = next(self._ids)
            fut: asyncio.Future[Index] = asyncio.get_running_loop().create_future()
            self._reads[rid] = fut
            core.read_index(rid)
            self._wake.set()
            try:
                index = await self._await(fut, deadline, rid, self._reads)
            except ReadBarrierFailed:
                if self._clock() >= deadline:
                    raise
                await self._wait_state_change(deadline)
                continue
            await self._wait_applied(index, deadline)
            return

    async def modify_config(self, add: Iterable[ServerId] = (), remove: Iterable[ServerId] = ()) -> None:
        """Leader only. New servers join as learners first, and become voters once they have
        caught up (thesis §4.2.1); the voter change goes through joint consensus (§4.3)."""
        add_set, remove_set = frozenset(add), frozenset(remove)
        deadline = self._clock() + self.config.request_timeout_s
        cfg = self.core.config
        new_learners = add_set - cfg.members
        if new_learners:
            await self._propose_config(cfg.voters, cfg.learners | new_learners, deadline)
        for server in sorted(add_set - cfg.voters):
            await self._wait_caught_up(server, deadline)
        cfg = self.core.config
        voters = (cfg.voters | add_set) - remove_set
        learners = cfg.learners - add_set - remove_set
        if voters != cfg.voters or learners != cfg.learners:
            await self._propose_config(voters, learners, deadline)

    async def transfer_leadership(self, to: ServerId) -> None:
        """Leader only: hand leadership to `to` (thesis §3.10); returns when `to` leads."""
        core = self.core
        if core.role != Role.LEADER:
            raise NotLeader(core.leader_id)
        core.transfer_leadership(to)
        self._wake.set()
        deadline = self._clock() + self.config.request_timeout_s
        while self.leader_id != to:
            if self.is_leader and core.progress(to) is not None and core.transfer_target is None:
                core.transfer_leadership(to)  # the previous attempt timed out: try again
                self._wake.set()
            await self._wait_state_change(deadline)

    # ---- waiting helpers -----------------------------------------------------------------

    async def _propose_config(self, voters: frozenset[ServerId], learners: frozenset[ServerId], deadline: float) -> None:
        while True:
            core = self.core
            if core.role != Role.LEADER:
                raise NotLeader(core.leader_id)
            try:
                index = core.propose_config(voters, learners)
                break
            except ConfigChangeInProgress:
                await self._wait_state_change(deadline)
        term = core.term
        self._wake.set()
        await self._wait_committed(term, index, deadline)
        # Leaving the joint configuration is automatic; wait for C_new to commit too.
        while self.core.config.is_joint or self.core.log.last_config_index() > self.core.applied_index:
            await self._wait_state_change(deadline)

    async def _wait_caught_up(self, server: ServerId, deadline: float) -> None:
        """Thesis §4.2.1: replicate in rounds, each aiming at the leader's last index when the
        round began; the learner has caught up once a round completes within an election
        timeout (so adding it as a voter will not stall commits for long)."""
        round_s = self.config.election_timeout_ticks * self.config.tick_ms / 1000
        round_target, round_start = self.core.log.last_index, self._clock()
        while True:
            core = self.core
            if core.role != Role.LEADER:
                raise NotLeader(core.leader_id)
            pr = core.progress(server)
            if pr is not None and pr.match_index >= round_target:
                if self._clock() - round_start <= round_s:
                    return
                round_target, round_start = core.log.last_index, self._clock()
            await self._wait_state_change(deadline)

    async def _wait_state_change(self, deadline: float) -> None:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise CommitStatusUnknown("timed out")
        if self._stopping:
            raise Stopped("raft server stopped")
        self._state_changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._state_changed.wait(), timeout=min(remaining, self.config.tick_ms / 1000 * 4))

    async def _await(
        self, fut: asyncio.Future[_T], deadline: float, key: int, table: dict[int, asyncio.Future[_T]]
    ) -> _T:
        try:
            return await asyncio.wait_for(fut, timeout=max(0.0, deadline - self._clock()))
        except TimeoutError:
            raise CommitStatusUnknown("timed out waiting for the leader") from None
        finally:
            table.pop(key, None)

    async def _wait_committed(self, term: Term, index: Index, deadline: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if index <= self.core.applied_index:
            # Applied before we learned where the leader put it: the log still tells, unless the
            # entry was compacted into a snapshot.
            have = self.core.log.term_at(index) if index > self.core.log.snapshot.index else None
            if have == term:
                return
            if have is not None:
                raise DroppedEntry(f"entry {index} replaced")
            raise CommitStatusUnknown(f"entry {index} compacted away before we could check it")
        self._commit_waiters.setdefault(index, []).append((term, fut))
        # A timer instead of asyncio.wait_for: this is the per-entry hot path.
        timer = asyncio.get_running_loop().call_later(
            max(0.0, deadline - self._clock()), _resolve, fut,
            CommitStatusUnknown(f"entry {index} of term {term}: outcome unknown"))
        try:
            await fut
        finally:
            timer.cancel()

    async def _wait_applied(self, index: Index, deadline: float) -> None:
        if self.core.applied_index >= index:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._apply_waiters, (index, next(self._ids), fut))
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout=max(0.0, deadline - self._clock()))
        except TimeoutError:
            raise ReadBarrierFailed(f"state machine did not reach {index} in time") from None

    # ---- the loop ------------------------------------------------------------------------

    def _receive(self, msg: m.Message) -> None:
        self.failure_detector.heard_from(msg.src)
        self._inbox.append(msg)
        self._wake.set()

    async def _run(self) -> None:
        core = self.core
        tick_s = self.config.tick_ms / 1000
        next_tick = self._clock() + tick_s
        try:
            while not self._stopping:
                timeout = next_tick - self._clock()
                if timeout > 0 and not self._inbox and not core.has_ready():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                inbox, self._inbox = self._inbox, []
                for msg in inbox:
                    core.step(msg)
                now = self._clock()
                if now >= next_tick:
                    core.tick()
                    next_tick = max(next_tick + tick_s, now)
                while core.has_ready() and not self._stopping:
                    await self._handle_ready(core, core.ready())
        except Exception:
            logger.exception("%s: raft loop crashed", self.id)
            self._fail_all(Stopped("raft loop crashed"))
            raise

    async def _handle_ready(self, core: Core, rd: Ready) -> None:
        if rd.hard_state is not None or rd.snapshot is not None or rd.entries:
            await asyncio.to_thread(self._persistence.save, rd.hard_state, rd.snapshot, rd.entries)
        for msg in rd.messages:
            self._transport.send(msg)
        if rd.snapshot is not None:
            await self._sm.load_snapshot(rd.snapshot.data)
            self._applied_bytes_since_snapshot = 0
            for index in [i for i in self._commit_waiters if i <= rd.snapshot.descriptor.index]:
                for _, fut in self._commit_waiters.pop(index):
                    _resolve(fut, CommitStatusUnknown("covered by a snapshot from the leader"))
        if rd.committed:
            commands = [e.data for e in rd.committed if e.kind == EntryKind.COMMAND]
            if commands:
                await self._sm.apply(commands)
            self._applied_bytes_since_snapshot += sum(e.size_bytes() for e in rd.committed)
        core.advance(rd)
        for e in rd.committed:
            for term, fut in self._commit_waiters.pop(e.index, ()):
                _resolve(fut, None if term == e.term else DroppedEntry(f"entry {e.index} replaced"))
        applied = core.applied_index
        while self._apply_waiters and self._apply_waiters[0][0] <= applied:
            _resolve(heapq.heappop(self._apply_waiters)[2], None)
        for rs in rd.read_states:
            rfut = self._reads.pop(rs.request_id, None)
            if rfut is not None:
                _resolve_value(rfut, rs.index, ReadBarrierFailed("leadership not confirmed"))
        for oc in rd.proposal_outcomes:
            pfut = self._proposals.pop(oc.proposal_id, None)
            if pfut is None:
                continue
            if oc.kind == OutcomeKind.APPENDED:
                _resolve_value(pfut, (oc.term, oc.index), None)
            elif oc.kind == OutcomeKind.REJECTED:
                _resolve_value(pfut, None, NotLeader(core.leader_id, "the leader refused the proposal"))
            else:
                _resolve_value(pfut, None, CommitStatusUnknown("leader changed while forwarding"))
        self._state_changed.set()
        if self._applied_bytes_since_snapshot >= self.config.snapshot_threshold_bytes:
            await self._take_snapshot(core)

    async def _take_snapshot(self, core: Core) -> None:
        index = core.applied_index
        data = await self._sm.take_snapshot()
        snapshot = Snapshot(core.describe_snapshot(index), data)
        keep_from = Index(max(index - self.config.snapshot_trailing_entries + 1, core.log.first_index))
        await asyncio.to_thread(self._persistence.compact, snapshot, keep_from)
        core.compact(snapshot, keep_trailing=index - keep_from + 1)
        self._applied_bytes_since_snapshot = 0
        logger.info("%s: snapshot at %d, log now starts at %d", self.id, index, core.log.first_index)

    def _fail_all(self, err: RaftError) -> None:
        for waiters in self._commit_waiters.values():
            for _, fut in waiters:
                _resolve(fut, err)
        self._commit_waiters.clear()
        for _, _, fut in self._apply_waiters:
            _resolve(fut, err)
        self._apply_waiters.clear()
        for pfut in self._proposals.values():
            _resolve_value(pfut, None, err)
        for rfut in self._reads.values():
            _resolve_value(rfut, None, err)
        self._state_changed.set()


def _resolve(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(err)


def _resolve_value(fut: asyncio.Future[_T], value: _T | None, err: BaseException | None) -> None:
    if fut.done():
        return
    if value is not None:
        fut.set_result(value)
    else:
        fut.set_exception(err or RaftError("no result"))
