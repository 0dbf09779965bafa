"""Tablet arithmetic: boundaries, token lookup and placement follow ScyllaDB 6's rules."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from topology.tablets import (
    MAX_TOKEN,
    MIN_TOKEN,
    TableTablets,
    default_tablet_count,
    first_token,
    last_token,
    shard_of_token,
    tablet_index,
)

tokens = st.integers(min_value=MIN_TOKEN + 1, max_value=MAX_TOKEN)
counts = st.sampled_from([1, 2, 4, 8, 16, 64, 1024])


def test_boundaries_of_four_tablets() -> None:
    assert [last_token(i, 4) for i in range(4)] == [
        -(2**62) - 1,  # -2**63 + 2**62 - 1: the end of the first quarter
        -1,
        2**62 - 1,
        MAX_TOKEN,
    ]
    assert first_token(0, 4) == MIN_TOKEN


@given(tokens, counts)
def test_token_falls_inside_its_tablet(token: int, count: int) -> None:
    i = tablet_index(token, count)
    assert 0 <= i < count
    assert first_token(i, count) < token <= last_token(i, count)


@given(tokens)
def test_one_tablet_owns_everything(token: int) -> None:
    assert tablet_index(token, 1) == 0


def test_shard_of_token_matches_scylla_driver_formula() -> None:
    # Example computed by hand from CLIENT-COMPAT.md: token 0 biased is 2**63; shifted left by 12
    # bits mod 2**64 is 0, so shard 0 for any shard count.
    assert shard_of_token(0, 4) == 0
    assert shard_of_token(MAX_TOKEN, 1) == 0
    assert {shard_of_token(t, 2) for t in range(-(2**60), 2**60, 2**50)} == {0, 1}


def test_allocate_spreads_over_shards_and_hosts() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    shards = [(a, 0), (a, 1), (b, 0), (b, 1)]
    tm = TableTablets.allocate(uuid.uuid4(), 8, shards, replication_factor=2)
    assert tm.tablet_count == 8
    for t in tm.tablets:
        assert len({h for h, _ in t.replicas}) == 2
    primaries = [t.replicas[0] for t in tm.tablets]
    assert all(primaries.count(s) == 2 for s in shards)


def test_default_tablet_count_is_power_of_two() -> None:
    assert default_tablet_count(1) == 1
    assert default_tablet_count(3, 10) == 32
    assert default_tablet_count(2, 4) == 8
