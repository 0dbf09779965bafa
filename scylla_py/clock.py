"""Server-side write timestamps.

Owns the generation of write timestamps (µs since the epoch) for statements that do not bring their
own. Invariant: strictly increasing within a process, even if the wall clock steps back, so two
writes issued in order by this shard never tie or reorder (a tie would let a tombstone win).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TimestampGenerator:
    def __init__(self, wall_clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._wall_clock_ns = wall_clock_ns
        self._last_us = 0

    def next_us(self) -> int:
        now = self._wall_clock_ns() // 1000
        if now <= self._last_us:
            now = self._last_us + 1
        self._last_us = now
        return now

    def now_s(self) -> int:
        return self._wall_clock_ns() // 1_000_000_000
