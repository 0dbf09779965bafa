"""Tablet as a unit: snapshot (hard links), ingest from another node, split at a token, drop."""

from __future__ import annotations

import uuid

import pytest

from storage.errors import UnknownTabletError
from storage.read import Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import MAX_TOKEN, MIN_TOKEN, TABLE, TABLET, ck, mut, open_engine, row, run


async def _filled(fs: FaultFS) -> object:
    eng = await open_engine(fs, FakeClock())
    for i in range(-50, 50):
        await eng.apply(TABLET, mut(i * 1000, b"k%d" % i, {ck(0): row(1, a=b"v%d" % i)}))
        if i == 0:
            await eng.flush()
    return eng


def test_snapshot_and_ingest_elsewhere() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await _filled(fs)
        paths = await eng.snapshot_tablet(TABLET, "s1")  # type: ignore[attr-defined]
        assert len(paths) == 2 * 6 and all("/snapshots/s1/" in str(p) for p in paths)
        # snapshots are hard links: the snapshot shares the live sstable's bytes
        live = eng.list_sstables(TABLET)[0][0]  # type: ignore[attr-defined]
        snap = next(p for p in paths if p.name == live.name)
        assert fs.files[str(snap)] is fs.files[str(live)]
        # ingest into another tablet of another engine (sharing the disk, as a stream target would)
        other = (uuid.UUID(int=7), 3)
        eng2 = await open_engine(fs, FakeClock(), tablets=())
        eng2.add_table(other[0], eng2._tables[TABLE])
        eng2.add_tablet(other, MIN_TOKEN, MAX_TOKEN)
        await eng2.ingest_sstables(other, [p for p in paths if p.name.endswith("TOC.txt")])
        for i in range(-50, 50):
            pd = eng2.read(other, i * 1000, b"k%d" % i, Slice())
            assert pd is not None and pd.rows[0][1].cells[("a", b"")].value == b"v%d" % i
        await eng.close()  # type: ignore[attr-defined]
        await eng2.close()
    run(body())


def test_ingest_rejects_corrupt_file() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await _filled(fs)
        paths = await eng.snapshot_tablet(TABLET, "s1")  # type: ignore[attr-defined]
        data = next(p for p in paths if p.name.endswith("Data.db"))
        fs.files[str(data)] = type(fs.files[str(data)])(bytes(fs.files[str(data)].data), 0)
        fs.flip_bit(data, 30)
        from storage.errors import CorruptionError
        with pytest.raises(CorruptionError):
            await eng.ingest_sstables(TABLET, [p for p in paths if p.name.endswith("TOC.txt")])  # type: ignore[attr-defined]
        await eng.close()  # type: ignore[attr-defined]
    run(body())


def test_split_and_drop() -> None:
    async def body() -> None:
        fs = FaultFS()
        eng = await _filled(fs)
        left, right = (TABLE, 10), (TABLE, 11)
        await eng.split_tablet(TABLET, 0, left, right)  # type: ignore[attr-defined]
        with pytest.raises(UnknownTabletError):
            eng.read(TABLET, 0, b"k0", Slice())  # type: ignore[attr-defined]
        for i in range(-50, 50):
            side = left if i * 1000 <= 0 else right
            assert eng.read(side, i * 1000, b"k%d" % i, Slice()) is not None  # type: ignore[attr-defined]
        assert len(list(eng.scan(left, None, MAX_TOKEN, Slice()))) == 51  # type: ignore[attr-defined]
        assert len(list(eng.scan(right, None, MAX_TOKEN, Slice()))) == 49  # type: ignore[attr-defined]
        await eng.apply(right, mut(5, b"new", {ck(0): row(2, a=b"n")}))  # type: ignore[attr-defined]
        await eng.close()  # type: ignore[attr-defined]
        # survives a restart with the children registered
        eng2 = await open_engine(fs, FakeClock(), tablets=((left, MIN_TOKEN, 0), (right, 0, MAX_TOKEN)))
        assert eng2.read(right, 5, b"new", Slice()) is not None
        assert eng2.read(left, -3000, b"k-3", Slice()) is not None
        await eng2.drop_tablet(left)
        assert not [p for p in fs.all_files() if "/10/" in p]
        await eng2.close()
    run(body())
