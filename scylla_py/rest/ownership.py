"""Effective ownership: the fraction of the token ring whose data each node holds a replica of.

Owns the arithmetic behind GET /storage_service/ownership/{keyspace} (what `nodetool status
<keyspace> [<table>]` prints as "Owns (effective)"). Pure functions over plain data: no I/O, no
node state.

- A tablets table: tablet i covers the tokens (first_token, last_token]; a node owns the sum of
  the sizes of the tablets it is a replica of, over the size of the whole token range
  (INT64_MIN, INT64_MAX], which the tablets cover exactly. With RF replicas per tablet the
  fractions of all nodes sum to RF.
- A vnodes keyspace: the ring of (token, endpoint) is walked clockwise; the range (previous token,
  token] is replicated on the endpoint of that token and the next distinct endpoints until RF are
  found (SimpleStrategy placement). NetworkTopologyStrategy counts the RF of every datacenter
  together and ignores racks, which is exact for one datacenter. LocalStrategy and
  EverywhereStrategy keyspaces are held whole by every node.

Invariant: every endpoint passed in appears in the answer (0.0 when it owns nothing), because
nodetool looks ownership up by endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

from scylla_py.rest.admin import InvalidAdminRequest, TabletReplicas

__all__ = ["replication_factor", "tablet_ownership", "vnode_ownership"]

_TABLET_SPACE = 2**64 - 1  # the tokens (INT64_MIN, INT64_MAX]
_RING_SPACE = 2**64  # the vnode ring is a circle: its ranges wrap around through INT64_MIN

# Strategies whose keyspaces every node holds in full (None: no replication factor applies).
_WHOLE_ON_EVERY_NODE = ("LocalStrategy", "EverywhereStrategy")


def tablet_ownership(
    tablets: Sequence[TabletReplicas], address_of: Mapping[uuid.UUID, str], endpoints: Iterable[str],
) -> dict[str, float]:
    """Endpoint -> fraction of the table's token range it holds a replica of.

    `address_of` maps host ids to addresses; a replica on a host missing from it is counted for
    nobody (it is not an endpoint anyone can look up).
    """
    owned = dict.fromkeys(endpoints, 0)
    for tablet in tablets:
        size = tablet.last_token - tablet.first_token
        for host in {host for host, _shard in tablet.replicas}:
            address = address_of.get(host)
            if address is not None:
                owned[address] = owned.get(address, 0) + size
    return {endpoint: size / _TABLET_SPACE for endpoint, size in owned.items()}


def replication_factor(replication: Mapping[str, str]) -> int | None:
    """Replicas per token range for a vnodes keyspace; None when every node holds it whole."""
    class_name = replication.get("class", "").rsplit(".", 1)[-1]
    try:
        if class_name in _WHOLE_ON_EVERY_NODE:
            return None
        if class_name == "SimpleStrategy":
            return int(replication["replication_factor"])
        if class_name == "NetworkTopologyStrategy":
            return sum(int(rf) for option, rf in replication.items() if option != "class")
    except (KeyError, ValueError):
        raise InvalidAdminRequest(f"Invalid replication options {dict(replication)}") from None
    raise InvalidAdminRequest(f"Unsupported replication strategy {replication.get('class')!r}")


def vnode_ownership(ring: Sequence[tuple[int, str]], replication: Mapping[str, str]) -> dict[str, float]:
    """Endpoint -> fraction of the ring it holds a replica of. `ring` is (token, endpoint)."""
    ring = sorted(ring)
    endpoints = list(dict.fromkeys(endpoint for _token, endpoint in ring))
    rf = replication_factor(replication)
    if rf is None:
        return dict.fromkeys(endpoints, 1.0)
    rf = min(rf, len(endpoints))
    owned = dict.fromkeys(endpoints, 0)
    for i, (token, _endpoint) in enumerate(ring):
        # Range (previous token, token]; with a single token it is the whole circle.
        size = _RING_SPACE if len(ring) == 1 else (token - ring[i - 1][0]) % _RING_SPACE
        replicas: list[str] = []
        j = i
        while len(replicas) < rf:
            candidate = ring[j % len(ring)][1]
            if candidate not in replicas:
                replicas.append(candidate)
            j += 1
        for endpoint in replicas:
            owned[endpoint] += size
    return {endpoint: size / _RING_SPACE for endpoint, size in owned.items()}
