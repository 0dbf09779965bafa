"""The virtual system tables against the installed cassandra-driver as the oracle.

The driver's own schema parsers (`SchemaParserV3` / `SchemaParserV4`, what it picks for
release_version 3.x / 4.x) are fed our `system_schema` rows exactly as if they had come back from
its `SELECT * FROM system_schema.*` queries; the metadata they reconstruct must equal our schema.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import pickle
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cql.schema import ColumnDef, ColumnKind, KeyspaceDef, Schema, TableDef, UserTypeDef
from cql.system_tables import (
    RELEASE_VERSION,
    SYSTEM_KEYSPACES,
    NodeInfo,
    PeerInfo,
    RoleInfo,
    SystemContext,
    TabletRow,
    all_system_tables,
    system_schema_rows,
    system_table,
)
from cql.table_options import normalize_table_options

metadata = pytest.importorskip("cassandra.metadata")

HOST = uuid.UUID("11111111-2222-3333-4444-555555555555")


def sample_schema() -> Schema:
    ks = KeyspaceDef(
        "ks",
        {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "datacenter1": "3"},
        True,
        8,
    )
    vn = KeyspaceDef("vn", {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"},
                     False, None)
    t = TableDef(
        "ks", "events", uuid.uuid4(),
        (
            ColumnDef("a", "int", ColumnKind.PARTITION_KEY, 0),
            ColumnDef("b", "text", ColumnKind.PARTITION_KEY, 1),
            ColumnDef("c", "timestamp", ColumnKind.CLUSTERING, 0, reversed=True),
            ColumnDef("d", "uuid", ColumnKind.CLUSTERING, 1),
            ColumnDef("s", "int", ColumnKind.STATIC),
            ColumnDef("addr", "frozen<address>", ColumnKind.REGULAR),
            ColumnDef("tags", "set<text>", ColumnKind.REGULAR),
            ColumnDef("v", "frozen<list<int>>", ColumnKind.REGULAR),
        ),
        normalize_table_options({"comment": "it's here", "gc_grace_seconds": 10,
                                 "compaction": {"class": "LeveledCompactionStrategy", "sstable_size_in_mb": 160}}),
    )
    simple = TableDef("vn", "kv", uuid.uuid4(), (
        ColumnDef("k", "text", ColumnKind.PARTITION_KEY, 0),
        ColumnDef("value", "blob", ColumnKind.REGULAR),
    ))
    udt = UserTypeDef("ks", "address", ("street", "zip"), ("text", "int"))
    return Schema.empty().evolve(
        keyspaces={"ks": ks, "vn": vn},
        tables={("ks", "events"): t, ("vn", "kv"): simple},
        types={("ks", "address"): udt},
    )


def context(schema: Schema | None = None) -> SystemContext:
    schema = schema or sample_schema()
    node = NodeInfo(
        host_id=HOST, cluster_name="Test Cluster", data_center="datacenter1", rack="rack1",
        listen_address="127.0.0.1", broadcast_address="127.0.0.1", rpc_address="127.0.0.1",
        tokens=[-100, 5, 2**62], schema_version=schema.version,
    )
    peer = PeerInfo("127.0.0.2", uuid.uuid4(), "datacenter1", "rack1", "127.0.0.2", [7], schema.version)
    table = schema.table("ks", "events")
    assert table is not None
    tablets = [TabletRow(table.id, "ks", "events", 2, -1, [(HOST, 0)]),
               TabletRow(table.id, "ks", "events", 2, 2**63 - 1, [(HOST, 1)], new_replicas=[(HOST, 0)],
                         stage="streaming", transition="migration", session=uuid.uuid4())]
    return SystemContext(
        node=node, schema=schema, peers=[peer], tablets=tablets,
        config_rows=[("cluster_name", "string", "config", '"Test Cluster"')],
        roles=[RoleInfo("cassandra", True, True, salted_hash="$x")],
        scylla_local={"raft_group0_id": "x"},
    )


# --------------------------------------------------------------------------------------------------
# Definitions


_TYPE_RE = re.compile(r"^[a-z_<>, ]+$")


def test_every_row_key_is_a_defined_column() -> None:
    ctx = context()
    for vt in all_system_tables():
        names = {c.name for c in vt.table.columns}
        assert vt.table.is_virtual
        assert vt.table.partition_key, vt.name
        for row in vt.rows(ctx):
            assert set(row) <= names, (vt.keyspace, vt.name, set(row) - names)
            for pk in vt.table.partition_key:
                assert row.get(pk.name) is not None, (vt.name, pk.name)


def test_type_strings_are_well_formed_cql() -> None:
    for vt in all_system_tables():
        for c in vt.table.columns:
            assert _TYPE_RE.match(c.type), c.type
            assert c.type.count("<") == c.type.count(">")


def test_values_serialize_with_the_types_layer_and_decode_with_the_driver() -> None:
    types = pytest.importorskip("cql.types")
    cqltypes = pytest.importorskip("cassandra.cqltypes")
    ctx = context()
    for vt in all_system_tables():
        for row in vt.rows(ctx):
            for col, value in row.items():
                if value is None:
                    continue
                ctype = vt.table.column(col)
                assert ctype is not None
                data = types.parse_type(ctype.type).serialize(value)
                # Drivers decode with their own classes: the same bytes must read back equal.
                driver_type = cqltypes.lookup_casstype(_to_java(ctype.type))
                back = driver_type.from_binary(data, 4)
                assert _plain(back) == _plain(value), (vt.name, col)


def _to_java(cql: str) -> str:
    """CQL type text -> the Java class-name form the driver's lookup_casstype parses."""
    simple = {
        "text": "UTF8Type", "int": "Int32Type", "bigint": "LongType", "uuid": "UUIDType",
        "timeuuid": "TimeUUIDType", "boolean": "BooleanType", "double": "DoubleType",
        "inet": "InetAddressType", "blob": "BytesType", "timestamp": "TimestampType",
    }
    cql = cql.strip()
    m = re.match(r"^(frozen|list|set|map|tuple)<(.*)>$", cql)
    if m is None:
        return simple[cql]
    kind, inner = m.group(1), m.group(2)
    args = _split_args(inner)
    if kind == "frozen":
        return f"FrozenType({_to_java(args[0])})"
    name = {"list": "ListType", "set": "SetType", "map": "MapType", "tuple": "TupleType"}[kind]
    return f"{name}({','.join(_to_java(a) for a in args)})"


