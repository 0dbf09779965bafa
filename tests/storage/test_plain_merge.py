"""Compaction's codec-level merge of plain partitions (`compaction.merge_plain_versions`)
against the slow path it stands in for (decode, `merge_versions`, `compact_partition`,
`SSTableWriter.add`): the same bytes, the same row and cell counts, and a whole compaction
writing the same files and statistics either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import partition_obj, strict_packer
from storage.compaction import compact_partition, merge_plain_versions, run_compaction
from storage.counter import encode_shards
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, Row
from storage.reconcile import merge_versions
from storage.sstable_format import COMPONENTS, component_name
from storage.sstable_reader import BlockCache, SSTableReader
from storage.sstable_stats import StatsCollector
from storage.sstable_writer import SSTableWriter
from tests.storage.fakes import FaultFS
from tests.storage.helpers import ck

MIN_TS = -(1 << 63)
_COLUMNS = [("a", b""), ("b", b""), ("c", b"\x01"), ("c", b"\x02"), ("n", b"")]  # n: a counter column
_TOKEN = {b"p": -3, b"q": -3, b"r": 7}  # equal tokens, different keys


@st.composite
def _cells(draw: st.DrawFn, columns: list[tuple[str, bytes]]) -> dict[tuple[str, bytes], Cell]:
    """Live cells without TTL: timestamps, expiries and values drawn from small sets (ties)."""
    if not draw(st.booleans()):  # often the same columns in the same order (an overwrite)
        columns = draw(st.permutations(draw(st.lists(st.sampled_from(_COLUMNS), unique=True, max_size=4))))
    out = {}
    for k in columns:
        ts = draw(st.integers(-2, 3))
        if k[0] == "n":
            out[k] = Cell(ts, encode_shards([(b"h" * 16, ts, draw(st.integers(0, 3)))]), counter=True)
        else:
            out[k] = Cell(ts, draw(st.binary(max_size=1)), 0, draw(st.sampled_from([0, 0, 9])))
    return out


@st.composite
def _row(draw: st.DrawFn, columns: list[tuple[str, bytes]]) -> Row:
    marker = draw(st.one_of(st.none(), st.builds(LivenessInfo, st.integers(-2, 3), st.just(0),
                                                  st.sampled_from([0, 0, 9]))))
    return Row(marker=marker, cells=draw(_cells(columns)))


@st.composite
def _versions(draw: st.DrawFn, key: bytes) -> list[Mutation]:
    """2-4 plain versions of partition `key`: rows from a few clustering keys, maybe a static row."""
    columns = draw(st.lists(st.sampled_from(_COLUMNS), unique=True, max_size=4))
    out = []
    for _ in range(draw(st.integers(2, 4))):
        cks = draw(st.lists(st.sampled_from([ck(0), ck(1), ck(2)]), unique=True, max_size=3))
        rows = {c: draw(_row(columns)) for c in cks}
        static = draw(st.one_of(st.none(), _row(columns)))
        out.append(Mutation(_TOKEN.get(key, 0), key, rows=rows, static_row=static))
    return out


def _stored(m: Mutation) -> Any:
    """`m` as an sstable stores it and compaction decodes it."""
    return msgpack.unpackb(strict_packer().pack(partition_obj(m, sort_range_tombstones=True)),
                           raw=False, use_list=False)


def _counts(m: Mutation) -> tuple[int, int]:
    s = StatsCollector()
    s.add(m)
    return s.rows, s.cells


def _duplicated_counter(versions: list[Mutation]) -> bool:
    """Whether some (row, column, path) is in several versions with a counter cell in one."""
    seen: dict[tuple[bytes | None, str, bytes], list[Cell]] = {}
    for v in versions:
        rows: list[tuple[bytes | None, Row]] = list(v.rows.items())
        if v.static_row is not None:
            rows.append((None, v.static_row))
        for c, r in rows:
            for k, cell in r.cells.items():
                seen.setdefault((c, *k), []).append(cell)
    return any(len(cs) > 1 and any(x.counter for x in cs) for cs in seen.values())


@settings(max_examples=400, deadline=None)
@given(_versions(b"p"))
def test_plain_merge_writes_what_the_slow_path_writes(versions: list[Mutation]) -> None:
    objs = [_stored(v) for v in versions]
    got = merge_plain_versions(objs)
    if got is None:
        assert _duplicated_counter(versions)  # the only reason to fall back
        return
    merged, drows, dcells = got
    out = compact_partition(merge_versions(versions[0].token, b"p", versions), 0, -(1 << 62), MIN_TS)
    rows_in = sum(_counts(v)[0] for v in versions)
    cells_in = sum(_counts(v)[1] for v in versions)
    if out is None:
        assert merged is None
        assert (drows, dcells) == (-rows_in, -cells_in)
        return
    assert merged is not None
    assert msgpack.Packer(use_bin_type=True).pack(merged) == strict_packer().pack(
        partition_obj(out, sort_range_tombstones=True))
    rows_out, cells_out = _counts(out)
    assert (drows, dcells) == (rows_out - rows_in, cells_out - cells_in)


def test_ties_follow_reconcile() -> None:
    """Equal timestamps: the larger expiry wins, then the larger value; markers by expiry."""
    a = Mutation(0, b"k", rows={b"": Row(LivenessInfo(5, 0, 9), cells={
        ("x", b""): Cell(5, b"b"), ("y", b""): Cell(5, b"a", 0, 9)})})
    b = Mutation(0, b"k", rows={b"": Row(LivenessInfo(5), cells={
        ("y", b""): Cell(5, b"z"), ("x", b""): Cell(5, b"c")})})
    got = merge_plain_versions([_stored(a), _stored(b)])
    assert got is not None
    merged, drows, dcells = got
    assert (drows, dcells) == (-1, -2)
    assert merged[4] == [b"", ((5, 0, 9), None, ["x", b"", 5, b"c", 0, 0, False, "y", b"", 5, b"a", 0, 9, False], ())]


def test_counter_in_several_versions_falls_back() -> None:
    c1 = Cell(1, encode_shards([(b"h" * 16, 1, 1)]), counter=True)
    c2 = Cell(2, encode_shards([(b"h" * 16, 2, 5)]), counter=True)
    a = Mutation(0, b"k", rows={b"": Row(cells={("n", b""): c1})})
    b = Mutation(0, b"k", rows={b"": Row(cells={("n", b""): c2})})
    assert merge_plain_versions([_stored(a), _stored(b)]) is None
    # in different rows they need no reconciling
    b2 = Mutation(0, b"k", rows={ck(1): Row(cells={("n", b""): c2})})
    assert merge_plain_versions([_stored(a), _stored(b2)]) is not None


# -- a whole compaction, with and without the plain merge ----------------------------------------

def _write_sstable(fs: FaultFS, d: Path, gen: int, muts: list[Mutation]) -> SSTableReader:
    w = SSTableWriter(fs, d, gen, expected_partitions=len(muts), bloom_fp_chance=0.01, block_size_bytes=64,
                      replay_position=(0, gen), created_at_s=1)
    for m in sorted(muts, key=lambda m: (m.token, m.key)):
        w.add(m)
    w.finish()
    return SSTableReader(fs, d, gen, BlockCache(1 << 20))


def _compact(fs: FaultFS, d: Path, inputs: list[SSTableReader]) -> dict[str, bytes]:
    fs.makedirs(d)
    run_compaction(fs, d, 9, inputs, now_s=100, gc_grace_s=10, max_purgeable=lambda t, k: MIN_TS,
                   bloom_fp_chance=0.01, block_size_bytes=64)
    return {c: fs.read_file(d / component_name(9, c)) for c in COMPONENTS}


@st.composite
def _tables(draw: st.DrawFn) -> list[list[Mutation]]:
    """2-4 sstables' partitions: for each key, its versions spread over the sstables."""
    n = draw(st.integers(2, 4))
    tables: list[list[Mutation]] = [[] for _ in range(n)]
    for key in (b"p", b"q", b"r", b"s"):
        vs = draw(_versions(key))
        where = draw(st.lists(st.integers(0, n - 1), min_size=len(vs), max_size=len(vs), unique=True)) \
            if len(vs) <= n else list(range(n))
        for v, i in zip(vs, where, strict=False):
            tables[i].append(v)
    return tables


