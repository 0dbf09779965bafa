"""Benchmark: CPU per request through one shard's request path, without the network.

A shard (`scylla_py.daemon.Node`, one of one) is started in this process on a temporary work
directory; prepared statements are executed through `QueryProcessor.execute` the way the CQL
server calls it, with the stress tool's table shape (a blob key and five 34-byte blob columns):

- `insert`: one-row INSERT (commitlog periodic), keys in order as 8-byte integers;
- `select-memtable`: SELECT by key of those rows while they are still in the memtable;
- `select-sstable`: the same after a flush (warm page and block cache);
- `select-versions`: the same after the rows were overwritten, flushed and overwritten again:
  each key then has three versions (the memtable's and two sstables'). `StorageEngine.read_row`
  reads in timestamp order: the memtable's newest version settles the row and no sstable is
  read (checkouts before that merged all three);
- `select-flushed`: the same once that memtable is flushed too: three versions, each in its own
  sstable; the newest sstable settles the row (before: all three merged).
Each repeat first compacts what the earlier ones left, so every repeat reads the same shape and
no background compaction runs.

It isolates the query processor and storage from the protocol codec and sockets, whose cost
`bench/protocol_bench.py` and `bench/shard_bench.py` measure. CPU time is process time (all
threads, so flushes count). Every phase is repeated and the median reported.

    .venv/bin/python bench/request_path_bench.py [--ops 20000] [--repeats 3]
    .venv/bin/python bench/request_path_bench.py --ab OLD_ROOT [--rounds 3]

`--ab OLD_ROOT` runs this file alternately against another checkout (e.g. a `git worktree` of an
earlier commit) and this one, in subprocesses, and prints both medians. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("insert", "select-memtable", "select-sstable", "select-versions", "select-flushed")


async def _measure(ops: int, repeats: int) -> dict[str, float]:
    from cql.protocol.requests import Consistency, QueryParameters
    from scylla_py import daemon
    from scylla_py.config import load_config
    from scylla_py.daemon import Node
    from scylla_py.query_processor import Session

    results: dict[str, list[float]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory() as d:
        # Shard 0 also serves REST and metrics: port 0 lets the OS pick free ones.
        cfg = load_config(None, {"workdir": d, "api_port": 0, "prometheus_port": 0})
        node = Node(cfg, 0, 1)
        await node.start()
        tune_gc = getattr(daemon, "tune_gc", None)  # what a shard process does once started
        if tune_gc is not None:  # (checkouts before it existed ran with CPython's defaults)
            tune_gc()
        qp = node.processor
        engine = node.engine
        assert engine is not None
        session = Session()
        plain = QueryParameters(Consistency.ONE)
        await qp.query(session, "CREATE KEYSPACE ks WITH replication = "
                       "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}", plain)
        await qp.query(session, "CREATE TABLE ks.t (key blob PRIMARY KEY, c0 blob, c1 blob, c2 blob, c3 blob, "
                       "c4 blob)", plain)
        ins = qp.prepare(session, "INSERT INTO ks.t (key, c0, c1, c2, c3, c4) VALUES (?, ?, ?, ?, ?, ?)")
        sel = qp.prepare(session, "SELECT key, c0, c1, c2, c3, c4 FROM ks.t WHERE key = ?")
        value = b"x" * 34

        async def run(query_id: bytes, params: list[QueryParameters]) -> float:
            c0 = time.process_time()
            for p in params:
                await qp.execute(session, query_id, p)
            return (time.process_time() - c0) / len(params) * 1e6

        for r in range(repeats):
            if r:
                await engine.compact()  # one sstable of earlier repeats' keys (bloom-filtered)
            keys = [i.to_bytes(8, "big") for i in range(r * ops, (r + 1) * ops)]
            writes = [QueryParameters(Consistency.ONE, (k, value, value, value, value, value), skip_metadata=True)
                      for k in keys]
            reads = [QueryParameters(Consistency.ONE, (k,), skip_metadata=True) for k in keys]
            gc.collect()
            results["insert"].append(await run(ins.statement_id, writes))
            results["select-memtable"].append(await run(sel.statement_id, reads))
            await engine.flush()
            results["select-sstable"].append(await run(sel.statement_id, reads))
            for fill in (b"y", b"z"):  # two overwrites, the first flushed: three versions per key
                v = fill * 34
                await run(ins.statement_id, [QueryParameters(Consistency.ONE, (k, v, v, v, v, v), skip_metadata=True)
                                             for k in keys])
                if fill == b"y":
                    await engine.flush()
            results["select-versions"].append(await run(sel.statement_id, reads))
            got = await qp.execute(session, sel.statement_id, reads[-1])
            assert getattr(got, "rows", None) == [[keys[-1]] + [b"z" * 34] * 5], got  # the newest version won
            await engine.flush()
            results["select-flushed"].append(await run(sel.statement_id, reads))
            got = await qp.execute(session, sel.statement_id, reads[-1])
            assert getattr(got, "rows", None) == [[keys[-1]] + [b"z" * 34] * 5], got
        await node.stop()
    return {p: statistics.median(v) for p, v in results.items()}


def _run_child(root: Path, ops: int, repeats: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--root", str(root), "--ops", str(ops),
         "--repeats", str(repeats), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=20000, help="requests per phase and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT, help="import the server from this checkout")
    parser.add_argument("--json", action="store_true", help="print the medians as one JSON line")
    parser.add_argument("--ab", type=Path, metavar="OLD_ROOT", help="alternate runs against OLD_ROOT and this checkout")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (with --ab)")
    args = parser.parse_args()

    if args.ab is not None:
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            runs["old"].append(_run_child(args.ab, args.ops, args.repeats))
            runs["new"].append(_run_child(ROOT, args.ops, args.repeats))
        print(f"ops/phase={args.ops} repeats={args.repeats} rounds={args.rounds} (µs CPU per request, medians)")
        print(f"{'phase':16} {'old':>8} {'new':>8} {'new/old':>8}")
        for p in PHASES:
            old = statistics.median(r[p] for r in runs["old"])
            new = statistics.median(r[p] for r in runs["new"])
            print(f"{p:16} {old:8.1f} {new:8.1f} {new / old:8.2f}")
        return

    sys.path.insert(0, str(args.root))
    import logging

    logging.disable(logging.INFO)
    medians: dict[str, Any] = asyncio.run(_measure(args.ops, args.repeats))
    if args.json:
        print(json.dumps(medians))
        return
    print(f"ops/phase={args.ops} repeats={args.repeats} (µs CPU per request, medians)")
    for p in PHASES:
        print(f"{p:16} {medians[p]:8.1f}")


if __name__ == "__main__":
    main()
