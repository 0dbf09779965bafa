"""Test helpers: building mutations tersely and opening engines on a FaultFS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from storage.clock import Clock
from storage.config import StorageConfig, TableOptions
from storage.engine import StorageEngine
from storage.fs import FileSystem
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row

T = TypeVar("T")
TABLE = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
TABLET = (TABLE, 0)
MIN_TOKEN = -(1 << 63)
MAX_TOKEN = (1 << 63) - 1
ROOT = Path("/db")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def ck(i: int) -> bytes:
    """A one-component clustering key (int component), comparable encoding as cql.types makes it."""
    return b"\x40" + (i + (1 << 31)).to_bytes(4, "big") + b"\x38"


def row(ts: int, **cols: bytes | None) -> Row:
    r = Row(marker=LivenessInfo(ts))
    for name, v in cols.items():
        r.cells[(name, b"")] = Cell(ts, v)
    return r


def mut(token: int, key: bytes, rows: dict[bytes, Row] | None = None, *, pdel: int | None = None,
        rts: list[tuple[bytes, bytes, int]] | None = None, static: Row | None = None) -> Mutation:
    return Mutation(
        token, key,
        partition_deletion=None if pdel is None else DeletionTime(pdel, 1_700_000_000),
        static_row=static,
        rows=dict(rows or {}),
        range_tombstones=[RangeTombstone(s, e, DeletionTime(t, 1_700_000_000)) for s, e, t in (rts or [])],
    )


async def open_engine(fs: FileSystem, clock: Clock, *, replay: bool = True, options: TableOptions | None = None,
                      tablets: tuple[tuple[tuple[uuid.UUID, int], int, int], ...] = ((TABLET, MIN_TOKEN, MAX_TOKEN),),
                      **cfg: Any) -> StorageEngine:
    cfg.setdefault("compaction_enabled", False)
    eng = await StorageEngine.open(ROOT, StorageConfig(**cfg), clock=clock, fs=fs)
    eng.add_table(TABLE, options or TableOptions())
    for t, lo, hi in tablets:
        eng.add_tablet(t, lo, hi)
    if replay:
        await eng.replay_commitlog()
    return eng
