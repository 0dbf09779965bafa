"""In-process micro-benchmark of the server side of the CQL protocol codec (`cql.protocol`).

Measures µs per operation of what a shard does per prepared single-row request:
1. decode: v4 EXECUTE frames with 6 blob values fed to a READY `ServerConnection`, one frame per
   `receive_data()` and 32 frames per `receive_data()` (a pipelining client), then `next_event()`
   until NEED_DATA; the same with lz4-compressed frames;
2. encode: `send()` of a RESULT Void, and of a RESULT Rows of one row of 6 blob columns with and
   without skip_metadata (`no_metadata`), without and with lz4 compression.

The EXECUTE body is what cassandra-driver sends for a prepared statement: flags values,
skip_metadata, page_size and default timestamp; a 16-byte statement id; a 10-byte key and five
34-byte values (the `scylla-py stress` table).

    .venv/bin/python bench/protocol_bench.py [--repeats 7] [--root DIR] [--json]
    .venv/bin/python bench/protocol_bench.py --ab OLD_ROOT [--rounds 3]

`--root DIR` imports `cql` from another checkout (e.g. a `git worktree` of the previous commit);
`--ab OLD_ROOT` runs this file alternately against OLD_ROOT and this checkout in subprocesses and
prints both medians side by side. Figures are recorded in docs/benchmarks.md. Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_HEADER = struct.Struct(">BBhBi")
_STATEMENT_ID = bytes(range(16))
_VALUES = [b"k" * 10] + [bytes([65 + i]) * 34 for i in range(5)]
# <query_parameters> flags: values | skip_metadata | page_size | default timestamp.
_EXECUTE_FLAGS = 0x01 | 0x02 | 0x04 | 0x20
_BATCH = 32


def _string_map(items: dict[str, str]) -> bytes:
    out = struct.pack(">H", len(items))
    for key, value in items.items():
        for s in (key, value):
            data = s.encode()
            out += struct.pack(">H", len(data)) + data
    return out


def _execute_body() -> bytes:
    body = struct.pack(">H", len(_STATEMENT_ID)) + _STATEMENT_ID
    body += struct.pack(">HB", 0x0001, _EXECUTE_FLAGS)  # consistency ONE
    body += struct.pack(">H", len(_VALUES))
    for value in _VALUES:
        body += struct.pack(">i", len(value)) + value
    body += struct.pack(">i", 5000)  # page size
    body += struct.pack(">q", 1_700_000_000_000_000)  # default timestamp
    return body


def _frame(opcode: int, stream: int, body: bytes, compressed: bool = False) -> bytes:
    flags = 0
    if compressed:
        import lz4.block

        body = struct.pack(">i", len(body)) + lz4.block.compress(body, store_size=False)
        flags = 0x01
    return _HEADER.pack(4, flags, stream, opcode, len(body)) + body


def _ready_connection(compression: str | None) -> Any:
    from cql.protocol import Ready, ServerConnection, Startup

    conn = ServerConnection()
    options = {"CQL_VERSION": "3.0.0"}
    if compression:
        options["COMPRESSION"] = compression
    conn.receive_data(_frame(0x01, 1, _string_map(options)))
    assert isinstance(conn.next_event(), Startup)
    conn.send(Ready(), 1)
    return conn


def _decode_case(frames_per_feed: int, compressed: bool) -> tuple[Callable[[], None], int]:
    """A closure decoding `frames_per_feed` EXECUTE frames, and that count (ops per call)."""
    from cql.protocol import NEED_DATA, Execute

    conn = _ready_connection("lz4" if compressed else None)
    body = _execute_body()
    chunk = b"".join(_frame(0x0A, 100 + i, body, compressed) for i in range(frames_per_feed))
    # Sanity: the frame decodes to what we meant.
    conn.receive_data(chunk)
    first = conn.next_event()
    assert isinstance(first, Execute) and list(first.params.values) == _VALUES, first
    while conn.next_event() is not NEED_DATA:
        pass
    receive = conn.receive_data
    next_event = conn.next_event

    def run() -> None:
        receive(chunk)
        while next_event() is not NEED_DATA:
            pass

    return run, frames_per_feed


def _encode_case(kind: str, compressed: bool) -> tuple[Callable[[], None], int]:
    from cql.protocol import ResultRows, ResultVoid
    from cql.protocol_types import BLOB, ColumnSpec

    conn = _ready_connection("lz4" if compressed else None)
    columns = tuple(ColumnSpec("ks", "standard1", f"c{i}", (BLOB,)) for i in range(6))
    row = [_VALUES]
    send = conn.send
    if kind == "void":
        def run() -> None:
            send(ResultVoid(), 7)
    else:
        no_metadata = kind == "rows_skip_metadata"

        def run() -> None:
            # The response is built per request by the server too, so its construction counts.
            send(ResultRows(columns, row, None, no_metadata), 7)

    return run, 1


CASES: dict[str, Callable[[], tuple[Callable[[], None], int]]] = {
    "decode_execute_1_per_feed": lambda: _decode_case(1, False),
    f"decode_execute_{_BATCH}_per_feed": lambda: _decode_case(_BATCH, False),
    "encode_void": lambda: _encode_case("void", False),
    "encode_rows_1x6": lambda: _encode_case("rows", False),
    "encode_rows_1x6_skip_metadata": lambda: _encode_case("rows_skip_metadata", False),
    "lz4_decode_execute_1_per_feed": lambda: _decode_case(1, True),
    f"lz4_decode_execute_{_BATCH}_per_feed": lambda: _decode_case(_BATCH, True),
    "lz4_encode_void": lambda: _encode_case("void", True),
    "lz4_encode_rows_1x6": lambda: _encode_case("rows", True),
    "lz4_encode_rows_1x6_skip_metadata": lambda: _encode_case("rows_skip_metadata", True),
}


def _time_us(run: Callable[[], None], ops_per_call: int, target_s: float) -> float:
    """µs per op of one repeat lasting about `target_s` (calls calibrated on a short warm-up)."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            run()
        elapsed = time.perf_counter() - start
        if elapsed > 0.02:
            break
        calls *= 4
    calls = max(1, int(calls * target_s / elapsed))
    start = time.perf_counter()
    for _ in range(calls):
        run()
    elapsed = time.perf_counter() - start
    return elapsed * 1e6 / (calls * ops_per_call)


