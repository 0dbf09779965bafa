"""cql.parser: every statement form parses to the expected AST node."""

from __future__ import annotations

from typing import Any

import pytest

from cql import ast
from cql.errors import InvalidRequest
from cql.parser import parse, parse_script
from cql.terms import (
    BindMarker,
    FunctionCall,
    ListLiteral,
    Literal,
    LiteralKind,
    MapLiteral,
    SetLiteral,
    TupleLiteral,
    TypeCast,
    UserTypeLiteral,
)


def stmt(text: str) -> Any:
    return parse(text).statement


def s(text: str) -> Literal:
    return Literal(LiteralKind.STRING, text)


def i(text: str) -> Literal:
    return Literal(LiteralKind.INTEGER, text)


def q(name: str, keyspace: str | None = None) -> ast.QualifiedName:
    return ast.QualifiedName(keyspace, name)


EQ = ast.Operator.EQ


# -- session and keyspaces -------------------------------------------------------------------------


def test_use() -> None:
    assert stmt("USE ks;") == ast.Use("ks")
    assert stmt('use "MyKs"') == ast.Use("MyKs")


def test_create_keyspace() -> None:
    got = stmt(
        "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'NetworkTopologyStrategy', "
        "'dc1': 3} AND durable_writes = false AND tablets = {'enabled': true, 'initial': 8}"
    )
    assert got == ast.CreateKeyspace("ks", True, (
        ast.Property("replication", {"class": "NetworkTopologyStrategy", "dc1": "3"}),
        ast.Property("durable_writes", False),
        ast.Property("tablets", {"enabled": "true", "initial": "8"}),
    ))


def test_alter_and_drop_keyspace() -> None:
    assert stmt("ALTER KEYSPACE ks WITH durable_writes = true") == ast.AlterKeyspace(
        "ks", (ast.Property("durable_writes", True),))
    assert stmt("DROP KEYSPACE IF EXISTS ks") == ast.DropKeyspace("ks", True)
    assert stmt("DROP KEYSPACE ks") == ast.DropKeyspace("ks", False)


def test_property_values() -> None:
    got = stmt("ALTER TABLE t WITH gc_grace_seconds = 10 AND crc_check_chance = 0.5 AND comment = 'it''s'"
               " AND speculative_retry = NONE")
    assert got.action == ast.SetTableProperties((
        ast.Property("gc_grace_seconds", 10),
        ast.Property("crc_check_chance", 0.5),
        ast.Property("comment", "it's"),
        ast.Property("speculative_retry", "none"),
    ))


# -- tables ----------------------------------------------------------------------------------------


def test_create_table_inline_primary_key() -> None:
    got = stmt("CREATE TABLE t (k int PRIMARY KEY, v text, s set<int>)")
    assert got == ast.CreateTable(
        q("t"), False,
        (ast.ColumnDefinition("k", "int", primary_key=True), ast.ColumnDefinition("v", "text"),
         ast.ColumnDefinition("s", "set<int>")),
        ("k",), (),
    )


def test_create_table_full() -> None:
    got = stmt(
        "CREATE TABLE IF NOT EXISTS ks.t (a int, b uuid, c timestamp, d text, "
        "e FROZEN<List<Int>>, f map<text, frozen<tuple<int, text>>> STATIC, g ks.addr, "
        "PRIMARY KEY ((a, b), c, d)) WITH CLUSTERING ORDER BY (c DESC, d ASC) AND COMPACT STORAGE "
        "AND comment = 'x' AND compaction = {'class': 'LeveledCompactionStrategy'}"
    )
    assert got.table == q("t", "ks")
    assert got.if_not_exists
    assert [c.type_text for c in got.columns] == [
        "int", "uuid", "timestamp", "text", "frozen<list<int>>",
        "map<text, frozen<tuple<int, text>>>", "ks.addr"]
    assert got.columns[5].static
    assert got.partition_key == ("a", "b")
    assert got.clustering_columns == ("c", "d")
    assert got.clustering_order == (ast.Ordering("c", True), ast.Ordering("d", False))
    assert got.compact_storage
    assert got.properties == (
        ast.Property("comment", "x"),
        ast.Property("compaction", {"class": "LeveledCompactionStrategy"}),
    )


def test_create_table_single_partition_key_clause_and_quoted_types() -> None:
    got = stmt('CREATE COLUMNFAMILY t ("Key" int, v "MyType", PRIMARY KEY ("Key"))')
    assert got.partition_key == ("Key",)
    assert got.columns[1] == ast.ColumnDefinition("v", '"MyType"')


