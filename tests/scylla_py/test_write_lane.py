"""The plain-write lane (`ModificationPlan.encode_plain` -> `StorageProxy.mutate_encoded`)
pinned against the Mutation path it replaces, in process on a one-shard node.

For every statement shape a plain write can take, `encode_plain` must give exactly what the
Mutation path stores (`build_plain`'s mutation, encoded by `encode_mutation_summarized`) or,
for shapes that address more than one row, `build_plain`'s mutations themselves; errors are the
same, raised in the same order. `QueryProcessor` must send one-row writes down the lane and
everything else down the Mutation path. (tests/scylla_py/test_fast_paths.py checks the stored
results against the general path end to end, on both shards of a node, which covers the lane's
cross-shard hop; tests/storage/test_write_lane.py pins the storage side.)
"""

from __future__ import annotations

import asyncio
import struct
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import pytest

from cql.errors import InvalidRequest
from cql.protocol.requests import Consistency, QueryParameters
from cql.protocol.responses import Response, ResultVoid
from scylla_py.config import load_config
from scylla_py.daemon import Node
from scylla_py.query_processor import QueryProcessor, Session
from scylla_py.statements.modification import ModificationPlan
from scylla_py.statements.values import UNSET
from storage.codec import encode_mutation_summarized

TS = 1_700_000_000_123_456
NOW_S = 1_700_000_000


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


TABLES = [
    "CREATE TABLE ks.s (k int PRIMARY KEY, v int, w text)",
    "CREATE TABLE ks.c (k int, c int, d text, v int, w text, st int STATIC, PRIMARY KEY (k, c, d))",
    "CREATE TABLE ks.pk (a int, b text, v int, PRIMARY KEY ((a, b)))",
    "CREATE TABLE ks.ttl (k int PRIMARY KEY, v int) WITH default_time_to_live = 100",
    "CREATE TABLE ks.b (k blob PRIMARY KEY, v blob, n varint)",
]

