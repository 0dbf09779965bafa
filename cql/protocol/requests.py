"""Request messages (native protocol v4 spec section 4.1) and their body decoders.

Owns: the request events `ServerConnection.next_event()` returns, and the decoding of each
request body. Bind values stay serialized (`bytes`, None for null, `UNSET`): decoding them into
Python values is the business of `cql.types`, once per prepared statement's bind metadata.

Invariants:
- Decoders only raise `ClientProtocolError` (the connection attaches the stream id).
- Trailing bytes after a message body are ignored, as Cassandra and ScyllaDB do.
- Every request carries the frame's `stream`, `version`, `tracing` (header flag 0x02) and
  `custom_payload` (header flag 0x04, v4+; None when absent).
- `decode_fast` (QUERY/EXECUTE in place) and the general decoders return equal requests for
  every body; where the general decoder raises (and for named values), `decode_fast` returns None.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from cql.protocol.frame import Opcode
from cql.protocol.wire import INT, LONG, SHORT, UNSET, BodyReader, ClientProtocolError, Value


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


Payload = Mapping[str, bytes | None] | None
"""A frame's custom payload (header flag 0x04, v4+), None when absent."""

# Requests are slotted dataclasses with hand-written positional `__init__`s rather than frozen
# dataclasses: one or two are built per request and a frozen dataclass costs 5-8x as much to build
# (one object.__setattr__ call per field, keyword arguments for the kw-only header fields).
# They are not frozen at runtime; treat them as immutable all the same. `eq`, `repr` and `hash`
# come from the dataclass decorator, as before.
# The header fields stay out of positional patterns (`__match_args__`), as when they were kw-only.
_request = dataclass(init=False, slots=True, unsafe_hash=True)


@_request
class Request:
    """Fields every request frame carries.

    Every subclass's constructor takes its own fields first, then these four in this order
    (positionally or by name).
    """

    __match_args__ = ()

    stream: int
    version: int
    tracing: bool
    custom_payload: Payload

    def __init__(self, *, stream: int = 0, version: int = 4, tracing: bool = False,
                 custom_payload: Payload = None) -> None:
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


@_request
class Startup(Request):
    """STARTUP (4.1.1). `options` holds every key the client sent; unknown keys are kept."""

    __match_args__ = ("options",)

    options: Mapping[str, str]

    def __init__(self, options: Mapping[str, str], stream: int = 0, version: int = 4,
                 tracing: bool = False, custom_payload: Payload = None) -> None:
        self.options = options
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload

    @property
    def compression(self) -> str | None:
        return self.options.get("COMPRESSION")


@_request
class Options(Request):
    """OPTIONS (4.1.3): the client asks for SUPPORTED; also used as a heartbeat."""

    __match_args__ = ()

    def __init__(self, stream: int = 0, version: int = 4, tracing: bool = False,
                 custom_payload: Payload = None) -> None:
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


@_request
class QueryParameters:
    """`<query_parameters>` of QUERY and EXECUTE (4.1.4).

    Exactly one of `values` / `named_values` is meaningful: `named_values` is not None iff the
    client set flag 0x40 (names for values). `page_size` is None when the client did not ask for
    paging (flag 0x04 absent); a present value <= 0 is passed on unchanged (Cassandra treats it as
    "no paging"). `paging_state` is None both when absent and when sent as a null [bytes].
    """

    consistency: Consistency
    values: tuple[Value, ...]
    named_values: tuple[tuple[str, Value], ...] | None
    skip_metadata: bool
    page_size: int | None
    paging_state: bytes | None
    serial_consistency: Consistency | None
    timestamp: int | None

    def __init__(
        self,
        consistency: Consistency,
        values: tuple[Value, ...] = (),
        named_values: tuple[tuple[str, Value], ...] | None = None,
        skip_metadata: bool = False,
        page_size: int | None = None,
        paging_state: bytes | None = None,
        serial_consistency: Consistency | None = None,
        timestamp: int | None = None,
    ) -> None:
        self.consistency = consistency
        self.values = values
        self.named_values = named_values
        self.skip_metadata = skip_metadata
        self.page_size = page_size
        self.paging_state = paging_state
        self.serial_consistency = serial_consistency
        self.timestamp = timestamp