def test_create_table_two_primary_keys_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        parse("CREATE TABLE t (k int PRIMARY KEY, v int, PRIMARY KEY (v))")


def test_alter_table_actions() -> None:
    assert stmt("ALTER TABLE ks.t ADD x int").action == ast.AddColumns(
        (ast.ColumnDefinition("x", "int"),))
    assert stmt("ALTER TABLE t ADD x int, y list<text> static").action == ast.AddColumns(
        (ast.ColumnDefinition("x", "int"), ast.ColumnDefinition("y", "list<text>", static=True)))
    assert stmt("ALTER TABLE t ADD (x int, y text)").action == ast.AddColumns(
        (ast.ColumnDefinition("x", "int"), ast.ColumnDefinition("y", "text")))
    assert stmt("ALTER TABLE t DROP x").action == ast.DropColumns(("x",))
    assert stmt("ALTER TABLE t DROP (x, y)").action == ast.DropColumns(("x", "y"))
    assert stmt("ALTER TABLE t DROP x USING TIMESTAMP 5").action == ast.DropColumns(("x",), i("5"))
    assert stmt("ALTER TABLE t RENAME a TO b AND c TO d").action == ast.RenameColumns(
        (("a", "b"), ("c", "d")))
    assert stmt("ALTER TABLE t ALTER v TYPE blob").action == ast.AlterColumnType("v", "blob")
    assert stmt("ALTER TABLE t WITH comment = 'c'") == ast.AlterTable(
        q("t"), ast.SetTableProperties((ast.Property("comment", "c"),)))


def test_drop_and_truncate() -> None:
    assert stmt("DROP TABLE IF EXISTS ks.t") == ast.DropTable(q("t", "ks"), True)
    assert stmt("DROP TABLE t") == ast.DropTable(q("t"), False)
    assert stmt("TRUNCATE t") == ast.Truncate(q("t"))
    assert stmt("TRUNCATE TABLE ks.t") == ast.Truncate(q("t", "ks"))


# -- types, indexes, views ---------------------------------------------------------------------------


def test_user_types() -> None:
    assert stmt("CREATE TYPE IF NOT EXISTS ks.addr (street text, zip int, tags frozen<set<text>>)") == \
        ast.CreateType(q("addr", "ks"), True, (
            ast.FieldDefinition("street", "text"), ast.FieldDefinition("zip", "int"),
            ast.FieldDefinition("tags", "frozen<set<text>>")))
    assert stmt("ALTER TYPE addr ADD city text") == ast.AlterType(
        q("addr"), ast.AddField(ast.FieldDefinition("city", "text")))
    assert stmt("ALTER TYPE addr RENAME zip TO code AND street TO road") == ast.AlterType(
        q("addr"), ast.RenameFields((("zip", "code"), ("street", "road"))))
    assert stmt("DROP TYPE IF EXISTS addr") == ast.DropType(q("addr"), True)


def test_indexes() -> None:
    assert stmt("CREATE INDEX IF NOT EXISTS idx ON ks.t (v)") == ast.CreateIndex(
        "idx", q("t", "ks"), (ast.IndexTarget("v"),), True)
    assert stmt("CREATE INDEX ON t (keys(m))").targets == (
        ast.IndexTarget("m", ast.IndexTargetKind.KEYS),)
    assert stmt("CREATE INDEX ON t (entries(m))").targets[0].kind == ast.IndexTargetKind.ENTRIES
    assert stmt("CREATE INDEX ON t (full(l))").targets[0].kind == ast.IndexTargetKind.FULL
    assert stmt("CREATE INDEX ON t (values(l))").targets[0].kind == ast.IndexTargetKind.VALUES
    local = stmt("CREATE INDEX li ON t ((p1, p2), v)")
    assert local.partition_columns == ("p1", "p2")
    assert local.targets == (ast.IndexTarget("v"),)
    custom = stmt("CREATE CUSTOM INDEX ON t (v) USING 'org.Sasi' WITH options = {'mode': 'CONTAINS'}")
    assert custom.custom_class == "org.Sasi"
    assert custom.properties == (ast.Property("options", {"mode": "CONTAINS"}),)
    assert stmt("DROP INDEX IF EXISTS ks.idx") == ast.DropIndex(q("idx", "ks"), True)


