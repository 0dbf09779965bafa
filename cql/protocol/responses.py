"""Response messages (native protocol v4 spec section 4.2) and their body encoders.

Owns: the response values the server hands to `ServerConnection.send()` (frozen for the type
checker, plain slotted dataclasses at runtime: see `_response`), and the byte
layout of each response body (the frame header and the tracing/warnings/custom-payload prefix
are added by the connection).

Invariants:
- Encoders append to a caller-owned `bytearray`; they raise `ValueError` for values the protocol
  cannot carry (a string longer than 65535 bytes, a row of the wrong width...). Such a
  failure is a server bug, never a client's fault.
- `ResultRows` is the hot path: cells arrive already serialized; per-column metadata bytes are
  cached per distinct column tuple; per cell we do one length pack and two appends.
- Version-dependent layouts (v3 has no pk indexes in PREPARED, no failure errors) are decided by
  `EncodeContext.version`; the connection performs error downgrades before encoding.
"""

from __future__ import annotations

import functools
import ipaddress
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, TypeVar, dataclass_transform

from cql import errors
from cql.protocol.frame import Opcode
from cql.protocol.wire import (
    BYTE,
    INT,
    NULL_VALUE,
    SHORT,
    UINT,
    write_bytes,
    write_inet,
    write_short_bytes,
    write_string,
    write_string_list,
    write_string_multimap,
)
from cql.protocol_types import CUSTOM, LIST, MAP, SET, TUPLE, UDT, ColumnSpec, TypeOption

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def _response(*, kw_only: bool = False) -> Callable[[type[_T]], type[_T]]:
    """A slotted dataclass that mypy checks as frozen but that is not frozen at runtime.

    The server builds a response per request; a frozen dataclass costs one object.__setattr__
    call per field to build (about 2.5x the plain stores of a non-frozen one). Immutability is
    therefore enforced by the type checker (mypy strict runs on the packages), not at runtime.
    `unsafe_hash` keeps them hashable as frozen dataclasses were.
    """

    def wrap(cls: type[_T]) -> type[_T]:
        return dataclass(slots=True, kw_only=kw_only, unsafe_hash=True)(cls)

    return wrap


@dataclass(frozen=True, slots=True)
class EncodeContext:
    """Per-connection facts an encoder needs.

    `lwt_flag_mask` is 0 unless the client negotiated SCYLLA_LWT_ADD_METADATA_MARK;
    `rate_limit_error_code` is None unless it negotiated SCYLLA_RATE_LIMIT_ERROR (then it is the
    ERROR_CODE we advertised).
    """

    version: int = 4
    lwt_flag_mask: int = 0
    rate_limit_error_code: int | None = None


@_response(kw_only=True)
class Response(ABC):
    """Fields any response frame may carry (section 2.2 flags).

    `tracing_id` sets flag 0x02; `warnings` flag 0x08 (v4+); `custom_payload` flag 0x04 (v4+).
    On a v3 connection warnings and custom payload are silently dropped: v3 cannot carry them.
    """

    opcode: ClassVar[Opcode]

    tracing_id: uuid.UUID | None = None
    warnings: Sequence[str] = ()
    custom_payload: Mapping[str, bytes | None] | None = None

    @abstractmethod
    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        ...


@_response()
class Ready(Response):
    """READY (4.2.2): empty body."""

    opcode: ClassVar[Opcode] = Opcode.READY

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        pass


@_response()
class Authenticate(Response):
    """AUTHENTICATE (4.2.3): the authenticator's class name."""

    opcode: ClassVar[Opcode] = Opcode.AUTHENTICATE
    authenticator: str

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        write_string(buf, self.authenticator)


@_response()
class Supported(Response):
    """SUPPORTED (4.2.4): a [string multimap]. Must contain CQL_VERSION and COMPRESSION."""

    opcode: ClassVar[Opcode] = Opcode.SUPPORTED
    options: Mapping[str, Sequence[str]]

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        for key in ("CQL_VERSION", "COMPRESSION"):
            if key not in self.options:
                # Both drivers crash on a SUPPORTED without these keys (CLIENT-COMPAT.md).
                raise ValueError(f"SUPPORTED must contain {key}")
        write_string_multimap(buf, self.options)


@_response()
class AuthChallenge(Response):
    """AUTH_CHALLENGE (4.2.7)."""

    opcode: ClassVar[Opcode] = Opcode.AUTH_CHALLENGE
    token: bytes | None

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        write_bytes(buf, self.token)


