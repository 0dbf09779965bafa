"""SSTable format details: index blocks (version 2 round trip, lookups, alignment with data
blocks), reading version-1 sstables written by an older engine, bloom filter sizing."""

from __future__ import annotations

import asyncio
import itertools
import math
import shutil
from bisect import bisect_left, bisect_right
from pathlib import Path

import lz4.block
import mmh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.bloom import BloomFilter, probes_and_bits
from storage.config import StorageConfig, TableOptions
from storage.engine import StorageEngine
from storage.fs import RealFileSystem
from storage.mutation import Cell, LivenessInfo, Mutation, Row
from storage.read import Slice
from storage.sstable_index import decode_index_block_v2, encode_index_block
from storage.sstable_reader import BlockCache, SSTableReader
from storage.sstable_writer import INDEX_BLOCK_ENTRIES, SSTableWriter
from tests.storage.fakes import FakeClock
from tests.storage.helpers import ck, mut, row
from tests.storage.v1_fixture import FIXTURE_DIR, NOW_S, TABLE, TABLET, fixture_mutations

MIN_TOKEN = -(1 << 63)
MAX_TOKEN = (1 << 63) - 1

entries = st.lists(
    st.tuples(st.integers(-(2**63), 2**63 - 1), st.binary(max_size=12)), unique=True, max_size=80,
).map(sorted)


@given(entries, st.data())
def test_index_block_round_trip_and_lookups(ents: list[tuple[int, bytes]], data: st.DataObject) -> None:
    n = len(ents)
    offs = sorted(data.draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n)))
    dlens = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    inb = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    lens = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    raw = encode_index_block([t for t, _ in ents], [k for _, k in ents], offs, dlens, inb, lens)
    ib = decode_index_block_v2(raw)
    assert ib.count == n and list(zip(ib.tokens, ib.keys(), strict=True)) == ents
    assert (list(ib.data_offsets), list(ib.data_lengths)) == (offs, dlens)
    assert (list(ib.offsets_in_block), list(ib.lengths)) == (inb, lens)
    probes = [*ents, *data.draw(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.binary(max_size=12))))]
    for t, k in probes:
        j = bisect_left(ents, (t, k))
        assert ib.find(t, k) == (j if j < n and ents[j] == (t, k) else -1)
        assert ib.upper_bound(t, k) == bisect_right(ents, (t, k))


@pytest.mark.parametrize("cut", [0, 1, 4, 4 + 8 * 3, -1])
def test_truncated_index_block_is_rejected(cut: int) -> None:
    raw = encode_index_block([1, 2, 3], [b"a", b"bb", b"c"], [8, 8, 90], [82, 82, 40], [0, 5, 0], [5, 9, 7])
    with pytest.raises(ValueError):
        decode_index_block_v2(raw[:cut] if cut >= 0 else raw + b"x")


def test_index_blocks_cover_whole_data_blocks(tmp_path: Path) -> None:
    async def body() -> None:
        eng = await _open(tmp_path)
        for i in range(3000):  # small partitions: many per data block
            await eng.apply(TABLET, mut(i * 7919 - 10_000_000, b"k%d" % i, {ck(0): row(1, a=b"x" * (i % 50))}))
        await eng.flush()
        s = eng._tablets[TABLET].sstables[0]
        seen: dict[int, int] = {}
        for i in range(len(s._summary_offsets)):
            ib = s._load_index_block(i)
            assert ib.count >= INDEX_BLOCK_ENTRIES or i == len(s._summary_offsets) - 1
            for off, ln in zip(ib.data_offsets, ib.data_lengths, strict=True):
                assert ln > 0 and seen.setdefault(off, i) == i  # a data block belongs to one index block
        assert sum(1 for _ in s.iter_objs()) == 3000
        await eng.close()
    asyncio.run(body())


# -- version-1 sstables (written by an older engine) -----------------------------------------

async def _open(root: Path, clock: FakeClock | None = None) -> StorageEngine:
    eng = await StorageEngine.open(root, StorageConfig(compaction_enabled=False), clock=clock or FakeClock(),
                                   fs=RealFileSystem())
    eng.add_table(TABLE, TableOptions())
    eng.add_tablet(TABLET, MIN_TOKEN, MAX_TOKEN)
    await eng.replay_commitlog()
    return eng


def _with_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "db"
    shutil.copytree(FIXTURE_DIR, root / "data" / str(TABLE) / "0")
    return root


def test_v1_fixture_is_version_1() -> None:
    s = SSTableReader(RealFileSystem(), FIXTURE_DIR, 1, BlockCache(1 << 20))
    assert s.index_version == 1 and not s.plain and s.non_expiring
    # version-1 index blocks end inside data blocks: the case the current writer never makes
    offsets = [s._load_index_block(i).data_offsets for i in range(len(s._summary_offsets))]
    assert any(a[-1] == b[0] for a, b in itertools.pairwise(offsets))
    s.close()