def test_materialized_views() -> None:
    got = stmt(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS ks.mv AS SELECT a, b FROM ks.t "
        "WHERE a IS NOT NULL AND b IS NOT NULL PRIMARY KEY (b, a) WITH CLUSTERING ORDER BY (a DESC)"
    )
    assert got == ast.CreateMaterializedView(
        q("mv", "ks"), True, q("t", "ks"),
        (ast.Selector(ast.ColumnSelector("a")), ast.Selector(ast.ColumnSelector("b"))),
        (ast.IsNotNullRelation("a"), ast.IsNotNullRelation("b")),
        ("b",), ("a",), (ast.Ordering("a", True),), (),
    )
    assert stmt("CREATE MATERIALIZED VIEW mv AS SELECT * FROM t WHERE a IS NOT NULL "
                "PRIMARY KEY ((a, b))").selectors == ()
    assert stmt("ALTER MATERIALIZED VIEW mv WITH comment = 'x'") == ast.AlterMaterializedView(
        q("mv"), (ast.Property("comment", "x"),))
    assert stmt("DROP MATERIALIZED VIEW IF EXISTS mv") == ast.DropMaterializedView(q("mv"), True)


# -- INSERT / UPDATE / DELETE / BATCH ----------------------------------------------------------------


def test_insert() -> None:
    got = stmt("INSERT INTO ks.t (a, b, c) VALUES (1, 'x', ?) IF NOT EXISTS "
               "USING TTL 10 AND TIMESTAMP 123 AND TIMEOUT 5s;")
    assert got == ast.Insert(
        q("t", "ks"), ("a", "b", "c"), (i("1"), s("x"), BindMarker(0)), True,
        ast.Using(i("10"), i("123"), Literal(LiteralKind.DURATION, "5s")))


def test_insert_unmatched_values() -> None:
    with pytest.raises(InvalidRequest, match="Unmatched column names/values"):
        parse("INSERT INTO t (a, b) VALUES (1)")


def test_insert_json() -> None:
    assert stmt("INSERT INTO t JSON '{\"a\": 1}'") == ast.InsertJson(q("t"), s('{"a": 1}'))
    got = stmt("INSERT INTO t JSON ? DEFAULT UNSET IF NOT EXISTS USING TTL ?")
    assert got == ast.InsertJson(q("t"), BindMarker(0), True, True, ast.Using(ttl=BindMarker(1)))
    assert not stmt("INSERT INTO t JSON '{}' DEFAULT NULL").default_unset


def test_update_assignments() -> None:
    got = stmt(
        "UPDATE ks.t USING TTL 5 SET a = 1, c = c + 1, l = l + [2], l = [0] + l, s = s - {3}, "
        "m += {'k': 1}, m -= {'k'}, m['k'] = 2, l[0] = 7, u.street = 'x' WHERE k = 1"
    )
    assert got.using == ast.Using(ttl=i("5"))
    assert got.assignments == (
        ast.SetColumn("a", i("1")),
        ast.AddToColumn("c", i("1")),
        ast.AddToColumn("l", ListLiteral((i("2"),))),
        ast.PrependToColumn("l", ListLiteral((i("0"),))),
        ast.SubtractFromColumn("s", SetLiteral((i("3"),))),
        ast.AddToColumn("m", MapLiteral(((s("k"), i("1")),))),
        ast.SubtractFromColumn("m", SetLiteral((s("k"),))),
        ast.SetElement("m", s("k"), i("2")),
        ast.SetElement("l", i("0"), i("7")),
        ast.SetField("u", "street", s("x")),
    )
    assert got.where == (ast.ColumnRelation("k", EQ, i("1")),)


def test_update_counter_and_mismatched_column() -> None:
    assert stmt("UPDATE t SET c = c - 3 WHERE k = 1").assignments == (
        ast.SubtractFromColumn("c", i("3")),)
    with pytest.raises(InvalidRequest):
        parse("UPDATE t SET c = d + 1 WHERE k = 1")


def test_update_conditions() -> None:
    assert stmt("UPDATE t SET v = 1 WHERE k = 1 IF EXISTS").if_exists
    got = stmt("UPDATE t SET v = 1 WHERE k = 1 IF v = 2 AND m['a'] > 3 AND u.f != 4 AND v IN (1, 2) "
               "AND w IN ? AND s CONTAINS 5")
    assert got.conditions == (
        ast.Condition("v", EQ, i("2")),
        ast.Condition("m", ast.Operator.GT, i("3"), key=s("a")),
        ast.Condition("u", ast.Operator.NEQ, i("4"), field="f"),
        ast.Condition("v", ast.Operator.IN, TupleLiteral((i("1"), i("2")))),
        ast.Condition("w", ast.Operator.IN, BindMarker(0)),
        ast.Condition("s", ast.Operator.CONTAINS, i("5")),
    )
    assert not got.if_exists


