"""The schema model: keyspaces, tables, columns and user types as plain immutable data.

Owns what a schema *is*, independent of where it is stored (group 0 later, a local file now) and of
how values are typed (column types are kept as CQL type text, e.g. `frozen<list<int>>`, and resolved
by `cql.types.parse_type` where needed). Every object here is frozen; a schema change produces a
new `Schema` with a new version, so readers can hold a snapshot without locks.

Invariants:
- table and keyspace names are stored as the user wrote them (case kept if quoted, else lowercased
  by the parser); lookups are exact.
- a `TableDef` lists partition key columns in key order (position 0..n-1), then clustering columns
  in clustering order, then static and regular columns sorted by name; `position` is -1 for
  static/regular columns, as `system_schema.columns` shows it.
- a schema object never references a type that is not defined in its keyspace (checked by the
  statement that changes the schema).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType
from typing import Any


class ColumnKind(Enum):
    PARTITION_KEY = "partition_key"
    CLUSTERING = "clustering"
    STATIC = "static"
    REGULAR = "regular"


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    type: str                   # CQL type text as system_schema.columns.type shows it
    kind: ColumnKind
    position: int = -1          # index within the partition key / clustering key; -1 otherwise
    reversed: bool = False      # clustering column declared DESC

    @property
    def clustering_order(self) -> str:
        if self.kind is not ColumnKind.CLUSTERING:
            return "none"
        return "desc" if self.reversed else "asc"

    @property
    def is_primary_key(self) -> bool:
        return self.kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING)


@dataclass(frozen=True, slots=True)
class DroppedColumn:
    name: str
    type: str
    dropped_at_us: int          # data written at or before this is invisible if re-added


def _frozen_map(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class TableDef:
    keyspace: str
    name: str
    id: uuid.UUID
    columns: tuple[ColumnDef, ...]
    options: Mapping[str, Any] = field(default_factory=lambda: _frozen_map(None))
    dropped_columns: Mapping[str, DroppedColumn] = field(default_factory=lambda: _frozen_map(None))
    is_virtual: bool = False    # system tables whose rows are computed, not stored

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError(f"duplicate column in table {self.keyspace}.{self.name}")
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(
            self, "partition_key",
            tuple(sorted((c for c in self.columns if c.kind is ColumnKind.PARTITION_KEY),
                         key=lambda c: c.position)),
        )
        object.__setattr__(
            self, "clustering_key",
            tuple(sorted((c for c in self.columns if c.kind is ColumnKind.CLUSTERING),
                         key=lambda c: c.position)),
        )
        object.__setattr__(self, "static_columns",
                           tuple(c for c in self.columns if c.kind is ColumnKind.STATIC))
        object.__setattr__(self, "regular_columns",
                           tuple(c for c in self.columns if c.kind is ColumnKind.REGULAR))

    # Derived in __post_init__; declared for the type checker.
    _by_name: dict[str, ColumnDef] = field(init=False, repr=False, compare=False)
    partition_key: tuple[ColumnDef, ...] = field(init=False, repr=False, compare=False)
    clustering_key: tuple[ColumnDef, ...] = field(init=False, repr=False, compare=False)
    static_columns: tuple[ColumnDef, ...] = field(init=False, repr=False, compare=False)
    regular_columns: tuple[ColumnDef, ...] = field(init=False, repr=False, compare=False)

    def column(self, name: str) -> ColumnDef | None:
        return self._by_name.get(name)

    @property
    def primary_key(self) -> tuple[ColumnDef, ...]:
        return self.partition_key + self.clustering_key

    @property
    def is_counter(self) -> bool:
        return any(c.type == "counter" for c in self.columns)

    def ordered_columns(self) -> tuple[ColumnDef, ...]:
        """Columns in the order `SELECT *` returns them: partition key, clustering, then the rest
        (static and regular) by name — Cassandra's order."""
        rest = sorted(self.static_columns + self.regular_columns, key=lambda c: c.name)
        return self.partition_key + self.clustering_key + tuple(rest)

    def with_columns(self, columns: Iterable[ColumnDef]) -> TableDef:
        return replace(self, columns=tuple(columns))


@dataclass(frozen=True)
class UserTypeDef:
    keyspace: str
    name: str
    field_names: tuple[str, ...]
    field_types: tuple[str, ...]


@dataclass(frozen=True)
class KeyspaceDef:
    name: str
    replication: Mapping[str, str]
    durable_writes: bool = True
    # None: vnodes-style keyspace (tablets disabled); else the `initial` tablet count (0 = auto).
    initial_tablets: int | None = 0

    @property
    def uses_tablets(self) -> bool:
        return self.initial_tablets is not None


@dataclass(frozen=True)
class Schema:
    """One immutable version of the whole schema."""

    version: uuid.UUID
    keyspaces: Mapping[str, KeyspaceDef]
    tables: Mapping[tuple[str, str], TableDef]
    types: Mapping[tuple[str, str], UserTypeDef]

    @staticmethod
    def empty() -> Schema:
        return Schema(uuid.uuid1(), _frozen_map(None), MappingProxyType({}), MappingProxyType({}))

    def keyspace(self, name: str) -> KeyspaceDef | None:
        return self.keyspaces.get(name)

    def table(self, keyspace: str, name: str) -> TableDef | None:
        return self.tables.get((keyspace, name))

    def user_type(self, keyspace: str, name: str) -> UserTypeDef | None:
        return self.types.get((keyspace, name))

    def tables_of(self, keyspace: str) -> list[TableDef]:
        return sorted((t for (ks, _), t in self.tables.items() if ks == keyspace), key=lambda t: t.name)

    def types_of(self, keyspace: str) -> list[UserTypeDef]:
        return sorted((t for (ks, _), t in self.types.items() if ks == keyspace), key=lambda t: t.name)

    def table_by_id(self, table_id: uuid.UUID) -> TableDef | None:
        for t in self.tables.values():
            if t.id == table_id:
                return t
        return None

    def evolve(
        self,
        *,
        keyspaces: Mapping[str, KeyspaceDef] | None = None,
        tables: Mapping[tuple[str, str], TableDef] | None = None,
        types: Mapping[tuple[str, str], UserTypeDef] | None = None,
    ) -> Schema:
        """A new schema version with the given parts replaced."""
        return Schema(
            uuid.uuid1(),
            MappingProxyType(dict(keyspaces if keyspaces is not None else self.keyspaces)),
            MappingProxyType(dict(tables if tables is not None else self.tables)),
            MappingProxyType(dict(types if types is not None else self.types)),
        )
