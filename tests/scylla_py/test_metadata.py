"""The metadata snapshot round-trips and refuses corrupt files."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import MappingProxyType

import pytest

from cql.schema import ColumnDef, ColumnKind, KeyspaceDef, Schema, TableDef, UserTypeDef
from scylla_py.metadata import MetadataCorrupt, MetadataStore, RoleDef
from topology.tablets import TableTablets


def _sample(store: MetadataStore) -> None:
    ks = KeyspaceDef("ks", MappingProxyType({"class": "org.apache.cassandra.locator.SimpleStrategy",
                                             "replication_factor": "1"}), True, None)
    t = TableDef("ks", "t", uuid.uuid4(), (
        ColumnDef("a", "int", ColumnKind.PARTITION_KEY, 0),
        ColumnDef("c", "text", ColumnKind.CLUSTERING, 0, True),
        ColumnDef("v", "frozen<list<int>>", ColumnKind.REGULAR),
    ), MappingProxyType({"comment": "x", "compaction": {"class": "SizeTieredCompactionStrategy"}}))
    u = UserTypeDef("ks", "addr", ("street", "zip"), ("text", "int"))
    schema = Schema.empty().evolve(keyspaces={"ks": ks}, tables={("ks", "t"): t}, types={("ks", "addr"): u})
    host = uuid.uuid4()
    tablets = TableTablets.allocate(t.id, 4, [(host, 0), (host, 1)])
    role = RoleDef("cassandra", "hash", True, True)
    store.update(store.current.evolve(schema=schema, tablets={t.id: tablets}, roles={"cassandra": role}))


def test_round_trip_through_disk(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path)
    _sample(store)
    again = MetadataStore(tmp_path).current
    assert again.schema.keyspaces == store.current.schema.keyspaces
    assert again.schema.tables == store.current.schema.tables
    assert again.schema.types == store.current.schema.types
    assert again.schema.version == store.current.schema.version
    assert dict(again.tablets) == dict(store.current.tablets)
    assert dict(again.roles) == dict(store.current.roles)


def test_bit_flip_is_reported_with_path(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path)
    _sample(store)
    path = tmp_path / MetadataStore.FILE_NAME
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(MetadataCorrupt, match="checksum mismatch"):
        MetadataStore(tmp_path)