def test_delete() -> None:
    assert stmt("DELETE FROM t WHERE k = 1") == ast.Delete(q("t"), (), (ast.ColumnRelation("k", EQ, i("1")),))
    got = stmt("DELETE a, m['x'], l[0], u.f FROM ks.t USING TIMESTAMP 9 WHERE k = 1 IF a = 1")
    assert got.targets == (
        ast.DeleteTarget("a"), ast.DeleteTarget("m", key=s("x")), ast.DeleteTarget("l", key=i("0")),
        ast.DeleteTarget("u", field="f"))
    assert got.using == ast.Using(timestamp=i("9"))
    assert got.conditions == (ast.Condition("a", EQ, i("1")),)
    assert stmt("DELETE FROM t WHERE k = 1 IF EXISTS").if_exists


def test_batch() -> None:
    got = stmt("BEGIN UNLOGGED BATCH USING TIMESTAMP 1 INSERT INTO t (a) VALUES (?); "
               "UPDATE t SET v = ? WHERE k = ?; DELETE FROM t WHERE k = :k APPLY BATCH;")
    assert got.kind == ast.BatchKind.UNLOGGED
    assert got.using == ast.Using(timestamp=i("1"))
    assert [type(c) for c in got.statements] == [ast.Insert, ast.Update, ast.Delete]
    assert stmt("BEGIN BATCH APPLY BATCH").kind == ast.BatchKind.LOGGED
    assert stmt("BEGIN COUNTER BATCH UPDATE t SET c = c + 1 WHERE k = 1; APPLY BATCH").kind == \
        ast.BatchKind.COUNTER
    parsed = parse("BEGIN BATCH INSERT INTO t (a, b) VALUES (?, ?) INSERT INTO t (a) VALUES (:x) APPLY BATCH")
    assert parsed.bind_count == 3
    assert parsed.bind_names == (None, None, "x")


# -- SELECT ----------------------------------------------------------------------------------------


def test_select_driver_queries() -> None:
    got = stmt("SELECT * FROM system.local WHERE key='local' USING TIMEOUT 2000ms;")
    assert got == ast.Select(q("local", "system"), (), wildcard=True,
                             where=(ast.ColumnRelation("key", EQ, s("local")),),
                             timeout=Literal(LiteralKind.DURATION, "2000ms"))
    got = stmt("SELECT * FROM system_schema.functions WHERE keyspace_name = 'ks' AND function_name = 'f' "
               "AND argument_types = ['int']")
    assert got.where[2] == ast.ColumnRelation("argument_types", EQ, ListLiteral((s("int"),)))
    got = stmt("SELECT peer, data_center, host_id, rack, release_version, rpc_address, schema_version, "
               "tokens FROM system.peers")
    assert [sel.expression.name for sel in got.selectors][:3] == ["peer", "data_center", "host_id"]


def test_select_clauses() -> None:
    got = stmt("SELECT JSON DISTINCT a AS x, b FROM t WHERE a IN (1, 2) AND b >= 3 AND c < 4 "
               "GROUP BY a, b ORDER BY b DESC, c PER PARTITION LIMIT 2 LIMIT ? ALLOW FILTERING "
               "BYPASS CACHE USING TIMEOUT 1m")
    assert got.json and got.distinct
    assert got.selectors == (ast.Selector(ast.ColumnSelector("a"), "x"), ast.Selector(ast.ColumnSelector("b")))
    assert got.where == (
        ast.InRelation("a", (i("1"), i("2"))),
        ast.ColumnRelation("b", ast.Operator.GTE, i("3")),
        ast.ColumnRelation("c", ast.Operator.LT, i("4")),
    )
    assert got.group_by == ("a", "b")
    assert got.order_by == (ast.Ordering("b", True), ast.Ordering("c"))
    assert got.per_partition_limit == i("2")
    assert got.limit == BindMarker(0)
    assert got.allow_filtering and got.bypass_cache
    assert got.timeout == Literal(LiteralKind.DURATION, "1m")


