from __future__ import annotations

from scylla_py.clock import TimestampGenerator


def test_timestamps_increase_even_when_the_clock_steps_back() -> None:
    readings = iter([5_000_000, 5_000_000, 4_000_000, 9_000_000])
    gen = TimestampGenerator(lambda: next(readings))
    assert [gen.next_us() for _ in range(4)] == [5000, 5001, 5002, 9000]
