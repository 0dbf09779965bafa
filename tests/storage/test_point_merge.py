"""The point-read lane over several versions (`point_merge.point_row_versions`, and
`StorageEngine.read_row` using it) against the general path it stands in for: decode every
version, `merge_versions`, `materialize` a slice of the one row, take the wanted columns.

Versions are drawn with small timestamp, expiry and value sets so that ties (equal timestamps,
equal expiries, equal values) are common, with every kind of deletion, TTLs around now, row
markers or none, collections, statics, counters (which the lane hands back), and each version
either in codec form (as sstables and memtables written once hand it out) or a Mutation (a
memtable partition written more than once)."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import encode_mutation, mutation_from_obj, partition_obj, strict_packer
from storage.counter import encode_shards
from storage.errors import CorruptionError
from storage.memtable import Memtable
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.point_merge import point_row_versions
from storage.read import PointMiss, Slice, materialize, point_row
from storage.reconcile import merge_versions
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import TABLET, ck, mut, open_engine, row, run

NOW = 100
ts = st.integers(0, 4)  # few timestamps: ties between versions are common
when = st.sampled_from([98, 100, 103])  # expiries / deletion times before, at and after now
cks = st.sampled_from([b"", b"a", b"b"])  # few rows: versions often hold the same one
cols = st.sampled_from(["x", "y", "l"])
dts = st.builds(DeletionTime, ts, when)
values = st.one_of(st.none(), st.sampled_from([b"", b"a", b"b"]))


@st.composite
def cells(draw: st.DrawFn, counters: bool) -> dict[tuple[str, bytes], Cell]:
    """A row's cells; with `counters`, column "n" is a counter column (shard sets or tombstones)."""
    out = {}
    for k in draw(st.lists(st.tuples(st.sampled_from(["x", "y", "l", "n"] if counters else ["x", "y", "l"]),
                                     st.sampled_from([b"", b"\x01"])), unique=True, max_size=4)):
        t = draw(ts)
        if k[0] == "n":
            value = None if draw(st.booleans()) else encode_shards([(b"h" * 16, t, draw(st.integers(0, 3)))])
            out[k] = Cell(t, value, 0, draw(when), True)
        else:
            # (the codec writes what the cell holds: a tombstone's TTL and expiry are drawn like any other)
            out[k] = Cell(t, draw(values), draw(st.sampled_from([0, 0, 5])), draw(when))
    return out


def rows(counters: bool) -> st.SearchStrategy[Row]:
    return st.builds(
        Row,
        marker=st.one_of(st.none(), st.builds(LivenessInfo, ts, st.sampled_from([0, 0, 5]), when)),
        deletion=st.one_of(st.none(), st.none(), dts),
        cells=cells(counters),
        collection_deletions=st.dictionaries(cols, dts, max_size=2),
    )


def mutations(counters: bool) -> st.SearchStrategy[Mutation]:
    return st.builds(
        Mutation, token=st.just(7), key=st.just(b"k"),
        partition_deletion=st.one_of(st.none(), st.none(), dts), static_row=st.one_of(st.none(), rows(counters)),
        rows=st.dictionaries(cks, rows(counters), max_size=3),
        range_tombstones=st.lists(st.builds(RangeTombstone, cks, cks, dts), max_size=2),
    )


def _stored(m: Mutation, how: int) -> Any:
    """`m` as a read finds it: 0 a memtable's Mutation, 1 a memtable's bytes unpacked, 2 an
    sstable's partition (range tombstones sorted)."""
    if how == 0:
        return m
    if how == 1:
        return msgpack.unpackb(encode_mutation(m), raw=False, use_list=False)
    return msgpack.unpackb(strict_packer().pack(partition_obj(m, sort_range_tombstones=True)), raw=False,
                           use_list=False)


