"""Every response we encode is decoded by cassandra-driver's own decoder to the same fields
(v4 spec section 4.2; error bodies section 9)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cassandra import cqltypes as ct
from cassandra import protocol as dp
from hypothesis import given, settings
from hypothesis import strategies as st

from cql import errors
from cql import protocol_types as pt
from cql.protocol import (
    AuthChallenge,
    Authenticate,
    AuthSuccess,
    ErrorResponse,
    Response,
    ResultPrepared,
    ResultRows,
    ResultSchemaChange,
    ResultSetKeyspace,
    ResultVoid,
    SchemaChangeEvent,
    ServerConnection,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
)
from cql.protocol_types import ColumnSpec, TypeOption
from tests.cql.protocol.oracle import decode_response, request_frame
from tests.cql.protocol.test_requests import ready_connection

SETTINGS = settings(max_examples=60, deadline=None)

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
_PRIMITIVES = [pt.ASCII, pt.BIGINT, pt.BLOB, pt.BOOLEAN, pt.COUNTER, pt.DECIMAL, pt.DOUBLE,
               pt.FLOAT, pt.INT, pt.TIMESTAMP, pt.UUID, pt.VARCHAR, pt.VARINT, pt.TIMEUUID,
               pt.INET, pt.DATE, pt.TIME, pt.SMALLINT, pt.TINYINT, pt.DURATION]


def _compound(children: st.SearchStrategy[TypeOption]) -> st.SearchStrategy[TypeOption]:
    return st.one_of(
        st.tuples(st.sampled_from([pt.LIST, pt.SET]), children),
        st.tuples(st.just(pt.MAP), children, children),
        st.tuples(st.just(pt.TUPLE), st.lists(children, min_size=1, max_size=3).map(tuple)),
        st.tuples(st.just(pt.UDT), names, names,
                  st.lists(st.tuples(names, children), min_size=1, max_size=3).map(tuple)),
    )


type_options: st.SearchStrategy[TypeOption] = st.recursive(
    st.sampled_from(_PRIMITIVES).map(lambda t: (t,))
    | st.just((pt.CUSTOM, "com.example.cql.CustomType")),
    _compound,
    max_leaves=6,
)

_CLASS_TO_ID = {cls: code for code, cls in dp.ResultMessage.type_codes.items() if code}


def driver_type_to_option(t: Any) -> TypeOption:
    """Map a driver type class back to our TypeOption shape (contracts.md section 2)."""
    if issubclass(t, ct.UserType):
        return (pt.UDT, t.keyspace, t.typename,
                tuple(zip(t.fieldnames, map(driver_type_to_option, t.subtypes))))
    if issubclass(t, ct.TupleType):
        return (pt.TUPLE, tuple(map(driver_type_to_option, t.subtypes)))
    if issubclass(t, ct.MapType):
        return (pt.MAP, *map(driver_type_to_option, t.subtypes))
    if issubclass(t, ct.ListType | ct.SetType):
        return (pt.LIST if issubclass(t, ct.ListType) else pt.SET, driver_type_to_option(t.subtypes[0]))
    for cls in t.__mro__:
        if cls in _CLASS_TO_ID:
            return (_CLASS_TO_ID[cls],)
    return (pt.CUSTOM, t.cassname)


def roundtrip(response: Response, stream: int = 1, version: int = 4, result_metadata: Any = None,
              conn: ServerConnection | None = None) -> Any:
    conn = conn or ready_connection(version)
    msg = decode_response(conn.send(response, stream), result_metadata)
    assert msg.stream_id == (-1 if stream == -1 else stream)
    return msg


columns_st = st.lists(
    st.builds(ColumnSpec, st.sampled_from(["ks", "other"]), st.sampled_from(["t", "u"]),
              names, type_options),
    max_size=6,
)


@SETTINGS
@given(columns_st.filter(bool))  # the driver's row parser cannot take a zero-column result
def test_rows_metadata_types(columns: list[ColumnSpec]) -> None:
    msg = roundtrip(ResultRows(tuple(columns), []))
    assert msg.kind == dp.RESULT_KIND_ROWS
    assert msg.parsed_rows == []
    got = [(ks, tb, name, driver_type_to_option(t)) for ks, tb, name, t in msg.column_metadata]
    assert got == [(c.keyspace, c.table, c.name, c.type) for c in columns]


cells = st.none() | st.binary(max_size=50)


@SETTINGS
@given(st.integers(1, 5).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.lists(cells, min_size=n, max_size=n), max_size=20))),
    st.none() | st.binary(max_size=30), st.sampled_from([3, 4]))
def test_rows_values(shape: tuple[int, list[list[bytes | None]]], paging_state: bytes | None,
                     version: int) -> None:
    n, rows = shape
    columns = [ColumnSpec("ks", "t", f"c{i}", (pt.BLOB,)) for i in range(n)]
    msg = roundtrip(ResultRows(columns, rows, paging_state=paging_state), version=version)
    assert [list(r) for r in msg.parsed_rows] == rows
    assert msg.paging_state == paging_state
    assert msg.column_names == [c.name for c in columns]


def test_rows_no_metadata_uses_prepared_metadata() -> None:
    columns = [ColumnSpec("ks", "t", "k", (pt.INT,))]
    prepared_meta = [("ks", "t", "k", ct.Int32Type)]
    msg = roundtrip(ResultRows(columns, [[b"\x00\x00\x00\x07"], [None]], no_metadata=True,
                               paging_state=b"next"), result_metadata=prepared_meta)
    assert msg.parsed_rows == [(7,), (None,)]
    assert msg.paging_state == b"next"


def test_rows_row_width_mismatch_is_a_server_bug() -> None:
    conn = ready_connection()
    with pytest.raises(ValueError, match="cells"):
        conn.send(ResultRows([ColumnSpec("ks", "t", "a", (pt.INT,))], [[b"x", b"y"]]), 1)


def test_void_and_set_keyspace() -> None:
    assert roundtrip(ResultVoid()).kind == dp.RESULT_KIND_VOID
    msg = roundtrip(ResultSetKeyspace("my_ks"))
    assert (msg.kind, msg.new_keyspace) == (dp.RESULT_KIND_SET_KEYSPACE, "my_ks")


@SETTINGS
@given(st.binary(min_size=1, max_size=16), columns_st, st.none() | columns_st,
       st.sampled_from([3, 4]))
def test_prepared(statement_id: bytes, binds: list[ColumnSpec], result: list[ColumnSpec] | None,
                  version: int) -> None:
    pk = list(range(len(binds)))[:2]
    msg = roundtrip(ResultPrepared(statement_id, binds, pk, result), version=version)
    assert msg.kind == dp.RESULT_KIND_PREPARED
    assert msg.query_id == statement_id
    assert [(m.keyspace_name, m.table_name, m.name, driver_type_to_option(m.type))
            for m in msg.bind_metadata] == [(c.keyspace, c.table, c.name, c.type) for c in binds]
    assert msg.pk_indexes == (pk if version >= 4 else None)
    if result is None:
        assert msg.column_metadata is None
    else:
        assert [(ks, tb, n, driver_type_to_option(t)) for ks, tb, n, t in msg.column_metadata] == [
            (c.keyspace, c.table, c.name, c.type) for c in result
        ]


@pytest.mark.parametrize(
    ("change", "target", "name", "args", "expected"),
    [
        ("CREATED", "KEYSPACE", None, (), {}),
        ("UPDATED", "TABLE", "t1", (), {"table": "t1"}),
        ("DROPPED", "TYPE", "ty", (), {"type": "ty"}),
    ],
)
def test_schema_change(change: str, target: str, name: str | None, args: tuple[str, ...],
                       expected: dict[str, str]) -> None:
    msg = roundtrip(ResultSchemaChange(change, target, "ks", name, args))
    assert msg.schema_change_event == {
        "change_type": change, "target_type": target, "keyspace": "ks", **expected
    }
    event = roundtrip(SchemaChangeEvent(change, target, "ks", name, args), stream=-1)
    assert event.event_type == "SCHEMA_CHANGE"
    assert event.event_args == msg.schema_change_event


@pytest.mark.parametrize("target", ["FUNCTION", "AGGREGATE"])
def test_schema_change_function(target: str) -> None:
    msg = roundtrip(ResultSchemaChange("CREATED", target, "ks", "f", ["int", "list<text>"]))
    desc = msg.schema_change_event[target.lower()]
    assert (desc.name, desc.argument_types) == ("f", ["int", "list<text>"])


def test_schema_change_rejects_unknown_target() -> None:
    with pytest.raises(ValueError):
        ready_connection().send(ResultSchemaChange("CREATED", "VIEW", "ks", "v"), 1)


@pytest.mark.parametrize(
    ("event", "etype", "args"),
    [
        (TopologyChangeEvent("NEW_NODE", "127.0.0.2"), "TOPOLOGY_CHANGE",
         {"change_type": "NEW_NODE", "address": ("127.0.0.2", 9042)}),
        (StatusChangeEvent("DOWN", "::1", 19042), "STATUS_CHANGE",
         {"change_type": "DOWN", "address": ("::1", 19042)}),
    ],
)
def test_topology_and_status_events(event: Any, etype: str, args: dict[str, Any]) -> None:
    # Events ignore the stream argument: they always travel on stream -1 (section 4.2.6).
    msg = decode_response(ready_connection().send(event, 5))
    assert msg.stream_id == -1
    assert (msg.event_type, msg.event_args) == (etype, args)


def test_supported_authenticate_auth_challenge_auth_success() -> None:
    conn = ServerConnection()
    msg = decode_response(conn.send(Supported({"CQL_VERSION": ["3.3.1"], "COMPRESSION": ["lz4"],
                                               "SCYLLA_NR_SHARDS": ["4"]}), 0))
    assert msg.cql_versions == ["3.3.1"]
    assert msg.options == {"COMPRESSION": ["lz4"], "SCYLLA_NR_SHARDS": ["4"]}
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {}), 1))
    conn.next_event()
    msg = decode_response(conn.send(Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"), 1))
    assert msg.authenticator == "org.apache.cassandra.auth.PasswordAuthenticator"
    assert decode_response(conn.send(AuthChallenge(b"salt"), 2)).challenge == b"salt"
    # the driver reads the AUTH_SUCCESS token as a [long string]
    assert decode_response(conn.send(AuthSuccess(b"tok"), 2)).token == "tok"
    assert decode_response(conn.send(ResultVoid(), 3)).kind == dp.RESULT_KIND_VOID


@SETTINGS
@given(st.lists(st.text(max_size=30), max_size=3),
       st.dictionaries(st.text(max_size=10), st.binary(max_size=20), max_size=3),
       st.none() | st.uuids())
def test_warnings_custom_payload_tracing(warnings: list[str], payload: dict[str, bytes],
                                         tracing_id: uuid.UUID | None) -> None:
    msg = roundtrip(ResultVoid(warnings=warnings, custom_payload=payload, tracing_id=tracing_id))
    assert msg.kind == dp.RESULT_KIND_VOID
    assert (msg.warnings or []) == warnings
    assert (msg.custom_payload or {}) == payload
    assert msg.trace_id == tracing_id


def test_v3_drops_warnings_and_payload() -> None:
    msg = roundtrip(ResultVoid(warnings=["w"], custom_payload={"k": b"v"}), version=3)
    assert msg.warnings is None and msg.custom_payload is None


# --- errors (section 9) --------------------------------------------------------------------------

ERRORS: list[tuple[errors.CQLError, Any]] = [
    (errors.ServerError("boom"), {}),
    (errors.ProtocolError("bad"), {}),
    (errors.BadCredentials("no"), {}),
    (errors.Unavailable("u", 4, 3, 1), {"consistency": 4, "required_replicas": 3, "alive_replicas": 1}),
    (errors.Overloaded("o"), {}),
    (errors.IsBootstrapping("b"), {}),
    (errors.TruncateError("t"), {}),
    (errors.WriteTimeout("wt", 1, 0, 1, "SIMPLE"),
     {"consistency": 1, "received_responses": 0, "required_responses": 1, "write_type": 0}),
    (errors.ReadTimeout("rt", 4, 1, 2, True),
     {"consistency": 4, "received_responses": 1, "required_responses": 2, "data_retrieved": True}),
    (errors.ReadFailure("rf", 4, 1, 2, 1, False),
     {"consistency": 4, "received_responses": 1, "required_responses": 2, "failures": 1,
      "error_code_map": None, "data_retrieved": False}),
    (errors.WriteFailure("wf", 6, 1, 2, 1, "BATCH"),
     {"consistency": 6, "received_responses": 1, "required_responses": 2, "failures": 1,
      "error_code_map": None, "write_type": 1}),
    (errors.FunctionFailure("ff", "ks", "fn", ["int", "text"]),
     {"keyspace": "ks", "function": "fn", "arg_types": ["int", "text"]}),
    (errors.SyntaxException("line 1:0 no viable alternative"), {}),
    (errors.Unauthorized("no"), {}),
    (errors.InvalidRequest("unconfigured table x"), {}),
    (errors.ConfigurationException("c"), {}),
    (errors.AlreadyExists("exists", "ks", "t"), {"keyspace": "ks", "table": "t"}),
    (errors.AlreadyExists("exists", "ks"), {"keyspace": "ks", "table": ""}),  # spec: empty table
    (errors.Unprepared("unprepared", b"\x01\x02"), b"\x01\x02"),
]


@pytest.mark.parametrize(("error", "info"), ERRORS, ids=lambda e: type(e).__name__)
def test_errors(error: errors.CQLError, info: Any) -> None:
    for response in (ErrorResponse.from_exception(error), error):
        msg = roundtrip(response, stream=11)  # type: ignore[arg-type]
        assert isinstance(msg, dp.ErrorMessage)
        assert msg.code == error.code
        assert msg.message == error.message
        if info:
            assert msg.info == info


def test_errors_downgraded_for_v3() -> None:
    msg = roundtrip(errors.ReadFailure("rf", 4, 1, 2, 1, True), version=3)  # type: ignore[arg-type]
    assert msg.code == errors.ErrorCode.READ_TIMEOUT
    assert msg.info["data_retrieved"] is True
    msg = roundtrip(errors.WriteFailure("wf", 4, 1, 2, 1, "CAS"), version=3)  # type: ignore[arg-type]
    assert msg.code == errors.ErrorCode.WRITE_TIMEOUT
    msg = roundtrip(errors.FunctionFailure("ff", "ks", "f", []), version=3)  # type: ignore[arg-type]
    assert msg.code == errors.ErrorCode.INVALID


def test_large_and_empty_cells() -> None:
    # Cells of 1 KiB and more take the INT.pack path instead of the pre-packed lengths.
    rows: list[list[bytes | None]] = [[b"x" * 1023], [b"y" * 1024], [b"z" * 70000], [b""], [None]]
    msg = roundtrip(ResultRows([ColumnSpec("ks", "t", "b", (pt.BLOB,))], rows))
    assert [list(r) for r in msg.parsed_rows] == rows


def test_table_schema_change_needs_a_name() -> None:
    with pytest.raises(ValueError, match="needs a name"):
        ready_connection().send(ResultSchemaChange("CREATED", "TABLE", "ks"), 1)


def test_events_on_v3() -> None:
    msg = roundtrip(SchemaChangeEvent("DROPPED", "KEYSPACE", "ks"), stream=-1, version=3)
    assert msg.event_args == {"change_type": "DROPPED", "target_type": "KEYSPACE", "keyspace": "ks"}
