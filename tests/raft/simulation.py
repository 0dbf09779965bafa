"""A seeded, randomized simulation of raft cores on logical time (the "nemesis" test).

One `Simulation(seed)` builds 3-7 servers and runs them for a number of ticks while a nemesis
drops, delays, duplicates and reorders messages, partitions the network, crashes servers (losing
whatever was not yet persisted, sometimes in the middle of persisting a `Ready`), restarts them,
changes the membership (learners first, then voters through joint consensus), transfers
leadership and takes snapshots. Clients write unique values to a replicated register and read it
through read barriers, at leaders and at followers (forwarding).

Checked after every step (Raft thesis §3.6.3 / paper figure 3):
- election safety: at most one leader per term;
- log matching: an (index, term) pair always denotes the same entry with the same predecessor
  term (checked on every persisted entry, which by induction gives identical prefixes);
- leader completeness: a new leader's log holds every entry known to be committed;
- state machine safety: every server applies the same entry at a given index;
- commit indexes never decrease; the core never logs an error.
At the end: the faults stop, and a leader must emerge and commit a final write (liveness), then
the register history must be linearizable (see `check_linearizable`).

Everything random comes from `random.Random(seed)`: a failure replays exactly from its seed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from raft import messages as m
from raft.core import Core, CoreOptions
from raft.errors import RaftError
from raft.fs import MemoryFileSystem
from raft.persistence import ENTRY, FilePersistence, encode_record
from raft.ready import OutcomeKind, Ready, Role
from raft.types import NO_INDEX, HardState, Index, LogEntry, ServerId, Snapshot, Term
from tests.raft.harness import Disk, bootstrap_snapshot


class SimulationFailure(AssertionError):
    pass


class FileDisk(Disk):
    """A `Disk` whose durable copy is the real `FilePersistence` over a `MemoryFileSystem`.

    The inherited fields mirror what `save()` acknowledged; after a crash the files must load back
    to exactly that (persistence is exercised with the core's real write pattern: overwrites,
    local compactions, received snapshots).
    """

    def __init__(self, hard_state: HardState, snapshot: Snapshot) -> None:
        super().__init__(hard_state, snapshot)
        self.fs = MemoryFileSystem()
        self.files = FilePersistence(self.fs, "/raft")
        self.files.bootstrap(snapshot.descriptor.config)
        self.files.load()

    def persist(self, rd: Ready) -> None:
        self.files.save(rd.hard_state, rd.snapshot, rd.entries)
        super().persist(rd)

    def compact(self, snapshot: Snapshot) -> None:
        self.files.compact(snapshot, Index(snapshot.descriptor.index + 1))
        super().compact(snapshot)

    def crash_and_check(self, rng: random.Random) -> str | None:
        if rng.random() < 0.5:
            # The power fails in the middle of an append that was never synced: a torn record.
            record = encode_record(ENTRY, b"\x95" + bytes(rng.randrange(256) for _ in range(40)))
            self.fs.append("/raft/log", record[: rng.randint(1, len(record) - 1)])
        self.fs.crash(rng)
        self.files = FilePersistence(self.fs, "/raft")
        st = self.files.load()
        got = (st.hard_state, st.snapshot, st.entries)
        want = (self.hard_state, self.snapshot, self.entries)
        return None if got == want else f"recovered {got!r:.300} instead of {want!r:.300}"


@dataclass
class WriteOp:
    op_id: int
    node: ServerId
    invoked: int
    completed: int | None = None
    status: str = "pending"  # pending -> ok | dropped | unknown
    forwarded: bool = False


@dataclass
class ReadOp:
    op_id: int
    node: ServerId
    invoked: int
    completed: int | None = None
    value: int | None = None
    index: Index | None = None


@dataclass
class SimServer:
    id: ServerId
    disk: Disk
    core: Core | None = None
    value: int = 0  # the register: id of the last write applied
    # Write ids applied so far: the network may duplicate a forwarded proposal, so the state
    # machine deduplicates commands, as the thesis prescribes for exactly-once semantics (§6.3).
    seen: set[int] = field(default_factory=set)
    applied: Index = NO_INDEX
    last_commit: Index = NO_INDEX
    checked_term: Term | None = None  # last term in which leader completeness was checked
    down_until: int = 0
    proposals: dict[int, WriteOp] = field(default_factory=dict)  # forwarded, awaiting outcome
    waiting_writes: dict[int, tuple[Term, WriteOp]] = field(default_factory=dict)  # by index
    reads: dict[int, ReadOp] = field(default_factory=dict)
    waiting_reads: list[ReadOp] = field(default_factory=list)


class _ErrorCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


@contextmanager
def _catch_core_errors() -> Iterator[_ErrorCatcher]:
    catcher = _ErrorCatcher()
    log = logging.getLogger("raft")
    log.addHandler(catcher)
    try:
        yield catcher
    finally:
        log.removeHandler(catcher)


class Simulation:
    def __init__(self, seed: int, ticks: int = 120) -> None:
        self.seed = seed
        rng = self.rng = random.Random(seed)
        self.ticks = ticks
        self.now = 0
        n = rng.randint(3, 7)
        self.names = [ServerId(f"n{i}") for i in range(1, n + 1)]
        k = rng.randint(min(3, n), n)
        voters = [str(s) for s in self.names[:k]]
        self.initial_voters = [ServerId(v) for v in voters]
        self.election_ticks = 10
        self.options = CoreOptions(
            election_timeout_ticks=self.election_ticks,
            heartbeat_ticks=rng.choice((1, 2)),
            pre_vote=rng.random() < 0.7,
            check_quorum=rng.random() < 0.8,
            max_append_bytes=rng.choice((64, 1 << 20)),  # small batches exercise pipelining
        )
        self.drop = rng.choice((0.0, 0.02, 0.1))
        self.dup = rng.choice((0.0, 0.03))
        self.max_delay = rng.choice((0, 1, 3))
        self.crash_rate = rng.choice((0.0, 0.01, 0.03))
        self.partition_rate = rng.choice((0.0, 0.02, 0.05))
        self.change_rate = rng.choice((0.0, 0.05))
        self.client_rate = rng.choice((0.3, 0.8))
        self.snapshot_every = rng.choice((4, 10, 1000))
        self.servers: dict[ServerId, SimServer] = {}
        for s in self.names:
            snap = bootstrap_snapshot(voters) if s in voters else bootstrap_snapshot(())
            # A quarter of the seeds run the real file persistence underneath (slower).
            disk_type = FileDisk if seed % 4 == 0 else Disk
            srv = SimServer(s, disk_type(HardState(Term(0), None), snap))
            self.servers[s] = srv
            self._start(srv)
        self.queue: list[tuple[int, int, m.Message]] = []  # (due, tiebreak, message)
        self.partition: dict[ServerId, int] = {}
        self.partition_until = 0
        self.leaders: dict[int, ServerId] = {}
        self.entries: dict[tuple[int, int], tuple[bytes, int]] = {}  # (index, term) -> (data, prev term)
        self.committed: dict[int, LogEntry] = {}
        self.writes: dict[int, WriteOp] = {}
        self.reads: list[ReadOp] = []
        self.next_op = 1
        self.faults = True

    # ---- lifecycle ---------------------------------------------------------------------

    def _start(self, srv: SimServer) -> None:
        timeouts = random.Random(self.rng.random())
        srv.core = Core(
            srv.id, srv.disk.hard_state, srv.disk.snapshot, list(srv.disk.entries), self.options,
            election_timeout=lambda: timeouts.randrange(self.election_ticks, 2 * self.election_ticks),
        )
        self._restore(srv, srv.disk.snapshot)
        srv.applied = srv.disk.snapshot.descriptor.index
        srv.last_commit = srv.core.log.commit_index

    def _crash(self, srv: SimServer, mid_ready: bool) -> None:
        core = srv.core
        assert core is not None
        if mid_ready and core.has_ready():
            # Crash while persisting: the hard state and a prefix of the entries made it to disk,
            # nothing was sent (Ready rule: send only after everything is durable).
            rd = core.ready()
            cut = self.rng.randint(0, len(rd.entries))
            partial = Ready(rd.hard_state, rd.snapshot, rd.entries[:cut], (), (), (), (), rd.role, rd.leader_id,
                            rd.term, rd.commit_index)
            self._persist(srv, partial)
        srv.core = None
        if isinstance(srv.disk, FileDisk):
            problem = srv.disk.crash_and_check(self.rng)
            if problem:
                self.fail(f"{srv.id}: persistence {problem}")
        srv.down_until = self.now + self.rng.randint(3, 30)
        for op in [*srv.proposals.values(), *(op for _, op in srv.waiting_writes.values())]:
            op.status = "unknown"
        srv.proposals.clear()
        srv.waiting_writes.clear()
        srv.reads.clear()
        srv.waiting_reads.clear()

    def fail(self, why: str) -> None:
        raise SimulationFailure(
            f"seed {self.seed} at tick {self.now}: {why}\n"
            f"replay: RAFT_SIM_SEED={self.seed} python -m pytest tests/raft/test_simulation.py -k replay"
        )

    # ---- the main loop -----------------------------------------------------------------

    def run(self) -> None:
        with _catch_core_errors() as errors:
            for _ in range(self.ticks):
                self._step_tick()
                if errors.records:
                    self.fail(f"core logged an error: {errors.records[0]}")
            self._settle()
            if errors.records:
                self.fail(f"core logged an error: {errors.records[0]}")
        self.check_linearizable()

    def _step_tick(self) -> None:
        self.now += 1
        rng = self.rng
        if self.faults:
            self._nemesis()
        for srv in self.servers.values():
            if srv.core is None and self.now >= srv.down_until:
                self._start(srv)
        for srv in self.servers.values():
            if srv.core is not None and (not self.faults or rng.random() > 0.1):  # clock skew
                srv.core.tick()
                self._process(srv)
        if self.faults and rng.random() < self.client_rate:
            self._client_op()
        if self.faults and rng.random() < self.change_rate:
            self._change_membership()
        self._deliver()

    def _nemesis(self) -> None:
        rng = self.rng
        if self.partition and self.now >= self.partition_until:
            self.partition = {}
        if not self.partition and rng.random() < self.partition_rate:
            self.partition = {s: rng.randint(0, 1) for s in self.names}
            self.partition_until = self.now + rng.randint(5, 40)
        if rng.random() < self.crash_rate:
            alive = [s for s in self.servers.values() if s.core is not None]
            if alive:
                self._crash(rng.choice(alive), mid_ready=rng.random() < 0.5)

    def _deliver(self) -> None:
        rng = self.rng
        due = [q for q in self.queue if q[0] <= self.now]
        if not due:
            return
        self.queue = [q for q in self.queue if q[0] > self.now]
        rng.shuffle(due)  # reorder messages arriving in the same tick
        for _, _, msg in due:
            if self.faults and rng.random() < self.drop:
                continue
            if self.partition and self.partition.get(msg.src) != self.partition.get(msg.dst):
                continue
            srv = self.servers[msg.dst]
            if srv.core is None:
                continue
            srv.core.step(msg)
            if rng.random() < 0.8 or not self.faults:
                self._process(srv)
        for srv in self.servers.values():
            if srv.core is not None:
                self._process(srv)

    def _send(self, msg: m.Message) -> None:
        delay = self.rng.randint(0, self.max_delay) if self.faults else 0
        self.queue.append((self.now + delay + 1, 0, msg))
        if self.faults and self.dup and self.rng.random() < self.dup:
            self.queue.append((self.now + self.rng.randint(1, 5), 1, msg))

    # ---- processing a Ready and checking invariants ------------------------------------

    def _persist(self, srv: SimServer, rd: Ready) -> None:
        srv.disk.persist(rd)
        if rd.entries:
            # Log matching, checked on what is durable: (index, term) fixes data and predecessor.
            by_index = {e.index: e.term for e in srv.disk.entries}
            snap = srv.disk.snapshot.descriptor
            for e in rd.entries:
                prev = snap.term if e.index - 1 == snap.index else by_index.get(Index(e.index - 1), Term(-1))
                key = (int(e.index), int(e.term))
                seen = self.entries.setdefault(key, (e.data, int(prev)))
                if seen != (e.data, int(prev)):
                    self.fail(f"log matching violated at {key} on {srv.id}: {seen} vs {(e.data, prev)}")

    def _process(self, srv: SimServer) -> None:
        core = srv.core
        assert core is not None
        while core.has_ready():
            rd = core.ready()
            self._persist(srv, rd)
            for msg in rd.messages:
                self._send(msg)
            if rd.snapshot is not None:
                self._restore(srv, rd.snapshot)
                for idx in [i for i in srv.waiting_writes if i <= srv.applied]:
                    srv.waiting_writes.pop(idx)[1].status = "unknown"
            for e in rd.committed:
                self._apply(srv, e)
            for rs in rd.read_states:
                op = srv.reads.pop(rs.request_id, None)
                if op is not None:
                    if rs.index is None:
                        op.completed = -1  # failed: not part of the history
                    else:
                        op.index = rs.index
                        srv.waiting_reads.append(op)
            for oc in rd.proposal_outcomes:
                w = srv.proposals.pop(oc.proposal_id, None)
                if w is None:
                    continue
                if oc.kind == OutcomeKind.APPENDED:
                    self._await_write(srv, oc.term, oc.index, w)
                else:
                    # A refusal proves nothing was appended only if the request was not duplicated.
                    refused = oc.kind == OutcomeKind.REJECTED and not self.dup
                    w.status = "dropped" if refused else "unknown"
            core.advance(rd)
            self._complete_reads(srv)
            self._check_roles(srv, rd)
            self._maybe_snapshot(srv)

    @staticmethod
    def _restore(srv: SimServer, snap: Snapshot) -> None:
        value, _, seen = snap.data.partition(b";")
        srv.value = int(value) if value else 0
        srv.seen = {int(x) for x in seen.split(b",") if x}
        srv.applied = snap.descriptor.index

    def _apply(self, srv: SimServer, e: LogEntry) -> None:
        if e.index != srv.applied + 1:
            self.fail(f"{srv.id} applied {e.index} after {srv.applied}")
        seen = self.committed.setdefault(e.index, e)
        if (seen.term, seen.data) != (e.term, e.data):
            self.fail(f"state machine safety: {srv.id} applied {e} but {seen} was applied before")
        srv.applied = e.index
        if e.data.startswith(b"w") and int(e.data[1:]) not in srv.seen:
            srv.value = int(e.data[1:])
            srv.seen.add(srv.value)
        waiting = srv.waiting_writes.pop(e.index, None)
        if waiting is not None:
            term, op = waiting
            if term == e.term:
                op.status = "ok"
            else:
                # Another entry took the index. If the network may have duplicated the forwarded
                # proposal, another copy of the command may still commit: the outcome is unknown.
                op.status = "unknown" if op.forwarded and self.dup else "dropped"
            op.completed = self.now

    def _await_write(self, srv: SimServer, term: Term, index: Index, w: WriteOp) -> None:
        if index <= srv.applied:
            w.status = "unknown"  # already applied (or covered by a snapshot) before we knew
        else:
            srv.waiting_writes[index] = (term, w)

    def _complete_reads(self, srv: SimServer) -> None:
        if not srv.waiting_reads:
            return
        still = []
        for op in srv.waiting_reads:
            assert op.index is not None
            if srv.applied >= op.index:
                op.completed = self.now
                op.value = srv.value
            else:
                still.append(op)
        srv.waiting_reads = still

    def _check_roles(self, srv: SimServer, rd: Ready) -> None:
        core = srv.core
        assert core is not None
        if core.log.commit_index < srv.last_commit:
            self.fail(f"{srv.id} commit index went back from {srv.last_commit} to {core.log.commit_index}")
        srv.last_commit = core.log.commit_index
        if rd.role != Role.LEADER:
            return
        holder = self.leaders.setdefault(rd.term, srv.id)
        if holder != srv.id:
            self.fail(f"election safety: {holder} and {srv.id} both lead term {rd.term}")
        if srv.checked_term == rd.term:
            return
        srv.checked_term = rd.term
        # Leader completeness (thesis §3.6.3): every committed entry is in the new leader's log.
        for idx, e in self.committed.items():
            if idx > core.log.snapshot.index and core.log.term_at(idx) != e.term:
                self.fail(f"leader completeness: {srv.id} leads term {rd.term} without committed {e}")

    def _maybe_snapshot(self, srv: SimServer) -> None:
        core = srv.core
        assert core is not None
        if srv.applied - core.snapshot.descriptor.index < self.snapshot_every:
            return
        desc = core.describe_snapshot(srv.applied)
        snap = Snapshot(desc, b"%d;%s" % (srv.value, b",".join(b"%d" % x for x in sorted(srv.seen))))
        srv.disk.compact(snap)
        core.compact(snap, keep_trailing=self.rng.randint(0, 3))

    # ---- clients and operators ---------------------------------------------------------

    def _client_op(self) -> None:
        rng = self.rng
        alive = [s for s in self.servers.values() if s.core is not None]
        if not alive:
            return
        srv = rng.choice(alive)
        core = srv.core
        assert core is not None
        op_id = self.next_op
        self.next_op += 1
        try:
            if rng.random() < 0.6:
                w = WriteOp(op_id, srv.id, self.now)
                data = b"w%d" % op_id
                if core.role == Role.LEADER:
                    term, index = core.propose(data)
                    self._await_write(srv, term, index, w)
                else:
                    core.forward_proposal(op_id, data)
                    w.forwarded = True
                    srv.proposals[op_id] = w
                self.writes[op_id] = w
            else:
                core.read_index(op_id)
                r = ReadOp(op_id, srv.id, self.now)
                srv.reads[op_id] = r
                self.reads.append(r)
        except RaftError:
            return  # refused up front (no leader known, transfer in progress): never invoked
        self._process(srv)

    def _change_membership(self) -> None:
        rng = self.rng
        leaders = [s for s in self.servers.values() if s.core is not None and s.core.role == Role.LEADER]
        if not leaders:
            return
        srv = max(leaders, key=lambda s: s.core.term if s.core else 0)
        core = srv.core
        assert core is not None
        cfg = core.config
        voters, learners = set(cfg.voters), set(cfg.learners)
        outsiders = [s for s in self.names if s not in cfg.members]
        choice = rng.random()
        try:
            if choice < 0.15 and len(voters) > 1:
                core.transfer_leadership(rng.choice(sorted(voters - {srv.id})))
                self._process(srv)
                return
            if choice < 0.45 and outsiders:
                learners.add(rng.choice(outsiders))
            elif choice < 0.75 and learners:
                x = rng.choice(sorted(learners))
                pr = core.progress(x)
                if pr is None or pr.match_index < core.log.commit_index:
                    return  # §4.2.1: only promote a learner that has caught up
                learners.discard(x)
                voters.add(x)
            elif len(voters) > 1:
                x = rng.choice(sorted(voters))
                voters.discard(x)
                if rng.random() < 0.3:
                    learners.add(x)
            else:
                return
            core.propose_config(frozenset(voters), frozenset(learners))
        except RaftError:
            return
        self._process(srv)

    # ---- end of run --------------------------------------------------------------------

    def _settle(self) -> None:
        """Stop the faults, restart everyone, and require progress (liveness)."""
        self.faults = False
        self.partition = {}
        # Thesis §4.2.2: servers outside the committed configuration may be shut down; without
        # pre-vote and check-quorum a removed server could otherwise disrupt elections forever
        # (§4.2.3), which is the documented price of turning those options off.
        configs = [e.config for _, e in sorted(self.committed.items()) if e.config is not None]
        members = configs[-1].members if configs else frozenset(self.initial_voters)
        for srv in self.servers.values():
            if srv.id in members:
                srv.down_until = 0
            else:
                if srv.core is not None:
                    self._crash(srv, mid_ready=False)
                srv.down_until = 1 << 30
        deadline = self.now + 12 * self.election_ticks
        final: WriteOp | None = None
        while self.now < deadline:
            self._step_tick()
            leaders = [s for s in self.servers.values() if s.core is not None and s.core.role == Role.LEADER]
            stale = final is not None and (final.status != "pending" or self.now - final.invoked > 30)
            if (final is None or (stale and final.status != "ok")) and leaders:
                srv = max(leaders, key=lambda s: s.core.term if s.core else 0)
                assert srv.core is not None
                try:
                    term, index = srv.core.propose(b"w%d" % self.next_op)
                except RaftError:
                    continue
                final = WriteOp(self.next_op, srv.id, self.now)
                self.writes[self.next_op] = final
                self.next_op += 1
                self._await_write(srv, term, index, final)
                self._process(srv)
            if final is not None and final.status == "ok":
                return
        self.fail(f"no progress after faults stopped (final write: {final})")

    def check_linearizable(self) -> None:
        """Linearizability of the register history, given the write order raft committed.

        With unique write values and the total order of writes known (their log indexes), a
        history is linearizable iff (Gibbons & Korach) no operation observes the future or the
        past in real time; the checks below are the pairwise conditions:
        - a completed write is in the log; a dropped write is not;
        - writes ordered in real time are ordered in the log;
        - a read returns a write that was invoked before the read completed, not older than any
          write completed before the read was invoked, and no later than writes invoked after
          the read completed;
        - reads ordered in real time observe non-decreasing log positions.
        """
        pos: dict[int, int] = {0: 0}
        for idx, e in sorted(self.committed.items()):
            if e.data.startswith(b"w"):
                pos.setdefault(int(e.data[1:]), idx)  # the first copy is the one applied
        writes = list(self.writes.values())
        for w in writes:
            if w.status == "ok" and w.op_id not in pos:
                self.fail(f"acknowledged write {w} is not in the committed log")
            if w.status == "dropped" and w.op_id in pos:
                self.fail(f"write {w} reported dropped but committed at {pos[w.op_id]}")
        done = sorted((w for w in writes if w.status == "ok" and w.completed is not None),
                      key=lambda w: w.completed or 0)
        for a in done:
            for b in done:
                if (a.completed or 0) < b.invoked and pos[a.op_id] >= pos[b.op_id]:
                    self.fail(f"writes {a} and {b} committed against real-time order")
        reads = [r for r in self.reads if r.completed is not None and r.completed >= 0]
        for r in reads:
            assert r.value is not None and r.completed is not None
            if r.value not in pos:
                self.fail(f"read {r} returned a value that was never committed")
            p = pos[r.value]
            if r.value and self.writes[r.value].invoked > r.completed:
                self.fail(f"read {r} saw write {r.value} from its future")
            for w in done:
                if (w.completed or 0) < r.invoked and pos[w.op_id] > p:
                    self.fail(f"stale read {r}: write {w} (at {pos[w.op_id]}) completed before it")
            for w in writes:
                if w.invoked > r.completed and w.op_id in pos and pos[w.op_id] <= p:
                    self.fail(f"read {r} saw position {p} but later write {w} sits at {pos[w.op_id]}")
        for r1 in reads:
            for r2 in reads:
                if (r1.completed or 0) < r2.invoked and pos[r1.value or 0] > pos[r2.value or 0]:
                    self.fail(f"reads {r1} then {r2} went back in time")
