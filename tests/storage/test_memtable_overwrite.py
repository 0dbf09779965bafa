"""Overwrites of a partition the memtable keeps encoded (`Memtable.apply_encoded` merging plain
versions in codec form) against the Mutation path they stand in for (`apply(decode_mutation(...))`,
`merge_mutation_into`): the same partitions, the same flushed sstable, exact counts and bounds at
least as wide (sstable_stats.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import PlainRowEncoder, decode_mutation, encode_mutation_summarized, encode_plain_row
from storage.memtable import Memtable
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.sstable_stats import StatsCollector
from storage.sstable_writer import SSTableWriter, write_memtable
from tests.storage.fakes import FaultFS

_COLUMNS = ["a", "b", "c"]
_KEYS = [(-5, b"p"), (-5, b"q"), (9, b"r")]  # two share a token


@st.composite
def _plain_write(draw: st.DrawFn) -> tuple[int, bytes, bytes, bytes, Any]:
    """One CQL row write as the write lane encodes it: (token, key, clustering, payload, summary).
    A column left out stands for an UNSET value; None for a null (a cell tombstone); timestamps
    and values from small sets (ties, overwrites going backwards)."""
    token, key = draw(st.sampled_from(_KEYS))
    ck = draw(st.sampled_from([b"", b"", b"x"]))  # mostly one row per partition
    cols = draw(st.sampled_from([_COLUMNS, _COLUMNS, ["a"], ["c", "a"], ["b", "c"]]))
    vals = draw(st.lists(st.one_of(st.sampled_from([b"1", b"2"]), st.just(None)) if draw(st.booleans())
                         else st.sampled_from([b"1", b"2", b""]), min_size=len(cols), max_size=len(cols)))
    ts = draw(st.integers(-2, 3) | st.just(-(1 << 63)))
    ttl = draw(st.sampled_from([0, 0, 0, 100]))
    marker = draw(st.booleans()) or not cols
    now_s = 1000
    expiry = now_s + ttl if ttl else 0
    if draw(st.booleans()) and cols:
        payload, summary = PlainRowEncoder(cols).encode(token, key, ck, marker, vals, ts, ttl, expiry, now_s)
    else:
        payload, summary = encode_plain_row(token, key, ck, marker, cols, vals, ts, ttl, expiry, now_s)
    return token, key, ck, payload, summary


@st.composite
def _other_write(draw: st.DrawFn) -> tuple[int, bytes, bytes, bytes, Any]:
    """A write the lane does not summarize: deletions of every kind, a static row, two rows."""
    token, key = draw(st.sampled_from(_KEYS))
    ts = draw(st.integers(-2, 3))
    dt = DeletionTime(ts, 1000)
    m = Mutation(token, key)
    kind = draw(st.sampled_from(["partition", "row", "range", "static", "two rows", "collection"]))
    if kind == "partition":
        m.partition_deletion = dt
    elif kind == "row":
        m.rows[b""] = Row(deletion=dt)
    elif kind == "range":
        m.range_tombstones = [RangeTombstone(b"", b"\xff", dt)]
    elif kind == "static":
        m.static_row = Row(cells={("s", b""): Cell(ts, b"s")})
    elif kind == "two rows":
        m.rows[b""] = Row(LivenessInfo(ts), cells={("a", b""): Cell(ts, b"3")})
        m.rows[b"x"] = Row(cells={("b", b""): Cell(ts, b"3")})
    else:
        m.rows[b""] = Row(cells={("a", b""): Cell(ts, b"3")}, collection_deletions={"m": dt})
    payload, summary = encode_mutation_summarized(m)
    return token, key, b"", payload, summary


_writes = st.lists(st.one_of(_plain_write(), _plain_write(), _plain_write(), _other_write()), max_size=14)


def _stats(c: StatsCollector) -> dict[str, Any]:
    return c.to_statistics(replay_position=(0, 0), ancestors=[], data_bytes_uncompressed=0, data_bytes=0,
                           created_at_s=0)


def _flush(mt: Memtable, fs: FaultFS, gen: int) -> StatsCollector:
    w = SSTableWriter(fs, Path("/d"), gen, expected_partitions=len(mt), bloom_fp_chance=0.01, block_size_bytes=64,
                      replay_position=(1, 2))
    write_memtable(w, mt)
    w.finish()
    return w.stats


def _check(writes: list[tuple[int, bytes, bytes, bytes, Any]]) -> Memtable:
    """Feed `writes` to a memtable through `apply_encoded` and to one through the Mutation path;
    assert they hold and flush the same; return the first."""
    got = Memtable()
    ref = Memtable()
    for i, (token, key, _, payload, summary) in enumerate(writes):
        got.apply_encoded(token, key, payload, summary, 10 + i)
        ref.apply(decode_mutation(payload), 10 + i)
    assert got.size_bytes == ref.size_bytes and got.writes == ref.writes
    assert got.partitions.keys() == ref.partitions.keys()
    for token, key in ref.partitions:
        assert got.get(token, key) == ref.get(token, key)
    got.seal((1, 2))
    ref.seal((1, 2))
    fs = FaultFS()
    fs.makedirs(Path("/d"))
    a = _stats(_flush(got, fs, 1))
    b = _stats(_flush(ref, fs, 2))  # every partition counted from its data: exact
    for component in ("Data.db", "Index.db", "Summary.db", "Filter.db"):
        assert fs.read_file(Path(f"/d/sp1-1-{component}")) == fs.read_file(Path(f"/d/sp1-2-{component}")), component
    for k in ("partitions", "rows", "cells", "tombstones", "tombstone_drop_times", "min_token", "max_token"):
        assert a[k] == b[k], k
    assert a["min_timestamp_us"] <= b["min_timestamp_us"] and a["max_timestamp_us"] >= b["max_timestamp_us"]
    assert a["max_local_deletion_time_s"] >= b["max_local_deletion_time_s"]
    assert b["plain"] or not a["plain"]
    assert a["non_expiring_data"] or not b["non_expiring_data"]
    return got


@settings(max_examples=400, deadline=None)
@given(_writes)
def test_apply_encoded_keeps_what_the_mutation_path_keeps(writes: list[tuple[int, bytes, bytes, bytes, Any]]) -> None:
    _check(writes)


def _write(ts: int, vals: list[bytes | None], cols: list[str] = _COLUMNS, ck: bytes = b"", ttl: int = 0,
           key: bytes = b"p") -> tuple[int, bytes, bytes, bytes, Any]:
    payload, summary = encode_plain_row(-5, key, ck, True, cols, vals, ts, ttl, 1000 + ttl if ttl else 0, 1000)
    return -5, key, ck, payload, summary


def test_an_upsert_that_wins_every_cell_keeps_its_payload() -> None:
    w = [_write(1, [b"1", b"1", b"1"]), _write(2, [b"2", b"2", b"2"]), _write(3, [b"3", b"3", b"3"])]
    mt = _check(w)
    assert mt.partitions[(-5, b"p")] == w[2][3]


def test_an_older_or_tied_overwrite_keeps_the_stored_bytes_or_merges_them() -> None:
    w = [_write(5, [b"1", b"1", b"1"]), _write(4, [b"9", b"9", b"9"])]  # going backwards: loses
    assert _check(w).partitions[(-5, b"p")] == w[0][3]
    w = [_write(5, [b"1", b"2", b"1"]), _write(5, [b"2", b"1", b"1"])]  # a tie: the larger value per cell
    mt = _check(w)
    v = mt.partitions[(-5, b"p")]
    assert isinstance(v, bytes) and v not in (w[0][3], w[1][3])
    got = mt.get(-5, b"p")
    assert got is not None and [c.value for c in got.rows[b""].cells.values()] == [b"2", b"2", b"1"]


def test_a_partial_overwrite_keeps_the_cells_it_did_not_write() -> None:
    w = [_write(1, [b"1", b"1", b"1"]), _write(2, [b"2"], cols=["b"]), _write(3, [b"3", b"3"], cols=["d", "a"])]
    mt = _check(w)
    got = mt.get(-5, b"p")
    assert isinstance(mt.partitions[(-5, b"p")], bytes) and got is not None
    assert {c: cell.value for (c, _), cell in got.rows[b""].cells.items()} == \
        {"a": b"3", "b": b"2", "c": b"1", "d": b"3"}


def test_what_is_not_plain_takes_the_mutation_path() -> None:
    for second in (_write(2, [b"2", None, b"2"]),  # a null
                   _write(2, [b"2", b"2", b"2"], ttl=100),  # a TTL
                   _write(2, [b"2", b"2", b"2"], ck=b"x")):  # another row
        mt = _check([_write(1, [b"1", b"1", b"1"]), second])
        assert isinstance(mt.partitions[(-5, b"p")], Mutation)
    # a partition stored without a summary (a TTL write) stays off the codec merge
    mt = _check([_write(1, [b"1", b"1", b"1"], ttl=100), _write(2, [b"2", b"2", b"2"])])
    assert isinstance(mt.partitions[(-5, b"p")], Mutation)
