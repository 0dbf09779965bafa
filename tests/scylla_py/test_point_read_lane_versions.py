"""The point-read lane over several versions of a partition, end to end (real server, stock driver).

Rows are written over across a memtable and several flushed sstables, so that each read finds
the partition in up to four places and `StorageEngine.read_row` merges them itself
(`point_merge.point_row_versions`). Every lane answer must equal its general twin's (the same
statement with `k IN ?`, which never takes the lane): overwrites with newer and with equal
timestamps (the larger value wins a tie), deletions of cells, rows, ranges and partitions in one
layer shadowing (or not) writes in another, TTLs, rows kept only by a marker. The single-layer
shapes and the one-sstable/one-memtable states are `test_point_read_lane.py`'s. Rows overwritten
once per flushed sstable, with timestamps growing or going backwards, are read in timestamp
order (stopping at the newest sstables that settle the row; `tests/storage/test_point_read_order.py`
pins the rule and counts the sstables skipped).
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from tests.harness import ServerProcess
from tests.scylla_py.test_fast_paths import _OnShard
from tests.scylla_py.test_point_read_lane import T_QUERIES, _check, _make_tables, _rest, _write_shapes


def _layer(s: Session, ks: str, ts: int, n: int) -> None:
    """Layer `n` of writes over the rows `_write_shapes` made (t's k 1..14), each at or around `ts`."""
    def q(cql: str) -> None:
        s.execute(cql.format(ks=ks, ts=ts, n=n))

    row = "WHERE k = {k} AND k2 = 'a' AND c1 = 1 AND c2 = 'x'"
    # the plain overwrite: a newer value in every layer
    q("INSERT INTO {ks}.t (k, k2, c1, c2, v, w) VALUES (1, 'a', 1, 'x', {n}, 'layer{n}') USING TIMESTAMP {ts}")
    # equal timestamps in every layer: the largest value wins, wherever it is
    q("UPDATE {ks}.t USING TIMESTAMP 5 SET v = " + str(10 - n) + ", w = 'w" + str(n) + "' " + row.format(k=2))
    # a cell deleted in layer 2, written again, older, in layer 3 and newer in layer 4
    if n == 2:
        q("DELETE v FROM {ks}.t USING TIMESTAMP {ts} " + row.format(k=3))
    elif n == 3:
        q("UPDATE {ks}.t USING TIMESTAMP " + str(ts - 100) + " SET v = 33 " + row.format(k=3))
    elif n == 4:
        q("UPDATE {ks}.t USING TIMESTAMP {ts} SET w = 'back' " + row.format(k=3))
    # a row deletion in layer 2 over older cells of layer 1; a marker-only insert after it
    if n == 2:
        q("DELETE FROM {ks}.t USING TIMESTAMP {ts} " + row.format(k=6))
    elif n == 4:
        q("INSERT INTO {ks}.t (k, k2, c1, c2) VALUES (6, 'a', 1, 'x') USING TIMESTAMP {ts}")
    # a partition deletion in layer 3 with an older write to another of its rows in layer 4
    if n == 3:
        q("DELETE FROM {ks}.t USING TIMESTAMP {ts} WHERE k = 12 AND k2 = 'a'")
    elif n == 4:
        q("INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (12, 'a', 1, 'x', 120) USING TIMESTAMP " + str(ts - 50))
    # a range tombstone in one layer, a newer row inside it in the next
    if n == 2:
        q("DELETE FROM {ks}.t USING TIMESTAMP {ts} WHERE k = 9 AND k2 = 'a' AND c1 = 1")
    elif n == 3:
        q("INSERT INTO {ks}.t (k, k2, c1, c2, w) VALUES (9, 'a', 1, 'x', 'nine') USING TIMESTAMP {ts}")
    # a TTL cell over a plain one (a long TTL: live throughout), then a plain one again
    if n == 2:
        q("UPDATE {ks}.t USING TTL 1000 AND TIMESTAMP {ts} SET v = 130 " + row.format(k=13))
    elif n == 4:
        q("UPDATE {ks}.t USING TIMESTAMP {ts} SET w = 'thirteen' " + row.format(k=13))
    # a wide partition: every layer writes over some of its rows
    for c1 in range(0, 41, 4 * n):
        q("UPDATE {ks}.t USING TIMESTAMP {ts} SET v = " + str(1000 * n + c1) +
          " WHERE k = 20 AND k2 = 'w' AND c1 = " + str(c1) + " AND c2 = 'm'")


def test_overwrites_across_memtable_and_sstables_read_as_the_general_path(
        server: ServerProcess, session: Session, on_shards: list[_OnShard]) -> None:
    ks = _make_tables(session)
    sessions = [o.session for o in on_shards]
    flush = f"/storage_service/keyspace_flush/{ks}"
    ts = 1_000_000
    _write_shapes(session, ks, ts)
    _layer(session, ks, ts, 1)
    _rest(server, flush)
    _layer(session, ks, ts + 10, 2)
    _rest(server, flush)
    _layer(session, ks, ts + 20, 3)
    _check(sessions, ks, "two sstables and a memtable")
    _layer(session, ks, ts + 20, 3)  # the same writes again: the memtable's version is a Mutation
    _check(sessions, ks, "two sstables and a memtable written twice")
    _rest(server, flush)
    _write_shapes(session, ks, ts + 5)  # older than layers 2 and 3, newer than layer 1
    _layer(session, ks, ts + 30, 4)
    answers = _check(sessions, ks, "three sstables and a memtable")

    def t_vw(k: int, k2: str = "a", c1: int = 1, c2: str = "x") -> list[Any]:
        return answers[(T_QUERIES[0], (k, k2, c1, c2))]

    assert t_vw(1) == [(4, "layer4")]
    assert t_vw(2) == [(9, "w4")]  # equal timestamps: 9 (layer 1) and "w4" (layer 4) are the largest
    assert t_vw(3) == [(None, "back")]  # (layer 3's v is older than layer 2's deletion)
    assert t_vw(6) == [(None, None)]  # layer 2's row deletion shadows the shapes' rewrite; the marker lives
    assert t_vw(9) == [(None, "nine")]  # (the shapes' rewrite of v is older than the range tombstone)
    assert t_vw(12, c1=5) == [] and t_vw(12) == []  # every write is older than the partition deletion
    assert t_vw(13) == [(130, "thirteen")]
    assert t_vw(20, "w", 0, "m") == [(4000, "")] and t_vw(20, "w", 40, "m") == [(2040, "m" * 40)]
    _rest(server, f"/storage_service/keyspace_compaction/{ks}")
    assert _check(sessions, ks, "compacted") == answers


def _overwrite(s: Session, ks: str, ts: int, n: int) -> None:
    """Layer `n` of overwrites of t's k 15..17 (row (1, 'x')), at `ts`: the plain overwrite of
    every column (k 15), an overwrite of v only, w left in layer 1 (k 16), and a row deletion in
    layer 3 between inserts (k 17)."""
    row = "k = {k} AND k2 = 'a' AND c1 = 1 AND c2 = 'x'"
    s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, v, w) VALUES (15, 'a', 1, 'x', {n}, 'l{n}') USING TIMESTAMP {ts}")
    if n == 1:
        s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, v, w) VALUES (16, 'a', 1, 'x', 1, 'only1') "
                  f"USING TIMESTAMP {ts}")
    else:
        s.execute(f"UPDATE {ks}.t USING TIMESTAMP {ts} SET v = {n} WHERE " + row.format(k=16))
    if n == 3:
        s.execute(f"DELETE FROM {ks}.t USING TIMESTAMP {ts} WHERE " + row.format(k=17))
    elif n == 4:
        s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, v) VALUES (17, 'a', 1, 'x', 4) USING TIMESTAMP {ts}")
    else:
        s.execute(f"INSERT INTO {ks}.t (k, k2, c1, c2, v, w) VALUES (17, 'a', 1, 'x', {n}, 'r{n}') "
                  f"USING TIMESTAMP {ts}")