# (statement, bind values): shapes the lane takes (one row of one partition)
LANE: list[tuple[str, list[Any]]] = [
    ("INSERT INTO ks.s (k, v, w) VALUES (?, ?, ?)", [i32(1), i32(2), b"x"]),
    ("INSERT INTO ks.s (k, v, w) VALUES (?, ?, ?)", [i32(1), None, b"x"]),
    ("INSERT INTO ks.s (k, v, w) VALUES (?, ?, ?)", [i32(1), UNSET, None]),
    ("INSERT INTO ks.s (k, v, w) VALUES (?, ?, ?)", [i32(1), UNSET, UNSET]),
    ("INSERT INTO ks.s (w, k, v) VALUES (?, ?, ?)", [b"y", i32(-5), i32(3)]),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [i32(1), i32(2), i32(50)]),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [i32(1), None, i32(50)]),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [i32(1), i32(2), UNSET]),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [i32(1), i32(2), i32(0)]),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TIMESTAMP ?", [i32(1), i32(2), i64(42)]),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TIMESTAMP ? AND TTL ?", [i32(1), i32(2), i64(-7), i32(9)]),
    ("INSERT INTO ks.s (k, v, w) VALUES (1, 2, 'lit')", []),
    ("INSERT INTO ks.s (k, v, w) VALUES (1, null, ?)", [b"z"]),
    ("UPDATE ks.s SET v = ?, w = ? WHERE k = ?", [i32(2), b"x", i32(1)]),
    ("UPDATE ks.s SET v = ?, w = ? WHERE k = ?", [None, None, i32(1)]),
    ("UPDATE ks.s SET v = ?, w = ? WHERE k = ?", [UNSET, UNSET, i32(1)]),  # writes an empty partition
    ("UPDATE ks.s USING TTL 70 SET v = ? WHERE k = ?", [i32(2), i32(1)]),
    ("UPDATE ks.s USING TIMESTAMP 5 SET v = ? WHERE k = ?", [i32(2), i32(1)]),
    ("UPDATE ks.s SET v = ? WHERE k IN (?, ?)", [i32(2), i32(1), i32(1)]),  # one key after all
    ("INSERT INTO ks.b (k, v) VALUES (?, ?)", [b"\x00", b""]),
    ("INSERT INTO ks.b (k, v) VALUES (?, ?)", [b"k" * 65535, None]),
    ("INSERT INTO ks.c (k, c, d, v, w) VALUES (?, ?, ?, ?, ?)", [i32(1), i32(2), b"d", i32(3), b"w"]),
    ("INSERT INTO ks.c (k, c, d, v) VALUES (?, ?, ?, ?)", [i32(1), i32(2), b"", UNSET]),  # the marker alone
    ("UPDATE ks.c SET v = ? WHERE k = ? AND c = ? AND d = ?", [i32(3), i32(1), i32(-2), b"d"]),
    ("UPDATE ks.c SET v = ? WHERE k = ? AND (c, d) = (?, ?)", [i32(3), i32(1), i32(2), b"d"]),
    ("UPDATE ks.c SET v = ? WHERE k = ? AND c IN (?, ?) AND d = ?", [i32(3), i32(1), i32(2), i32(2), b"d"]),
    ("INSERT INTO ks.pk (a, b, v) VALUES (?, ?, ?)", [i32(1), b"b", i32(3)]),
    ("UPDATE ks.pk SET v = ? WHERE a = ? AND b = ?", [i32(3), i32(1), b""]),
    ("INSERT INTO ks.ttl (k, v) VALUES (?, ?)", [i32(1), i32(2)]),  # the table's default TTL
    ("INSERT INTO ks.ttl (k, v) VALUES (?, ?) USING TTL 0", [i32(1), i32(2)]),
    ("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?)", [b"\x00" * 65535, b"v" * 70000, b"\x80"]),
    # every value a bare `?` of a type taking any bytes: fetched in one call (`_plain_values`)
    ("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?)", [b"k", None, b""]),
    ("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?)", [b"k", UNSET, b"\x01"]),
    ("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?)", [b"k", UNSET, UNSET]),
    ("INSERT INTO ks.b (n, k, v) VALUES (?, ?, ?)", [b"\x01", b"k", None]),
    ("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?) USING TTL ?", [b"k", b"v", b"\x02", i32(30)]),
    ("UPDATE ks.b SET n = ?, v = ? WHERE k = ?", [b"\x03", b"v", b"k"]),
    ("UPDATE ks.b SET n = ?, v = ? WHERE k = ?", [None, UNSET, b"k"]),
    ("INSERT INTO ks.b (k, v, n) VALUES (?, 0x01, ?)", [b"k", b"\x04"]),  # a literal: the getters
]

# shapes that address several rows (of one or more partitions): the Mutation path, a mutation
# per partition
FALLBACK: list[tuple[str, list[Any]]] = [
    ("UPDATE ks.s SET v = ? WHERE k IN (?, ?)", [i32(2), i32(1), i32(3)]),
    ("UPDATE ks.c SET v = ? WHERE k = ? AND c IN (?, ?) AND d = ?", [i32(3), i32(1), i32(2), i32(4), b"d"]),
    ("UPDATE ks.c SET v = ? WHERE k IN (?, ?) AND c = ? AND d = ?", [i32(3), i32(1), i32(5), i32(4), b"d"]),
    ("UPDATE ks.c SET v = ? WHERE k = ? AND (c, d) IN ((?, ?), (?, ?))",
     [i32(3), i32(1), i32(2), b"d", i32(2), b"e"]),
]

