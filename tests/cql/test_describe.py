"""Server-side DESCRIBE: exact ScyllaDB-style text, and round trips that prove re-creation.

Round trips: every CREATE statement DESCRIBE emits is parsed back with `cql.parser` and turned into
schema objects with `cql.table_options` (what CREATE would store); the result must equal the
described object. Equivalence with the driver: the cassandra-driver reconstructs the table from our
`system_schema` rows and renders its own CREATE TABLE; parsed, it must describe the same table.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cql import ast
from cql.describe import (
    CLUSTER_COLUMNS,
    ELEMENT_COLUMNS,
    LIST_COLUMNS,
    create_keyspace_statement,
    create_table_statement,
    describe,
    describe_cluster,
    describe_statement,
    quote_identifier,
    quote_string,
)
from cql.errors import InvalidRequest
from cql.schema import ColumnDef, ColumnKind, DroppedColumn, KeyspaceDef, Schema, TableDef, UserTypeDef
from cql.system_tables import SYSTEM_KEYSPACES, all_system_tables
from cql.table_options import normalize_keyspace_options, normalize_table_options, table_options_with_defaults
from tests.cql.test_system_tables import _parse_with_driver, context, sample_schema

NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"


def tricky_schema() -> Schema:
    """Names that need quoting, a string that needs escaping, a UDT using another UDT."""
    base = sample_schema()
    ks = KeyspaceDef("Quoted KS", {"class": NTS, "datacenter1": "1"}, True, None)
    inner = UserTypeDef("Quoted KS", "inner", ("x",), ("int",))
    outer = UserTypeDef("Quoted KS", "Outer", ("in", "select"), ("frozen<inner>", "text"))
    t = TableDef("Quoted KS", "MyTable", uuid.uuid4(), (
        ColumnDef("Key", "text", ColumnKind.PARTITION_KEY, 0),
        ColumnDef("select", "int", ColumnKind.CLUSTERING, 0),
        ColumnDef("o", 'frozen<"Outer">', ColumnKind.REGULAR),
        ColumnDef("value", "map<text, frozen<list<int>>>", ColumnKind.REGULAR),
    ), normalize_table_options({
        "comment": "it's \"quoted\"",
        "compression": {"sstable_compression": "ZstdCompressor", "chunk_length_in_kb": 64},
        "cdc": {"enabled": True},
        "paxos_grace_seconds": 42,
        "speculative_retry": "50ms",
        "caching": {"keys": "NONE", "rows_per_partition": "5"},
        "bloom_filter_fp_chance": 0.1,
    }), dropped_columns={"gone": DroppedColumn("gone", "int", 1_700_000_000_000_000)})
    return base.evolve(
        keyspaces={**base.keyspaces, ks.name: ks},
        tables={**base.tables, (ks.name, t.name): t},
        types={**base.types, (ks.name, "inner"): inner, (ks.name, "Outer"): outer},
    )


# --------------------------------------------------------------------------------------------------
# Exact text


def test_table_statement_text() -> None:
    schema = sample_schema()
    table = schema.table("ks", "events")
    assert table is not None
    assert create_table_statement(table) == (
        "CREATE TABLE ks.events (\n"
        "    a int,\n"
        "    b text,\n"
        "    c timestamp,\n"
        "    d uuid,\n"
        "    s int STATIC,\n"
        "    addr frozen<address>,\n"
        "    tags set<text>,\n"
        "    v frozen<list<int>>,\n"
        "    PRIMARY KEY ((a, b), c, d)\n"
        ") WITH CLUSTERING ORDER BY (c DESC, d ASC)\n"
        "    AND bloom_filter_fp_chance = 0.01\n"
        "    AND caching = {'keys': 'ALL', 'rows_per_partition': 'ALL'}\n"
        "    AND comment = 'it''s here'\n"
        "    AND compaction = {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': '160'}\n"
        "    AND compression = {'sstable_compression': 'org.apache.cassandra.io.compress.LZ4Compressor'}\n"
        "    AND crc_check_chance = 1\n"
        "    AND default_time_to_live = 0\n"
        "    AND gc_grace_seconds = 10\n"
        "    AND max_index_interval = 2048\n"
        "    AND memtable_flush_period_in_ms = 0\n"
        "    AND min_index_interval = 128\n"
        "    AND speculative_retry = '99.0PERCENTILE'\n"
        "    AND tombstone_gc = {'mode': 'timeout', 'propagation_delay_in_seconds': '3600'};\n"
    )
    simple = schema.table("vn", "kv")
    assert simple is not None
    text = create_table_statement(simple)
    assert text.startswith("CREATE TABLE vn.kv (\n    k text,\n    value blob,\n    PRIMARY KEY (k)\n"
                           ") WITH bloom_filter_fp_chance = 0.01\n")


def test_keyspace_statement_text() -> None:
    assert create_keyspace_statement(KeyspaceDef("ks", {"class": NTS, "datacenter1": "3"}, True, 8)) == (
        "CREATE KEYSPACE ks WITH replication = {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', "
        "'datacenter1': '3'} AND durable_writes = true AND tablets = {'initial': 8};"
    )
    assert create_keyspace_statement(KeyspaceDef("ks", {"class": NTS, "dc1": "3"}, False, 0)).endswith(
        "'dc1': '3'} AND durable_writes = false;")
    assert create_keyspace_statement(SYSTEM_KEYSPACES["system"]) == (
        "CREATE KEYSPACE system WITH replication = {'class': 'org.apache.cassandra.locator.LocalStrategy'}"
        " AND durable_writes = true AND tablets = {'enabled': false};"
    )


def test_quoting() -> None:
    assert quote_identifier("abc_1") == "abc_1"
    assert quote_identifier("Abc") == '"Abc"'
    assert quote_identifier("select") == '"select"'
    assert quote_identifier("my col") == '"my col"'
    assert quote_identifier('a"b') == '"a""b"'
    assert quote_identifier("1a") == '"1a"'
    assert quote_identifier("key") == "key"
    assert quote_string("it's") == "'it''s'"
    metadata = pytest.importorskip("cassandra.metadata")
    for word in metadata.cql_keywords_reserved:   # everything the driver escapes, we escape
        assert quote_identifier(word) != word


# --------------------------------------------------------------------------------------------------
# Round trip through the parser


def _rebuild(statements: list[str]) -> tuple[dict[str, KeyspaceDef], dict[tuple[str, str], TableDef],
                                             dict[tuple[str, str], UserTypeDef]]:
    """Execute CREATE statements the way the server would, into plain schema objects."""
    parser = pytest.importorskip("cql.parser")
    keyspaces: dict[str, KeyspaceDef] = {}
    tables: dict[tuple[str, str], TableDef] = {}
    types: dict[tuple[str, str], UserTypeDef] = {}
    for text in parser.parse_script("\n".join(statements)):
        stmt = text.statement
        if isinstance(stmt, ast.CreateKeyspace):
            props = {p.name: p.value for p in stmt.properties}
            if stmt.name in SYSTEM_KEYSPACES:
                # Not re-creatable by design (LocalStrategy is internal), as in ScyllaDB; check the
                # text describes the same keyspace.
                assert isinstance(props["replication"], dict)
                assert props["replication"] == dict(SYSTEM_KEYSPACES[stmt.name].replication)
                keyspaces[stmt.name] = SYSTEM_KEYSPACES[stmt.name]
                continue
            repl, durable, tablets = normalize_keyspace_options(props)
            keyspaces[stmt.name] = KeyspaceDef(stmt.name, repl, durable, tablets)
        elif isinstance(stmt, ast.CreateType):
            ks = stmt.name.keyspace
            assert ks is not None
            types[(ks, stmt.name.name)] = UserTypeDef(
                ks, stmt.name.name, tuple(f.name for f in stmt.fields), tuple(f.type_text for f in stmt.fields))
        elif isinstance(stmt, ast.CreateTable):
            tables[(stmt.table.keyspace or "", stmt.table.name)] = _table_from_ast(stmt)
        else:
            raise AssertionError(f"unexpected statement {stmt}")
    return keyspaces, tables, types


def _table_from_ast(stmt: ast.CreateTable) -> TableDef:
    desc = {o.column: o.descending for o in stmt.clustering_order}
    cols = []
    for c in stmt.columns:
        if c.name in stmt.partition_key:
            cols.append(ColumnDef(c.name, c.type_text, ColumnKind.PARTITION_KEY, stmt.partition_key.index(c.name)))
        elif c.name in stmt.clustering_columns:
            cols.append(ColumnDef(c.name, c.type_text, ColumnKind.CLUSTERING,
                                  stmt.clustering_columns.index(c.name), desc.get(c.name, False)))
        else:
            cols.append(ColumnDef(c.name, c.type_text, ColumnKind.STATIC if c.static else ColumnKind.REGULAR))
    options = normalize_table_options({p.name: p.value for p in stmt.properties})
    options.pop("id", None)
    return TableDef(stmt.table.keyspace or "", stmt.table.name, uuid.UUID(int=0), tuple(cols), options)


def _shape(t: TableDef) -> tuple[Any, ...]:
    cols = sorted((c.name, c.type, c.kind.value, c.position, c.reversed) for c in t.columns)
    return t.keyspace, t.name, cols, table_options_with_defaults(t.options)


@pytest.mark.parametrize("full", [False, True])
def test_describe_schema_recreates_the_schema(full: bool) -> None:
    schema = tricky_schema()
    rows = describe("schema", None, schema, context(schema), None, full=full)
    keyspaces, tables, types = _rebuild([r[3] or "" for r in rows])
    user = {n for n in schema.keyspaces}
    expected_ks = user | (set(SYSTEM_KEYSPACES) if full else set())
    assert set(keyspaces) == expected_ks
    for name in user:
        assert keyspaces[name] == schema.keyspaces[name]
    for key, table in schema.tables.items():
        assert _shape(tables[key]) == _shape(table)
    assert types == dict(schema.types)
    if full:
        for vt in all_system_tables():
            assert _shape(tables[(vt.keyspace, vt.name)]) == _shape(vt.table)


def test_types_come_before_their_users() -> None:
    schema = tricky_schema()
    rows = describe("keyspace", "Quoted KS", schema, None, None)
    kinds = [(r[1], r[2]) for r in rows]
    assert kinds == [("keyspace", '"Quoted KS"'), ("type", "inner"), ("type", '"Outer"'), ("table", '"MyTable"')]


def test_type_dependencies_whatever_the_quoting() -> None:
    base = sample_schema()
    a = UserTypeDef("ks", "zeta", ("x",), ("int",))
    b = UserTypeDef("ks", "cluster", ("z",), ("frozen<zeta>",))
    c = UserTypeDef("ks", "alpha", ("c",), ("frozen<cluster>",))   # written unquoted by the parser
    schema = base.evolve(types={("ks", "zeta"): a, ("ks", "cluster"): b, ("ks", "alpha"): c})
    rows = describe("keyspace", "ks", schema, None, None)
    assert [r[2] for r in rows if r[1] == "type"] == ["zeta", '"cluster"', "alpha"]


def test_with_internals_replays_dropped_columns() -> None:
    schema = tricky_schema()
    (row,) = describe("table", ("Quoted KS", "MyTable"), schema, None, None, with_internals=True)
    text = row[3] or ""
    table = schema.table("Quoted KS", "MyTable")
    assert table is not None
    assert f"WITH ID = {table.id}\n" in text
    assert "    gone int,\n" in text
    assert text.endswith('ALTER TABLE "Quoted KS"."MyTable" DROP gone USING TIMESTAMP 1700000000000000;')


# --------------------------------------------------------------------------------------------------
# The driver's own rendering of our system_schema rows describes the same tables


@pytest.mark.parametrize("parser_name", ["SchemaParserV3", "SchemaParserV4"])
def test_driver_rendering_matches_ours(parser_name: str) -> None:
    metadata = pytest.importorskip("cassandra.metadata")
    schema = sample_schema()
    keyspaces = _parse_with_driver(getattr(metadata, parser_name), context(schema))
    for (ks, name), table in schema.tables.items():
        driver_cql = keyspaces[ks].tables[name].as_cql_query(formatted=True) + ";"
        (_, from_driver, _) = _rebuild([driver_cql])
        (_, from_us, _) = _rebuild([create_table_statement(table)])
        assert _shape(from_driver[(ks, name)]) == _shape(from_us[(ks, name)])
        assert _shape(from_us[(ks, name)]) == _shape(table)


# --------------------------------------------------------------------------------------------------
# Listing forms, lookups, errors, CLUSTER


def test_listings() -> None:
    schema = tricky_schema()
    names = [r[2] for r in describe("keyspaces", None, schema, None, None)]
    assert names == sorted(names, key=lambda n: n.strip('"'))
    assert {"ks", "vn", '"Quoted KS"', "system", "system_schema"} <= set(names)
    assert describe(ast.DescribeKind.TABLES, None, schema, None, "ks") == [("ks", "table", "events", None)]
    all_tables = describe("tables", None, schema, None, None)
    assert ("system", "table", "local", None) in all_tables
    assert describe("types", None, schema, None, "Quoted KS") == [
        ("Quoted KS", "type", "inner", None), ("Quoted KS", "type", '"Outer"', None)]
    assert describe("functions", None, schema, None, "ks") == []


def test_describe_statement_columns() -> None:
    schema = sample_schema()
    ctx = context(schema)
    r = describe_statement(ast.Describe(ast.DescribeKind.KEYSPACES), schema, ctx, None)
    assert r.columns == LIST_COLUMNS and all(len(row) == 3 for row in r.rows)
    r = describe_statement(ast.Describe(ast.DescribeKind.TABLE, ast.QualifiedName(None, "events")), schema, ctx, "ks")
    assert r.columns == ELEMENT_COLUMNS and r.rows[0][:3] == ("ks", "table", "events")
    r = describe_statement(ast.Describe(ast.DescribeKind.KEYSPACE, ast.QualifiedName(None, "ks"), only=True),
                           schema, ctx, None)
    assert len(r.rows) == 1 and r.rows[0][1] == "keyspace"
    r = describe_statement(ast.Describe(ast.DescribeKind.NAME, ast.QualifiedName(None, "vn")), schema, ctx, None)
    assert [row[1] for row in r.rows] == ["keyspace", "table"]
    r = describe_statement(ast.Describe(ast.DescribeKind.TABLE, ast.QualifiedName("system", "local")),
                           schema, ctx, None)
    assert "    key text,\n" in str(r.rows[0][3])


@pytest.mark.parametrize(("kind", "name", "current", "message"), [
    ("keyspace", "nope", None, "'nope' not found in keyspaces"),
    ("keyspace", None, None, "No keyspace specified and no current keyspace"),
    ("table", ("ks", "nope"), None, "Table 'nope' not found in keyspace 'ks'"),
    ("table", "events", None, "No keyspace specified"),
    ("table", ("nope", "t"), None, "'nope' not found in keyspaces"),
    ("type", ("ks", "nope"), None, "User defined type 'nope' not found in 'ks'"),
    ("name", "nope", "ks", "'nope' not found in keyspace 'ks'"),
    ("index", ("ks", "i"), None, "Index 'i' not found in 'ks'"),
    ("tables", None, "nope", "'nope' not found in keyspaces"),
])
def test_errors(kind: str, name: Any, current: str | None, message: str) -> None:
    schema = sample_schema()
    with pytest.raises(InvalidRequest, match=message):
        describe(kind, name, schema, None, current)


def test_cluster() -> None:
    schema = sample_schema()
    ctx = context(schema)
    r = describe_cluster(ctx, None)
    assert r.columns == CLUSTER_COLUMNS
    assert r.rows == [("Test Cluster", "org.apache.cassandra.dht.Murmur3Partitioner",
                       "org.apache.cassandra.locator.SimpleSnitch")]
    r = describe_cluster(ctx, "ks")
    assert r.columns[-1][0] == "range_ownership"
    ownership = r.rows[0][3]
    assert isinstance(ownership, dict)
    # Ring: -100, 5 (local), 7 (peer), 2**62 (local); RF 3 in one DC with two nodes -> both own all.
    assert list(ownership) == ["-100", "5", "7", str(2**62)]
    assert ownership["5"] == ["127.0.0.1", "127.0.0.2"]
    assert ownership["7"] == ["127.0.0.2", "127.0.0.1"]
    r = describe_cluster(ctx, "vn")   # SimpleStrategy RF 1
    assert r.rows[0][3] == {"-100": ["127.0.0.1"], "5": ["127.0.0.1"], "7": ["127.0.0.2"],
                            str(2**62): ["127.0.0.1"]}
    with pytest.raises(InvalidRequest):
        describe_cluster(ctx, "nope")
