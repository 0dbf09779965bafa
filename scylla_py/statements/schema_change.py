"""DDL: CREATE/ALTER/DROP of keyspaces, tables and user types, as pure metadata transitions.

Owns the validation rules of schema statements (Cassandra/ScyllaDB semantics and messages) and the
computation of the next `Metadata` (schema + tablets maps) from the current one. It performs no I/O:
the caller makes the new metadata durable, adapts storage (new/dropped/altered tables) and announces
the change. That keeps the same transition usable as a group-0 command later.

Invariants: a transition either raises (and changes nothing) or returns a complete, consistent
metadata value; system keyspaces are never modified by users.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from cql import ast as A
from cql.errors import AlreadyExists, ConfigurationException, InvalidRequest, Unauthorized
from cql.schema import ColumnDef, ColumnKind, DroppedColumn, KeyspaceDef, Schema, TableDef, UserTypeDef
from cql.system_tables import is_system_keyspace
from cql.table_options import normalize_keyspace_options, normalize_table_options
from cql.types import CQLType, parse_type
from topology.tablets import Replica, TableTablets, default_tablet_count

from ..metadata import Metadata
from .typeinfo import kind_of


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What a DDL statement did (the RESULT SCHEMA_CHANGE / EVENT content)."""

    change_type: str       # CREATED | UPDATED | DROPPED
    target: str            # KEYSPACE | TABLE | TYPE
    keyspace: str
    name: str | None = None


@dataclass
class SchemaEnvironment:
    """What DDL needs to know about the node: where tablets go and the write clock."""

    shards: list[Replica]              # (host_id, shard) of every shard tablets may use
    datacenters: list[str]
    timestamp_us: Callable[[], int]
    min_tablets_per_shard: int = 1


