"""Persistence: round trips, the truncation rule, crashes at every point, named corruptions."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import msgpack
import pytest

from raft.codec import encode_snapshot
from raft.errors import CorruptionError
from raft.fs import MemoryFileSystem, OsFileSystem
from raft.persistence import SNAPSHOT, FilePersistence
from raft.types import (
    Configuration,
    EntryKind,
    HardState,
    Index,
    LogEntry,
    ServerId,
    Snapshot,
    SnapshotDescriptor,
    Term,
)

CFG = Configuration(frozenset({ServerId("a"), ServerId("b"), ServerId("c")}))
D = "/data/raft"


def entry(index: int, term: int, data: bytes | None = None) -> LogEntry:
    return LogEntry(Term(term), Index(index), EntryKind.COMMAND, data if data is not None else b"%d@%d" % (index, term))


def fresh(fs: MemoryFileSystem | OsFileSystem, directory: str = D) -> FilePersistence:
    p = FilePersistence(fs, directory)
    p.bootstrap(CFG)
    p.load()
    return p


def test_round_trip_and_overwrite_rule() -> None:
    fs = MemoryFileSystem()
    p = fresh(fs)
    p.save(HardState(Term(2), ServerId("b")), None, tuple(entry(i, 1) for i in range(1, 6)))
    # A follower's conflicting suffix from index 3 is replaced (Ready rule 3).
    cfg_entry = LogEntry(Term(2), Index(4), EntryKind.CONFIG, b"", CFG)
    p.save(None, None, (entry(3, 2), cfg_entry))
    st = FilePersistence(fs, D).load()
    assert st.hard_state == HardState(Term(2), ServerId("b"))
    assert [(e.index, e.term) for e in st.entries] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert st.entries[-1].config == CFG
    assert st.snapshot.descriptor.config == CFG


def test_bootstrap_refuses_to_overwrite() -> None:
    fs = MemoryFileSystem()
    fresh(fs)
    with pytest.raises(CorruptionError):
        FilePersistence(fs, D).bootstrap(CFG)


def test_local_snapshot_truncates_the_log_prefix() -> None:
    fs = MemoryFileSystem()
    p = fresh(fs)
    p.save(None, None, tuple(entry(i, 1) for i in range(1, 11)))
    snap = Snapshot(SnapshotDescriptor(Index(8), Term(1), CFG), b"state")
    p.compact(snap, keep_from=Index(6))
    st = FilePersistence(fs, D).load()
    assert st.snapshot == snap
    assert [e.index for e in st.entries] == [9, 10]  # 6..8 are on disk but covered
    assert len(fs.read(D + "/log")) < 200


def test_received_snapshot_replaces_the_log() -> None:
    fs = MemoryFileSystem()
    p = fresh(fs)
    p.save(None, None, tuple(entry(i, 1) for i in range(1, 6)))
    snap = Snapshot(SnapshotDescriptor(Index(20), Term(3), CFG), b"leader state")
    p.save(HardState(Term(3), None), snap, (entry(21, 3),))
    st = FilePersistence(fs, D).load()
    assert st.snapshot == snap and [e.index for e in st.entries] == [21]


def test_crash_between_snapshot_and_log_reset_applies_the_5_3_rule() -> None:
    """If the crash hits after the snapshot file is replaced but before the log is reset, the
    old log's entries after the snapshot are kept only if it holds the snapshot's last entry."""
    for log_term_at_5, kept in ((2, [6, 7]), (1, [])):
        fs = MemoryFileSystem()
        p = fresh(fs)
        p.save(None, None, (entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1), entry(5, log_term_at_5),
                            entry(6, 2), entry(7, 2)))
        snap = Snapshot(SnapshotDescriptor(Index(5), Term(2), CFG), b"s")
        # Reproduce exactly the first half of save(): the snapshot file only.
        p._replace(p._snap_path, b"RFSN", SNAPSHOT, msgpack.packb(encode_snapshot(snap), use_bin_type=True))
        fs.crash()
        st = FilePersistence(fs, D).load()
        assert [e.index for e in st.entries] == kept


class _Crash(Exception):
    pass


class _CrashingFs(MemoryFileSystem):
    """Raises _Crash on the N-th mutating operation (the operation does not happen)."""

    def __init__(self) -> None:
        super().__init__()
        self.countdown = -1

    def _tick(self) -> None:
        if self.countdown == 0:
            raise _Crash
        self.countdown -= 1

    def write(self, path: str, data: bytes) -> None:
        self._tick()
        super().write(path, data)

    def append(self, path: str, data: bytes) -> None:
        self._tick()
        # Let a crash tear this append: half of it reaches the file, unsynced.
        if self.countdown == 0:
            super().append(path, data[: len(data) // 2])
            raise _Crash
        super().append(path, data)

    def sync(self, path: str) -> None:
        self._tick()
        super().sync(path)

    def rename(self, src: str, dst: str) -> None:
        self._tick()
        super().rename(src, dst)

    def sync_dir(self, path: str) -> None:
        self._tick()
        super().sync_dir(path)


def _workload(p: FilePersistence, acked: list[tuple[HardState, list[LogEntry], Index]]) -> None:
    """A sequence of saves; after each one returns, its effect must survive any crash."""
    log: list[LogEntry] = []
    snap_index = Index(0)
    steps: list[tuple[HardState | None, Snapshot | None, tuple[LogEntry, ...]]] = [
        (HardState(Term(1), ServerId("a")), None, (entry(1, 1), entry(2, 1))),
        (None, None, (entry(3, 1),)),
        (HardState(Term(2), None), None, (entry(3, 2), entry(4, 2))),
        (HardState(Term(3), ServerId("c")), Snapshot(SnapshotDescriptor(Index(6), Term(3), CFG), b"s6"),
         (entry(7, 3),)),
        (None, None, (entry(8, 3), entry(9, 3))),
    ]
    hs = HardState(Term(0), None)
    for step_hs, snap, entries in steps:
        p.save(step_hs, snap, entries)
        hs = step_hs or hs
        if snap is not None:
            log, snap_index = [], snap.descriptor.index
        log = [e for e in log if e.index < entries[0].index] + list(entries)
        acked.append((hs, list(log), snap_index))
    p.compact(Snapshot(SnapshotDescriptor(Index(8), Term(3), CFG), b"s8"), keep_from=Index(8))
    acked.append((hs, [e for e in log if e.index > 8], Index(8)))


@pytest.mark.parametrize("torn", [False, True])
def test_recovery_after_a_crash_at_every_point(torn: bool) -> None:
    """Crash before each filesystem operation in turn; what every returned save() promised must
    be there after recovery, and recovery itself must never fail."""
    crash_point = 0
    while True:
        fs = _CrashingFs()
        p = fresh(fs)
        acked: list[tuple[HardState, list[LogEntry], Index]] = []
        fs.countdown = crash_point
        try:
            _workload(p, acked)
        except _Crash:
            pass
        else:
            break
        fs.countdown = -1
        fs.crash(random.Random(crash_point) if torn else None)
        st = FilePersistence(fs, D).load()
        if acked:
            hs, log, snap_index = acked[-1]
            assert st.hard_state.term >= hs.term, crash_point
            assert st.snapshot.descriptor.index >= snap_index
            got = {e.index: e for e in st.entries}
            for e in log:
                if e.index > st.snapshot.descriptor.index:
                    assert got.get(e.index) == e, (crash_point, e)
        crash_point += 1
    assert crash_point > 20


def test_torn_tail_is_cut_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fs = MemoryFileSystem()
    p = fresh(fs)
    p.save(None, None, (entry(1, 1), entry(2, 1)))
    fs.append(D + "/log", b"\x01\x02\x03\x04\x05\x06")  # half a record header, never synced
    fs.sync(D + "/log")
    with caplog.at_level(logging.WARNING, logger="raft.persistence"):
        st = FilePersistence(fs, D).load()
    assert [e.index for e in st.entries] == [1, 2]
    assert "incomplete tail" in caplog.text
    p2 = FilePersistence(fs, D)
    p2.load()
    p2.save(None, None, (entry(3, 1),))
    assert [e.index for e in FilePersistence(fs, D).load().entries] == [1, 2, 3]


@pytest.mark.parametrize("where", ["log_middle", "log_last", "snapshot", "hard_state", "log_magic"])
def test_corruption_is_reported_with_path_and_offset(where: str) -> None:
    fs = MemoryFileSystem()
    p = fresh(fs)
    p.save(HardState(Term(1), None), None, (entry(1, 1), entry(2, 1), entry(3, 1)))
    log = fs.read(D + "/log")
    target, offset = {
        "log_middle": (D + "/log", len(log) - 30),
        "log_last": (D + "/log", len(log) - 2),
        "snapshot": (D + "/snapshot", 20),
        "hard_state": (D + "/hard_state", 12),
        "log_magic": (D + "/log", 0),
    }[where]
    fs.corrupt(target, offset)
    with pytest.raises(CorruptionError) as info:
        FilePersistence(fs, D).load()
    assert info.value.path == target
    assert 0 <= info.value.offset <= offset


def test_real_files_round_trip(tmp_path: Path) -> None:
    fs = OsFileSystem()
    p = fresh(fs, str(tmp_path / "raft"))
    p.save(HardState(Term(5), ServerId("a")), None, tuple(entry(i, 5) for i in range(1, 4)))
    p.save(None, None, (entry(2, 6),))
    fs.close()
    st = FilePersistence(OsFileSystem(), str(tmp_path / "raft")).load()
    assert st.hard_state.term == 5 and [(e.index, e.term) for e in st.entries] == [(1, 5), (2, 6)]
