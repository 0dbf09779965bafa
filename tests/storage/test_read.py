"""Materialization: the codec-form fast path (`materialize_encoded`, used by point reads served by
one sstable) must agree with `materialize` over the decoded partition on every input; so must the
point-read lane (`point_row_encoded`, `point_row`) for the one row it reads."""

from __future__ import annotations

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import encode_mutation, mutation_to_obj
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.read import PointMiss, Slice, materialize, materialize_encoded, point_row, point_row_encoded

ts = st.integers(0, 20)
when = st.integers(95, 105)  # around now_s = 100: some TTLs expired, some not
cks = st.sampled_from([b"", b"a", b"b", b"bb", b"c"])
cols = st.sampled_from(["x", "y", "l"])
dts = st.builds(DeletionTime, ts, when)
cells = st.builds(Cell, ts, st.one_of(st.none(), st.binary(max_size=3)), st.sampled_from([0, 0, 5]), when,
                  st.booleans())
rows = st.builds(
    Row,
    marker=st.one_of(st.none(), st.builds(LivenessInfo, ts, st.sampled_from([0, 0, 5]), when)),
    deletion=st.one_of(st.none(), dts),
    cells=st.dictionaries(st.tuples(cols, st.sampled_from([b"", b"\x01"])), cells, max_size=4),
    collection_deletions=st.dictionaries(cols, dts, max_size=2),
)
mutations = st.builds(
    Mutation, token=st.just(7), key=st.just(b"k"),
    partition_deletion=st.one_of(st.none(), dts), static_row=st.one_of(st.none(), rows),
    rows=st.dictionaries(cks, rows, max_size=4),
    range_tombstones=st.lists(st.builds(RangeTombstone, cks, cks, dts), max_size=2),
)


@st.composite
def slices(draw: st.DrawFn) -> Slice:
    bounds = sorted(set(draw(st.lists(cks, max_size=4))))
    ranges = tuple(zip(bounds[0::2], bounds[1::2], strict=False)) if draw(st.booleans()) else None
    return Slice(ranges=ranges, reverse=draw(st.booleans()),
                 columns=draw(st.one_of(st.none(), st.frozensets(cols))),
                 row_limit=draw(st.one_of(st.none(), st.integers(0, 3))), now_s=100)


@settings(max_examples=400)
@given(mutations, slices())
def test_materialize_encoded_agrees_with_materialize(m: Mutation, sl: Slice) -> None:
    obj = tuple(mutation_to_obj(m, rows_sorted=True))  # rows ascending, as an sstable stores them
    assert materialize_encoded(obj, sl) == materialize(m, sl)


@settings(max_examples=400)
@given(mutations, cks, st.lists(st.sampled_from(["x", "y"]), unique=True))
def test_point_row_agrees_with_materialize(m: Mutation, ck: bytes, wanted: list[str]) -> None:
    """The point-read lane reads row `ck` as `materialize` of a slice holding just `ck` does: the
    same existence (marker or any live cell) and the same live values of the wanted columns."""
    positions = {c: i + 1 for i, c in enumerate(wanted)}  # slot 0 left alone (a key column's)
    p = materialize(m, Slice(ranges=((ck, ck + b"\x00"),), columns=frozenset(wanted), now_s=100))
    expected: list[bytes | None] | None = None
    if p is not None and p.rows:
        ((got_ck, row),) = p.rows
        assert got_ck == ck
        expected = [None] + [c.value if (c := row.cells.get((name, b""))) is not None else None for name in wanted]
    obj = msgpack.unpackb(encode_mutation(m), raw=False, use_list=False)  # as memtables and sstables hand it
    assert point_row_encoded(obj, ck, positions, len(wanted) + 1, 100) == expected
    assert point_row(m, ck, positions, len(wanted) + 1, 100) == expected


def test_point_row_encoded_reports_malformed_partitions_as_such() -> None:
    good = [7, b"k", None, None, [b"", [None, None, ["x", b"", 1, b"v", 0, 0, False], []]], []]
    assert point_row_encoded(good, b"", {"x": 0}, 1, 100) == [b"v"]
    for bad in ([7, b"k", None, None, [b"", [None, None, ["x", b"", 1, b"v", 0, 0], []]], []],  # 6 of 7
                [7, b"k", None, None, [b"", [None, None]], []],  # a row of 2 fields
                [7, b"k", None, None, [b"", [None, None, [], []]], [b"", b"z", "ts", 1]],  # str timestamp
                [7, b"k", None]):
        assert point_row_encoded(bad, b"", {"x": 0}, 1, 100) is PointMiss.MALFORMED
