"""StorageEngine end to end on the in-memory filesystem: writes, point reads, slices, scans,
TTLs, tombstones, flush, restart with commitlog replay, truncate and drop."""

from __future__ import annotations

from storage.mutation import Cell, DeletionTime, Row
from storage.read import Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import TABLE, TABLET, ck, mut, open_engine, row, run


def _vals(pd: object) -> list[tuple[bytes, dict[str, bytes | None]]]:
    assert pd is not None
    return [(k, {c[0]: v.value for c, v in r.cells.items()}) for k, r in pd.rows]  # type: ignore[attr-defined]


def test_write_read_in_memtable_and_after_flush() -> None:
    async def body() -> None:
        fs, clock = FaultFS(), FakeClock()
        eng = await open_engine(fs, clock)
        await eng.apply(TABLET, mut(5, b"k", {ck(1): row(10, a=b"x"), ck(2): row(10, a=b"y")}))
        await eng.apply(TABLET, mut(5, b"k", {ck(1): row(11, a=b"z")}))
        for _ in range(2):
            pd = eng.read(TABLET, 5, b"k", Slice())
            assert _vals(pd) == [(ck(1), {"a": b"z"}), (ck(2), {"a": b"y"})]
            await eng.flush()
        assert eng.stats().sstable_count == 1
        assert eng.read(TABLET, 5, b"other", Slice()) is None
        await eng.close()
    run(body())


def test_slices_reverse_limit_columns() -> None:
    async def body() -> None:
        eng = await open_engine(FaultFS(), FakeClock())
        await eng.apply(TABLET, mut(1, b"k", {ck(i): row(1, a=b"%d" % i, b=b"b") for i in range(10)}))
        for flushed in (False, True):
            pd = eng.read(TABLET, 1, b"k", Slice(ranges=((ck(2), ck(5)), (ck(7), ck(9))), reverse=True,
                                                 row_limit=4, columns=frozenset({"a"})))
            assert pd is not None
            assert [k for k, _ in pd.rows] == [ck(8), ck(7), ck(4), ck(3)]
            assert all(set(r.cells) == {("a", b"")} for _, r in pd.rows)
            if not flushed:
                await eng.flush()
        await eng.close()
    run(body())


def test_tombstones_and_ttl() -> None:
    async def body() -> None:
        clock = FakeClock()
        eng = await open_engine(FaultFS(), clock)
        now = clock.now_s()
        await eng.apply(TABLET, mut(1, b"k", {ck(i): row(10, a=b"v") for i in range(6)}))
        await eng.flush()
        await eng.apply(TABLET, mut(1, b"k", rts=[(ck(1), ck(3), 11)]))  # deletes rows 1, 2
        r = Row(deletion=DeletionTime(12, now))
        await eng.apply(TABLET, mut(1, b"k", {ck(4): r}))
        ttl_row = Row(cells={("a", b""): Cell(13, b"t", ttl_s=10, expiry_s=now + 10)})
        await eng.apply(TABLET, mut(1, b"k", {ck(5): ttl_row}))
        pd = eng.read(TABLET, 1, b"k", Slice(now_s=now))
        assert [k for k, _ in pd.rows] == [ck(0), ck(3), ck(5)]  # type: ignore[union-attr]
        pd = eng.read(TABLET, 1, b"k", Slice(now_s=now + 10))
        # row 5 still has its (older) marker, but the TTL'd cell has expired
        assert _vals(pd) == [(ck(0), {"a": b"v"}), (ck(3), {"a": b"v"}), (ck(5), {})]
        await eng.apply(TABLET, mut(1, b"k", pdel=20))
        assert eng.read(TABLET, 1, b"k", Slice(now_s=now)) is None
        await eng.close()
    run(body())


def test_scan_order_paging_and_merge() -> None:
    async def body() -> None:
        eng = await open_engine(FaultFS(), FakeClock())
        for i in range(50):
            await eng.apply(TABLET, mut(i * 7 % 23 - 11, b"k%d" % i, {ck(0): row(1, a=b"v")}))
            if i % 17 == 0:
                await eng.flush()
        allp = list(eng.scan(TABLET, None, 1 << 62, Slice()))
        keys = [(p.token, p.key) for p in allp]
        assert keys == sorted(keys) and len(keys) == 50
        page1 = list(eng.scan(TABLET, None, 1 << 62, Slice()))[:20]
        page2 = list(eng.scan(TABLET, (page1[-1].token, page1[-1].key), 1 << 62, Slice()))
        assert [(p.token, p.key) for p in page1 + page2] == keys
        part = list(eng.scan(TABLET, None, 0, Slice()))
        assert all(p.token <= 0 for p in part) and len(part) == sum(1 for k in keys if k[0] <= 0)
        await eng.close()
    run(body())


