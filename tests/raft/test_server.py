"""The asyncio RaftServer over the in-memory network and in-memory files (real core, real
persistence code, real codec): the client API, restarts, membership, snapshots."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from raft.errors import CommitStatusUnknown, DroppedEntry, NotLeader, ReadBarrierFailed
from raft.failure_detector import FailureDetector
from raft.fs import MemoryFileSystem
from raft.persistence import FilePersistence
from raft.server import RaftServer, ServerConfig
from raft.transport import InMemoryNetwork
from raft.types import ServerId

FAST = ServerConfig(tick_ms=5, election_timeout_ticks=10, heartbeat_ticks=1, request_timeout_s=3.0)


class ListMachine:
    """A state machine that records applied commands (the snapshot is the whole list)."""

    def __init__(self) -> None:
        self.items: list[bytes] = []

    async def apply(self, commands: Sequence[bytes]) -> None:
        self.items.extend(commands)

    async def take_snapshot(self) -> bytes:
        return b"\x00".join(self.items)

    async def load_snapshot(self, data: bytes) -> None:
        self.items = data.split(b"\x00") if data else []


class Cluster:
    def __init__(self, config: ServerConfig = FAST) -> None:
        self.net = InMemoryNetwork()
        self.config = config
        self.fs: dict[ServerId, MemoryFileSystem] = {}
        self.servers: dict[ServerId, RaftServer] = {}
        self.machines: dict[ServerId, ListMachine] = {}

    def _persistence(self, sid: ServerId) -> FilePersistence:
        fs = self.fs.setdefault(sid, MemoryFileSystem())
        return FilePersistence(fs, f"/{sid}")

    async def start(self, sid: ServerId, voters: Sequence[ServerId] | None = None) -> RaftServer:
        p = self._persistence(sid)
        if not p.is_initialized():
            if voters:
                RaftServer.bootstrap(p, voters)
            else:
                RaftServer.prepare_to_join(p)
        sm = self.machines[sid] = ListMachine()
        srv = RaftServer(sid, p, self.net.transport(sid), sm, self.config)
        await srv.start()
        self.servers[sid] = srv
        return srv

    async def stop(self, sid: ServerId) -> None:
        await self.servers.pop(sid).stop()

    async def leader(self) -> RaftServer:
        for _ in range(400):
            leaders = [s for s in self.servers.values() if s.is_leader]
            if len(leaders) == 1:
                return leaders[0]
            await asyncio.sleep(0.01)
        raise AssertionError("no leader")

    async def stop_all(self) -> None:
        for sid in list(self.servers):
            await self.stop(sid)


IDS = [ServerId("a"), ServerId("b"), ServerId("c")]


async def _three() -> Cluster:
    c = Cluster()
    for sid in IDS:
        await c.start(sid, IDS)
    return c


async def _eventually(cond: object, timeout_s: float = 3.0) -> None:
    assert callable(cond)
    for _ in range(int(timeout_s / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_add_entry_on_leader_and_follower_and_read_barrier() -> None:
    async def main() -> None:
        c = await _three()
        try:
            leader = await c.leader()
            await leader.add_entry(b"one")
            assert c.machines[leader.id].items == [b"one"]
            follower = next(s for s in c.servers.values() if not s.is_leader)
            await follower.add_entry(b"two")  # forwarded to the leader (thesis §6.2)
            assert c.machines[follower.id].items == [b"one", b"two"]
            other = next(s for s in c.servers.values() if s is not follower and not s.is_leader)
            await other.read_barrier()  # linearizable: it must see both writes now
            assert c.machines[other.id].items == [b"one", b"two"]
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_not_leader_carries_the_leader_id() -> None:
    async def main() -> None:
        c = Cluster(ServerConfig(tick_ms=5, election_timeout_ticks=10, heartbeat_ticks=1, forward_proposals=False))
        for sid in IDS:
            await c.start(sid, IDS)
        try:
            leader = await c.leader()
            follower = next(s for s in c.servers.values() if not s.is_leader)
            await _eventually(lambda: follower.leader_id == leader.id)
            with pytest.raises(NotLeader) as info:
                await follower.add_entry(b"x")
            assert info.value.leader_id == leader.id
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_isolated_leader_cannot_commit_and_a_new_leader_takes_over() -> None:
    async def main() -> None:
        c = await _three()
        try:
            old = await c.leader()
            await old.add_entry(b"before")
            c.net.isolate(old.id)
            with pytest.raises((CommitStatusUnknown, DroppedEntry)):
                await asyncio.wait_for(old.add_entry(b"lost"), 5)
            new = await c.leader()
            assert new.id != old.id
            await new.add_entry(b"after")
            c.net.heal()
            await _eventually(lambda: c.machines[old.id].items == [b"before", b"after"])
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_restart_replays_from_disk() -> None:
    async def main() -> None:
        c = await _three()
        try:
            leader = await c.leader()
            for i in range(5):
                await leader.add_entry(b"%d" % i)
            victim = next(s for s in c.servers.values() if not s.is_leader).id
            await c.stop(victim)
            c.fs[victim].crash()  # only what was fsynced survives
            srv = await c.start(victim)
            await srv.read_barrier()
            assert c.machines[victim].items == [b"%d" % i for i in range(5)]
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_join_as_learner_then_voter_and_remove() -> None:
    async def main() -> None:
        c = await _three()
        try:
            leader = await c.leader()
            await leader.add_entry(b"x")
            d = ServerId("d")
            await c.start(d)  # empty configuration: waits to be added
            await leader.modify_config(add=[d])
            cfg = leader.configuration
            assert d in cfg.voters and not cfg.is_joint
            await _eventually(lambda: c.machines[d].items == [b"x"])
            victim = next(s for s in IDS if s != leader.id)
            await leader.modify_config(remove=[victim])
            assert victim not in leader.configuration.members
            await leader.add_entry(b"y")
            await _eventually(lambda: c.machines[d].items == [b"x", b"y"])
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_transfer_leadership() -> None:
    async def main() -> None:
        c = await _three()
        try:
            leader = await c.leader()
            target = next(s for s in IDS if s != leader.id)
            await leader.transfer_leadership(target)
            await _eventually(lambda: c.servers[target].is_leader)
            await c.servers[target].add_entry(b"from the new leader")
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_snapshot_by_log_size_and_install_on_a_new_server() -> None:
    async def main() -> None:
        c = Cluster(ServerConfig(tick_ms=5, election_timeout_ticks=10, heartbeat_ticks=1,
                                 snapshot_threshold_bytes=2000, snapshot_trailing_entries=5))
        for sid in IDS:
            await c.start(sid, IDS)
        try:
            leader = await c.leader()
            await asyncio.gather(*(leader.add_entry(b"v%03d" % i) for i in range(200)))
            await _eventually(lambda: leader.core.log.snapshot.index > 0)
            d = ServerId("d")
            await c.start(d)
            await leader.modify_config(add=[d])
            await _eventually(lambda: len(c.machines[d].items) == 200)
            assert c.machines[d].items == c.machines[leader.id].items
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_unknown_and_misaddressed_messages_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    from raft import messages as m
    from raft.types import Index, Term

    async def main() -> None:
        c = await _three()
        try:
            leader = await c.leader()
            await leader.add_entry(b"x")
            before = (leader.term, leader.core.log.last_index)
            # An intruder claiming a huge term must not depose the leader.
            c.net.transport(ServerId("intruder")).send(
                m.VoteRequest(ServerId("intruder"), leader.id, Term(99), Index(99), Term(99)))
            await asyncio.sleep(0.05)
            assert (leader.term, leader.core.log.last_index) == before and leader.is_leader
        finally:
            await c.stop_all()

    with caplog.at_level(logging.WARNING, logger="raft"):
        asyncio.run(main())
    assert "unknown server intruder" in caplog.text


def test_failure_detector() -> None:
    now = [0.0]
    fd = FailureDetector(lambda: now[0], dead_after_s=1.0)
    assert not fd.is_alive(ServerId("a"))
    fd.heard_from(ServerId("a"))
    now[0] = 0.5
    assert fd.is_alive(ServerId("a")) and fd.alive_peers() == {ServerId("a")}
    now[0] = 1.6
    assert not fd.is_alive(ServerId("a"))


def test_read_barrier_fails_on_an_isolated_leader() -> None:
    """§6.4: a leader cut off from its quorum cannot confirm a read; it must not serve stale
    data, so the barrier fails instead of returning."""
    async def main() -> None:
        c = Cluster(ServerConfig(tick_ms=5, election_timeout_ticks=10, heartbeat_ticks=1, request_timeout_s=0.5))
        for sid in IDS:
            await c.start(sid, IDS)
        try:
            leader = await c.leader()
            await leader.add_entry(b"x")
            c.net.isolate(leader.id)
            with pytest.raises(ReadBarrierFailed):
                await leader.read_barrier()
        finally:
            await c.stop_all()

    asyncio.run(main())


def test_leader_removes_itself_and_hands_off() -> None:
    """§4.2.2: the leader commits C_new without itself, steps down, and another server leads."""
    async def main() -> None:
        c = await _three()
        try:
            old = await c.leader()
            await old.add_entry(b"x")
            await old.modify_config(remove=[old.id])
            assert not old.is_leader and old.id not in old.configuration.members
            await c.stop(old.id)
            new = await c.leader()
            await new.add_entry(b"y")
            assert c.machines[new.id].items == [b"x", b"y"]
        finally:
            await c.stop_all()

    asyncio.run(main())