def _general(versions: list[Mutation], ck_: bytes, wanted: list[str]) -> list[bytes | None] | None:
    """The general path: merge, materialize a slice of row `ck_`, take the wanted columns (slot 0
    left for a key column, as the CQL layer's positions do)."""
    merged = merge_versions(7, b"k", versions)
    p = materialize(merged, Slice(ranges=((ck_, ck_ + b"\x00"),), columns=frozenset(wanted), now_s=NOW))
    if p is None or not p.rows:
        return None
    ((got_ck, r),) = p.rows
    assert got_ck == ck_
    return [None] + [c.value if (c := r.cells.get((name, b""))) is not None else None for name in wanted]


def _counter_collision(versions: list[Mutation], ck_: bytes) -> bool:
    """Whether some cell of row `ck_` is in several versions with a counter cell among them."""
    seen: dict[tuple[str, bytes], list[Cell]] = {}
    for v in versions:
        r = v.rows.get(ck_)
        if r is not None:
            for k, c in r.cells.items():
                seen.setdefault(k, []).append(c)
    return any(len(cs) > 1 and any(c.counter for c in cs) for cs in seen.values())


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(mutations(counters=True), st.integers(0, 2)), min_size=2, max_size=4), cks,
       st.lists(st.sampled_from(["x", "y"]), unique=True), st.randoms(use_true_random=False))
def test_point_row_versions_agrees_with_the_general_path(
        drawn: list[tuple[Mutation, int]], ck_: bytes, wanted: list[str], rnd: Any) -> None:
    versions = [m for m, _ in drawn]
    stored = [_stored(m, how) for m, how in drawn]
    positions = {c: i + 1 for i, c in enumerate(wanted)}
    got = point_row_versions(stored, ck_, positions, len(wanted) + 1, NOW)
    if got is PointMiss.UNSUPPORTED:
        assert _counter_collision(versions, ck_)  # the only reason to hand a read back
        return
    expected = _general(versions, ck_, wanted)
    assert got == expected
    # the same as the single-version lane over the merged partition, in any merge order
    rnd.shuffle(versions)
    assert point_row(merge_versions(7, b"k", versions), ck_, positions, len(wanted) + 1, NOW) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(mutations(counters=False), min_size=2, max_size=3), cks)
def test_point_row_versions_never_modifies_its_inputs(versions: list[Mutation], ck_: bytes) -> None:
    before = [mutation_from_obj(_stored(m, 1)) for m in versions]
    point_row_versions(versions, ck_, {"x": 0}, 1, NOW)
    assert versions == before