def test_restart_replays_commitlog_batch_mode() -> None:
    async def body() -> None:
        fs, clock = FaultFS(), FakeClock()
        eng = await open_engine(fs, clock, commitlog_sync="batch")
        await eng.apply(TABLET, mut(1, b"a", {ck(1): row(1, a=b"1")}))
        await eng.flush()
        await eng.apply(TABLET, mut(2, b"b", {ck(1): row(2, a=b"2")}))
        fs2 = fs.crash()
        eng.abandon()
        eng2 = await open_engine(fs2, clock, replay=False, commitlog_sync="batch")
        stats = await eng2.replay_commitlog()
        assert stats.applied == 1 and not stats.corruptions
        assert _vals(eng2.read(TABLET, 1, b"a", Slice())) == [(ck(1), {"a": b"1"})]
        assert _vals(eng2.read(TABLET, 2, b"b", Slice())) == [(ck(1), {"a": b"2"})]
        await eng2.close()
    run(body())


def test_truncate_and_drop_survive_restart() -> None:
    async def body() -> None:
        fs, clock = FaultFS(), FakeClock()
        eng = await open_engine(fs, clock, commitlog_sync="batch")
        await eng.apply(TABLET, mut(1, b"a", {ck(1): row(1, a=b"1")}))
        await eng.flush()
        await eng.apply(TABLET, mut(2, b"b", {ck(1): row(2, a=b"2")}))
        await eng.truncate(TABLE, clock.now_us())
        assert eng.read(TABLET, 1, b"a", Slice()) is None
        await eng.apply(TABLET, mut(3, b"c", {ck(1): row(3, a=b"3")}))
        eng.abandon()
        fs2 = fs.crash()
        eng2 = await open_engine(fs2, clock, commitlog_sync="batch")
        assert eng2.read(TABLET, 1, b"a", Slice()) is None
        assert eng2.read(TABLET, 2, b"b", Slice()) is None
        assert eng2.read(TABLET, 3, b"c", Slice()) is not None
        await eng2.drop_table(TABLE)
        assert not [f for f in fs2.all_files() if "/data/" in f]
        await eng2.close()
    run(body())


def test_shard_memtable_limit_flushes_the_largest_tablet() -> None:
    import asyncio

    async def body() -> None:
        t1, t2 = (TABLE, 1), (TABLE, 2)
        eng = await open_engine(FaultFS(), FakeClock(), tablets=((t1, -(1 << 63), 0), (t2, 0, (1 << 63) - 1)),
                                memtable_flush_threshold_bytes=1 << 30, shard_memtable_limit_bytes=60_000)
        for i in range(60):
            await eng.apply(t1, mut(-1 - i, b"a%d" % i, {ck(0): row(1, a=bytes(500))}))
        for i in range(20):
            await eng.apply(t2, mut(1 + i, b"b%d" % i, {ck(0): row(1, a=bytes(500))}))
        while eng._tasks:
            await asyncio.gather(*list(eng._tasks))
        assert [len(eng._tablets[t].sstables) for t in (t1, t2)] == [1, 0]
        assert eng.stats().memtable_bytes < 60_000
        await eng.close()
    run(body())


def test_counters_and_collections_across_sstables() -> None:
    from storage.counter import counter_total, encode_shards

    async def body() -> None:
        clock = FakeClock()
        eng = await open_engine(FaultFS(), clock)
        h1, h2 = b"\x01" * 16, b"\x02" * 16
        for clk, (host, val) in enumerate([(h1, 5), (h2, 7), (h1, 8)], start=1):
            c = Cell(clk, encode_shards([(host, clk, val)]), counter=True)
            await eng.apply(TABLET, mut(1, b"c", {ck(0): Row(cells={("n", b""): c})}))
            await eng.flush()
        # a map column: two entries, then a collection deletion at ts 5 and one newer entry
        cells = {("m", b"k1"): Cell(3, b"v1"), ("m", b"k2"): Cell(3, b"v2")}
        await eng.apply(TABLET, mut(2, b"m", {ck(0): Row(marker=None, cells=cells)}))
        await eng.flush()
        await eng.apply(TABLET, mut(2, b"m", {ck(0): Row(collection_deletions={"m": DeletionTime(5, clock.now_s())},
                                                         cells={("m", b"k3"): Cell(6, b"v3")})}))
        for _ in range(2):
            pd = eng.read(TABLET, 1, b"c", Slice())
            assert pd is not None and counter_total(pd.rows[0][1].cells[("n", b"")].value or b"") == 15
            pd = eng.read(TABLET, 2, b"m", Slice())
            assert pd is not None and list(pd.rows[0][1].cells) == [("m", b"k3")]
            await eng.compact()
        await eng.close()
    run(body())