def test_rows_overwritten_across_flushed_sstables_read_as_the_general_path(
        server: ServerProcess, session: Session, on_shards: list[_OnShard]) -> None:
    """Reads that stop at the newest sstables (`StorageEngine.read_row` in timestamp order) when
    each layer is flushed to its own sstable: with timestamps growing layer by layer (the newest
    sstable settles the row), and going backwards (the oldest sstable holds the newest data, and
    every newer sstable has older timestamps)."""
    sessions = [o.session for o in on_shards]
    for backwards in (False, True):
        ks = _make_tables(session)
        flush = f"/storage_service/keyspace_flush/{ks}"
        for n in range(1, 5):
            _overwrite(session, ks, 1_000_000 + (-10 if backwards else 10) * n, n)
            _rest(server, flush)
        answers = _check(sessions, ks, f"four sstables, backwards={backwards}")
        if backwards:  # layer 1 is the newest everywhere; layer 3's deletion shadows only layer 4
            assert _vw(answers, 15, 16, 17) == [[(1, "l1")], [(1, "only1")], [(1, "r1")]]
        else:
            assert _vw(answers, 15, 16, 17) == [[(4, "l4")], [(4, "only1")], [(4, None)]]
        # one more layer in the memtable, newer than everything
        _overwrite(session, ks, 2_000_000, 5)
        answers = _check(sessions, ks, f"four sstables and a memtable, backwards={backwards}")
        assert _vw(answers, 15, 16, 17) == [[(5, "l5")], [(5, "only1")], [(5, "r5")]]


def _vw(answers: dict[tuple[str, tuple[Any, ...]], list[Any]], *ks: int) -> list[list[Any]]:
    """The lane's (v, w) of t's rows (k, 'a', 1, 'x')."""
    return [answers[(T_QUERIES[0], (k, "a", 1, "x"))] for k in ks]
