"""In-process benchmark of the storage engine (one process, one event loop).

Run:  .venv/bin/python bench/storage_bench.py [--partitions 1000000] [--wa-mb 1024] [--dir /tmp/x]

Reports writes/s (periodic commitlog; of prebuilt mutations, and of mutations built per write),
point reads/s from sstables cold and warm, range-scan rows/s, compaction MB/s, bytes on disk per
100-byte cell, write amplification after size-tiered compaction, commitlog replay MB/s, and the
flushes and major compaction of an overwrite workload (`--only overwrite`: every key rewritten
in each of 4 sstables, the table shape of `scylla-py stress`).
Rates are given against wall time and against this process's CPU time (the machine is shared;
CPU time is the steadier figure). Results go in docs/storage/benchmark.md; this is not a timed
test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import time
import uuid
from pathlib import Path

from storage import Cell, LivenessInfo, Mutation, Row, Slice, StorageConfig, StorageEngine, TableOptions

TABLE = uuid.UUID(int=1)
TABLET = (TABLE, 0)
LO, HI = -(1 << 63), (1 << 63) - 1
CK = b"\x40\x80\x00\x00\x00\x38"
WORDS = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt".split()


def token_of(i: int) -> int:
    # spread tokens like Murmur3 would, deterministically
    t = (((i + 1) * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)) - (1 << 63)
    return HI if t == LO else t  # Murmur3 never yields LONG_MIN


def value_100(rng: random.Random) -> bytes:
    """100 bytes of text-like (compressible) data."""
    out = b""
    while len(out) < 100:
        out += rng.choice(WORDS) + b" "
    return out[:100]


def mutation(i: int, ts: int, value: bytes) -> Mutation:
    row = Row(marker=LivenessInfo(ts), cells={("v", b""): Cell(ts, value)})
    return Mutation(token_of(i), b"key%010d" % i, rows={CK: row})


class Timer:
    def __enter__(self) -> Timer:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *a: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def raw_mb(eng: StorageEngine) -> float:
    """Uncompressed data bytes (MB) of the tablet's sstables."""
    return float(sum(s.stats["data_bytes_uncompressed"] for s in eng._tablets[TABLET].sstables)) / (1 << 20)


def report(name: str, n: float, unit: str, t: Timer) -> None:
    fmt = ">12,.1f" if n / max(t.cpu, 1e-9) < 1000 else ">12,.0f"
    print(f"{name:<44} {n / t.wall:{fmt}} {unit} (wall)  {n / max(t.cpu, 1e-9):{fmt}} {unit} (cpu)"
          f"   [{n:,.0f} in {t.wall:.2f}s wall, {t.cpu:.2f}s cpu]", flush=True)


async def compact_and_report(eng: StorageEngine, what: str) -> Timer:
    """Major compaction of the tablet, reported as "major compaction<what> (N MB)" per compressed
    and per uncompressed input MB; its timer."""
    st = eng.stats()
    raw_in = raw_mb(eng)
    with Timer() as t:
        await eng.compact()
    mb_in = st.sstable_bytes / (1 << 20)
    report(f"major compaction{what} ({mb_in:.0f} MB)", mb_in, "MB/s", t)
    report(f"  same, uncompressed ({raw_in:.0f} MB)", raw_in, "MB/s", t)
    return t


async def open_engine(d: Path, **cfg: object) -> StorageEngine:
    eng = await StorageEngine.open(d, StorageConfig(**cfg))  # type: ignore[arg-type]
    eng.add_table(TABLE, TableOptions())
    eng.add_tablet(TABLET, LO, HI)
    await eng.replay_commitlog()
    return eng


def drop_os_cache(d: Path) -> str:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return "drop_caches"
    except OSError:
        for root, _, files in os.walk(d):
            for name in files:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
        return "posix_fadvise(DONTNEED)"


async def bench_writes(base: Path, n: int) -> None:
    d = base / "writes"
    eng = await open_engine(d, commitlog_sync="periodic", compaction_enabled=False)
    rng = random.Random(1)
    vals = [value_100(rng) for _ in range(1000)]
    muts = [mutation(i, i, vals[i % 1000]) for i in range(n)]
    with Timer() as t:
        for m in muts:
            await eng.apply(TABLET, m)
    report("writes (memtable + periodic commitlog)", n, "writes/s", t)
    await eng.close()
    del muts
    # The same writes, each mutation built just before it is applied (as the CQL layer does):
    # then only what the engine keeps stays alive, which decides how much the cyclic GC walks.
    # (Above, the prebuilt list keeps every mutation alive whatever the engine keeps.)
    eng = await open_engine(base / "writes-built", commitlog_sync="periodic", compaction_enabled=False)
    with Timer() as t:
        for i in range(n):
            await eng.apply(TABLET, mutation(i, i, vals[i % 1000]))
    report("  same, each mutation built just before", n, "writes/s", t)
    await eng.close()


