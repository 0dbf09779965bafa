"""Python values for the CQL types that have no exact stdlib equivalent: date, time, duration.

Owns `Date`, `Time` and `Duration`. Their attribute names (`days_from_epoch`, `nanosecond_time`,
`months`/`days`/`nanoseconds`) are the cassandra-driver's, so values pass between this server's
type layer and driver-built values by duck typing, without importing the driver.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

EPOCH_DATE = datetime.date(1970, 1, 1)
NANOS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True, order=True)
class Date:
    """A CQL `date`: signed days since 1970-01-01 (wire: unsigned, epoch at 2**31)."""

    days_from_epoch: int

    def date(self) -> datetime.date:
        """The stdlib date; raises OverflowError/ValueError outside years 1..9999."""
        return EPOCH_DATE + datetime.timedelta(days=self.days_from_epoch)

    def __str__(self) -> str:
        try:
            return self.date().isoformat()
        except (OverflowError, ValueError):
            return str(self.days_from_epoch)


@dataclass(frozen=True, slots=True, order=True)
class Time:
    """A CQL `time`: nanoseconds since midnight, 0 <= n < 86400 * 10**9."""

    nanosecond_time: int

    def __str__(self) -> str:
        n = self.nanosecond_time
        secs, nanos = divmod(n, 1_000_000_000)
        h, rem = divmod(secs, 3600)
        m, s = divmod(rem, 60)
        return f"{h:02d}:{m:02d}:{s:02d}.{nanos:09d}"


@dataclass(frozen=True, slots=True)
class Duration:
    """A CQL `duration`: months, days and nanoseconds, all of one sign (no total order)."""

    months: int = 0
    days: int = 0
    nanoseconds: int = 0
