"""A log-bucketed latency histogram (HdrHistogram's layout, simplified), mergeable across processes.

Owns the bucket arithmetic and the percentile queries of `scylla-py stress`. Values are integer
microseconds. Values below 128 µs get one exact bucket each; above, each power-of-two range
[2**k, 2**(k+1)) is cut into 64 equal buckets, so a reported percentile is within 1/64 (1.6%) of
the true value. `record()` is on the hot path: one bit_length, a shift and a list increment.

Invariant: `count` is the sum of the buckets; `max_us`/`min_us` are exact; merging adds buckets,
so the histogram of a run is the merge of its intervals' histograms, in any order.
"""

from __future__ import annotations

from typing import Final, TypedDict

_SUB_BITS: Final = 6
_SUB: Final = 1 << _SUB_BITS  # 64 buckets per power of two
_EXACT: Final = 2 * _SUB  # 0..127 µs: one bucket per value
# 2**40 µs is 12.7 days: anything longer is clamped into the last bucket.
_MAX_SHIFT: Final = 40 - _SUB_BITS
BUCKETS: Final = _EXACT + _MAX_SHIFT * _SUB


def bucket_of(value_us: int) -> int:
    if value_us < _EXACT:
        return value_us if value_us > 0 else 0
    shift = value_us.bit_length() - _SUB_BITS - 1
    if shift > _MAX_SHIFT:
        return BUCKETS - 1
    return _EXACT + (shift - 1) * _SUB + (value_us >> shift) - _SUB


def bucket_upper_us(index: int) -> int:
    """The largest value that falls into bucket `index`."""
    if index < _EXACT:
        return index
    shift = (index - _EXACT) // _SUB + 1
    mantissa = (index - _EXACT) % _SUB + _SUB
    return ((mantissa + 1) << shift) - 1


class LatencyHistogram:
    __slots__ = ("buckets", "count", "max_us", "min_us", "sum_us")

    def __init__(self) -> None:
        self.buckets = [0] * BUCKETS
        self.count = 0
        self.sum_us = 0
        self.max_us = 0
        self.min_us = 0

    def record(self, value_us: int) -> None:
        if value_us < _EXACT:
            self.buckets[value_us if value_us > 0 else 0] += 1
        else:
            self.buckets[bucket_of(value_us)] += 1
        if value_us > self.max_us:
            self.max_us = value_us
        if value_us < self.min_us or not self.count:
            self.min_us = value_us
        self.count += 1
        self.sum_us += value_us

    def merge(self, other: LatencyHistogram) -> None:
        if not other.count:
            return
        mine = self.buckets
        for i, n in enumerate(other.buckets):
            if n:
                mine[i] += n
        self.min_us = other.min_us if not self.count else min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.count += other.count
        self.sum_us += other.sum_us

    def percentile_us(self, fraction: float) -> int:
        """The value at or below which `fraction` (0..1) of the recorded values fall (0 if empty),
        as the upper edge of its bucket, capped at the exact maximum."""
        if not self.count:
            return 0
        rank = max(1, -(-int(fraction * self.count * 1_000_000) // 1_000_000))  # ceil, no float drift
        seen = 0
        for i, n in enumerate(self.buckets):
            seen += n
            if seen >= rank:
                return min(bucket_upper_us(i), self.max_us)
        return self.max_us

    @property
    def mean_us(self) -> float:
        return self.sum_us / self.count if self.count else 0.0

    def to_sparse(self) -> SparseHistogram:
        """A compact picklable form: only the non-empty buckets."""
        return {
            "buckets": {i: n for i, n in enumerate(self.buckets) if n},
            "count": self.count, "sum_us": self.sum_us, "max_us": self.max_us, "min_us": self.min_us,
        }

    @classmethod
    def from_sparse(cls, data: SparseHistogram) -> LatencyHistogram:
        h = cls()
        for i, n in data["buckets"].items():
            h.buckets[i] = n
        h.count = data["count"]
        h.sum_us = data["sum_us"]
        h.max_us = data["max_us"]
        h.min_us = data["min_us"]
        return h


class SparseHistogram(TypedDict):
    buckets: dict[int, int]
    count: int
    sum_us: int
    max_us: int
    min_us: int