@settings(max_examples=150, deadline=None)
@given(_tables(), st.sampled_from(["plain", "plain", "min_ts", "tombstone"]))
def test_compaction_writes_the_same_files_either_way(tables: list[list[Mutation]], variant: str) -> None:
    fs = FaultFS()
    src = Path("/db/in")
    fs.makedirs(src)
    if variant == "min_ts":  # data at -2**63: the slow path drops it, so the merge stays off
        tables[0].append(Mutation(5, b"t", rows={b"": Row(LivenessInfo(MIN_TS))}))
    elif variant == "tombstone":  # one input that is not plain
        tables[-1].append(Mutation(_TOKEN[b"p"], b"p", partition_deletion=DeletionTime(1, 50)))
    inputs = [_write_sstable(fs, src, g + 1, muts) for g, muts in enumerate(tables)]
    assert all(r.plain for r in inputs) == (variant != "tombstone")
    fast = _compact(fs, Path("/db/fast"), inputs)
    with mock.patch("storage.compaction.merge_plain_versions", return_value=None):
        slow = _compact(fs, Path("/db/slow"), inputs)
    assert fast == slow


def test_overwrite_takes_the_plain_merge() -> None:
    """The common overwrite (the same row rewritten in every sstable) never reaches the slow path."""
    fs = FaultFS()
    src = Path("/db/in")
    fs.makedirs(src)
    inputs = [_write_sstable(fs, src, g + 1, [
        Mutation(i, b"%d" % i, rows={b"": Row(LivenessInfo(g), cells={("v", b""): Cell(g, b"x%d" % g)})})
        for i in range(50)]) for g in range(4)]
    with mock.patch("storage.compaction.compact_partition", side_effect=AssertionError("slow path")):
        files = _compact(fs, Path("/db/out"), inputs)
    out = SSTableReader(fs, Path("/db/out"), 9, BlockCache(1 << 20))
    assert (out.stats["partitions"], out.stats["rows"], out.stats["cells"]) == (50, 50, 50)
    assert (out.stats["min_timestamp_us"], out.stats["max_timestamp_us"], out.plain) == (0, 3, True)
    assert files["Data.db"]
    assert [m.rows[b""].cells[("v", b"")].value for m in out.iter_range(None, 1 << 62)] == [b"x3"] * 50
