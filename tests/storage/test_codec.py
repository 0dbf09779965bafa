"""Codec round-trips (Hypothesis); the memtable's encoded partitions, its ordering under
concurrent inserts, and flushing encoded partitions as is."""

from __future__ import annotations

from pathlib import Path

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import decode_mutation, encode_mutation, mutation_to_obj
from storage.memtable import Memtable
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.sstable_stats import StatsCollector
from storage.sstable_writer import SSTableWriter
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


@given(mutations)
def test_mutation_round_trip(m: Mutation) -> None:
    assert decode_mutation(encode_mutation(m)) == m


def test_memtable_scan_sees_inserts_made_while_suspended() -> None:
    mt = Memtable()
    for t in (10, 30, 50):
        mt.apply(Mutation(t, b"k"), 1)
    it = mt.iter_range(None, 100)
    assert next(it).token == 10
    mt.apply(Mutation(20, b"k"), 1)  # behind the cursor's next key: seen
    mt.apply(Mutation(5, b"k"), 1)  # before the cursor: not repeated
    assert [m.token for m in it] == [20, 30, 50]


@given(mutations)
def test_encode_mutation_is_the_packed_codec_object(m: Mutation) -> None:
    # the write path builds tuples instead of lists, rows in clustering order: the bytes must
    # not differ from the codec object's
    assert encode_mutation(m) == msgpack.packb(mutation_to_obj(m, rows_sorted=True), use_bin_type=True)


@given(mutations)
def test_stats_of_the_codec_form_equal_stats_of_the_mutation(m: Mutation) -> None:
    a, b = StatsCollector(), StatsCollector()
    a.add(m)
    b.add_obj(msgpack.unpackb(encode_mutation(m), raw=False, use_list=False))
    args = {"replay_position": (0, 0), "ancestors": [], "data_bytes_uncompressed": 0, "data_bytes": 0,
            "created_at_s": 0}
    assert a.to_statistics(**args) == b.to_statistics(**args)


@settings(max_examples=40)
@given(st.lists(mutations, max_size=12))
def test_flushing_encoded_partitions_writes_what_flushing_mutations_writes(ms: list[Mutation]) -> None:
    by_key = {(m.token, m.key): m for m in ms}
    fs = FaultFS()
    fs.makedirs(Path("/d"))
    for gen, encoded in ((1, False), (2, True)):
        w = SSTableWriter(fs, Path("/d"), gen, expected_partitions=len(by_key), bloom_fp_chance=0.01,
                          block_size_bytes=64, replay_position=(1, 2))
        for (token, key), m in sorted(by_key.items()):
            if encoded and len(m.range_tombstones) < 2:
                w.add_encoded(token, key, encode_mutation(m))
            else:
                w.add(m)
        w.finish()
    for component in ("Data.db", "Index.db", "Summary.db", "Filter.db", "Statistics.db"):
        assert fs.read_file(Path(f"/d/sp1-1-{component}")) == fs.read_file(Path(f"/d/sp1-2-{component}"))


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
    assert [pk for pk, _ in mt.sorted_versions()] == [(1, b"k"), (2, b"k"), (3, b"k")]