# (statement, bind values, the error message both paths raise)
ERRORS: list[tuple[str, list[Any], str]] = [
    ("INSERT INTO ks.s (k, v) VALUES (?, ?)", [b"", i32(1)], "Key may not be empty"),
    ("INSERT INTO ks.b (k, v) VALUES (?, ?)", [b"k" * 65536, b""], "Key length of 65536 is longer than maximum"),
    ("INSERT INTO ks.b (k, v) VALUES (?, ?)", [b"", b""], "Key may not be empty"),
    ("INSERT INTO ks.b (k, v) VALUES (?, ?) USING TTL ?", [b"k" * 65536, b"", i32(-1)], "Key length of 65536"),
    ("INSERT INTO ks.b (k, v) VALUES (?, ?) USING TTL ?", [b"k", b"", i32(-1)], "A TTL must be greater"),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?)", [UNSET, i32(1)], "Invalid unset value for column k"),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?)", [None, i32(1)], "Invalid null value"),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [i32(1), i32(1), i32(-1)], "A TTL must be greater"),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [i32(1), i32(1), i32(630720001)], "ttl is too large"),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [b"", i32(1), i32(-1)], "Key may not be empty"),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?)", [i32(1), b"\x00\x01"], "Exception while binding column v"),
    ("INSERT INTO ks.s (k, v) VALUES (?, ?) USING TTL ?", [i32(1), b"\x00", i32(-1)], "A TTL must be greater"),
    ("INSERT INTO ks.c (k, c, v) VALUES (?, ?, ?)", [i32(1), i32(2), i32(3)], "Some clustering keys are missing"),
    ("UPDATE ks.c SET v = ? WHERE k = ? AND c = ?", [i32(3), i32(1), i32(2)], "Missing mandatory PRIMARY KEY"),
    ("UPDATE ks.c SET v = ? WHERE k = ? AND c = ? AND d = ?", [i32(3), i32(1), UNSET, b"d"],
     "Invalid unset value for column c"),
    ("UPDATE ks.c SET v = ? WHERE k = ? AND c = ? AND d = ?", [b"\x00", i32(1), UNSET, b"d"],
     "Invalid unset value for column c"),
    # fewer values than markers (only callers that skip the count check): the getters' error
    ("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?)", [b"k", b"v"],
     "There were 2 markers(?) in CQL but 3 or more values expected"),
]


def _with_node(body: Callable[[Node, QueryProcessor, Session], Awaitable[None]]) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as d:
            node = Node(load_config(None, {"workdir": d, "api_port": 0, "prometheus_port": 0}), 0, 1)
            await node.start()
            try:
                qp = node.processor
                session = Session()
                plain = QueryParameters(Consistency.ONE)
                await qp.query(session, "CREATE KEYSPACE ks WITH replication = "
                               "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}", plain)
                for ddl in TABLES:
                    await qp.query(session, ddl, plain)
                await body(node, qp, session)
            finally:
                await node.stop()

    asyncio.run(main())


def _plan(qp: QueryProcessor, session: Session, query: str) -> ModificationPlan:
    plan = qp._cached(query, session.keyspace).plan
    assert isinstance(plan, ModificationPlan)
    return plan


def _outcome(f: Callable[[], Any]) -> Any:
    try:
        return f()
    except InvalidRequest as e:
        return ("raised", str(e))


@pytest.mark.parametrize(("query", "values"), LANE)
def test_lane_shapes_encode_what_the_mutation_path_stores(query: str, values: Sequence[Any]) -> None:
    async def body(node: Node, qp: QueryProcessor, session: Session) -> None:
        plan = _plan(qp, session, query)
        assert plan.is_plain_write
        got = plan.encode_plain(values, TS, NOW_S)
        (m,) = plan.build_plain(values, TS, NOW_S)
        assert isinstance(got, tuple)
        assert got == (m.token, m.key, *encode_mutation_summarized(m))
    _with_node(body)


@pytest.mark.parametrize(("query", "values"), FALLBACK)
def test_shapes_of_several_rows_fall_back_to_the_mutations(query: str, values: Sequence[Any]) -> None:
    async def body(node: Node, qp: QueryProcessor, session: Session) -> None:
        plan = _plan(qp, session, query)
        assert plan.is_plain_write
        got = plan.encode_plain(values, TS, NOW_S)
        assert isinstance(got, list) and sum(len(m.rows) for m in got) == 2
        assert got == plan.build_plain(values, TS, NOW_S)
    _with_node(body)