@_request
class Query(Request):
    """QUERY (4.1.4)."""

    __match_args__ = ("query", "params")

    query: str
    params: QueryParameters

    def __init__(self, query: str, params: QueryParameters, stream: int = 0, version: int = 4,
                 tracing: bool = False, custom_payload: Payload = None) -> None:
        self.query = query
        self.params = params
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


@_request
class Prepare(Request):
    """PREPARE (4.1.5)."""

    __match_args__ = ("query",)

    query: str

    def __init__(self, query: str, stream: int = 0, version: int = 4, tracing: bool = False,
                 custom_payload: Payload = None) -> None:
        self.query = query
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


@_request
class Execute(Request):
    """EXECUTE (4.1.6)."""

    __match_args__ = ("query_id", "params")

    query_id: bytes
    params: QueryParameters

    def __init__(self, query_id: bytes, params: QueryParameters, stream: int = 0, version: int = 4,
                 tracing: bool = False, custom_payload: Payload = None) -> None:
        self.query_id = query_id
        self.params = params
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


@_request
class BatchStatement:
    """One `<query_i>` of a BATCH: a query string (kind 0) or a prepared id (kind 1)."""

    statement: str | bytes
    values: tuple[Value, ...]

    def __init__(self, statement: str | bytes, values: tuple[Value, ...] = ()) -> None:
        self.statement = statement
        self.values = values

    @property
    def is_prepared(self) -> bool:
        return isinstance(self.statement, bytes)


@_request
class Batch(Request):
    """BATCH (4.1.7)."""

    __match_args__ = ("batch_type", "statements", "consistency", "serial_consistency", "timestamp")

    batch_type: BatchType
    statements: tuple[BatchStatement, ...]
    consistency: Consistency
    serial_consistency: Consistency | None
    timestamp: int | None

    def __init__(
        self,
        batch_type: BatchType,
        statements: tuple[BatchStatement, ...],
        consistency: Consistency,
        serial_consistency: Consistency | None = None,
        timestamp: int | None = None,
        stream: int = 0,
        version: int = 4,
        tracing: bool = False,
        custom_payload: Payload = None,
    ) -> None:
        self.batch_type = batch_type
        self.statements = statements
        self.consistency = consistency
        self.serial_consistency = serial_consistency
        self.timestamp = timestamp
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


@_request
class Register(Request):
    """REGISTER (4.1.8): event types, each one of `EVENT_TYPES`."""

    __match_args__ = ("event_types",)

    event_types: tuple[str, ...]

    def __init__(self, event_types: tuple[str, ...] = (), stream: int = 0, version: int = 4,
                 tracing: bool = False, custom_payload: Payload = None) -> None:
        self.event_types = event_types
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


@_request
class AuthResponse(Request):
    """AUTH_RESPONSE (4.1.2): a SASL token (None if the client sent a null [bytes])."""

    __match_args__ = ("token",)

    token: bytes | None

    def __init__(self, token: bytes | None, stream: int = 0, version: int = 4, tracing: bool = False,
                 custom_payload: Payload = None) -> None:
        self.token = token
        self.stream = stream
        self.version = version
        self.tracing = tracing
        self.custom_payload = custom_payload


# --- decoders ------------------------------------------------------------------------------------


class FrameInfo(NamedTuple):
    """What the frame header (and the custom payload prefix) told us about a request body.

    A NamedTuple: cheap to build, and its fields are in the order every request constructor takes
    after its own (`Execute(query_id, params, *info)`).
    """

    stream: int
    version: int
    tracing: bool = False
    custom_payload: Payload = None


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
        consistency, values, named, bool(flags & _SKIP_METADATA), page_size, paging_state, serial,
        timestamp,
    )


# --- fast path -----------------------------------------------------------------------------------
# QUERY and EXECUTE with positional values are nearly all a server decodes. `decode_fast` reads
# them straight out of the receive buffer at offsets, with one struct call per field group and no
# BodyReader. It never raises: on anything unusual (a truncated or invalid field, named values, a
# bad UTF-8 query) it returns None and the caller runs the general decoder above over the same
# frame, which raises the exact error. The two must agree on every well-formed frame
# (tests/cql/protocol/test_fast_path.py checks them against each other).

