"""The plain-write lane pinned against the Mutation path: `codec.encode_plain_row` makes the
bytes and summary `encode_mutation_summarized` makes of the equivalent mutation, and
`StorageEngine.apply_encoded` leaves the engine (memtable versions and statistics, commitlog,
flushed sstables, replay, memory accounting, errors) exactly as `apply` does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import PlainRowEncoder, PlainSummary, encode_mutation_summarized, encode_plain_row
from storage.engine import StorageEngine
from storage.errors import StorageError, UnknownTabletError
from storage.memtable import as_mutation
from storage.mutation import Cell, LivenessInfo, Mutation, Row
from storage.read import Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import TABLE, TABLET, open_engine, run

ints = st.integers(-(2**63), 2**63 - 1)
ttls = st.one_of(st.just(0), st.integers(1, 630720000))
now = st.integers(0, 2**31)
columns = st.lists(st.text(max_size=4), unique=True, max_size=6)
keys = st.binary(max_size=8)
values = st.one_of(st.none(), st.binary(max_size=300))  # 300: both bin8 and bin16 headers


def _plain_mutation(token: int, key: bytes, ck: bytes, marker: bool, cols: list[str],
                    vals: list[bytes | None], ts: int, ttl: int, now_s: int) -> Mutation:
    """The mutation the Mutation path (`ModificationPlan.build_plain`) makes of the same write."""
    expiry = now_s + ttl if ttl else 0
    cells = {(c, b""): Cell(ts, v, ttl, expiry) if v is not None else Cell(ts, None, 0, now_s)
             for c, v in zip(cols, vals, strict=True)}
    m = Mutation(token, key)
    if marker or cells:
        m.rows[ck] = Row(LivenessInfo(ts, ttl, expiry) if marker else None, None, cells)
    return m


@st.composite
def plain_writes(draw: Any, token: Any = ints, key: Any = keys) -> tuple[Any, ...]:
    cols = draw(columns)
    vals = draw(st.lists(values, min_size=len(cols), max_size=len(cols)))
    return (draw(token), draw(key), draw(st.binary(max_size=6)), draw(st.booleans()), cols, vals, draw(ints),
            draw(ttls), draw(now))


@given(plain_writes())
@settings(max_examples=400, deadline=None)
def test_encode_plain_row_is_encode_mutation_summarized_of_the_same_write(w: tuple[Any, ...]) -> None:
    token, key, ck, marker, cols, vals, ts, ttl, now_s = w
    expiry = now_s + ttl if ttl else 0
    got = encode_plain_row(token, key, ck, marker, cols, vals, ts, ttl, expiry, now_s)
    assert got == encode_mutation_summarized(_plain_mutation(*w))


@given(plain_writes())
@settings(max_examples=400, deadline=None)
def test_a_plain_row_encoder_is_encode_mutation_summarized_of_the_same_write(w: tuple[Any, ...]) -> None:
    token, key, ck, marker, cols, vals, ts, ttl, now_s = w
    if not cols:
        with pytest.raises(ValueError):
            PlainRowEncoder(cols)
        return
    got = PlainRowEncoder(cols).encode(token, key, ck, marker, vals, ts, ttl, now_s + ttl if ttl else 0, now_s)
    assert got == encode_mutation_summarized(_plain_mutation(*w))


def test_a_plain_row_encoder_takes_one_value_per_column() -> None:
    enc = PlainRowEncoder(["a", "b"])
    for vals in ([b"1"], [b"1", b"2", b"3"], [None], [None, b"2", b"3"]):
        with pytest.raises(ValueError):
            enc.encode(1, b"k", b"", True, vals, 5, 0, 0, 0)


def test_summaries_of_the_common_shapes() -> None:
    """Named cases (Hypothesis may not find a regression in each): only live cells without TTL
    are summarized; an empty write is an empty partition."""
    def summary(marker: bool, vals: list[bytes | None], ttl: int = 0) -> PlainSummary | None:
        cols = [f"c{i}" for i in range(len(vals))]
        return encode_plain_row(7, b"k", b"", marker, cols, vals, 100, ttl, 50 + ttl if ttl else 0, 50)[1]

    assert summary(True, [b"a", b"b"]) == (100, 100, 2)
    assert summary(False, [b"a"]) == (100, 100, 1)
    assert summary(True, []) == (100, 100, 0)
    assert summary(True, [b"a", None]) is None
    assert summary(True, [b"a"], ttl=5) is None
    assert summary(False, [None], ttl=5) is None
    assert summary(False, []) is None
    assert encode_plain_row(7, b"k", b"c", False, [], [], 100, 0, 0, 50)[0] == \
        encode_mutation_summarized(Mutation(7, b"k"))[0]


# --- the engine: apply_encoded against apply ----------------------------------------------------

# few keys and tokens, so that partitions are written more than once (the merge path)
engine_writes = st.lists(plain_writes(token=st.integers(-3, 3), key=st.sampled_from([b"a", b"b"])),
                         min_size=1, max_size=12)


async def _state(eng: StorageEngine) -> dict[str, Any]:
    t = eng._tablets[TABLET]
    mt = t.memtable
    parts = {pk: as_mutation(v) for pk, v in mt.partitions.items()}
    encoded = sorted(pk for pk, v in mt.partitions.items() if isinstance(v, bytes))
    stats = vars(mt.statistics())
    reads = {pk: eng.read(TABLET, pk[0], pk[1], Slice(now_s=0)) for pk in parts}
    return {"parts": parts, "encoded": encoded, "stats": stats, "reads": reads, "size": mt.size_bytes,
            "writes": mt.writes, "engine_bytes": eng._memtable_bytes, "log": eng.commitlog.position()}


async def _apply_both(writes: list[tuple[Any, ...]], **cfg: Any) -> tuple[list[dict[str, Any]], list[FaultFS]]:
    states: list[dict[str, Any]] = []
    filesystems: list[FaultFS] = []
    for encoded in (False, True):
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), **cfg)
        for w in writes:
            token, key, ck, marker, cols, vals, ts, ttl, now_s = w
            if encoded:
                payload, summary = encode_plain_row(token, key, ck, marker, cols, vals, ts, ttl,
                                                    now_s + ttl if ttl else 0, now_s)
                await eng.apply_encoded(TABLET, token, key, payload, summary)
            else:
                await eng.apply(TABLET, _plain_mutation(*w))
        state = await _state(eng)
        await eng.flush()
        # every file: commitlog segments and the flushed sstables, byte for byte
        state["files"] = {p: fs.read_file(Path(p)) for p in fs.all_files()}
        eng.abandon()
        eng2 = await open_engine(fs.crash(), FakeClock())
        state["after_restart"] = {pk: eng2.read(TABLET, pk[0], pk[1], Slice(now_s=0)) for pk in state["parts"]}
        eng2.abandon()
        states.append(state)
        filesystems.append(fs)
    return states, filesystems


@given(engine_writes)
@settings(max_examples=60, deadline=None)
def test_apply_encoded_leaves_the_engine_as_apply_does(writes: list[tuple[Any, ...]]) -> None:
    (by_mutation, by_bytes), _ = run(_apply_both(writes))
    assert by_bytes == by_mutation


def test_a_second_write_merges_and_a_ttl_write_counts_its_statistics() -> None:
    """Named cases of the above: a plain partition written twice (merged in codec form: it stays
    encoded), a TTL write and a null (summarized neither), in batch mode."""
    w = [(1, b"a", b"", True, ["v"], [b"1"], 10, 0, 5), (1, b"a", b"", False, ["w"], [b"2"], 11, 0, 5),
         (2, b"b", b"", True, ["v"], [b"3"], 12, 100, 5), (3, b"a", b"", False, ["v"], [None], 13, 0, 5)]
    (by_mutation, by_bytes), _ = run(_apply_both(w, commitlog_sync="batch"))
    assert by_bytes == by_mutation
    assert by_bytes["encoded"] == [(1, b"a"), (2, b"b"), (3, b"a")]
    stats = by_bytes["stats"]
    assert (stats["tombstones"], stats["max_ldt"], stats["plain"]) == (1, 105, False)  # the null; the TTL
    assert by_bytes["reads"][(1, b"a")].rows[0][1].cells == {("v", b""): Cell(10, b"1"), ("w", b""): Cell(11, b"2")}


def test_apply_encoded_errors_and_durability() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await open_engine(fs, FakeClock(), commitlog_sync="batch",
                                tablets=((TABLET, -10, 10),))
        payload, summary = encode_plain_row(5, b"k", b"", True, ["v"], [b"x"], 1, 0, 0, 0)
        start = eng.commitlog.position()
        with pytest.raises(UnknownTabletError):
            await eng.apply_encoded((TABLE, 99), 5, b"k", payload, summary)
        with pytest.raises(StorageError, match="outside tablet"):
            await eng.apply_encoded(TABLET, 11, b"k", payload, summary)
        assert eng.commitlog.position() == start  # nothing appended
        assert not len(eng._tablets[TABLET].memtable)
        await eng.apply_encoded(TABLET, 5, b"k", payload, summary)
        assert eng.commitlog.synced_position == eng.commitlog.position()  # batch: synced on return
        await eng.close()
    run(body())


def test_apply_encoded_flushes_on_memory_pressure_as_apply_does() -> None:
    async def body(encoded: bool) -> list[int]:
        eng = await open_engine(FaultFS(), FakeClock(), memtable_flush_threshold_bytes=20_000)
        for i in range(100):
            key = b"k%d" % i
            vals: list[bytes | None] = [bytes(500)]
            if encoded:
                payload, summary = encode_plain_row(i, key, b"", True, ["v"], vals, 1, 0, 0, 0)
                await eng.apply_encoded(TABLET, i, key, payload, summary)
            else:
                await eng.apply(TABLET, _plain_mutation(i, key, b"", True, ["v"], vals, 1, 0, 0))
            while eng._tasks:  # let a scheduled flush finish before the next write
                await asyncio.gather(*list(eng._tasks))
        while eng._tasks:
            await asyncio.gather(*list(eng._tasks))
        out = [len(eng._tablets[TABLET].sstables), eng.stats().memtable_bytes]
        await eng.close()
        return out

    flushed = run(body(True))
    assert flushed[0] >= 2
    assert flushed == run(body(False))
