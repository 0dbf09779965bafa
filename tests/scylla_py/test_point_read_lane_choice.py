"""Which reads take the point-read lane, in process (one shard, no sockets).

`test_point_read_lane.py` pins the lane's answers against the general path end to end; this file
pins the choice itself: which prepared SELECTs are planned for the lane (`SelectPlan.point`), and
which partition shapes the storage side of the lane reads itself (`StorageEngine.read_row` with no
call to `_materialize`: one version or several) rather than handing them to the general
materialization.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cql.errors import InvalidRequest
from cql.protocol.requests import Consistency, QueryParameters
from cql.protocol.responses import Response, ResultRows
from scylla_py.config import load_config
from scylla_py.daemon import Node
from scylla_py.query_processor import QueryProcessor, Session
from scylla_py.statements.select import SelectPlan, _encode_state
from storage.engine import StorageEngine

_PLAIN = QueryParameters(Consistency.ONE)

LANE = [
    "SELECT v FROM {ks}.t WHERE k = ? AND c = ?",
    "SELECT k, c, v, w, f FROM {ks}.t WHERE c = ? AND k = ?",
    "SELECT v AS x, c FROM {ks}.t WHERE k = 1 AND c = 2",
    "SELECT k FROM {ks}.t WHERE k = ? AND c = ? LIMIT ? ",
    "SELECT v FROM {ks}.t WHERE k = ? AND c = ? PER PARTITION LIMIT 3",
    "SELECT * FROM {ks}.p WHERE k = ?",
    "SELECT v FROM {ks}.p WHERE k = ?",
    "SELECT v FROM {ks}.t WHERE k IN (1) AND c IN (2)",  # one value: the same as `=`
    "SELECT k1, v, k2 FROM {ks}.q WHERE k2 = ? AND k1 = ?",
]
GENERAL = [
    "SELECT * FROM {ks}.t WHERE k = ? AND c = ?",              # static and collection columns
    "SELECT s FROM {ks}.t WHERE k = ? AND c = ?",              # a static column
    "SELECT l FROM {ks}.t WHERE k = ? AND c = ?",              # a collection
    "SELECT v, v FROM {ks}.t WHERE k = ? AND c = ?",           # a repeated column
    "SELECT writetime(v) FROM {ks}.t WHERE k = ? AND c = ?",
    "SELECT ttl(v) FROM {ks}.t WHERE k = ? AND c = ?",
    "SELECT token(k) FROM {ks}.t WHERE k = ? AND c = ?",
    "SELECT count(*) FROM {ks}.t WHERE k = ? AND c = ?",
    "SELECT max(v) FROM {ks}.t WHERE k = ? AND c = ?",
    "SELECT blobasint(b) FROM {ks}.t WHERE k = ? AND c = ?",
    "SELECT DISTINCT k FROM {ks}.t WHERE k = ?",
    "SELECT v FROM {ks}.t WHERE k = ?",                        # no clustering restriction
    "SELECT v FROM {ks}.t WHERE k = ? AND c IN ?",
    "SELECT v FROM {ks}.t WHERE k = ? AND c IN (1, 2)",
    "SELECT v FROM {ks}.t WHERE k IN ? AND c = 1",
    "SELECT v FROM {ks}.t WHERE k = ? AND c >= 1 AND c <= 1",
    "SELECT v FROM {ks}.t WHERE k = ? AND (c) = (1)",
    "SELECT v FROM {ks}.t WHERE k = ? AND c = ? ORDER BY c DESC",
    "SELECT v FROM {ks}.t WHERE k = ? AND c = ? AND v = 1 ALLOW FILTERING",
    "SELECT n FROM {ks}.n WHERE k = ?",                        # a counter
    "SELECT v FROM {ks}.q WHERE k1 = ?  ALLOW FILTERING",      # part of the partition key
    "SELECT * FROM system.local WHERE key = 'local'",          # a virtual table
]


async def _node(tmp_path: Path) -> tuple[Node, QueryProcessor, Session, str]:
    cfg = load_config(None, {"workdir": str(tmp_path), "api_port": 0, "prometheus_port": 0})
    node = Node(cfg, 0, 1)
    await node.start()
    qp = node.processor
    session = Session()
    ks = "lane"
    await qp.query(session, f"CREATE KEYSPACE {ks} WITH replication = "
                   "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}", _PLAIN)
    for ddl in ("CREATE TABLE {ks}.t (k int, c int, s int static, v int, w text, f frozen<set<int>>, b blob, "
                "l list<int>, PRIMARY KEY (k, c))",
                "CREATE TABLE {ks}.p (k int PRIMARY KEY, v int, w text)",
                "CREATE TABLE {ks}.q (k1 int, k2 text, v int, PRIMARY KEY ((k1, k2)))",
                "CREATE TABLE {ks}.n (k int PRIMARY KEY, n counter)"):
        await qp.query(session, ddl.format(ks=ks), _PLAIN)
    return node, qp, session, ks


def test_plain_point_selects_are_planned_for_the_lane_and_nothing_else(tmp_path: Path) -> None:
    async def scenario() -> None:
        node, qp, _, ks = await _node(tmp_path)
        try:
            for query, lane in [(q, True) for q in LANE] + [(q, False) for q in GENERAL]:
                prepared = qp.prepare(Session(), query.format(ks=ks))
                plan = qp._prepared[prepared.statement_id].plan
                assert isinstance(plan, SelectPlan)
                assert (plan.point is not None) == lane, query
        finally:
            await node.stop()

    asyncio.run(scenario())


class _Spy:
    """Counts what the engine does per read: lane reads, general reads, general materializations."""

    def __init__(self, engine: StorageEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = {"read_row": 0, "read": 0, "_materialize": 0}
        for name in self.calls:
            monkeypatch.setattr(engine, name, self._counting(name, getattr(engine, name)))

    def _counting(self, name: str, f: Any) -> Any:
        def call(*args: Any) -> Any:
            self.calls[name] += 1
            return f(*args)

        return call

    def take(self) -> dict[str, int]:
        out = dict(self.calls)
        for k in self.calls:
            self.calls[k] = 0
        return out


def test_the_lane_reads_a_partitions_only_version_itself_and_hands_the_rest_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        node, qp, session, ks = await _node(tmp_path)
        try:
            engine = node.engine
            assert engine is not None
            spy = _Spy(engine, monkeypatch)
            ins = qp.prepare(session, f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)").statement_id
            lane = qp.prepare(session, f"SELECT v FROM {ks}.t WHERE k = ? AND c = ?").statement_id
            general = qp.prepare(session, f"SELECT s, v FROM {ks}.t WHERE k = ? AND c = ?").statement_id

            def i32(n: int) -> bytes:
                return n.to_bytes(4, "big", signed=True)

            async def write(k: int, c: int, v: int) -> None:
                await qp.execute(session, ins, QueryParameters(Consistency.ONE, (i32(k), i32(c), i32(v))))

            async def read(query_id: bytes, k: int, c: int) -> Sequence[Sequence[bytes | None]]:
                resp = await qp.execute(session, query_id, QueryParameters(Consistency.ONE, (i32(k), i32(c))))
                assert isinstance(resp, ResultRows)
                return resp.rows

            await write(1, 1, 10)
            assert await read(lane, 1, 1) == [[i32(10)]]  # memtable, encoded
            assert await read(lane, 1, 2) == [] and await read(lane, 2, 1) == []
            assert spy.take() == {"read_row": 3, "read": 0, "_materialize": 0}
            await write(1, 2, 20)  # partition 1 written twice: a Mutation in the memtable
            assert await read(lane, 1, 2) == [[i32(20)]]
            assert spy.take() == {"read_row": 1, "read": 0, "_materialize": 0}
            await engine.flush()
            assert await read(lane, 1, 1) == [[i32(10)]]  # one sstable
            assert spy.take() == {"read_row": 1, "read": 0, "_materialize": 0}
            await write(1, 1, 11)  # a memtable and an sstable: merged by the lane too
            assert await read(lane, 1, 1) == [[i32(11)]] and await read(lane, 1, 2) == [[i32(20)]]
            assert spy.take() == {"read_row": 2, "read": 0, "_materialize": 0}
            assert await read(general, 1, 1) == [[None, i32(11)]]  # a static column: never the lane
            assert spy.take() == {"read_row": 0, "read": 1, "_materialize": 1}
            await engine.flush()
            await engine.compact()
            assert await read(lane, 1, 1) == [[i32(11)]]
            assert spy.take() == {"read_row": 1, "read": 0, "_materialize": 0}
            # A paged request takes the lane too: one row never has another page.
            resp = await qp.execute(session, lane, QueryParameters(Consistency.ONE, (i32(1), i32(1)), page_size=1))
            assert isinstance(resp, ResultRows) and resp.rows == [[i32(11)]] and resp.paging_state is None
            assert spy.take() == {"read_row": 1, "read": 0, "_materialize": 0}
        finally:
            await node.stop()

    asyncio.run(scenario())


# --- finished in the call (`QueryProcessor.execute_now` / `query_now`) -----------------------------

def _i32(n: int) -> bytes:
    return n.to_bytes(4, "big", signed=True)


# Every lane shape (LANE, in order) with the bind values read: rows that exist, in one version
# or several, rows and partitions that do not, and bind values each shape rejects.
_MISS, _HIT, _TWICE, _FLUSHED = 9, 1, 2, 3  # partition keys: absent, memtable, memtable + sstable, sstable
LANE_VALUES: list[list[tuple[Any, ...]]] = [
    [(_i32(k), _i32(c)) for k in (_HIT, _TWICE, _FLUSHED, _MISS) for c in (2, 5)] + [(_i32(1), None)],
    [(_i32(2), _i32(_HIT)), (_i32(2), _i32(_TWICE)), (_i32(5), _i32(_FLUSHED)), (None, _i32(1))],
    [()],
    [(_i32(_HIT), _i32(2), _i32(1)), (_i32(_TWICE), _i32(2), _i32(9)), (_i32(_HIT), _i32(2), _i32(0)),
     (_i32(_HIT), _i32(2), None), (_i32(_MISS), _i32(2), _i32(-1))],
    [(_i32(_TWICE), _i32(2)), (_i32(_MISS), _i32(2))],
    [(_i32(k),) for k in (_HIT, _TWICE, _FLUSHED, _MISS)],
    [(_i32(_TWICE),), (None,)],
    [()],
    [(b"a", _i32(k)) for k in (_HIT, _TWICE, _FLUSHED, _MISS)],
]
assert len(LANE_VALUES) == len(LANE)


def _metrics_of(node: Node) -> tuple[int, ...]:
    m = node.metrics
    return (sum(m.read_latency.buckets), m.read_unavailable, m.cross_shard_ops, sum(m.write_latency.buckets))


def test_point_reads_finish_in_the_call_with_the_awaited_and_general_paths_results_and_metrics(
        tmp_path: Path) -> None:
    """A point read of this shard's partition (every lane shape, every storage state) is answered
    by `execute_now`/`query_now` itself: a Response, no awaitable. `execute`, and the same
    statement with its lane switched off (the general machinery), give the same response, the
    same errors (raised at the call) and the same metrics. Reads that are not the lane's, and lane
    statements with a paging state, hand back the awaitable `execute` would."""
    async def scenario() -> None:
        node, qp, session, ks = await _node(tmp_path)
        try:
            engine = node.engine
            assert engine is not None
            ins_t = f"INSERT INTO {ks}.t (k, c, v, w, f, b) VALUES (?, ?, ?, ?, ?, ?)"
            ins_p = f"INSERT INTO {ks}.p (k, v, w) VALUES (?, ?, ?)"
            ins_q = f"INSERT INTO {ks}.q (k1, k2, v) VALUES (?, 'a', ?)"

            async def write(k: int, v: int) -> None:
                for c in (2, 5):
                    await qp.query(session, ins_t, QueryParameters(Consistency.ONE, (
                        _i32(k), _i32(c), _i32(v + c), b"w%d" % v, b"\x00\x00\x00\x01\x00\x00\x00\x04" + _i32(v),
                        b"b")))
                await qp.query(session, ins_p, QueryParameters(Consistency.ONE, (_i32(k), _i32(v), b"p%d" % v)))
                await qp.query(session, ins_q, QueryParameters(Consistency.ONE, (_i32(k), _i32(v))))

            await write(_FLUSHED, 30)
            await write(_TWICE, 20)
            await engine.flush()
            await write(_TWICE, 21)
            await write(_HIT, 10)
            await qp.query(session, f"DELETE w FROM {ks}.p WHERE k = {_HIT}", _PLAIN)

            async def run(how: str, query: str, values: tuple[Any, ...], literal: bool = False,
                          paging_state: bytes | None = None) -> tuple[bool, Any, tuple[int, ...]]:
                params = QueryParameters(Consistency.ONE, values, page_size=100, paging_state=paging_state,
                                         skip_metadata=True)
                p = qp._cached(query, session.keyspace) if literal else \
                    qp._prepared[qp.prepare(session, query).statement_id]
                plan = p.plan
                assert isinstance(plan, SelectPlan)
                lane = plan.point
                if how == "general":
                    plan.point = None
                before = _metrics_of(node)
                finished: bool | None = None
                try:
                    if literal:
                        got: Any = qp.query_now(session, query, params) if how == "now" else \
                            qp.query(session, query, params)
                    else:
                        got = qp.execute_now(session, p.id, params) if how == "now" else \
                            qp.execute(session, p.id, params)
                    finished = isinstance(got, Response)
                    resp = got if finished else await got
                except InvalidRequest as e:
                    finished = finished is None  # raised at the call, or by the awaitable
                    resp = ("raised", str(e))
                finally:
                    plan.point = lane
                return finished, resp, tuple(b - a for a, b in zip(before, _metrics_of(node), strict=True))

            one_read = (1, 0, 0, 0)
            rows_seen = 0
            for query, value_sets in zip(LANE, LANE_VALUES, strict=True):
                query = query.format(ks=ks)
                for values in value_sets:
                    for literal in (False, True):
                        if literal and values:
                            continue
                        finished, resp, delta = await run("now", query, values, literal)
                        assert finished and delta == one_read, (query, values)
                        assert await run("execute", query, values, literal) == (False, resp, delta), (query, values)
                        assert (await run("general", query, values, literal))[1:] == (resp, delta), (query, values)
                        if isinstance(resp, ResultRows):
                            assert resp.no_metadata == (not literal) and resp.paging_state is None
                            rows_seen += len(resp.rows)
            assert rows_seen >= 15  # the values above read rows, not only misses
            # Not the lane's: the awaitable `execute` hands back, the same answer.
            for query in GENERAL:
                query = query.format(ks=ks)
                values = tuple(_i32(1) for _ in range(query.count("?")))
                if " IN ?" in query:
                    continue  # a list value; the lane's refusal of it is pinned above
                now = await run("now", query, values)
                assert not now[0] and now == await run("execute", query, values), query
            # A lane statement resuming a page: the general path, awaited.
            lane_q = LANE[0].format(ks=ks)
            state = _encode_state(_i32(_HIT), None, 0, 0)
            now = await run("now", lane_q, (_i32(_HIT), _i32(2)), paging_state=state)
            assert not now[0] and now == await run("execute", lane_q, (_i32(_HIT), _i32(2)), paging_state=state)
        finally:
            await node.stop()

    asyncio.run(scenario())
