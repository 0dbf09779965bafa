"""The `tablets-routing-v1` custom-payload value (ScyllaDB protocol-extensions.md, "Tablets routing v1").

Owns the serialization of the routing hint a RESULT carries (frame flag 0x04, key
`tablets-routing-v1`) when a request for a tablet table reached a node or shard that is not a
replica. The value is a CQL value of type

    tuple<bigint first_token, bigint last_token, list<frozen<tuple<uuid host_id, int shard>>>>

covering tokens (first_token, last_token]. Layout (CQL value encodings, v3+ collections):

    tuple  := element*              element := [int] n, n bytes   (n = -1 for null)
    bigint := 8 bytes big-endian    int := 4 bytes big-endian     uuid := 16 bytes
    list   := [int] count, element*

Worked example: first=-1, last=5, one replica (00..01, shard 2) ->
    00000008 ffffffffffffffff  00000008 0000000000000005
    00000024 00000001 0000001c 00000010 00..01 00000004 00000002
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

from cql.protocol.wire import INT, LONG

TABLETS_ROUTING_V1_KEY: Final = "tablets-routing-v1"

_LEN_8: Final = INT.pack(8)
_LEN_4: Final = INT.pack(4)
_LEN_16: Final = INT.pack(16)
# One frozen<tuple<uuid, int>> value: [int]16 + uuid, [int]4 + int.
_REPLICA_TUPLE_LEN: Final = INT.pack(4 + 16 + 4 + 4)


def encode_tablets_routing_v1(
    first_token: int, last_token: int, replicas: Sequence[tuple[uuid.UUID, int]]
) -> bytes:
    """Serialize one tablet's routing info: token range (first, last] and (host_id, shard) list."""
    replica_elements = bytearray()
    for host_id, shard in replicas:
        replica_elements += _REPLICA_TUPLE_LEN
        replica_elements += _LEN_16
        replica_elements += host_id.bytes
        replica_elements += _LEN_4
        replica_elements += INT.pack(shard)
    replica_list = INT.pack(len(replicas)) + bytes(replica_elements)
    out = bytearray()
    out += _LEN_8
    out += LONG.pack(first_token)
    out += _LEN_8
    out += LONG.pack(last_token)
    out += INT.pack(len(replica_list))
    out += replica_list
    return bytes(out)


def tablets_routing_payload(
    first_token: int, last_token: int, replicas: Sequence[tuple[uuid.UUID, int]]
) -> dict[str, bytes | None]:
    """The custom_payload mapping to attach to a RESULT response."""
    return {TABLETS_ROUTING_V1_KEY: encode_tablets_routing_v1(first_token, last_token, replicas)}
