"""The client side of one native-protocol connection, as a sans-IO state machine (h11 style).

Owns: stream-id allocation, the framing and body encoding of the requests a client sends
(STARTUP, OPTIONS, AUTH_RESPONSE, QUERY, PREPARE, EXECUTE), the splitting and decoding of the
server's response frames, and the client's view of the handshake state. It performs no I/O, keeps
no clock and starts no tasks:

    conn = ClientConnection()
    stream, frame = conn.options()          # every request method returns (stream id, bytes)
    transport.write(frame)
    conn.receive_data(chunk)                # b"" means the server closed its side (EOF)
    while (item := conn.next_response()) is not NEED_DATA:
        ...                                 # Received(stream, response) or ConnectionClosed

Responses decode to the same frozen values the server codec encodes (`cql.protocol.responses`):
Ready, Supported, Authenticate, AuthChallenge, AuthSuccess, ErrorResponse (holding the
`cql.errors` exception of its code, extra fields included), ResultVoid, ResultRows (cells stay
serialized bytes), ResultSetKeyspace, ResultPrepared, ResultSchemaChange and the Event types.
Frame prefixes (tracing id 0x02, warnings 0x08, custom payload 0x04) land in the response's
`tracing_id`, `warnings` and `custom_payload` fields.

Invariants:
- A stream id is in flight from the request that took it until its response is returned (or
  fails to decode); it is then free again. A response on a stream that is not in flight, or of a
  kind its request cannot get (a RESULT to OPTIONS...), raises a non-fatal error.
- `next_response()` raises only `ServerProtocolError`. `fatal` means the byte stream is unusable
  (a bad header): every later call raises again and the caller must close the connection.
  Otherwise the offending frame was consumed and its stream (if any) freed.
- Request methods raise `LocalProtocolError` for a request the state forbids (EXECUTE before
  READY...), `StreamsExhausted` when every stream id is in flight, and `ValueError` for values the
  protocol cannot carry. A failed request method changes no state.
- Compression (lz4) starts, both ways, right after the STARTUP that asked for it (spec section
  5); a refused STARTUP turns it off again.
- Rows answering an EXECUTE sent with skip_metadata are decoded with the prepared statement's
  result columns (section 4.1.4 flag 0x02); a Rows body without metadata for any other request is
  a protocol error (section 4.2.5.2: No_metadata is only sent when requested).

BATCH and REGISTER are not sent by this codec (no client of ours needs them yet); EVENT frames
(stream -1) are decoded all the same. Wire format: docs/protocol.md; spec: native_protocol_v4.spec.

Thread-safety: none; one connection object belongs to one task.
"""

from __future__ import annotations

import ipaddress
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, NoReturn

from cql import errors
from cql.protocol.connection import (
    NEED_DATA,
    ConnectionClosed,
    ConnectionState,
    LocalProtocolError,
    NeedData,
)
from cql.protocol.frame import (
    FLAG_COMPRESSED,
    FLAG_CUSTOM_PAYLOAD,
    FLAG_TRACING,
    FLAG_WARNING,
    HEADER,
    HEADER_SIZE,
    RESPONSE_BIT,
    SPEC_MAX_FRAME_SIZE_BYTES,
    SUPPORTED_VERSIONS,
    Opcode,
    lz4_compress,
    lz4_decompress,
)
from cql.protocol.requests import Consistency
from cql.protocol.responses import (
    AuthChallenge,
    Authenticate,
    AuthSuccess,
    ErrorResponse,
    Ready,
    Response,
    ResultPrepared,
    ResultRows,
    ResultSchemaChange,
    ResultSetKeyspace,
    ResultVoid,
    SchemaChangeEvent,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
)
from cql.protocol.tablets import TABLETS_ROUTING_V1_KEY
from cql.protocol.wire import (
    INT,
    LONG,
    NULL_VALUE,
    SHORT,
    UNSET,
    UNSET_VALUE,
    BodyReader,
    ClientProtocolError,
    Value,
    write_bytes,
    write_bytes_map,
    write_long_string,
    write_string_map,
)
from cql.protocol_types import CUSTOM, LIST, MAP, SET, TUPLE, UDT, ColumnSpec, TypeOption

MAX_STREAMS: Final = 32768  # v3+: stream ids 0..32767 (section 2.3)
TABLETS_ROUTING_V1: Final = "TABLETS_ROUTING_V1"


