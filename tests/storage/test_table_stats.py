"""`StorageEngine.table_stats`: one table's memtable and sstable figures."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from storage.config import StorageConfig, TableOptions
from storage.engine import StorageEngine
from storage.mutation import Cell, LivenessInfo, Mutation, Row


def _mutation(i: int) -> Mutation:
    row = Row(LivenessInfo(1), None, {("v", b""): Cell(1, b"x" * 100)}, {})
    return Mutation(i, i.to_bytes(4, "big"), None, None, {b"": row}, [])


def test_table_stats_counts_memtable_then_sstables(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    engine = await StorageEngine.open(tmp_path, StorageConfig(commitlog_sync="periodic"))
    a, b = uuid.uuid4(), uuid.uuid4()
    for t in (a, b):
        engine.add_table(t, TableOptions())
        engine.add_tablet((t, 2**63 - 1), -(2**63), 2**63 - 1)
    for i in range(10):
        await engine.apply((a, 2**63 - 1), _mutation(i))
    await engine.apply((b, 2**63 - 1), _mutation(1))
    s = engine.table_stats(a)
    assert (s.tablet_count, s.memtable_partitions, s.memtable_writes, s.sstable_count) == (1, 10, 10, 0)
    assert s.memtable_bytes > 1000
    await engine.flush(a)
    s = engine.table_stats(a)
    assert (s.memtable_partitions, s.sstable_count, s.sstable_partitions) == (0, 1, 10)
    assert s.sstable_bytes > 0
    assert engine.table_stats(b).memtable_partitions == 1
    assert engine.table_stats(uuid.uuid4()).tablet_count == 0
    await engine.close()
