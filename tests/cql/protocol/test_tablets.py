"""`tablets-routing-v1` payload values decode with the drivers' own tuple type
(ScyllaDB protocol-extensions.md, "Tablets routing v1")."""

from __future__ import annotations

import uuid

from cassandra import cqltypes
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.protocol import TABLETS_ROUTING_V1_KEY, encode_tablets_routing_v1, tablets_routing_payload

# The type string scylla-driver uses to decode the payload (cluster.py, _TABLET_ROUTING_CTYPE).
ROUTING_TYPE = cqltypes.lookup_casstype(
    "TupleType(LongType, LongType, ListType(TupleType(UUIDType, Int32Type)))"
)
tokens = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=100, deadline=None)
@given(tokens, tokens, st.lists(st.tuples(st.uuids(), st.integers(0, 2**31 - 1)), max_size=5))
def test_payload_decodes_with_driver_type(first: int, last: int,
                                          replicas: list[tuple[uuid.UUID, int]]) -> None:
    decoded = ROUTING_TYPE.from_binary(encode_tablets_routing_v1(first, last, replicas), 4)
    assert decoded == (first, last, replicas)


def test_worked_example_from_docstring() -> None:
    value = encode_tablets_routing_v1(-1, 5, [(uuid.UUID(int=1), 2)])
    assert value.hex() == (
        "00000008ffffffffffffffff" "000000080000000000000005"
        "00000024" "00000001" "0000001c" "00000010" + "00" * 15 + "01" + "00000004" "00000002"
    )


def test_payload_mapping() -> None:
    payload = tablets_routing_payload(0, 1, [])
    assert list(payload) == [TABLETS_ROUTING_V1_KEY] == ["tablets-routing-v1"]