_EXECUTE: Final = int(Opcode.EXECUTE)
_QUERY: Final = int(Opcode.QUERY)
_unpack_short = SHORT.unpack_from
_unpack_int = INT.unpack_from
_unpack_long = LONG.unpack_from
_unpack_params_head = struct.Struct(">HBH").unpack_from  # consistency, flags, value count
_unpack_page_size_and_timestamp = struct.Struct(">iq").unpack_from
_TAIL_FLAGS: Final = _PAGE_SIZE | _PAGING_STATE | _SERIAL_CONSISTENCY | _DEFAULT_TIMESTAMP
_MAX_CONSISTENCY: Final = len(_CONSISTENCY_BY_CODE) - 1
_NAMED_VALUES: Final = _VALUES | _NAMES_FOR_VALUES  # flag 0x40 only means something with 0x01


# Per prepared statement (by id), the value lengths of the last EXECUTE as one struct:
# (struct or None once disabled, lengths, value count, rebuilds). Fixed-width columns (int,
# bigint, uuid, timestamp...) and same-sized blobs repeat their lengths from one EXECUTE to the
# next; then `>i<n1>si<n2>s...` reads every [value] in one C call (~3x cheaper than the loop for
# 6 values), checked against the lengths it expects. Statements whose lengths keep changing stop
# being tried after a few rebuilds.
_Layout = tuple[struct.Struct | None, tuple[int, ...], int, int]
_LAYOUTS: dict[bytes, _Layout] = {}
_LAYOUTS_MAX: Final = 1024
_LAYOUT_MAX_VALUES: Final = 64
_LAYOUT_MAX_REBUILDS: Final = 4


def _learn_layout(query_id: bytes, values: tuple[Value, ...], old: _Layout | None) -> None:
    """Remember the lengths of `values` (all bytes, else nothing) for the next EXECUTE."""
    rebuilds = 0
    if old is not None:
        if old[0] is None:
            return
        rebuilds = old[3] + 1
    if len(values) > _LAYOUT_MAX_VALUES or None in values or UNSET in values:
        return
    if rebuilds > _LAYOUT_MAX_REBUILDS:
        _LAYOUTS[query_id] = (None, (), 0, rebuilds)
        return
    lengths = tuple(len(v) for v in values if isinstance(v, bytes))
    layout = struct.Struct(">" + "".join(f"i{n}s" for n in lengths))
    if len(_LAYOUTS) >= _LAYOUTS_MAX:
        _LAYOUTS.clear()
    _LAYOUTS[query_id] = (layout, lengths, len(values), rebuilds)


