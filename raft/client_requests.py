"""Client requests that travel between servers: forwarded proposals (thesis §6.2) and
linearizable reads by read index (thesis §6.4), at the leader and from followers.

Owns: the follower's table of requests it forwarded (failed as UNKNOWN / None when the leader or
term changes), and the leader's read rounds (state in raft/leader.py).

Invariants: a read is answered with an index only after (1) an entry of the leader's term is
committed and (2) a quorum acknowledged a heartbeat round started after the read arrived.

Must never: answer a read from a follower's own commit index.
"""

from __future__ import annotations

import logging

from raft import messages as m
from raft.core_base import CoreBase
from raft.errors import EntryTooLarge, NotLeader, RaftError
from raft.leader import LeaderState, PendingRead
from raft.ready import OutcomeKind, ProposalOutcome, ReadState, Role
from raft.types import EntryKind, Index

logger = logging.getLogger("raft.core")


class ClientRequests(CoreBase):
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

    def _fail_forwarded(self) -> None:
        for pid in self._forwarded_proposals:
            self._outcomes.append(ProposalOutcome(pid, OutcomeKind.UNKNOWN))
        self._forwarded_proposals.clear()
        for rid in self._forwarded_reads:
            self._read_states.append(ReadState(rid, None))
        self._forwarded_reads.clear()

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
