"""`Ready`: the one output bundle of the raft core, and the rules for processing it.

Owns: the contract between the deterministic core and whoever drives it (the asyncio server, the
simulation, transcript tests). The driver loop is:

    ready = core.ready()
    1. persist `hard_state` (term, vote)                  -- before anything below
    2. persist `snapshot` atomically; it replaces the whole stored log (entries <= its index are
       covered by it, any later stored entries are re-sent in `entries`)
    3. persist `entries`: first discard every stored entry with index >= entries[0].index, then
       append; fsync.                                     -- steps 1-3 form one durability barrier
    4. send `messages`                                    -- only after 1-3 are durable (thesis
       §3.8: a vote or an acknowledgement must never be sent for state that could be lost)
    5. restore the state machine from `snapshot` if set, then apply `committed` in order
       -- these are committed (on a quorum), so applying them is safe even though 3 may have just
          written them; apply may run again after a restart (the commit index is not persisted)
    6. hand `read_states` and `proposal_outcomes` to their waiters
    7. core.advance(ready)

Invariants: a `Ready` is immutable; `committed` holds contiguous indexes; `entries` is contiguous.

Must never: be processed partially out of order (e.g. sending before persisting).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from raft.messages import Message
from raft.types import NO_INDEX, NO_TERM, HardState, Index, LogEntry, ServerId, Snapshot, Term


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class ReadState:
    """Result of a read barrier: once `applied >= index` a local read is linearizable.

    `index` is None when leadership could not be confirmed (the barrier failed).
    """

    request_id: int
    index: Index | None


class OutcomeKind(enum.Enum):
    APPENDED = "appended"  # the leader appended it at (term, index); wait for it to be applied
    REJECTED = "rejected"  # the leader refused it: nothing was appended
    UNKNOWN = "unknown"  # the request or its answer was lost across a leader change


@dataclass(frozen=True, slots=True)
class ProposalOutcome:
    """Answer to a proposal forwarded by this follower (`Core.forward_proposal`)."""

    proposal_id: int
    kind: OutcomeKind
    term: Term = NO_TERM
    index: Index = NO_INDEX


@dataclass(frozen=True, slots=True)
class Ready:
    hard_state: HardState | None
    snapshot: Snapshot | None
    entries: tuple[LogEntry, ...]
    messages: tuple[Message, ...]
    committed: tuple[LogEntry, ...]
    read_states: tuple[ReadState, ...]
    proposal_outcomes: tuple[ProposalOutcome, ...]
    # Soft state: not persisted, reported so the driver can wake waiters on leader changes.
    role: Role
    leader_id: ServerId | None
    term: Term
    commit_index: Index
