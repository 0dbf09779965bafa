"""Compaction: size-tiered selection, tombstone purging rules, TTL expiry, major compaction."""

from __future__ import annotations

from storage.compaction_manager import compact_tablet
from storage.config import TableOptions
from storage.mutation import Cell, Row
from storage.read import Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import TABLET, ck, mut, open_engine, row, run


def test_size_tiered_triggers_in_background() -> None:
    async def body() -> None:
        eng = await open_engine(FaultFS(), FakeClock(), compaction_enabled=True)
        for gen in range(4):
            for i in range(20):
                await eng.apply(TABLET, mut(i, b"k%d" % i, {ck(gen): row(1, a=b"v")}))
            await eng.flush()
        while eng._tasks:
            await eng._tasks.pop()
        assert eng.stats().sstable_count == 1 and eng.stats().compactions_completed == 1
        pd = eng.read(TABLET, 3, b"k3", Slice())
        assert pd is not None and len(pd.rows) == 4
        await eng.close()
    run(body())


def test_tombstone_not_purged_while_older_data_elsewhere() -> None:
    async def body() -> None:
        clock = FakeClock()
        eng = await open_engine(FaultFS(), clock, options=TableOptions(gc_grace_seconds=0))
        await eng.apply(TABLET, mut(1, b"k", {ck(0): row(1, a=b"old")}))
        await eng.flush()
        await eng.apply(TABLET, mut(1, b"k", pdel=5))
        await eng.flush()
        clock.advance(10)
        t = eng._tablets[TABLET]
        _older, newer = t.sstables
        await compact_tablet(eng, t, [newer])  # minor: the tombstone must survive
        assert eng.read(TABLET, 1, b"k", Slice()) is None
        assert len(t.sstables) == 2 and t.sstables[-1].stats["tombstones"] == 1
        await eng.compact()  # major: tombstone and shadowed data both go
        assert eng.stats().sstable_count == 1 and t.sstables[0].partitions == 0
        await eng.close()
    run(body())


def test_tombstone_kept_within_gc_grace() -> None:
    async def body() -> None:
        clock = FakeClock()
        eng = await open_engine(FaultFS(), clock, options=TableOptions(gc_grace_seconds=100))
        await eng.apply(TABLET, mut(1, b"k", {ck(0): Row(cells={("a", b""): Cell(3, None, expiry_s=clock.now_s())})}))
        await eng.compact()
        assert eng._tablets[TABLET].sstables[0].stats["tombstones"] == 1
        clock.advance(101)
        await eng.compact()
        assert eng._tablets[TABLET].sstables[0].partitions == 0
        await eng.close()
    run(body())


def test_expired_ttl_data_dropped() -> None:
    async def body() -> None:
        clock = FakeClock()
        now = clock.now_s()
        eng = await open_engine(FaultFS(), clock, options=TableOptions(gc_grace_seconds=0))
        r = Row(cells={("a", b""): Cell(1, b"x" * 100, ttl_s=5, expiry_s=now + 5)})
        await eng.apply(TABLET, mut(1, b"k", {ck(0): r}))
        await eng.apply(TABLET, mut(2, b"j", {ck(0): row(1, a=b"kept")}))
        await eng.compact()
        assert eng._tablets[TABLET].sstables[0].partitions == 2
        clock.advance(6)
        assert eng.read(TABLET, 1, b"k", Slice(now_s=clock.now_s())) is None
        await eng.compact()
        assert eng._tablets[TABLET].sstables[0].partitions == 1
        assert eng.read(TABLET, 2, b"j", Slice(now_s=clock.now_s())) is not None
        await eng.close()
    run(body())


def test_statistics_and_droppable_tombstone_estimate() -> None:
    async def body() -> None:
        clock = FakeClock()
        now = clock.now_s()
        eng = await open_engine(FaultFS(), clock)
        await eng.apply(TABLET, mut(-5, b"a", {ck(0): row(7, a=b"x")}))
        await eng.apply(TABLET, mut(9, b"b", {ck(0): Row(cells={("a", b""): Cell(8, None, expiry_s=now)})}))
        await eng.flush()
        s = eng._tablets[TABLET].sstables[0]
        assert (s.min_token, s.max_token, s.partitions) == (-5, 9, 2)
        assert (s.stats["min_timestamp_us"], s.stats["max_timestamp_us"], s.stats["tombstones"]) == (7, 8, 1)
        assert s.estimated_droppable_tombstones(now) == 0.0
        assert s.estimated_droppable_tombstones(now + 120) == 1 / 3
        await eng.close()
    run(body())
