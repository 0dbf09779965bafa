"""Wire codec and framing: Hypothesis round trips, byte-at-a-time feeding, garbage, bounds."""

from __future__ import annotations

import contextlib
import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raft import messages as m
from raft.codec import MESSAGE_TYPES, decode_message, encode_message
from raft.errors import ProtocolError
from raft.types import Configuration, EntryKind, Index, LogEntry, ServerId, Snapshot, SnapshotDescriptor, Term
from raft.wire import FrameDecoder, encode_frame

ids = st.sampled_from([ServerId(x) for x in ("a", "b", "node-3", "é")])
terms = st.integers(0, 2**40).map(Term)
indexes = st.integers(0, 2**40).map(Index)
id_sets = st.frozensets(ids, max_size=3)


@st.composite
def configs(draw: st.DrawFn) -> Configuration:
    voters = draw(id_sets)
    learners = draw(id_sets) - voters
    old = draw(st.none() | id_sets)
    return Configuration(voters, learners, old)


@st.composite
def entries(draw: st.DrawFn) -> LogEntry:
    kind = draw(st.sampled_from(EntryKind))
    cfg = draw(configs()) if kind == EntryKind.CONFIG else None
    data = draw(st.binary(max_size=20)) if kind == EntryKind.COMMAND else b""
    return LogEntry(draw(terms), draw(indexes), kind, data, cfg)


snapshots = st.builds(Snapshot, st.builds(SnapshotDescriptor, indexes, terms, configs()), st.binary(max_size=30))
head = (ids, ids, terms)
messages = st.one_of(
    st.builds(m.VoteRequest, *head, indexes, terms, st.booleans(), st.booleans()),
    st.builds(m.VoteResponse, *head, st.booleans(), st.booleans()),
    st.builds(m.AppendRequest, *head, indexes, terms, st.lists(entries(), max_size=3).map(tuple), indexes,
              st.integers(0, 2**32)),
    st.builds(m.AppendResponse, *head, st.booleans(), indexes, indexes, terms, st.integers(0, 2**32)),
    st.builds(m.InstallSnapshot, *head, snapshots),
    st.builds(m.SnapshotResponse, *head, indexes, st.booleans()),
    st.builds(m.TimeoutNow, *head),
    st.builds(m.ForwardProposal, *head, st.integers(0, 2**63), st.binary(max_size=30)),
    st.builds(m.ProposalResult, *head, st.integers(0, 2**63), st.booleans(), terms, indexes),
    st.builds(m.ReadIndexRequest, *head, st.integers(0, 2**63)),
    st.builds(m.ReadIndexResponse, *head, st.integers(0, 2**63), st.none() | indexes),
)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_message_round_trip(msg: m.Message) -> None:
    assert decode_message(encode_message(msg)) == msg


@settings(max_examples=100, deadline=None)
@given(st.lists(messages, min_size=1, max_size=4), st.integers(1, 7))
def test_frames_fed_whole_or_in_pieces(msgs: list[m.Message], piece: int) -> None:
    stream = b"".join(encode_frame(x) for x in msgs)
    assert FrameDecoder().feed(stream) == msgs
    dec = FrameDecoder()
    got: list[m.Message] = []
    for i in range(0, len(stream), piece):
        got.extend(dec.feed(stream[i : i + piece]))
    assert got == msgs and dec.buffered_bytes == 0


def test_every_message_type_is_covered() -> None:
    assert len(MESSAGE_TYPES) == 11


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_raises_only_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        FrameDecoder(max_frame_bytes=1 << 16).feed(data)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-5, 2**64 - 1) | st.text(max_size=3) | st.binary(max_size=3),
                    lambda c: st.lists(c, max_size=6), max_leaves=20))
def test_wellformed_msgpack_of_the_wrong_shape_raises_protocol_error(value: object) -> None:
    payload = msgpack.packb(value, use_bin_type=True)
    with contextlib.suppress(ProtocolError):
        decode_message(payload)


def test_truncated_frame_waits_and_trailing_garbage_is_rejected() -> None:
    frame = encode_frame(m.TimeoutNow(ServerId("a"), ServerId("b"), Term(3)))
    dec = FrameDecoder()
    assert dec.feed(frame[:-1]) == []
    assert dec.feed(frame[-1:]) == [m.TimeoutNow(ServerId("a"), ServerId("b"), Term(3))]
    with pytest.raises(ProtocolError):
        dec.feed(b"\x00\x00\x00\x02\x01\xc1")  # 0xc1 is never valid msgpack


def test_bounds_version_and_oversize() -> None:
    with pytest.raises(ProtocolError, match="version"):
        FrameDecoder().feed(struct.pack(">IB", 2, 9) + b"\x90")
    with pytest.raises(ProtocolError, match="length"):
        FrameDecoder(max_frame_bytes=100).feed(struct.pack(">IB", 101, 1))
    with pytest.raises(ProtocolError, match="exceeds"):
        encode_frame(m.ForwardProposal(ServerId("a"), ServerId("b"), Term(1), 1, b"x" * 200), max_frame_bytes=100)
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode_message(msgpack.packb([99, "a", "b", 1]))
