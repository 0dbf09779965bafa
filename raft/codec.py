"""Pure msgpack encodings of raft values and messages, shared by the disk and wire formats.

Owns: the mapping between typed values (entries, configurations, snapshots, messages) and plain
msgpack arrays. Grammar (all arrays, positional; version 1):

    config   := [voters: [str], learners: [str], old_voters: [str] | nil]
    entry    := [term: int, index: int, kind: int (EntryKind), data: bin, config | nil]
    snapshot := [index: int, term: int, config, data: bin]
    message  := [type: int (MESSAGE_TYPES position), src: str, dst: str, term: int, *fields]

Message type numbers are embedded on the wire: never renumber, only append.

Invariants: `decode_*` either returns a well-typed value or raises `ProtocolError`; it never
returns partially validated data.

Must never: perform I/O.
"""

from __future__ import annotations

from typing import Any

import msgpack

from raft import messages as m
from raft.errors import ProtocolError
from raft.types import (
    Configuration,
    EntryKind,
    Index,
    LogEntry,
    ServerId,
    Snapshot,
    SnapshotDescriptor,
    Term,
)

# Position = wire type number. Never renumber; append new types at the end.
MESSAGE_TYPES: tuple[type, ...] = (
    m.VoteRequest,
    m.VoteResponse,
    m.AppendRequest,
    m.AppendResponse,
    m.InstallSnapshot,
    m.SnapshotResponse,
    m.TimeoutNow,
    m.ForwardProposal,
    m.ProposalResult,
    m.ReadIndexRequest,
    m.ReadIndexResponse,
)
_TYPE_NUMBER = {t: i for i, t in enumerate(MESSAGE_TYPES)}


def encode_config(c: Configuration) -> list[Any]:
    return [sorted(c.voters), sorted(c.learners), None if c.old_voters is None else sorted(c.old_voters)]


def _ids(v: Any) -> frozenset[ServerId]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ProtocolError(f"bad server id list: {v!r}")
    return frozenset(ServerId(x) for x in v)


def decode_config(v: Any) -> Configuration:
    if not isinstance(v, list) or len(v) != 3:
        raise ProtocolError(f"bad configuration: {v!r}")
    try:
        return Configuration(_ids(v[0]), _ids(v[1]), None if v[2] is None else _ids(v[2]))
    except ValueError as err:
        raise ProtocolError(str(err)) from None


def encode_entry(e: LogEntry) -> list[Any]:
    return [e.term, e.index, int(e.kind), e.data, None if e.config is None else encode_config(e.config)]


