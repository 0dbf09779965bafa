"""A heartbeat-based failure detector: which peers have been heard from recently.

Owns: last-contact times per peer, fed by the server with every inbound message (raft heartbeats
flow every heartbeat interval, so no extra pings are needed while a leader exists).

Invariant: a peer is alive iff a message from it arrived less than `dead_after_s` ago, measured
with the injected monotonic clock. It is advisory only: safety never depends on it.

Must never: perform I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from raft.types import ServerId


class FailureDetector:
    def __init__(self, clock: Callable[[], float], dead_after_s: float) -> None:
        self._clock = clock
        self._dead_after_s = dead_after_s
        self._last_heard: dict[ServerId, float] = {}

    def heard_from(self, peer: ServerId) -> None:
        self._last_heard[peer] = self._clock()

    def is_alive(self, peer: ServerId) -> bool:
        last = self._last_heard.get(peer)
        return last is not None and self._clock() - last < self._dead_after_s

    def alive_peers(self) -> frozenset[ServerId]:
        now = self._clock()
        return frozenset(p for p, t in self._last_heard.items() if now - t < self._dead_after_s)
