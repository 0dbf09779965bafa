"""Compaction: size-tiered selection, tombstone purging rules, TTL expiry, major compaction."""

from __future__ import annotations

import asyncio
import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.compaction import compact_partition
from storage.compaction_manager import compact_tablet, drop_expired, fully_expired
from storage.config import TableOptions
from storage.engine import StorageEngine
from storage.mutation import Cell, LivenessInfo, Mutation, Row
from storage.read import Slice
from storage.reconcile import merge_versions
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


# -- verbatim copies: compaction output equals reconciling every version ------------------------

_KEYS = [b"a", b"b", b"c", b"d", b"e"]
_TOKEN = {b"a": -3, b"b": -3, b"c": 0, b"d": 5, b"e": 5}  # equal tokens, different keys
_plain_row = st.builds(
    lambda ts, marker, cells: Row(marker=LivenessInfo(ts) if marker else None,
                                  cells={(c, b""): Cell(ts + d, v) for c, (d, v) in cells.items()}),
    st.integers(1, 50), st.booleans(),
    st.dictionaries(st.sampled_from(["x", "y"]), st.tuples(st.integers(0, 3), st.binary(max_size=3)), min_size=1),
)
_plain_mutation = st.builds(
    lambda key, rows, static: Mutation(_TOKEN[key], key, rows=rows, static_row=static),
    st.sampled_from(_KEYS), st.dictionaries(st.integers(0, 5).map(ck), _plain_row, max_size=3),
    st.one_of(st.none(), _plain_row),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_plain_mutation, min_size=1, max_size=6), min_size=1, max_size=4),
       st.booleans())
def test_compaction_of_plain_sstables_equals_reconciling(tables: list[list[Mutation]], tombstone: bool) -> None:
    async def body() -> None:
        eng = await open_engine(FaultFS(), FakeClock())
        versions: dict[bytes, list[Mutation]] = {}
        for muts in tables:
            for m in muts:
                versions.setdefault(m.key, []).append(copy.deepcopy(m))
                await eng.apply(TABLET, m)
            await eng.flush()
        if tombstone:  # one input that is not plain: its partitions take the decoding path
            await eng.apply(TABLET, mut(_TOKEN[b"e"], b"e", pdel=0))
            versions.setdefault(b"e", []).append(mut(_TOKEN[b"e"], b"e", pdel=0))
            await eng.flush()
        t = eng._tablets[TABLET]
        assert all(s.plain for s in t.sstables) == (not tombstone)
        await eng.compact()
        (s,) = t.sstables
        compacted = {k: compact_partition(merge_versions(_TOKEN[k], k, vs), 0, -(1 << 62), -(1 << 63))
                     for k, vs in versions.items()}
        expected = {k: m for k, m in compacted.items() if m is not None}
        # a partition written with no data at all may be copied as is (reads never see it)
        every = list(s.iter_range(None, 1 << 62))
        got = [m for m in every if m != Mutation(m.token, m.key)]
        assert [(m.token, m.key) for m in got] == sorted((m.token, m.key) for m in expected.values())
        for m in got:
            assert m == expected[m.key]
        st_ = s.stats
        assert st_["partitions"] == len(every)
        assert st_["rows"] == sum(len(m.rows) for m in got)
        assert st_["cells"] == sum(len(r.cells) for m in got for r in
                                   [*m.rows.values(), *([m.static_row] if m.static_row else [])])
        stamps = [c.timestamp_us for m in got for r in [*m.rows.values(), *([m.static_row] if m.static_row else [])]
                  for c in r.cells.values()] + [r.marker.timestamp_us for m in got for r in m.rows.values() if r.marker]
        if stamps:
            assert st_["min_timestamp_us"] <= min(stamps) and st_["max_timestamp_us"] >= max(stamps)
        assert s.plain == all(m.partition_deletion is None for m in got)
        await eng.close()
    run(body())


# -- fully expired sstables are dropped whole -------------------------------------------------------

async def _settle(eng: StorageEngine) -> None:
    while eng._tasks:
        await asyncio.gather(*list(eng._tasks))


def _ttl_row(ts: int, now: int, ttl: int) -> Row:
    return Row(marker=LivenessInfo(ts, ttl, now + ttl), cells={("a", b""): Cell(ts, b"v", ttl, now + ttl)})