@_response()
class AuthSuccess(Response):
    """AUTH_SUCCESS (4.2.8)."""

    opcode: ClassVar[Opcode] = Opcode.AUTH_SUCCESS
    token: bytes | None = None

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        write_bytes(buf, self.token)


# --- ERROR (4.2.1, extra fields per section 9) ---------------------------------------------------


@_response()
class ErrorResponse(Response):
    """ERROR (4.2.1): the code, message and extra fields of a `cql.errors.CQLError`."""

    opcode: ClassVar[Opcode] = Opcode.ERROR
    error: errors.CQLError

    @classmethod
    def from_exception(cls, exc: errors.CQLError) -> ErrorResponse:
        return cls(exc)

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        encode_error(buf, self.error, ctx)


def _counts(buf: bytearray, c: errors._ReplicaCounts) -> None:
    buf += SHORT.pack(c.consistency)
    buf += INT.pack(c.received)
    buf += INT.pack(c.block_for)


def _downgrade(exc: errors.CQLError, ctx: EncodeContext) -> tuple[errors.CQLError, int]:
    """The error to send and its code, given what this connection's client understands.

    v3 has no READ_FAILURE / WRITE_FAILURE / FUNCTION_FAILURE (added in v4): like Cassandra we send
    the matching timeout, or INVALID for a function failure. ScyllaDB's rate-limit error is sent
    under the advertised code only to clients that negotiated it, else as CONFIG_ERROR
    (protocol-extensions.md, "Rate limit error").
    """
    if ctx.version < 4:
        if isinstance(exc, errors.ReadFailure):
            c = exc.counts
            return errors.ReadTimeout(exc.message, c.consistency, c.received, c.block_for,
                                      exc.data_present), errors.ErrorCode.READ_TIMEOUT
        if isinstance(exc, errors.WriteFailure):
            c = exc.counts
            return errors.WriteTimeout(exc.message, c.consistency, c.received, c.block_for,
                                       exc.write_type), errors.ErrorCode.WRITE_TIMEOUT
        if isinstance(exc, errors.FunctionFailure):
            return errors.InvalidRequest(exc.message), errors.ErrorCode.INVALID
    if exc.code == errors.ErrorCode.RATE_LIMIT:
        if ctx.rate_limit_error_code is None:
            return errors.ConfigurationException(exc.message), errors.ErrorCode.CONFIG_ERROR
        return exc, ctx.rate_limit_error_code
    return exc, int(exc.code)


def encode_error(buf: bytearray, exc: errors.CQLError, ctx: EncodeContext) -> None:
    """`<code><message>` then the extra fields section 9 lists for that code (v3/v4 layouts)."""
    exc, code = _downgrade(exc, ctx)
    buf += INT.pack(code)
    write_string(buf, exc.message)
    if isinstance(exc, errors.Unavailable):
        buf += SHORT.pack(exc.consistency)
        buf += INT.pack(exc.required)
        buf += INT.pack(exc.alive)
    elif isinstance(exc, errors.WriteTimeout):
        _counts(buf, exc.counts)
        write_string(buf, exc.write_type)
    elif isinstance(exc, errors.ReadTimeout):
        _counts(buf, exc.counts)
        buf += BYTE.pack(1 if exc.data_present else 0)
    elif isinstance(exc, errors.ReadFailure):
        _counts(buf, exc.counts)
        buf += INT.pack(exc.failures)
        buf += BYTE.pack(1 if exc.data_present else 0)
    elif isinstance(exc, errors.WriteFailure):
        _counts(buf, exc.counts)
        buf += INT.pack(exc.failures)
        write_string(buf, exc.write_type)
    elif isinstance(exc, errors.FunctionFailure):
        write_string(buf, exc.keyspace)
        write_string(buf, exc.function)
        write_string_list(buf, exc.arg_types)
    elif isinstance(exc, errors.AlreadyExists):
        write_string(buf, exc.keyspace)
        write_string(buf, exc.table)
    elif isinstance(exc, errors.Unprepared):
        write_short_bytes(buf, exc.statement_id)
    elif exc.code == errors.ErrorCode.RATE_LIMIT:
        # <op_type><rejected_by_coordinator> (protocol-extensions.md). errors.py has no dedicated
        # class yet, so the fields are read by name: op_type 0 read / 1 write (default write),
        # rejected_by_coordinator default False.
        op_type = int(getattr(exc, "op_type", 1))
        by_coordinator = bool(getattr(exc, "rejected_by_coordinator", False))
        buf += BYTE.pack(op_type)
        buf += BYTE.pack(1 if by_coordinator else 0)


