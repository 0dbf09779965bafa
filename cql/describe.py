"""Server-side DESCRIBE: the result rows of every DESCRIBE form, as ScyllaDB 6 produces them.

Owns the CQL text that re-creates a schema object (CREATE KEYSPACE / TABLE / TYPE statements) and
the shape of DESCRIBE results, which cqlsh (both the PyPI and the ScyllaDB flavour) prints:
- element forms (KEYSPACE, TABLE, TYPE, SCHEMA, FULL SCHEMA, a bare name) return rows
  `(keyspace_name, type, name, create_statement)`; cqlsh prints each `create_statement`;
- listing forms (KEYSPACES, TABLES, TYPES, FUNCTIONS, AGGREGATES) return rows
  `(keyspace_name, type, name)`; cqlsh prints the names grouped by `keyspace_name`;
- CLUSTER returns one row `(cluster, partitioner, snitch[, range_ownership])`, the last column
  only when a keyspace is in use.

Invariants: every statement produced, executed in order on an empty cluster, re-creates the
described objects with the same options (identifiers quoted when needed, strings escaped, types
before the tables that use them, a type before the types that use it). Unknown objects raise
`InvalidRequest` with Cassandra's wording.

Pure functions of a `Schema` and a `SystemContext`; never executes anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cql.ast import Describe, DescribeKind, QualifiedName
from cql.errors import InvalidRequest
from cql.schema import ColumnDef, KeyspaceDef, Schema, TableDef, UserTypeDef
from cql.system_tables import (
    SYSTEM_KEYSPACES,
    SystemContext,
    all_system_tables,
    is_system_keyspace,
    system_table,
)
from cql.table_options import (
    LOCATOR_PREFIX,
    extension_options,
    format_double,
    replication_class_short_name,
    table_options_with_defaults,
)

__all__ = [
    "CLUSTER_COLUMNS",
    "ELEMENT_COLUMNS",
    "LIST_COLUMNS",
    "DescribeResult",
    "create_keyspace_statement",
    "create_table_statement",
    "create_type_statement",
    "describe",
    "describe_cluster",
    "describe_statement",
    "quote_identifier",
    "quote_string",
]

ELEMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("keyspace_name", "text"), ("type", "text"), ("name", "text"), ("create_statement", "text"),
)
LIST_COLUMNS: tuple[tuple[str, str], ...] = ELEMENT_COLUMNS[:3]
CLUSTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("cluster", "text"), ("partitioner", "text"), ("snitch", "text"),
)
_RANGE_OWNERSHIP_COLUMN = ("range_ownership", "map<text, frozen<list<text>>>")

_LIST_KINDS = {DescribeKind.KEYSPACES, DescribeKind.TABLES, DescribeKind.TYPES,
               DescribeKind.FUNCTIONS, DescribeKind.AGGREGATES}

DescribeRow = tuple[str, str, str, str | None]


@dataclass(frozen=True)
class DescribeResult:
    """What the server sends back: result columns `(name, cql type)` and rows of Python values."""

    columns: tuple[tuple[str, str], ...]
    rows: list[tuple[object, ...]]


# --------------------------------------------------------------------------------------------------
# Quoting

# Reserved words of CQL (Cassandra's list, plus the ones cassandra-driver also escapes): an
# identifier equal to one of them must be double-quoted. Quoting more than strictly needed is
# harmless; quoting less breaks re-creation.
_RESERVED = frozenset((
    "add", "aggregate", "all", "allow", "alter", "and", "any", "apply", "asc", "authorize", "batch",
    "begin", "by", "call", "columnfamily", "create", "default", "delete", "desc", "describe",
    "drop", "entries", "execute", "from", "full", "function", "grant", "if", "in", "index",
    "infinity", "insert", "into", "is", "keyspace", "keyspaces", "limit", "materialized", "mbean",
    "mbeans", "modify", "nan", "norecursive", "not", "null", "of", "on", "or", "order", "primary",
    "rename", "replace", "revoke", "schema", "select", "set", "table", "tables", "to", "token",
    "truncate", "unlogged", "unset", "update", "use", "using", "view", "where", "with", "active",
    "application", "applications", "authentication", "calls", "cluster", "columns", "commit",
    "config", "delegation", "executor", "executors", "field", "indices", "internal", "java",
    "kerberos", "ldap", "lowercasestring", "method", "no", "node", "nodes", "object", "plan",
    "profiles", "rebuild", "redact", "reload", "remote", "renew", "restrict", "rows", "scheme",
    "schemes", "search", "std_err", "std_out", "submission", "unrestrict", "workpool", "true", "false",
))

_UNQUOTED_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def quote_identifier(name: str) -> str:
    """`name` as CQL source: unchanged if it is a lowercase unreserved identifier, else in double
    quotes with embedded quotes doubled."""
    if _UNQUOTED_RE.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _map_literal(m: Mapping[str, Any], first: str | None = None) -> str:
    # ScyllaDB prints option maps from std::map: keys sorted; a leading 'class' where it has one.
    keys = sorted(k for k in m if k != first)
    if first is not None and first in m:
        keys.insert(0, first)
    return "{" + ", ".join(f"{quote_string(k)}: {quote_string(str(m[k]))}" for k in keys) + "}"


# --------------------------------------------------------------------------------------------------
# CREATE statements


def create_keyspace_statement(ks: KeyspaceDef) -> str:
    """ScyllaDB 6's form: replication class in full, `tablets` only when it says something
    (`{'enabled': false}` for a vnodes keyspace, `{'initial': N}` for N > 0)."""
    repl = dict(ks.replication)
    cls = repl.get("class", "")
    if cls and "." not in cls:
        repl["class"] = LOCATOR_PREFIX + cls
    text = (f"CREATE KEYSPACE {quote_identifier(ks.name)} WITH replication = {_map_literal(repl, 'class')}"
            f" AND durable_writes = {'true' if ks.durable_writes else 'false'}")
    if ks.initial_tablets is None:
        text += " AND tablets = {'enabled': false}"
    elif ks.initial_tablets > 0:
        text += f" AND tablets = {{'initial': {ks.initial_tablets}}}"
    return text + ";"


def create_type_statement(t: UserTypeDef) -> str:
    fields = ",\n".join(f"    {quote_identifier(n)} {ty}" for n, ty in zip(t.field_names, t.field_types))
    return f"CREATE TYPE {quote_identifier(t.keyspace)}.{quote_identifier(t.name)} (\n{fields}\n);"


def _column_line(c: ColumnDef) -> str:
    return f"    {quote_identifier(c.name)} {c.type}" + (" STATIC" if c.kind.value == "static" else "")


def _option_value(value: object) -> str:
    if isinstance(value, Mapping):
        return _map_literal(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, int):
        return str(value)
    return quote_string(str(value))


def table_properties(table: TableDef) -> list[str]:
    """The `name = value` properties DESCRIBE prints after WITH, in ScyllaDB's order."""
    o = table_options_with_defaults(table.options)
    props = [
        f"bloom_filter_fp_chance = {format_double(float(o['bloom_filter_fp_chance']))}",
        f"caching = {_map_literal(o['caching'])}",
        f"comment = {quote_string(str(o['comment']))}",
        f"compaction = {_map_literal(o['compaction'], 'class')}",
        f"compression = {_map_literal(o['compression'])}",
        f"crc_check_chance = {format_double(float(o['crc_check_chance']))}",
        f"default_time_to_live = {int(o['default_time_to_live'])}",
        f"gc_grace_seconds = {int(o['gc_grace_seconds'])}",
        f"max_index_interval = {int(o['max_index_interval'])}",
        f"memtable_flush_period_in_ms = {int(o['memtable_flush_period_in_ms'])}",
        f"min_index_interval = {int(o['min_index_interval'])}",
        f"speculative_retry = {quote_string(str(o['speculative_retry']))}",
    ]
    props += [f"{name} = {_option_value(value)}" for name, value in extension_options(o)]
    return props


