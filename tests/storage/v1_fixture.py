"""The sstable in `tests/storage/data/sstable_v1/`: what it holds, and how it was made.

It was written by the storage engine of commit 70cd52d (Index.db version 1: msgpack index blocks
of 64 entries that do not line up with data blocks; Statistics.db version 1, without `plain`),
by running this module with that revision first on the path:

    git archive 70cd52d storage | tar -x -C /tmp/v1 && \\
        PYTHONPATH=/tmp/v1:. python tests/storage/v1_fixture.py tests/storage/data/sstable_v1

Tests read it with the current code and compare against `fixture_mutations()`, so old sstables
stay readable (point reads, scans, compaction into the current format).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from pathlib import Path

from storage.config import StorageConfig, TableOptions
from storage.engine import StorageEngine
from storage.fs import RealFileSystem
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row

FIXTURE_DIR = Path(__file__).parent / "data" / "sstable_v1"
TABLE = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
TABLET = (TABLE, 0)
NOW_S = 1_700_000_000  # tests.storage.fakes.FakeClock's default
PARTITIONS = 200


def ck(i: int) -> bytes:
    return b"\x40" + (i + (1 << 31)).to_bytes(4, "big") + b"\x38"


def token(i: int) -> int:
    return ((i * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)) - (1 << 63) + (i == 0)


def fixture_mutations() -> list[Mutation]:
    """One mutation per partition; every kind of data the codec knows appears somewhere."""
    out = []
    for i in range(PARTITIONS):
        ts = 1_000 + i
        value = (b"value-%d-" % i) * (1 + i % 9)
        m = Mutation(token(i), b"key%05d" % i)
        for r in range(1 + i % 4):
            m.rows[ck(r)] = Row(marker=LivenessInfo(ts), cells={("v", b""): Cell(ts, value)})
        kind = i % 10
        if kind == 1:
            m.static_row = Row(cells={("s", b""): Cell(ts, b"static")})
        elif kind == 2:
            m.partition_deletion = DeletionTime(ts - 500, NOW_S - 10)
        elif kind == 3:
            m.range_tombstones.append(RangeTombstone(ck(1), ck(3), DeletionTime(ts + 1, NOW_S - 5)))
        elif kind == 4:
            m.rows[ck(7)] = Row(cells={("v", b""): Cell(ts, None, 0, NOW_S - 1)})  # cell tombstone
        elif kind == 5:
            m.rows[ck(8)] = Row(marker=LivenessInfo(ts, 86_400, NOW_S + 86_400),
                                cells={("v", b""): Cell(ts, b"ttl", 86_400, NOW_S + 86_400)})
        elif kind == 6:
            m.rows[ck(9)] = Row(deletion=DeletionTime(ts, NOW_S - 2))
        elif kind == 7:
            m.rows[ck(10)] = Row(cells={("l", b"\x00\x01"): Cell(ts, b"elem")},
                                 collection_deletions={"l": DeletionTime(ts - 1, NOW_S - 3)})
        out.append(m)
    return out


async def _write(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    work = directory.parent / (directory.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    eng = await StorageEngine.open(work, StorageConfig(compaction_enabled=False), fs=RealFileSystem())
    eng.add_table(TABLE, TableOptions())
    eng.add_tablet(TABLET, -(1 << 63), (1 << 63) - 1)
    await eng.replay_commitlog()
    for m in fixture_mutations():
        await eng.apply(TABLET, m)
    await eng.close()  # flushes: one sstable, generation 1
    shutil.copytree(work / "data" / str(TABLE) / "0", directory)
    shutil.rmtree(work)


if __name__ == "__main__":
    asyncio.run(_write(Path(sys.argv[1])))