def test_the_newest_version_wins_and_ties_follow_reconcile() -> None:
    """Named cases of reconcile.py's rules, as the lane applies them across versions."""
    def v(*cs: tuple[str, Cell], marker: LivenessInfo | None = None, deletion: DeletionTime | None = None) -> Any:
        m = Mutation(7, b"k", rows={b"": Row(marker, deletion, dict(((c, b""), cell) for c, cell in cs))})
        return _stored(m, 2)

    def read(*vs: Any) -> Any:
        return point_row_versions(list(vs), b"", {"x": 0, "y": 1}, 2, NOW)

    # the overwrite: the newest version's cells win everywhere
    assert read(v(("x", Cell(1, b"a")), ("y", Cell(1, b"a"))), v(("x", Cell(2, b"b")), ("y", Cell(2, b"b")))) == \
        [b"b", b"b"]
    # equal timestamps: the larger value wins, whichever version holds it
    assert read(v(("x", Cell(3, b"b"))), v(("x", Cell(3, b"a")))) == [b"b", None]
    assert read(v(("x", Cell(3, b"a"))), v(("x", Cell(3, b"b")))) == [b"b", None]
    # equal timestamps: a tombstone beats a live cell (the row has nothing else: not live)
    assert read(v(("x", Cell(3, b"a"))), v(("x", Cell(3, None, 0, NOW)))) is None
    # equal timestamps: an expiring cell beats a non-expiring one (here expired: gone)
    assert read(v(("x", Cell(3, b"z"))), v(("x", Cell(3, b"a", 5, NOW - 1)), ("y", Cell(1, b"y")))) == [None, b"y"]
    # ... whatever the expiry fields say (a non-expiring cell's is normally 0)
    assert read(v(("x", Cell(3, b"z", 0, NOW + 3))), v(("x", Cell(3, b"a", 5, NOW - 1)))) is None
    # equal timestamps, both expiring: the larger expiry wins (the other one has expired)
    assert read(v(("x", Cell(3, b"a", 5, NOW + 3))), v(("x", Cell(3, b"b", 5, NOW - 1)))) == [b"a", None]
    assert read(v(("x", Cell(3, b"b", 5, NOW - 1))), v(("x", Cell(3, b"a", 5, NOW + 3)))) == [b"a", None]
    # a row deletion in one version shadows an older cell of another; a newer one survives
    assert read(v(("x", Cell(3, b"a")), ("y", Cell(5, b"b"))), v(deletion=DeletionTime(4, NOW))) == [None, b"b"]
    # collection deletions: the newest of any version shadows the column's older elements (the
    # rows have no marker: an element decides whether the row lives)
    def coll(t: int, *cs: tuple[bytes, Cell]) -> Any:
        return _stored(Mutation(7, b"k", rows={b"": Row(None, None, {("x", p): c for p, c in cs},
                                                       {"x": DeletionTime(t, NOW)})}), 2)

    assert read(coll(1, (b"\x01", Cell(3, b"a"))), coll(4)) is None
    assert read(coll(4), coll(1, (b"\x01", Cell(3, b"a")))) is None
    assert read(coll(2), coll(1, (b"\x01", Cell(3, b"a"))), coll(1)) == [None, None]  # the element lives
    # a live marker alone keeps the row; an older deletion does not touch it
    assert read(v(marker=LivenessInfo(5)), v(("x", Cell(2, None, 0, NOW)), deletion=DeletionTime(3, NOW))) == \
        [None, None]


def test_counters_in_several_versions_are_handed_back() -> None:
    a = Mutation(7, b"k", rows={b"": Row(None, None, {("x", b""): Cell(1, b"\x01", counter=True)})})
    b = Mutation(7, b"k", rows={b"": Row(None, None, {("x", b""): Cell(2, b"\x02", counter=True)})})
    assert point_row_versions([_stored(a, 2), _stored(b, 1)], b"", {"x": 0}, 1, NOW) is PointMiss.UNSUPPORTED
    c = Mutation(7, b"k", rows={b"": Row(None, None, {("y", b""): Cell(2, b"y")})})  # no collision: read
    assert point_row_versions([_stored(a, 2), _stored(c, 1)], b"", {"x": 0}, 1, NOW) == [b"\x01"]


def test_malformed_versions_are_reported_as_such() -> None:
    good = [7, b"k", None, None, [b"", [None, None, ["x", b"", 1, b"v", 0, 0, False], []]], []]
    assert point_row_versions([good, good], b"", {"x": 0}, 1, NOW) == [b"v"]
    for bad in ([7, b"k", None, None, [b"", [None, None, ["x", b"", 1, b"v", 0, 0], []]], []],  # 6 of 7
                [7, b"k", None, None, [b"", [None, None, ["x", b"", 2, b"v", 0, 0, False, "y"], []]], []],
                [7, b"k", None, None, [b"", [None, None]], []],  # a row of 2 fields
                [7, b"k", None, None, [b"", [None, None, [], []]], [b"", b"z", "ts", 1]],  # str timestamp
                [7, b"k", None]):
        assert point_row_versions([good, bad], b"", {"x": 0}, 1, NOW) is PointMiss.MALFORMED
        assert point_row_versions([bad, good], b"", {"x": 0}, 1, NOW) is PointMiss.MALFORMED


# -- the engine: read_row over memtable, flushing and sstable versions --------------------------------------------