def create_table_statement(table: TableDef, *, with_internals: bool = False) -> str:
    """CREATE TABLE in ScyllaDB 6's layout: one column per line (key columns, then static, then
    regular, each group by name), the PRIMARY KEY clause, then WITH and one option per line."""
    ks, name = quote_identifier(table.keyspace), quote_identifier(table.name)
    statics = sorted(table.static_columns, key=lambda c: c.name)
    regulars = sorted(table.regular_columns, key=lambda c: c.name)
    lines = [_column_line(c) for c in (*table.partition_key, *table.clustering_key, *statics, *regulars)]
    dropped = sorted(table.dropped_columns.values(), key=lambda d: d.name) if with_internals else []
    if with_internals:
        # A dropped column is declared, then dropped at its timestamp, so that data written before
        # the drop stays invisible when the schema is restored; a re-added one comes back after.
        readded = {d.name for d in dropped}
        lines = [line for c, line in zip((*table.partition_key, *table.clustering_key, *statics, *regulars), lines)
                 if c.name not in readded]
        lines += [f"    {quote_identifier(d.name)} {d.type}" for d in dropped]
    pk = [quote_identifier(c.name) for c in table.partition_key]
    pk_text = pk[0] if len(pk) == 1 else "(" + ", ".join(pk) + ")"
    key = ", ".join([pk_text, *(quote_identifier(c.name) for c in table.clustering_key)])
    lines.append(f"    PRIMARY KEY ({key})")
    text = f"CREATE TABLE {ks}.{name} (\n" + ",\n".join(lines) + "\n) WITH "
    props: list[str] = []
    if with_internals:
        props.append(f"ID = {table.id}")
    if table.clustering_key:
        order = ", ".join(f"{quote_identifier(c.name)} {'DESC' if c.reversed else 'ASC'}"
                          for c in table.clustering_key)
        props.append(f"CLUSTERING ORDER BY ({order})")
    props += table_properties(table)
    text += "\n    AND ".join(props) + ";\n"
    for d in dropped:
        text += f"\nALTER TABLE {ks}.{name} DROP {quote_identifier(d.name)} USING TIMESTAMP {d.dropped_at_us};"
        live = table.column(d.name)
        if live is not None:
            text += f"\nALTER TABLE {ks}.{name} ADD {_column_line(live).strip()};"
    return text


