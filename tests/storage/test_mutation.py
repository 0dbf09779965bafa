"""The data model's value semantics: the classes are plain `__slots__` classes now (not
dataclasses), so equality, hashing, repr, defaults and pickling are checked here."""

from __future__ import annotations

import pickle

import pytest

from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.read import PartitionData, Slice


def test_values_compare_and_hash_by_fields() -> None:
    assert Cell(1, b"v") == Cell(1, b"v", 0, 0, False)
    assert Cell(1, b"v") != Cell(1, b"v", counter=True)
    assert hash(Cell(1, None, 0, 5)) == hash(Cell(1, None, 0, 5))
    assert LivenessInfo(3) == LivenessInfo(3, 0, 0) != LivenessInfo(3, 1, 4)
    dt = DeletionTime(7, 100)
    assert {RangeTombstone(b"a", b"b", dt), RangeTombstone(b"a", b"b", DeletionTime(7, 100))} == \
        {RangeTombstone(b"a", b"b", dt)}
    # same fields, different classes: never equal (as with dataclasses)
    assert LivenessInfo(1, 2, 3) != Cell(1, 2, 3)  # type: ignore[arg-type]
    assert DeletionTime(1, 2) != (1, 2)
    assert Slice() == Slice(None, False, None, None, 0)
    assert hash(Slice(now_s=5)) == hash(Slice(now_s=5))


def test_containers_compare_by_fields_and_are_unhashable() -> None:
    a = Mutation(1, b"k", rows={b"c": Row(LivenessInfo(1), cells={("x", b""): Cell(1, b"v")})})
    b = Mutation(1, b"k")
    b.rows[b"c"] = Row(marker=LivenessInfo(1))
    assert a != b
    b.rows[b"c"].cells[("x", b"")] = Cell(1, b"v")
    assert a == b
    for obj in (a, a.rows[b"c"], PartitionData(1, b"k", None, [])):
        with pytest.raises(TypeError):
            hash(obj)


def test_defaults_are_fresh_containers() -> None:
    a, b = Row(), Row()
    a.cells[("x", b"")] = Cell(1, b"v")
    assert b.cells == {} and b.collection_deletions == {}
    m, n = Mutation(1, b"k"), Mutation(1, b"k")
    m.range_tombstones.append(RangeTombstone(b"a", b"b", DeletionTime(1, 1)))
    assert n.range_tombstones == [] and n.rows == {}


def test_repr_and_pickle() -> None:
    m = Mutation(5, b"k", DeletionTime(1, 2), Row(), {b"c": Row(LivenessInfo(3), None, {("x", b"p"): Cell(3, b"v")})},
                 [RangeTombstone(b"a", b"b", DeletionTime(4, 5))])
    assert repr(Cell(1, b"v")) == "Cell(timestamp_us=1, value=b'v', ttl_s=0, expiry_s=0, counter=False)"
    assert "RangeTombstone(start=b'a', end=b'b', deletion=DeletionTime(timestamp_us=4" in repr(m)
    assert pickle.loads(pickle.dumps(m)) == m
    sl = Slice(((b"a", b"b"),), True, frozenset({"x"}), 3, 9)
    assert pickle.loads(pickle.dumps(sl)) == sl
    assert eval(repr(sl)) == sl
    with pytest.raises(AttributeError):
        Cell(1, b"v").other = 1  # type: ignore[attr-defined]