def test_selectors() -> None:
    got = stmt("SELECT count(*), COUNT(1), count(v), writetime(v), ttl(v) AS t, token(a, b), "
               "toTimestamp(now()), ks.f(a, 1), CAST(a AS text), u.street, m['k'], f(a).x, 'lit', "
               "null, ? FROM t")
    exprs = [sel.expression for sel in got.selectors]
    assert exprs == [
        ast.CountRowsSelector(),
        ast.CountRowsSelector(),
        ast.FunctionSelector(q("count"), (ast.ColumnSelector("v"),)),
        ast.WritetimeSelector("v"),
        ast.TtlSelector("v"),
        ast.FunctionSelector(q("token"), (ast.ColumnSelector("a"), ast.ColumnSelector("b"))),
        ast.FunctionSelector(q("totimestamp"), (ast.FunctionSelector(q("now"), ()),)),
        ast.FunctionSelector(q("f", "ks"), (ast.ColumnSelector("a"), ast.TermSelector(i("1")))),
        ast.CastSelector(ast.ColumnSelector("a"), "text"),
        ast.FieldSelector(ast.ColumnSelector("u"), "street"),
        ast.ElementSelector(ast.ColumnSelector("m"), s("k")),
        ast.FieldSelector(ast.FunctionSelector(q("f"), (ast.ColumnSelector("a"),)), "x"),
        ast.TermSelector(s("lit")),
        ast.TermSelector(Literal(LiteralKind.NULL, "null")),
        ast.TermSelector(BindMarker(0)),
    ]
    assert got.selectors[4].alias == "t"


def test_relations() -> None:
    got = stmt(
        "SELECT * FROM t WHERE token(a, b) > token(1, 2) AND token(a, b) <= ? AND token(a) = -5 "
        "AND (c, d) >= (1, 2) AND (c, d) < ? AND (c, d) IN ((1, 2), (3, 4)) AND (c, d) IN ? "
        "AND (c, d) IN (?, ?) AND s CONTAINS 3 AND m CONTAINS KEY 'k' AND n LIKE 'a%' "
        "AND x != 1 AND m['k'] = 2 AND y IN ? AND z IN ()"
    )
    assert got.where == (
        ast.TokenRelation(("a", "b"), ast.Operator.GT, FunctionCall("token", (i("1"), i("2")))),
        ast.TokenRelation(("a", "b"), ast.Operator.LTE, BindMarker(0)),
        ast.TokenRelation(("a",), EQ, i("-5")),
        ast.MultiColumnRelation(("c", "d"), ast.Operator.GTE, TupleLiteral((i("1"), i("2")))),
        ast.MultiColumnRelation(("c", "d"), ast.Operator.LT, BindMarker(1)),
        ast.MultiColumnInRelation(("c", "d"), (TupleLiteral((i("1"), i("2"))), TupleLiteral((i("3"), i("4"))))),
        ast.MultiColumnInRelation(("c", "d"), BindMarker(2)),
        ast.MultiColumnInRelation(("c", "d"), (BindMarker(3), BindMarker(4))),
        ast.ColumnRelation("s", ast.Operator.CONTAINS, i("3")),
        ast.ColumnRelation("m", ast.Operator.CONTAINS_KEY, s("k")),
        ast.ColumnRelation("n", ast.Operator.LIKE, s("a%")),
        ast.ColumnRelation("x", ast.Operator.NEQ, i("1")),
        ast.ColumnRelation("m", EQ, i("2"), key=s("k")),
        ast.InRelation("y", BindMarker(5)),
        ast.InRelation("z", ()),
    )


# -- terms -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,kind,value", [
    ("'it''s'", LiteralKind.STRING, "it's"),
    ("$$a 'quoted'\nline$$", LiteralKind.STRING, "a 'quoted'\nline"),
    ("42", LiteralKind.INTEGER, "42"),
    ("-42", LiteralKind.INTEGER, "-42"),
    ("3.5", LiteralKind.FLOAT, "3.5"),
    ("-1.5e10", LiteralKind.FLOAT, "-1.5e10"),
    ("2E-3", LiteralKind.FLOAT, "2E-3"),
    ("NaN", LiteralKind.FLOAT, "NaN"),
    ("Infinity", LiteralKind.FLOAT, "Infinity"),
    ("-Infinity", LiteralKind.FLOAT, "-Infinity"),
    ("TRUE", LiteralKind.BOOLEAN, "true"),
    ("false", LiteralKind.BOOLEAN, "false"),
    ("123e4567-e89b-12d3-a456-426614174000", LiteralKind.UUID, "123e4567-e89b-12d3-a456-426614174000"),
    ("0xCAFE", LiteralKind.BLOB, "0xCAFE"),
    ("0x", LiteralKind.BLOB, "0x"),
    ("1h30m", LiteralKind.DURATION, "1h30m"),
    ("2d", LiteralKind.DURATION, "2d"),
    ("-3mo", LiteralKind.DURATION, "-3mo"),
    ("1y2mo3w4d5h6m7s8ms9us10ns", LiteralKind.DURATION, "1y2mo3w4d5h6m7s8ms9us10ns"),
    ("P1DT2H", LiteralKind.DURATION, "P1DT2H"),
    ("P2W", LiteralKind.DURATION, "P2W"),
    ("PT5M", LiteralKind.DURATION, "PT5M"),
    ("null", LiteralKind.NULL, "null"),
])
def test_constants(text: str, kind: LiteralKind, value: str) -> None:
    got = stmt(f"INSERT INTO t (a) VALUES ({text})")
    assert got.values == (Literal(kind, value),)


