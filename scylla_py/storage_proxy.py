"""The coordinator's view of storage: (table, token) -> tablet -> replica, for reads and writes.

Owns routing a mutation or a read to the replica of the tablet that holds its token: the local
`StorageEngine` when this shard is the replica, otherwise the owning shard over the shard RPC
channel (one extra hop, counted in the shard's `ShardMetrics.cross_shard_ops`). Also owns the replica side of those hops
(`ReplicaService`): the handlers another shard's proxy calls, and the wire shapes of what they
carry.

Tablet identity in storage is `(table_id, last_token)`: a tablet's last token survives a split of
its left neighbour and is what `system.tablets` keys tablets by.

Invariants:
- never report a write as successful before the replica acknowledged it (durable per
  commitlog_sync on that shard); a lost hop raises, it never reports success;
- reads return exactly what the replica's engine returned, in (token, key) order for scans;
- a shard only ever opens storage for tablets whose replica list names (this host, this shard).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from cql.errors import Unavailable
from storage.codec import PlainSummary, mutation_from_obj, mutation_to_obj, row_from_obj, row_to_obj
from storage.config import TableOptions
from storage.engine import StorageEngine
from storage.mutation import Mutation
from storage.read import PartitionData, PointRow, Slice
from topology.tablets import TableTablets, TabletInfo, first_token, tablet_index

from .metrics import ShardMetrics
from .shard_rpc import ShardPeers, ShardUnavailable

TabletId = tuple[uuid.UUID, int]

# A remote scan returns at most this many partitions per hop; the caller asks again for more.
SCAN_BATCH = 256


# --- wire shapes of replica calls ------------------------------------------------------------


def slice_to_obj(sl: Slice) -> list[Any]:
    return [
        [list(r) for r in sl.ranges] if sl.ranges is not None else None,
        sl.reverse,
        sorted(sl.columns) if sl.columns is not None else None,
        sl.row_limit,
        sl.now_s,
    ]


def slice_from_obj(o: list[Any]) -> Slice:
    ranges, reverse, columns, row_limit, now_s = o
    return Slice(
        tuple((bytes(a), bytes(b)) for a, b in ranges) if ranges is not None else None,
        reverse, frozenset(columns) if columns is not None else None, row_limit, now_s,
    )


def partition_to_obj(p: PartitionData) -> list[Any]:
    rows: list[Any] = []
    for ck, row in p.rows:
        rows.append(ck)
        rows.append(row_to_obj(row))
    return [p.token, p.key, row_to_obj(p.static_row) if p.static_row is not None else None, rows]


def partition_from_obj(o: list[Any]) -> PartitionData:
    token, key, static, flat = o
    rows = [(flat[i], row_from_obj(flat[i + 1])) for i in range(0, len(flat), 2)]
    return PartitionData(token, key, row_from_obj(static) if static is not None else None, rows)


_NOT_HERE = -1  # placement of a tablet with no replica on this node


def _no_replica() -> Unavailable:
    return Unavailable("No replica of this tablet is on this node", 0x000A, 1, 0)


def _unavailable(e: ShardUnavailable) -> Unavailable:
    # LOCAL_ONE semantics on one node: the only replica is down (its shard is restarting).
    return Unavailable(f"Cannot achieve consistency level: the replica ({e}) is unavailable", 0x000A, 1, 0)


class StorageProxy:
    def __init__(
        self,
        engine: StorageEngine,
        host_id: uuid.UUID,
        shard: int,
        tablets: Callable[[], Mapping[uuid.UUID, TableTablets]],
        peers: ShardPeers,
        metrics: ShardMetrics,
    ) -> None:
        self._engine = engine
        self._host_id = host_id
        self._shard = shard
        self._tablets = tablets  # the current tablet maps (an immutable mapping, replaced on change)
        self._peers = peers
        self._metrics = metrics
        # table id (as an int: hashing a UUID runs Python code) -> per tablet (owning shard or
        # _NOT_HERE, storage tablet id), valid for the tablet maps object `_placements_of`.
        self._placements: dict[int, tuple[tuple[int, tuple[uuid.UUID, int]], ...]] = {}
        self._placements_of: Mapping[uuid.UUID, TableTablets] | None = None

    @property
    def engine(self) -> StorageEngine:
        return self._engine

    @property
    def shard(self) -> int:
        return self._shard

    @property
    def peers(self) -> ShardPeers:
        return self._peers

    # --- placement ------------------------------------------------------------------------

    def owner_shard(self, tablet: TabletInfo) -> int:
        """The shard of this node holding `tablet` (its first replica on this host)."""
        for host, shard in tablet.replicas:
            if host == self._host_id:
                return shard
        raise _no_replica()

    def _placement(self, table_id: uuid.UUID, token: int) -> tuple[int, tuple[uuid.UUID, int]]:
        """(owning shard, storage tablet id) of `token`'s tablet: the per-request lookup, cached
        per tablet map so a request does no replica scan."""
        maps = self._tablets()
        if maps is not self._placements_of:  # schema or tablets changed since: start over
            self._placements.clear()
            self._placements_of = maps
        per_tablet = self._placements.get(table_id.int)
        if per_tablet is None:
            per_tablet = self._placements[table_id.int] = tuple(
                (self._shard if self.is_local(t) else self._owner_or_not_here(t), (table_id, t.last_token))
                for t in maps[table_id].tablets
            )
        return per_tablet[tablet_index(token, len(per_tablet))]

    def _owner_or_not_here(self, tablet: TabletInfo) -> int:
        for host, shard in tablet.replicas:
            if host == self._host_id:
                return shard
        return _NOT_HERE

    def is_local(self, tablet: TabletInfo) -> bool:
        return (self._host_id, self._shard) in tablet.replicas

    def foreign_owner(self, table_id: uuid.UUID, token: int) -> int | None:
        """The shard holding `token`'s tablet when it is not this one."""
        shard = self._placement(table_id, token)[0]
        if shard == _NOT_HERE:
            raise _no_replica()
        return None if shard == self._shard else shard

    def routing_hint(self, table_id: uuid.UUID, token: int) -> tuple[int, int, TabletInfo] | None:
        """(first_token, last_token, tablet) when this shard is not a replica of the tablet that
        holds `token` — what a `tablets-routing-v1` payload tells the driver."""
        tm = self._tablets()[table_id]
        i = tm.index_of(token)
        t = tm.tablets[i]
        if self.is_local(t):
            return None
        return tm.first_token(i), t.last_token, t

    def add_table(self, tablets: TableTablets, options: TableOptions) -> None:
        """Make the storage engine ready for a table's tablets placed on this shard."""
        self._engine.add_table(tablets.table_id, options)
        for i, t in enumerate(tablets.tablets):
            if self.is_local(t):
                self._engine.add_tablet((tablets.table_id, t.last_token), tablets.first_token(i), t.last_token)

    # --- writes ---------------------------------------------------------------------------

    def mutate(self, table_id: uuid.UUID, mutation: Mutation) -> Awaitable[None]:
        """Apply `mutation` on the shard that owns it; await the result. A local write hands back
        the engine's own coroutine: one coroutine fewer per write on the hot path."""
        shard, tablet_id = self._placement(table_id, mutation.token)
        if shard == self._shard:
            return self._engine.apply(tablet_id, mutation)
        if shard == _NOT_HERE:
            raise _no_replica()
        return self._remote_mutate(shard, table_id, tablet_id, mutation)

    async def _remote_mutate(self, shard: int, table_id: uuid.UUID, tablet_id: tuple[uuid.UUID, int],
                             mutation: Mutation) -> None:
        self._metrics.cross_shard_ops += 1
        try:
            await self._peers.call(shard, "apply", [table_id.bytes, tablet_id[1], mutation_to_obj(mutation)])
        except ShardUnavailable as e:
            raise _unavailable(e) from None

    def mutate_encoded(self, table_id: uuid.UUID, token: int, key: bytes, payload: bytes,
                       summary: PlainSummary | None) -> Awaitable[None] | None:
        """`mutate` of a write already encoded for storage (`StorageEngine.apply_encoded`):
        partition (token, key), `payload` and `summary` as `encode_mutation_summarized` would
        make them. Crosses to the owning shard as the bytes themselves.

        None when the write is done already (a local write that did not have to wait, see
        `StorageEngine.apply_encoded_now`), else an awaitable the caller must await before
        reporting success. Raises at the call when this node holds no replica."""
        shard, tablet_id = self._placement(table_id, token)
        if shard == self._shard:
            return self._engine.apply_encoded_now(tablet_id, token, key, payload, summary)
        if shard == _NOT_HERE:
            raise _no_replica()
        return self._remote_mutate_encoded(shard, table_id, tablet_id, token, key, payload, summary)

    async def _remote_mutate_encoded(self, shard: int, table_id: uuid.UUID, tablet_id: tuple[uuid.UUID, int],
                                     token: int, key: bytes, payload: bytes,
                                     summary: PlainSummary | None) -> None:
        self._metrics.cross_shard_ops += 1
        try:
            await self._peers.call(shard, "apply_encoded", [table_id.bytes, tablet_id[1], token, key, payload,
                                                            summary])
        except ShardUnavailable as e:
            raise _unavailable(e) from None

    # --- reads ----------------------------------------------------------------------------

    async def read(self, table_id: uuid.UUID, token: int, key: bytes, sl: Slice) -> PartitionData | None:
        shard, tablet_id = self._placement(table_id, token)
        if shard == self._shard:
            return self._engine.read(tablet_id, token, key, sl)
        if shard == _NOT_HERE:
            raise _no_replica()
        self._metrics.cross_shard_ops += 1
        try:
            o = await self._peers.call(shard, "read", [table_id.bytes, tablet_id[1], token, key,
                                                       slice_to_obj(sl)])
        except ShardUnavailable as e:
            raise _unavailable(e) from None
        return partition_from_obj(o) if o is not None else None

    def read_row(self, table_id: uuid.UUID, token: int, key: bytes, ck: bytes, positions: Mapping[str, int],
                 width: int, sl: Slice) -> PointRow | PartitionData | Awaitable[PartitionData | None]:
        """The point-read lane (`StorageEngine.read_row`) when this shard owns the partition;
        otherwise `read(table_id, token, key, sl)`, to await (the lane does not hop)."""
        shard, tablet_id = self._placement(table_id, token)
        if shard == self._shard:
            return self._engine.read_row(tablet_id, token, key, ck, positions, width, sl)
        return self.read(table_id, token, key, sl)

    async def scan(
        self, table_id: uuid.UUID, after: tuple[int, bytes] | None, start_token: int | None,
        end_token: int, sl: Slice,
    ) -> AsyncIterator[PartitionData]:
        """Partitions with `start_token <= token <= end_token` (both optional bounds are inclusive),
        strictly after `after` when given, in (token, key) order across tablets."""
        tm = self._tablets()[table_id]
        if after is None and start_token is not None and start_token > -(2**63):
            # "Strictly after (start_token - 1, b'')" admits every key of start_token; the few keys
            # of start_token - 1 it also admits are filtered below.
            after = (start_token - 1, b"")
        first_index = tm.index_of(after[0]) if after is not None else 0
        for i in range(first_index, tm.tablet_count):
            if first_token(i, tm.tablet_count) >= end_token:
                break
            tablet = tm.tablets[i]
            if self.is_local(tablet):
                for p in self._engine.scan((table_id, tablet.last_token), after, end_token, sl):
                    if start_token is not None and p.token < start_token:
                        continue
                    yield p
            else:
                async for p in self._remote_scan(table_id, tablet, after, end_token, sl):
                    if start_token is not None and p.token < start_token:
                        continue
                    yield p
            after = None

    async def _remote_scan(
        self, table_id: uuid.UUID, tablet: TabletInfo, after: tuple[int, bytes] | None, end_token: int, sl: Slice,
    ) -> AsyncIterator[PartitionData]:
        shard = self.owner_shard(tablet)
        sl_obj = slice_to_obj(sl)
        while True:
            self._metrics.cross_shard_ops += 1
            try:
                batch, more = await self._peers.call(shard, "scan", [
                    table_id.bytes, tablet.last_token, list(after) if after is not None else None, end_token,
                    sl_obj, SCAN_BATCH,
                ])
            except ShardUnavailable as e:
                raise _unavailable(e) from None
            for o in batch:
                p = partition_from_obj(o)
                after = (p.token, p.key)
                yield p
            if not more:
                return

    # --- table-wide operations ------------------------------------------------------------

    async def truncate(self, table_id: uuid.UUID, truncated_at_us: int) -> None:
        """Truncate the table on every shard of this node (each holds some of its tablets)."""
        await self._engine.truncate(table_id, truncated_at_us)
        try:
            await self._peers.call_all("truncate", [table_id.bytes, truncated_at_us])
        except ShardUnavailable as e:
            raise _unavailable(e) from None