@pytest.mark.parametrize(("query", "values", "message"), ERRORS)
def test_errors_are_the_mutation_paths(query: str, values: Sequence[Any], message: str) -> None:
    async def body(node: Node, qp: QueryProcessor, session: Session) -> None:
        plan = _plan(qp, session, query)
        lane = _outcome(lambda: plan.encode_plain(values, TS, NOW_S))
        assert lane == _outcome(lambda: plan.build_plain(values, TS, NOW_S))
        assert lane[0] == "raised" and message in lane[1]
    _with_node(body)


def test_the_simple_key_shortcut_is_taken_only_for_one_key_column_and_no_clustering() -> None:
    """`_simple_key_getter` (the lane reads the key straight from its getter): the LANE and
    ERRORS cases above pin its results against the Mutation path; this pins where it is used."""
    async def body(node: Node, qp: QueryProcessor, session: Session) -> None:
        def shortcut(query: str) -> bool:
            return _plan(qp, session, query)._simple_key_getter is not None

        assert shortcut("INSERT INTO ks.s (k, v) VALUES (?, ?)")
        assert shortcut("UPDATE ks.s SET v = ? WHERE k = ?")
        assert shortcut("INSERT INTO ks.b (k, v) VALUES (?, ?)")
        assert shortcut("INSERT INTO ks.s (k, v) VALUES (1, ?)")
        assert not shortcut("UPDATE ks.s SET v = ? WHERE k IN (?, ?)")
        assert not shortcut("UPDATE ks.s SET v = ? WHERE k IN ?")
        assert not shortcut("INSERT INTO ks.c (k, c, d, v) VALUES (?, ?, ?, ?)")
        assert not shortcut("INSERT INTO ks.pk (a, b, v) VALUES (?, ?, ?)")
    _with_node(body)


def test_values_are_fetched_in_one_call_only_when_every_one_is_a_bare_marker_taking_any_bytes() -> None:
    """`_plain_values` (one itemgetter instead of a getter per column): the LANE and ERRORS cases
    above pin its results against the Mutation path; this pins where it is used."""
    async def body(node: Node, qp: QueryProcessor, session: Session) -> None:
        def one_call(query: str) -> bool:
            return _plan(qp, session, query)._plain_values is not None

        assert one_call("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?)")
        assert one_call("INSERT INTO ks.b (n, k, v) VALUES (?, ?, ?)")
        assert one_call("UPDATE ks.b SET n = ?, v = ? WHERE k = ?")
        assert one_call("INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?) USING TTL ?")
        assert not one_call("INSERT INTO ks.b (k, v) VALUES (?, ?)")  # one value: the getter
        assert not one_call("INSERT INTO ks.b (k, v, n) VALUES (?, 0x01, ?)")
        assert not one_call("INSERT INTO ks.b (k, v, n) VALUES (?, (blob)?, ?)")
        assert not one_call("INSERT INTO ks.s (k, v, w) VALUES (?, ?, ?)")  # int and text validate
        assert not one_call("INSERT INTO ks.c (k, c, d, w, v) VALUES (?, ?, ?, ?, ?)")
    _with_node(body)


