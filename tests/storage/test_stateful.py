"""Hypothesis stateful test: the engine against a plain dict model.

Every write gets a strictly larger timestamp than the previous one, so the model can apply each
operation as a plain dict update (last write wins, deletes remove) while the engine reconciles
cells, row/range/partition tombstones and TTLs across memtables, sstables, compactions (with
gc_grace_seconds=0, so tombstone purging runs constantly), whole-sstable expiry drops, crashes that drop unsynced bytes
(FaultFS.crash with torn tails) and restarts. Commitlog mode is `batch`: every acknowledged
write must survive a crash.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from storage.compaction_manager import compact_tablet, drop_expired, fully_expired
from storage.config import TableOptions
from storage.engine import StorageEngine
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from storage.read import PartitionData, Slice
from tests.storage.fakes import FakeClock, FaultFS
from tests.storage.helpers import MAX_TOKEN, TABLET, ck, open_engine

KEYS = [b"p0", b"p1", b"p2"]
TOKENS = {k: (i * 7919) % 13 - 6 for i, k in enumerate(KEYS)}
CKS = list(range(4))
COLS = ["a", "b"]

keys = st.sampled_from(KEYS)
cks = st.sampled_from(CKS)
cols = st.sampled_from(COLS)
values = st.binary(min_size=0, max_size=6)
ttls = st.sampled_from([0, 0, 1, 3])

ModelRow = dict[str, Any]  # {"cells": {col: (value, expiry)}, "marker": expiry (present if set)}


class EngineVsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.fs = FaultFS()
        self.clock = FakeClock()
        self.ts = 0
        self.model: dict[bytes, dict[str, Any]] = {}
        self.eng = self._open()

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _open(self) -> StorageEngine:
        eng: StorageEngine = self._run(open_engine(
            self.fs, self.clock, commitlog_sync="batch", commitlog_segment_size_mb=1,
            options=TableOptions(gc_grace_seconds=0)))
        return eng

    def _next_ts(self) -> int:
        self.ts += 1
        return self.ts

    def _part(self, key: bytes) -> dict[str, Any]:
        return self.model.setdefault(key, {"static": {}, "rows": {}})

    def _apply(self, m: Mutation, then_flush: bool) -> None:
        self._run(self.eng.apply(TABLET, m))
        if then_flush:  # many small sstables: old data and newer tombstones end up apart
            self._run(self.eng.flush())

    # -- writes -------------------------------------------------------------------------------

    @rule(then_flush=st.booleans(), key=keys, c=cks, col=cols, value=values, ttl=ttls, marker=st.booleans())
    def write(self, key: bytes, c: int, col: str, value: bytes, ttl: int, marker: bool, then_flush: bool) -> None:
        ts, now = self._next_ts(), self.clock.now_s()
        exp = now + ttl if ttl else 0
        r = Row(marker=LivenessInfo(ts, ttl, exp) if marker else None,
                cells={(col, b""): Cell(ts, value, ttl, exp)})
        self._apply(Mutation(TOKENS[key], key, rows={ck(c): r}), then_flush)
        mrow = self._part(key)["rows"].setdefault(c, {"cells": {}})
        mrow["cells"][col] = (value, exp)
        if marker:
            mrow["marker"] = exp

    @rule(then_flush=st.booleans(), key=keys, value=values, ttl=ttls)
    def write_static(self, key: bytes, value: bytes, ttl: int, then_flush: bool) -> None:
        ts, now = self._next_ts(), self.clock.now_s()
        exp = now + ttl if ttl else 0
        self._apply(Mutation(TOKENS[key], key, static_row=Row(cells={("s", b""): Cell(ts, value, ttl, exp)})), then_flush)
        self._part(key)["static"]["s"] = (value, exp)

    @rule(then_flush=st.booleans(), key=keys, c=cks, col=cols)
    def delete_cell(self, key: bytes, c: int, col: str, then_flush: bool) -> None:
        ts, now = self._next_ts(), self.clock.now_s()
        self._apply(Mutation(TOKENS[key], key, rows={ck(c): Row(cells={(col, b""): Cell(ts, None, 0, now)})}), then_flush)
        self._part(key)["rows"].get(c, {"cells": {}})["cells"].pop(col, None)

    @rule(then_flush=st.booleans(), key=keys, c=cks)
    def delete_row(self, key: bytes, c: int, then_flush: bool) -> None:
        ts, now = self._next_ts(), self.clock.now_s()
        self._apply(Mutation(TOKENS[key], key, rows={ck(c): Row(deletion=DeletionTime(ts, now))}), then_flush)
        self._part(key)["rows"].pop(c, None)

    @rule(then_flush=st.booleans(), key=keys, lo=cks, n=st.integers(1, 4))
    def delete_range(self, key: bytes, lo: int, n: int, then_flush: bool) -> None:
        ts, now = self._next_ts(), self.clock.now_s()
        hi = lo + n
        self._apply(Mutation(TOKENS[key], key, range_tombstones=[RangeTombstone(ck(lo), ck(hi), DeletionTime(ts, now))]), then_flush)
        rows = self._part(key)["rows"]
        for c in [c for c in rows if lo <= c < hi]:
            del rows[c]

    @rule(then_flush=st.booleans(), key=keys)
    def delete_partition(self, key: bytes, then_flush: bool) -> None:
        ts, now = self._next_ts(), self.clock.now_s()
        self._apply(Mutation(TOKENS[key], key, partition_deletion=DeletionTime(ts, now)), then_flush)
        self.model.pop(key, None)

    # -- time, flush, compaction, crash -------------------------------------------------------

    @rule(seconds=st.integers(1, 3))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def flush(self) -> None:
        self._run(self.eng.flush())

    @rule()
    def compact(self) -> None:
        self._run(self.eng.compact())

    @rule(data=st.data())
    def compact_some(self, data: st.DataObject) -> None:
        """A minor compaction of an arbitrary subset: purging must respect the data left out."""
        t = self.eng._tablets[TABLET]
        if not t.sstables:
            return
        # mostly the newest ones (where fresh tombstones sit, with older data left out), sometimes any
        if data.draw(st.booleans()):
            picked = t.sstables[-data.draw(st.integers(1, len(t.sstables))):]
        else:
            picked = data.draw(st.lists(st.sampled_from(t.sstables), min_size=1, unique=True))
        self.clock.advance(data.draw(st.integers(1, 3)))  # past gc_grace=0 for what came before
        self._run(compact_tablet(self.eng, t, picked))

    @rule(seconds=st.integers(0, 4))
    def drop_expired_sstables(self, seconds: int) -> None:
        """Whole-sstable expiry: whatever it drops must not change a single read."""
        self.clock.advance(seconds)
        t = self.eng._tablets[TABLET]
        candidates = fully_expired(t, self.clock.now_s())
        if candidates:
            self._run(drop_expired(self.eng, t, candidates))

    @rule(seed=st.integers(0, 2**32 - 1))
    def crash_and_reopen(self, seed: int) -> None:
        self.eng.abandon()
        self.fs = self.fs.crash(random.Random(seed))
        self.eng = self._open()

    @rule()
    def clean_restart(self) -> None:
        self._run(self.eng.close())
        self.eng = self._open()

    # -- the check ----------------------------------------------------------------------------

    def _expected(self, key: bytes, now: int) -> tuple[dict[str, bytes], list[tuple[bytes, dict[str, bytes]]]] | None:
        p = self.model.get(key)
        if p is None:
            return None

        def live(cells: dict[str, tuple[bytes, int]]) -> dict[str, bytes]:
            return {c: v for c, (v, e) in cells.items() if e == 0 or e > now}

        static = live(p["static"])
        rows = []
        for c in sorted(p["rows"]):
            r = p["rows"][c]
            cells = live(r["cells"])
            marker_live = "marker" in r and (r["marker"] == 0 or r["marker"] > now)
            if cells or marker_live:
                rows.append((ck(c), cells))
        if not static and not rows:
            return None
        return static, rows

    @staticmethod
    def _view(pd: PartitionData | None) -> tuple[dict[str, bytes], list[tuple[bytes, dict[str, bytes]]]] | None:
        if pd is None:
            return None
        static = {} if pd.static_row is None else {k[0]: c.value for k, c in pd.static_row.cells.items()}
        return static, [(k, {c[0]: v.value for c, v in r.cells.items()}) for k, r in pd.rows]  # type: ignore[misc]

    @invariant()
    def reads_equal_model(self) -> None:
        now = self.clock.now_s()
        sl = Slice(now_s=now)
        for key in KEYS:
            assert self._view(self.eng.read(TABLET, TOKENS[key], key, sl)) == self._expected(key, now), key
        scanned = {p.key: self._view(p) for p in self.eng.scan(TABLET, None, MAX_TOKEN, sl)}
        expected = {k: v for k in KEYS if (v := self._expected(k, now)) is not None}
        assert scanned == expected

    def teardown(self) -> None:
        try:
            self._run(self.eng.close())
        finally:
            self.loop.close()


EngineVsModel.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestEngineVsModel = EngineVsModel.TestCase
