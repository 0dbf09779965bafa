"""A table's schema resolved for execution: column types, key encoders, storage options.

Owns the per-table work that must not be repeated per request: parsing every column's type text,
knowing which columns are keys and in which direction they sort, and encoding/decoding partition
and clustering keys to the byte forms storage uses (contracts.md section 2.3). One `TableInfo` is
built per table per schema version and shared by every statement prepared against it.

Invariant: a `TableInfo` describes exactly one `TableDef`; a schema change builds new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cql.schema import ColumnDef, ColumnKind, Schema, TableDef
from cql.token import murmur3_token
from cql.types import (
    CQLType,
    UserTypeDefLike,
    decode_clustering,
    encode_clustering,
    encode_clustering_prefix,
    parse_type,
    serialize_partition_key,
    split_partition_key,
)

# Bounds around a clustering prefix p (contracts.md 2.3): p + BEFORE < keys with prefix p < p + AFTER.
BEFORE = b"\x20"
AFTER = b"\x60"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    definition: ColumnDef
    type: CQLType
    index: int                  # position in TableInfo.columns (SELECT * order)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def kind(self) -> ColumnKind:
        return self.definition.kind


class TableInfo:
    def __init__(self, table: TableDef, resolve_type: Callable[[str], CQLType]) -> None:
        self.table = table
        self.keyspace = table.keyspace
        self.name = table.name
        self.id = table.id
        ordered = table.ordered_columns()
        self.columns: tuple[ColumnInfo, ...] = tuple(
            ColumnInfo(c, resolve_type(c.type), i) for i, c in enumerate(ordered)
        )
        self.by_name: dict[str, ColumnInfo] = {c.name: c for c in self.columns}
        self.partition_key = tuple(self.by_name[c.name] for c in table.partition_key)
        self.clustering_key = tuple(self.by_name[c.name] for c in table.clustering_key)
        self.pk_types = [c.type for c in self.partition_key]
        self.ck_types = [c.type for c in self.clustering_key]
        self.ck_desc = [c.definition.reversed for c in self.clustering_key]
        self.static_columns = tuple(c for c in self.columns if c.kind is ColumnKind.STATIC)
        self.regular_columns = tuple(c for c in self.columns if c.kind is ColumnKind.REGULAR)
        self.is_counter = table.is_counter
        self.has_static = bool(self.static_columns)
        self.default_ttl_s = int(table.options.get("default_time_to_live", 0) or 0)
        self.gc_grace_seconds = int(table.options.get("gc_grace_seconds", 864000))
        self.is_virtual = table.is_virtual

    def column(self, name: str) -> ColumnInfo | None:
        return self.by_name.get(name)

    # --- partition keys -------------------------------------------------------------------

    def partition_key_bytes(self, values: Sequence[bytes]) -> bytes:
        return serialize_partition_key(list(values))

    def token_of(self, key: bytes) -> int:
        return murmur3_token(key)

    def split_partition_key(self, key: bytes) -> list[bytes]:
        return split_partition_key(self.pk_types, key)

    # --- clustering keys ------------------------------------------------------------------

    def clustering_bytes(self, values: Sequence[bytes]) -> bytes:
        """The full clustering key (every clustering column given)."""
        if not self.clustering_key:
            return b""
        return encode_clustering(self.ck_types, self.ck_desc, list(values))

    def clustering_prefix(self, values: Sequence[bytes]) -> bytes:
        return encode_clustering_prefix(self.ck_types[: len(values)], self.ck_desc[: len(values)],
                                        list(values))

    def decode_clustering(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        return decode_clustering(self.ck_types, self.ck_desc, data)


class TableInfoCache:
    """TableInfo per table for one schema version (rebuilt lazily when the version changes)."""

    def __init__(self, type_resolver: Callable[[Schema, str], Callable[[str], CQLType]]) -> None:
        self._resolver = type_resolver
        self._version: object = None
        self._infos: dict[tuple[str, str], TableInfo] = {}

    def get(self, schema: Schema, table: TableDef) -> TableInfo:
        if self._version != schema.version:
            self._infos.clear()
            self._version = schema.version
        key = (table.keyspace, table.name)
        info = self._infos.get(key)
        if info is None or info.table is not table:
            info = TableInfo(table, self._resolver(schema, table.keyspace))
            self._infos[key] = info
        return info


def type_resolver_for(schema: Schema, keyspace: str) -> Callable[[str], CQLType]:
    """Parse type text in `keyspace`, resolving user types from `schema`."""

    def lookup(name: str) -> UserTypeDefLike | None:
        ks, _, tname = name.rpartition(".")
        return schema.user_type(ks or keyspace, tname)

    return lambda text: parse_type(text, lookup)