def test_the_processor_routes_one_row_writes_down_the_lane_and_the_rest_not() -> None:
    async def body(node: Node, qp: QueryProcessor, session: Session) -> None:
        proxy = node.proxy
        calls: list[str] = []

        def spy(name: str) -> Callable[..., Any]:
            original = getattr(proxy, name)

            def call(*args: Any) -> Any:
                calls.append(name)
                return original(*args)
            return call

        for name in ("mutate", "mutate_encoded"):
            setattr(proxy, name, spy(name))

        async def run(query: str, values: Sequence[Any]) -> list[str]:
            calls.clear()
            prepared = qp.prepare(session, query)
            await qp.execute(session, prepared.statement_id, QueryParameters(Consistency.ONE, tuple(values)))
            return list(calls)

        for query, values in LANE:
            assert await run(query, values) == ["mutate_encoded"], query
        for query, values in FALLBACK:
            partitions = len(_plan(qp, session, query).build_plain(values, TS, NOW_S))
            assert await run(query, values) == ["mutate"] * partitions, query
        # not plain writes at all: the general path
        assert await run("INSERT INTO ks.c (k, c, d) VALUES (?, ?, ?)", [i32(1), i32(2), b""]) == ["mutate"]
        assert await run("INSERT INTO ks.c (k, c, d, st) VALUES (?, ?, ?, ?)",
                         [i32(1), i32(2), b"d", i32(9)]) == ["mutate"]
        assert await run("UPDATE ks.c SET st = ? WHERE k = ?", [i32(9), i32(1)]) == ["mutate"]
        assert await run("DELETE FROM ks.s WHERE k = ?", [i32(1)]) == ["mutate"]
        # what the lane stored reads back
        await run("INSERT INTO ks.s (k, v, w) VALUES (?, ?, ?)", [i32(77), i32(5), b"five"])
        sel = qp.prepare(session, "SELECT v, w FROM ks.s WHERE k = ?")
        resp = await qp.execute(session, sel.statement_id, QueryParameters(Consistency.ONE, (i32(77),)))
        assert list(resp.rows) == [[i32(5), b"five"]]  # type: ignore[attr-defined]
    _with_node(body)


# --- finished in the call (`QueryProcessor.execute_now` / `query_now`) -----------------------------


def _write_metrics(node: Node) -> tuple[Any, ...]:
    m = node.metrics
    return (sum(m.write_latency.buckets), m.write_unavailable, m.cross_shard_ops, sum(m.read_latency.buckets))


def test_writes_storage_takes_at_once_finish_in_the_call_with_the_awaited_paths_results_and_metrics() -> None:
    """In periodic commitlog mode a one-row plain write to this shard's tablet is answered by
    `execute_now` itself (a Response, no awaitable); every other statement hands back the
    awaitable `execute` would. Either way: the same response, the same stored data, the same
    metrics as `execute`, and the same errors (raised at the call)."""
    async def body(node: Node, qp: QueryProcessor, session: Session) -> None:
        async def run(now: bool, query: str, values: Sequence[Any], literal: bool = False) -> Any:
            params = QueryParameters(Consistency.ONE, tuple(values))
            before = _write_metrics(node)
            try:
                if literal:
                    got: Any = qp.query_now(session, query, params) if now else qp.query(session, query, params)
                else:
                    qid = qp.prepare(session, query).statement_id
                    got = qp.execute_now(session, qid, params) if now else qp.execute(session, qid, params)
                finished = isinstance(got, Response)
                resp = got if finished else await got
            except InvalidRequest as e:
                finished, resp = True, ("raised", str(e))
            after = _write_metrics(node)
            return finished, resp, tuple(b - a for a, b in zip(before, after, strict=True))

        async def dump(table: str) -> Any:
            resp = await qp.query(session, f"SELECT * FROM ks.{table}", QueryParameters(Consistency.ONE))
            return sorted(resp.rows)  # type: ignore[attr-defined]

        one_write = (1, 0, 0, 0)
        for query, values in LANE:
            for literal in (False, True):
                if literal and values:
                    continue
                finished, resp, delta = await run(True, query, values, literal)
                assert finished and resp == ResultVoid() and delta == one_write, query
                assert await run(False, query, values, literal) == (False, resp, delta), query
        for query, values in FALLBACK:  # several rows: the awaited path behind both
            assert await run(True, query, values) == await run(False, query, values)
            assert not (await run(True, query, values))[0]
        for query, values, _ in ERRORS:
            if len(values) < query.count("?"):
                continue  # the processor refuses a short bind list before any write (below)
            finished, resp, delta = await run(True, query, values)
            assert finished and resp[0] == "raised" and delta == one_write, query
            assert await run(False, query, values) == (True, resp, delta), query
        short = await run(True, "INSERT INTO ks.b (k, v, n) VALUES (?, ?, ?)", [b"k", b"v"])
        assert short == (True, ("raised", "There were 3 markers(?) in CQL but 2 bound variables"), (0, 0, 0, 0))
        # what each stored is the same
        tables = {t: await dump(t) for t in ("s", "c", "pk", "ttl", "b")}
        for t in tables:
            await qp.query(session, f"TRUNCATE ks.{t}", QueryParameters(Consistency.ONE))
        for query, values in LANE + FALLBACK:
            await run(False, query, values)
        assert {t: await dump(t) for t in tables} == tables
        # reads and writes that must wait are never finished in the call (a point read of this
        # shard's partition is: test_point_read_lane_choice.py)
        sel = qp.prepare(session, "SELECT v FROM ks.s WHERE token(k) > ?").statement_id
        got = qp.execute_now(session, sel, QueryParameters(Consistency.ONE, (i64(0),)))
        assert not isinstance(got, Response)
        await cast(Awaitable[Response], got)
        lwt = qp.prepare(session, "INSERT INTO ks.s (k, v) VALUES (?, ?) IF NOT EXISTS").statement_id
        got = qp.execute_now(session, lwt, QueryParameters(Consistency.ONE, (i32(9), i32(9))))
        assert not isinstance(got, Response)
        await cast(Awaitable[Response], got)
        assert isinstance(qp.execute_now(session, qp.prepare(session, LANE[0][0]).statement_id,
                                         QueryParameters(Consistency.ONE, tuple(LANE[0][1]))), Response)
        node.engine._sync_batch = True  # as in batch mode: a write waits for its fsync
        got = qp.execute_now(session, qp.prepare(session, LANE[0][0]).statement_id,
                             QueryParameters(Consistency.ONE, tuple(LANE[0][1])))
        assert not isinstance(got, Response)
        assert await cast(Awaitable[Response], got) == ResultVoid()
    _with_node(body)


