"""Point reads in timestamp order (`StorageEngine.read_row` stopping early, `point_row_settled`)
against the general read of every version (docs/storage/engine.md, "Point reads in timestamp
order").

The versions are spread over the memtable, a flushing memtable and several sstables whose
timestamp ranges overlap: each write's timestamps are drawn around a base that mostly grows
from write to write (so later sstables usually settle rows and the read stops early) and
sometimes goes back (older data in newer sstables), with few distinct values so that ties are
common. Every kind of deletion, TTLs around the read times, markers or none, collections and
statics. `read_row` must answer as `read` does, which looks at every version, at several read
times. The named cases pin the rule's edges; the counters show that reads do stop early."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from storage.counter import encode_shards
from storage.engine import StorageEngine
from storage.memtable import Memtable
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.read import Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import TABLET, ck, open_engine, run

NOW = 100
READ_TIMES = (97, 100, 104)  # before, at and after the expiries drawn below
TOKEN = 7
KEY = b"k"
cks = st.sampled_from([b"", b"a", b"b"])
when = st.sampled_from([98, 100, 103])  # expiries and deletion times
values = st.one_of(st.none(), st.sampled_from([b"", b"a", b"b"]))


@st.composite
def _mutation(draw: st.DrawFn, base: int) -> Mutation:
    """One write, every timestamp in [base, base + 3] (the next write's range overlaps it)."""
    ts = st.integers(base, base + 3)
    dts = st.builds(DeletionTime, ts, when)

    def cells() -> st.SearchStrategy[dict[tuple[str, bytes], Cell]]:
        return st.dictionaries(
            st.tuples(st.sampled_from(["x", "y", "l"]), st.sampled_from([b"", b"\x01"])),
            st.builds(Cell, ts, values, st.sampled_from([0, 0, 5]), when), max_size=4)

    row = st.builds(Row, marker=st.one_of(st.none(), st.builds(LivenessInfo, ts, st.sampled_from([0, 0, 5]), when)),
                    deletion=st.one_of(st.none(), st.none(), st.none(), dts), cells=cells(),
                    collection_deletions=st.dictionaries(st.sampled_from(["l", "x"]), dts, max_size=1))
    return draw(st.builds(
        Mutation, token=st.just(TOKEN), key=st.just(KEY),
        partition_deletion=st.one_of(st.none(), st.none(), st.none(), st.none(), dts),
        static_row=st.one_of(st.none(), st.none(), row), rows=st.dictionaries(cks, row, max_size=2),
        range_tombstones=st.lists(st.builds(RangeTombstone, cks, cks, dts), max_size=1)))


@st.composite
def _history(draw: st.DrawFn) -> list[tuple[Mutation, str]]:
    """Writes, each followed by nothing, a flush, or sealing the memtable into `flushing`."""
    out = []
    for i in range(draw(st.integers(1, 9))):
        # mostly newer than everything before; one write in five at an older base
        base = 4 * i if draw(st.integers(0, 4)) else draw(st.integers(0, 4 * i))
        out.append((draw(_mutation(base)), draw(st.sampled_from(["apply", "flush", "flush", "seal"]))))
    return out


async def _build(steps: list[tuple[Mutation, str]]) -> StorageEngine:
    eng = await open_engine(FaultFS(), FakeClock(now_s=NOW))
    t = eng._tablet(TABLET)
    for m, then in steps:
        await eng.apply(TABLET, m)
        if then == "flush":
            await eng.flush()
        elif then == "seal" and len(t.memtable):
            # what a flush does before it writes (`flush_locked`): the memtable waits in
            # `flushing`, where reads find it (close() writes it)
            mt = t.memtable
            t.memtable = Memtable()
            mt.seal(eng.commitlog.position())
            t.flushing = [*t.flushing, mt]
    return eng


def _general(eng: StorageEngine, ck_: bytes, wanted: list[str], now_s: int) -> list[bytes | None] | None:
    """The general path's answer: `read` (every version merged), the wanted columns of row `ck_`."""
    p = eng.read(TABLET, TOKEN, KEY, Slice(ranges=((ck_, ck_ + b"\x00"),), columns=frozenset(wanted), now_s=now_s))
    if p is None or not p.rows:
        return None
    ((_, r),) = p.rows
    return [c.value if (c := r.cells.get((name, b""))) is not None else None for name in wanted]


def _lane(eng: StorageEngine, ck_: bytes, wanted: list[str], now_s: int) -> Any:
    sl = Slice(ranges=((ck_, ck_ + b"\x00"),), columns=frozenset(wanted), now_s=now_s)
    return eng.read_row(TABLET, TOKEN, KEY, ck_, {c: i for i, c in enumerate(wanted)}, len(wanted), sl)


@settings(max_examples=400, deadline=None)
@given(_history(), cks, st.lists(st.sampled_from(["x", "y"]), unique=True))
def test_read_row_in_timestamp_order_agrees_with_read(steps: list[tuple[Mutation, str]], ck_: bytes,
                                                      wanted: list[str]) -> None:
    async def body() -> None:
        eng = await _build(steps)
        for now_s in READ_TIMES:
            before = eng.counters["point_reads_stopped"]
            got = _lane(eng, ck_, wanted, now_s)
            assert isinstance(got, list) or got is None  # answered by the lane
            assert got == _general(eng, ck_, wanted, now_s), now_s
            if eng.counters["point_reads_stopped"] > before:
                event("stopped early")
        await eng.close()
    run(body())


# -- named cases --------------------------------------------------------------------------------------------------

R = ck(0)


def _row(ts: int, marker: bool = True, ttl: tuple[int, int] = (0, 0), **cols: bytes | None) -> Mutation:
    r = Row(marker=LivenessInfo(ts) if marker else None)
    for name, v in cols.items():
        r.cells[(name, b"")] = Cell(ts, v, *ttl)
    return Mutation(TOKEN, KEY, rows={R: r})


async def _layers(*layers: Mutation, memtable: Mutation | None = None) -> StorageEngine:
    """Each layer flushed to its own sstable, in order; then `memtable` applied, unflushed."""
    eng = await open_engine(FaultFS(), FakeClock(now_s=NOW))
    for m in layers:
        await eng.apply(TABLET, m)
        await eng.flush()
    if memtable is not None:
        await eng.apply(TABLET, memtable)
    return eng


def _read(eng: StorageEngine, *wanted: str) -> tuple[Any, int, int]:
    """The lane's answer for row R (checked against the general read), and how many sstables it
    looked into and whether it stopped early."""
    h0 = list(eng.sstables_per_read)
    stopped = eng.counters["point_reads_stopped"]
    got = _lane(eng, R, list(wanted), NOW)
    assert got == _general(eng, R, list(wanted), NOW)
    (looked_up,) = [i for i, (a, b) in enumerate(zip(h0, eng.sstables_per_read, strict=True)) if a != b]
    return got, looked_up, eng.counters["point_reads_stopped"] - stopped


def test_an_overwrite_is_read_from_the_newest_version_only() -> None:
    async def body() -> None:
        eng = await _layers(_row(10, x=b"a", y=b"a"), _row(20, x=b"b", y=b"b"), _row(30, x=b"c", y=b"c"))
        assert _read(eng, "x", "y") == ([b"c", b"c"], 1, 1)  # "sstables per read": 1 of 3
        assert _read(eng) == ([], 1, 1)  # no column asked: the live marker settles
        await eng.apply(TABLET, _row(40, x=b"d", y=b"d"))
        assert _read(eng, "x", "y") == ([b"d", b"d"], 0, 1)  # the memtable settles it
        assert sum(eng.sstables_per_read) == 3 and eng.sstables_per_read[:2] == [1, 2]
        await eng.close()
    run(body())


def test_a_newer_sstable_with_older_timestamps_does_not_settle() -> None:
    async def body() -> None:
        # the second flush holds the older write: sstables are visited by max timestamp, not age
        eng = await _layers(_row(30, x=b"new"), _row(10, x=b"old"))
        assert _read(eng, "x") == ([b"new"], 1, 1)
        await eng.close()
        # a memtable write older than an sstable's: the sstable must be read
        eng = await _layers(_row(30, x=b"new"), memtable=_row(10, x=b"old"))
        assert _read(eng, "x") == ([b"new"], 1, 0)
        await eng.close()
    run(body())


def test_equal_timestamps_do_not_settle() -> None:
    async def body() -> None:
        # a tie at the unread sstable's max timestamp reconciles by value: b"b" > b"a"
        eng = await _layers(_row(7, x=b"b"), memtable=_row(7, x=b"a"))
        assert _read(eng, "x") == ([b"b"], 1, 0)
        await eng.close()
        # ... and a tombstone wins a tie over a live cell (the marker still keeps the row)
        tomb = Mutation(TOKEN, KEY, rows={R: Row(cells={("x", b""): Cell(7, None, 0, NOW)})})
        eng = await _layers(tomb, memtable=_row(7, x=b"a"))
        assert _read(eng, "x") == ([None], 1, 0)
        await eng.close()
        # ... and the row's liveness: a row deletion at the marker's timestamp kills it
        dead = Mutation(TOKEN, KEY, rows={R: Row(deletion=DeletionTime(7, NOW))})
        eng = await _layers(dead, memtable=_row(7))
        assert _read(eng) == (None, 1, 0)
        await eng.close()
    run(body())


def test_a_deletion_in_a_newer_version_settles_the_row() -> None:
    async def body() -> None:
        row_del = Mutation(TOKEN, KEY, rows={R: Row(deletion=DeletionTime(20, NOW))})
        eng = await _layers(_row(10, x=b"a"), row_del)
        assert _read(eng, "x") == (None, 1, 1)
        await eng.close()
        eng = await _layers(_row(10, x=b"a"), memtable=Mutation(TOKEN, KEY, DeletionTime(20, NOW)))
        assert _read(eng, "x") == (None, 0, 1)  # a partition deletion: no row at all in the memtable
        await eng.close()
        rt = Mutation(TOKEN, KEY, range_tombstones=[RangeTombstone(R, R + b"\xff", DeletionTime(20, NOW))])
        eng = await _layers(_row(10, x=b"a"), _row(15, y=b"b"), rt)
        assert _read(eng, "x", "y") == (None, 1, 1)
        await eng.close()
        # a deletion no newer than an unread sstable's data settles nothing
        eng = await _layers(_row(20, x=b"a"), memtable=Mutation(TOKEN, KEY, DeletionTime(20, NOW)))
        assert _read(eng, "x") == (None, 1, 0)
        await eng.close()
        eng = await _layers(_row(21, x=b"a"), memtable=Mutation(TOKEN, KEY, DeletionTime(20, NOW)))
        assert _read(eng, "x") == ([b"a"], 1, 0)
        await eng.close()
    run(body())


def test_a_column_only_in_an_older_sstable_is_read() -> None:
    async def body() -> None:
        eng = await _layers(_row(10, x=b"a", y=b"a"), _row(20, x=b"b"))
        assert _read(eng, "x", "y") == ([b"b", b"a"], 2, 0)
        assert _read(eng, "x") == ([b"b"], 1, 1)  # y not asked for: x and the marker settle
        await eng.close()
    run(body())


def test_ttls_in_the_newest_version() -> None:
    async def body() -> None:
        # an expired cell is the newest word on its column; the live marker keeps the row
        eng = await _layers(_row(10, x=b"a"), _row(20, ttl=(5, NOW - 1), x=b"b"))
        assert _read(eng, "x") == ([None], 1, 1)
        await eng.close()
        # with no marker the expired cell proves nothing about the row: the older marker lives
        eng = await _layers(_row(10, x=b"a"), _row(20, marker=False, ttl=(5, NOW - 1), x=b"b"))
        assert _read(eng, "x") == ([None], 2, 0)
        await eng.close()
        # an expired TTL marker is no evidence either: the older cell of y keeps the row
        expired = Mutation(TOKEN, KEY, rows={R: Row(LivenessInfo(20, 5, NOW - 1), None, {("x", b""): Cell(20, None)})})
        eng = await _layers(_row(10, y=b"y"), expired)
        assert _read(eng, "x") == ([None], 2, 0)
        await eng.close()
        # a live TTL cell settles like any other
        eng = await _layers(_row(10, x=b"a"), _row(20, ttl=(5, NOW + 1), x=b"b"))
        assert _read(eng, "x") == ([b"b"], 1, 1)
        await eng.close()
    run(body())


def test_counter_cells_are_read_from_every_version() -> None:
    async def body() -> None:
        def counter(ts: int, n: int) -> Mutation:
            c = Cell(ts, encode_shards([(bytes([n]) * 16, ts, n)]), counter=True)
            return Mutation(TOKEN, KEY, rows={R: Row(cells={("x", b""): c})})

        eng = await _layers(counter(10, 1), counter(20, 2), memtable=counter(30, 3))
        got = _lane(eng, R, ["x"], NOW)  # shard-wise merge: the general path's answer
        assert eng.sstables_per_read[2] == 1 and eng.counters["point_reads_stopped"] == 0
        p = eng.read(TABLET, TOKEN, KEY, Slice(ranges=((R, R + b"\x00"),), columns=frozenset(["x"]), now_s=NOW))
        assert got == p
        await eng.close()
    run(body())


def test_the_read_order_follows_the_sstable_set() -> None:
    async def body() -> None:
        eng = await _layers(_row(10, x=b"a"), _row(30, x=b"c"), _row(20, x=b"b"))
        t = eng._tablet(TABLET)
        assert [mx for mx, _ in t.read_order()] == [30, 20, 10]
        order = t.read_order()
        assert t.read_order() is order  # kept while the sstable set stays
        await eng.compact()
        assert [mx for mx, _ in t.read_order()] == [30] and t.read_order() is not order
        assert _read(eng, "x") == ([b"c"], 1, 0)
        await eng.close()
    run(body())
