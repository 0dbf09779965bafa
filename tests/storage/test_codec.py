"""Codec round-trips (Hypothesis); the memtable's encoded partitions, its ordering under
concurrent inserts, and flushing encoded partitions as is."""

from __future__ import annotations

from pathlib import Path

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import (
    decode_mutation,
    encode_mutation,
    encode_mutation_summarized,
    mutation_to_obj,
    strict_packer,
)
from storage.memtable import Memtable
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.sstable_stats import StatsCollector
from storage.sstable_writer import SSTableWriter, write_memtable
from tests.storage.fakes import FaultFS

ints = st.integers(-(2**63), 2**63 - 1)
small = st.integers(0, 2**31)
dts = st.builds(DeletionTime, ints, small)
cells = st.builds(Cell, ints, st.one_of(st.none(), st.binary(max_size=8)), small, small, st.booleans())
rows = st.builds(
    Row,
    marker=st.one_of(st.none(), st.builds(LivenessInfo, ints, small, small)),
    deletion=st.one_of(st.none(), dts),
    cells=st.dictionaries(st.tuples(st.text(max_size=3), st.binary(max_size=3)), cells, max_size=3),
    collection_deletions=st.dictionaries(st.text(max_size=3), dts, max_size=2),
)
mutations = st.builds(
    Mutation,
    token=ints,
    key=st.binary(max_size=8),
    partition_deletion=st.one_of(st.none(), dts),
    static_row=st.one_of(st.none(), rows),
    rows=st.dictionaries(st.binary(max_size=4), rows, max_size=3),
    range_tombstones=st.lists(st.builds(RangeTombstone, st.binary(max_size=3), st.binary(max_size=3), dts),
                              max_size=2),
)


# what most writes are: one row of live cells without TTL (the statistics' shortcut)
plain_rows = st.builds(
    Row,
    marker=st.one_of(st.none(), st.builds(LivenessInfo, ints)),
    cells=st.dictionaries(st.tuples(st.text(max_size=3), st.binary(max_size=3)),
                          st.builds(Cell, ints, st.binary(max_size=8)), max_size=3),
)
plain_mutations = st.builds(Mutation, token=ints, key=st.binary(max_size=8),
                            rows=st.dictionaries(st.binary(max_size=4), plain_rows, min_size=1, max_size=1))
some_mutations = st.one_of(mutations, plain_mutations)


@given(mutations)
def test_mutation_round_trip(m: Mutation) -> None:
    assert decode_mutation(encode_mutation(m)) == m


def test_memtable_scan_sees_inserts_made_while_suspended() -> None:
    mt = Memtable()
    for t in (10, 30, 50):
        mt.apply(Mutation(t, b"k"), 1)
    it = mt.iter_range(None, 100)
    assert next(it)[0] == 10
    m20 = Mutation(20, b"k", rows={b"c": Row(LivenessInfo(1))})
    mt.apply(m20, 1, encode_mutation(m20))  # behind the cursor's next key: seen (in codec form)
    mt.apply(Mutation(5, b"k"), 1)  # before the cursor: not repeated
    rest = list(it)
    assert [t for t, _, _ in rest] == [20, 30, 50]
    assert rest[0][2] == msgpack.unpackb(encode_mutation(m20), raw=False, use_list=False)
    assert rest[1][2] is mt.partitions[(30, b"k")]


@given(mutations)
def test_encode_mutation_is_the_packed_codec_object(m: Mutation) -> None:
    # the write path builds tuples instead of lists, rows in clustering order: the bytes must
    # not differ from the codec object's
    assert encode_mutation(m) == msgpack.packb(mutation_to_obj(m, rows_sorted=True), use_bin_type=True)


@given(some_mutations)
def test_statistics_shortcut_for_plain_partitions_agrees_with_the_general_path(m: Mutation) -> None:
    a, b = StatsCollector(), StatsCollector()
    a.add(m)
    general = Mutation(m.token, m.key, m.partition_deletion, m.static_row or Row(), m.rows, m.range_tombstones)
    b.add(general)  # an (empty) static row: never the shortcut
    assert _statistics(a) == _statistics(b)