async def bench_dataset(base: Path, n: int, reads: int) -> None:
    d = base / "data"
    eng = await open_engine(d, commitlog_sync="periodic", compaction_enabled=False)
    rng = random.Random(2)
    vals = [value_100(rng) for _ in range(1000)]
    chunk = (n + 3) // 4
    for i in range(n):
        await eng.apply(TABLET, mutation(i, i, vals[i % 1000]))
        if (i + 1) % chunk == 0:
            await eng.flush()
    await eng.flush()
    await compact_and_report(eng, f" of {eng.stats().sstable_count} sstables")
    st = eng.stats()
    raw = n * (100 + len(b"key%010d" % 0) + len(CK) + 1)
    print(f"{'bytes on disk per 100-byte cell':<44} {st.sstable_bytes / n:>12.1f} bytes  "
          f"(raw key+clustering+value {raw / n:.0f} bytes -> {st.sstable_bytes / raw:.2f}x raw)", flush=True)
    with Timer() as t:
        rows = sum(len(p.rows) for p in eng.scan(TABLET, None, HI, Slice()))
    report("range scan", rows, "rows/s", t)
    await eng.close()

    keys = [rng.randrange(n) for _ in range(reads)]
    how = drop_os_cache(d)
    eng = await open_engine(d, commitlog_sync="periodic", compaction_enabled=False,
                            block_cache_bytes=256 << 20)
    for label in (f"point reads, cold OS cache [{how}]", "point reads, warm (OS + block cache)"):
        with Timer() as t:
            for i in keys:
                pd = eng.read(TABLET, token_of(i), b"key%010d" % i, Slice())
                assert pd is not None
        report(label, reads, "reads/s", t)
    with Timer() as t:
        for i in keys:
            assert eng.read(TABLET, token_of(i) + 1, b"nokey%d" % i, Slice()) is None
    report("point reads of absent keys (bloom filter)", reads, "reads/s", t)
    await eng.close()


async def bench_wide_compaction(base: Path, partitions: int, rows: int) -> None:
    """Compaction throughput when partitions hold many rows (per-partition overhead amortized)."""
    d = base / "wide"
    eng = await open_engine(d, commitlog_sync="periodic", compaction_enabled=False)
    rng = random.Random(5)
    vals = [value_100(rng) for _ in range(1000)]
    for part in range(4):
        for p in range(partitions):
            m = Mutation(token_of(p), b"wide%08d" % p)
            for r in range(part, rows, 4):
                ck = b"\x40" + (r + (1 << 31)).to_bytes(4, "big") + b"\x38"
                m.rows[ck] = Row(marker=LivenessInfo(r), cells={("v", b""): Cell(r, vals[(p + r) % 1000])})
            await eng.apply(TABLET, m)
        await eng.flush()
    await compact_and_report(eng, f", {rows}-row partitions")
    await eng.close()


def stress_row(i: int, ts: int) -> Mutation:
    """One `scylla-py stress` write: a 10-byte key, a row marker and 5 blob columns of 34 bytes."""
    v = b"%010d" % i + b"%024d" % ts
    row = Row(marker=LivenessInfo(ts), cells={(f"C{c}", b""): Cell(ts, v) for c in range(5)})
    return Mutation(token_of(i), b"%010d" % i, rows={b"": row})


