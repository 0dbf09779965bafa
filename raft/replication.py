"""Leader-side log replication and commitment (thesis §3.5, §3.6.2, §4.2.2, §4.3, §5.3).

Owns: appending on the leader, AppendEntries / InstallSnapshot / heartbeat sending with probe,
replicate and snapshot modes, fast backtracking on rejections, the commit rule (current-term
entries only, counted over the durable prefix of our own log), leaving a joint configuration and
stepping down when removed.

Invariants: see raft/leader.py (match < next, match never decreases) and raft/log.py.

Must never: run on a non-leader (every entry point checks `self._leader`).
"""

from __future__ import annotations

import logging

from raft import messages as m
from raft.core_base import CoreBase
from raft.errors import EntryTooLarge, NotLeader, TransferInProgress
from raft.leader import LeaderState, Progress, ReplicationMode
from raft.types import NO_INDEX, NO_TERM, Configuration, EntryKind, Index, LogEntry, ServerId, Term

logger = logging.getLogger("raft.core")


class Replication(CoreBase):
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