# --------------------------------------------------------------------------------------------------
# Lookup helpers (user schema plus the virtual system keyspaces)


def _keyspace(schema: Schema, name: str) -> KeyspaceDef | None:
    if name in SYSTEM_KEYSPACES:
        return SYSTEM_KEYSPACES[name]
    return schema.keyspace(name)


def _keyspace_names(schema: Schema) -> list[str]:
    return sorted(set(SYSTEM_KEYSPACES) | set(schema.keyspaces))


def _tables(schema: Schema, keyspace: str) -> list[TableDef]:
    if is_system_keyspace(keyspace):
        return [vt.table for vt in all_system_tables() if vt.keyspace == keyspace]
    return schema.tables_of(keyspace)


def _table(schema: Schema, keyspace: str, name: str) -> TableDef | None:
    if is_system_keyspace(keyspace):
        vt = system_table(keyspace, name)
        return vt.table if vt is not None else None
    return schema.table(keyspace, name)


def _types(schema: Schema, keyspace: str) -> list[UserTypeDef]:
    """The keyspace's types, each after every type it uses (then by name)."""
    if is_system_keyspace(keyspace):
        return []
    remaining = {t.name: t for t in schema.types_of(keyspace)}
    ordered: list[UserTypeDef] = []
    while remaining:
        progress = False
        for name in sorted(remaining):
            t = remaining[name]
            used = {n for n in remaining if n != name and any(_mentions(ft, n) for ft in t.field_types)}
            if not used:
                ordered.append(t)
                del remaining[name]
                progress = True
                break
        if not progress:  # a cycle cannot be created; keep going rather than loop forever
            ordered += [remaining[n] for n in sorted(remaining)]
            break
    return ordered


def _mentions(type_text: str, udt: str) -> bool:
    # The type text may spell the name quoted or not (quoting rules differ slightly between
    # writers): look for either form as a whole identifier.
    for form in {udt, '"' + udt.replace('"', '""') + '"'}:
        if re.search(rf"(?<![\w\"]){re.escape(form)}(?![\w\"])", type_text):
            return True
    return False


def _require_keyspace(schema: Schema, name: str | None, current: str | None) -> KeyspaceDef:
    ks_name = name if name is not None else current
    if ks_name is None:
        raise InvalidRequest("No keyspace specified and no current keyspace")
    ks = _keyspace(schema, ks_name)
    if ks is None:
        raise InvalidRequest(f"'{ks_name}' not found in keyspaces")
    return ks


# --------------------------------------------------------------------------------------------------
# DESCRIBE forms


def _keyspace_rows(schema: Schema, ks: KeyspaceDef, *, only: bool, with_internals: bool) -> list[DescribeRow]:
    rows: list[DescribeRow] = [(ks.name, "keyspace", quote_identifier(ks.name), create_keyspace_statement(ks))]
    if only:
        return rows
    for t in _types(schema, ks.name):
        rows.append((ks.name, "type", quote_identifier(t.name), create_type_statement(t)))
    for table in _tables(schema, ks.name):
        rows.append((ks.name, "table", quote_identifier(table.name),
                     create_table_statement(table, with_internals=with_internals)))
    return rows


