"""The coordinator's view of storage: (table, token) -> tablet -> replica, for reads and writes.

Owns routing a mutation or a read to the replicas of the tablet that holds its token and waiting for
the consistency level. On one node with one shard every replica is local, so this is a thin layer
over the shard's `StorageEngine`; the cross-shard and cross-node hops plug in here without changing
the statement layer above.

Tablet identity in storage is `(table_id, last_token)`: a tablet's last token survives a split of
its left neighbour and is what `system.tablets` keys tablets by.

Invariants: never report a write as successful before every replica required by the consistency
level acknowledged it; reads merge what replicas returned (one replica here).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

from storage.config import TableOptions
from storage.engine import StorageEngine
from storage.mutation import Mutation
from storage.read import PartitionData, Slice
from topology.tablets import TableTablets, first_token

TabletId = tuple[uuid.UUID, int]


class StorageProxy:
    def __init__(self, engine: StorageEngine, tablets_of: Callable[[uuid.UUID], TableTablets]) -> None:
        self._engine = engine
        self._tablets_of = tablets_of

    @property
    def engine(self) -> StorageEngine:
        return self._engine

    # --- schema hooks ---------------------------------------------------------------------

    def add_table(self, tablets: TableTablets, options: TableOptions) -> None:
        """Make the storage engine ready for a table's local tablets."""
        self._engine.add_table(tablets.table_id, options)
        for i, t in enumerate(tablets.tablets):
            self._engine.add_tablet(
                (tablets.table_id, t.last_token), tablets.first_token(i), t.last_token
            )

    # --- writes ---------------------------------------------------------------------------

    async def mutate(self, table_id: uuid.UUID, mutation: Mutation) -> None:
        tablet = self._tablets_of(table_id).tablet_for(mutation.token)
        await self._engine.apply((table_id, tablet.last_token), mutation)

    # --- reads ----------------------------------------------------------------------------

    def read(self, table_id: uuid.UUID, token: int, key: bytes, sl: Slice) -> PartitionData | None:
        tablet = self._tablets_of(table_id).tablet_for(token)
        return self._engine.read((table_id, tablet.last_token), token, key, sl)

    def scan(
        self, table_id: uuid.UUID, after: tuple[int, bytes] | None, start_token: int | None,
        end_token: int, sl: Slice,
    ) -> Iterator[PartitionData]:
        """Partitions with `start_token <= token <= end_token` (both optional bounds are inclusive),
        strictly after `after` when given, in (token, key) order across tablets."""
        tm = self._tablets_of(table_id)
        if after is None and start_token is not None and start_token > -(2**63):
            # "Strictly after (start_token - 1, b'')" admits every key of start_token; the few keys
            # of start_token - 1 it also admits are filtered below.
            after = (start_token - 1, b"")
        first_index = tm.index_of(after[0]) if after is not None else 0
        for i in range(first_index, tm.tablet_count):
            if first_token(i, tm.tablet_count) >= end_token:
                break
            last = tm.tablets[i].last_token
            for p in self._engine.scan((table_id, last), after, end_token, sl):
                if start_token is not None and p.token < start_token:
                    continue
                yield p
            after = None