class ServerProtocolError(Exception):
    """The server broke the native protocol: a frame we cannot parse or did not ask for.

    `stream` is the offending frame's stream id when the header could be read; `fatal` says the
    byte stream can no longer be parsed (see the module docstring).
    """

    def __init__(self, message: str, stream: int | None = None, fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.stream = stream
        self.fatal = fatal


class StreamsExhausted(LocalProtocolError):
    """Every stream id of the connection is in flight; wait for a response first."""


class UnrecognizedError(errors.CQLError):
    """An ERROR whose code `cql.errors` has no class for (or a ScyllaDB extension code we did not
    negotiate). `error_code` is the code on the wire; extra fields are not decoded."""

    def __init__(self, message: str, error_code: int) -> None:
        super().__init__(message)
        self.error_code = error_code


class Received(NamedTuple):
    """One decoded response frame. `stream` is -1 for a server-pushed EVENT."""

    stream: int
    response: Response


@dataclass(frozen=True, slots=True)
class PreparedStatement:
    """What a client keeps of a RESULT Prepared (4.2.5.4) to EXECUTE it.

    `result_columns` None means the statement returns no rows. `pk_indexes` (v4) are the bind
    positions of the partition key columns, in partition key order; empty when not all of them are
    bound (then no routing key can be computed).
    """

    query: str
    statement_id: bytes
    bind_columns: tuple[ColumnSpec, ...]
    pk_indexes: tuple[int, ...]
    result_columns: tuple[ColumnSpec, ...] | None
    # Header placeholder and [short bytes] id: the constant start of every EXECUTE of it.
    execute_prefix: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.statement_id) > 0xFFFF:
            raise ValueError("statement id longer than a [short bytes]")
        prefix = bytes(HEADER_SIZE) + SHORT.pack(len(self.statement_id)) + self.statement_id
        object.__setattr__(self, "execute_prefix", prefix)

    @classmethod
    def from_result(cls, query: str, result: ResultPrepared) -> PreparedStatement:
        return cls(
            query,
            result.statement_id,
            tuple(result.bind_columns),
            tuple(result.pk_indexes),
            None if result.result_columns is None else tuple(result.result_columns),
        )

    @property
    def keyspace_table(self) -> tuple[str, str] | None:
        columns = self.bind_columns or self.result_columns
        if not columns:
            return None
        return columns[0].keyspace, columns[0].table

    def routing_key(self, values: Sequence[Value]) -> bytes | None:
        """The serialized partition key of these bind values (the bytes Murmur3 hashes), or None.

        One column: its value. Several: the composite form, per component a [short] length, the
        bytes and a 0 end-of-component byte.
        """
        indexes = self.pk_indexes
        if len(indexes) == 1:
            value = values[indexes[0]]
            return value if isinstance(value, bytes) else None
        if not indexes:
            return None
        out = bytearray()
        for i in indexes:
            value = values[i]
            if not isinstance(value, bytes):
                return None
            out += SHORT.pack(len(value))
            out += value
            out += b"\x00"
        return bytes(out)


@dataclass(frozen=True, slots=True)
class ShardingInfo:
    """The ScyllaDB sharding facts of one connection, from its SUPPORTED (CLIENT-COMPAT.md).

    `shard` is the shard serving this connection; `shard_aware_port` None when not advertised.
    """

    shard: int
    nr_shards: int
    ignore_msb: int
    shard_aware_port: int | None

    @classmethod
    def from_supported(cls, options: Mapping[str, Sequence[str]]) -> ShardingInfo | None:
        """None unless SCYLLA_SHARD, SCYLLA_NR_SHARDS and SCYLLA_SHARDING_IGNORE_MSB are all
        present and the algorithm (if named) is biased-token-round-robin."""
        if not all(k in options for k in ("SCYLLA_SHARD", "SCYLLA_NR_SHARDS",
                                          "SCYLLA_SHARDING_IGNORE_MSB")):
            return None
        algorithm = _first(options, "SCYLLA_SHARDING_ALGORITHM")
        if algorithm is not None and algorithm != "biased-token-round-robin":
            return None
        shard = _int_option(options, "SCYLLA_SHARD")
        nr_shards = _int_option(options, "SCYLLA_NR_SHARDS")
        ignore_msb = _int_option(options, "SCYLLA_SHARDING_IGNORE_MSB")
        port = _int_option(options, "SCYLLA_SHARD_AWARE_PORT") if (
            _first(options, "SCYLLA_SHARD_AWARE_PORT")) else None
        if nr_shards < 1 or not 0 <= shard < nr_shards or not 0 <= ignore_msb < 64:
            raise ServerProtocolError(
                f"SUPPORTED sharding is inconsistent: shard {shard} of {nr_shards}, "
                f"ignore_msb {ignore_msb}")
        return cls(shard, nr_shards, ignore_msb, port)