def test_v1_sstable_point_reads_and_scan(tmp_path: Path) -> None:
    async def body() -> None:
        eng = await _open(_with_fixture(tmp_path))
        s = eng._tablets[TABLET].sstables[0]
        expected = fixture_mutations()
        for m in expected:
            assert s.get(m.token, m.key) == m
            assert s.get(m.token, m.key + b"x") is None
        assert list(s.iter_range(None, MAX_TOKEN)) == sorted(expected, key=lambda m: (m.token, m.key))
        mid = sorted(expected, key=lambda m: (m.token, m.key))[100]
        assert [m.key for m in s.iter_range((mid.token, mid.key), MAX_TOKEN)][:1] == \
            [sorted(expected, key=lambda m: (m.token, m.key))[101].key]
        await eng.close()
    asyncio.run(body())


def test_v1_sstable_compacts_into_current_format(tmp_path: Path) -> None:
    async def body() -> None:
        clock = FakeClock(NOW_S)
        eng = await _open(_with_fixture(tmp_path), clock)
        sl = Slice(now_s=NOW_S)
        expected = fixture_mutations()
        before = {m.key: eng.read(TABLET, m.token, m.key, sl) for m in expected}
        # new data over some of the old partitions (a version-2 sstable), then one major compaction
        for m in expected[::3]:
            await eng.apply(TABLET, mut(m.token, m.key, {ck(50): row(5_000, v=b"new")}))
        await eng.compact()
        t = eng._tablets[TABLET]
        assert len(t.sstables) == 1 and t.sstables[0].index_version == 2
        for i, m in enumerate(expected):
            pd = eng.read(TABLET, m.token, m.key, sl)
            old = before[m.key]
            if i % 3:
                assert pd == old
            else:
                assert pd is not None and pd.rows[-1][0] == ck(50)
                assert (pd.static_row, pd.rows[:-1]) == ((old.static_row, old.rows) if old else (None, []))
        await eng.close()
    asyncio.run(body())


# -- bloom filter -------------------------------------------------------------------------------

@pytest.mark.parametrize("fp", [0.1, 0.01, 0.001])
def test_bloom_false_positive_rate_meets_target(fp: float) -> None:
    n = 20_000
    b = BloomFilter.for_capacity(n, fp)
    keys = [b"key%d" % i for i in range(n)]
    b.add_many(keys[: n // 2])
    for key in keys[n // 2:]:
        b.add(key)
    assert all(b.might_contain(k) for k in keys)
    probes = 100_000
    rate = sum(b.might_contain(b"absent%d" % i) for i in range(probes)) / probes
    assert rate < fp * 1.25  # the estimate's own noise is well below this margin
    probes_k, _ = probes_and_bits(fp)
    assert b.k == probes_k < round(-math.log(fp) / math.log(2))  # fewer probes than the optimum's


@settings(max_examples=30)
@given(st.lists(st.binary(max_size=10), max_size=50))
def test_bloom_add_and_add_many_set_the_same_bits(keys: list[bytes]) -> None:
    a = BloomFilter.for_capacity(len(keys), 0.01)
    b = BloomFilter.for_capacity(len(keys), 0.01)
    for k in keys:
        a.add(k)
    b.add_many(keys)
    assert a.bits == b.bits and all(a.might_contain(k) for k in keys)



def test_bloom_probes_follow_the_documented_scheme() -> None:
    # formats.md: probe i sets bit (h1 + i*h2) mod m, (h1, h2) = unsigned halves of mmh3 x64_128
    b = BloomFilter(1000, 5)
    b.add(b"key00000")
    h1, h2 = mmh3.hash64(b"key00000", signed=False)
    expected = bytearray(125)
    for i in range(5):
        pos = (h1 + i * h2) % 1000
        expected[pos >> 3] |= 1 << (pos & 7)
    assert b.bits == expected


def test_worked_example_of_formats_md(tmp_path: Path) -> None:
    """docs/storage/formats.md section 3's worked example, byte for byte."""
    ts = 1_700_000_000_000_000
    m = Mutation(-4069959284402364209, b"\x00\x00\x00\x01",
                 rows={b"\x40\x80\x00\x00\x02\x38": Row(marker=LivenessInfo(ts), cells={("v", b""): Cell(ts, b"hi")})})
    w = SSTableWriter(RealFileSystem(), tmp_path, 1, expected_partitions=1, bloom_fp_chance=0.01,
                      block_size_bytes=4096, replay_position=(7, 120), created_at_s=1_700_000_000)
    w.add(m)
    w.finish()
    data = (tmp_path / "sp1-1-Data.db").read_bytes()
    assert len(data) == 81 and data[:20].hex(" ") == "53 50 44 54 01 00 00 00 3d 00 00 00 41 00 00 00 f0 64 ed 70"
    index = (tmp_path / "sp1-1-Index.db").read_bytes()
    assert len(index) == 55 and index[:8].hex(" ") == "53 50 49 58 02 00 00 00"
    assert SSTableReader(RealFileSystem(), tmp_path, 1, BlockCache(1 << 20))._load_index_block(0).keys_blob \
        == b"\x00\x00\x00\x01"
    assert lz4.block.decompress(index[20:], 40).hex(" ") == (
        "01 00 00 00 cf e0 e4 2a 98 99 84 c7 08 00 00 00 00 00 00 00 49 00 00 00 00 00 00 00 "
        "40 00 00 00 04 00 00 00 00 00 00 01")
    assert (tmp_path / "sp1-1-Filter.db").read_bytes().hex(" ") == \
        "53 50 42 46 01 00 00 00 93 03 0d c4 02 10 11 5c 9a 91 e7"