def _no_counters(r: Row | None) -> Row | None:
    if r is None:
        return None
    cells = {k: Cell(c.timestamp_us, c.value, c.ttl_s, c.expiry_s) for k, c in r.cells.items()}
    return Row(r.marker, r.deletion, cells, r.collection_deletions)


def _statistics(c: StatsCollector) -> dict[str, object]:
    return c.to_statistics(replay_position=(0, 0), ancestors=[], data_bytes_uncompressed=0, data_bytes=0,
                           created_at_s=0)


@given(some_mutations)
def test_summarized_encoding_is_the_encoding(m: Mutation) -> None:
    payload, summary = encode_mutation_summarized(m)
    assert payload == encode_mutation(m)
    row = next(iter(m.rows.values()), None)
    plain = len(m.rows) == 1 and m.partition_deletion is None and m.static_row is None \
        and not m.range_tombstones and row is not None and row.deletion is None \
        and not row.collection_deletions and (row.marker is None or not row.marker.ttl_s) \
        and all(c.value is not None and not c.ttl_s for c in row.cells.values())
    assert (summary is not None) == plain
    if summary is not None and row is not None:
        tss = [c.timestamp_us for c in row.cells.values()] + ([row.marker.timestamp_us] if row.marker else [])
        assert summary == ((min(tss), max(tss)) if tss else (2**63 - 1, -(2**63))) + (len(row.cells),)


@given(st.lists(plain_mutations, min_size=1, max_size=6))
def test_memtable_statistics_of_summarized_writes(ms: list[Mutation]) -> None:
    mt = Memtable()
    expected = StatsCollector()
    for i, m in enumerate(ms):
        m = Mutation(i, m.key, rows=m.rows)
        payload, summary = encode_mutation_summarized(m)
        assert summary is not None
        mt.apply(m, 1, payload, summary)
        expected.add(m)
    mt.seal((0, 0))
    got = mt.statistics()
    got.min_token, got.max_token = 0, len(ms) - 1  # (a flush takes token bounds from the keys)
    assert _statistics(got) == _statistics(expected)


@settings(max_examples=150)
@given(st.lists(st.tuples(some_mutations, st.booleans()), max_size=12), st.integers(1, 4))
def test_flushing_a_memtable_writes_what_adding_its_partitions_writes(
        writes: list[tuple[Mutation, bool]], keys: int) -> None:
    # repeated keys: versions merged in the memtable (without counters: random bytes do not merge)
    ms = [Mutation(m.token % 3, b"k%d" % (i % keys), m.partition_deletion, _no_counters(m.static_row),
                   {ck: _no_counters(r) for ck, r in m.rows.items()}, m.range_tombstones)
          for i, (m, _) in enumerate(writes)]
    mt = Memtable()
    for m, (_, summarized) in zip(ms, writes, strict=True):
        payload, summary = encode_mutation_summarized(m)  # as the engine writes (replay: no summary)
        mt.apply(decode_mutation(payload), 1, payload, summary if summarized else None)
    mt.seal((1, 2))
    fs = FaultFS()
    fs.makedirs(Path("/d"))
    writers = [SSTableWriter(fs, Path("/d"), gen, expected_partitions=len(mt), bloom_fp_chance=0.01,
                             block_size_bytes=64, replay_position=(1, 2)) for gen in (1, 2)]
    write_memtable(writers[0], mt)
    for tokens, keys_, _ in mt.sorted_chunks():
        for token, key in zip(tokens, keys_, strict=True):
            got = mt.get(token, key)
            assert got is not None
            writers[1].add(got)
    for w in writers:
        w.finish()
    for component in ("Data.db", "Index.db", "Summary.db", "Filter.db"):
        assert fs.read_file(Path(f"/d/sp1-1-{component}")) == fs.read_file(Path(f"/d/sp1-2-{component}"))
    a, b = _statistics(writers[0].stats), _statistics(writers[1].stats)
    if len({(m.token, m.key) for m in ms}) == len(ms):
        assert a == b  # every partition written once: the memtable's statistics are exact
    # merged partitions: counts exact; bounds and flags may only be more conservative
    for k in ("partitions", "rows", "cells", "tombstones", "tombstone_drop_times", "min_token", "max_token"):
        assert a[k] == b[k], k
    assert a["min_timestamp_us"] <= b["min_timestamp_us"] and a["max_timestamp_us"] >= b["max_timestamp_us"]  # type: ignore[operator]
    assert a["max_local_deletion_time_s"] >= b["max_local_deletion_time_s"]  # type: ignore[operator]
    assert b["plain"] or not a["plain"]
    assert a["non_expiring_data"] or not b["non_expiring_data"]


