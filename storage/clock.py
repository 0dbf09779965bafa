"""Wall-clock abstraction handed to the engine so tests can drive TTL expiry and gc_grace.

Invariant: `now_us() // 1_000_000 == now_s()` for one reading. The engine never calls `time`
directly for anything that affects data (expiry, purging, deletion times).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_us(self) -> int: ...

    def now_s(self) -> int: ...


class SystemClock:
    """The real wall clock."""

    def now_us(self) -> int:
        return time.time_ns() // 1000

    def now_s(self) -> int:
        return time.time_ns() // 1_000_000_000
