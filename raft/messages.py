"""The messages raft servers exchange (thesis §3.4-§3.10, §4.2.3, §6.4, §9.6).

Owns: one frozen, slotted dataclass per message type. Every message carries the sender (`src`),
the addressee (`dst`) and the sender's current term; the core's generic term rules (thesis §3.3:
a higher term makes the receiver a follower, a lower term is stale) are applied to all of them.

Invariants: messages are immutable values; the transport may lose, reorder or duplicate them and
the core must stay safe (it never relies on delivery).

Must never: hold references to core state, perform I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from raft.types import NO_INDEX, NO_TERM, Index, LogEntry, ServerId, Snapshot, Term


@dataclass(frozen=True, slots=True)
class VoteRequest:
    """RequestVote (thesis §3.4) or PreVote (thesis §9.6) when `pre_vote`.

    For a pre-vote, `term` is the term the candidate *would* use; the sender has not bumped its
    own term. `force` is set when the election was triggered by a leadership transfer
    (TimeoutNow), which lets it bypass the receivers' leader stickiness (thesis §3.10, §4.2.3).
    """

    src: ServerId
    dst: ServerId
    term: Term
    last_log_index: Index
    last_log_term: Term
    pre_vote: bool = False
    force: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse:
    src: ServerId
    dst: ServerId
    term: Term
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """AppendEntries (thesis §3.5); with no entries it is a heartbeat.

    `read_seq` is the leader's read-index round number (thesis §6.4): a follower echoes it so the
    leader learns that a quorum still recognised it at the time the round started.
    """

    src: ServerId
    dst: ServerId
    term: Term
    prev_log_index: Index
    prev_log_term: Term
    entries: tuple[LogEntry, ...]
    commit_index: Index
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class AppendResponse:
    """Reply to AppendRequest.

    On success `match_index` is the last index known to match the leader's log. On rejection the
    follower gives a hint for fast backtracking (thesis §5.3 end of section / §3.5 note):
    `conflict_term` is the term of its entry at `prev_log_index` (0 if it has no such entry) and
    `conflict_index` is the first index it holds for that term (or its last index + 1 if its log
    is too short).
    """

    src: ServerId
    dst: ServerId
    term: Term
    success: bool
    match_index: Index
    conflict_index: Index = NO_INDEX
    conflict_term: Term = NO_TERM
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """InstallSnapshot (thesis §5.3), sent whole: group-0 snapshots are small."""

    src: ServerId
    dst: ServerId
    term: Term
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class SnapshotResponse:
    src: ServerId
    dst: ServerId
    term: Term
    match_index: Index
    success: bool


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer: the target starts an election at once (thesis §3.10)."""

    src: ServerId
    dst: ServerId
    term: Term


@dataclass(frozen=True, slots=True)
class ForwardProposal:
    """A follower forwards a client's command to the leader it knows (thesis §6.2)."""

    src: ServerId
    dst: ServerId
    term: Term
    proposal_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ProposalResult:
    """The leader's answer to ForwardProposal: where it appended the entry, or a refusal."""

    src: ServerId
    dst: ServerId
    term: Term
    proposal_id: int
    accepted: bool
    entry_term: Term = NO_TERM
    entry_index: Index = NO_INDEX


@dataclass(frozen=True, slots=True)
class ReadIndexRequest:
    """A follower asks the leader for a read index (thesis §6.4.1, reads from followers)."""

    src: ServerId
    dst: ServerId
    term: Term
    request_id: int


@dataclass(frozen=True, slots=True)
class ReadIndexResponse:
    """`index` is the safe read index, or None if the leader could not confirm leadership."""

    src: ServerId
    dst: ServerId
    term: Term
    request_id: int
    index: Index | None


Message = (
    VoteRequest
    | VoteResponse
    | AppendRequest
    | AppendResponse
    | InstallSnapshot
    | SnapshotResponse
    | TimeoutNow
    | ForwardProposal
    | ProposalResult
    | ReadIndexRequest
    | ReadIndexResponse
)