# --- end to end: overwrites of partitions the memtable keeps encoded ----------------------------


def test_overwrites_read_back_through_the_stock_driver(session: Any) -> None:
    """Rows written several times over (the memtable merges plain versions in codec form,
    storage/memtable.py): newer writes win, USING TIMESTAMP going backwards loses, a tie takes
    the larger value, a null deletes the cell, an UNSET (a column not written) keeps it."""
    from tests.conftest import unique_keyspace

    ks = unique_keyspace("overwrite")
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v int, w text)")
    ins = session.prepare(f"INSERT INTO {ks}.t (k, v, w) VALUES (?, ?, ?)")
    at = session.prepare(f"INSERT INTO {ks}.t (k, v, w) VALUES (?, ?, ?) USING TIMESTAMP ?")
    only_v = session.prepare(f"UPDATE {ks}.t SET v = ? WHERE k = ?")
    keys = range(20)
    for i in range(4):  # upserts, each newer than the last
        for k in keys:
            session.execute(ins, (k, i, f"w{i}"))
    for k in keys:
        if k % 4 == 1:
            session.execute(only_v, (100 + k, k))  # w stays
        elif k % 4 == 2:
            session.execute(ins, (k, None, "null v"))  # deletes v
    for k in keys:
        session.execute(at, (k, 7, "old", 1000 + k))  # long ago: loses everywhere
    for k in (30, 31):
        session.execute(at, (k, 1, "b", 50))
        session.execute(at, (k, 2, "a", 50))  # a tie: the larger value per cell
        session.execute(at, (k, 0, "z", 40))  # backwards
    expected = {}
    for k in keys:
        expected[k] = {1: (100 + k, "w3"), 2: (None, "null v")}.get(k % 4, (3, "w3"))
    expected.update({30: (2, "b"), 31: (2, "b")})
    sel = session.prepare(f"SELECT v, w FROM {ks}.t WHERE k = ?")
    for k, want in expected.items():
        row = session.execute(sel, (k,)).one()
        assert (row.v, row.w) == want, k
    assert sorted((r.k, (r.v, r.w)) for r in session.execute(f"SELECT * FROM {ks}.t")) == sorted(expected.items())
