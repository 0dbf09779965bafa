"""Request messages (native protocol v4 spec section 4.1) and their body decoders.

Owns: the frozen request events `ServerConnection.next_event()` returns, and the decoding of each
request body. Bind values stay serialized (`bytes`, None for null, `UNSET`): decoding them into
Python values is the business of `cql.types`, once per prepared statement's bind metadata.

Invariants:
- Decoders only raise `ClientProtocolError` (the connection attaches the stream id).
- Trailing bytes after a message body are ignored, as Cassandra and ScyllaDB do.
- Every request carries the frame's `stream`, `version`, `tracing` (header flag 0x02) and
  `custom_payload` (header flag 0x04, v4+; None when absent).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypedDict

from cql.protocol.frame import Opcode
from cql.protocol.wire import BodyReader, ClientProtocolError, Value


class Consistency(enum.IntEnum):
    """`[consistency]` (section 3). Never renumber."""

    ANY = 0x0000
    ONE = 0x0001
    TWO = 0x0002
    THREE = 0x0003
    QUORUM = 0x0004
    ALL = 0x0005
    LOCAL_QUORUM = 0x0006
    EACH_QUORUM = 0x0007
    SERIAL = 0x0008
    LOCAL_SERIAL = 0x0009
    LOCAL_ONE = 0x000A


class BatchType(enum.IntEnum):
    """BATCH `<type>` (section 4.1.7). Never renumber."""

    LOGGED = 0
    UNLOGGED = 1
    COUNTER = 2


EVENT_TYPES = frozenset({"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"})

# <query_parameters> flags (section 4.1.4). Never renumber.
_VALUES = 0x01
_SKIP_METADATA = 0x02
_PAGE_SIZE = 0x04
_PAGING_STATE = 0x08
_SERIAL_CONSISTENCY = 0x10
_DEFAULT_TIMESTAMP = 0x20
_NAMES_FOR_VALUES = 0x40


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """Fields every request frame carries."""

    stream: int = 0
    version: int = 4
    tracing: bool = False
    custom_payload: Mapping[str, bytes | None] | None = None


@dataclass(frozen=True, slots=True)
class Startup(Request):
    """STARTUP (4.1.1). `options` holds every key the client sent; unknown keys are kept."""

    options: Mapping[str, str]

    @property
    def compression(self) -> str | None:
        return self.options.get("COMPRESSION")


@dataclass(frozen=True, slots=True)
class Options(Request):
    """OPTIONS (4.1.3): the client asks for SUPPORTED; also used as a heartbeat."""


@dataclass(frozen=True, slots=True)
class QueryParameters:
    """`<query_parameters>` of QUERY and EXECUTE (4.1.4).

    Exactly one of `values` / `named_values` is meaningful: `named_values` is not None iff the
    client set flag 0x40 (names for values). `page_size` is None when the client did not ask for
    paging (flag 0x04 absent); a present value <= 0 is passed on unchanged (Cassandra treats it as
    "no paging"). `paging_state` is None both when absent and when sent as a null [bytes].
    """

    consistency: Consistency
    values: tuple[Value, ...] = ()
    named_values: tuple[tuple[str, Value], ...] | None = None
    skip_metadata: bool = False
    page_size: int | None = None
    paging_state: bytes | None = None
    serial_consistency: Consistency | None = None
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class Query(Request):
    """QUERY (4.1.4)."""

    query: str
    params: QueryParameters


@dataclass(frozen=True, slots=True)
class Prepare(Request):
    """PREPARE (4.1.5)."""

    query: str


@dataclass(frozen=True, slots=True)
class Execute(Request):
    """EXECUTE (4.1.6)."""

    query_id: bytes
    params: QueryParameters


@dataclass(frozen=True, slots=True)
class BatchStatement:
    """One `<query_i>` of a BATCH: a query string (kind 0) or a prepared id (kind 1)."""

    statement: str | bytes
    values: tuple[Value, ...] = ()

    @property
    def is_prepared(self) -> bool:
        return isinstance(self.statement, bytes)


@dataclass(frozen=True, slots=True)
class Batch(Request):
    """BATCH (4.1.7)."""

    batch_type: BatchType
    statements: tuple[BatchStatement, ...]
    consistency: Consistency
    serial_consistency: Consistency | None = None
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class Register(Request):
    """REGISTER (4.1.8): event types, each one of `EVENT_TYPES`."""

    event_types: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class AuthResponse(Request):
    """AUTH_RESPONSE (4.1.2): a SASL token (None if the client sent a null [bytes])."""

    token: bytes | None


# --- decoders ------------------------------------------------------------------------------------


class _HeaderFields(TypedDict):
    stream: int
    version: int
    tracing: bool
    custom_payload: Mapping[str, bytes | None] | None


class FrameInfo(NamedTuple):
    """What the frame header (and the custom payload prefix) told us about a request body.

    A NamedTuple rather than a frozen dataclass: one is built per request and tuples are
    several times cheaper to construct.
    """

    stream: int
    version: int
    tracing: bool = False
    custom_payload: Mapping[str, bytes | None] | None = None

    def fields(self) -> _HeaderFields:
        return {
            "stream": self.stream,
            "version": self.version,
            "tracing": self.tracing,
            "custom_payload": self.custom_payload,
        }


_CONSISTENCY_BY_CODE: tuple[Consistency, ...] = tuple(sorted(Consistency))


def _consistency(value: int) -> Consistency:
    # A tuple index instead of Consistency(value): this runs for every QUERY/EXECUTE.
    if 0 <= value < len(_CONSISTENCY_BY_CODE):
        return _CONSISTENCY_BY_CODE[value]
    raise ClientProtocolError(f"Unknown code {value} for a consistency level")


def _named_values(reader: BodyReader, allow_unset: bool) -> tuple[tuple[str, Value], ...]:
    count = reader.read_short()
    return tuple((reader.read_string(), reader.read_value(allow_unset)) for _ in range(count))


def decode_query_parameters(reader: BodyReader, version: int) -> QueryParameters:
    consistency = _consistency(reader.read_short())
    # v3 and v4 both use a one-byte flags field (v5 widens it to [int]).
    flags = reader.read_byte()
    allow_unset = version >= 4
    values: tuple[Value, ...] = ()
    named: tuple[tuple[str, Value], ...] | None = None
    if flags & _VALUES:
        if flags & _NAMES_FOR_VALUES:
            named = _named_values(reader, allow_unset)
        else:
            values = reader.read_values(allow_unset)
    page_size = reader.read_int() if flags & _PAGE_SIZE else None
    paging_state = reader.read_bytes() if flags & _PAGING_STATE else None
    serial = _consistency(reader.read_short()) if flags & _SERIAL_CONSISTENCY else None
    timestamp = reader.read_long() if flags & _DEFAULT_TIMESTAMP else None
    return QueryParameters(
        consistency=consistency,
        values=values,
        named_values=named,
        skip_metadata=bool(flags & _SKIP_METADATA),
        page_size=page_size,
        paging_state=paging_state,
        serial_consistency=serial,
        timestamp=timestamp,
    )


def _decode_startup(reader: BodyReader, f: FrameInfo) -> Request:
    return Startup(reader.read_string_map(), **f.fields())


def _decode_options(reader: BodyReader, f: FrameInfo) -> Request:
    return Options(**f.fields())


def _decode_query(reader: BodyReader, f: FrameInfo) -> Request:
    query = reader.read_long_string()
    params = decode_query_parameters(reader, f.version)
    return Query(query, params, **f.fields())


def _decode_prepare(reader: BodyReader, f: FrameInfo) -> Request:
    # v4: the body is only the query; v5 adds <flags>[<keyspace>].
    return Prepare(reader.read_long_string(), **f.fields())


def _decode_execute(reader: BodyReader, f: FrameInfo) -> Request:
    query_id = reader.read_short_bytes()
    params = decode_query_parameters(reader, f.version)
    return Execute(query_id, params, **f.fields())


def _decode_batch(reader: BodyReader, f: FrameInfo) -> Request:
    allow_unset = f.version >= 4
    raw_type = reader.read_byte()
    try:
        batch_type = BatchType(raw_type)
    except ValueError:
        raise ClientProtocolError(f"Unknown batch type {raw_type}") from None
    statements: list[BatchStatement] = []
    for _ in range(reader.read_short()):
        kind = reader.read_byte()
        statement: str | bytes
        if kind == 0:
            statement = reader.read_long_string()
        elif kind == 1:
            statement = reader.read_short_bytes()
        else:
            raise ClientProtocolError(f"Invalid query kind in BATCH messages. Must be 0 or 1 but got {kind}")
        statements.append(BatchStatement(statement, reader.read_values(allow_unset)))
    consistency = _consistency(reader.read_short())
    flags = reader.read_byte()
    if flags & _NAMES_FOR_VALUES:
        # Section 4.1.7: the flag arrives after the values it would describe, so it cannot be
        # honoured (CASSANDRA-10246); Cassandra rejects it too.
        raise ClientProtocolError("Named values are not supported in BATCH messages")
    serial = _consistency(reader.read_short()) if flags & _SERIAL_CONSISTENCY else None
    timestamp = reader.read_long() if flags & _DEFAULT_TIMESTAMP else None
    return Batch(batch_type, tuple(statements), consistency, serial, timestamp, **f.fields())


def _decode_register(reader: BodyReader, f: FrameInfo) -> Request:
    types = reader.read_string_list()
    for event_type in types:
        if event_type not in EVENT_TYPES:
            raise ClientProtocolError(f"Invalid value '{event_type}' for Type")
    return Register(tuple(types), **f.fields())


def _decode_auth_response(reader: BodyReader, f: FrameInfo) -> Request:
    return AuthResponse(reader.read_bytes(), **f.fields())


Decoder = Callable[[BodyReader, FrameInfo], Request]

DECODERS: Mapping[int, Decoder] = {
    Opcode.STARTUP: _decode_startup,
    Opcode.OPTIONS: _decode_options,
    Opcode.QUERY: _decode_query,
    Opcode.PREPARE: _decode_prepare,
    Opcode.EXECUTE: _decode_execute,
    Opcode.BATCH: _decode_batch,
    Opcode.REGISTER: _decode_register,
    Opcode.AUTH_RESPONSE: _decode_auth_response,
}
"""Request opcode -> body decoder. Opcodes absent here are not requests."""
