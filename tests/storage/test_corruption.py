"""Named corruption and crash cases: every one names the file and offset, quarantines the
sstable (moved aside), and the node keeps serving the rest."""

from __future__ import annotations

import asyncio

import pytest

from storage.errors import CorruptionError
from storage.read import Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import TABLET, ck, mut, open_engine, row, run


async def _two_sstables(fs: FaultFS) -> list[str]:
    eng = await open_engine(fs, FakeClock())
    for i in range(200):
        await eng.apply(TABLET, mut(i, b"a%d" % i, {ck(0): row(1, a=b"first" * 20)}))
    await eng.flush()
    for i in range(200):
        await eng.apply(TABLET, mut(1000 + i, b"b%d" % i, {ck(0): row(1, a=b"second" * 20)}))
    await eng.flush()
    await eng.close()
    return [p for p in fs.all_files() if p.endswith("Data.db")]


def _quarantined(fs: FaultFS) -> list[str]:
    return [p for p in fs.all_files() if "/quarantine/" in p]


def test_bit_flip_in_data_block() -> None:
    async def body() -> None:
        fs = FaultFS()
        data1, _ = await _two_sstables(fs)
        fs.flip_bit(data1, 40, 5)  # inside the first block's compressed bytes
        eng = await open_engine(fs, FakeClock())
        with pytest.raises(CorruptionError) as ei:
            eng.read(TABLET, 0, b"a0", Slice())
        assert str(ei.value.path) == data1 and ei.value.offset == 8
        assert len(_quarantined(fs)) == 6
        # the node keeps serving: the other sstable is fine, the broken one is gone from reads
        assert eng.read(TABLET, 1000, b"b0", Slice()) is not None
        assert eng.read(TABLET, 0, b"a0", Slice()) is None
        assert eng.stats().quarantined_sstables == 1
        await eng.close()
    run(body())


def test_bit_flip_found_by_scan_and_compaction() -> None:
    async def body() -> None:
        fs = FaultFS()
        data1, _ = await _two_sstables(fs)
        fs.flip_bit(data1, 40, 1)
        eng = await open_engine(fs, FakeClock())
        with pytest.raises(CorruptionError):
            list(eng.scan(TABLET, None, 1 << 62, Slice()))
        assert len(list(eng.scan(TABLET, None, 1 << 62, Slice()))) == 200
        await eng.close()
    run(body())


def test_truncated_index() -> None:
    async def body() -> None:
        fs = FaultFS()
        data1, _ = await _two_sstables(fs)
        index1 = data1.replace("Data.db", "Index.db")
        fs.truncate(index1, fs.file_size(index1) // 2)
        eng = await open_engine(fs, FakeClock())  # detected when the tablet loads
        assert eng.stats().sstable_count == 1 and eng.stats().quarantined_sstables == 1
        assert any(p.endswith("Index.db") for p in _quarantined(fs))
        assert eng.read(TABLET, 1000, b"b0", Slice()) is not None
        await eng.close()
    run(body())


def test_missing_toc_entry() -> None:
    async def body() -> None:
        fs = FaultFS()
        data1, _ = await _two_sstables(fs)
        toc = data1.replace("Data.db", "TOC.txt")
        text = fs.read_file(toc).replace(b"Filter.db\n", b"")  # type: ignore[arg-type]
        fs.files[toc].data = bytearray(text)
        eng = await open_engine(fs, FakeClock())
        assert eng.stats().sstable_count == 1 and eng.stats().quarantined_sstables == 1
        await eng.close()
    run(body())


def test_missing_component_file() -> None:
    async def body() -> None:
        fs = FaultFS()
        data1, _ = await _two_sstables(fs)
        fs.remove(data1.replace("Data.db", "Summary.db"))  # type: ignore[arg-type]
        eng = await open_engine(fs, FakeClock())
        assert eng.stats().sstable_count == 1 and eng.stats().quarantined_sstables == 1
        await eng.close()
    run(body())


def test_crash_between_sstable_write_and_rename() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch")
        await eng.apply(TABLET, mut(1, b"k", {ck(0): row(1, a=b"v")}))
        fs.fail_on("rename", "TOC.txt.tmp")  # the commit point
        with pytest.raises(OSError):
            await eng.flush()
        eng.abandon()
        fs2 = fs.crash()
        left = [p for p in fs2.all_files() if "sp1-" in p]
        assert left and not any(p.endswith("TOC.txt") for p in left)  # components, no commit
        eng2 = await open_engine(fs2, FakeClock())
        assert not [p for p in fs2.all_files() if "/data/" in p and "sp1-" in p]  # leftovers removed
        assert eng2.read(TABLET, 1, b"k", Slice()) is not None  # recovered from the commitlog
        await eng2.close()
    run(body())


@pytest.mark.parametrize("crash_at", [("sync", "Data.db.tmp"), ("rename", "TOC.txt.tmp"), ("remove", "-1-")])
def test_crash_mid_compaction(crash_at: tuple[str, str]) -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch")
        for gen in range(3):
            for i in range(50):
                await eng.apply(TABLET, mut(i, b"k%d" % i, {ck(gen): row(gen + 1, a=b"g%d" % gen)}))
            await eng.flush()
        await eng.apply(TABLET, mut(7, b"k7", pdel=100))  # a tombstone, so purge paths run
        await eng.flush()
        fs.fail_on(*crash_at)
        with pytest.raises(OSError):
            await eng.compact()
        eng.abandon()
        fs2 = fs.crash()
        eng2 = await open_engine(fs2, FakeClock())
        for i in range(50):
            pd = eng2.read(TABLET, i, b"k%d" % i, Slice())
            if i == 7:
                assert pd is None
            else:
                assert pd is not None and [k for k, _ in pd.rows] == [ck(0), ck(1), ck(2)]
        await eng2.compact()
        assert eng2.stats().sstable_count == 1
        await eng2.close()
    run(body())


def test_reads_continue_during_background_flush_and_compaction() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), compaction_enabled=True, memtable_flush_threshold_bytes=20_000)
        for i in range(2000):
            await eng.apply(TABLET, mut(i % 300, b"k%d" % (i % 300), {ck(i): row(i, a=b"v")}))
            await asyncio.sleep(0.001 if i % 10 == 0 else 0)  # a server waits on its sockets
            if i % 97 == 0:
                assert eng.read(TABLET, i % 300, b"k%d" % (i % 300), Slice()) is not None
        while eng.stats().pending_flushes or eng._tasks:
            await asyncio.sleep(0.01)
        st = eng.stats()
        assert st.flushes_completed >= 4 and st.compactions_completed >= 1
        for j in range(300):
            pd = eng.read(TABLET, j, b"k%d" % j, Slice())
            assert pd is not None and len(pd.rows) == len(range(j, 2000, 300))
        await eng.close()
    run(body())