# --- RESULT (4.2.5) ------------------------------------------------------------------------------

_KIND_VOID: Final = INT.pack(0x0001)
_KIND_ROWS: Final = INT.pack(0x0002)
_KIND_SET_KEYSPACE: Final = INT.pack(0x0003)
_KIND_PREPARED: Final = INT.pack(0x0004)
_KIND_SCHEMA_CHANGE: Final = INT.pack(0x0005)

# <metadata> flags (4.2.5.2). Never renumber.
_GLOBAL_TABLES_SPEC: Final = 0x0001
_HAS_MORE_PAGES: Final = 0x0002
_NO_METADATA: Final = 0x0004


def _write_type(buf: bytearray, opt: TypeOption) -> None:
    """`[option]` for a type (4.2.5.2); shapes as documented in contracts.md section 2."""
    type_id = opt[0]
    buf += SHORT.pack(type_id)
    if type_id == CUSTOM:
        write_string(buf, opt[1])
    elif type_id in (LIST, SET):
        _write_type(buf, opt[1])
    elif type_id == MAP:
        _write_type(buf, opt[1])
        _write_type(buf, opt[2])
    elif type_id == UDT:
        write_string(buf, opt[1])
        write_string(buf, opt[2])
        fields = opt[3]
        buf += SHORT.pack(len(fields))
        for name, field_opt in fields:
            write_string(buf, name)
            _write_type(buf, field_opt)
    elif type_id == TUPLE:
        items = opt[1]
        buf += SHORT.pack(len(items))
        for item in items:
            _write_type(buf, item)


@functools.lru_cache(maxsize=4096)
def _column_specs(columns: tuple[ColumnSpec, ...]) -> tuple[int, bytes]:
    """(global-table-spec flag, encoded column specs) for a column tuple; cached."""
    buf = bytearray()
    flag = 0
    if columns and all(
        c.keyspace == columns[0].keyspace and c.table == columns[0].table for c in columns
    ):
        # One <global_table_spec> instead of repeating keyspace and table per column.
        flag = _GLOBAL_TABLES_SPEC
        write_string(buf, columns[0].keyspace)
        write_string(buf, columns[0].table)
    for c in columns:
        if not flag:
            write_string(buf, c.keyspace)
            write_string(buf, c.table)
        write_string(buf, c.name)
        _write_type(buf, c.type)
    return flag, bytes(buf)


def _specs_of(columns: Sequence[ColumnSpec]) -> tuple[int, bytes]:
    key = columns if isinstance(columns, tuple) else tuple(columns)
    try:
        return _column_specs(key)
    except TypeError:
        # A type option holding a list (unhashable) cannot be a cache key; encode uncached.
        return _column_specs.__wrapped__(key)


def _write_rows_metadata(
    buf: bytearray,
    columns: Sequence[ColumnSpec],
    paging_state: bytes | None,
    no_metadata: bool,
) -> None:
    """<flags><columns_count>[<paging_state>][<global_table_spec>?<col_spec_1>...<col_spec_n>]."""
    flags = 0
    if paging_state is not None:
        flags |= _HAS_MORE_PAGES
    if no_metadata:
        buf += INT.pack(flags | _NO_METADATA)
        buf += INT.pack(len(columns))
        if paging_state is not None:
            write_bytes(buf, paging_state)
        return
    spec_flag, specs = _specs_of(columns)
    buf += INT.pack(flags | spec_flag)
    buf += INT.pack(len(columns))
    if paging_state is not None:
        write_bytes(buf, paging_state)
    buf += specs


@_response()
class ResultVoid(Response):
    """RESULT kind Void (4.2.5.1)."""

    opcode: ClassVar[Opcode] = Opcode.RESULT

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        buf += VOID_BODY


@_response()
class ResultRows(Response):
    """RESULT kind Rows (4.2.5.2).

    `rows` hold already-serialized cells (`bytes`, or None for null), one per column, in column
    order. `paging_state` not None sets Has_more_pages. `no_metadata` (answering a request with
    skip_metadata) writes only flags and the column count; `columns` is still required for the
    count. The metadata of a `columns` tuple or list passed again (the same object, e.g. a
    prepared statement's) comes from a cache.
    """

    opcode: ClassVar[Opcode] = Opcode.RESULT
    columns: Sequence[ColumnSpec]
    rows: Sequence[Sequence[bytes | None]]
    paging_state: bytes | None = None
    no_metadata: bool = False

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        buf += rows_body(self.columns, self.rows, self.paging_state, self.no_metadata)


