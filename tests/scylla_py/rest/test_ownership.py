"""Effective ownership arithmetic (rest/ownership.py): worked examples and the sum property
(every token range is held by RF nodes, so the fractions of all nodes sum to RF)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scylla_py.rest.admin import InvalidAdminRequest, TabletReplicas
from scylla_py.rest.ownership import replication_factor, tablet_ownership, vnode_ownership
from topology.tablets import TableTablets

MIN, MAX = -(2**63), 2**63 - 1
HOSTS = [uuid.UUID(int=i + 1) for i in range(5)]
ADDRESS = {h: f"10.0.0.{i + 1}" for i, h in enumerate(HOSTS)}
NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"


def _as_replicas(tt: TableTablets) -> list[TabletReplicas]:
    return [TabletReplicas(tt.first_token(i), t.last_token, t.replicas) for i, t in enumerate(tt.tablets)]


def test_one_tablet_on_one_node_is_everything() -> None:
    owned = tablet_ownership([TabletReplicas(MIN, MAX, ((HOSTS[0], 0),))], ADDRESS, ADDRESS.values())
    assert owned["10.0.0.1"] == 1.0
    assert owned["10.0.0.2"] == 0.0  # every endpoint is answered, owning nothing or not


def test_replicas_on_two_shards_of_one_host_count_once() -> None:
    owned = tablet_ownership([TabletReplicas(MIN, MAX, ((HOSTS[0], 0), (HOSTS[0], 1)))], ADDRESS, [])
    assert owned == {"10.0.0.1": 1.0}


def test_replica_on_an_unknown_host_counts_for_nobody() -> None:
    stranger = uuid.UUID(int=99)
    owned = tablet_ownership([TabletReplicas(MIN, 0, ((stranger, 0),)), TabletReplicas(0, MAX, ((HOSTS[1], 0),))],
                             ADDRESS, [])
    assert owned == {"10.0.0.2": pytest.approx(0.5)}


@given(st.integers(0, 6), st.integers(1, 5), st.integers(1, 5))
def test_tablet_fractions_sum_to_the_replication_factor(log_count: int, hosts: int, rf: int) -> None:
    shards = [(h, s) for h in HOSTS[:hosts] for s in range(2)]
    tt = TableTablets.allocate(uuid.uuid4(), 2**log_count, shards, rf)
    owned = tablet_ownership(_as_replicas(tt), ADDRESS, [ADDRESS[h] for h in HOSTS[:hosts]])
    assert sum(owned.values()) == pytest.approx(min(rf, hosts))
    assert all(0.0 <= f <= 1.0 for f in owned.values())


@pytest.mark.parametrize(("replication", "rf"), [
    ({"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}, 3),
    ({"class": NTS, "dc1": "2", "dc2": "1"}, 3),
    ({"class": "SimpleStrategy", "replication_factor": "1"}, 1),
    ({"class": "org.apache.cassandra.locator.LocalStrategy"}, None),
    ({"class": "org.apache.cassandra.locator.EverywhereStrategy"}, None),
])
def test_replication_factor(replication: dict[str, str], rf: int | None) -> None:
    assert replication_factor(replication) == rf


@pytest.mark.parametrize("replication", [
    {"class": "com.example.MoonStrategy"},
    {"class": "SimpleStrategy"},
    {"class": NTS, "dc1": "many"},
])
def test_bad_replication_is_an_admin_error(replication: dict[str, str]) -> None:
    with pytest.raises(InvalidAdminRequest):
        replication_factor(replication)


def test_vnode_ring_worked_example() -> None:
    # Tokens 0 (a), 2**62 (b), 2**63 - 1 (c). RF 1: a owns the range that wraps around,
    # (2**63 - 1, 0], half the ring; b owns (0, 2**62] and c (2**62, 2**63 - 1], a quarter each.
    ring = [(2**62, "b"), (0, "a"), (MAX, "c")]
    owned = vnode_ownership(ring, {"class": "SimpleStrategy", "replication_factor": "1"})
    assert owned == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})
    # RF 2: each range also goes to the next node clockwise (a's half to b, b's quarter to c,
    # c's quarter to a).
    owned = vnode_ownership(ring, {"class": "SimpleStrategy", "replication_factor": "2"})
    assert owned == pytest.approx({"a": 0.75, "b": 0.75, "c": 0.5})


def test_single_token_ring_is_the_whole_circle() -> None:
    assert vnode_ownership([(42, "a")], {"class": "SimpleStrategy", "replication_factor": "3"}) == {"a": 1.0}


@given(st.lists(st.tuples(st.integers(MIN + 1, MAX), st.sampled_from("abcde")), min_size=1, max_size=40,
                unique_by=lambda t: t[0]),
       st.integers(0, 6))
def test_vnode_fractions_sum_to_the_replication_factor(ring: list[tuple[int, str]], rf: int) -> None:
    owned = vnode_ownership(ring, {"class": NTS, "dc1": str(rf)})
    assert set(owned) == {endpoint for _t, endpoint in ring}
    assert sum(owned.values()) == pytest.approx(min(rf, len(owned)))