def test_failed_flush_is_retried_before_newer_data_frees_the_log() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch")
        await eng.apply(TABLET, mut(1, b"a", {ck(0): row(1, a=b"1")}))
        fs.fail_on("sync", "Data.db.tmp")  # e.g. ENOSPC
        with pytest.raises(OSError):
            await eng.flush()
        assert eng.read(TABLET, 1, b"a", Slice()) is not None  # still served from memory
        await eng.apply(TABLET, mut(2, b"b", {ck(0): row(2, a=b"2")}))
        await eng.flush()  # retries the failed memtable first, then the new one
        assert eng.stats().sstable_count == 2 and eng.stats().pending_flushes == 0
        eng.abandon()
        eng2 = await open_engine(fs.crash(), FakeClock())
        assert eng2.read(TABLET, 1, b"a", Slice()) is not None
        assert eng2.read(TABLET, 2, b"b", Slice()) is not None
        await eng2.close()
    run(body())


@pytest.mark.parametrize("how", ["point read", "scan", "point read, two versions", "scan, two versions"])
def test_malformed_partition_with_valid_checksums(how: str) -> None:
    # a partition that decodes as msgpack but not as the codec's shape (a cell array of 4 values):
    # every read path that decodes it reports the sstable and quarantines it
    import msgpack

    from storage.sstable_writer import SSTableWriter

    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock())
        await eng.close()
        d = eng.tablet_dir(TABLET)
        w = SSTableWriter(fs, d, 50, expected_partitions=2, bloom_fp_chance=0.01, block_size_bytes=4096,
                          replay_position=(0, 0))
        w.stats.add_copied(2, 1, 2)  # (statistics are add_packed's caller's)
        w.add_packed(1, b"bad", msgpack.packb([1, b"bad", None, None, [ck(0), [None, None, ["a", b"", 1, b"v"], []]], []]))
        w.add_packed(2, b"good", msgpack.packb([2, b"good", None, None, [ck(0), [[1, 0, 0], None, [], []]], []]))
        w.finish()
        eng = await open_engine(fs, FakeClock())
        if "two versions" in how:
            await eng.apply(TABLET, mut(1, b"bad", {ck(1): row(5, a=b"x")}))
        with pytest.raises(CorruptionError) as ei:
            if how.startswith("scan"):
                list(eng.scan(TABLET, None, 1 << 62, Slice()))
            else:
                eng.read(TABLET, 1, b"bad", Slice())
        assert str(ei.value.path).endswith("sp1-50-Data.db") and "malformed partition" in str(ei.value)
        assert eng.stats().quarantined_sstables == 1 and len(_quarantined(fs)) == 6
        await eng.close()
    run(body())
