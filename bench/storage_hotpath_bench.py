"""Microbenchmark of the storage engine's per-operation hot paths (one process, one event loop).

Run:  .venv/bin/python bench/storage_hotpath_bench.py [--n 50000] [--repeat 5]
A/B:  PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/storage_hotpath_bench.py
      (the `storage` package is imported from PYTHONPATH first; only the public API is used).

Workload: `scylla-py stress`'s table -- a 10-byte blob partition key, no clustering, five 34-byte
blob cells plus the INSERT's row marker -- one partition per write, periodic commitlog. Reports
CPU µs per operation (medians of `--repeat` rounds in one process):

- construct: one `Cell(ts, v, ttl, expiry)`; one whole mutation built the way the CQL layer does
  (`Mutation`, `LivenessInfo`, five `Cell`s, `Row`);
- apply: building the mutation then `await StorageEngine.apply` (encode, commitlog, memtable),
  as a shard does per INSERT; and `apply` alone, of prebuilt mutations (these stay alive in a
  list, so the cyclic GC walks them in both cases);
- flush: per partition, writing a sealed memtable of `--n` partitions to an sstable (the
  first `--n` writes were flushed before, untimed);
- read: `StorageEngine.read` of a present key from a memtable, from one flushed sstable with a
  warm block cache, and of an absent key (bloom filter).
Not a timed test; figures go in docs/storage/benchmark.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from storage import Cell, LivenessInfo, Mutation, Row, Slice, StorageConfig, StorageEngine, TableOptions

TABLE = uuid.UUID(int=1)
TABLET = (TABLE, 0)
LO, HI = -(1 << 63), (1 << 63) - 1
COLUMNS = ("C0", "C1", "C2", "C3", "C4")


def token_of(i: int) -> int:
    t = (((i + 1) * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)) - (1 << 63)
    return HI if t == LO else t


def key_of(i: int) -> bytes:
    return b"%010d" % i


VALUES = [bytes([65 + (i % 26)]) * 34 for i in range(64)]


def build(i: int, ts: int) -> Mutation:
    """What modification.py builds for one stress INSERT (its plain-column-set path)."""
    m = Mutation(token_of(i), key_of(i))
    marker = LivenessInfo(ts, 0, 0)
    cells: dict[tuple[str, bytes], Cell] = {}
    for c, name in enumerate(COLUMNS):
        cells[(name, b"")] = Cell(ts, VALUES[(i + c) & 63], 0, 0)
    m.rows[b""] = Row(marker, None, cells)
    return m


def cpu_us_per_op(fn: Callable[[], object], n: int) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) / n * 1e6


async def open_engine(d: Path) -> StorageEngine:
    eng = await StorageEngine.open(d, StorageConfig(
        commitlog_sync="periodic", compaction_enabled=False, block_cache_bytes=256 << 20,
        memtable_flush_threshold_bytes=4 << 30, shard_memtable_limit_bytes=8 << 30))
    eng.add_table(TABLE, TableOptions())
    eng.add_tablet(TABLET, LO, HI)
    await eng.replay_commitlog()
    return eng


async def one_round(base: Path, n: int, r: int, out: dict[str, list[float]]) -> None:
    d = base / f"r{r}"
    shutil.rmtree(d, ignore_errors=True)
    eng = await open_engine(d)

    def construct_cells() -> None:
        v = VALUES[0]
        for ts in range(n):
            Cell(ts, v, 0, 0)
            Cell(ts, v, 0, 0)
            Cell(ts, v, 0, 0)
            Cell(ts, v, 0, 0)
            Cell(ts, v, 0, 0)

    def construct_mutations() -> None:
        for i in range(n):
            build(i, 1000 + i)

    out.setdefault("construct Cell", []).append(cpu_us_per_op(construct_cells, 5 * n))
    out.setdefault("construct stress mutation", []).append(cpu_us_per_op(construct_mutations, n))

    # what a shard does per INSERT: build the mutation, hand it to storage (GC included: the
    # memtable keeps what the writes leave behind)
    t0 = time.process_time()
    for i in range(n):
        await eng.apply(TABLET, build(i, 1000 + i))
    out.setdefault("build + apply (5-cell row, periodic)", []).append((time.process_time() - t0) / n * 1e6)
    await eng.flush()
    muts = [build(i, 1000 + i) for i in range(n, 2 * n)]
    t0 = time.process_time()
    for m in muts:
        await eng.apply(TABLET, m)
    out.setdefault("apply of a prebuilt mutation", []).append((time.process_time() - t0) / n * 1e6)
    muts.clear()

    sl = Slice(now_s=int(time.time()))
    keys = [(token_of(i), key_of(i)) for i in range(n, 2 * n, 7)]
    read = eng.read

    def read_all() -> None:
        for t, k in keys:
            read(TABLET, t, k, sl)

    out.setdefault("read from memtable", []).append(cpu_us_per_op(read_all, len(keys)))

    t0 = time.process_time()
    await eng.flush()
    out.setdefault("flush, per partition", []).append((time.process_time() - t0) / n * 1e6)

    read_all()  # fill the block cache
    out.setdefault("read from sstable (warm cache)", []).append(cpu_us_per_op(read_all, len(keys)))
    absent = [(t + 1, k + b"x") for t, k in keys]

    def read_absent() -> None:
        for t, k in absent:
            read(TABLET, t, k, sl)

    out.setdefault("read of absent key (bloom)", []).append(cpu_us_per_op(read_absent, len(absent)))
    await eng.close()
    shutil.rmtree(d, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/storage-hotpath-bench")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    base = Path(args.dir)
    import storage

    print(f"storage from {Path(storage.__file__).parent}; {args.n} operations x {args.repeat} rounds")
    out: dict[str, list[float]] = {}
    for r in range(args.repeat):
        await one_round(base, args.n, r, out)
    for name, xs in out.items():
        print(f"{name:<34} {statistics.median(xs):8.2f} µs/op (cpu)   "
              f"[{' '.join(f'{x:.2f}' for x in xs)}]", flush=True)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