def _split_name(name: QualifiedName | tuple[str | None, str] | str | None) -> tuple[str | None, str | None]:
    if name is None:
        return None, None
    if isinstance(name, QualifiedName):
        return name.keyspace, name.name
    if isinstance(name, tuple):
        return name[0], name[1]
    return None, name


def _kind(kind: DescribeKind | str) -> tuple[DescribeKind, bool]:
    if isinstance(kind, DescribeKind):
        return kind, False
    text = " ".join(kind.lower().replace("_", " ").split())
    if text == "full schema":
        return DescribeKind.SCHEMA, True
    if text in ("columnfamily", "columnfamilies"):
        text = "table" if text == "columnfamily" else "tables"
    if text == "materialized view":
        return DescribeKind.MATERIALIZED_VIEW, False
    try:
        return DescribeKind(text), False
    except ValueError:
        raise InvalidRequest(f"Unknown DESCRIBE kind {kind!r}") from None


def describe(
    kind: DescribeKind | str,
    name: QualifiedName | tuple[str | None, str] | str | None,
    schema: Schema,
    ctx: SystemContext | None,
    current_keyspace: str | None,
    *,
    full: bool = False,
    with_internals: bool = False,
    only: bool = False,
) -> list[DescribeRow]:
    """Rows `(keyspace_name, type, name, create_statement)` of a DESCRIBE; `create_statement` is
    None for the listing kinds (send only the first three columns, `LIST_COLUMNS`).

    `name`: for KEYSPACE the keyspace (None = current); for TABLE/TYPE/INDEX/... the object,
    optionally qualified (`QualifiedName`, `(keyspace, name)` or a bare name in the current
    keyspace). CLUSTER is `describe_cluster` (different columns); `ctx` is only needed there.
    """
    k, full_from_text = _kind(kind)
    full = full or full_from_text
    ks_part, obj = _split_name(name)

    if k is DescribeKind.KEYSPACES:
        return [(n, "keyspace", quote_identifier(n), None) for n in _keyspace_names(schema)]
    if k in (DescribeKind.TABLES, DescribeKind.TYPES):
        names = [current_keyspace] if current_keyspace is not None else _keyspace_names(schema)
        rows: list[DescribeRow] = []
        for ks_name in names:
            _require_keyspace(schema, ks_name, None)
            if k is DescribeKind.TABLES:
                rows += [(ks_name, "table", quote_identifier(t.name), None) for t in _tables(schema, ks_name)]
            else:
                rows += [(ks_name, "type", quote_identifier(t.name), None) for t in _types(schema, ks_name)]
        return rows
    if k in (DescribeKind.FUNCTIONS, DescribeKind.AGGREGATES):
        if current_keyspace is not None:
            _require_keyspace(schema, current_keyspace, None)
        return []   # user-defined functions and aggregates are not supported
    if k is DescribeKind.KEYSPACE:
        ks = _require_keyspace(schema, obj if ks_part is None else ks_part, current_keyspace)
        return _keyspace_rows(schema, ks, only=only, with_internals=with_internals)
    if k is DescribeKind.SCHEMA:
        rows = []
        for ks_name in _keyspace_names(schema):
            if full or not is_system_keyspace(ks_name):
                ks = _require_keyspace(schema, ks_name, None)
                rows += _keyspace_rows(schema, ks, only=False, with_internals=with_internals)
        return rows
    if k is DescribeKind.CLUSTER:
        raise InvalidRequest("DESCRIBE CLUSTER has its own result columns: use describe_cluster()")
    if obj is None:
        raise InvalidRequest(f"DESCRIBE {k.value.upper()} needs a name")
    if k is DescribeKind.NAME and ks_part is None:
        # A bare name is first a keyspace, then an object of the current keyspace (Cassandra's order).
        maybe_ks = _keyspace(schema, obj)
        if maybe_ks is not None:
            return _keyspace_rows(schema, maybe_ks, only=False, with_internals=with_internals)
    ks = _require_keyspace(schema, ks_part, current_keyspace)
    if k is DescribeKind.TABLE:
        table = _table(schema, ks.name, obj)
        if table is None:
            raise InvalidRequest(f"Table '{obj}' not found in keyspace '{ks.name}'")
        return [(ks.name, "table", quote_identifier(table.name),
                 create_table_statement(table, with_internals=with_internals))]
    if k is DescribeKind.TYPE:
        t = schema.user_type(ks.name, obj) if not is_system_keyspace(ks.name) else None
        if t is None:
            raise InvalidRequest(f"User defined type '{obj}' not found in '{ks.name}'")
        return [(ks.name, "type", quote_identifier(t.name), create_type_statement(t))]
    if k is DescribeKind.NAME:
        table = _table(schema, ks.name, obj)
        if table is not None:
            return [(ks.name, "table", quote_identifier(table.name),
                     create_table_statement(table, with_internals=with_internals))]
        raise InvalidRequest(f"'{obj}' not found in keyspace '{ks.name}'")
    what = {
        DescribeKind.INDEX: "Index",
        DescribeKind.MATERIALIZED_VIEW: "Materialized view",
        DescribeKind.FUNCTION: "User defined function",
        DescribeKind.AGGREGATE: "User defined aggregate",
    }[k]
    raise InvalidRequest(f"{what} '{obj}' not found in '{ks.name}'")


