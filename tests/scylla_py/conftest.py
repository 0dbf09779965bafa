"""Fixtures shared by the end-to-end tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ServerProcess
from tests.scylla_py.test_fast_paths import SHARDS, _OnShard


@pytest.fixture
def on_shards(server: ServerProcess) -> Iterator[list[_OnShard]]:
    """One driver session per shard of `server` (a node of `SHARDS` shards, as the requesting
    module's `server` fixture starts it), each served only by its shard."""
    sessions: list[_OnShard] = []
    try:
        for shard in range(SHARDS):
            sessions.append(_OnShard(server, shard))
        yield sessions
    finally:
        for s in sessions:
            s.close()