def _split_args(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "<"
        depth -= ch == ">"
        cur += ch
    out.append(cur.strip())
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, (set, frozenset)) or type(v).__name__ == "SortedSet":
        return sorted(_plain(x) for x in v)
    if isinstance(v, dict) or type(v).__name__ == "OrderedMapSerializedKey":
        return {_plain(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=None)
    return v


def test_lookup() -> None:
    assert system_table("system", "local") is not None
    assert system_table("system", "peers_v2") is None   # deliberately absent: the driver falls back
    assert system_table("system_schema", "tables") is not None
    assert system_table("System", "local") is None
    names = [(vt.keyspace, vt.name) for vt in all_system_tables()]
    assert names == sorted(names)
    for ks, _ in names:
        assert ks in SYSTEM_KEYSPACES


# --------------------------------------------------------------------------------------------------
# system.local / peers as the drivers read them


SCYLLA_LOCAL_COLUMNS = ["broadcast_address", "cluster_name", "data_center", "host_id", "listen_address", "partitioner", "rack", "release_version", "rpc_address", "schema_version", "tokens"]
SCYLLA_PEERS_COLUMNS = ["peer", "data_center", "host_id", "rack", "release_version", "rpc_address", "schema_version", "tokens"]


def test_local_and_peers_have_what_scylla_driver_selects() -> None:
    ctx = context()
    local = system_table("system", "local")
    peers = system_table("system", "peers")
    assert local is not None and peers is not None
    (row,) = list(local.rows(ctx))
    for col in [*SCYLLA_LOCAL_COLUMNS, "cql_version", "native_protocol_version", "key", "bootstrapped"]:
        assert local.table.column(col) is not None, col
        assert row[col] not in (None, "", set()), col
    assert row["key"] == "local"
    assert row["release_version"] == RELEASE_VERSION
    assert row["partitioner"] == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert row["tokens"] == {"-100", "5", str(2**62)}
    ipaddress.ip_address(row["rpc_address"])
    (prow,) = list(peers.rows(ctx))
    for col in SCYLLA_PEERS_COLUMNS:
        assert peers.table.column(col) is not None, col
        assert prow[col] is not None, col


def test_driver_accepts_the_local_row_as_a_valid_host() -> None:
    cluster = pytest.importorskip("cassandra.cluster")
    ctx = context()
    local = system_table("system", "local")
    assert local is not None
    (row,) = list(local.rows(ctx))
    assert cluster.ControlConnection._is_valid_peer(dict(row, peer=row["broadcast_address"]))


def test_tablets_rows() -> None:
    ctx = context()
    vt = system_table("system", "tablets")
    assert vt is not None
    rows = list(vt.rows(ctx))
    assert [r["last_token"] for r in rows] == [-1, 2**63 - 1]
    assert rows[0]["replicas"] == [(HOST, 0)]
    assert rows[0]["new_replicas"] is None
    assert rows[1]["transition"] == "migration"
    assert {c.name for c in vt.table.static_columns} >= {"tablet_count", "keyspace_name", "table_name",
                                                          "resize_type"}


# --------------------------------------------------------------------------------------------------
# system_schema through the driver's own parsers


def _parse_with_driver(parser_cls: type, ctx: SystemContext) -> dict[str, Any]:
    rows = {name: system_schema_rows(ctx, name)
            for name in ("keyspaces", "tables", "columns", "types", "functions", "aggregates",
                         "triggers", "indexes", "views")}

    class Fed(parser_cls):  # type: ignore[misc, valid-type]
        def _query_all(self) -> None:
            self.keyspaces_result = rows["keyspaces"]
            self.tables_result = rows["tables"]
            self.columns_result = rows["columns"]
            self.types_result = rows["types"]
            self.functions_result = rows["functions"]
            self.aggregates_result = rows["aggregates"]
            self.triggers_result = rows["triggers"]
            self.indexes_result = rows["indexes"]
            self.views_result = rows["views"]
            self.virtual_keyspaces_result = []
            self.virtual_tables_result = []
            self.virtual_columns_result = []
            self._aggregate_results()

    parser = Fed(None, 1.0)
    keyspaces = {ks.name: ks for ks in parser.get_all_keyspaces()}
    for ks in keyspaces.values():
        assert ks._exc_info is None, ks.name
        for t in ks.tables.values():
            assert t._exc_info is None, (ks.name, t.name)
    return keyspaces


def _driver_parsers() -> Iterator[type]:
    yield metadata.SchemaParserV3
    yield metadata.SchemaParserV4


@pytest.mark.parametrize("parser_cls", list(_driver_parsers()), ids=lambda c: c.__name__)
def test_driver_reconstructs_the_schema(parser_cls: type) -> None:
    ctx = context()
    keyspaces = _parse_with_driver(parser_cls, ctx)

    assert set(SYSTEM_KEYSPACES) | {"ks", "vn"} == set(keyspaces)
    ks = keyspaces["ks"]
    assert ks.replication_strategy.export_for_schema() == \
        "{'class': 'NetworkTopologyStrategy', 'datacenter1': '3'}"
    assert keyspaces["vn"].durable_writes is False

    t = ks.tables["events"]
    assert not t.is_compact_storage
    assert [c.name for c in t.partition_key] == ["a", "b"]
    assert [c.name for c in t.clustering_key] == ["c", "d"]
    assert [c.is_reversed for c in t.clustering_key] == [True, False]
    assert t.columns["s"].is_static
    assert {n: c.cql_type for n, c in t.columns.items()} == {
        "a": "int", "b": "text", "c": "timestamp", "d": "uuid", "s": "int",
        "addr": "frozen<address>", "tags": "set<text>", "v": "frozen<list<int>>",
    }
    assert t.options["comment"] == "it's here"
    assert t.options["gc_grace_seconds"] == 10
    assert dict(t.options["compaction"]) == {"class": "LeveledCompactionStrategy", "sstable_size_in_mb": "160"}
    assert dict(t.options["caching"]) == {"keys": "ALL", "rows_per_partition": "ALL"}
    assert t.options["speculative_retry"] == "99.0PERCENTILE"
    assert "address" in ks.user_types
    assert ks.user_types["address"].field_types == ["text", "int"]

    simple = keyspaces["vn"].tables["kv"]
    assert list(simple.columns) == ["k", "value"]
    cql = simple.export_as_string()
    assert "k text PRIMARY KEY" in cql and "value blob" in cql


@pytest.mark.parametrize("parser_cls", list(_driver_parsers()), ids=lambda c: c.__name__)
def test_system_tables_are_in_driver_metadata(parser_cls: type) -> None:
    keyspaces = _parse_with_driver(parser_cls, context())
    for vt in all_system_tables():
        meta = keyspaces[vt.keyspace].tables[vt.name]
        assert [c.name for c in meta.partition_key] == [c.name for c in vt.table.partition_key]
        assert [c.name for c in meta.clustering_key] == [c.name for c in vt.table.clustering_key]
        assert set(meta.columns) == {c.name for c in vt.table.columns}
    assert type(keyspaces["system"].replication_strategy).__name__ == "LocalStrategy"


def test_schema_rows_shapes() -> None:
    ctx = context()
    cols = [r for r in system_schema_rows(ctx, "columns") if r["keyspace_name"] == "ks"]
    by_name = {r["column_name"]: r for r in cols}
    assert by_name["a"]["kind"] == "partition_key" and by_name["a"]["position"] == 0
    assert by_name["b"]["position"] == 1
    assert by_name["c"]["clustering_order"] == "desc"
    assert by_name["d"]["clustering_order"] == "asc"
    assert by_name["s"]["kind"] == "static" and by_name["s"]["position"] == -1
    assert by_name["v"]["clustering_order"] == "none" and by_name["v"]["position"] == -1
    assert by_name["v"]["column_name_bytes"] == b"v"
    tables = {(r["keyspace_name"], r["table_name"]): r for r in system_schema_rows(ctx, "tables")}
    assert tables[("ks", "events")]["flags"] == {"compound"}
    assert tables[("system", "local")]["flags"] == {"compound"}
    assert b"mode" in tables[("ks", "events")]["extensions"]["tombstone_gc"]
    sk = {r["keyspace_name"]: r for r in system_schema_rows(ctx, "scylla_keyspaces")}
    assert sk["ks"]["initial_tablets"] == 8
    assert "vn" not in sk and "system" not in sk
    ks_rows = {r["keyspace_name"]: r for r in system_schema_rows(ctx, "keyspaces")}
    assert all("class" in r["replication"] for r in ks_rows.values())


def test_user_schema_cannot_shadow_system_keyspaces() -> None:
    schema = sample_schema()
    bogus = KeyspaceDef("system", {"class": "org.apache.cassandra.locator.SimpleStrategy",
                                   "replication_factor": "9"})
    schema = schema.evolve(keyspaces={**schema.keyspaces, "system": bogus})
    rows = [r for r in system_schema_rows(context(schema), "keyspaces") if r["keyspace_name"] == "system"]
    assert len(rows) == 1 and rows[0]["replication"]["class"].endswith("LocalStrategy")


def test_cached_rows_are_not_shared_with_callers() -> None:
    ctx = context()
    first = system_schema_rows(ctx, "columns")
    for r in first:
        r["kind"] = "garbage"
    assert all(r["kind"] != "garbage" for r in system_schema_rows(ctx, "columns"))


# --------------------------------------------------------------------------------------------------
# scylla-driver (its own virtualenv: it installs the same `cassandra` module as cassandra-driver)

_SCYLLA_PYTHON = Path(__file__).resolve().parents[2] / ".venv-scylla" / "bin" / "python"

_SCYLLA_SCRIPT = r"""
import json, pickle, sys
from cassandra import metadata
rows = pickle.load(sys.stdin.buffer)
out = {}
for parser_name in ("SchemaParserV3", "SchemaParserV4"):
    base = getattr(metadata, parser_name)
    class Fed(base):
        def _query_all(self):
            for name in ("keyspaces", "tables", "columns", "types", "functions", "aggregates",
                         "triggers", "indexes", "views"):
                setattr(self, name + "_result", rows[name])
            self.virtual_keyspaces_result = []
            self.virtual_tables_result = []
            self.virtual_columns_result = []
            self.scylla_keyspaces_result = []
            self._aggregate_results()
    summary = {}
    for ks in Fed(None, 1.0, 1000, None).get_all_keyspaces():
        assert ks._exc_info is None, ks.name
        summary[ks.name] = {
            t.name: {"pk": [c.name for c in t.partition_key], "ck": [c.name for c in t.clustering_key],
                     "desc": [c.is_reversed for c in t.clustering_key], "compact": t.is_compact_storage,
                     "columns": {n: [c.cql_type, c.is_static] for n, c in t.columns.items()},
                     "error": t._exc_info is not None}
            for t in ks.tables.values()
        }
    out[parser_name] = summary
json.dump(out, sys.stdout)
"""


@pytest.mark.skipif(not _SCYLLA_PYTHON.exists(), reason="no .venv-scylla with scylla-driver")
def test_scylla_driver_reconstructs_the_schema() -> None:
    ctx = context()
    rows = {name: system_schema_rows(ctx, name)
            for name in ("keyspaces", "tables", "columns", "types", "functions", "aggregates",
                         "triggers", "indexes", "views")}
    proc = subprocess.run([str(_SCYLLA_PYTHON), "-c", _SCYLLA_SCRIPT], input=pickle.dumps(rows),
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    for parser_name, keyspaces in result.items():
        events = keyspaces["ks"]["events"]
        assert events["pk"] == ["a", "b"] and events["ck"] == ["c", "d"], parser_name
        assert events["desc"] == [True, False] and events["compact"] is False
        assert events["columns"]["s"] == ["int", True]
        assert events["columns"]["v"] == ["frozen<list<int>>", False]
        for vt in all_system_tables():
            meta = keyspaces[vt.keyspace][vt.name]
            assert not meta["error"] and not meta["compact"], (parser_name, vt.name)
            assert set(meta["columns"]) == {c.name for c in vt.table.columns}
