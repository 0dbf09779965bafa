"""The deterministic raft core: one server's protocol state machine (thesis chapters 3-6, 9.6).

Owns: the role (follower, pre-candidate, candidate, leader), the current term and vote, the
in-memory log, the election timer counted in ticks, and the leader-only `LeaderState`.

Inputs are `step(message)`, `tick()` and the client calls (`propose`, `forward_proposal`,
`read_index`, `propose_config`, `transfer_leadership`, `compact`); the only output is `ready()`
(see raft/ready.py for the processing rules) acknowledged with `advance()`.

Invariants (checked by the simulation in tests/raft):
- at most one leader per term (election safety, thesis §3.6.1): we vote at most once per term and
  the vote is persisted before the VoteResponse leaves (Ready ordering);
- a leader only counts replicas towards commit for entries of its own term (thesis §3.6.2);
- the commit index never decreases and a committed entry is never truncated.

Must never: read a clock, draw random numbers, perform I/O, or raise on bad peer input (bad
messages are logged and dropped; state is unchanged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from raft import messages as m
from raft.errors import ConfigChangeInProgress, EntryTooLarge, NotLeader, RaftError, TransferInProgress
from raft.leader import LeaderState, PendingRead, Progress, ReplicationMode
from raft.log import LogError, RaftLog
from raft.ready import OutcomeKind, ProposalOutcome, ReadState, Ready, Role
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

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CoreOptions:
    election_timeout_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True  # thesis §9.6
    check_quorum: bool = True  # thesis §6.2 (also enables leader stickiness, §4.2.3)
    max_entry_bytes: int = 1 << 20
    max_append_bytes: int = 1 << 20


class Core:
    """One raft server's protocol logic. Not thread-safe: drive it from one task."""

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

    # ---- public queries ------------------------------------------------------------------

    @property
    def config(self) -> Configuration:
        return self.log.configuration()

    @property
    def applied_index(self) -> Index:
        return self._applied

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def progress(self, server: ServerId) -> Progress | None:
        """Leader only: replication progress of `server` (None elsewhere)."""
        return self._leader.progress.get(server) if self._leader else None

    # ---- client requests -----------------------------------------------------------------

    def propose(self, data: bytes) -> tuple[Term, Index]:
        """Leader: append a command; returns where. Raises NotLeader / EntryTooLarge / Transfer."""
        return self._append_command(data, EntryKind.COMMAND)

    def forward_proposal(self, proposal_id: int, data: bytes) -> None:
        """Follower: ask the known leader to append `data` (answer in Ready.proposal_outcomes)."""
        if len(data) > self.options.max_entry_bytes:
            raise EntryTooLarge(f"entry of {len(data)} bytes exceeds {self.options.max_entry_bytes}")
        if self.role == Role.LEADER or self.leader_id is None:
            raise NotLeader(self.leader_id, "cannot forward")
        self._forwarded_proposals[proposal_id] = self.leader_id
        self._send(m.ForwardProposal(self.id, self.leader_id, self.term, proposal_id, data))

    def read_index(self, request_id: int) -> None:
        """Start a read barrier (thesis §6.4); the answer arrives in Ready.read_states."""
        if self._leader is not None:
            self._leader_read(PendingRead(request_id, self.id))
        elif self.leader_id is not None:
            self._forwarded_reads[request_id] = self.leader_id
            self._send(m.ReadIndexRequest(self.id, self.leader_id, self.term, request_id))
        else:
            self._read_states.append(ReadState(request_id, None))

    def propose_config(self, voters: frozenset[ServerId], learners: frozenset[ServerId]) -> Index:
        """Leader: change membership, through a joint configuration if voters change (thesis §4.3).

        Returns the index of the first configuration entry. One change at a time: refused while
        the previous change is uncommitted or still joint.
        """
        self._require_leader()
        cur = self.config
        if cur.is_joint or self.log.last_config_index() > self.log.commit_index:
            raise ConfigChangeInProgress("previous configuration change not finished")
        if not voters:
            raise RaftError("a configuration needs at least one voter")
        if voters == cur.voters:
            target = Configuration(voters=voters, learners=learners)
        else:
            target = Configuration(voters=voters, learners=learners - voters, old_voters=cur.voters)
        return self._append(EntryKind.CONFIG, b"", target)

    def transfer_leadership(self, target: ServerId) -> None:
        """Leader: hand leadership to `target` (thesis §3.10)."""
        leader = self._require_leader()
        if target == self.id or not self.config.can_vote(target) or target not in leader.progress:
            raise RaftError(f"cannot transfer leadership to {target}")
        leader.transfer_target = target
        leader.transfer_ticks = 0
        pr = leader.progress[target]
        if pr.match_index == self.log.last_index:
            self._send(m.TimeoutNow(self.id, target, self.term))
        else:
            self._send_append(target, pr)

    def describe_snapshot(self, index: Index) -> SnapshotDescriptor:
        """Descriptor for a local snapshot of the state after applying `index` (<= applied)."""
        if not self.log.snapshot.index <= index <= self._applied:
            raise RaftError(f"cannot snapshot at {index}: applied {self._applied}")
        term = self.log.term_at(index)
        assert term is not None
        return SnapshotDescriptor(index, term, self.log.config_at(index))

    def compact(self, snapshot: Snapshot, keep_trailing: int) -> None:
        """Adopt a local snapshot the driver has already persisted; truncate the log prefix."""
        if snapshot.descriptor.index <= self._snapshot.descriptor.index:
            return
        self.log.compact(snapshot.descriptor, keep_trailing)
        self._snapshot = snapshot

    # ---- time ----------------------------------------------------------------------------

    def tick(self) -> None:
        if self._leader is not None:
            self._tick_leader(self._leader)
            return
        self._election_elapsed += 1
        if self._election_elapsed >= self._timeout and self._promotable():
            self._campaign(pre_vote=self.options.pre_vote, force=False)

    def _tick_leader(self, leader: LeaderState) -> None:
        self._election_elapsed += 1
        self._heartbeat_elapsed += 1
        if self._election_elapsed >= self.options.election_timeout_ticks:
            self._election_elapsed = 0
            # Check quorum (thesis §6.2): step down if a quorum was silent for a whole timeout.
            if self.options.check_quorum and not self.config.has_quorum(leader.active | {self.id}):
                logger.info("%s: leader lost its quorum in term %d, stepping down", self.id, self.term)
                self._become_follower(self.term, None)
                return
            leader.active = set()
        if leader.transfer_target is not None:
            leader.transfer_ticks += 1
            if leader.transfer_ticks >= self.options.election_timeout_ticks:
                logger.info("%s: leadership transfer to %s timed out", self.id, leader.transfer_target)
                leader.transfer_target = None
        if self._heartbeat_elapsed >= self.options.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            for peer, pr in leader.progress.items():
                self._heartbeat(peer, pr)

    # ---- messages ------------------------------------------------------------------------

    def step(self, msg: m.Message) -> None:
        """Feed one message. Bad or stale input is logged and dropped without changing state."""
        if msg.dst != self.id:
            logger.warning("%s: dropping message addressed to %s", self.id, msg.dst)
            return
        if msg.src == self.id:
            logger.warning("%s: dropping message claiming to come from ourselves", self.id)
            return
        if isinstance(msg, m.VoteRequest) and msg.src not in self.config.members:
            # Before any term handling: a stranger's high term must not depose anyone.
            logger.warning("%s: rejecting vote request from unknown server %s", self.id, msg.src)
            return
        if msg.term > self.term:
            if isinstance(msg, m.VoteRequest):
                if self._in_lease() and not msg.force:
                    # Leader stickiness (thesis §4.2.3): a server that heard from a leader within
                    # the minimum election timeout ignores votes, so a removed or partitioned
                    # server cannot disrupt the cluster; the term is left untouched.
                    logger.debug("%s: ignoring vote from %s: leader lease", self.id, msg.src)
                    return
                if not msg.pre_vote:
                    # Figure 3.1: only granting a vote resets the election timer; a candidate
                    # with a stale log must not keep up-to-date servers from timing out.
                    self._become_follower(msg.term, None, reset_timer=False)
            elif isinstance(msg, m.VoteResponse) and msg.pre_vote and msg.granted:
                pass  # a granted pre-vote carries the proposed term, not the voter's (§9.6)
            else:
                leader = msg.src if isinstance(msg, m.AppendRequest | m.InstallSnapshot) else None
                self._become_follower(msg.term, leader)
        elif msg.term < self.term:
            self._reply_stale(msg)
            return
        self._dispatch(msg)

    def _reply_stale(self, msg: m.Message) -> None:
        # A stale leader learns our term from the reply and steps down (thesis §3.3).
        if isinstance(msg, m.AppendRequest):
            self._send(m.AppendResponse(self.id, msg.src, self.term, False, Index(0)))
        elif isinstance(msg, m.InstallSnapshot):
            self._send(m.SnapshotResponse(self.id, msg.src, self.term, Index(0), False))
        elif isinstance(msg, m.VoteRequest) and msg.pre_vote:
            self._send(m.VoteResponse(self.id, msg.src, self.term, False, pre_vote=True))
        elif isinstance(msg, m.ForwardProposal):
            self._send(m.ProposalResult(self.id, msg.src, self.term, msg.proposal_id, False))
        elif isinstance(msg, m.ReadIndexRequest):
            self._send(m.ReadIndexResponse(self.id, msg.src, self.term, msg.request_id, None))
        else:
            logger.debug("%s: dropping stale %s from %s", self.id, type(msg).__name__, msg.src)

    def _dispatch(self, msg: m.Message) -> None:
        if isinstance(msg, m.AppendRequest):
            self._on_append(msg)
        elif isinstance(msg, m.AppendResponse):
            self._on_append_response(msg)
        elif isinstance(msg, m.VoteRequest):
            self._on_vote_request(msg)
        elif isinstance(msg, m.VoteResponse):
            self._on_vote_response(msg)
        elif isinstance(msg, m.InstallSnapshot):
            self._on_install_snapshot(msg)
        elif isinstance(msg, m.SnapshotResponse):
            self._on_snapshot_response(msg)
        elif isinstance(msg, m.TimeoutNow):
            self._on_timeout_now(msg)
        elif isinstance(msg, m.ForwardProposal):
            self._on_forward_proposal(msg)
        elif isinstance(msg, m.ProposalResult):
            self._on_proposal_result(msg)
        elif isinstance(msg, m.ReadIndexRequest):
            self._on_read_request(msg)
        elif isinstance(msg, m.ReadIndexResponse):
            self._on_read_response(msg)

    # ---- elections (thesis §3.4, §3.6, §9.6) ----------------------------------------------

    def _promotable(self) -> bool:
        if self.config.can_vote(self.id):
            return True
        # A voter removed by a configuration that is not committed yet may still have to lead:
        # it may hold the only up-to-date log, and the remaining voters cannot elect anyone
        # without it (e.g. leaving a joint configuration after the leader crashed). It runs for
        # election under C_new, where its own vote does not count, commits C_new and then steps
        # down (thesis §4.2.2: a leader not in C_new manages the cluster until C_new commits).
        idx = self.log.last_config_index()
        return idx > self.log.commit_index and self.log.config_at(idx - 1).can_vote(self.id)

    def _in_lease(self) -> bool:
        return (
            self.options.check_quorum
            and self.leader_id is not None
            and self._election_elapsed < self.options.election_timeout_ticks
        )

    def _campaign(self, pre_vote: bool, force: bool) -> None:
        self._election_elapsed = 0
        self._timeout = self._next_timeout()
        if pre_vote:
            self.role = Role.PRE_CANDIDATE
            self.leader_id = None
            vote_term = Term(self.term + 1)
        else:
            self._become_candidate()
            vote_term = self.term
        self._votes = {self.id: True}
        if self.config.has_quorum([self.id]):
            self._on_election_won(pre_vote)
            return
        for peer in sorted(self.config.all_voters - {self.id}):
            self._send(
                m.VoteRequest(
                    self.id, peer, vote_term, self.log.last_index, self.log.last_term, pre_vote, force
                )
            )

    def _become_candidate(self) -> None:
        self._leader = None
        self.role = Role.CANDIDATE
        self.term = Term(self.term + 1)
        self.vote = self.id
        self.leader_id = None
        self._fail_forwarded()

    def _on_vote_request(self, msg: m.VoteRequest) -> None:
        up_to_date = self.log.is_up_to_date(msg.last_log_index, msg.last_log_term)
        if msg.pre_vote:
            # Grant if we would grant a real vote at that term: it is higher than ours, the log
            # is up to date, and we have not heard from a leader recently (thesis §9.6).
            ok = msg.term > self.term and up_to_date and not (self._in_lease() and not msg.force)
            self._send(m.VoteResponse(self.id, msg.src, msg.term if ok else self.term, ok, True))
            return
        can_vote = self.vote == msg.src or (self.vote is None and self.leader_id is None)
        granted = can_vote and up_to_date
        if granted:
            self.vote = msg.src
            self._election_elapsed = 0  # thesis §3.4: granting a vote resets the timer
        self._send(m.VoteResponse(self.id, msg.src, self.term, granted))

    def _on_vote_response(self, msg: m.VoteResponse) -> None:
        expected = Role.PRE_CANDIDATE if msg.pre_vote else Role.CANDIDATE
        if self.role != expected:
            return
        if msg.pre_vote and msg.granted and msg.term != self.term + 1:
            return  # an answer to an older pre-vote round
        self._votes[msg.src] = msg.granted
        granted = [s for s, ok in self._votes.items() if ok]
        if self.config.has_quorum(granted):
            self._on_election_won(msg.pre_vote)
        elif not self.config.has_quorum(set(self.config.all_voters) - {s for s, ok in self._votes.items() if not ok}):
            # A quorum refused: give up this round and wait for the next timeout.
            self._become_follower(self.term, None)

    def _on_election_won(self, pre_vote: bool) -> None:
        if pre_vote:
            self._campaign(pre_vote=False, force=False)
        else:
            self._become_leader()

    def _on_timeout_now(self, msg: m.TimeoutNow) -> None:
        if msg.src != self.leader_id or not self._promotable():
            logger.warning("%s: ignoring TimeoutNow from %s", self.id, msg.src)
            return
        # Thesis §3.10: start an election at once, bypassing pre-vote and followers' leases.
        self._campaign(pre_vote=False, force=True)

    # ---- role transitions ---------------------------------------------------------------

    def _become_follower(self, term: Term, leader_id: ServerId | None, reset_timer: bool = True) -> None:
        if self._leader is not None:
            self._fail_leader_reads(self._leader)
        if term != self.term or leader_id != self.leader_id:
            self._fail_forwarded()
        if term > self.term:
            self.vote = None
        self.term = term
        self.role = Role.FOLLOWER
        self.leader_id = leader_id
        self._leader = None
        if reset_timer:
            self._election_elapsed = 0
            self._timeout = self._next_timeout()

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader_id = self.id
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        leader = LeaderState()
        self._leader = leader
        leader.sync_members(self.id, self.config, self.log.last_index)
        # Thesis §3.6.2 / §6.4: a new leader commits a no-op to learn the commit index.
        leader.term_start_index = self._append(EntryKind.NOOP, b"", None)
        logger.info("%s: became leader of term %d", self.id, self.term)

    def _fail_forwarded(self) -> None:
        for pid in self._forwarded_proposals:
            self._outcomes.append(ProposalOutcome(pid, OutcomeKind.UNKNOWN))
        self._forwarded_proposals.clear()
        for rid in self._forwarded_reads:
            self._read_states.append(ReadState(rid, None))
        self._forwarded_reads.clear()

    # ---- log replication: follower side (thesis §3.5) ----------------------------------

    def _on_append(self, msg: m.AppendRequest) -> None:
        if self.role != Role.FOLLOWER or self.leader_id != msg.src:
            self._become_follower(self.term, msg.src)
        self._election_elapsed = 0
        if not self.log.matches(msg.prev_log_index, msg.prev_log_term):
            if msg.prev_log_index > self.log.last_index:
                hint_index, hint_term = Index(self.log.last_index + 1), Term(0)
            else:
                hint_term = self.log.term_at(msg.prev_log_index) or Term(0)
                hint_index = self.log.first_index_of_term(msg.prev_log_index)
            self._send(
                m.AppendResponse(
                    self.id, msg.src, self.term, False, msg.prev_log_index, hint_index, hint_term, msg.read_seq
                )
            )
            return
        try:
            for e in msg.entries:
                if e.index <= self.log.snapshot.index:
                    continue
                have = self.log.term_at(e.index)
                if have == e.term:
                    continue  # already have it (a duplicated or reordered request)
                if have is not None:
                    self.log.truncate_after(e.index - 1)
                self.log.append(e)
        except LogError as err:
            logger.error("%s: rejecting AppendRequest from %s: %s", self.id, msg.src, err)
            return
        last_new = Index(msg.prev_log_index + len(msg.entries))
        # Only what is known to match the leader may be committed (thesis figure 3.1, rule 5).
        self._commit_to(min(msg.commit_index, last_new))
        self._send(m.AppendResponse(self.id, msg.src, self.term, True, last_new, read_seq=msg.read_seq))

    def _on_install_snapshot(self, msg: m.InstallSnapshot) -> None:
        if self.role != Role.FOLLOWER or self.leader_id != msg.src:
            self._become_follower(self.term, msg.src)
        self._election_elapsed = 0
        desc = msg.snapshot.descriptor
        if desc.index <= self.log.commit_index:
            # We already have everything it covers (committed entries match the leader's log).
            self._send(m.SnapshotResponse(self.id, msg.src, self.term, self.log.commit_index, True))
            return
        logger.info("%s: installing snapshot up to %d from %s", self.id, desc.index, msg.src)
        self.log.restore(desc)
        self._snapshot = msg.snapshot
        self._pending_snapshot = msg.snapshot
        self._applied = desc.index
        self._send(m.SnapshotResponse(self.id, msg.src, self.term, desc.index, True))

    # ---- log replication: leader side --------------------------------------------------

    def _require_leader(self) -> LeaderState:
        if self._leader is None:
            raise NotLeader(self.leader_id)
        return self._leader

    def _append_command(self, data: bytes, kind: EntryKind) -> tuple[Term, Index]:
        leader = self._require_leader()
        if leader.transfer_target is not None:
            raise TransferInProgress(f"transferring leadership to {leader.transfer_target}")
        if len(data) > self.options.max_entry_bytes:
            raise EntryTooLarge(f"entry of {len(data)} bytes exceeds {self.options.max_entry_bytes}")
        return self.term, self._append(kind, data, None)

    def _append(self, kind: EntryKind, data: bytes, config: Configuration | None) -> Index:
        entry = LogEntry(self.term, Index(self.log.last_index + 1), kind, data, config)
        self.log.append(entry)
        if config is not None and self._leader is not None:
            self._leader.sync_members(self.id, config, Index(entry.index - 1))
        self._need_broadcast = True
        # No commit check here: the new entry is not durable yet, so it cannot complete a quorum;
        # advance() re-checks once it is (that is how a single-voter cluster commits).
        return entry.index

    def _send_append(self, peer: ServerId, pr: Progress) -> None:
        prev = Index(pr.next_index - 1)
        prev_term = self.log.term_at(prev)
        if prev_term is None:
            self._send_snapshot(peer, pr)
            return
        entries = tuple(self.log.slice(pr.next_index, self.log.last_index, self.options.max_append_bytes))
        assert self._leader is not None
        self._send(
            m.AppendRequest(
                self.id, peer, self.term, prev, prev_term, entries, self.log.commit_index, self._leader.read_seq
            )
        )
        if entries and pr.mode == ReplicationMode.REPLICATE:
            pr.next_index = Index(entries[-1].index + 1)  # pipelining: assume they arrive
        elif pr.mode == ReplicationMode.PROBE:
            pr.paused = True
            pr.wait_ticks = 0

    def _send_snapshot(self, peer: ServerId, pr: Progress) -> None:
        pr.mode = ReplicationMode.SNAPSHOT
        pr.wait_ticks = 0
        self._send(m.InstallSnapshot(self.id, peer, self.term, self._snapshot))

    def _send_heartbeat(self, peer: ServerId, pr: Progress) -> None:
        # A heartbeat checks the entry just before next_index, so the follower can commit up to
        # there (thesis §3.5) and a lost append shows up as a rejection. If that entry was
        # compacted we fall back to the acknowledged match index, or to index 0, which matches
        # every log.
        prev = Index(pr.next_index - 1)
        prev_term = self.log.term_at(prev)
        if prev_term is None:
            prev, prev_term = pr.match_index, self.log.term_at(pr.match_index)
        if prev_term is None:
            prev, prev_term = NO_INDEX, NO_TERM
        assert self._leader is not None
        self._send(
            m.AppendRequest(self.id, peer, self.term, prev, prev_term, (), self.log.commit_index, self._leader.read_seq)
        )

    def _heartbeat(self, peer: ServerId, pr: Progress) -> None:
        if pr.mode == ReplicationMode.SNAPSHOT:
            pr.wait_ticks += 1
            if pr.wait_ticks >= self.options.election_timeout_ticks:
                self._send_snapshot(peer, pr)  # the snapshot or its answer was probably lost
            return
        if pr.mode == ReplicationMode.PROBE:
            # Retransmit the probe each heartbeat: messages may be lost.
            pr.paused = False
            self._send_append(peer, pr)
            return
        if pr.match_index < pr.next_index - 1:
            pr.wait_ticks += 1
            if pr.wait_ticks >= max(2, self.options.election_timeout_ticks // 4):
                # No acknowledgement for a while: in-flight appends were probably lost; resend
                # from the last known match.
                pr.next_index = Index(pr.match_index + 1)
                pr.mode = ReplicationMode.PROBE
                self._send_append(peer, pr)
                return
        if pr.next_index <= self.log.last_index:
            self._send_append(peer, pr)
        else:
            self._send_heartbeat(peer, pr)

    def _broadcast(self) -> None:
        assert self._leader is not None
        for peer, pr in self._leader.progress.items():
            if pr.mode == ReplicationMode.SNAPSHOT or (pr.mode == ReplicationMode.PROBE and pr.paused):
                continue
            if pr.next_index <= self.log.last_index:
                self._send_append(peer, pr)
            elif pr.mode == ReplicationMode.REPLICATE:
                # Nothing new to send, but the commit index moved: tell the follower now rather
                # than at the next heartbeat, so forwarded proposals complete sooner.
                self._send_heartbeat(peer, pr)

    def _on_append_response(self, msg: m.AppendResponse) -> None:
        leader = self._leader
        if leader is None or (pr := leader.progress.get(msg.src)) is None:
            return
        leader.active.add(msg.src)
        if msg.read_seq > leader.read_acks.get(msg.src, 0):
            leader.read_acks[msg.src] = msg.read_seq
            self._release_reads(leader)
        if not msg.success:
            if msg.match_index < pr.match_index:
                return  # stale rejection of something already matched
            # Fast backtracking (thesis §5.3 end): skip the follower's whole conflicting term.
            nxt = msg.conflict_index
            if msg.conflict_term:
                have = self.log.last_index_of_term(msg.conflict_term)
                if have is not None:
                    nxt = Index(have + 1)
            pr.next_index = Index(max(pr.match_index + 1, min(nxt, msg.match_index)))
            pr.mode = ReplicationMode.PROBE
            pr.paused = False
            self._send_append(msg.src, pr)
            return
        if msg.match_index > pr.match_index:
            pr.match_index = msg.match_index
            pr.wait_ticks = 0
            self._maybe_commit()
            if self._leader is not leader:
                return  # committing our own removal made us step down
        pr.next_index = Index(max(pr.next_index, pr.match_index + 1))
        if pr.mode != ReplicationMode.REPLICATE and msg.match_index + 1 >= pr.next_index:
            # The answer confirms our guess of next_index: start streaming (thesis §3.5).
            pr.mode = ReplicationMode.REPLICATE
            pr.paused = False
            if pr.next_index <= self.log.last_index:
                self._send_append(msg.src, pr)
        self._maybe_send_timeout_now(msg.src, pr)

    def _on_snapshot_response(self, msg: m.SnapshotResponse) -> None:
        leader = self._leader
        if leader is None or (pr := leader.progress.get(msg.src)) is None:
            return
        leader.active.add(msg.src)
        if msg.success and msg.match_index > pr.match_index:
            pr.match_index = msg.match_index
            self._maybe_commit()
        pr.next_index = Index(pr.match_index + 1)
        pr.mode = ReplicationMode.PROBE
        pr.paused = False
        if self._leader is leader:
            self._send_append(msg.src, pr)

    def _maybe_send_timeout_now(self, peer: ServerId, pr: Progress) -> None:
        leader = self._leader
        if leader is not None and leader.transfer_target == peer and pr.match_index == self.log.last_index:
            self._send(m.TimeoutNow(self.id, peer, self.term))

    def _maybe_commit(self) -> None:
        leader = self._leader
        if leader is None:
            return
        match = {peer: int(pr.match_index) for peer, pr in leader.progress.items()}
        # Count our own log only up to what is durable (persist before acknowledging).
        match[self.id] = int(self.log.stable_index)
        candidate = self.config.quorum_index(match)
        # Thesis §3.6.2 (figure 3.7): only entries of the current term are committed by counting.
        if candidate > self.log.commit_index and self.log.term_at(candidate) == self.term:
            self._commit_to(Index(candidate))

    def _commit_to(self, index: Index) -> None:
        if not self.log.commit_to(index):
            return
        leader = self._leader
        if leader is None:
            return
        self._need_broadcast = True  # followers learn the new commit index
        if leader.waiting_reads and self.log.commit_index >= leader.term_start_index:
            waiting, leader.waiting_reads = leader.waiting_reads, []
            for r in waiting:
                self._leader_read(r)
        cfg = self.config
        if self.log.last_config_index() <= self.log.commit_index:
            if cfg.is_joint:
                # Thesis §4.3: once C_old,new is committed the leader moves on to C_new.
                self._append(EntryKind.CONFIG, b"", cfg.leave_joint())
            elif not cfg.can_vote(self.id):
                # Thesis §4.2.2: a leader not in C_new steps down once C_new is committed.
                logger.info("%s: removed from the configuration, stepping down", self.id)
                self._hand_off(leader, cfg)
                self._become_follower(self.term, None)

    def _hand_off(self, leader: LeaderState, cfg: Configuration) -> None:
        best = max(
            (p for p in leader.progress if cfg.can_vote(p)),
            key=lambda p: (leader.progress[p].match_index, p),
            default=None,
        )
        if best is not None and leader.progress[best].match_index == self.log.last_index:
            self._send(m.TimeoutNow(self.id, best, self.term))

    # ---- proposal forwarding (thesis §6.2) -----------------------------------------------

    def _on_forward_proposal(self, msg: m.ForwardProposal) -> None:
        if msg.src not in self.config.members:
            logger.warning("%s: refusing proposal from non-member %s", self.id, msg.src)
            self._send(m.ProposalResult(self.id, msg.src, self.term, msg.proposal_id, False))
            return
        try:
            term, index = self._append_command(msg.data, EntryKind.COMMAND)
        except RaftError as err:
            logger.debug("%s: refusing forwarded proposal: %s", self.id, err)
            self._send(m.ProposalResult(self.id, msg.src, self.term, msg.proposal_id, False))
            return
        self._send(m.ProposalResult(self.id, msg.src, self.term, msg.proposal_id, True, term, index))

    def _on_proposal_result(self, msg: m.ProposalResult) -> None:
        if self._forwarded_proposals.pop(msg.proposal_id, None) is None:
            return  # duplicate or already failed
        kind = OutcomeKind.APPENDED if msg.accepted else OutcomeKind.REJECTED
        self._outcomes.append(ProposalOutcome(msg.proposal_id, kind, msg.entry_term, msg.entry_index))

    # ---- read index (thesis §6.4) --------------------------------------------------------

    def _leader_read(self, read: PendingRead) -> None:
        leader = self._leader
        assert leader is not None
        if self.log.commit_index < leader.term_start_index:
            leader.waiting_reads.append(read)
            return
        leader.read_seq += 1
        read.seq = leader.read_seq
        read.index = self.log.commit_index
        leader.pending_reads.append(read)
        self._release_reads(leader)
        if leader.pending_reads:
            for peer, pr in leader.progress.items():
                if self.config.can_vote(peer):
                    self._send_heartbeat(peer, pr)

    def _release_reads(self, leader: LeaderState) -> None:
        for r in leader.release_reads(self.id, self.config):
            self._answer_read(r, r.index)

    def _answer_read(self, r: PendingRead, index: Index | None) -> None:
        if r.origin == self.id:
            self._read_states.append(ReadState(r.request_id, index))
        else:
            self._send(m.ReadIndexResponse(self.id, r.origin, self.term, r.request_id, index))

    def _fail_leader_reads(self, leader: LeaderState) -> None:
        for r in leader.pending_reads + leader.waiting_reads:
            self._answer_read(r, None)
        leader.pending_reads.clear()
        leader.waiting_reads.clear()

    def _on_read_request(self, msg: m.ReadIndexRequest) -> None:
        if self._leader is None or msg.src not in self.config.members:
            self._send(m.ReadIndexResponse(self.id, msg.src, self.term, msg.request_id, None))
            return
        self._leader_read(PendingRead(msg.request_id, msg.src))

    def _on_read_response(self, msg: m.ReadIndexResponse) -> None:
        if self._forwarded_reads.pop(msg.request_id, None) is None:
            return
        self._read_states.append(ReadState(msg.request_id, msg.index))

    # ---- output --------------------------------------------------------------------------

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
