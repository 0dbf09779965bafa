"""The point-read lane pinned against the general read path, end to end (real server, stock driver).

A prepared SELECT of plain columns naming one row by its full primary key (`SelectPlan.point`)
asks storage for that row's values straight from the partition's codec form
(`StorageEngine.read_row`); everything else, and every partition shape the lane does not read
itself, goes through the general path. The lane must return exactly what the general path does.
Its general twin here is the same statement with `k IN ?` in place of `k = ?` (an IN on the
partition key never takes the lane).

Covered: rows that exist only by their marker, only by a collection cell, only by an UPDATE's
cells; cell, row, range and partition tombstones, older writes after a deletion; TTL expiry of a
whole row and of one cell; static-only partitions; wide partitions (the row found by binary search,
and keys between rows); absent partitions. Each in every storage state: in the memtable (encoded,
then overwritten, which makes it a Mutation), flushed to one sstable, in a memtable and an sstable
at once, compacted. From connections on both shards of a `--smp 2` node, so the lane runs on the
owning shard and hands over to the general path on the other. Which statements take the lane, and
which partition shapes it leaves to the general path, is checked in process
(`test_point_read_lane_choice.py`).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session

from tests.harness import ServerProcess
from tests.scylla_py.test_fast_paths import SHARDS, _ks, _OnShard, _table_shards

# Lane shapes, each with a `{pk}` the twin replaces; `t` has partition key (k, k2) and clustering
# (c1 ASC, c2 DESC); `p` has no clustering columns.
T_QUERIES = [
    "SELECT v, w FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ?",
    "SELECT k, k2, c1, c2, v, w, f, b FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ?",
    "SELECT c2, w AS ww, k2, b FROM {ks}.t WHERE k2 = ? AND c2 = ? AND c1 = ? AND {pk}",
    "SELECT k FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ?",
    "SELECT v FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ? LIMIT 1",
    "SELECT v, f FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ? PER PARTITION LIMIT 2 LIMIT 5",
    # not the lane (static, collection, writetime, a repeated column): the same answers regardless
    "SELECT * FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ?",
    "SELECT s, v FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ?",
    "SELECT l, v FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ?",
    "SELECT writetime(v), v, v FROM {ks}.t WHERE {pk} AND k2 = ? AND c1 = ? AND c2 = ?",
]
P_QUERIES = [
    "SELECT v, w FROM {ks}.p WHERE {pk}",
    "SELECT w, k, v FROM {ks}.p WHERE {pk}",
    "SELECT k FROM {ks}.p WHERE {pk}",
    "SELECT * FROM {ks}.p WHERE {pk}",
]

# (k, k2, c1, c2) of the rows read: every shape below, keys between the wide partition's rows,
# and keys of no partition
T_KEYS = [(k, "a", c1, c2) for k in range(1, 18) for c1, c2 in ((1, "x"), (5, "x"), (5, "y"))]
T_KEYS += [(20, "w", c1, c2) for c1 in (-1, 0, 1, 17, 39, 40, 41) for c2 in ("m", "n")]
T_KEYS += [(99, "a", 1, "x"), (1, "b", 1, "x")]
P_KEYS = [*range(1, 12), 99]


def _make_tables(session: Session) -> str:
    """A keyspace of 4 tablets (on both shards) with the tables `_write_shapes` fills: `t`, with
    every key, clustering and column shape the lane reads, and `p`, one key column only."""
    ks = _ks(session, initial_tablets=4)
    session.execute(f"CREATE TABLE {ks}.t (k int, k2 text, c1 int, c2 text, s int static, v int, w text, "
                    "f frozen<list<int>>, b blob, l list<int>, PRIMARY KEY ((k, k2), c1, c2)) "
                    "WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC)")
    session.execute(f"CREATE TABLE {ks}.p (k int PRIMARY KEY, v int, w text, l list<int>)")
    assert _table_shards(session, ks, "t") == set(range(SHARDS))
    return ks


def _write_shapes(s: Session, ks: str, ts: int) -> None:
    """Every row shape, written with timestamps from `ts` (a later call writes over the earlier)."""
    def q(cql: str, *params: Any) -> None:
        s.execute(cql.format(ks=ks, ts=ts), params)

    q("INSERT INTO {ks}.t (k, k2, c1, c2, v, w, f, b) VALUES (1, 'a', 1, 'x', 1, 'one', [1, 2], 0x01) "
      "USING TIMESTAMP {ts}")
    q("INSERT INTO {ks}.t (k, k2, c1, c2) VALUES (2, 'a', 1, 'x') USING TIMESTAMP {ts}")  # the marker only
    q("UPDATE {ks}.t USING TIMESTAMP {ts} SET v = 3 WHERE k = 3 AND k2 = 'a' AND c1 = 1 AND c2 = 'x'")
    q("UPDATE {ks}.t USING TIMESTAMP {ts} SET v = 4 WHERE k = 4 AND k2 = 'a' AND c1 = 1 AND c2 = 'x'")
    q("UPDATE {ks}.t USING TIMESTAMP {ts} SET v = null WHERE k = 4 AND k2 = 'a' AND c1 = 1 AND c2 = 'x'")
    q("UPDATE {ks}.t USING TIMESTAMP {ts} SET l = l + [5] WHERE k = 5 AND k2 = 'a' AND c1 = 1 AND c2 = 'x'")
    q("INSERT INTO {ks}.t (k, k2, c1, c2, v, l) VALUES (6, 'a', 1, 'x', 6, [6]) USING TIMESTAMP {ts}")
    q("INSERT INTO {ks}.t (k, k2, c1, c2, v, w) VALUES (7, 'a', 1, 'x', 7, 'seven') USING TIMESTAMP {ts}")
    q("DELETE w FROM {ks}.t USING TIMESTAMP {ts} WHERE k = 7 AND k2 = 'a' AND c1 = 1 AND c2 = 'x'")
    q("INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (8, 'a', 1, 'x', 8) USING TIMESTAMP {ts}")
    q("DELETE FROM {ks}.t USING TIMESTAMP {ts} WHERE k = 8 AND k2 = 'a' AND c1 = 1 AND c2 = 'x'")
    s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (8, 'a', 1, 'x', 80) USING TIMESTAMP {ts - 1}")
    for c1, c2 in ((1, "x"), (5, "x"), (5, "y")):  # a range tombstone over c1 = 5, one row newer
        q(f"INSERT INTO {{ks}}.t (k, k2, c1, c2, v) VALUES (9, 'a', {c1}, '{c2}', 9) USING TIMESTAMP {{ts}}")
    q("DELETE FROM {ks}.t USING TIMESTAMP {ts} WHERE k = 9 AND k2 = 'a' AND c1 = 5")
    s.execute(f"UPDATE {ks}.t USING TIMESTAMP {ts + 1} SET w = 'after' WHERE k = 9 AND k2 = 'a' AND c1 = 5 "
              "AND c2 = 'y'")
    q("INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (10, 'a', 1, 'x', 10) USING TIMESTAMP {ts}")
    q("DELETE FROM {ks}.t USING TIMESTAMP {ts} WHERE k = 10 AND k2 = 'a'")  # the partition
    s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, w) VALUES (10, 'a', 5, 'y', 'new') USING TIMESTAMP {ts + 1}")
    q("UPDATE {ks}.t USING TIMESTAMP {ts} SET s = 11 WHERE k = 11 AND k2 = 'a'")  # static only
    q("INSERT INTO {ks}.t (k, k2, c1, c2, s, v) VALUES (12, 'a', 5, 'x', 12, 12) USING TIMESTAMP {ts}")
    # TTLs that do not run out during the test (see `_write_expiring` for those that do)
    q("INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (13, 'a', 1, 'x', 13) USING TTL 1000 AND TIMESTAMP {ts}")
    q("INSERT INTO {ks}.t (k, k2, c1, c2, v, w) VALUES (14, 'a', 1, 'x', 14, 'w') USING TIMESTAMP {ts}")
    q("UPDATE {ks}.t USING TTL 1000 AND TIMESTAMP {ts} SET v = 140 WHERE k = 14 AND k2 = 'a' AND c1 = 1 "
      "AND c2 = 'x'")
    wide = s.prepare(f"INSERT INTO {ks}.t (k, k2, c1, c2, v, w) VALUES (20, 'w', ?, ?, ?, ?) USING TIMESTAMP {ts}")
    for c1 in range(0, 41, 2):
        for c2 in ("m", "n"):
            s.execute(wide, (c1, c2, c1, c2 * c1))
    q("INSERT INTO {ks}.p (k, v, w) VALUES (1, 1, 'one') USING TIMESTAMP {ts}")
    q("INSERT INTO {ks}.p (k) VALUES (2) USING TIMESTAMP {ts}")
    q("UPDATE {ks}.p USING TIMESTAMP {ts} SET w = 'three' WHERE k = 3")
    q("UPDATE {ks}.p USING TIMESTAMP {ts} SET w = null WHERE k = 4")
    q("UPDATE {ks}.p USING TIMESTAMP {ts} SET l = [5] WHERE k = 5")
    q("INSERT INTO {ks}.p (k, v) VALUES (6, 6) USING TIMESTAMP {ts}")
    q("DELETE FROM {ks}.p USING TIMESTAMP {ts} WHERE k = 6")
    q("INSERT INTO {ks}.p (k, v) VALUES (7, 7) USING TTL 1000 AND TIMESTAMP {ts}")
    q("INSERT INTO {ks}.p (k, v, w) VALUES (8, 8, 'eight') USING TIMESTAMP {ts}")
    q("DELETE v FROM {ks}.p USING TIMESTAMP {ts} WHERE k = 8")


def _write_expiring(s: Session, ks: str) -> None:
    """Rows and cells with a TTL of 1 s: a whole row (t 15, 16; p 9) and one cell (t 17 v)."""
    s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (15, 'a', 5, 'y', 15) USING TTL 1")
    s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (16, 'a', 1, 'x', 16) USING TTL 1")
    s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, w) VALUES (17, 'a', 1, 'x', 'w')")
    s.execute(f"UPDATE {ks}.t USING TTL 1 SET v = 17 WHERE k = 17 AND k2 = 'a' AND c1 = 1 AND c2 = 'x'")
    s.execute(f"INSERT INTO {ks}.p (k, v) VALUES (9, 9) USING TTL 1")


def _rest(node: ServerProcess, path: str) -> None:
    req = urllib.request.Request(f"http://{node.host}:{node.api_port}{path}", method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        json.loads(resp.read() or b"null")


def _check(sessions: Sequence[Session], ks: str, stage: str) -> dict[tuple[str, tuple[Any, ...]], list[Any]]:
    """Every query through the lane and its twin, from every session; the lane's answers."""
    answers: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}
    for s in sessions:
        shapes: list[tuple[list[str], list[tuple[Any, ...]]]] = [(T_QUERIES, list(T_KEYS)),
                                                                 (P_QUERIES, [(k,) for k in P_KEYS])]
        for queries, keys in shapes:
            for template in queries:
                lane = s.prepare(template.format(ks=ks, pk="k = ?"))
                twin = s.prepare(template.format(ks=ks, pk="k IN ?"))
                for key in keys:
                    params: list[Any] = list(key)
                    pk_at = 0
                    if template.startswith("SELECT c2, w AS ww"):  # binds k2, c2, c1, k
                        params = [key[1], key[3], key[2], key[0]]
                        pk_at = 3
                    twin_params = [[p] if i == pk_at else p for i, p in enumerate(params)]
                    got = [tuple(r) for r in s.execute(lane, params)]
                    want = [tuple(r) for r in s.execute(twin, twin_params)]
                    assert got == want, (stage, template, key)
                    answers[(template, key)] = got
    return answers


