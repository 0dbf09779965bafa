"""The request hot paths pinned against the general paths, end to end (real server, stock driver).

Several fast paths skip the general machinery for the common case, and a fast path is where
behaviour silently diverges, so each is checked here against what Cassandra's semantics require
and, where the statement allows it, against the same statement forced through the general path:

- plain writes (`ModificationPlan.is_plain_write` / `build_plain`, and for one row of one
  partition the write lane: `encode_plain` -> `StorageProxy.mutate_encoded`, codec bytes without
  Mutation objects, also across shards): INSERT/UPDATE of single-cell values, unconditional. The general twin of every plain statement is the same statement on a
  table with one more column, `x list<int>`, also set to null: a whole-collection assignment is not
  a plain set, so the twin goes through `build` -> `_write_cells` -> `_apply`, and a null
  collection is only a collection tombstone (it neither creates nor shows a row). Covers nulls
  (cell tombstones; only INSERT's row marker keeps an all-null row), unset values, TTLs (USING TTL,
  the table default, expiry), timestamps (writetime(), older loses), IN on the partition key and on
  the clustering key (each row its own cells), compound partition keys, static columns (never the
  plain path), and the error messages of missing clustering keys, empty and oversized keys;
- single-partition SELECT (`Restrictions.single_partition_key`, read directly instead of through
  the partition generator): every query shape with `k = ?` against `k IN ?` (the generator) and a
  model of the data; paging (the first page is the fast path, later pages resume through the
  generator) must join to exactly the unpaged result;
- both shards of an `--smp 2` node: connections bound to each shard (the shard-aware port picks the
  shard from the client's source port) write and read keys owned by both, so the fast paths run
  on the owning shard and on the other one; `token()` matches the driver's murmur3;
- eager request execution (`cql_server.start_eagerly`, answers written at the end of
  `data_received`): 200 concurrent requests on one connection mixing writes, reads, LWTs and
  counter updates (which suspend), plus 200 frames pipelined in one TCP write (through the
  project's client codec: the driver cannot be made to do that), on a commitlog-batch node
  (writes suspend) and a periodic one (they do not);
- the placement cache (per tablet-maps object): prepared statements executed across ALTER TABLE,
  DROP + re-CREATE of the table, and of its keyspace with another tablet count, from both shards.

Every test makes its own keyspace; only the eager-execution test starts a node of its own.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent
from cassandra.io.asyncioreactor import AsyncioConnection
from cassandra.murmur3 import murmur3
from cassandra.query import UNSET_VALUE, BoundStatement, SimpleStatement
from prometheus_client.parser import text_string_to_metric_families

from cql.protocol.client import ClientConnection, PreparedStatement, Received
from cql.protocol.responses import ErrorResponse, ResultPrepared, ResultRows
from tests.conftest import unique_keyspace
from tests.harness import ServerProcess

SHARDS = 2

# --- helpers -------------------------------------------------------------------------------------


def _ks(session: Session, initial_tablets: int | None = None) -> str:
    ks = unique_keyspace("fp")
    tablets = f" AND tablets = {{'initial': {initial_tablets}}}" if initial_tablets else ""
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', "
                    f"'replication_factor': 1}}{tablets}")
    return ks


def _rows(session: Session, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in session.execute(query, params)]


def _prepared_rows(session: Session, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in session.execute(session.prepare(query), params)]


def _connect(node: ServerProcess, port: int | None = None,
             connection_class: type[Any] = AsyncioConnection) -> tuple[Cluster, Session]:
    cluster = Cluster([node.host], port=port or node.cql_port, connection_class=connection_class,
                      protocol_version=4)
    return cluster, cluster.connect()


def _metric(node: ServerProcess, name: str) -> dict[int, float]:
    text = urllib.request.urlopen(f"http://{node.host}:{node.prometheus_port}/metrics", timeout=10).read().decode()
    out: dict[int, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[int(sample.labels["shard"])] = sample.value
    return out


def _shard_bound_connection(shard: int) -> type[Any]:
    """The driver's asyncio connection, binding its socket to a source port that the node's
    shard-aware port maps to `shard` (port % shards) before connecting."""

    class ShardBoundConnection(AsyncioConnection):  # type: ignore[misc]
        def _initiate_connection(self, sockaddr: Any) -> None:
            for _ in range(1000):
                port = random.randrange(40000 + shard, 60000, SHARDS)
                try:
                    self._socket.bind((sockaddr[0], port))
                except OSError:
                    continue
                self._socket.connect(sockaddr)
                return
            raise OSError("no free source port")

    return ShardBoundConnection


class _OnShard:
    """A driver session whose every connection (control and pool) is served by `shard`: checked
    with the node's per-shard count of accepted connections."""

    def __init__(self, node: ServerProcess, shard: int) -> None:
        before = _metric(node, "scylla_transport_cql_connections")
        self.cluster, self.session = _connect(node, node.shard_aware_port, _shard_bound_connection(shard))
        after = _metric(node, "scylla_transport_cql_connections")
        try:
            assert after[shard] >= before.get(shard, 0) + 2, (before, after)
            assert all(after[s] == before.get(s, 0) for s in range(SHARDS) if s != shard), (before, after)
        except AssertionError:
            self.close()
            raise

    def close(self) -> None:
        self.cluster.shutdown()


def _table_shards(session: Session, ks: str, table: str) -> set[int]:
    tid = session.execute("SELECT id FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
                          (ks, table)).one().id
    return {r.replicas[0][1] for r in session.execute("SELECT replicas FROM system.tablets WHERE table_id = %s",
                                                      (tid,))}


# --- plain writes against their general twin ---------------------------------------------------------

# The plain statement and its general twin: `x` (a non-frozen list, set to null) disables the plain path.
PLAIN = {"t": "p", "xc": "", "xv": "", "xs": ""}
GENERAL = {"t": "g", "xc": ", x", "xv": ", null", "xs": ", x = null"}


def _twins(session: Session, ks: str, columns: str, primary_key: str, options: str = "") -> None:
    for t, extra in (("p", ""), ("g", ", x list<int>")):
        session.execute(f"CREATE TABLE {ks}.{t} ({columns}{extra}, PRIMARY KEY ({primary_key})){options}")


def _both(session: Session, ks: str, template: str, params: Sequence[Any] = (), prepared: bool = True) -> None:
    """Run `template` as the plain statement and as its general twin."""
    for variant in (PLAIN, GENERAL):
        query = template.format(ks=ks, **variant)
        if prepared:
            session.execute(session.prepare(query), params)
        else:
            session.execute(query, params or None)


def _exactly(message: str) -> str:
    """A `pytest.raises` pattern for a server error whose message is exactly `message`."""
    return re.escape(f'message="{message}"')


def _both_fail(session: Session, ks: str, template: str, params: Sequence[Any], message: str,
               literal: bool = True) -> None:
    """Both twins, prepared (and as literals unless not `literal`), fail with exactly `message`."""
    for variant in (PLAIN, GENERAL):
        query = template.format(ks=ks, **variant)
        with pytest.raises(InvalidRequest, match=_exactly(message)):
            session.execute(session.prepare(query), params)
        if literal:
            with pytest.raises(InvalidRequest, match=_exactly(message)):
                session.execute(query.replace("?", "%s"), params)