def test_collection_and_other_terms() -> None:
    got = stmt("INSERT INTO t (a, b, c, d, e, f, g, h, i) VALUES ([1, 2], {1, 2}, {'k': 1}, {}, (1, 'x'), "
               "{street: 'x', zip: 1}, now(), (int) 3, [])")
    assert got.values == (
        ListLiteral((i("1"), i("2"))),
        SetLiteral((i("1"), i("2"))),
        MapLiteral(((s("k"), i("1")),)),
        MapLiteral(()),
        TupleLiteral((i("1"), s("x"))),
        UserTypeLiteral((("street", s("x")), ("zip", i("1")))),
        FunctionCall("now", ()),
        TypeCast("int", i("3")),
        ListLiteral(()),
    )
    assert stmt("INSERT INTO t (a) VALUES (ks.f(1, blobAsInt(0x00)))").values == (
        FunctionCall("f", (i("1"), FunctionCall("blobasint", (Literal(LiteralKind.BLOB, "0x00"),))), "ks"),)


# -- identifiers, comments, markers ----------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "key", "type", "value", "values", "ttl", "writetime", "count", "kind", "position", "keys", "list",
    "map", "filtering", "options", "timeout", "role", "roles", "user", "users", "password", "login",
    "superuser", "access", "static", "name", "data_center", "json", "distinct", "as", "exists",
    "timestamp", "frozen", "tuple", "contains", "like", "cluster", "tables", "types", "keyspaces",
    "function", "functions", "aggregate", "custom", "clustering", "compact", "storage", "text", "int",
    "date", "time", "counter", "permission", "permissions", "all", "per", "partition", "group",
    "bypass", "cache", "only", "internals", "default", "unset", "is", "logged", "materialized",
])
def test_unreserved_keywords_are_identifiers(name: str) -> None:
    got = stmt(f"SELECT {name} FROM ks.{name} WHERE {name} = 1")
    expected_first = ast.ColumnSelector(name)
    assert got.selectors[0].expression == expected_first or (
        name == "as" and got.selectors[0].expression == expected_first)
    assert got.table == q(name, "ks")
    assert got.where == (ast.ColumnRelation(name, EQ, i("1")),)
    created = stmt(f"CREATE TABLE {name} ({name} int PRIMARY KEY, v int)")
    assert created.partition_key == (name,)
    assert stmt(f"UPDATE t SET {name} = 1 WHERE k = 1").assignments == (ast.SetColumn(name, i("1")),)


def test_identifier_case_and_quoting() -> None:
    got = stmt('SELECT MixedCase, "MixedCase", "with ""quotes""", "select" FROM "KS"."Tab"')
    assert [sel.expression.name for sel in got.selectors] == [
        "mixedcase", "MixedCase", 'with "quotes"', "select"]
    assert got.table == q("Tab", "KS")


def test_keywords_case_insensitive() -> None:
    assert stmt("sElEcT * fRoM t wHeRe k = 1 LiMiT 1").limit == i("1")


def test_comments() -> None:
    got = stmt("-- leading\nSELECT /* inline\n comment */ a // trailing\nFROM t -- end")
    assert got.selectors == (ast.Selector(ast.ColumnSelector("a")),)


def test_bind_markers_numbered_in_source_order() -> None:
    parsed = parse("UPDATE t USING TTL ? SET a = ?, b = :bee WHERE k = ? AND c IN ? IF d = :dee")
    assert parsed.bind_count == 6
    assert parsed.bind_names == (None, None, "bee", None, None, "dee")
    st = parsed.statement
    assert st.using.ttl == BindMarker(0)
    assert st.assignments == (ast.SetColumn("a", BindMarker(1)), ast.SetColumn("b", BindMarker(2, "bee")))
    assert st.where == (ast.ColumnRelation("k", EQ, BindMarker(3)), ast.InRelation("c", BindMarker(4)))
    assert st.conditions == (ast.Condition("d", EQ, BindMarker(5, "dee")),)