def _int(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise ProtocolError(f"expected a non-negative integer, got {v!r}")
    return v


def decode_entry(v: Any) -> LogEntry:
    if not isinstance(v, list) or len(v) != 5 or not isinstance(v[3], bytes):
        raise ProtocolError(f"bad entry: {v!r:.80}")
    try:
        kind = EntryKind(_int(v[2]))
    except ValueError:
        raise ProtocolError(f"unknown entry kind {v[2]!r}") from None
    config = None if v[4] is None else decode_config(v[4])
    if (kind == EntryKind.CONFIG) != (config is not None):
        raise ProtocolError("configuration entry without configuration (or vice versa)")
    return LogEntry(Term(_int(v[0])), Index(_int(v[1])), kind, v[3], config)


def encode_snapshot(s: Snapshot) -> list[Any]:
    d = s.descriptor
    return [d.index, d.term, encode_config(d.config), s.data]


def decode_snapshot(v: Any) -> Snapshot:
    if not isinstance(v, list) or len(v) != 4 or not isinstance(v[3], bytes):
        raise ProtocolError("bad snapshot")
    desc = SnapshotDescriptor(Index(_int(v[0])), Term(_int(v[1])), decode_config(v[2]))
    return Snapshot(desc, v[3])


def encode_message(msg: m.Message) -> bytes:
    head: list[Any] = [_TYPE_NUMBER[type(msg)], msg.src, msg.dst, msg.term]
    if isinstance(msg, m.VoteRequest):
        body: list[Any] = [msg.last_log_index, msg.last_log_term, msg.pre_vote, msg.force]
    elif isinstance(msg, m.VoteResponse):
        body = [msg.granted, msg.pre_vote]
    elif isinstance(msg, m.AppendRequest):
        body = [msg.prev_log_index, msg.prev_log_term, [encode_entry(e) for e in msg.entries],
                msg.commit_index, msg.read_seq]
    elif isinstance(msg, m.AppendResponse):
        body = [msg.success, msg.match_index, msg.conflict_index, msg.conflict_term, msg.read_seq]
    elif isinstance(msg, m.InstallSnapshot):
        body = [encode_snapshot(msg.snapshot)]
    elif isinstance(msg, m.SnapshotResponse):
        body = [msg.match_index, msg.success]
    elif isinstance(msg, m.TimeoutNow):
        body = []
    elif isinstance(msg, m.ForwardProposal):
        body = [msg.proposal_id, msg.data]
    elif isinstance(msg, m.ProposalResult):
        body = [msg.proposal_id, msg.accepted, msg.entry_term, msg.entry_index]
    elif isinstance(msg, m.ReadIndexRequest):
        body = [msg.request_id]
    else:
        body = [msg.request_id, msg.index]
    return msgpack.packb(head + body, use_bin_type=True)  # type: ignore[no-any-return]


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ProtocolError(f"expected a boolean, got {v!r}")
    return v


def decode_message(payload: bytes) -> m.Message:
    """Decode one message; raises ProtocolError on anything malformed."""
    try:
        v = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as err:
        raise ProtocolError(f"undecodable message: {err}") from None
    if not isinstance(v, list) or len(v) < 4:
        raise ProtocolError("message is not an array with a header")
    t = v[0]
    if type(t) is not int or not 0 <= t < len(MESSAGE_TYPES):
        raise ProtocolError(f"unknown message type {t!r}")
    if not isinstance(v[1], str) or not isinstance(v[2], str):
        raise ProtocolError("bad message addresses")
    src, dst, term = ServerId(v[1]), ServerId(v[2]), Term(_int(v[3]))
    b = v[4:]
    try:
        return _decode_body(MESSAGE_TYPES[t], src, dst, term, b)
    except (IndexError, TypeError):
        raise ProtocolError(f"malformed {MESSAGE_TYPES[t].__name__}") from None


def _decode_body(cls: type, src: ServerId, dst: ServerId, term: Term, b: list[Any]) -> m.Message:
    def need(n: int) -> None:
        if len(b) != n:
            raise ProtocolError(f"{cls.__name__}: expected {n} fields, got {len(b)}")

    if cls is m.VoteRequest:
        need(4)
        return m.VoteRequest(src, dst, term, Index(_int(b[0])), Term(_int(b[1])), _bool(b[2]), _bool(b[3]))
    if cls is m.VoteResponse:
        need(2)
        return m.VoteResponse(src, dst, term, _bool(b[0]), _bool(b[1]))
    if cls is m.AppendRequest:
        need(5)
        if not isinstance(b[2], list):
            raise ProtocolError("entries must be an array")
        return m.AppendRequest(src, dst, term, Index(_int(b[0])), Term(_int(b[1])),
                               tuple(decode_entry(e) for e in b[2]), Index(_int(b[3])), _int(b[4]))
    if cls is m.AppendResponse:
        need(5)
        return m.AppendResponse(src, dst, term, _bool(b[0]), Index(_int(b[1])), Index(_int(b[2])),
                                Term(_int(b[3])), _int(b[4]))
    if cls is m.InstallSnapshot:
        need(1)
        return m.InstallSnapshot(src, dst, term, decode_snapshot(b[0]))
    if cls is m.SnapshotResponse:
        need(2)
        return m.SnapshotResponse(src, dst, term, Index(_int(b[0])), _bool(b[1]))
    if cls is m.TimeoutNow:
        need(0)
        return m.TimeoutNow(src, dst, term)
    if cls is m.ForwardProposal:
        need(2)
        if not isinstance(b[1], bytes):
            raise ProtocolError("proposal data must be binary")
        return m.ForwardProposal(src, dst, term, _int(b[0]), b[1])
    if cls is m.ProposalResult:
        need(4)
        return m.ProposalResult(src, dst, term, _int(b[0]), _bool(b[1]), Term(_int(b[2])), Index(_int(b[3])))
    if cls is m.ReadIndexRequest:
        need(1)
        return m.ReadIndexRequest(src, dst, term, _int(b[0]))
    need(2)
    return m.ReadIndexResponse(src, dst, term, _int(b[0]), None if b[1] is None else Index(_int(b[1])))
