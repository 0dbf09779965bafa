"""Drives raft cores in tests: an in-memory "disk" per server and a hand-cranked network.

Used by the transcript tests and the randomized simulation. The `Disk` applies a `Ready` exactly
as raft/ready.py prescribes, so a crash (dropping the `Core`) loses precisely what was never
persisted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from raft import messages as m
from raft.core import Core, CoreOptions
from raft.ready import Ready
from raft.types import (
    NO_INDEX,
    NO_TERM,
    Configuration,
    EntryKind,
    HardState,
    Index,
    LogEntry,
    ServerId,
    Snapshot,
    SnapshotDescriptor,
    Term,
)


def sid(name: str) -> ServerId:
    return ServerId(name)


def ids(*names: str) -> frozenset[ServerId]:
    return frozenset(ServerId(n) for n in names)


def bootstrap_snapshot(voters: Iterable[str], learners: Iterable[str] = ()) -> Snapshot:
    cfg = Configuration(voters=frozenset(map(ServerId, voters)), learners=frozenset(map(ServerId, learners)))
    return Snapshot(SnapshotDescriptor(NO_INDEX, NO_TERM, cfg), b"")


def entries_from_terms(terms: Iterable[int]) -> list[LogEntry]:
    return [LogEntry(Term(t), Index(i + 1), EntryKind.COMMAND, f"{i + 1}@{t}".encode()) for i, t in enumerate(terms)]


@dataclass
class Disk:
    """Durable state of one server; survives `crash()`."""

    hard_state: HardState
    snapshot: Snapshot
    entries: list[LogEntry] = field(default_factory=list)

    def persist(self, rd: Ready) -> None:
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
        if rd.entries:
            first = rd.entries[0].index
            self.entries = [e for e in self.entries if e.index < first]
            self.entries.extend(rd.entries)

    def compact(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.entries = [e for e in self.entries if e.index > snapshot.descriptor.index]


@dataclass
class Server:
    id: ServerId
    disk: Disk
    core: Core
    applied: list[LogEntry] = field(default_factory=list)
    readies: list[Ready] = field(default_factory=list)


class Net:
    """A set of servers and a FIFO of messages the test delivers explicitly."""

    def __init__(self, options: CoreOptions | None = None) -> None:
        self.options = options or CoreOptions(election_timeout_ticks=10, heartbeat_ticks=1)
        self.servers: dict[ServerId, Server] = {}
        self.queue: list[m.Message] = []
        self.timeouts: dict[ServerId, int] = {}

    def add(
        self,
        name: str,
        voters: Iterable[str],
        terms: Iterable[int] = (),
        term: int | None = None,
        vote: str | None = None,
        learners: Iterable[str] = (),
    ) -> Server:
        s = sid(name)
        entries = entries_from_terms(terms)
        last_term = entries[-1].term if entries else 0
        hs = HardState(Term(term if term is not None else last_term), sid(vote) if vote else None)
        disk = Disk(hs, bootstrap_snapshot(voters, learners), list(entries))
        srv = Server(s, disk, self._core(s, disk))
        self.servers[s] = srv
        return srv

    def _core(self, s: ServerId, disk: Disk) -> Core:
        return Core(
            s, disk.hard_state, disk.snapshot, list(disk.entries), self.options,
            election_timeout=lambda: self.timeouts.get(s, self.options.election_timeout_ticks),
        )

    def __getitem__(self, name: str) -> Core:
        return self.servers[sid(name)].core

    def process(self, name: str | ServerId) -> Ready | None:
        srv = self.servers[sid(name)]
        if not srv.core.has_ready():
            return None
        rd = srv.core.ready()
        srv.disk.persist(rd)
        self.queue.extend(rd.messages)
        srv.applied.extend(rd.committed)
        srv.core.advance(rd)
        srv.readies.append(rd)
        return rd

    def process_all(self) -> None:
        progress = True
        while progress:
            progress = False
            for s in list(self.servers):
                if self.process(s) is not None:
                    progress = True

    def crash_and_restart(self, name: str) -> None:
        srv = self.servers[sid(name)]
        srv.core = self._core(srv.id, srv.disk)
        srv.applied = []

    def tick(self, name: str, n: int = 1) -> None:
        for _ in range(n):
            self[name].tick()
            self.process(name)

    def campaign(self, name: str) -> None:
        """Fire `name`'s election timer."""
        core = self[name]
        for _ in range(self.timeouts.get(sid(name), self.options.election_timeout_ticks) + 1):
            if core.role.value != "follower":
                break
            core.tick()
        self.process(name)

    def deliver(
        self, keep: Callable[[m.Message], bool] = lambda _msg: True, rounds: int = 100
    ) -> list[m.Message]:
        """Deliver queued messages (and their consequences) until quiet; returns what was dropped."""
        dropped: list[m.Message] = []
        for _ in range(rounds):
            if not self.queue:
                break
            batch, self.queue = self.queue, []
            for msg in batch:
                if msg.dst not in self.servers or not keep(msg):
                    dropped.append(msg)
                    continue
                self.servers[msg.dst].core.step(msg)
                self.process(msg.dst)
            self.process_all()
        return dropped

    def take(self, kind: type[m.Message] | None = None) -> list[m.Message]:
        """Remove queued messages (of one type) from the network, e.g. to drop them."""
        taken = [msg for msg in self.queue if kind is None or isinstance(msg, kind)]
        self.queue = [msg for msg in self.queue if not (kind is None or isinstance(msg, kind))]
        return taken

    def log_terms(self, name: str) -> list[int]:
        core = self[name]
        return [int(core.log.term_at(i) or 0) for i in range(core.log.first_index, core.log.last_index + 1)]