def test_fully_expired_sstable_is_dropped_without_compacting() -> None:
    async def body() -> None:
        fs, clock = FaultFS(), FakeClock()
        now = clock.now_s()
        opts = TableOptions(gc_grace_seconds=0)
        eng = await open_engine(fs, clock, options=opts, compaction_enabled=True)
        for i in range(20):  # expiring data, old timestamps
            await eng.apply(TABLET, mut(i, b"k%d" % i, {ck(0): _ttl_row(10, now, 5)}))
        await eng.apply(TABLET, mut(99, b"gone", pdel=11))
        await eng.flush()
        expiring = eng._tablets[TABLET].sstables[0]
        for i in range(20):  # newer live data over the same partitions
            await eng.apply(TABLET, mut(i, b"k%d" % i, {ck(1): row(1000, a=b"live")}))
        await eng.flush()
        await _settle(eng)
        assert eng.counters["expired_sstables_dropped"] == 0  # not expired yet
        clock.advance(10)
        await eng.apply(TABLET, mut(500, b"other", {ck(0): row(2000, a=b"x")}))
        await eng.flush()  # a flush is what looks for expired sstables
        await _settle(eng)
        assert eng.counters["expired_sstables_dropped"] == 1
        t = eng._tablets[TABLET]
        assert expiring not in t.sstables
        assert not [p for p in fs.all_files() if f"/sp1-{expiring.generation}-" in p]
        sl = Slice(now_s=clock.now_s())
        for i in range(20):
            pd = eng.read(TABLET, i, b"k%d" % i, sl)
            assert pd is not None and [k for k, _ in pd.rows] == [ck(1)]
        await eng.close()
        # after a restart nothing comes back (the stand-in sstable keeps the replay position)
        eng2 = await open_engine(fs, clock, options=opts)
        assert all(eng2.read(TABLET, i, b"k%d" % i, sl) is not None for i in range(20))
        assert eng2.read(TABLET, 99, b"gone", sl) is None
        await eng2.close()
    run(body())


def test_expired_sstable_kept_while_it_may_shadow_older_data() -> None:
    async def body() -> None:
        clock = FakeClock()
        now = clock.now_s()
        eng = await open_engine(FaultFS(), clock, options=TableOptions(gc_grace_seconds=0), compaction_enabled=True)
        await eng.apply(TABLET, mut(1, b"k", {ck(0): row(5, a=b"old")}))  # older than the tombstone
        await eng.flush()
        await eng.apply(TABLET, mut(1, b"k", {ck(0): _ttl_row(20, now, 1)}))
        await eng.apply(TABLET, mut(1, b"k", pdel=20))
        await eng.flush()
        clock.advance(5)
        await eng.apply(TABLET, mut(2, b"j", {ck(0): row(30, a=b"x")}))
        await eng.flush()
        await _settle(eng)
        assert eng.counters["expired_sstables_dropped"] == 0
        assert eng.read(TABLET, 1, b"k", Slice(now_s=clock.now_s())) is None  # still shadowed
        await eng.close()
    run(body())


def test_expired_sstable_kept_while_a_memtable_holds_its_partitions() -> None:
    async def body() -> None:
        clock = FakeClock()
        now = clock.now_s()
        eng = await open_engine(FaultFS(), clock, options=TableOptions(gc_grace_seconds=0), compaction_enabled=True)
        await eng.apply(TABLET, mut(1, b"k", {ck(0): _ttl_row(50, now, 1)}))
        await eng.apply(TABLET, mut(1, b"k", pdel=50))
        await eng.flush()
        clock.advance(5)
        await eng.apply(TABLET, mut(1, b"k", {ck(0): row(10, a=b"older write, arriving late")}))
        t = eng._tablets[TABLET]
        eng.kick_compaction(t)
        await _settle(eng)
        assert eng.counters["expired_sstables_dropped"] == 0  # the tombstone still shadows it
        assert eng.read(TABLET, 1, b"k", Slice(now_s=clock.now_s())) is None
        await eng.close()
    run(body())


def test_expiry_drop_writes_an_empty_stand_in() -> None:
    async def body() -> None:
        clock = FakeClock()
        eng = await open_engine(FaultFS(), clock, options=TableOptions(gc_grace_seconds=0))
        await eng.apply(TABLET, mut(1, b"k", {ck(0): Row()}))  # nothing live, nothing deleted
        await eng.flush()
        t = eng._tablets[TABLET]
        (s,) = t.sstables
        assert s.plain and not s.non_expiring and s.stats["rows"] == 1
        clock.advance(1)
        assert await drop_expired(eng, t, fully_expired(t, clock.now_s())) == 1
        (stand_in,) = t.sstables
        assert (stand_in.partitions, stand_in.stats["rows"], stand_in.stats["cells"]) == (0, 0, 0)
        assert stand_in.ancestors == [s.generation] and stand_in.replay_position == s.replay_position
        await eng.close()
    run(body())