def _lane_vs_read(eng: Any, token: int, key: bytes, ck_: bytes, wanted: list[str]) -> None:
    positions = {c: i for i, c in enumerate(wanted)}
    sl = Slice(ranges=((ck_, ck_ + b"\x00"),), columns=frozenset(wanted), now_s=NOW)
    got = eng.read_row(TABLET, token, key, ck_, positions, len(wanted), sl)
    p = eng.read(TABLET, token, key, sl)
    expected = None
    if p is not None and p.rows:
        ((_, r),) = p.rows
        expected = [c.value if (c := r.cells.get((name, b""))) is not None else None for name in wanted]
    assert isinstance(got, list) or got is None  # answered by the lane, not handed back
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(mutations(counters=False), st.sampled_from(["apply", "apply", "flush", "seal"])),
                min_size=1, max_size=8), cks, st.lists(st.sampled_from(["x", "y"]), unique=True))
def test_read_row_agrees_with_read_across_memtables_and_sstables(
        steps: list[tuple[Mutation, str]], ck_: bytes, wanted: list[str]) -> None:
    async def body() -> None:
        eng = await open_engine(FaultFS(), FakeClock(now_s=NOW))
        t = eng._tablet(TABLET)
        for m, then in steps:
            await eng.apply(TABLET, Mutation(m.token, m.key, m.partition_deletion, m.static_row, dict(m.rows),
                                             list(m.range_tombstones)))
            if then == "flush":
                await eng.flush()
            elif then == "seal" and len(t.memtable):
                # what a flush does before it writes (`flush_locked`): the memtable waits in
                # `flushing`, where reads find it (close() writes it)
                mt = t.memtable
                t.memtable = Memtable()
                mt.seal(eng.commitlog.position())
                t.flushing = [*t.flushing, mt]
        _lane_vs_read(eng, 7, b"k", ck_, wanted)
        await eng.close()
    run(body())


def test_a_malformed_sstable_version_is_quarantined_and_reported() -> None:
    """A lane read of a row whose sstable version does not parse takes the general path, which
    quarantines that sstable and raises CorruptionError (as `read` does). A read that the
    memtable's version settles does not open that sstable at all, so it serves without noticing."""
    from storage.sstable_writer import SSTableWriter

    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock())
        await eng.close()
        w = SSTableWriter(fs, eng.tablet_dir(TABLET), 50, expected_partitions=1, bloom_fp_chance=0.01,
                          block_size_bytes=4096, replay_position=(0, 0))
        w.stats.add_copied(1, 1, 1)
        w.stats.absorb(1, 1, 1, 1, True)  # (timestamps up to 1)
        w.add_packed(1, b"bad", msgpack.packb([1, b"bad", None, None, [ck(0), [None, None, ["a", b"", 1, b"v"], []]],
                                               []]))
        w.finish()
        eng = await open_engine(fs, FakeClock())
        await eng.apply(TABLET, mut(1, b"bad", {ck(0): row(5, a=b"x")}))  # a second version of that row
        sl = Slice(ranges=((ck(0), ck(0) + b"\x00"),), columns=frozenset(["a"]), now_s=NOW)
        # column a at 5 in the memtable: settled against the sstable's timestamps (up to 1)
        assert eng.read_row(TABLET, 1, b"bad", ck(0), {"a": 0}, 1, sl) == [b"x"]
        assert eng.counters["point_reads_stopped"] == 1 and eng.sstables_per_read[0] == 1
        assert eng.stats().quarantined_sstables == 0
        # column b has no cell in the memtable: the read goes on into the malformed version
        sl = Slice(ranges=((ck(0), ck(0) + b"\x00"),), columns=frozenset(["a", "b"]), now_s=NOW)
        with pytest.raises(CorruptionError) as ei:
            eng.read_row(TABLET, 1, b"bad", ck(0), {"a": 0, "b": 1}, 2, sl)
        assert str(ei.value.path).endswith("sp1-50-Data.db") and "malformed partition" in str(ei.value)
        assert eng.stats().quarantined_sstables == 1
        assert eng.read_row(TABLET, 1, b"bad", ck(0), {"a": 0, "b": 1}, 2, sl) == [b"x", None]  # the rest serves
        await eng.close()
    run(body())
