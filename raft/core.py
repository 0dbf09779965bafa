"""The deterministic raft core: one server's protocol state machine (thesis chapters 3-6, 9.6).

Owns: the public API of the core, message dispatch with the generic term rules (thesis §3.3),
elections with pre-vote and leader stickiness, role transitions, and the follower side of
replication and snapshot installation. `Core` combines the mixins that hold the rest: leader-side
replication (raft/replication.py), forwarding and read index (raft/client_requests.py); the state
itself and the `Ready` assembly are in raft/core_base.py.

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

from raft import messages as m
from raft.client_requests import ClientRequests
from raft.core_base import CoreOptions
from raft.errors import ConfigChangeInProgress, RaftError
from raft.leader import LeaderState
from raft.log import LogError
from raft.ready import Role
from raft.replication import Replication
from raft.types import (
    Configuration,
    EntryKind,
    Index,
    ServerId,
    Snapshot,
    SnapshotDescriptor,
    Term,
)

logger = logging.getLogger(__name__)

__all__ = ["Core", "CoreOptions"]


class Core(Replication, ClientRequests):
    """One raft server's protocol logic. Not thread-safe: drive it from one task.

    Construct with `Core(server_id, hard_state, snapshot, entries, options, election_timeout)`
    (see `CoreBase.__init__`).
    """

    # ---- client requests -----------------------------------------------------------------

    def propose(self, data: bytes) -> tuple[Term, Index]:
        """Leader: append a command; returns where. Raises NotLeader / EntryTooLarge / Transfer."""
        return self._append_command(data, EntryKind.COMMAND)

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
            # A voter removed by an uncommitted configuration (see _promotable) always runs a
            # pre-vote first: it must not disrupt a cluster that can elect someone without it.
            pre_vote = self.options.pre_vote or not self.config.can_vote(self.id)
            self._campaign(pre_vote=pre_vote, force=False)

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
        if isinstance(msg, m.AppendRequest) and any(
            len(e.data) > self.options.max_entry_bytes for e in msg.entries
        ):
            logger.warning("%s: rejecting AppendRequest from %s with an oversized entry", self.id, msg.src)
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