def test_parse_resets_marker_count_between_calls() -> None:
    assert parse("SELECT * FROM t WHERE k = ?").bind_count == 1
    assert parse("SELECT * FROM t WHERE k = ?").statement.where[0].value == BindMarker(0)


def test_parse_script() -> None:
    got = parse_script("USE ks; SELECT * FROM t WHERE k = ?;; INSERT INTO t (a, b) VALUES (?, :b)")
    assert [type(p.statement) for p in got] == [ast.Use, ast.Select, ast.Insert]
    assert got[1].bind_count == 1
    assert got[2].bind_names == (None, "b")
    assert got[2].statement.values == (BindMarker(0), BindMarker(1, "b"))
    assert parse_script("") == []


# -- roles and permissions ---------------------------------------------------------------------------


def test_roles() -> None:
    got = stmt("CREATE ROLE IF NOT EXISTS alice WITH PASSWORD = 'pw' AND LOGIN = true AND SUPERUSER = false "
               "AND OPTIONS = {'a': 'b'}")
    assert got == ast.CreateRole("alice", True, ast.RoleOptions("pw", True, False, {"a": "b"}))
    assert stmt("CREATE ROLE 'Bob'") == ast.CreateRole("Bob", False, ast.RoleOptions())
    assert stmt("ALTER ROLE bob WITH LOGIN = false") == ast.AlterRole("bob", ast.RoleOptions(login=False))
    assert stmt("ALTER ROLE bob WITH HASHED PASSWORD = 'h'") == ast.AlterRole(
        "bob", ast.RoleOptions(hashed_password="h"))
    assert stmt("DROP ROLE IF EXISTS bob") == ast.DropRole("bob", True)


def test_users() -> None:
    assert stmt("CREATE USER IF NOT EXISTS bob WITH PASSWORD 'pw' SUPERUSER") == ast.CreateUser(
        "bob", True, "pw", True)
    assert stmt("CREATE USER 'bob' NOSUPERUSER") == ast.CreateUser("bob", False, None, False)
    assert stmt("ALTER USER bob WITH PASSWORD 'x'") == ast.AlterUser("bob", "x", None)
    assert stmt("DROP USER IF EXISTS bob") == ast.DropUser("bob", True)
    assert stmt("LIST USERS") == ast.ListUsers()


def test_list_roles() -> None:
    assert stmt("LIST ROLES;") == ast.ListRoles()
    assert stmt("LIST ROLES OF bob NORECURSIVE") == ast.ListRoles("bob", False)


def test_grant_revoke() -> None:
    assert stmt("GRANT admin TO bob") == ast.GrantRole("admin", "bob")
    assert stmt("REVOKE admin FROM bob") == ast.RevokeRole("admin", "bob")
    assert stmt("GRANT SELECT ON ks.t TO bob") == ast.GrantPermission(
        ast.Permission.SELECT, ast.Resource(ast.ResourceKind.TABLE, "ks", "t"), "bob")
    assert stmt("GRANT ALL PERMISSIONS ON ALL KEYSPACES TO bob") == ast.GrantPermission(
        ast.Permission.ALL, ast.Resource(ast.ResourceKind.ALL_KEYSPACES), "bob")
    assert stmt("REVOKE MODIFY PERMISSION ON KEYSPACE ks FROM bob") == ast.RevokePermission(
        ast.Permission.MODIFY, ast.Resource(ast.ResourceKind.KEYSPACE, "ks"), "bob")
    assert stmt("GRANT AUTHORIZE ON ROLE alice TO bob").resource == ast.Resource(
        ast.ResourceKind.ROLE, name="alice")
    assert stmt("GRANT ALTER ON ALL ROLES TO bob").resource == ast.Resource(ast.ResourceKind.ALL_ROLES)
    assert stmt("GRANT EXECUTE ON ALL FUNCTIONS IN KEYSPACE ks TO bob").resource == ast.Resource(
        ast.ResourceKind.ALL_FUNCTIONS, "ks")
    assert stmt("GRANT EXECUTE ON FUNCTION ks.f(int, text) TO bob").resource == ast.Resource(
        ast.ResourceKind.FUNCTION, "ks", "f", ("int", "text"))
    assert stmt("GRANT DESCRIBE ON TABLE t TO bob").resource == ast.Resource(
        ast.ResourceKind.TABLE, None, "t")