class ReplicaService:
    """The replica side of cross-shard hops: RPC handlers over this shard's engine."""

    def __init__(self, engine: StorageEngine) -> None:
        self._engine = engine

    def handlers(self) -> dict[str, Callable[[Any], Any]]:
        return {"apply": self.apply, "apply_encoded": self.apply_encoded, "read": self.read, "scan": self.scan,
                "truncate": self.truncate}

    async def apply(self, o: list[Any]) -> None:
        table_id, last_token, m = o
        await self._engine.apply((uuid.UUID(bytes=table_id), last_token), mutation_from_obj(m))

    async def apply_encoded(self, o: list[Any]) -> None:
        table_id, last_token, token, key, payload, summary = o
        await self._engine.apply_encoded((uuid.UUID(bytes=table_id), last_token), token, key, payload,
                                         None if summary is None else (summary[0], summary[1], summary[2]))

    async def read(self, o: list[Any]) -> list[Any] | None:
        table_id, last_token, token, key, sl = o
        p = self._engine.read((uuid.UUID(bytes=table_id), last_token), token, key, slice_from_obj(sl))
        return partition_to_obj(p) if p is not None else None

    async def scan(self, o: list[Any]) -> list[Any]:
        table_id, last_token, after, end_token, sl, limit = o
        out: list[Any] = []
        it = self._engine.scan((uuid.UUID(bytes=table_id), last_token),
                               (after[0], after[1]) if after is not None else None, end_token, slice_from_obj(sl))
        for p in it:
            if len(out) >= limit:
                return [out, True]
            out.append(partition_to_obj(p))
        return [out, False]

    async def truncate(self, o: list[Any]) -> None:
        table_id, at = o
        await self._engine.truncate(uuid.UUID(bytes=table_id), at)
