"""Commitlog: group commit, periodic sync, torn tails, mid-segment corruption, segment cleanup."""

from __future__ import annotations

import asyncio
import random

from storage.read import Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import TABLET, ck, mut, open_engine, row, run


def test_batch_group_commit_shares_fsyncs() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch")
        before = fs.syncs
        await asyncio.gather(*(eng.apply(TABLET, mut(i, b"k%d" % i, {ck(0): row(1, a=b"v")}))
                               for i in range(200)))
        used = fs.syncs - before
        assert 1 <= used <= 3, used  # 200 concurrent writers, a couple of fsyncs
        # every acknowledged write is durable
        eng.abandon()
        eng2 = await open_engine(fs.crash(), FakeClock())
        for i in range(200):
            assert eng2.read(TABLET, i, b"k%d" % i, Slice()) is not None
        await eng2.close()
    run(body())


def test_periodic_mode_syncs_on_timer() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="periodic", commitlog_sync_period_ms=20)
        await eng.apply(TABLET, mut(1, b"a", {ck(0): row(1, a=b"v")}))
        assert eng.commitlog.synced_position < eng.commitlog.position()
        await asyncio.sleep(0.1)
        assert eng.commitlog.synced_position == eng.commitlog.position()
        await eng.close()
    run(body())


def test_torn_tail_stops_cleanly() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch")
        for i in range(10):
            await eng.apply(TABLET, mut(i, b"k%d" % i, {ck(0): row(1, a=b"v" * 50)}))
        eng.abandon()
        seg = next(p for p in fs.all_files() if "CommitLog" in p)
        fs.truncate(seg, fs.file_size(seg) - 30)  # tear the last entry
        eng2 = await open_engine(fs, FakeClock(), replay=False)
        stats = await eng2.replay_commitlog()
        assert stats.applied == 9 and stats.torn_tails == 1 and not stats.corruptions
        await eng2.close()
    run(body())


def test_corruption_in_the_middle_is_reported() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch")
        for i in range(10):
            await eng.apply(TABLET, mut(i, b"k%d" % i, {ck(0): row(1, a=b"v" * 50)}))
        eng.abandon()
        seg = next(p for p in fs.all_files() if "CommitLog" in p)
        fs.flip_bit(seg, 200, 3)
        eng2 = await open_engine(fs, FakeClock(), replay=False)
        stats = await eng2.replay_commitlog()
        assert len(stats.corruptions) == 1 and stats.corruptions[0][0] == seg
        assert stats.torn_tails == 0 and stats.applied < 10
        await eng2.close()
    run(body())


def test_segments_deleted_after_flush_and_rolled() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_segment_size_mb=1)
        for i in range(3000):
            await eng.apply(TABLET, mut(i, b"k%d" % i, {ck(0): row(1, a=bytes(500))}))
        assert eng.commitlog.segment_count() >= 2
        await eng.flush()
        assert eng.commitlog.segment_count() == 1  # only the active one
        await eng.close()
        assert len([p for p in fs.all_files() if "CommitLog" in p]) == 0
    run(body())


def test_random_crashes_never_lose_acknowledged_batch_writes() -> None:
    async def body() -> None:
        rng = random.Random(7)
        fs = FaultFS()
        acked: set[int] = set()
        n = 0
        for _ in range(5):
            eng = await open_engine(fs, FakeClock(), commitlog_sync="batch", commitlog_segment_size_mb=1)
            for i in acked:
                assert eng.read(TABLET, i, b"k", Slice()) is not None, i
            for _ in range(rng.randint(1, 50)):
                n += 1
                await eng.apply(TABLET, mut(n, b"k", {ck(0): row(1, a=bytes(rng.randint(1, 3000)))}))
                acked.add(n)
            if rng.random() < 0.3:
                await eng.flush()
            eng.abandon()
            fs = fs.crash(rng)
    run(body())


def test_replay_of_an_entry_with_rows_out_of_order() -> None:
    # older engines wrote a mutation's rows to the commitlog in any order; the memtable keeps an
    # entry as is only when its rows are surely in clustering order (then flushes it verbatim)
    import msgpack

    from storage.codec import mutation_to_obj

    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch")
        m = mut(1, b"k", {ck(2): row(1, a=b"y"), ck(1): row(1, a=b"x")})
        payload = msgpack.packb(mutation_to_obj(m), use_bin_type=True)  # rows as the dict holds them
        t = eng._tablets[TABLET]
        await eng.commitlog.sync_to(eng.commitlog.append(t.log, payload))
        eng.abandon()
        eng2 = await open_engine(fs.crash(), FakeClock())
        for _ in range(2):
            pd = eng2.read(TABLET, 1, b"k", Slice())
            assert pd is not None and [k for k, _ in pd.rows] == [ck(1), ck(2)]
            await eng2.flush()
        pd = eng2.read(TABLET, 1, b"k", Slice(reverse=True, row_limit=1))
        assert pd is not None and [k for k, _ in pd.rows] == [ck(2)]
        await eng2.close()
    run(body())