def test_memtable_keeps_a_partition_written_once_encoded() -> None:
    mt = Memtable()
    m1 = Mutation(1, b"k", rows={b"b": Row(LivenessInfo(1)), b"a": Row(cells={("x", b""): Cell(1, b"v")})})
    expected = decode_mutation(encode_mutation(m1))
    mt.apply(m1, 10, encode_mutation(m1))
    assert mt.partitions[(1, b"k")] == encode_mutation(expected)  # rows in clustering order
    assert mt.get(1, b"k") == expected
    m2 = Mutation(1, b"k", rows={b"a": Row(cells={("x", b""): Cell(2, b"w")})})
    mt.apply(m2, 10, encode_mutation(m2))  # a second write: decoded and merged into
    got = mt.get(1, b"k")
    assert isinstance(mt.partitions[(1, b"k")], Mutation) and got is not None
    assert got.rows[b"a"].cells[("x", b"")] == Cell(2, b"w") and got.rows[b"b"].marker == LivenessInfo(1)
    dt = DeletionTime(3, 3)
    m3 = Mutation(2, b"k", range_tombstones=[RangeTombstone(b"c", b"d", dt), RangeTombstone(b"a", b"b", dt)])
    mt.apply(m3, 10, encode_mutation(m3))  # an sstable would store these sorted: kept decoded
    assert mt.partitions[(2, b"k")] is m3
    mt.apply(Mutation(3, b"k"), 10)  # no payload: kept as is
    assert [(t, k) for ts, ks, _ in mt.sorted_chunks(2) for t, k in zip(ts, ks)] == \
        [(1, b"k"), (2, b"k"), (3, b"k")]


@given(st.lists(st.tuples(st.integers(-3, 3), st.binary(max_size=2)), max_size=40), st.integers(1, 5))
def test_sorted_chunks_lists_every_partition_in_token_then_key_order(pks: list[tuple[int, bytes]],
                                                                     size: int) -> None:
    # few tokens: most examples have partitions sharing a token (ordered by key then)
    mt = Memtable()
    for i, (token, key) in enumerate(pks):
        mt.partitions[(token, key)] = b"v%d" % i  # the stored form, as a plain write keeps it
    mt.seal((1, 1))
    chunks = list(mt.sorted_chunks(size))
    assert all(0 < len(ts) <= size and len(ts) == len(ks) == len(vs) for ts, ks, vs in chunks)
    got = [((t, k), v) for ts, ks, vs in chunks for t, k, v in zip(ts, ks, vs, strict=True)]
    assert got == sorted(mt.partitions.items())


def test_strict_packer_writes_what_a_plain_packer_writes() -> None:
    import enum

    class Name(str):
        pass

    class Big(enum.IntEnum):
        X = 1 << 40

    class Blob(bytes):
        pass

    m = Mutation(Big.X, Blob(b"k"), rows={b"c": Row(LivenessInfo(Big.X), cells={(Name("v"), b""): Cell(1, Blob(b"x"))})})
    assert encode_mutation(m) == msgpack.packb(mutation_to_obj(m, rows_sorted=True), use_bin_type=True)
    odd = [(1, "a"), {"k": (2.5, Name("n"))}, bytearray(b"ba"), memoryview(b"mv"), [True, None]]
    assert strict_packer().pack(odd) == msgpack.packb(odd, use_bin_type=True)
