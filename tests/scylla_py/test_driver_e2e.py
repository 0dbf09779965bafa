"""End to end with the stock cassandra-driver against a real server process.

Covers the capabilities of the single-node issue as a user sees them: negotiation, DDL, every type
round-tripping through simple and prepared statements, paging, batches, collections, TTL, static
columns, deletions, LWT, counters, and the error codes of bad statements.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import time
import uuid
from typing import Any

import pytest
from cassandra import InvalidRequest, ProtocolVersion
from cassandra.cluster import Cluster, Session
from cassandra.io.asyncioreactor import AsyncioConnection
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, BatchType, SimpleStatement
from cassandra.util import Date, Duration, Time

from tests.conftest import unique_keyspace
from tests.harness import ServerProcess


def _ks(session: Session, rf: int = 1, tablets: bool = True) -> str:
    ks = unique_keyspace()
    cls = "NetworkTopologyStrategy" if tablets else "SimpleStrategy"
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': '{cls}', 'replication_factor': {rf}}}")
    return ks


def test_driver_negotiates_protocol_v4_by_itself(server: ServerProcess) -> None:
    c = Cluster([server.host], port=server.cql_port, connection_class=AsyncioConnection)
    try:
        s = c.connect()
        assert c.protocol_version == ProtocolVersion.V4
        row = s.execute("SELECT cluster_name, release_version FROM system.local WHERE key = 'local'").one()
        assert row.cluster_name == "Test Cluster"
    finally:
        c.shutdown()


ALL_TYPES: list[tuple[str, Any]] = [
    ("ascii", "plain ascii"),
    ("bigint", -(2**63)),
    ("blob", b"\x00\x01\xffbytes"),
    ("boolean", True),
    ("date", Date(datetime.date(2024, 2, 29))),
    ("decimal", decimal.Decimal("-12345.678901234567890")),
    ("double", 3.141592653589793),
    ("duration", Duration(1, 2, 3_000_000_000)),
    ("float", 1.5),
    ("inet", "2001:db8::1"),
    ("int", -2147483648),
    ("smallint", 32767),
    ("text", "unicode: żółw ✓"),
    ("time", Time(datetime.time(13, 14, 15, 123456))),
    ("timestamp", datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)),
    ("timeuuid", uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3")),
    ("tinyint", -128),
    ("uuid", uuid.UUID("123e4567-e89b-42d3-a456-426614174000")),
    ("varchar", "varchar text"),
    ("varint", 10**40 + 7),
    ("list<int>", [3, 1, 2]),
    ("set<text>", {"b", "a"}),
    ("map<text, int>", {"x": 1, "y": 2}),
    ("frozen<list<frozen<map<int, text>>>>", [{1: "a"}, {2: "b"}]),
    ("tuple<int, text, boolean>", (1, "t", False)),
]


def _normalize(cql_type: str, v: Any) -> Any:
    if cql_type == "inet":
        return ipaddress.ip_address(v)
    if cql_type.startswith("set"):
        return set(v)
    if cql_type.startswith("map") or cql_type.startswith("frozen<list<frozen<map"):
        return [dict(x) for x in v] if isinstance(v, list) else dict(v)
    return v


@pytest.mark.parametrize("prepared", [False, True])
def test_every_type_round_trips(session: Session, prepared: bool) -> None:
    # The stock driver renders a Python tuple as a list literal in simple statements, which
    # Cassandra (and we) reject for a tuple column; tuples travel through prepared statements.
    types = ALL_TYPES if prepared else [(t, v) for t, v in ALL_TYPES if not t.startswith("tuple")]
    ks = _ks(session)
    cols = ", ".join(f"c{i} {t}" for i, (t, _) in enumerate(types))
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, {cols})")
    names = ", ".join(f"c{i}" for i in range(len(types)))
    marks = ", ".join("?" if prepared else "%s" for _ in types)
    query = f"INSERT INTO {ks}.t (k, {names}) VALUES ({'?' if prepared else '%s'}, {marks})"
    values = [1] + [v for _, v in types]
    if prepared:
        session.execute(session.prepare(query), values)
    else:
        session.execute(query, values)
    row = session.execute(f"SELECT * FROM {ks}.t WHERE k = 1").one()
    for i, (t, v) in enumerate(types):
        got = getattr(row, f"c{i}")
        if t == "decimal" and not prepared:
            v = decimal.Decimal(repr(float(v)))  # the driver sends a Decimal as a float literal
        assert _normalize(t, got) == _normalize(t, v), (t, got, v)


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("ctype,values", [
    ("int", [-5, 0, 3, 2**31 - 1, -(2**31)]),
    ("text", ["", "a", "ab", "b", "\u00e9"]),
    ("bigint", [-(2**63), -1, 0, 1, 2**63 - 1]),
    ("double", [-1e300, -0.5, 0.0, 0.25, 1e300]),
    ("varint", [-(10**30), -1, 0, 1, 10**30]),
    ("decimal", [decimal.Decimal("-1.5"), decimal.Decimal("0"), decimal.Decimal("0.001"), decimal.Decimal("12")]),
    ("timeuuid", [uuid.uuid1(node=1, clock_seq=i) for i in range(4)]),
    ("frozen<tuple<int, text>>", [(1, "b"), (1, "a"), (0, "z")]),
])
def test_clustering_order_matches_cql_order(session: Session, ctype: str, values: list[Any], order: str) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int, c {ctype}, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c {order})")
    ps = session.prepare(f"INSERT INTO {ks}.t (k, c) VALUES (0, ?)")
    for v in values:
        session.execute(ps, [v])
    got = [r.c for r in session.execute(f"SELECT c FROM {ks}.t WHERE k = 0")]
    expected = sorted(values, reverse=order == "DESC")
    assert got == expected
    reverse_order = "ASC" if order == "DESC" else "DESC"
    got_rev = [r.c for r in session.execute(f"SELECT c FROM {ks}.t WHERE k = 0 ORDER BY c {reverse_order}")]
    assert got_rev == list(reversed(expected))


def test_paging_single_partition_and_full_scan(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, v text, PRIMARY KEY (k, c))")
    ps = session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")
    for k in range(20):
        for c in range(7):
            session.execute(ps, (k, c, f"{k}-{c}"))
    stmt = SimpleStatement(f"SELECT * FROM {ks}.t WHERE k = 3", fetch_size=2)
    rows = list(session.execute(stmt))
    assert [r.c for r in rows] == list(range(7))
    scan = SimpleStatement(f"SELECT k, c FROM {ks}.t", fetch_size=9)
    result = session.execute(scan)
    assert result.has_more_pages
    seen = [(r.k, r.c) for r in result]
    assert sorted(seen) == [(k, c) for k in range(20) for c in range(7)]
    assert len(seen) == len(set(seen))
    limited = list(session.execute(SimpleStatement(f"SELECT k FROM {ks}.t LIMIT 10", fetch_size=3)))
    assert len(limited) == 10
    ppl = list(session.execute(SimpleStatement(f"SELECT k, c FROM {ks}.t PER PARTITION LIMIT 2", fetch_size=5)))
    assert len(ppl) == 40 and all(r.c < 2 for r in ppl)
    distinct = list(session.execute(SimpleStatement(f"SELECT DISTINCT k FROM {ks}.t", fetch_size=4)))
    assert sorted(r.k for r in distinct) == list(range(20))
    count = session.execute(f"SELECT COUNT(*) FROM {ks}.t").one()
    assert count.count == 140


def test_restrictions_in_slices_and_multi_column(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int, a int, b int, v int, PRIMARY KEY (k, a, b))")
    for a in range(4):
        for b in range(4):
            session.execute(f"INSERT INTO {ks}.t (k, a, b, v) VALUES (1, {a}, {b}, {a * 10 + b})")
    q = lambda where: [r.v for r in session.execute(f"SELECT v FROM {ks}.t WHERE k = 1 AND {where}")]  # noqa: E731
    assert q("a = 1") == [10, 11, 12, 13]
    assert q("a IN (3, 1)") == [10, 11, 12, 13, 30, 31, 32, 33]
    assert q("a = 2 AND b > 1") == [22, 23]
    assert q("a = 2 AND b >= 1 AND b < 3") == [21, 22]
    assert q("(a, b) > (2, 2)") == [23, 30, 31, 32, 33]
    assert q("(a, b) >= (1, 3) AND (a, b) < (2, 1)") == [13, 20]
    assert q("(a, b) IN ((0, 1), (3, 3))") == [1, 33]
    assert q("a > 2") == [30, 31, 32, 33]
    assert [r.v for r in session.execute(f"SELECT v FROM {ks}.t WHERE k IN (1, 2) AND a = 0 AND b = 0")] == [0]
    assert q("v > 31 ALLOW FILTERING") == [32, 33]
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        session.execute(f"SELECT * FROM {ks}.t WHERE v = 3")
    tok = session.execute(f"SELECT token(k) FROM {ks}.t WHERE k = 1 LIMIT 1").one()[0]
    assert len(list(session.execute(f"SELECT k FROM {ks}.t WHERE token(k) >= {tok} AND token(k) <= {tok}"))) == 16


def test_batches_and_timestamps(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, v int, PRIMARY KEY (k, c))")
    session.execute(f"BEGIN BATCH USING TIMESTAMP 1000 INSERT INTO {ks}.t (k, c, v) VALUES (1, 1, 1); "
                    f"INSERT INTO {ks}.t (k, c, v) VALUES (2, 1, 2); APPLY BATCH")
    ps = session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")
    b = BatchStatement(batch_type=BatchType.UNLOGGED)
    for i in range(5):
        b.add(ps, (3, i, i))
    b.add(f"UPDATE {ks}.t SET v = 99 WHERE k = 1 AND c = 1")
    session.execute(b)
    rows = {(r.k, r.c): r.v for r in session.execute(f"SELECT k, c, v FROM {ks}.t")}
    assert rows[(1, 1)] == 99 and rows[(2, 1)] == 2 and all(rows[(3, i)] == i for i in range(5))
    wt = session.execute(f"SELECT writetime(v) FROM {ks}.t WHERE k = 2 AND c = 1").one()[0]
    assert wt == 1000
    # An older write loses against a newer one, whatever the arrival order.
    session.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES (2, 1, 5) USING TIMESTAMP 999")
    assert session.execute(f"SELECT v FROM {ks}.t WHERE k = 2 AND c = 1").one().v == 2


def test_collections_static_ttl_and_deletes(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, s text static, l list<int>, st set<int>, "
                    f"m map<text, int>, v int, PRIMARY KEY (k, c))")
    session.execute(f"INSERT INTO {ks}.t (k, c, s, l, st, m, v) VALUES (1, 1, 'static', [1, 2], {{3}}, {{'a': 1}}, 7)")
    session.execute(f"UPDATE {ks}.t SET l = [0] + l, l = l + [9], st = st + {{4}}, m['b'] = 2 WHERE k = 1 AND c = 1")
    row = session.execute(f"SELECT l, st, m FROM {ks}.t WHERE k = 1 AND c = 1").one()
    assert row.l == [0, 1, 2, 9] and row.st == {3, 4} and dict(row.m) == {"a": 1, "b": 2}
    session.execute(f"UPDATE {ks}.t SET l[1] = 100, l = l - [2], m = m - {{'a'}} WHERE k = 1 AND c = 1")
    session.execute(f"DELETE st[3] FROM {ks}.t WHERE k = 1 AND c = 1")
    row = session.execute(f"SELECT l, st, m FROM {ks}.t WHERE k = 1 AND c = 1").one()
    assert row.l == [0, 100, 9] and row.st == {4} and dict(row.m) == {"b": 2}
    session.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES (1, 2, 8)")
    assert [r.s for r in session.execute(f"SELECT s FROM {ks}.t WHERE k = 1")] == ["static", "static"]
    session.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES (1, 3, 9) USING TTL 1000")
    ttl = session.execute(f"SELECT ttl(v) FROM {ks}.t WHERE k = 1 AND c = 3").one()[0]
    assert 990 <= ttl <= 1000
    session.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES (1, 4, 9) USING TTL 1")
    time.sleep(2.1)
    assert session.execute(f"SELECT * FROM {ks}.t WHERE k = 1 AND c = 4").one() is None
    session.execute(f"DELETE v FROM {ks}.t WHERE k = 1 AND c = 2")
    assert session.execute(f"SELECT v FROM {ks}.t WHERE k = 1 AND c = 2").one().v is None
    session.execute(f"DELETE FROM {ks}.t WHERE k = 1 AND c >= 2")
    assert [r.c for r in session.execute(f"SELECT c FROM {ks}.t WHERE k = 1")] == [1]
    session.execute(f"DELETE FROM {ks}.t WHERE k = 1")
    assert session.execute(f"SELECT * FROM {ks}.t WHERE k = 1").one() is None


def test_lwt_and_counters(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v int)")
    assert session.execute(f"INSERT INTO {ks}.t (k, v) VALUES (1, 1) IF NOT EXISTS").one()[0] is True
    r = session.execute(f"INSERT INTO {ks}.t (k, v) VALUES (1, 2) IF NOT EXISTS").one()
    assert r[0] is False and r.v == 1
    assert session.execute(f"UPDATE {ks}.t SET v = 3 WHERE k = 1 IF v = 1").one()[0] is True
    assert session.execute(f"UPDATE {ks}.t SET v = 4 WHERE k = 1 IF v = 1").one()[0] is False
    assert session.execute(f"DELETE FROM {ks}.t WHERE k = 1 IF EXISTS").one()[0] is True
    assert session.execute(f"DELETE FROM {ks}.t WHERE k = 1 IF EXISTS").one()[0] is False
    session.execute(f"CREATE TABLE {ks}.c (k int PRIMARY KEY, n counter)")
    ps = session.prepare(f"UPDATE {ks}.c SET n = n + ? WHERE k = ?")
    for i in range(10):
        session.execute(ps, (i, 7))
    session.execute(f"UPDATE {ks}.c SET n = n - 5 WHERE k = 7")
    assert session.execute(f"SELECT n FROM {ks}.c WHERE k = 7").one().n == 40


def test_bad_statements_get_the_right_error_codes(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    with pytest.raises(SyntaxException, match="line 1:"):
        session.execute("SELEC * FROM x")
    with pytest.raises(InvalidRequest, match="unconfigured table"):
        session.execute(f"SELECT * FROM {ks}.nope")
    with pytest.raises(InvalidRequest, match="does not exist"):
        session.execute("SELECT * FROM nokeyspace.t")
    with pytest.raises(InvalidRequest, match="Undefined column name"):
        session.execute(f"SELECT nope FROM {ks}.t")
    with pytest.raises(InvalidRequest):
        session.execute(f"INSERT INTO {ks}.t (k, v) VALUES ('text', 'x')")
    with pytest.raises(InvalidRequest, match="partition key"):
        session.execute(f"INSERT INTO {ks}.t (v) VALUES ('x')")
    ps = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
    from cassandra.query import BoundStatement

    bound = BoundStatement(ps)
    bound.values = [b"\x00\x01", b"x"]  # 2 bytes for an int: invalid
    with pytest.raises(InvalidRequest):
        session.execute(bound)
    # The connection keeps working after every error.
    session.execute(f"INSERT INTO {ks}.t (k, v) VALUES (1, 'ok')")
    assert session.execute(f"SELECT v FROM {ks}.t WHERE k = 1").one().v == "ok"


def test_schema_metadata_seen_by_driver(cluster: Cluster, session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    session.execute(f"CREATE TABLE {ks}.t (a int, b text, c timeuuid, s int static, v frozen<addr>, "
                    f"PRIMARY KEY ((a, b), c)) WITH CLUSTERING ORDER BY (c DESC) AND comment = 'hi'")
    cluster.refresh_schema_metadata()
    t = cluster.metadata.keyspaces[ks].tables["t"]
    assert [c.name for c in t.partition_key] == ["a", "b"]
    assert [c.name for c in t.clustering_key] == ["c"]
    assert t.options["comment"] == "hi"
    assert "addr" in cluster.metadata.keyspaces[ks].user_types
    session.execute(f"ALTER TABLE {ks}.t ADD extra list<int>")
    session.execute(f"INSERT INTO {ks}.t (a, b, c, extra) VALUES (1, 'x', now(), [1])")
    assert session.execute(f"SELECT extra FROM {ks}.t WHERE a = 1 AND b = 'x'").one().extra == [1]
    session.execute(f"DROP TABLE {ks}.t")
    with pytest.raises(InvalidRequest):
        session.execute(f"SELECT * FROM {ks}.t")