def test_list_permissions() -> None:
    assert stmt("LIST ALL PERMISSIONS") == ast.ListPermissions(ast.Permission.ALL)
    assert stmt("LIST ALL PERMISSIONS ON ks.t OF bob NORECURSIVE") == ast.ListPermissions(
        ast.Permission.ALL, ast.Resource(ast.ResourceKind.TABLE, "ks", "t"), "bob", False)
    assert stmt("LIST SELECT OF bob") == ast.ListPermissions(ast.Permission.SELECT, None, "bob")
    assert stmt("LIST ALL") == ast.ListPermissions(ast.Permission.ALL)


# -- DESCRIBE --------------------------------------------------------------------------------------


K = ast.DescribeKind


@pytest.mark.parametrize("text,expected", [
    ("DESCRIBE CLUSTER", ast.Describe(K.CLUSTER)),
    ("DESC KEYSPACES", ast.Describe(K.KEYSPACES)),
    ("DESCRIBE KEYSPACE", ast.Describe(K.KEYSPACE)),
    ("DESCRIBE KEYSPACE ks", ast.Describe(K.KEYSPACE, q("ks"))),
    ("DESCRIBE ONLY KEYSPACE ks WITH INTERNALS", ast.Describe(K.KEYSPACE, q("ks"), only=True,
                                                              with_internals=True)),
    ("DESCRIBE TABLES", ast.Describe(K.TABLES)),
    ("DESCRIBE COLUMNFAMILIES", ast.Describe(K.TABLES)),
    ("DESCRIBE TABLE ks.t", ast.Describe(K.TABLE, q("t", "ks"))),
    ("DESCRIBE COLUMNFAMILY t", ast.Describe(K.TABLE, q("t"))),
    ("DESCRIBE TYPES", ast.Describe(K.TYPES)),
    ("DESCRIBE TYPE ks.addr", ast.Describe(K.TYPE, q("addr", "ks"))),
    ("DESCRIBE FUNCTIONS", ast.Describe(K.FUNCTIONS)),
    ("DESCRIBE FUNCTION ks.f", ast.Describe(K.FUNCTION, q("f", "ks"))),
    ("DESCRIBE AGGREGATES", ast.Describe(K.AGGREGATES)),
    ("DESCRIBE AGGREGATE a", ast.Describe(K.AGGREGATE, q("a"))),
    ("DESCRIBE SCHEMA", ast.Describe(K.SCHEMA)),
    ("DESCRIBE FULL SCHEMA WITH INTERNALS", ast.Describe(K.SCHEMA, full=True, with_internals=True)),
    ("DESCRIBE INDEX ks.i", ast.Describe(K.INDEX, q("i", "ks"))),
    ("DESCRIBE MATERIALIZED VIEW mv", ast.Describe(K.MATERIALIZED_VIEW, q("mv"))),
    ("DESCRIBE ks", ast.Describe(K.NAME, q("ks"))),
    ("DESC ks.t;", ast.Describe(K.NAME, q("t", "ks"))),
    ('DESCRIBE "Ks"."T" WITH INTERNALS', ast.Describe(K.NAME, q("T", "Ks"), with_internals=True)),
])
def test_describe(text: str, expected: ast.Describe) -> None:
    assert stmt(text) == expected


@pytest.mark.parametrize("name", ["users", "roles", "key", "json", "system", "system_schema"])
def test_describe_unreserved_names(name: str) -> None:
    assert stmt(f"DESCRIBE {name}") == ast.Describe(K.NAME, q(name))
    assert stmt(f"DESCRIBE {name}.{name}") == ast.Describe(K.NAME, q(name, name))


@pytest.mark.parametrize("table", [
    "system.local", "system.peers", "system.peers_v2", "system_schema.keyspaces", "system_schema.tables",
    "system_schema.columns", "system_schema.types", "system_schema.functions", "system_schema.aggregates",
    "system_schema.triggers", "system_schema.indexes", "system_schema.views", "system.versions",
    "system_virtual_schema.keyspaces", "system_traces.sessions", "system_traces.events", "system.tablets",
    "system_schema.scylla_keyspaces", 'system."IndexInfo"',
])
def test_system_tables(table: str) -> None:
    got = stmt(f"SELECT * FROM {table} USING TIMEOUT 5000ms")
    assert got.wildcard and got.timeout == Literal(LiteralKind.DURATION, "5000ms")