def decode_fast(
    opcode: int, data: bytes, pos: int, end: int, stream: int, version: int, tracing: bool
) -> Request | None:
    """The QUERY or EXECUTE whose body is `data[pos:end]`, or None if the general decoder must
    decode it (another opcode, named values, or anything malformed).

    Requires: the frame carries no custom payload; `end <= len(data)`.
    """
    query_id = b""
    query = ""
    if opcode == _EXECUTE:
        if pos + 2 > end:
            return None
        p = pos + 2 + _unpack_short(data, pos)[0]
        if p > end:
            return None
        query_id = data[pos + 2 : p]
    elif opcode == _QUERY:
        if pos + 4 > end:
            return None
        n = _unpack_int(data, pos)[0]
        p = pos + 4 + n
        if n < 0 or p > end:
            return None
        try:
            query = data[pos + 4 : p].decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        return None

    # <consistency><flags>[<n><value_1>...<value_n>]: read with the count in one call when the
    # body is long enough to hold one (the count is ignored without flag 0x01).
    if p + 5 <= end:
        consistency, flags, count = _unpack_params_head(data, p)
    elif p + 3 <= end:
        consistency = _unpack_short(data, p)[0]
        flags = data[p + 2]
        count = 0  # no room for one: flag 0x01 fails the bounds check below
    else:
        return None
    if consistency > _MAX_CONSISTENCY or flags & _NAMED_VALUES == _NAMED_VALUES:
        return None
    p += 3
    values: tuple[Value, ...] = ()
    if flags & _VALUES:
        if p + 2 > end:
            return None
        p += 2
        layout = _LAYOUTS.get(query_id) if opcode == _EXECUTE else None
        if layout is not None and layout[0] is not None and layout[2] == count:
            # Every value as long as last time: one struct call reads them all.
            q = p + layout[0].size
            if q <= end:
                fields = layout[0].unpack_from(data, p)
                if fields[0::2] == layout[1]:
                    values = fields[1::2]
                    p = q
                    count = 0  # done: skip the loop below
                    layout = None  # and the learning
        out: list[Value] = []
        append = out.append
        # `p` only grows, so one check after the loop finds a value that overran the body (the
        # bytes read past `end` are then discarded); reading past the whole buffer raises.
        try:
            for _ in range(count):
                n = _unpack_int(data, p)[0]
                p += 4
                if n >= 0:
                    append(data[p : p + n])
                    p += n
                elif n == -1:
                    append(None)
                elif n == -2 and version >= 4:
                    append(UNSET)
                else:
                    return None
        except struct.error:
            return None
        if p > end:
            return None
        if out:
            values = tuple(out)
            if opcode == _EXECUTE:
                _learn_layout(query_id, values, layout)

    page_size: int | None = None
    paging_state: bytes | None = None
    serial: Consistency | None = None
    timestamp: int | None = None
    tail = flags & _TAIL_FLAGS
    if tail == _PAGE_SIZE | _DEFAULT_TIMESTAMP:  # what cassandra-driver sends by default
        if p + 12 > end:
            return None
        page_size, timestamp = _unpack_page_size_and_timestamp(data, p)
    elif tail:
        if flags & _PAGE_SIZE:
            if p + 4 > end:
                return None
            page_size = _unpack_int(data, p)[0]
            p += 4
        if flags & _PAGING_STATE:
            if p + 4 > end:
                return None
            n = _unpack_int(data, p)[0]
            p += 4
            if n >= 0:
                if p + n > end:
                    return None
                paging_state = data[p : p + n]
                p += n
        if flags & _SERIAL_CONSISTENCY:
            if p + 2 > end:
                return None
            code = _unpack_short(data, p)[0]
            if code > _MAX_CONSISTENCY:
                return None
            serial = _CONSISTENCY_BY_CODE[code]
            p += 2
        if flags & _DEFAULT_TIMESTAMP:
            if p + 8 > end:
                return None
            timestamp = _unpack_long(data, p)[0]

    params = QueryParameters(
        _CONSISTENCY_BY_CODE[consistency], values, None, bool(flags & _SKIP_METADATA), page_size,
        paging_state, serial, timestamp,
    )
    if opcode == _EXECUTE:
        return Execute(query_id, params, stream, version, tracing, None)
    return Query(query, params, stream, version, tracing, None)


def _decode_startup(reader: BodyReader, f: FrameInfo) -> Request:
    return Startup(reader.read_string_map(), *f)


def _decode_options(reader: BodyReader, f: FrameInfo) -> Request:
    return Options(*f)


def _decode_query(reader: BodyReader, f: FrameInfo) -> Request:
    query = reader.read_long_string()
    params = decode_query_parameters(reader, f.version)
    return Query(query, params, *f)


def _decode_prepare(reader: BodyReader, f: FrameInfo) -> Request:
    # v4: the body is only the query; v5 adds <flags>[<keyspace>].
    return Prepare(reader.read_long_string(), *f)


def _decode_execute(reader: BodyReader, f: FrameInfo) -> Request:
    query_id = reader.read_short_bytes()
    params = decode_query_parameters(reader, f.version)
    return Execute(query_id, params, *f)


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
    return Batch(batch_type, tuple(statements), consistency, serial, timestamp, *f)


def _decode_register(reader: BodyReader, f: FrameInfo) -> Request:
    types = reader.read_string_list()
    for event_type in types:
        if event_type not in EVENT_TYPES:
            raise ClientProtocolError(f"Invalid value '{event_type}' for Type")
    return Register(tuple(types), *f)


def _decode_auth_response(reader: BodyReader, f: FrameInfo) -> Request:
    return AuthResponse(reader.read_bytes(), *f)


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