def describe_cluster(ctx: SystemContext, current_keyspace: str | None) -> DescribeResult:
    """DESCRIBE CLUSTER: cluster name, partitioner, snitch and, with a keyspace in use, which
    endpoints own each token range of the node ring for that keyspace (keyed by the range's end
    token; tablet keyspaces are shown by the same vnode-ring computation, as an approximation)."""
    n = ctx.node
    base: tuple[object, ...] = (n.cluster_name, n.partitioner, n.snitch)
    if current_keyspace is None:
        return DescribeResult(CLUSTER_COLUMNS, [base])
    ks = _require_keyspace(ctx.schema, current_keyspace, None)
    return DescribeResult((*CLUSTER_COLUMNS, _RANGE_OWNERSHIP_COLUMN), [(*base, _range_ownership(ctx, ks))])


def _range_ownership(ctx: SystemContext, ks: KeyspaceDef) -> dict[str, list[str]]:
    nodes: list[tuple[str, str]] = [(ctx.node.broadcast_address, ctx.node.data_center)]
    nodes += [(p.peer, p.data_center) for p in ctx.peers]
    ring = sorted([(t, ctx.node.broadcast_address, ctx.node.data_center) for t in ctx.node.tokens]
                  + [(t, p.peer, p.data_center) for p in ctx.peers for t in p.tokens])
    strategy = replication_class_short_name(ks.replication.get("class", ""))
    options = {k: v for k, v in ks.replication.items() if k != "class"}
    result: dict[str, list[str]] = {}
    for i, (token, _, _) in enumerate(ring):
        if strategy == "LocalStrategy":
            owners = [ctx.node.broadcast_address]
        elif strategy == "EverywhereStrategy":
            owners = [addr for addr, _ in nodes]
        else:
            wanted = ({"": int(options.get("replication_factor", "1"))} if strategy == "SimpleStrategy"
                      else {dc: int(rf) for dc, rf in options.items()})
            owners = _walk_ring(ring, i, wanted, by_dc=strategy != "SimpleStrategy")
        result[str(token)] = owners
    return result


def _walk_ring(ring: Sequence[tuple[int, str, str]], start: int, wanted: dict[str, int], *,
               by_dc: bool) -> list[str]:
    owners: list[str] = []
    taken: dict[str, int] = dict.fromkeys(wanted, 0)
    for j in range(len(ring)):
        _, addr, dc = ring[(start + j) % len(ring)]
        bucket = dc if by_dc else ""
        if addr in owners or bucket not in wanted or taken[bucket] >= wanted[bucket]:
            continue
        owners.append(addr)
        taken[bucket] += 1
    return owners


def describe_statement(
    stmt: Describe, schema: Schema, ctx: SystemContext, current_keyspace: str | None
) -> DescribeResult:
    """Execute a parsed DESCRIBE: its result columns and rows, ready to serialize."""
    if stmt.kind is DescribeKind.CLUSTER:
        return describe_cluster(ctx, current_keyspace)
    rows = describe(stmt.kind, stmt.name, schema, ctx, current_keyspace,
                    full=stmt.full, with_internals=stmt.with_internals, only=stmt.only)
    if stmt.kind in _LIST_KINDS:
        return DescribeResult(LIST_COLUMNS, [r[:3] for r in rows])
    return DescribeResult(ELEMENT_COLUMNS, [tuple(r) for r in rows])
