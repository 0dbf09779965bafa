"""The `node` fixture: a REST server over an in-memory NodeAdmin (see fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scylla_py.rest.fakes import InMemoryAdmin, Node


@pytest.fixture
def node() -> Iterator[Node]:
    n = Node(InMemoryAdmin())
    yield n
    n.stop()