def test_point_reads_match_the_general_path_in_every_storage_state(server: ServerProcess, session: Session,
                                                                    on_shards: list[_OnShard]) -> None:
    ks = _make_tables(session)
    sessions = [o.session for o in on_shards]
    ts = 1_000_000
    _write_shapes(session, ks, ts)
    _check(sessions, ks, "memtable")
    _write_shapes(session, ks, ts)  # the same cells again: each partition becomes a Mutation
    _check(sessions, ks, "memtable, written twice")
    _rest(server, f"/storage_service/keyspace_flush/{ks}")
    _check(sessions, ks, "one sstable")
    _write_shapes(session, ks, ts + 10)
    _check(sessions, ks, "memtable and sstable")
    _rest(server, f"/storage_service/keyspace_flush/{ks}")
    _check(sessions, ks, "two sstables")
    _rest(server, f"/storage_service/keyspace_compaction/{ks}")
    answers = _check(sessions, ks, "compacted")

    # Not only equal: right. (`SELECT v, w` of t and of p.)
    def t_vw(k: int, c1: int = 1, c2: str = "x") -> list[Any]:
        return answers[(T_QUERIES[0], (k, "a", c1, c2))]

    def p_vw(k: int) -> list[Any]:
        return answers[(P_QUERIES[0], (k,))]

    assert t_vw(1) == [(1, "one")]
    assert t_vw(2) == [(None, None)]  # a live marker keeps the row
    assert t_vw(3) == [(3, None)]
    assert t_vw(4) == []  # no marker, no live cell
    assert t_vw(5) == [(None, None)]  # a live collection cell keeps it
    assert t_vw(6) == [(6, None)]
    assert t_vw(7) == [(7, None)]
    assert t_vw(8) == [] and t_vw(8, 5, "x") == []  # deleted, and older than the deletion
    assert t_vw(9) == [(9, None)] and t_vw(9, 5, "x") == [] and t_vw(9, 5, "y") == [(None, "after")]
    assert t_vw(10) == [] and t_vw(10, 5, "y") == [(None, "new")]
    assert t_vw(11) == [] and t_vw(12, 5, "x") == [(12, None)]
    assert t_vw(13) == [(13, None)] and t_vw(14) == [(140, "w")]
    assert answers[(T_QUERIES[0], (20, "w", 17, "m"))] == []
    assert answers[(T_QUERIES[0], (20, "w", 40, "n"))] == [(40, "n" * 40)]
    assert answers[(T_QUERIES[0], (99, "a", 1, "x"))] == []
    assert answers[(T_QUERIES[1], (1, "a", 1, "x"))] == [(1, "a", 1, "x", 1, "one", [1, 2], b"\x01")]
    assert answers[(T_QUERIES[2], (20, "w", 0, "m"))] == [("m", "", "w", None)]
    assert answers[(T_QUERIES[3], (2, "a", 1, "x"))] == [(2,)]
    assert [p_vw(k) for k in P_KEYS] == [[(1, "one")], [(None, None)], [(None, "three")], [], [(None, None)], [],
                                         [(7, None)], [(None, "eight")], [], [], [], []]
    assert t_vw(15, 5, "y") == [] and t_vw(16) == [] and t_vw(17) == []
    # TTL expiry: of whole rows and of single cells, flushed to an sstable and in a memtable
    # written over it. (Checked only once expired: lane and twin read a second apart at most.)
    _write_expiring(session, ks)
    _rest(server, f"/storage_service/keyspace_flush/{ks}")
    time.sleep(2.1)
    answers = _check(sessions, ks, "expired in an sstable")
    assert t_vw(15, 5, "y") == [] and t_vw(16) == [] and t_vw(17) == [(None, "w")] and p_vw(9) == []
    _write_expiring(session, ks)
    time.sleep(2.1)
    answers = _check(sessions, ks, "expired in the memtable")
    assert t_vw(15, 5, "y") == [] and t_vw(16) == [] and t_vw(17) == [(None, "w")] and p_vw(9) == []


def test_point_read_errors_match_the_general_path(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, v int, PRIMARY KEY (k, c))")
    for pk, k in (("k = ?", 1), ("k IN ?", [1])):
        limit = session.prepare(f"SELECT v FROM {ks}.t WHERE {pk} AND c = ? LIMIT ?")
        with pytest.raises(InvalidRequest, match="LIMIT must be strictly positive"):
            session.execute(limit, (k, 1, 0))
        ppl = session.prepare(f"SELECT v FROM {ks}.t WHERE {pk} AND c = ? PER PARTITION LIMIT ?")
        with pytest.raises(InvalidRequest, match="PER PARTITION LIMIT must be strictly positive"):
            session.execute(ppl, (k, 1, -1))
        row = session.prepare(f"SELECT v FROM {ks}.t WHERE {pk} AND c = ?")
        with pytest.raises(InvalidRequest, match="Invalid null value in condition for column c"):
            session.execute(row, (k, None))