def _props(properties: tuple[A.Property, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for p in properties:
        if p.name in out:
            raise InvalidRequest(f"Multiple definitions for property {p.name}")
        out[p.name] = p.value
    return out


def _check_user_keyspace(name: str) -> None:
    if is_system_keyspace(name):
        raise Unauthorized(f"Cannot modify system keyspace {name}")


def _resolver(schema: Schema, keyspace: str) -> Callable[[str], CQLType]:
    def lookup(name: str) -> UserTypeDef | None:
        ks, _, tname = name.rpartition(".")
        if ks and ks != keyspace:
            raise InvalidRequest(f"Statement on keyspace {keyspace} cannot refer to a user type in keyspace {ks}; "
                                 "user types can only be used in the keyspace they are defined in")
        u = schema.user_type(keyspace, tname)
        if u is None:
            raise InvalidRequest(f"Unknown type {keyspace}.{tname}")
        return u

    return lambda text: parse_type(text, lookup)


class SchemaChanger:
    def __init__(self, env: SchemaEnvironment) -> None:
        self.env = env

    # --- keyspaces ------------------------------------------------------------------------

    def create_keyspace(self, m: Metadata, s: A.CreateKeyspace) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(s.name)
        if m.schema.keyspace(s.name) is not None:
            if s.if_not_exists:
                return m, None
            raise AlreadyExists(f"Keyspace '{s.name}' already exists", s.name)
        _validate_name(s.name, "Keyspace")
        replication, durable, initial = normalize_keyspace_options(
            _props(s.properties), None, keyspace=s.name, datacenters=self.env.datacenters)
        ks = KeyspaceDef(s.name, MappingProxyType(replication), durable, initial)
        schema = m.schema.evolve(keyspaces={**m.schema.keyspaces, s.name: ks})
        return m.evolve(schema=schema), SchemaChange("CREATED", "KEYSPACE", s.name)

    def alter_keyspace(self, m: Metadata, s: A.AlterKeyspace) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(s.name)
        old = m.schema.keyspace(s.name)
        if old is None:
            raise InvalidRequest(f"Keyspace '{s.name}' does not exist")
        replication, durable, initial = normalize_keyspace_options(
            _props(s.properties), old, keyspace=s.name, datacenters=self.env.datacenters)
        ks = KeyspaceDef(s.name, MappingProxyType(replication), durable, initial)
        schema = m.schema.evolve(keyspaces={**m.schema.keyspaces, s.name: ks})
        return m.evolve(schema=schema), SchemaChange("UPDATED", "KEYSPACE", s.name)

    def drop_keyspace(self, m: Metadata, s: A.DropKeyspace) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(s.name)
        if m.schema.keyspace(s.name) is None:
            if s.if_exists:
                return m, None
            raise InvalidRequest(f"Keyspace '{s.name}' does not exist")
        dropped_ids = {t.id for t in m.schema.tables_of(s.name)}
        schema = m.schema.evolve(
            keyspaces={k: v for k, v in m.schema.keyspaces.items() if k != s.name},
            tables={k: v for k, v in m.schema.tables.items() if k[0] != s.name},
            types={k: v for k, v in m.schema.types.items() if k[0] != s.name},
        )
        tablets = {k: v for k, v in m.tablets.items() if k not in dropped_ids}
        return m.evolve(schema=schema, tablets=tablets), SchemaChange("DROPPED", "KEYSPACE", s.name)

    # --- tables ---------------------------------------------------------------------------

    def create_table(self, m: Metadata, s: A.CreateTable, keyspace: str) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(keyspace)
        ks = m.schema.keyspace(keyspace)
        if ks is None:
            raise InvalidRequest(f"Keyspace '{keyspace}' does not exist")
        name = s.table.name
        if m.schema.table(keyspace, name) is not None:
            if s.if_not_exists:
                return m, None
            raise AlreadyExists(f"Table '{keyspace}.{name}' already exists", keyspace, name)
        _validate_name(name, "Table")
        if s.compact_storage:
            raise InvalidRequest("COMPACT STORAGE tables are not supported")
        resolve = _resolver(m.schema, keyspace)
        defined: dict[str, A.ColumnDefinition] = {}
        for c in s.columns:
            if c.name in defined:
                raise InvalidRequest(f"Multiple definition of identifier {c.name}")
            defined[c.name] = c
        if not s.partition_key:
            raise InvalidRequest("No PRIMARY KEY specified for table (exactly one required)")
        for k in (*s.partition_key, *s.clustering_columns):
            if k not in defined:
                raise InvalidRequest(f"Unknown definition {k} referenced in PRIMARY KEY")
        key_names = set(s.partition_key) | set(s.clustering_columns)
        if len(key_names) != len(s.partition_key) + len(s.clustering_columns):
            raise InvalidRequest("Duplicate column in PRIMARY KEY")
        order = {o.column: o.descending for o in s.clustering_order}
        for i, o in enumerate(s.clustering_order):
            if o.column not in s.clustering_columns:
                raise InvalidRequest(f"Only clustering key columns can be defined in CLUSTERING ORDER directive: {o.column}")
            if i >= len(s.clustering_columns) or s.clustering_columns[i] != o.column:
                raise InvalidRequest("The order of columns in the CLUSTERING ORDER directive must match that of the clustering columns")
        columns: list[ColumnDef] = []
        counters = 0
        for c in s.columns:
            t = resolve(c.type_text)
            if c.name in s.partition_key or c.name in s.clustering_columns:
                if c.static:
                    raise InvalidRequest(f"Static column {c.name} cannot be part of the PRIMARY KEY")
                if t.is_multicell:
                    raise InvalidRequest(f"Invalid non-frozen collection type {t.cql_name()} for PRIMARY KEY component {c.name}")
                if t.is_counter:
                    raise InvalidRequest(f"counter type is not supported for PRIMARY KEY column '{c.name}'")
                if t.references_duration():
                    raise InvalidRequest(f"duration type is not supported for PRIMARY KEY column '{c.name}'")
                if c.name in s.partition_key:
                    columns.append(ColumnDef(c.name, t.cql_name(), ColumnKind.PARTITION_KEY, s.partition_key.index(c.name)))
                else:
                    columns.append(ColumnDef(c.name, t.cql_name(), ColumnKind.CLUSTERING,
                                             s.clustering_columns.index(c.name), order.get(c.name, False)))
                continue
            if c.static and not s.clustering_columns:
                raise InvalidRequest("Static columns are only useful (and thus allowed) if the table has at least one clustering column")
            if t.is_counter:
                counters += 1
            _check_no_counter_inside(t, c.name)
            columns.append(ColumnDef(c.name, t.cql_name(), ColumnKind.STATIC if c.static else ColumnKind.REGULAR))
        regular = len(columns) - len(key_names)
        if counters and counters != regular:
            raise InvalidRequest("Cannot mix counter and non counter columns in the same table")
        props = _props(s.properties)
        options = normalize_table_options(props)
        table_id = uuid.uuid4()
        if "id" in options:
            table_id = uuid.UUID(str(options.pop("id")))
        if counters and options.get("default_time_to_live"):
            raise InvalidRequest("Cannot set default_time_to_live on a table with counters")
        table = TableDef(keyspace, name, table_id, tuple(columns), MappingProxyType(options))
        tablets = self._allocate_tablets(ks, table_id)
        schema = m.schema.evolve(tables={**m.schema.tables, (keyspace, name): table})
        return (m.evolve(schema=schema, tablets={**m.tablets, table_id: tablets}),
                SchemaChange("CREATED", "TABLE", keyspace, name))

    def _allocate_tablets(self, ks: KeyspaceDef, table_id: uuid.UUID) -> TableTablets:
        shards = self.env.shards
        if ks.initial_tablets:
            count = 1
            while count < ks.initial_tablets:
                count <<= 1
        else:
            count = default_tablet_count(len(shards), self.env.min_tablets_per_shard)
        rf = _replication_factor(ks)
        return TableTablets.allocate(table_id, count, shards, max(1, rf))

    def alter_table(self, m: Metadata, s: A.AlterTable, keyspace: str) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(keyspace)
        table = _existing_table(m.schema, keyspace, s.table.name)
        action = s.action
        resolve = _resolver(m.schema, keyspace)
        if isinstance(action, A.AddColumns):
            cols = list(table.columns)
            for added in action.columns:
                c = added
                if table.column(c.name) is not None or any(x.name == c.name for x in cols):
                    raise InvalidRequest(f"Invalid column name {c.name} because it conflicts with an existing column")
                t = resolve(c.type_text)
                if c.static and not table.clustering_key:
                    raise InvalidRequest(f"Static columns are not allowed in tables with no clustering columns (column {c.name})")
                if t.is_counter != table.is_counter and table.regular_columns + table.static_columns:
                    raise InvalidRequest("Cannot mix counter and non counter columns in the same table")
                was = table.dropped_columns.get(c.name)
                if was is not None and was.type != t.cql_name() and not t.is_multicell:
                    raise InvalidRequest(f"Cannot re-add previously dropped column '{c.name}' of type {t.cql_name()}, "
                                         f"incompatible with previous type {was.type}")
                cols.append(ColumnDef(c.name, t.cql_name(), ColumnKind.STATIC if c.static else ColumnKind.REGULAR))
            new = replace(table, columns=tuple(cols))
        elif isinstance(action, A.DropColumns):
            ts = self.env.timestamp_us()
            dropped = dict(table.dropped_columns)
            names = set(action.columns)
            for n in names:
                existing = table.column(n)
                if existing is None:
                    raise InvalidRequest(f"Column {n} was not found in table {keyspace}.{table.name}")
                if existing.is_primary_key:
                    raise InvalidRequest(f"Cannot drop PRIMARY KEY part {n}")
                dropped[n] = DroppedColumn(n, existing.type, ts)
            new = replace(table, columns=tuple(c for c in table.columns if c.name not in names),
                          dropped_columns=MappingProxyType(dropped))
        elif isinstance(action, A.RenameColumns):
            cols_by = {c.name: c for c in table.columns}
            for old, new_name in action.renames:
                col = cols_by.get(old)
                if col is None:
                    raise InvalidRequest(f"Cannot rename unknown column {old} in table {keyspace}.{table.name}")
                if not col.is_primary_key:
                    raise InvalidRequest(f"Cannot rename non PRIMARY KEY column {old}")
                if new_name in cols_by:
                    raise InvalidRequest(f"Cannot rename column {old} to {new_name} in table {table.name}; "
                                         "another column of that name already exist")
                del cols_by[old]
                cols_by[new_name] = replace(col, name=new_name)
            new = replace(table, columns=tuple(cols_by.values()))
        elif isinstance(action, A.AlterColumnType):
            raise InvalidRequest("Altering of types is not allowed")
        else:
            options = normalize_table_options(_props(action.properties), table.options)
            options.pop("id", None)
            if table.is_counter and options.get("default_time_to_live"):
                raise InvalidRequest("Cannot set default_time_to_live on a table with counters")
            new = replace(table, options=MappingProxyType(options))
        schema = m.schema.evolve(tables={**m.schema.tables, (keyspace, table.name): new})
        return m.evolve(schema=schema), SchemaChange("UPDATED", "TABLE", keyspace, table.name)

    def drop_table(self, m: Metadata, s: A.DropTable, keyspace: str) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(keyspace)
        if m.schema.keyspace(keyspace) is None:
            if s.if_exists:
                return m, None
            raise InvalidRequest(f"Keyspace '{keyspace}' does not exist")
        table = m.schema.table(keyspace, s.table.name)
        if table is None:
            if s.if_exists:
                return m, None
            raise InvalidRequest(f"Table '{keyspace}.{s.table.name}' does not exist")
        schema = m.schema.evolve(tables={k: v for k, v in m.schema.tables.items() if k != (keyspace, table.name)})
        tablets = {k: v for k, v in m.tablets.items() if k != table.id}
        return m.evolve(schema=schema, tablets=tablets), SchemaChange("DROPPED", "TABLE", keyspace, table.name)

    # --- user types -----------------------------------------------------------------------

    def create_type(self, m: Metadata, s: A.CreateType, keyspace: str) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(keyspace)
        if m.schema.keyspace(keyspace) is None:
            raise InvalidRequest(f"Keyspace '{keyspace}' does not exist")
        name = s.name.name
        if m.schema.user_type(keyspace, name) is not None:
            if s.if_not_exists:
                return m, None
            raise InvalidRequest(f"A user type of name {keyspace}.{name} already exists")
        if name in _RESERVED_TYPE_NAMES:
            raise InvalidRequest(f"Type name {name} is reserved")
        seen: set[str] = set()
        resolve = _resolver(m.schema, keyspace)
        types = []
        for f in s.fields:
            if f.name in seen:
                raise InvalidRequest(f"Duplicate field name {f.name} in type {name}")
            seen.add(f.name)
            t = resolve(f.type_text)
            if t.is_counter:
                raise InvalidRequest("A user type cannot contain counters")
            if t.is_multicell:
                raise InvalidRequest(f"Non-frozen UDTs with nested non-frozen collections are not supported (field {f.name})")
            types.append(t.cql_name())
        u = UserTypeDef(keyspace, name, tuple(f.name for f in s.fields), tuple(types))
        schema = m.schema.evolve(types={**m.schema.types, (keyspace, name): u})
        return m.evolve(schema=schema), SchemaChange("CREATED", "TYPE", keyspace, name)

    def alter_type(self, m: Metadata, s: A.AlterType, keyspace: str) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(keyspace)
        u = m.schema.user_type(keyspace, s.name.name)
        if u is None:
            raise InvalidRequest(f"No user type named {keyspace}.{s.name.name} exists.")
        if isinstance(s.action, A.AddField):
            f = s.action.field
            if f.name in u.field_names:
                raise InvalidRequest(f"Cannot add new field {f.name} to type {keyspace}.{u.name}: a field of the same name already exists")
            t = _resolver(m.schema, keyspace)(f.type_text)
            new = replace(u, field_names=(*u.field_names, f.name), field_types=(*u.field_types, t.cql_name()))
        else:
            names = list(u.field_names)
            for old, new_name in s.action.renames:
                if old not in names:
                    raise InvalidRequest(f"Unknown field {old} in type {keyspace}.{u.name}")
                names[names.index(old)] = new_name
            new = replace(u, field_names=tuple(names))
        schema = m.schema.evolve(types={**m.schema.types, (keyspace, u.name): new})
        return m.evolve(schema=schema), SchemaChange("UPDATED", "TYPE", keyspace, u.name)

    def drop_type(self, m: Metadata, s: A.DropType, keyspace: str) -> tuple[Metadata, SchemaChange | None]:
        _check_user_keyspace(keyspace)
        u = m.schema.user_type(keyspace, s.name.name)
        if u is None:
            if s.if_exists:
                return m, None
            raise InvalidRequest(f"No user type named {keyspace}.{s.name.name} exists.")
        for t in m.schema.tables_of(keyspace):
            for c in t.columns:
                if _mentions_type(c.type, u.name):
                    raise InvalidRequest(f"Cannot drop user type {keyspace}.{u.name} as it is still used by table {keyspace}.{t.name}")
        for other in m.schema.types_of(keyspace):
            if other.name != u.name and any(_mentions_type(ft, u.name) for ft in other.field_types):
                raise InvalidRequest(f"Cannot drop user type {keyspace}.{u.name} as it is still used by user type {other.name}")
        schema = m.schema.evolve(types={k: v for k, v in m.schema.types.items() if k != (keyspace, u.name)})
        return m.evolve(schema=schema), SchemaChange("DROPPED", "TYPE", keyspace, u.name)


_RESERVED_TYPE_NAMES = frozenset({
    "byte", "complex", "enum", "date", "interval", "macaddr", "bitstring", "ascii", "bigint", "blob",
    "boolean", "counter", "decimal", "double", "float", "inet", "int", "text", "timestamp", "uuid",
    "varchar", "varint", "timeuuid", "time", "smallint", "tinyint", "duration",
})


def _mentions_type(type_text: str, name: str) -> bool:
    import re

    return re.search(rf'(?<![\w"]){re.escape(name)}(?![\w"])|"{re.escape(name)}"', type_text) is not None


def _check_no_counter_inside(t: CQLType, column: str) -> None:
    if kind_of(t) != "native" and any(sub.is_counter for sub in t.subtypes()):
        raise InvalidRequest(f"Counters are not allowed inside collections: {column}")


def _validate_name(name: str, what: str) -> None:
    if len(name) > 48:
        raise InvalidRequest(f"{what} name must not be more than 48 characters long (got \"{name}\")")
    if not name or not all(ch.isalnum() or ch == "_" for ch in name):
        raise InvalidRequest(f"{what} name must be non-empty and contain only alphanumeric characters "
                             f"and underscores (got \"{name}\")")


def _existing_table(schema: Schema, keyspace: str, name: str) -> TableDef:
    if schema.keyspace(keyspace) is None:
        raise InvalidRequest(f"Keyspace '{keyspace}' does not exist")
    t = schema.table(keyspace, name)
    if t is None:
        raise InvalidRequest(f"Table '{keyspace}.{name}' does not exist")
    return t


def _replication_factor(ks: KeyspaceDef) -> int:
    r: Mapping[str, Any] = ks.replication
    total = 0
    for k, v in r.items():
        if k == "class":
            continue
        try:
            total += int(v)
        except (TypeError, ValueError):
            raise ConfigurationException(f"Invalid replication factor {v!r} for {k}") from None
    return total