def _both_fail_raw(session: Session, ks: str, template: str, values: list[Any], message: str) -> None:
    """Both twins, prepared and executed with `values` as sent (serialized bytes, None or
    UNSET_VALUE, which the driver will not bind to a partition key itself), fail with `message`."""
    for variant in (PLAIN, GENERAL):
        ps = session.prepare(template.format(ks=ks, **variant))
        ps.routing_key_indexes = None  # the driver cannot hash an unset key for routing
        bound = BoundStatement(ps)
        bound.values = values
        with pytest.raises(InvalidRequest, match=_exactly(message)):
            session.execute(bound)


def _dump(session: Session, ks: str, columns: str = "k, c, v, w") -> list[tuple[Any, ...]]:
    """The rows of the plain table, after checking the general twin holds the same."""
    plain = sorted(_rows(session, f"SELECT {columns} FROM {ks}.p"))
    general = sorted(_rows(session, f"SELECT {columns} FROM {ks}.g"))
    assert plain == general, "plain and general write paths diverge"
    return plain


def test_null_values_write_cell_tombstones_and_only_insert_keeps_the_row(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k int, c int, v int, w text", "k, c")
    ins = "INSERT INTO {ks}.{t} (k, c, v, w{xc}) VALUES (?, ?, ?, ?{xv})"
    upd = "UPDATE {ks}.{t} SET v = ?, w = ?{xs} WHERE k = ? AND c = ?"
    _both(session, ks, ins, (1, 1, 10, "a"))
    _both(session, ks, ins, (1, 1, None, "b"))                  # v deleted, w overwritten
    _both(session, ks, ins, (1, 2, None, None))                 # all null: the marker keeps the row
    _both(session, ks, upd, (None, None, 1, 3))                 # all null UPDATE: no row
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k = ? AND c = ?", (5, 1, 4))
    assert _dump(session, ks) == [(1, 1, None, "b"), (1, 2, None, None), (1, 4, 5, None)]
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k = ? AND c = ?", (None, 1, 4))
    assert _dump(session, ks) == [(1, 1, None, "b"), (1, 2, None, None)]  # UPDATE's row had no marker
    # Literals (unprepared statements) too.
    _both(session, ks, "INSERT INTO {ks}.{t} (k, c, v, w{xc}) VALUES (2, 1, null, null{xv})", prepared=False)
    _both(session, ks, "UPDATE {ks}.{t} SET v = null{xs} WHERE k = 2 AND c = 2", prepared=False)
    _both(session, ks, "UPDATE {ks}.{t} SET v = 7{xs} WHERE k = 2 AND c = 3", prepared=False)
    _both(session, ks, "INSERT INTO {ks}.{t} (k, c, w{xc}) VALUES (2, 3, 'x'{xv})", prepared=False)
    assert _dump(session, ks) == [(1, 1, None, "b"), (1, 2, None, None), (2, 1, None, None), (2, 3, 7, "x")]
    for t in ("p", "g"):
        assert _rows(session, f"SELECT v, w FROM {ks}.{t} WHERE k = 1 AND c = 1") == [(None, "b")]
        assert _rows(session, f"SELECT COUNT(*) FROM {ks}.{t} WHERE k = 1") == [(2,)]


def test_unset_values_leave_the_old_cells(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k int, c int, v int, w text, b blob, n varint", "k, c")
    ins = "INSERT INTO {ks}.{t} (k, c, v, w, b, n{xc}) VALUES (?, ?, ?, ?, ?, ?{xv})"
    upd = "UPDATE {ks}.{t} SET v = ?, w = ?, b = ?, n = ?{xs} WHERE k = ? AND c = ?"
    cols = "k, c, v, w, b, n"
    _both(session, ks, ins, (1, 1, 1, "a", b"\x00\xff", 10**30))
    _both(session, ks, ins, (1, 1, UNSET_VALUE, "b", UNSET_VALUE, -1))
    _both(session, ks, upd, (2, UNSET_VALUE, b"", UNSET_VALUE, 1, 1))
    assert _dump(session, ks, cols) == [(1, 1, 2, "b", b"", -1)]
    # Everything unset: INSERT still writes its row marker, UPDATE writes nothing.
    _both(session, ks, ins, (1, 2, UNSET_VALUE, UNSET_VALUE, UNSET_VALUE, UNSET_VALUE))
    _both(session, ks, upd, (UNSET_VALUE, UNSET_VALUE, UNSET_VALUE, UNSET_VALUE, 1, 3))
    assert _dump(session, ks, cols) == [(1, 1, 2, "b", b"", -1), (1, 2, None, None, None, None)]
    # Null blob / varint values (their bind getters skip validation) are cell tombstones.
    _both(session, ks, upd, (UNSET_VALUE, UNSET_VALUE, None, None, 1, 1))
    assert _dump(session, ks, cols) == [(1, 1, 2, "b", None, None), (1, 2, None, None, None, None)]
    # An unset TTL is the table default (none here); an unset key is an error.
    _both(session, ks, "INSERT INTO {ks}.{t} (k, c, v{xc}) VALUES (?, ?, ?{xv}) USING TTL ?", (1, 3, 3, UNSET_VALUE))
    for t in ("p", "g"):
        assert _rows(session, f"SELECT v, ttl(v) FROM {ks}.{t} WHERE k = 1 AND c = 3") == [(3, None)]
    one = struct.pack(">i", 1)
    _both_fail_raw(session, ks, upd, [one, b"x", b"", b"\x01", UNSET_VALUE, one], "Invalid unset value for column k")
    _both_fail(session, ks, upd, (1, "x", b"", 1, 1, UNSET_VALUE), "Invalid unset value for column c",
               literal=False)


def test_blob_and_varint_bind_values_skip_validation_but_other_types_do_not(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k varint, c blob, v int, b blob, n varint", "k, c")
    big = b"\x7f" + b"\x00" * 39
    for variant in (PLAIN, GENERAL):
        ps = session.prepare("INSERT INTO {ks}.{t} (k, c, v, b, n{xc}) VALUES (?, ?, ?, ?, ?{xv})".format(
            ks=ks, **variant))
        for raw_k, raw_c, raw_n in ((b"\x80", b"\xff", b"\xff\x00"), (b"\x00\x01", b"\x00", big),
                                    (b"\x01", b"\x00", b"\x01")):
            bound = BoundStatement(ps)
            bound.values = [raw_k, raw_c, struct.pack(">i", 7), raw_c * 3, raw_n]
            session.execute(bound)
        bad = BoundStatement(ps)
        bad.values = [b"\x02", b"c", b"\x00\x01", b"", b""]  # 2 bytes for an int
        with pytest.raises(InvalidRequest, match="Exception while binding column v"):
            session.execute(bad)
    # Key bytes are kept as sent: b"\x00\x01" and b"\x01" (both 1) are two partitions, as in Cassandra.
    assert _dump(session, ks, "k, c, v, b, n") == [
        (-128, b"\xff", 7, b"\xff" * 3, -256),
        (1, b"\x00", 7, b"\x00" * 3, 1),
        (1, b"\x00", 7, b"\x00" * 3, int.from_bytes(big, "big")),
    ]
    for t in ("p", "g"):  # the driver sends 1 as b"\x01"
        assert _prepared_rows(session, f"SELECT n FROM {ks}.{t} WHERE k = ?", (1,)) == [(1,)]


def test_ttls_using_the_table_default_and_expiry(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k int, c int, v int, w text", "k, c", " WITH default_time_to_live = 100")
    ins = "INSERT INTO {ks}.{t} (k, c, v, w{xc}) VALUES (?, ?, ?, ?{xv})"
    _both(session, ks, ins + " USING TTL 50", (1, 1, 1, "a"))
    _both(session, ks, ins, (1, 2, 2, "b"))                                # the table default
    _both(session, ks, ins + " USING TTL 0", (1, 3, 3, "c"))               # 0: no TTL at all
    _both(session, ks, ins + " USING TTL ?", (1, 4, 4, "d", 1000))
    _both(session, ks, "UPDATE {ks}.{t} USING TTL 70 SET v = ?{xs} WHERE k = ? AND c = ?", (5, 1, 5))
    for t in ("p", "g"):
        got = {r[0]: (r[1], r[2]) for r in _rows(session, f"SELECT c, ttl(v), ttl(w) FROM {ks}.{t} WHERE k = 1")}
        assert set(got) == {1, 2, 3, 4, 5}
        assert 45 <= got[1][0] <= 50 and 45 <= got[1][1] <= 50
        assert 95 <= got[2][0] <= 100
        assert got[3] == (None, None)
        assert 995 <= got[4][0] <= 1000
        assert 65 <= got[5][0] <= 70 and got[5][1] is None
    # Expiry: a TTL'd INSERT takes its row marker with it; a TTL'd UPDATE leaves the rest of the row.
    # (TTL 2, not 1: expiry is counted in whole seconds, so a 1 s TTL may end at once.)
    _both(session, ks, ins + " USING TTL 0", (2, 1, 1, "stays"))
    _both(session, ks, "UPDATE {ks}.{t} USING TTL 2 SET v = ?{xs} WHERE k = ? AND c = ?", (9, 2, 1))
    _both(session, ks, ins + " USING TTL 2", (2, 2, 2, "goes"))
    _both(session, ks, ins + " USING TTL 2", (2, 3, None, None))           # all-null row, expiring marker
    _both(session, ks, "UPDATE {ks}.{t} USING TTL 2 SET v = ?{xs} WHERE k = ? AND c = ?", (4, 2, 4))
    assert _dump(session, ks, "k, c, v, w") == [
        (1, 1, 1, "a"), (1, 2, 2, "b"), (1, 3, 3, "c"), (1, 4, 4, "d"), (1, 5, 5, None),
        (2, 1, 9, "stays"), (2, 2, 2, "goes"), (2, 3, None, None), (2, 4, 4, None),
    ]
    time.sleep(3.1)
    assert [r for r in _dump(session, ks, "k, c, v, w") if r[0] == 2] == [(2, 1, None, "stays")]


def test_timestamps_writetime_and_older_writes_lose(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k int, c int, v int, w text", "k, c")
    ins = "INSERT INTO {ks}.{t} (k, c, v, w{xc}) VALUES (?, ?, ?, ?{xv}) USING TIMESTAMP ?"
    upd = "UPDATE {ks}.{t} USING TIMESTAMP ? SET v = ?{xs} WHERE k = ? AND c = ?"
    _both(session, ks, ins, (1, 1, 10, "a", 1000))
    _both(session, ks, ins, (1, 1, 11, "b", 999))        # older: loses
    _both(session, ks, upd, (1001, 12, 1, 1))            # newer: wins
    _both(session, ks, upd, (1001, 13, 1, 1))            # tie: the larger value wins
    _both(session, ks, upd, (1001, 2, 1, 1))
    _both(session, ks, upd, (500, None, 1, 1))           # an older null does not delete
    for t in ("p", "g"):
        assert _rows(session, f"SELECT v, w, writetime(v), writetime(w) FROM {ks}.{t} WHERE k = 1 AND c = 1") \
            == [(13, "a", 1001, 1000)]
    _both(session, ks, upd, (2000, None, 1, 1))          # a newer null does
    for t in ("p", "g"):
        assert _rows(session, f"SELECT v, w, writetime(w) FROM {ks}.{t} WHERE k = 1 AND c = 1") \
            == [(None, "a", 1000)]
    # The row marker carries the INSERT's timestamp: an older row deletion does not remove the row.
    _both(session, ks, ins, (2, 1, None, None, 3000))
    for t in ("p", "g"):
        session.execute(f"DELETE FROM {ks}.{t} USING TIMESTAMP 2999 WHERE k = 2 AND c = 1")
    assert (2, 1, None, None) in _dump(session, ks)
    for t in ("p", "g"):
        session.execute(f"DELETE FROM {ks}.{t} USING TIMESTAMP 3001 WHERE k = 2 AND c = 1")
    assert (2, 1, None, None) not in _dump(session, ks)
    # USING TIMESTAMP and TTL together, bound.
    _both(session, ks, "INSERT INTO {ks}.{t} (k, c, v{xc}) VALUES (?, ?, ?{xv}) USING TIMESTAMP ? AND TTL ?",
          (3, 1, 1, 5000, 600))
    for t in ("p", "g"):
        (wt, ttl), = _rows(session, f"SELECT writetime(v), ttl(v) FROM {ks}.{t} WHERE k = 3 AND c = 1")
        assert wt == 5000 and 590 <= ttl <= 600


def test_in_on_the_partition_key_writes_every_partition(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k int, c int, v int, w text", "k, c")
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?, w = ?{xs} WHERE k IN (1, 2, 3, 2) AND c = 1", (7, "a"))
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k IN ? AND c = ?", (8, [4, 5, 4], 1))
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k IN (?, ?) AND c = 2", (9, 6, 6))
    assert _dump(session, ks) == [(1, 1, 7, "a"), (2, 1, 7, "a"), (3, 1, 7, "a"), (4, 1, 8, None),
                                  (5, 1, 8, None), (6, 2, 9, None)]
    # Each partition got its own row: a later write to one leaves the others alone.
    _both(session, ks, "UPDATE {ks}.{t} SET w = ?{xs} WHERE k = ? AND c = ?", ("b", 2, 1))
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k IN (3, 4) AND c = 1", (None,))
    assert _dump(session, ks) == [(1, 1, 7, "a"), (2, 1, 7, "b"), (3, 1, None, "a"), (5, 1, 8, None),
                                  (6, 2, 9, None)]


def test_in_on_the_clustering_key_writes_independent_rows(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k int, c int, v int, w text", "k, c")
    # The partitions exist before (a second write makes the memtable keep the partition as objects
    # merged into in place): rows sharing one cell dict would show each other's later writes.
    _both(session, ks, "INSERT INTO {ks}.{t} (k, c, v{xc}) VALUES (?, 0, 0{xv})", (1,))
    _both(session, ks, "INSERT INTO {ks}.{t} (k, c, v{xc}) VALUES (?, 0, 0{xv})", (2,))
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?, w = ?{xs} WHERE k = 1 AND c IN (1, 2, 3)", (1, "a"))
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k IN (1, 2) AND c IN ?", (2, [5, 6]))
    _both(session, ks, "UPDATE {ks}.{t} SET w = ?{xs} WHERE k = 1 AND c = 2", ("changed",))
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k = 1 AND c = 3", (None,))
    _both(session, ks, "UPDATE {ks}.{t} SET w = ?{xs} WHERE k = 2 AND c = 6", ("six",))
    _both(session, ks, "UPDATE {ks}.{t} USING TTL 1000 SET v = ?{xs} WHERE k = 1 AND c = 5", (50,))
    assert _dump(session, ks) == [
        (1, 0, 0, None), (1, 1, 1, "a"), (1, 2, 1, "changed"), (1, 3, None, "a"), (1, 5, 50, None),
        (1, 6, 2, None), (2, 0, 0, None), (2, 5, 2, None), (2, 6, 2, "six"),
    ]
    for t in ("p", "g"):
        ttls = {(k, c): ttl for k, c, ttl in _rows(session, f"SELECT k, c, ttl(v) FROM {ks}.{t} WHERE k IN (1, 2)")}
        assert ttls[(1, 1)] is None and ttls[(1, 6)] is None and ttls[(2, 5)] is None
        assert 990 <= ttls[(1, 5)] <= 1000
    # Two clustering columns: IN on both is a cartesian product.
    ks2 = _ks(session)
    _twins(session, ks2, "k int, c int, d text, v int, w text", "k, c, d")
    _both(session, ks2, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k = 1 AND c IN (1, 2) AND d IN ('x', 'y')", (3,))
    _both(session, ks2, "UPDATE {ks}.{t} SET w = ?{xs} WHERE k = 1 AND c = 2 AND d = 'x'", ("one",))
    assert _dump(session, ks2, "k, c, d, v, w") == [(1, 1, "x", 3, None), (1, 1, "y", 3, None),
                                                    (1, 2, "x", 3, "one"), (1, 2, "y", 3, None)]


def test_compound_partition_keys(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "a int, b text, c int, v int", "(a, b), c")
    ins = "INSERT INTO {ks}.{t} (a, b, c, v{xc}) VALUES (?, ?, ?, ?{xv})"
    for a in range(6):
        _both(session, ks, ins, (a, f"b{a}", 1, a))
    _both(session, ks, ins, (9, "", 1, 99))    # an empty component is allowed in a compound key
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE a IN (0, 1) AND b = 'b0' AND c = 2", (10,))
    _both(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE a = ? AND b IN ? AND c = 2", (20, 2, ["b2", "zz"]))
    assert _dump(session, ks, "a, b, c, v") == sorted(
        [(a, f"b{a}", 1, a) for a in range(6)]
        + [(9, "", 1, 99), (0, "b0", 2, 10), (1, "b0", 2, 10), (2, "b2", 2, 20), (2, "zz", 2, 20)])
    everything = _dump(session, ks, "a, b, c, v")
    for t in ("p", "g"):
        sel = session.prepare(f"SELECT c, v, token(a, b) FROM {ks}.{t} WHERE a = ? AND b = ?")
        for a, b in [(a, f"b{a}") for a in range(6)] + [(9, ""), (1, "b0"), (7, "missing")]:
            got = [tuple(r) for r in session.execute(sel, (a, b))]
            key = b"".join(struct.pack(">H", len(p)) + p + b"\x00" for p in (struct.pack(">i", a), b.encode()))
            assert all(tok == murmur3(key) for _, _, tok in got), (a, b)
            assert [(c, v) for c, v, _ in got] == [(c, v) for (a2, b2, c, v) in everything if (a2, b2) == (a, b)]
        with pytest.raises(InvalidRequest, match="Some partition key parts are missing: b"):
            session.execute(f"UPDATE {ks}.{t} SET v = 1 WHERE a = 1 AND c = 1")


def test_assigning_a_column_twice_in_one_update_is_rejected_as_cassandra_does(session: Session) -> None:
    # A whole-column assignment is incompatible with any other update of that column in the same
    # statement; element updates and additions of one column combine.
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v int, l list<int>, m map<int, int>)")
    for stmt in (f"UPDATE {ks}.t SET v = 1, v = 2 WHERE k = 0",
                 f"UPDATE {ks}.t SET l = [1], l = l + [2] WHERE k = 0",
                 f"UPDATE {ks}.t SET m[1] = 1, m = {{2: 2}} WHERE k = 0"):
        col = stmt.split("SET ", 1)[1][0]
        with pytest.raises(InvalidRequest, match=_exactly(f"Multiple incompatible setting of column {col}")):
            session.execute(stmt)
    session.execute(f"UPDATE {ks}.t SET l = l + [1], l = l + [2], m[1] = 1, m[2] = 2 WHERE k = 0")
    assert list(session.execute(f"SELECT l, m FROM {ks}.t WHERE k = 0")) == [([1, 2], {1: 1, 2: 2})]


def test_static_columns_take_the_general_path_and_stay_correct(session: Session) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, s text static, v int, PRIMARY KEY (k, c))")
    q = f"SELECT k, c, s, v FROM {ks}.t WHERE k = ?"
    ins = session.prepare(f"INSERT INTO {ks}.t (k, c, s, v) VALUES (?, ?, ?, ?)")
    session.execute(ins, (1, 1, "s1", 1))                                             # general
    session.execute(f"INSERT INTO {ks}.t (k, s) VALUES (2, 's2')")                   # static only
    session.execute(session.prepare(f"UPDATE {ks}.t SET s = ? WHERE k = ?"), ("s3", 3))
    session.execute(session.prepare(f"UPDATE {ks}.t SET s = ?, v = ? WHERE k = ? AND c = ?"), ("x", 5, 1, 2))
    session.execute(session.prepare(f"UPDATE {ks}.t SET v = ? WHERE k = ? AND c = ?"), (7, 1, 1))  # plain
    session.execute(session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)"), (1, 3, None))  # plain
    session.execute(session.prepare(f"UPDATE {ks}.t SET v = ? WHERE k = ? AND c = ?"), (None, 1, 4))   # no row
    assert _prepared_rows(session, q, (1,)) == [(1, 1, "x", 7), (1, 2, "x", 5), (1, 3, "x", None)]
    assert _prepared_rows(session, q, (2,)) == [(2, None, "s2", None)]
    assert _prepared_rows(session, q, (3,)) == [(3, None, "s3", None)]
    assert _prepared_rows(session, q + " AND c = 1", (2,)) == []
    assert _prepared_rows(session, f"SELECT COUNT(*) FROM {ks}.t WHERE k = ?", (2,)) == [(1,)]
    assert sorted(_rows(session, f"SELECT DISTINCT k, s FROM {ks}.t")) == [(1, "x"), (2, "s2"), (3, "s3")]
    # An INSERT naming the static column (general path) with null deletes the partition's static cell.
    session.execute(ins, (2, 1, None, 8))
    assert _prepared_rows(session, q, (2,)) == [(2, 1, None, 8)]
    with pytest.raises(InvalidRequest, match=_exactly("Missing mandatory PRIMARY KEY part c")):
        session.execute(session.prepare(f"UPDATE {ks}.t SET s = ?, v = ? WHERE k = ?"), ("a", 1, 1))
    with pytest.raises(InvalidRequest, match=_exactly("Some clustering keys are missing: c")):
        session.execute(session.prepare(f"INSERT INTO {ks}.t (k, s, v) VALUES (?, ?, ?)"), (1, "a", 1))


def test_write_errors_match_the_general_path(session: Session) -> None:
    ks = _ks(session)
    _twins(session, ks, "k int, c int, d int, v int", "k, c, d")
    _both_fail(session, ks, "INSERT INTO {ks}.{t} (k, v{xc}) VALUES (?, ?{xv})", (1, 1),
               "Some clustering keys are missing: c")
    _both_fail(session, ks, "INSERT INTO {ks}.{t} (k, c, v{xc}) VALUES (?, ?, ?{xv})", (1, 1, 1),
               "Some clustering keys are missing: d")
    _both_fail(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k = ?", (1, 1),
               "Missing mandatory PRIMARY KEY part c")
    _both_fail(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k = ? AND c = ?", (1, 1, 1),
               "Missing mandatory PRIMARY KEY part d")
    _both_fail(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k IN (1, 2) AND c = ?", (1, 1),
               "Missing mandatory PRIMARY KEY part d")
    _both_fail(session, ks, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k = ? AND c = ? AND d = ?", (1, None, 1, 1),
               "Invalid null value in condition for column k")
    _both_fail(session, ks, "INSERT INTO {ks}.{t} (k, c, d, v{xc}) VALUES (?, ?, ?, ?{xv}) USING TTL ?",
               (1, 1, 1, 1, -1), "A TTL must be greater or equal to 0, but was -1")
    assert _dump(session, ks, "k, c, d, v") == []

    ks2 = _ks(session)
    _twins(session, ks2, "k text, v int", "k")
    session.execute(f"CREATE TABLE {ks2}.bk (k blob PRIMARY KEY, v int)")
    for template, params in (("INSERT INTO {ks}.{t} (k, v{xc}) VALUES (?, ?{xv})", ("", 1)),
                             ("UPDATE {ks}.{t} SET v = ?{xs} WHERE k = ?", (1, "")),
                             ("UPDATE {ks}.{t} SET v = ?{xs} WHERE k IN (?, 'a')", (1, ""))):
        _both_fail(session, ks2, template, params, "Key may not be empty")
    with pytest.raises(InvalidRequest, match=_exactly("Key may not be empty")):
        session.execute(session.prepare(f"INSERT INTO {ks2}.bk (k, v) VALUES (?, ?)"), (b"", 1))
    big = "k" * 65536
    _both_fail(session, ks2, "INSERT INTO {ks}.{t} (k, v{xc}) VALUES (?, ?{xv})", (big, 1),
               "Key length of 65536 is longer than maximum of 65535")
    _both_fail(session, ks2, "UPDATE {ks}.{t} SET v = ?{xs} WHERE k IN ('a', ?)", (1, big),
               "Key length of 65536 is longer than maximum of 65535")
    assert _dump(session, ks2, "k, v") == []
    # The largest key is fine, and reads back through the single-partition read.
    _both(session, ks2, "INSERT INTO {ks}.{t} (k, v{xc}) VALUES (?, ?{xv})", (big[:-1], 3))
    for t in ("p", "g"):
        assert _prepared_rows(session, f"SELECT v FROM {ks2}.{t} WHERE k = ?", (big[:-1],)) == [(3,)]
        assert _prepared_rows(session, f"SELECT v FROM {ks2}.{t} WHERE k = ?", ("",)) == []


# --- single-partition SELECT ---------------------------------------------------------------------

# The partition model: key -> (static value, {c: v}). Rows are written with timestamp 1000 + c.
Model = dict[int, tuple[int | None, dict[int, int]]]
Rows = list[tuple[Any, ...]]


def _clustered(m: Model, k: int, keep: Callable[[int], bool] | None = None, desc: bool = False,
               cap: int | None = None) -> Rows:
    """(c, v) of partition `k`'s rows with a clustering key kept by `keep` (None: the query does
    not restrict clustering columns; only then does a static-only partition show, as one row of
    nulls), in clustering order or `desc`, the first `cap`."""
    if k not in m:
        return []
    static, rows = m[k]
    if not rows:
        return [(None, None)] if static is not None and keep is None else []
    out = [(c, rows[c]) for c in sorted(rows, reverse=desc) if keep is None or keep(c)]
    return out[:cap] if cap is not None else out


SHAPES: list[tuple[str, Callable[[Model, int], Rows]]] = [
    ("SELECT c, v FROM {t} WHERE {pk}", lambda m, k: _clustered(m, k)),
    ("SELECT c, v FROM {t} WHERE {pk} LIMIT 3", lambda m, k: _clustered(m, k, cap=3)),
    ("SELECT c, v FROM {t} WHERE {pk} PER PARTITION LIMIT 4", lambda m, k: _clustered(m, k, cap=4)),
    ("SELECT c, v FROM {t} WHERE {pk} PER PARTITION LIMIT 4 LIMIT 2", lambda m, k: _clustered(m, k, cap=2)),
    ("SELECT c, v FROM {t} WHERE {pk} AND c > 2 AND c <= 6", lambda m, k: _clustered(m, k, lambda c: 2 < c <= 6)),
    ("SELECT c, v FROM {t} WHERE {pk} AND c >= 3 ORDER BY c DESC",
     lambda m, k: _clustered(m, k, lambda c: c >= 3, desc=True)),
    ("SELECT c, v FROM {t} WHERE {pk} ORDER BY c DESC LIMIT 4", lambda m, k: _clustered(m, k, desc=True, cap=4)),
    ("SELECT c, v FROM {t} WHERE {pk} AND c < 5 ORDER BY c DESC PER PARTITION LIMIT 2",
     lambda m, k: _clustered(m, k, lambda c: c < 5, desc=True, cap=2)),
    ("SELECT c, v FROM {t} WHERE {pk} AND c IN (7, 1, 5)", lambda m, k: _clustered(m, k, lambda c: c in (1, 5, 7))),
    ("SELECT c, v FROM {t} WHERE {pk} AND c = 1", lambda m, k: _clustered(m, k, lambda c: c == 1)),
    ("SELECT c, v FROM {t} WHERE {pk} AND v > 50 ALLOW FILTERING",
     lambda m, k: [r for r in _clustered(m, k) if r[1] is not None and r[1] > 50]),
    ("SELECT k, c, s, v FROM {t} WHERE {pk}",
     lambda m, k: [(k, c, m[k][0], v) for c, v in _clustered(m, k)]),
    ("SELECT DISTINCT k, s FROM {t} WHERE {pk}", lambda m, k: [(k, m[k][0])] if k in m else []),
    ("SELECT COUNT(*), max(v), min(c) FROM {t} WHERE {pk}",
     lambda m, k: [(len(r), max((v for _, v in r if v is not None), default=None),
                    min((c for c, _ in r if c is not None), default=None)) for r in [_clustered(m, k)]]),
    ("SELECT writetime(v), v FROM {t} WHERE {pk} AND c >= 8",
     lambda m, k: [(1000 + c, v) for c, v in _clustered(m, k, lambda c: c >= 8)]),
]


def _write_model(session: Session, ks: str, m: Model) -> None:
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, s int static, v int, PRIMARY KEY (k, c))")
    row = session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?) USING TIMESTAMP ?")
    static = session.prepare(f"UPDATE {ks}.t SET s = ? WHERE k = ?")
    for k, (s, rows) in m.items():
        if s is not None:
            session.execute(static, (s, k))
        for c, v in rows.items():
            session.execute(row, (k, c, v, 1000 + c))


def _model() -> Model:
    m: Model = {1: (7, {c: c * 10 for c in range(10)}), 2: (8, {}), 3: (None, {0: 0, 1: 1, 2: 2})}
    for k in range(10, 26):  # more keys, so that both shards own some
        m[k] = (k if k % 3 else None, {c: k * 100 + c for c in range(k % 7)} if k % 5 else {})
    return {k: p for k, p in m.items() if p[0] is not None or p[1]}  # an empty partition does not exist


def test_single_partition_select_matches_the_partition_generator_and_the_model(session: Session) -> None:
    ks = _ks(session)
    m = _model()
    _write_model(session, ks, m)
    assert _table_shards(session, ks, "t") == set(range(SHARDS))
    for shape, expected in SHAPES:
        fast = session.prepare(shape.format(t=f"{ks}.t", pk="k = ?"))
        general = session.prepare(shape.format(t=f"{ks}.t", pk="k IN ?"))
        literal = shape.format(t=f"{ks}.t", pk="k = {}")
        for k in [*m, 99]:
            want = expected(m, k)
            assert [tuple(r) for r in session.execute(fast, (k,))] == want, (shape, k)
            assert [tuple(r) for r in session.execute(general, ([k],))] == want, (shape, k)
            assert _rows(session, literal.format(k)) == want, (shape, k)
    # ttl() through both paths.
    session.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES (1, 3, 30) USING TTL 1000 AND TIMESTAMP 1003")
    for pk, arg in (("k = ?", 1), ("k IN ?", [1])):
        (wt, ttl), = _prepared_rows(session, f"SELECT writetime(v), ttl(v) FROM {ks}.t WHERE {pk} AND c = 3", (arg,))
        assert wt == 1003 and 990 <= ttl <= 1000


def _pages(session: Session, query: str, fetch_size: int, params: Sequence[Any] | None = None) -> list[Rows]:
    rs = session.execute(SimpleStatement(query, fetch_size=fetch_size), params)
    pages = [[tuple(r) for r in rs.current_rows]]
    while rs.has_more_pages:
        rs.fetch_next_page()
        pages.append([tuple(r) for r in rs.current_rows])
    return pages


def test_paged_single_partition_pages_join_to_the_unpaged_result(session: Session) -> None:
    ks = _ks(session)
    m = _model()
    for c in range(10, 23):
        m[1][1][c] = c * 10
    _write_model(session, ks, m)
    suffixes = ["", " ORDER BY c DESC", " PER PARTITION LIMIT 7", " LIMIT 8", " AND c >= 2 ORDER BY c DESC LIMIT 5",
                " AND c IN (0, 2, 4, 6, 8)", " AND v > 1000 ALLOW FILTERING"]
    for suffix in suffixes:
        prepared = session.prepare(f"SELECT k, c, s, v FROM {ks}.t WHERE k = ?{suffix}")
        for k in [1, 2, 3, 12, 13, 14, 16, 17, 99]:
            query = f"SELECT k, c, s, v FROM {ks}.t WHERE k = {k}{suffix}"
            full = _rows(session, query)
            assert full == _rows(session, query.replace(f"k = {k}", f"k IN ({k}, {k})")), query
            for fetch_size in (1, 3, 5, 23, 24):
                pages = _pages(session, query, fetch_size)
                assert [r for p in pages for r in p] == full, (query, fetch_size, pages)
                assert all(len(p) == fetch_size for p in pages[:-1]), (query, fetch_size, pages)
                assert len(pages[-1]) <= fetch_size
                # The prepared form pages the same way.
                bound = prepared.bind((k,))
                bound.fetch_size = fetch_size
                assert [tuple(r) for r in session.execute(bound)] == full, (query, fetch_size)
    # DISTINCT pages by partition.
    assert _pages(session, f"SELECT DISTINCT k FROM {ks}.t WHERE k = 1", 1) == [[(1,)]]


# --- both shards ---------------------------------------------------------------------------------


def test_fast_paths_on_both_shards_for_keys_of_both_shards(server: ServerProcess, session: Session,
                                                            on_shards: list[_OnShard]) -> None:
    ks = _ks(session)
    session.execute(f"CREATE TABLE {ks}.t (k bigint, c int, v text, PRIMARY KEY (k, c))")
    session.execute(f"CREATE TABLE {ks}.b (k blob PRIMARY KEY, v int)")
    hops_before = _metric(server, "scylla_storage_proxy_replica_cross_shard_ops")
    assert _table_shards(session, ks, "t") == set(range(SHARDS))
    rng = random.Random(7)
    keys = [rng.randrange(-(2**63), 2**63) for _ in range(60)] + [0, -1, 1, 2**63 - 1, -(2**63) + 1]
    sessions = [o.session for o in on_shards]
    ins = [s.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)") for s in sessions]
    upd = [s.prepare(f"UPDATE {ks}.t SET v = ? WHERE k IN ? AND c = ?") for s in sessions]
    blob_ins = [s.prepare(f"INSERT INTO {ks}.b (k, v) VALUES (?, ?)") for s in sessions]
    for i, k in enumerate(keys):  # each key written from both shards, one row from each
        sessions[i % SHARDS].execute(ins[i % SHARDS], (k, 1, f"a{i}"))
        sessions[(i + 1) % SHARDS].execute(upd[(i + 1) % SHARDS], (f"b{i}", [k], 2))
        sessions[i % SHARDS].execute(f"INSERT INTO {ks}.t (k, c, v) VALUES ({k}, 3, 'c{i}')")
    # Every tail length of murmur3's 16-byte blocks, random bytes, and tails whose high bytes are
    # all in their first 8-byte word (the single-mmh3-call path) or all past it.
    blobs = [bytes(rng.randrange(256) for _ in range(n)) for n in range(1, 41)]
    blobs += [b"\xff" * 8 + b"\x01" * (n - 8) for n in (9, 12, 15, 24, 31)]
    blobs += [b"\x01" * 8 + b"\x80" * (n - 8) for n in (9, 15, 25, 31)]
    blobs += [b"\x7f" * n for n in (1, 8, 16)]
    for i, b in enumerate(blobs):
        sessions[i % SHARDS].execute(blob_ins[i % SHARDS], (b, i))
    for shard, s in enumerate(sessions):
        by_key = s.prepare(f"SELECT c, v, token(k) FROM {ks}.t WHERE k = ?")
        for i, k in enumerate(keys):
            rows = [tuple(r) for r in s.execute(by_key, (k,))]
            assert [(c, v) for c, v, _ in rows] == [(1, f"a{i}"), (2, f"b{i}"), (3, f"c{i}")], (shard, k)
            assert {t for _, _, t in rows} == {murmur3(struct.pack(">q", k))}, k
            assert [tuple(r) for r in s.execute(SimpleStatement(f"SELECT c FROM {ks}.t WHERE k = {k}",
                                                                fetch_size=1))] == [(1,), (2,), (3,)]
            assert _rows(s, f"SELECT COUNT(*) FROM {ks}.t WHERE k = {k} AND c >= 2") == [(2,)]
        blob_key = s.prepare(f"SELECT v, token(k) FROM {ks}.b WHERE k = ?")
        for i, b in enumerate(blobs):
            assert [tuple(r) for r in s.execute(blob_key, (b,))] == [(i, murmur3(b))], (shard, b)
        assert sorted(r.k for r in s.execute(f"SELECT DISTINCT k FROM {ks}.t")) == sorted(keys)
    # Each shard forwarded requests for keys the other owns (and served its own keys itself).
    hops = _metric(server, "scylla_storage_proxy_replica_cross_shard_ops")
    assert all(hops[s] > hops_before.get(s, 0) for s in range(SHARDS)), (hops_before, hops)


# --- eager execution -----------------------------------------------------------------------------


def _mixed_requests(session: Session, ks: str) -> None:
    """200 requests in flight on one connection; each answer checked against its own request."""
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    session.execute(f"CREATE TABLE {ks}.n (k int PRIMARY KEY, n counter)")
    session.execute(f"CREATE TABLE {ks}.r (k int, c int, v int, PRIMARY KEY (k, c))")
    session.execute(f"CREATE TABLE {ks}.e (k text PRIMARY KEY, v int)")
    ins = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
    for k in range(40):
        session.execute(ins, (k, f"pre{k}"))
    for k in range(4):
        for c in range(5):
            session.execute(f"INSERT INTO {ks}.r (k, c, v) VALUES ({k}, {c}, {k * 10 + c})")
    sel = session.prepare(f"SELECT k, v FROM {ks}.t WHERE k = ?")
    lwt = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?) IF NOT EXISTS")
    cnt = session.prepare(f"UPDATE {ks}.n SET n = n + ? WHERE k = ?")
    multi = session.prepare(f"UPDATE {ks}.t SET v = ? WHERE k IN ?")
    rsel = session.prepare(f"SELECT c, v FROM {ks}.r WHERE k = ? AND c >= ?")
    bad = session.prepare(f"INSERT INTO {ks}.e (k, v) VALUES (?, ?)")
    statements: list[tuple[Any, Sequence[Any]]] = []
    for i in range(200):
        kind = i % 8
        if kind == 0:
            statements.append((ins, (1000 + i, f"w{i}")))
        elif kind == 1:
            statements.append((sel, (i % 40,)))
        elif kind == 2:
            statements.append((lwt, (2000 + i, f"l{i}")))
        elif kind == 3:
            statements.append((lwt, (i % 40, "never")))
        elif kind == 4:
            statements.append((cnt, (i, i % 4)))
        elif kind == 5:
            statements.append((multi, (f"m{i}", [3000 + i, 4000 + i])))
        elif kind == 6:
            statements.append((rsel, (i % 4, i % 5)))
        else:
            statements.append((bad, ("", i)))
    results = execute_concurrent(session, statements, concurrency=200, raise_on_first_error=False)
    for i, (ok, result) in enumerate(results):
        kind = i % 8
        if kind == 7:
            assert not ok and isinstance(result, InvalidRequest) and "Key may not be empty" in str(result), (i, result)
            continue
        assert ok, (i, result)
        rows = [tuple(r) for r in result]
        if kind in (0, 4, 5):
            assert rows == [], (i, rows)
        elif kind == 1:
            assert rows == [(i % 40, f"pre{i % 40}")], (i, rows)
        elif kind == 2:
            assert rows == [(True,)], (i, rows)
        elif kind == 3:
            assert rows == [(False, i % 40, f"pre{i % 40}")], (i, rows)
        else:
            k, c0 = i % 4, i % 5
            assert rows == [(c, k * 10 + c) for c in range(c0, 5)], (i, rows)
    expected = {k: f"pre{k}" for k in range(40)}
    for i in range(200):
        if i % 8 == 0:
            expected[1000 + i] = f"w{i}"
        elif i % 8 == 2:
            expected[2000 + i] = f"l{i}"
        elif i % 8 == 5:
            expected[3000 + i] = expected[4000 + i] = f"m{i}"
    assert dict(_rows(session, f"SELECT k, v FROM {ks}.t")) == expected
    counters = {k: sum(i for i in range(200) if i % 8 == 4 and i % 4 == k) for k in range(4)}
    assert dict(_rows(session, f"SELECT k, n FROM {ks}.n")) == {k: n for k, n in counters.items() if n}


class _Raw:
    """A blocking connection driven by the project's client codec: it can put many request
    frames in one TCP write, which the driver never guarantees."""

    def __init__(self, node: ServerProcess) -> None:
        self.sock = socket.create_connection((node.host, node.cql_port), timeout=20)
        self.codec = ClientConnection()
        self.request(self.codec.startup({"CQL_VERSION": "3.0.0"}))

    def receive(self) -> Received:
        while True:
            got = self.codec.next_response()
            if isinstance(got, Received):
                return got
            chunk = self.sock.recv(1 << 16)
            assert chunk, "server closed the connection"
            self.codec.receive_data(chunk)

    def request(self, frame: tuple[int, bytes]) -> Received:
        self.sock.sendall(frame[1])
        got = self.receive()
        assert got.stream == frame[0]
        return got

    def prepare(self, query: str) -> PreparedStatement:
        resp = self.request(self.codec.prepare(query)).response
        assert isinstance(resp, ResultPrepared), resp
        return PreparedStatement.from_result(query, resp)


def _is_void(response: Any) -> bool:
    return not isinstance(response, ResultRows | ErrorResponse)


def _is_rows(rows: list[list[bytes | None]]) -> Callable[[Any], bool]:
    return lambda response: isinstance(response, ResultRows) and response.rows == rows


def _pipelined(node: ServerProcess, ks: str) -> None:
    """200 frames in one write: most are answered inside one data_received (flushed at its end),
    the rest (suspended ones) later; every stream exactly once, each with its own answer."""
    raw = _Raw(node)
    try:
        ins = raw.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
        sel = raw.prepare(f"SELECT v FROM {ks}.t WHERE k = ?")
        lwt = raw.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?) IF NOT EXISTS")
        want: dict[int, Callable[[Any], bool]] = {}
        frames = []
        for i in range(200):
            key = (5000 + i).to_bytes(4, "big", signed=True)
            old = (i % 40).to_bytes(4, "big", signed=True)
            if i % 4 == 0:
                stream, frame = raw.codec.execute(ins, [key, f"p{i}".encode()])
                want[stream] = _is_void
            elif i % 4 == 1:
                stream, frame = raw.codec.execute(sel, [old])
                want[stream] = _is_rows([[f"pre{i % 40}".encode()]])
            elif i % 4 == 2:
                stream, frame = raw.codec.execute(lwt, [key, f"p{i}".encode()])
                want[stream] = _is_rows([[b"\x01"]])
            else:
                stream, frame = raw.codec.query(f"SELECT v FROM {ks}.t WHERE k = {i % 40}")
                want[stream] = _is_rows([[f"pre{i % 40}".encode()]])
            frames.append(frame)
        raw.sock.sendall(b"".join(frames))
        seen: set[int] = set()
        for _ in range(200):
            got = raw.receive()
            assert got.stream in want and got.stream not in seen, got.stream
            seen.add(got.stream)
            assert want[got.stream](got.response), (got.stream, got.response)
        assert len(seen) == 200
    finally:
        raw.sock.close()


@pytest.mark.parametrize("commitlog", ["batch", "periodic"])
def test_eager_execution_answers_every_request_on_its_own_stream(
    commitlog: str, server: ServerProcess, node_factory: Callable[..., ServerProcess],
) -> None:
    node = server if commitlog == "batch" else node_factory("--commitlog-sync", "periodic", "--smp", str(SHARDS))
    cluster, session = _connect(node)
    try:
        ks = _ks(session)
        _mixed_requests(session, ks)
        _pipelined(node, ks)
        got = dict(_rows(session, f"SELECT k, v FROM {ks}.t WHERE k >= 5000 AND k < 5200 ALLOW FILTERING"))
        assert got == {5000 + i: f"p{i}" for i in range(200) if i % 4 in (0, 2)}
    finally:
        cluster.shutdown()


# --- writes finished in the call: the metrics ---------------------------------------------------


def _counters(node: ServerProcess) -> dict[str, float]:
    """Per-request counters summed over shards (a forwarded request is counted by the shard
    that received it), from one scrape."""
    text = urllib.request.urlopen(f"http://{node.host}:{node.prometheus_port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = None
            if sample.name in ("scylla_transport_requests_serving",
                               "scylla_storage_proxy_coordinator_write_latency_count",
                               "scylla_storage_proxy_coordinator_write_unavailable",
                               "scylla_storage_proxy_coordinator_read_latency_count",
                               "scylla_storage_proxy_coordinator_read_unavailable"):
                key = sample.name
            elif sample.name == "scylla_transport_cql_requests_count" and sample.labels["kind"] == "EXECUTE":
                key = "execute"
            elif sample.name == "scylla_transport_cql_errors_total":
                key = "errors_" + sample.labels["type"]
            if key is not None:
                out[key] = out.get(key, 0) + sample.value
    return out


def test_writes_finished_in_the_call_count_what_the_general_path_counts(
    node_factory: Callable[..., ServerProcess],
) -> None:
    """On a periodic-commitlog node a plain one-row write the receiving shard owns is answered
    without a coroutine (`QueryProcessor.execute_now`); one it forwards, or the general twin's,
    is awaited. Same results, errors and per-request metrics either way, from both shards."""
    node = node_factory("--commitlog-sync", "periodic", "--smp", str(SHARDS))
    cluster, session = _connect(node)  # closed before the windows: see the point-read test below
    try:
        ks = _ks(session)
        _twins(session, ks, "k blob, c int, v blob, w blob", "k, c")
    finally:
        cluster.shutdown()
    shards = [_OnShard(node, shard) for shard in range(SHARDS)]
    try:
        session = shards[0].session
        template = "INSERT INTO {ks}.{t} (k, c, v, w{xc}) VALUES (?, ?, ?, ?{xv})"
        deltas = []
        for variant in (PLAIN, GENERAL):
            before = _counters(node)
            for shard, o in enumerate(shards):
                ps = o.session.prepare(template.format(ks=ks, **variant))
                for i in range(40):
                    o.session.execute(ps, (f"k{i}".encode(), shard, b"v%d" % i, None if i % 3 else b"w"))
                for _ in range(3):
                    with pytest.raises(InvalidRequest, match=_exactly("Key may not be empty")):
                        o.session.execute(ps, (b"", shard, b"v", b"w"))
            after = _counters(node)
            deltas.append({k: after.get(k, 0) - before.get(k, 0) for k in after})
        plain, general = deltas
        assert plain == general
        assert plain["execute"] == plain["scylla_storage_proxy_coordinator_write_latency_count"] == 2 * 43
        assert plain["errors_invalid"] == 2 * 3
        assert plain["scylla_storage_proxy_coordinator_write_unavailable"] == 0
        assert _counters(node)["scylla_transport_requests_serving"] == 0
        assert _dump(session, ks) == sorted((f"k{i}".encode(), shard, b"v%d" % i, None if i % 3 else b"w")
                                            for i in range(40) for shard in range(SHARDS))
    finally:
        for o in shards:
            o.close()


def test_point_reads_finished_in_the_call_count_what_the_general_path_counts(
    node_factory: Callable[..., ServerProcess],
) -> None:
    """A point read (`SelectPlan.point`) of a partition the receiving shard owns is answered
    without a coroutine (`QueryProcessor.execute_now`); one of a partition the other shard owns
    is forwarded and awaited, and its general twin (`k IN ?`) is always awaited. Same rows,
    errors and per-request metrics either way, from both shards."""
    node = node_factory("--smp", str(SHARDS))
    # The schema and rows come from a session closed before the measuring ones connect: a driver
    # that saw the DDL's SCHEMA_CHANGE events refreshes its schema metadata a while later (reads
    # of system tables, counted in the read latency histogram), which could land in a window.
    cluster, session = _connect(node)
    try:
        ks = _ks(session)
        session.execute(f"CREATE TABLE {ks}.t (k blob, c int, v blob, PRIMARY KEY (k, c))")
        ins = session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")
        keys = [f"k{i}".encode() for i in range(40)]
        for i, k in enumerate(keys):
            if i % 4:  # every fourth key read is of no partition
                session.execute(ins, (k, 1, b"v%d" % i))
        assert _table_shards(session, ks, "t") == set(range(SHARDS))
    finally:
        cluster.shutdown()
    shards = [_OnShard(node, shard) for shard in range(SHARDS)]
    try:
        deltas, answers = [], []
        for pk, key_of in (("k = ?", lambda k: k), ("k IN ?", lambda k: [k])):
            before = _counters(node)
            got = []
            for o in shards:
                ps = o.session.prepare(f"SELECT v FROM {ks}.t WHERE {pk} AND c = ?")
                got.append([[tuple(r) for r in o.session.execute(ps, (key_of(k), 1))] for k in keys])
                for _ in range(3):
                    with pytest.raises(InvalidRequest, match=_exactly("Invalid null value in condition for column c")):
                        o.session.execute(ps, (key_of(keys[0]), None))
            after = _counters(node)
            deltas.append({k: after.get(k, 0) - before.get(k, 0) for k in after})
            answers.append(got)
        lane, general = deltas
        assert lane == general
        assert lane["execute"] == lane["scylla_storage_proxy_coordinator_read_latency_count"] == SHARDS * 43
        assert lane["errors_invalid"] == SHARDS * 3
        assert lane["scylla_storage_proxy_coordinator_read_unavailable"] == 0
        assert _counters(node)["scylla_transport_requests_serving"] == 0
        expected = [[] if i % 4 == 0 else [(b"v%d" % i,)] for i in range(len(keys))]
        assert answers[0] == answers[1] == [expected] * SHARDS
    finally:
        for o in shards:
            o.close()


# --- schema changes under prepared statements (placement cache) ----------------------------------


def test_prepared_statements_across_schema_changes_from_both_shards(session: Session,
                                                                   on_shards: list[_OnShard]) -> None:
    ks = _ks(session, initial_tablets=2)
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, v int, PRIMARY KEY (k, c))")
    sessions = [o.session for o in on_shards]
    ins = [s.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)") for s in sessions]
    sel = [s.prepare(f"SELECT c, v FROM {ks}.t WHERE k = ?") for s in sessions]
    keys = range(48)

    def write(generation: int) -> None:
        for k in keys:
            i = k % SHARDS
            sessions[i].execute(ins[i], (k, generation, k + 1000 * generation))

    def check(generations: list[int]) -> None:
        for s, p in zip(sessions, sel, strict=True):
            for k in keys:
                assert [tuple(r) for r in s.execute(p, (k,))] == [(g, k + 1000 * g) for g in generations], k
            assert len(_rows(s, f"SELECT k FROM {ks}.t")) == len(keys) * len(generations)

    write(1)
    check([1])
    session.execute(f"ALTER TABLE {ks}.t ADD x int")
    write(2)
    check([1, 2])
    for s in sessions:
        s.execute(f"UPDATE {ks}.t SET x = 5 WHERE k = 0 AND c = 1")
        assert _rows(s, f"SELECT v, x FROM {ks}.t WHERE k = 0 AND c = 1") == [(1000, 5)]
    # Same name, a new table: the old data is gone, the new data is where reads look for it.
    session.execute(f"DROP TABLE {ks}.t")
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, v int, PRIMARY KEY (k, c))")
    check([])
    write(3)
    check([3])
    # Same keyspace and table names, another tablet count.
    session.execute(f"DROP KEYSPACE {ks}")
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', "
                    "'replication_factor': 1} AND tablets = {'initial': 8}")
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, v int, PRIMARY KEY (k, c))")
    assert _table_shards(session, ks, "t") == set(range(SHARDS))
    check([])
    write(4)
    check([4])
    # And back to fewer tablets, keeping the table id.
    tid = session.execute("SELECT id FROM system_schema.tables WHERE keyspace_name = %s AND table_name = 't'",
                          (ks,)).one().id
    session.execute(f"DROP KEYSPACE {ks}")
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', "
                    "'replication_factor': 1} AND tablets = {'initial': 2}")
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, v int, PRIMARY KEY (k, c)) WITH id = '{tid}'")
    check([])
    write(5)
    check([5])