VOID_BODY: Final = _KIND_VOID
"""The whole body of RESULT Void."""

# Pre-packed [int] lengths for small cells: a tuple index is ~40% cheaper than INT.pack per cell.
_SMALL_LENGTHS: Final = tuple(INT.pack(n) for n in range(1024))

# Rows metadata by column sequence *object*: id(columns) -> (columns, a snapshot of them, spec
# flag, specs, body prefix with metadata, body prefix without). The entry holds `columns`, so
# the id cannot be reused while it is cached. A tuple is immutable and needs only the identity
# check; a list is compared with its snapshot (element identity first, so ~100 ns for 6
# columns) in case it was changed. This saves hashing every ColumnSpec per response, which the
# value-keyed `_column_specs` cache needs (~0.5 µs per column).
_RowsMetadata = tuple[Sequence[ColumnSpec], Sequence[ColumnSpec], int, bytes, bytes, bytes]
_ROWS_METADATA: dict[int, _RowsMetadata] = {}
_ROWS_METADATA_MAX: Final = 1024


def _rows_metadata(columns: Sequence[ColumnSpec]) -> _RowsMetadata:
    """The cache entry of `columns`, made (and cached where allowed) on a miss."""
    spec_flag, specs = _specs_of(columns)
    count = INT.pack(len(columns))
    entry = (columns, tuple(columns) if type(columns) is tuple else list(columns), spec_flag, specs,
             b"".join((_KIND_ROWS, INT.pack(spec_flag), count, specs)),
             _KIND_ROWS + INT.pack(_NO_METADATA) + count)
    if type(columns) in (tuple, list):
        try:
            hash(tuple(columns))
        except TypeError:
            return entry  # a type option holding a list: mutable, so never cached
        if len(_ROWS_METADATA) >= _ROWS_METADATA_MAX:
            _ROWS_METADATA.clear()
        _ROWS_METADATA[id(columns)] = entry
    return entry


def rows_body(
    columns: Sequence[ColumnSpec],
    rows: Sequence[Sequence[bytes | None]],
    paging_state: bytes | None,
    no_metadata: bool,
) -> bytes:
    """The whole body of RESULT Rows, as one bytes object (one join). Hot path.

        <kind=2><flags><columns_count>[<paging_state>][<global_table_spec>?<col_spec_i>...]
        <rows_count><row_1>...<row_m>, each row `len(columns)` [bytes] cells

    Raises ValueError for a row of the wrong width. Measured on the 1000x10 int rows of
    docs/protocol.md: ~150 ns/cell with the pre-packed lengths, ~245 ns/cell with INT.pack.
    """
    entry = _ROWS_METADATA.get(id(columns))
    if entry is None or entry[0] is not columns or (type(columns) is not tuple and entry[1] != columns):
        entry = _rows_metadata(columns)
    _, _, spec_flag, specs, with_metadata, without_metadata = entry
    column_count = len(columns)
    if paging_state is None:
        parts = [without_metadata if no_metadata else with_metadata, INT.pack(len(rows))]
    else:
        flags = _HAS_MORE_PAGES | (_NO_METADATA if no_metadata else spec_flag)
        parts = [_KIND_ROWS, INT.pack(flags), INT.pack(column_count), INT.pack(len(paging_state)),
                 paging_state, b"" if no_metadata else specs, INT.pack(len(rows))]
    pack = INT.pack
    small = _SMALL_LENGTHS
    limit = len(small)
    null = NULL_VALUE
    append = parts.append
    for row in rows:
        if len(row) != column_count:
            raise ValueError(f"Row has {len(row)} cells, metadata has {column_count} columns")
        for cell in row:
            if cell is None:
                append(null)
            else:
                n = len(cell)
                append(small[n] if n < limit else pack(n))
                append(cell)
    return b"".join(parts)


@_response()
class ResultSetKeyspace(Response):
    """RESULT kind Set_keyspace (4.2.5.3), the answer to USE."""

    opcode: ClassVar[Opcode] = Opcode.RESULT
    keyspace: str

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        buf += _KIND_SET_KEYSPACE
        write_string(buf, self.keyspace)