def measure(repeats: int, target_s: float) -> dict[str, float]:
    """Median µs/op per case; each repeat cycles through every case, so drift hits all alike."""
    prepared = {name: make() for name, make in CASES.items()}
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(repeats):
        for name, (run, ops) in prepared.items():
            samples[name].append(_time_us(run, ops, target_s))
    return {name: statistics.median(values) for name, values in samples.items()}


def _print_table(columns: dict[str, dict[str, float]]) -> None:
    heads = list(columns)
    print(f"{'case (µs/op, median)':40}" + "".join(f"{h:>12}" for h in heads)
          + ("   new/old" if len(heads) == 2 else ""))
    for name in CASES:
        cells = [columns[h][name] for h in heads]
        line = f"{name:40}" + "".join(f"{c:12.2f}" for c in cells)
        if len(cells) == 2:
            line += f"{cells[1] / cells[0]:10.2f}"
        print(line)


def _run_child(root: Path, repeats: int, target_s: float) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--root", str(root), "--json",
           "--repeats", str(repeats), "--target-s", str(target_s)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--target-s", type=float, default=0.2, help="seconds per repeat and case")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to import cql from")
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    parser.add_argument("--ab", type=Path, metavar="OLD_ROOT",
                        help="alternate runs against OLD_ROOT and this checkout")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (with --ab)")
    args = parser.parse_args()

    if args.ab is not None:
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            runs["old"].append(_run_child(args.ab, args.repeats, args.target_s))
            runs["new"].append(_run_child(ROOT, args.repeats, args.target_s))
        columns = {
            side: {name: statistics.median(r[name] for r in results) for name in CASES}
            for side, results in runs.items()
        }
        _print_table(columns)
        print(json.dumps(columns))
        return

    sys.path.insert(0, str(args.root.resolve()))
    result = measure(args.repeats, args.target_s)
    if args.json:
        print(json.dumps(result))
    else:
        _print_table({"this": result})


if __name__ == "__main__":
    main()
