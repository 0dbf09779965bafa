"""The node's cluster metadata: schema, tablets maps and roles, and their durable snapshot.

Owns the single current `Metadata` value and its persistence. On a single node the snapshot file is
the source of truth; when group 0 (Raft) replicates metadata, each change becomes a Raft command and
this file becomes the state machine's snapshot — the in-memory shape stays the same.

Invariants:
- `Metadata` is immutable; `MetadataStore.update()` installs a new value only after it is durable
  (written to a temporary file, fsynced, atomically renamed, directory fsynced), so a crash leaves
  either the old or the new snapshot, never a mix.
- Every table with storage (not virtual) has a tablets map.

Snapshot format (version 1): `b"SPYMETA1"`, u32 CRC32 of the body, then the body: msgpack of
`{"schema": {...}, "tablets": {...}, "roles": {...}}`. A CRC mismatch is reported with the path and
refuses to start the node rather than guessing.
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgpack

from cql.schema import (
    ColumnDef,
    ColumnKind,
    DroppedColumn,
    KeyspaceDef,
    Schema,
    TableDef,
    UserTypeDef,
)
from topology.tablets import TableTablets, TabletInfo

_MAGIC = b"SPYMETA1"
_HEADER = struct.Struct(">8sI")


class MetadataCorrupt(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


@dataclass(frozen=True, slots=True)
class RoleDef:
    name: str
    salted_hash: str | None     # None: the role cannot log in with a password
    can_login: bool
    is_superuser: bool
    member_of: frozenset[str] = frozenset()
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Metadata:
    schema: Schema
    tablets: Mapping[uuid.UUID, TableTablets]
    roles: Mapping[str, RoleDef]
    epoch: int = 0  # bumped by every durable update; shards install only newer metadata

    @staticmethod
    def empty() -> Metadata:
        return Metadata(Schema.empty(), MappingProxyType({}), MappingProxyType({}))

    def evolve(
        self,
        *,
        schema: Schema | None = None,
        tablets: Mapping[uuid.UUID, TableTablets] | None = None,
        roles: Mapping[str, RoleDef] | None = None,
    ) -> Metadata:
        return Metadata(
            schema if schema is not None else self.schema,
            MappingProxyType(dict(tablets)) if tablets is not None else self.tablets,
            MappingProxyType(dict(roles)) if roles is not None else self.roles,
            self.epoch,
        )


# --- encoding -------------------------------------------------------------------------------


def _enc_table(t: TableDef) -> dict[str, Any]:
    return {
        "ks": t.keyspace, "name": t.name, "id": t.id.bytes,
        "columns": [[c.name, c.type, c.kind.value, c.position, c.reversed] for c in t.columns],
        "options": dict(t.options),
        "dropped": [[d.name, d.type, d.dropped_at_us] for d in t.dropped_columns.values()],
    }


def _dec_table(d: dict[str, Any]) -> TableDef:
    return TableDef(
        keyspace=d["ks"], name=d["name"], id=uuid.UUID(bytes=d["id"]),
        columns=tuple(ColumnDef(n, ty, ColumnKind(k), p, r) for n, ty, k, p, r in d["columns"]),
        options=MappingProxyType(d["options"]),
        dropped_columns=MappingProxyType({n: DroppedColumn(n, ty, at) for n, ty, at in d["dropped"]}),
    )


def encode_metadata(m: Metadata) -> bytes:
    s = m.schema
    body = {
        "version": s.version.bytes,
        "epoch": m.epoch,
        "keyspaces": [
            [k.name, dict(k.replication), k.durable_writes, k.initial_tablets] for k in s.keyspaces.values()
        ],
        "tables": [_enc_table(t) for t in s.tables.values()],
        "types": [[u.keyspace, u.name, list(u.field_names), list(u.field_types)] for u in s.types.values()],
        "tablets": [
            [tt.table_id.bytes, [[ti.last_token, [[h.bytes, sh] for h, sh in ti.replicas]] for ti in tt.tablets]]
            for tt in m.tablets.values()
        ],
        "roles": [
            [r.name, r.salted_hash, r.can_login, r.is_superuser, sorted(r.member_of), dict(r.options)]
            for r in m.roles.values()
        ],
    }
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return _HEADER.pack(_MAGIC, zlib.crc32(packed)) + packed


def decode_metadata(data: bytes, path: Path) -> Metadata:
    if len(data) < _HEADER.size:
        raise MetadataCorrupt(path, f"truncated header ({len(data)} bytes)")
    magic, crc = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise MetadataCorrupt(path, f"bad magic {magic!r} at offset 0")
    body = data[_HEADER.size:]
    if zlib.crc32(body) != crc:
        raise MetadataCorrupt(path, f"checksum mismatch in body at offset {_HEADER.size}")
    d = msgpack.unpackb(body, raw=False, strict_map_key=False)
    keyspaces = {n: KeyspaceDef(n, MappingProxyType(r), dw, it) for n, r, dw, it in d["keyspaces"]}
    tables = {(t.keyspace, t.name): t for t in map(_dec_table, d["tables"])}
    types = {(ks, n): UserTypeDef(ks, n, tuple(fn), tuple(ft)) for ks, n, fn, ft in d["types"]}
    schema = Schema(uuid.UUID(bytes=d["version"]), MappingProxyType(keyspaces),
                    MappingProxyType(tables), MappingProxyType(types))
    tablets = {
        uuid.UUID(bytes=tid): TableTablets(
            uuid.UUID(bytes=tid),
            tuple(TabletInfo(lt, tuple((uuid.UUID(bytes=h), sh) for h, sh in reps)) for lt, reps in tl),
        )
        for tid, tl in d["tablets"]
    }
    roles = {
        n: RoleDef(n, h, login, su, frozenset(mo), MappingProxyType(opts))
        for n, h, login, su, mo, opts in d["roles"]
    }
    return Metadata(schema, MappingProxyType(tablets), MappingProxyType(roles), d.get("epoch", 0))


# --- the store ------------------------------------------------------------------------------


class MetadataStore:
    """Holds the current metadata and makes every change durable before it is visible.

    One process of a node owns the file (shard 0, `owner=True`) and is the only writer; the other
    shards hold a copy that the owner pushes to them (`install`) and that they read from the file
    only when they start.

    Not thread-safe; used from one event loop. `update()` is synchronous on purpose: schema changes
    are rare, and a durable, ordered sequence of versions is worth the short fsync stall.
    """

    FILE_NAME = "metadata.bin"

    def __init__(self, directory: Path, *, owner: bool = True) -> None:
        self._dir = directory
        self._path = directory / self.FILE_NAME
        self.owner = owner
        if owner:
            directory.mkdir(parents=True, exist_ok=True)
        if self._path.exists():
            self._current = decode_metadata(self._path.read_bytes(), self._path)
        else:
            self._current = Metadata.empty()

    @property
    def current(self) -> Metadata:
        return self._current

    def install(self, new: Metadata) -> bool:
        """Adopt metadata the owner made durable; False (and no change) unless it is newer."""
        if new.epoch <= self._current.epoch:
            return False
        self._current = new
        return True

    def update(self, new: Metadata) -> None:
        if not self.owner:
            raise RuntimeError("only the metadata owner (shard 0) writes metadata")
        new = replace(new, epoch=self._current.epoch + 1)
        data = encode_metadata(new)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        dfd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self._current = new

    def with_schema(self, schema: Schema) -> Metadata:
        return replace(self._current, schema=schema)