@_response()
class ResultPrepared(Response):
    """RESULT kind Prepared (4.2.5.4).

    `pk_indexes` are bind-marker positions of the partition key columns (v4+; omitted on v3).
    `result_columns` None means the statement returns no rows (NO_METADATA result metadata).
    `lwt` sets ScyllaDB's LWT bit (SCYLLA_LWT_ADD_METADATA_MARK) in the prepared metadata flags,
    only when the client negotiated that extension.
    """

    opcode: ClassVar[Opcode] = Opcode.RESULT
    statement_id: bytes
    bind_columns: Sequence[ColumnSpec]
    pk_indexes: Sequence[int] = ()
    result_columns: Sequence[ColumnSpec] | None = None
    lwt: bool = False

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        buf += _KIND_PREPARED
        write_short_bytes(buf, self.statement_id)
        spec_flag, specs = _specs_of(self.bind_columns)
        flags = spec_flag
        if self.lwt:
            flags |= ctx.lwt_flag_mask
        buf += UINT.pack(flags)  # bit 31 may be set: the flags are a bit set, not a number
        buf += INT.pack(len(self.bind_columns))
        if ctx.version >= 4:
            buf += INT.pack(len(self.pk_indexes))
            for index in self.pk_indexes:
                buf += SHORT.pack(index)
        buf += specs
        if self.result_columns is None:
            buf += INT.pack(_NO_METADATA)
            buf += INT.pack(0)
        else:
            _write_rows_metadata(buf, self.result_columns, None, False)


SCHEMA_CHANGE_TYPES: Final = frozenset({"CREATED", "UPDATED", "DROPPED"})
SCHEMA_TARGETS: Final = frozenset({"KEYSPACE", "TABLE", "TYPE", "FUNCTION", "AGGREGATE"})


def _write_schema_change(
    buf: bytearray, change_type: str, target: str, keyspace: str, name: str | None,
    arg_types: Sequence[str],
) -> None:
    """<change_type><target><options> as in section 4.2.6 (SCHEMA_CHANGE)."""
    if change_type not in SCHEMA_CHANGE_TYPES:
        raise ValueError(f"Unknown schema change type {change_type!r}")
    if target not in SCHEMA_TARGETS:
        raise ValueError(f"Unknown schema change target {target!r}")
    write_string(buf, change_type)
    write_string(buf, target)
    write_string(buf, keyspace)
    if target == "KEYSPACE":
        return
    if name is None:
        raise ValueError(f"A {target} schema change needs a name")
    write_string(buf, name)
    if target in ("FUNCTION", "AGGREGATE"):
        write_string_list(buf, arg_types)


@_response()
class ResultSchemaChange(Response):
    """RESULT kind Schema_change (4.2.5.5). `name` is None for a KEYSPACE target;
    `arg_types` (CQL type strings) only for FUNCTION and AGGREGATE."""

    opcode: ClassVar[Opcode] = Opcode.RESULT
    change_type: str
    target: str
    keyspace: str
    name: str | None = None
    arg_types: Sequence[str] = ()

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        buf += _KIND_SCHEMA_CHANGE
        _write_schema_change(
            buf, self.change_type, self.target, self.keyspace, self.name, self.arg_types
        )


# --- EVENT (4.2.6) -------------------------------------------------------------------------------

Address = str | ipaddress.IPv4Address | ipaddress.IPv6Address


@_response()
class Event(Response):
    """Base of server-pushed EVENT messages; always sent on stream -1."""

    opcode: ClassVar[Opcode] = Opcode.EVENT


@_response()
class TopologyChangeEvent(Event):
    """TOPOLOGY_CHANGE: `change` is NEW_NODE or REMOVED_NODE; address/port of the node's CQL."""

    change: str
    address: Address
    port: int = 9042

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        if self.change not in ("NEW_NODE", "REMOVED_NODE", "MOVED_NODE"):
            raise ValueError(f"Unknown topology change {self.change!r}")
        write_string(buf, "TOPOLOGY_CHANGE")
        write_string(buf, self.change)
        write_inet(buf, self.address, self.port)


@_response()
class StatusChangeEvent(Event):
    """STATUS_CHANGE: `change` is UP or DOWN."""

    change: str
    address: Address
    port: int = 9042

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        if self.change not in ("UP", "DOWN"):
            raise ValueError(f"Unknown status change {self.change!r}")
        write_string(buf, "STATUS_CHANGE")
        write_string(buf, self.change)
        write_inet(buf, self.address, self.port)


@_response()
class SchemaChangeEvent(Event):
    """SCHEMA_CHANGE: same fields as `ResultSchemaChange`."""

    change_type: str
    target: str
    keyspace: str
    name: str | None = None
    arg_types: Sequence[str] = ()

    def encode_body(self, buf: bytearray, ctx: EncodeContext) -> None:
        write_string(buf, "SCHEMA_CHANGE")
        _write_schema_change(
            buf, self.change_type, self.target, self.keyspace, self.name, self.arg_types
        )