def _first(options: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = options.get(key)
    return values[0] if values else None


def _int_option(options: Mapping[str, Sequence[str]], key: str) -> int:
    value = _first(options, key)
    try:
        return int(value or "")
    except ValueError:
        raise ServerProtocolError(f"SUPPORTED {key}={value!r} is not an integer") from None


def startup_options(
    supported: Mapping[str, Sequence[str]],
    *,
    compression: str | None = None,
    extensions: Sequence[str] = (TABLETS_ROUTING_V1,),
    driver_name: str | None = None,
    driver_version: str | None = None,
) -> dict[str, str]:
    """STARTUP options for a server that answered OPTIONS with `supported`.

    Each wanted ScyllaDB extension is requested only when advertised, echoing the advertised
    value (protocol-extensions.md: the key's presence is what counts). ValueError if
    `compression` is not offered.
    """
    options = {"CQL_VERSION": _first(supported, "CQL_VERSION") or "3.0.0"}
    if compression is not None:
        offered = {c.lower() for c in supported.get("COMPRESSION", ())}
        if compression.lower() not in offered:
            raise ValueError(f"server does not offer {compression} compression (offers {sorted(offered)})")
        options["COMPRESSION"] = compression.lower()
    for extension in extensions:
        if extension in supported:
            options[extension] = _first(supported, extension) or ""
    if driver_name is not None:
        options["DRIVER_NAME"] = driver_name
    if driver_version is not None:
        options["DRIVER_VERSION"] = driver_version
    return options


def sasl_plain_token(user: str, password: str) -> bytes:
    """The AUTH_RESPONSE token of SASL PLAIN (RFC 4616): empty authzid, NUL, user, NUL, password."""
    return b"\x00" + user.encode("utf-8") + b"\x00" + password.encode("utf-8")


# --- tablets-routing-v1 (the encoder lives in cql/protocol/tablets.py) ---------------------------


@dataclass(frozen=True, slots=True)
class TabletRoute:
    """One tablet's routing hint: tokens (first_token, last_token] live on `replicas`
    ((host_id, shard) pairs, primary first)."""

    first_token: int
    last_token: int
    replicas: tuple[tuple[uuid.UUID, int], ...]


def _element(reader: BodyReader, size: int | None, what: str) -> BodyReader:
    n = reader.read_int()
    if n < 0 or (size is not None and n != size):
        raise ClientProtocolError(f"tablets-routing-v1: {what} has length {n}")
    return BodyReader(reader.read_raw(n))


def decode_tablets_routing_v1(value: bytes) -> TabletRoute:
    """Parse the `tablets-routing-v1` payload value; ServerProtocolError if malformed."""
    try:
        reader = BodyReader(value)
        first = _element(reader, 8, "first_token").read_long()
        last = _element(reader, 8, "last_token").read_long()
        items = _element(reader, None, "replica list")
        replicas = []
        for _ in range(items.read_int()):
            pair = _element(items, 28, "replica tuple")
            host_id = uuid.UUID(bytes=_element(pair, 16, "host_id").read_raw(16))
            shard = _element(pair, 4, "shard").read_int()
            replicas.append((host_id, shard))
    except ClientProtocolError as exc:
        raise ServerProtocolError(f"Malformed tablets-routing-v1 payload: {exc.message}") from exc
    if first >= last:
        raise ServerProtocolError(f"tablets-routing-v1: empty token range ({first}, {last}]")
    return TabletRoute(first, last, tuple(replicas))


def tablet_route_of(response: Response) -> TabletRoute | None:
    """The routing hint a response carries, if any."""
    payload = response.custom_payload
    if not payload:
        return None
    value = payload.get(TABLETS_ROUTING_V1_KEY)
    return None if value is None else decode_tablets_routing_v1(value)


# --- request encoding ----------------------------------------------------------------------------

# <query_parameters> flags (section 4.1.4). Never renumber.
_VALUES: Final = 0x01
_SKIP_METADATA: Final = 0x02
_PAGE_SIZE: Final = 0x04
_PAGING_STATE: Final = 0x08
_SERIAL_CONSISTENCY: Final = 0x10
_DEFAULT_TIMESTAMP: Final = 0x20

_CONSISTENCY_AND_FLAGS: Final = struct.Struct(">HB")
_unpack_header: Final = HEADER.unpack_from
_pack_header_into: Final = HEADER.pack_into
_new_received: Final = tuple.__new__  # Received(stream, response) without NamedTuple.__new__'s cost
_COMPACT_THRESHOLD_BYTES: Final = 64 * 1024
_SMALL_LENGTHS: Final = tuple(INT.pack(n) for n in range(1024))
_FREE: Final = -1  # `_pending` marker of a stream id that is not in flight

# Which response opcodes may answer which request (sections 4.1, 4.2). ERROR answers anything.
_ANSWERS: Final[Mapping[int, frozenset[int]]] = {
    Opcode.STARTUP: frozenset({Opcode.READY, Opcode.AUTHENTICATE, Opcode.ERROR}),
    Opcode.OPTIONS: frozenset({Opcode.SUPPORTED, Opcode.ERROR}),
    Opcode.AUTH_RESPONSE: frozenset({Opcode.AUTH_CHALLENGE, Opcode.AUTH_SUCCESS, Opcode.ERROR}),
    Opcode.QUERY: frozenset({Opcode.RESULT, Opcode.ERROR}),
    Opcode.PREPARE: frozenset({Opcode.RESULT, Opcode.ERROR}),
    Opcode.EXECUTE: frozenset({Opcode.RESULT, Opcode.ERROR}),
}
_ALLOWED: Final[Mapping[ConnectionState, frozenset[int]]] = {
    ConnectionState.AWAIT_STARTUP: frozenset({Opcode.OPTIONS, Opcode.STARTUP}),
    ConnectionState.STARTING: frozenset({Opcode.OPTIONS}),
    ConnectionState.AUTHENTICATING: frozenset({Opcode.OPTIONS, Opcode.AUTH_RESPONSE}),
    ConnectionState.READY: frozenset({Opcode.OPTIONS, Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE}),
}


class ClientConnection:
    """One connection's client-side protocol state. See the module docstring for the contract.

    `max_streams` bounds the stream ids handed out (at most 32768); `version` is 4 or 3.
    """

    def __init__(
        self,
        version: int = 4,
        max_frame_size_bytes: int = SPEC_MAX_FRAME_SIZE_BYTES,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        if version not in SUPPORTED_VERSIONS:
            raise ValueError(f"protocol version {version} is not supported (3 or 4)")
        if not 1 <= max_streams <= MAX_STREAMS:
            raise ValueError(f"max_streams must be in 1..{MAX_STREAMS}")
        if max_frame_size_bytes <= 0:
            raise ValueError("max_frame_size_bytes must be positive")
        self._version = version
        self._response_version = RESPONSE_BIT | version
        self.max_frame_size_bytes = max_frame_size_bytes
        # Unparsed input from `_pos` on. Usually the `bytes` chunk the transport handed us (no
        # copy); a bytearray only while a frame spans chunks.
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._eof = False
        self._closed = False
        self._fatal: ServerProtocolError | None = None
        self._state = ConnectionState.AWAIT_STARTUP
        self._compression: str | None = None
        self._startup_stream: int | None = None
        self._auth_stream: int | None = None
        self._startup_options: Mapping[str, str] | None = None
        # Stream bookkeeping: a LIFO free list (recently used ids stay hot), the request opcode in
        # flight per id, and the result columns an EXECUTE with skip_metadata will need.
        self._free = list(range(max_streams - 1, -1, -1))
        self._pending = [_FREE] * max_streams
        self._skipped_columns: list[tuple[ColumnSpec, ...] | None] = [None] * max_streams

    # --- introspection -------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        if self._fatal is not None:
            return ConnectionState.ERROR
        if self._closed:
            return ConnectionState.CLOSED
        return self._state

    @property
    def version(self) -> int:
        return self._version

    @property
    def compression(self) -> str | None:
        return self._compression

    @property
    def negotiated_extensions(self) -> frozenset[str]:
        """Non-standard STARTUP keys of the accepted (or pending) STARTUP."""
        options = self._startup_options or {}
        return frozenset(k for k in options if k not in ("CQL_VERSION", "COMPRESSION",
                                                          "DRIVER_NAME", "DRIVER_VERSION"))

    @property
    def in_flight(self) -> int:
        return len(self._pending) - len(self._free)

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf) - self._pos

    # --- requests ------------------------------------------------------------------------------

    def options(self) -> tuple[int, bytes]:
        """OPTIONS (4.1.3): ask for SUPPORTED."""
        self._check(Opcode.OPTIONS)
        return self._frame(Opcode.OPTIONS, bytearray(HEADER_SIZE), 0)

    def startup(self, options: Mapping[str, str]) -> tuple[int, bytes]:
        """STARTUP (4.1.1). Build `options` with `startup_options()`; CQL_VERSION is required."""
        self._check(Opcode.STARTUP)
        if "CQL_VERSION" not in options:
            raise ValueError("STARTUP options must contain CQL_VERSION")
        compression = options.get("COMPRESSION")
        if compression is not None and compression.lower() != "lz4":
            raise ValueError(f"compression {compression!r} is not implemented (only lz4)")
        buf = bytearray(HEADER_SIZE)
        write_string_map(buf, options)
        # Spec section 5: STARTUP itself is never compressed.
        stream, frame = self._frame(Opcode.STARTUP, buf, 0)
        self._state = ConnectionState.STARTING
        self._startup_stream = stream
        self._startup_options = dict(options)
        self._compression = None if compression is None else compression.lower()
        return stream, frame

    def auth_response(self, token: bytes | None) -> tuple[int, bytes]:
        """AUTH_RESPONSE (4.1.2); for PasswordAuthenticator pass `sasl_plain_token(user, pw)`."""
        self._check(Opcode.AUTH_RESPONSE)
        buf = bytearray(HEADER_SIZE)
        write_bytes(buf, token)
        stream, frame = self._frame(Opcode.AUTH_RESPONSE, buf, 0)
        self._auth_stream = stream
        return stream, frame

    def prepare(self, query: str) -> tuple[int, bytes]:
        """PREPARE (4.1.5)."""
        self._check(Opcode.PREPARE)
        buf = bytearray(HEADER_SIZE)
        write_long_string(buf, query)
        return self._frame(Opcode.PREPARE, buf, 0)

    def query(
        self,
        query: str,
        consistency: Consistency = Consistency.ONE,
        values: Sequence[Value] = (),
        *,
        page_size: int | None = None,
        paging_state: bytes | None = None,
        serial_consistency: Consistency | None = None,
        timestamp: int | None = None,
        custom_payload: Mapping[str, bytes | None] | None = None,
        tracing: bool = False,
    ) -> tuple[int, bytes]:
        """QUERY (4.1.4)."""
        self._check(Opcode.QUERY)
        buf, frame_flags = self._prefix(custom_payload, tracing)
        write_long_string(buf, query)
        self._write_parameters(buf, consistency, 0, values, page_size, paging_state,
                               serial_consistency, timestamp)
        return self._frame(Opcode.QUERY, buf, frame_flags)

    def execute(
        self,
        statement: PreparedStatement,
        values: Sequence[Value],
        consistency: Consistency = Consistency.ONE,
        *,
        skip_metadata: bool | None = None,
        page_size: int | None = None,
        paging_state: bytes | None = None,
        serial_consistency: Consistency | None = None,
        timestamp: int | None = None,
        custom_payload: Mapping[str, bytes | None] | None = None,
        tracing: bool = False,
    ) -> tuple[int, bytes]:
        """EXECUTE (4.1.6). `skip_metadata` defaults to True for statements that return rows:
        the rows are then decoded with `statement.result_columns`. Hot path."""
        if self._state is not ConnectionState.READY or self._fatal is not None or self._closed:
            self._check(Opcode.EXECUTE)
        if len(values) != len(statement.bind_columns):
            raise ValueError(
                f"statement has {len(statement.bind_columns)} bind markers, got {len(values)} values")
        result_columns = statement.result_columns
        if skip_metadata is None:
            skip_metadata = result_columns is not None
        elif skip_metadata and result_columns is None:
            raise ValueError("skip_metadata needs a statement whose result metadata is known")
        if (custom_payload or tracing or page_size is not None or paging_state is not None
                or serial_consistency is not None or timestamp is not None or self._compression):
            if custom_payload or tracing:
                buf, frame_flags = self._prefix(custom_payload, tracing)
            else:
                buf, frame_flags = bytearray(HEADER_SIZE), 0
            buf += statement.execute_prefix[HEADER_SIZE:]
            self._write_parameters(buf, consistency, _SKIP_METADATA if skip_metadata else 0, values,
                                   page_size, paging_state, serial_consistency, timestamp)
            stream, frame = self._frame(Opcode.EXECUTE, buf, frame_flags)
        else:
            # The load generator's path: no optional parameters, no compression, values inline.
            free = self._free
            if not free:
                raise StreamsExhausted(f"all {len(self._pending)} stream ids are in flight")
            buf = bytearray(statement.execute_prefix)
            if values:
                buf += _CONSISTENCY_AND_FLAGS.pack(consistency, (_VALUES | _SKIP_METADATA) if skip_metadata
                                                   else _VALUES)
                self._write_values(buf, values)
            else:
                buf += _CONSISTENCY_AND_FLAGS.pack(consistency, _SKIP_METADATA if skip_metadata else 0)
            body_len = len(buf) - HEADER_SIZE
            if body_len > self.max_frame_size_bytes:
                raise ValueError(f"request body of {body_len} bytes exceeds the frame limit")
            stream = free.pop()
            _pack_header_into(buf, 0, self._version, 0, stream, Opcode.EXECUTE, body_len)
            self._pending[stream] = Opcode.EXECUTE
            frame = bytes(buf)
        if skip_metadata:
            self._skipped_columns[stream] = result_columns
        return stream, frame

    def _check(self, opcode: Opcode) -> None:
        if self._fatal is not None or self._closed:
            raise LocalProtocolError(f"cannot send {opcode.name}: the connection is unusable")
        if opcode not in _ALLOWED[self._state]:
            raise LocalProtocolError(f"cannot send {opcode.name} in state {self._state.name}")

    def _prefix(self, custom_payload: Mapping[str, bytes | None] | None,
                tracing: bool) -> tuple[bytearray, int]:
        buf = bytearray(HEADER_SIZE)
        flags = FLAG_TRACING if tracing else 0
        if custom_payload:
            if self._version < 4:
                raise ValueError("custom payloads need protocol v4")
            flags |= FLAG_CUSTOM_PAYLOAD
            write_bytes_map(buf, custom_payload)
        return buf, flags

    def _write_values(self, buf: bytearray, values: Sequence[Value]) -> None:
        """<n><value_1>...<value_n>: [bytes] each, -1 for null, -2 for unset (v4)."""
        buf += SHORT.pack(len(values))
        small = _SMALL_LENGTHS
        for value in values:
            if value is None:
                buf += NULL_VALUE
            elif value is UNSET:
                if self._version < 4:
                    raise ValueError("unset values need protocol v4")
                buf += UNSET_VALUE
            else:
                n = len(value)
                buf += small[n] if n < 1024 else INT.pack(n)
                buf += value

    def _write_parameters(
        self, buf: bytearray, consistency: int, flags: int, values: Sequence[Value],
        page_size: int | None, paging_state: bytes | None, serial: int | None, timestamp: int | None,
    ) -> None:
        """<consistency><flags>[<n><value_1>...<value_n>][<page_size>][<paging_state>]
        [<serial_consistency>][<timestamp>] (4.1.4), v3/v4 one-byte flags."""
        if values:
            flags |= _VALUES
        if page_size is not None:
            flags |= _PAGE_SIZE
        if paging_state is not None:
            flags |= _PAGING_STATE
        if serial is not None:
            flags |= _SERIAL_CONSISTENCY
        if timestamp is not None:
            flags |= _DEFAULT_TIMESTAMP
        buf += _CONSISTENCY_AND_FLAGS.pack(consistency, flags)
        if values:
            if len(values) > 0xFFFF:
                raise ValueError(f"too many bind values: {len(values)}")
            self._write_values(buf, values)
        try:
            if page_size is not None:
                buf += INT.pack(page_size)
            if paging_state is not None:
                write_bytes(buf, paging_state)
            if serial is not None:
                buf += SHORT.pack(serial)
            if timestamp is not None:
                buf += LONG.pack(timestamp)
        except struct.error as exc:
            raise ValueError(f"query parameter out of range: {exc}") from None

    def _frame(self, opcode: Opcode, buf: bytearray, flags: int) -> tuple[int, bytes]:
        """Take a stream id and finish the frame; `buf` holds HEADER_SIZE placeholder bytes."""
        free = self._free
        if not free:
            raise StreamsExhausted(f"all {len(self._pending)} stream ids are in flight")
        stream = free[-1]
        body_len = len(buf) - HEADER_SIZE
        if body_len > self.max_frame_size_bytes:
            raise ValueError(f"request body of {body_len} bytes exceeds the frame limit")
        if self._compression is not None and opcode != Opcode.STARTUP and body_len:
            with memoryview(buf) as view:
                body = lz4_compress(view[HEADER_SIZE:])
            frame = HEADER.pack(self._version, flags | FLAG_COMPRESSED, stream, opcode, len(body)) + body
        else:
            HEADER.pack_into(buf, 0, self._version, flags, stream, opcode, body_len)
            frame = bytes(buf)
        free.pop()
        self._pending[stream] = opcode
        return stream, frame

    # --- responses -----------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the socket; `b""` signals EOF."""
        if self._eof:
            if data:
                raise LocalProtocolError("receive_data() after EOF")
            return
        if not data:
            self._eof = True
            return
        if self._pos >= len(self._buf):
            self._buf = data if isinstance(data, bytes) else bytes(data)
            self._pos = 0
        elif isinstance(self._buf, bytearray):
            self._buf += data
        else:
            self._buf = bytearray(memoryview(self._buf)[self._pos :]) + data
            self._pos = 0

    def next_response(self) -> Received | NeedData | ConnectionClosed:
        """The next decoded response, `NEED_DATA`, or `ConnectionClosed` after EOF.

        Raises ServerProtocolError only; see the module docstring. Hot path.
        """
        if self._fatal is not None:
            raise ServerProtocolError(self._fatal.message, self._fatal.stream, fatal=True)
        buf = self._buf
        pos = self._pos
        size = len(buf)
        if size - pos < HEADER_SIZE:
            return self._starved(size - pos)
        version, flags, stream, opcode, length = _unpack_header(buf, pos)
        if not version & RESPONSE_BIT:
            self._fail(f"Frame without the response direction bit (version byte 0x{version:02x})", None)
        if length < 0 or length > self.max_frame_size_bytes:
            self._fail(f"Response frame body length {length} out of bounds", stream)
        start = pos + HEADER_SIZE
        end = start + length
        if size < end:
            return self._starved(size - pos)
        body = buf[start:end]
        if end == size:
            self._buf = b""
            self._pos = 0
        elif end >= _COMPACT_THRESHOLD_BYTES and isinstance(buf, bytearray):
            del buf[:end]
            self._pos = 0
        else:
            self._pos = end

        skipped: tuple[ColumnSpec, ...] | None = None
        if stream >= 0:
            pending = self._pending
            request = pending[stream] if stream < len(pending) else _FREE
            if request == _FREE:
                raise ServerProtocolError(f"Response on stream {stream}, which is not in flight", stream)
            pending[stream] = _FREE
            self._free.append(stream)
            skipped = self._skipped_columns[stream]
            if skipped is not None:
                self._skipped_columns[stream] = None
            if opcode not in _ANSWERS[request]:
                raise ServerProtocolError(
                    f"{_opcode_name(opcode)} cannot answer {Opcode(request).name}", stream)
        elif opcode != Opcode.EVENT:
            raise ServerProtocolError(f"Opcode 0x{opcode:02x} on negative stream {stream}", stream)
        if version != self._response_version and opcode != Opcode.ERROR:
            # An ERROR may come in another version: the server refusing ours (section 2.1).
            raise ServerProtocolError(
                f"Response version {version & 0x7F} on a v{self._version} connection", stream)
        if opcode == Opcode.RESULT and not flags and body == _VOID_BODY:
            response: Response = _VOID  # the write hot path: nothing to decode, nothing to allocate
        else:
            if isinstance(body, bytearray):
                body = bytes(body)
            try:
                if flags & FLAG_COMPRESSED:
                    if self._compression is None:
                        raise ClientProtocolError("Compressed response but no compression was negotiated")
                    body = lz4_decompress(body, self.max_frame_size_bytes)
                response = self._decode(opcode, flags, body, skipped)
            except ClientProtocolError as exc:
                raise ServerProtocolError(f"Malformed {_opcode_name(opcode)}: {exc.message}", stream) from exc
            except (struct.error, ValueError) as exc:
                raise ServerProtocolError(f"Malformed {_opcode_name(opcode)}: {exc}", stream) from exc
            if stream >= 0 and self._state is not ConnectionState.READY:
                self._after_handshake_response(stream, response)
        return _new_received(Received, (stream, response))

    def _starved(self, avail: int) -> NeedData | ConnectionClosed:
        if self._eof:
            self._closed = True
            return ConnectionClosed(incomplete_frame=avail > 0)
        return NEED_DATA

    def _fail(self, message: str, stream: int | None) -> NoReturn:
        self._fatal = ServerProtocolError(message, stream, fatal=True)
        raise ServerProtocolError(message, stream, fatal=True)

    def _after_handshake_response(self, stream: int, response: Response) -> None:
        if stream == self._startup_stream:
            self._startup_stream = None
            if isinstance(response, Ready):
                self._state = ConnectionState.READY
            elif isinstance(response, Authenticate):
                self._state = ConnectionState.AUTHENTICATING
            else:  # refused: the client may start over, uncompressed
                self._state = ConnectionState.AWAIT_STARTUP
                self._compression = None
                self._startup_options = None
        elif stream == self._auth_stream:
            self._auth_stream = None
            if isinstance(response, AuthSuccess):
                self._state = ConnectionState.READY

    def _decode(self, opcode: int, flags: int, body: bytes,
                skipped: tuple[ColumnSpec, ...] | None) -> Response:
        reader = BodyReader(body)
        extra: dict[str, Any] = {}
        if flags & FLAG_TRACING:
            extra["tracing_id"] = uuid.UUID(bytes=reader.read_raw(16))
        if self._version >= 4:
            if flags & FLAG_WARNING:
                extra["warnings"] = tuple(reader.read_string_list())
            if flags & FLAG_CUSTOM_PAYLOAD:
                extra["custom_payload"] = reader.read_bytes_map()
        decoder = _DECODERS.get(opcode)
        if decoder is None:
            raise ClientProtocolError(f"{_opcode_name(opcode)} is not a response")
        return decoder(self, reader, extra, skipped)

    # Body decoders (section 4.2). Each gets the reader positioned after the frame prefix.

    def _decode_result(self, r: BodyReader, extra: dict[str, Any],
                       skipped: tuple[ColumnSpec, ...] | None) -> Response:
        kind = r.read_int()
        if kind == 0x0001:
            return ResultVoid(**extra) if extra else _VOID
        if kind == 0x0002:
            return _decode_rows(r, extra, skipped)
        if kind == 0x0003:
            return ResultSetKeyspace(r.read_string(), **extra)
        if kind == 0x0004:
            return self._decode_prepared(r, extra)
        if kind == 0x0005:
            change_type, target, keyspace, name, arg_types = _read_schema_change(r)
            return ResultSchemaChange(change_type, target, keyspace, name, arg_types, **extra)
        raise ClientProtocolError(f"Unknown RESULT kind {kind}")

    def _decode_prepared(self, r: BodyReader, extra: dict[str, Any]) -> Response:
        statement_id = r.read_short_bytes()
        flags = r.read_int()
        count = r.read_int()
        pk_indexes: tuple[int, ...] = ()
        if self._version >= 4:
            pk_indexes = tuple(r.read_short() for _ in range(_count(r.read_int(), "pk_count")))
        bind_columns = _read_specs(r, flags, _count(count, "columns_count"))
        result_flags = r.read_int()
        result_count = _count(r.read_int(), "columns_count")
        result_columns: tuple[ColumnSpec, ...] | None = None
        if not result_flags & _NO_METADATA:
            if result_flags & _HAS_MORE_PAGES:
                r.read_bytes()
            result_columns = _read_specs(r, result_flags, result_count)
        return ResultPrepared(statement_id, bind_columns, pk_indexes, result_columns,
                              lwt=bool(flags & _LWT_MARK), **extra)

    def _decode_error(self, r: BodyReader, extra: dict[str, Any],
                      skipped: tuple[ColumnSpec, ...] | None) -> Response:
        return ErrorResponse(_read_error(r), **extra)

    def _decode_ready(self, r: BodyReader, extra: dict[str, Any],
                      skipped: tuple[ColumnSpec, ...] | None) -> Response:
        return Ready(**extra) if extra else _READY

    def _decode_authenticate(self, r: BodyReader, extra: dict[str, Any],
                             skipped: tuple[ColumnSpec, ...] | None) -> Response:
        return Authenticate(r.read_string(), **extra)

    def _decode_supported(self, r: BodyReader, extra: dict[str, Any],
                          skipped: tuple[ColumnSpec, ...] | None) -> Response:
        options: dict[str, list[str]] = {}
        for _ in range(r.read_short()):
            key = r.read_string()
            options[key] = r.read_string_list()
        return Supported(options, **extra)

    def _decode_auth_challenge(self, r: BodyReader, extra: dict[str, Any],
                               skipped: tuple[ColumnSpec, ...] | None) -> Response:
        return AuthChallenge(r.read_bytes(), **extra)

    def _decode_auth_success(self, r: BodyReader, extra: dict[str, Any],
                             skipped: tuple[ColumnSpec, ...] | None) -> Response:
        return AuthSuccess(r.read_bytes(), **extra)

    def _decode_event(self, r: BodyReader, extra: dict[str, Any],
                      skipped: tuple[ColumnSpec, ...] | None) -> Response:
        event_type = r.read_string()
        if event_type == "SCHEMA_CHANGE":
            change_type, target, keyspace, name, arg_types = _read_schema_change(r)
            return SchemaChangeEvent(change_type, target, keyspace, name, arg_types, **extra)
        if event_type in ("TOPOLOGY_CHANGE", "STATUS_CHANGE"):
            change = r.read_string()
            size = r.read_byte()
            if size not in (4, 16):
                raise ClientProtocolError(f"[inet] address of {size} bytes")
            address = ipaddress.ip_address(r.read_raw(size))
            port = r.read_int()
            cls = TopologyChangeEvent if event_type == "TOPOLOGY_CHANGE" else StatusChangeEvent
            return cls(change, address, port, **extra)
        raise ClientProtocolError(f"Unknown event type {event_type!r}")


_VOID: Final = ResultVoid()
_READY: Final = Ready()
_VOID_BODY: Final = INT.pack(0x0001)

# <metadata> flags (4.2.5.2) and ScyllaDB's LWT mark in PREPARED flags. Never renumber.
_GLOBAL_TABLES_SPEC: Final = 0x0001
_HAS_MORE_PAGES: Final = 0x0002
_NO_METADATA: Final = 0x0004
_LWT_MARK: Final = 0x80000000

_Decoder = Callable[[ClientConnection, BodyReader, dict[str, Any], "tuple[ColumnSpec, ...] | None"],
                    Response]
_DECODERS: Final[Mapping[int, _Decoder]] = {
    Opcode.ERROR: ClientConnection._decode_error,
    Opcode.READY: ClientConnection._decode_ready,
    Opcode.AUTHENTICATE: ClientConnection._decode_authenticate,
    Opcode.SUPPORTED: ClientConnection._decode_supported,
    Opcode.RESULT: ClientConnection._decode_result,
    Opcode.EVENT: ClientConnection._decode_event,
    Opcode.AUTH_CHALLENGE: ClientConnection._decode_auth_challenge,
    Opcode.AUTH_SUCCESS: ClientConnection._decode_auth_success,
}


def _opcode_name(opcode: int) -> str:
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"opcode 0x{opcode:02x}"


def _count(n: int, what: str) -> int:
    if n < 0:
        raise ClientProtocolError(f"Negative {what} {n}")
    return n


def _read_type(r: BodyReader, depth: int = 0) -> TypeOption:
    """`[option]` (4.2.5.2) into the tuple shape `cql.protocol_types` uses."""
    if depth > 32:
        raise ClientProtocolError("Type nested too deeply")
    type_id = r.read_short()
    if type_id == CUSTOM:
        return (CUSTOM, r.read_string())
    if type_id in (LIST, SET):
        return (type_id, _read_type(r, depth + 1))
    if type_id == MAP:
        return (MAP, _read_type(r, depth + 1), _read_type(r, depth + 1))
    if type_id == UDT:
        keyspace = r.read_string()
        name = r.read_string()
        fields = tuple((r.read_string(), _read_type(r, depth + 1)) for _ in range(r.read_short()))
        return (UDT, keyspace, name, fields)
    if type_id == TUPLE:
        return (TUPLE, tuple(_read_type(r, depth + 1) for _ in range(r.read_short())))
    return (type_id,)


def _read_specs(r: BodyReader, flags: int, count: int) -> tuple[ColumnSpec, ...]:
    if flags & _GLOBAL_TABLES_SPEC:
        keyspace = r.read_string()
        table = r.read_string()
        return tuple(ColumnSpec(keyspace, table, r.read_string(), _read_type(r)) for _ in range(count))
    out = []
    for _ in range(count):
        keyspace = r.read_string()
        table = r.read_string()
        out.append(ColumnSpec(keyspace, table, r.read_string(), _read_type(r)))
    return tuple(out)


def _decode_rows(r: BodyReader, extra: dict[str, Any],
                 skipped: tuple[ColumnSpec, ...] | None) -> ResultRows:
    flags = r.read_int()
    count = _count(r.read_int(), "columns_count")
    paging_state = r.read_bytes() if flags & _HAS_MORE_PAGES else None
    no_metadata = bool(flags & _NO_METADATA)
    if no_metadata:
        if skipped is None:
            raise ClientProtocolError("Rows without metadata answering a request that did not skip it")
        if len(skipped) != count:
            raise ClientProtocolError(
                f"Rows has {count} columns, the prepared result metadata {len(skipped)}")
        columns = skipped
    else:
        columns = _read_specs(r, flags, count)
    rows = _read_rows_content(r, count)
    return ResultRows(columns, rows, paging_state, no_metadata, **extra)


def _read_rows_content(r: BodyReader, column_count: int) -> list[list[bytes | None]]:
    """<rows_count><row_1>...<row_m> of [bytes] cells. Hot path: local variables only."""
    row_count = _count(r.read_int(), "rows_count")
    data = r.read_raw(r.remaining())
    unpack = INT.unpack_from
    end = len(data)
    pos = 0
    rows: list[list[bytes | None]] = []
    for _ in range(row_count):
        row: list[bytes | None] = []
        append = row.append
        for _ in range(column_count):
            if pos + 4 > end:
                raise ClientProtocolError(f"Truncated rows content at cell {len(row)} of row {len(rows)}")
            n = unpack(data, pos)[0]
            pos += 4
            if n < 0:
                append(None)
            else:
                if pos + n > end:
                    raise ClientProtocolError(f"Truncated cell of {n} bytes in row {len(rows)}")
                append(data[pos : pos + n])
                pos += n
        rows.append(row)
    return rows


def _read_schema_change(r: BodyReader) -> tuple[str, str, str, str | None, tuple[str, ...]]:
    """<change_type><target><options> (4.2.6 SCHEMA_CHANGE)."""
    change_type = r.read_string()
    target = r.read_string()
    keyspace = r.read_string()
    if target == "KEYSPACE":
        return change_type, target, keyspace, None, ()
    name = r.read_string()
    if target in ("FUNCTION", "AGGREGATE"):
        return change_type, target, keyspace, name, tuple(r.read_string_list())
    return change_type, target, keyspace, name, ()


_SIMPLE_ERRORS: Final[Mapping[int, type[errors.CQLError]]] = {
    cls.code: cls for cls in (
        errors.ServerError, errors.ProtocolError, errors.BadCredentials, errors.Overloaded,
        errors.IsBootstrapping, errors.TruncateError, errors.SyntaxException, errors.Unauthorized,
        errors.InvalidRequest, errors.ConfigurationException,
    )
}


def _read_error(r: BodyReader) -> errors.CQLError:
    """<code><message> and the extra fields section 9 lists for the code (v4 layouts)."""
    code = r.read_int()
    message = r.read_string()
    simple = _SIMPLE_ERRORS.get(code)
    if simple is not None:
        return simple(message)
    if code == errors.ErrorCode.UNAVAILABLE:
        return errors.Unavailable(message, r.read_short(), r.read_int(), r.read_int())
    if code == errors.ErrorCode.WRITE_TIMEOUT:
        cl, received, block_for = r.read_short(), r.read_int(), r.read_int()
        return errors.WriteTimeout(message, cl, received, block_for, r.read_string())
    if code == errors.ErrorCode.READ_TIMEOUT:
        cl, received, block_for = r.read_short(), r.read_int(), r.read_int()
        return errors.ReadTimeout(message, cl, received, block_for, r.read_byte() != 0)
    if code == errors.ErrorCode.READ_FAILURE:
        cl, received, block_for, failures = r.read_short(), r.read_int(), r.read_int(), r.read_int()
        return errors.ReadFailure(message, cl, received, block_for, failures, r.read_byte() != 0)
    if code == errors.ErrorCode.WRITE_FAILURE:
        cl, received, block_for, failures = r.read_short(), r.read_int(), r.read_int(), r.read_int()
        return errors.WriteFailure(message, cl, received, block_for, failures, r.read_string())
    if code == errors.ErrorCode.FUNCTION_FAILURE:
        return errors.FunctionFailure(message, r.read_string(), r.read_string(), r.read_string_list())
    if code == errors.ErrorCode.ALREADY_EXISTS:
        return errors.AlreadyExists(message, r.read_string(), r.read_string())
    if code == errors.ErrorCode.UNPREPARED:
        return errors.Unprepared(message, r.read_short_bytes())
    return UnrecognizedError(message, code)