async def bench_overwrite(base: Path, n: int) -> None:
    """Flush and major compaction cost when every write overwrites a key already in an sstable:
    4 rounds of the same `n` keys with newer values, one flush per round, then one compaction
    of the 4 sstables (each partition there has 4 versions of the same row)."""
    d = base / "overwrite"
    eng = await open_engine(d, commitlog_sync="periodic", compaction_enabled=False,
                            memtable_flush_threshold_bytes=4 << 30, shard_memtable_limit_bytes=8 << 30)
    flush_wall = flush_cpu = 0.0
    for rnd in range(4):
        for i in range(n):
            await eng.apply(TABLET, stress_row(i, 1_000_000 * (rnd + 1) + i))
        with Timer() as t:
            await eng.flush()
        flush_wall += t.wall
        flush_cpu += t.cpu
    flush = Timer()
    flush.wall, flush.cpu = flush_wall, flush_cpu
    report(f"flush, stress rows (4 x {n:,} partitions)", 4 * n, "partitions/s", flush)
    print(f"{'  same, per partition':<44} {flush_wall / (4 * n) * 1e6:>12.2f} us (wall) "
          f"{flush_cpu / (4 * n) * 1e6:>12.2f} us (cpu)", flush=True)
    t = await compact_and_report(eng, ", 4 overwrites")
    print(f"{'  same, per partition (of ' + format(n, ',') + ')':<44} {t.wall / n * 1e6:>12.2f} us (wall) "
          f"{t.cpu / n * 1e6:>12.2f} us (cpu)", flush=True)
    assert eng.stats().sstable_count == 1
    await eng.close()


async def bench_write_amplification(base: Path, mb: int) -> None:
    d = base / "wa"
    eng = await open_engine(d, commitlog_sync="periodic", compaction_enabled=True,
                            memtable_flush_threshold_bytes=8 << 20)
    rng = random.Random(3)
    vals = [value_100(rng) for _ in range(1000)]
    n = (mb << 20) // 130
    with Timer() as t:
        for i in range(n):
            await eng.apply(TABLET, mutation(rng.randrange(n * 2), i, vals[i % 1000]))
            if i % 256 == 0:
                await asyncio.sleep(0)  # let background flushes and compactions run
        await eng.flush()
        while eng._tasks:
            await asyncio.gather(*list(eng._tasks))
    c = eng.counters
    wa = (c["flush_bytes"] + c["compaction_bytes_out"]) / max(1, c["flush_bytes"])
    print(f"{'write amplification, STCS, ' + str(mb) + ' MB written':<44} {wa:>12.2f} x  "
          f"(flushed {c['flush_bytes'] >> 20} MB, {c['compactions']} compactions wrote "
          f"{c['compaction_bytes_out'] >> 20} MB; {eng.stats().sstable_count} sstables left; "
          f"{t.wall:.1f}s wall)", flush=True)
    await eng.close()


async def bench_replay(base: Path, mb: int) -> None:
    d = base / "replay"
    eng = await open_engine(d, commitlog_sync="periodic", compaction_enabled=False,
                            memtable_flush_threshold_bytes=4 << 30, shard_memtable_limit_bytes=8 << 30)
    rng = random.Random(4)
    vals = [value_100(rng) for _ in range(1000)]
    n = (mb << 20) // 150
    for i in range(n):
        await eng.apply(TABLET, mutation(i, i, vals[i % 1000]))
    await eng.commitlog.sync_to(eng.commitlog.position())
    eng.abandon()
    eng2 = await StorageEngine.open(d, StorageConfig(compaction_enabled=False, shard_memtable_limit_bytes=8 << 30,
                                                     memtable_flush_threshold_bytes=4 << 30))
    eng2.add_table(TABLE, TableOptions())
    eng2.add_tablet(TABLET, LO, HI)
    with Timer() as t:
        stats = await eng2.replay_commitlog()
    report(f"commitlog replay ({stats.applied:,} entries)", stats.bytes / (1 << 20), "MB/s", t)
    await eng2.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/storage-bench")
    ap.add_argument("--writes", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=200_000, help="1000000 for the issue's figure")
    ap.add_argument("--reads", type=int, default=50_000)
    ap.add_argument("--wa-mb", type=int, default=128, help="1024 for the issue's figure")
    ap.add_argument("--replay-mb", type=int, default=64)
    ap.add_argument("--overwrite-partitions", type=int, default=120_000)
    ap.add_argument("--only", default="", help="comma list: writes,data,wide,wa,replay,overwrite")
    args = ap.parse_args()
    base = Path(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    only = set(args.only.split(",")) if args.only else {"writes", "data", "wide", "wa", "replay", "overwrite"}
    if "writes" in only:
        await bench_writes(base, args.writes)
    if "data" in only:
        await bench_dataset(base, args.partitions, args.reads)
    if "wide" in only:
        await bench_wide_compaction(base, 2000, 200)
    if "overwrite" in only:
        await bench_overwrite(base, args.overwrite_partitions)
    if "replay" in only:
        await bench_replay(base, args.replay_mb)
    if "wa" in only:
        await bench_write_amplification(base, args.wa_mb)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
