"""Codec round-trips (Hypothesis) and the memtable's ordering under concurrent inserts."""

from __future__ import annotations

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from storage.codec import decode_mutation, encode_mutation, mutation_to_obj
from storage.memtable import Memtable
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row

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
    # the write path builds tuples instead of lists: the bytes must not differ
    assert encode_mutation(m) == msgpack.packb(mutation_to_obj(m), use_bin_type=True)
