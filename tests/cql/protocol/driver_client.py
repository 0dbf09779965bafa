"""Run under either driver's virtualenv: talks to the live test server, prints JSON facts.

Usage: python driver_client.py PORT. Uses only the driver's own Connection class, so what is
checked is exactly the driver's wire behaviour (handshake, step-down trigger, decoding).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import cassandra
from cassandra import ConsistencyLevel, ProtocolVersion
from cassandra.connection import DefaultEndPoint, ProtocolVersionUnsupported
from cassandra.io.asyncioreactor import AsyncioConnection
from cassandra.protocol import (
    ExecuteMessage,
    PrepareMessage,
    QueryMessage,
    RegisterMessage,
)


def main(port: int) -> dict[str, Any]:
    AsyncioConnection.initialize_reactor()
    endpoint = DefaultEndPoint("127.0.0.1", port)
    scylla = hasattr(cassandra, "protocol_features") or "scylla" in cassandra.__file__
    out: dict[str, Any] = {"refused": {}}
    for version in (0x42, 0x41, 5):
        if version not in ProtocolVersion.SUPPORTED_VERSIONS:
            continue
        try:
            AsyncioConnection.factory(endpoint, 5, protocol_version=version).close()
            out["refused"][version] = "connected"
        except ProtocolVersionUnsupported:
            out["refused"][version] = "unsupported"
            out["lower"] = ProtocolVersion.get_lower_supported(version)

    for version in (4, 3):
        conn = AsyncioConnection.factory(endpoint, 5, protocol_version=version, compression=True)
        key = f"v{version}"
        res: dict[str, Any] = {"compressor": conn.compressor is not None}
        rows = conn.wait_for_response(QueryMessage("SELECT rows", ConsistencyLevel.ONE), timeout=5)
        res["rows"] = [list(r) for r in rows.parsed_rows]
        res["columns"] = rows.column_names
        paged = conn.wait_for_response(QueryMessage("SELECT paged", ConsistencyLevel.ONE, fetch_size=1), timeout=5)
        res["paging_state"] = paged.paging_state.decode()
        res["register"] = type(conn.wait_for_response(RegisterMessage(["SCHEMA_CHANGE"]), timeout=5)).__name__
        res["use"] = conn.wait_for_response(QueryMessage("USE ks", ConsistencyLevel.ONE), timeout=5).new_keyspace
        prepared = conn.wait_for_response(PrepareMessage("SELECT * FROM ks.t WHERE k = ?"), timeout=5)
        res["pk_indexes"] = prepared.pk_indexes
        res["is_lwt"] = getattr(prepared, "is_lwt", None)
        lwt = conn.wait_for_response(PrepareMessage("INSERT INTO t (k) VALUES (?) IF NOT EXISTS"), timeout=5)
        res["lwt_is_lwt"] = getattr(lwt, "is_lwt", None)
        executed = conn.wait_for_response(
            ExecuteMessage(prepared.query_id, [b"\x00\x00\x00\x2a"], ConsistencyLevel.ONE), timeout=5)
        res["executed"] = [list(r) for r in executed.parsed_rows]
        for name in ("FAIL unavailable", "FAIL rate"):
            ok, err = conn.wait_for_response(
                QueryMessage(name, ConsistencyLevel.ONE), timeout=5, fail_on_error=False)
            assert not ok
            res[name] = [type(err).__name__, str(err)]
        warn = conn.wait_for_response(QueryMessage("WARN", ConsistencyLevel.ONE), timeout=5)
        res["warnings"] = warn.warnings
        tablet = conn.wait_for_response(QueryMessage("TABLET", ConsistencyLevel.ONE), timeout=5)
        payload = (tablet.custom_payload or {}).get("tablets-routing-v1")
        if payload is not None and scylla:
            from cassandra import cqltypes
            from cassandra.tablets import Tablet

            ctype = cqltypes.lookup_casstype(
                "TupleType(LongType, LongType, ListType(TupleType(UUIDType, Int32Type)))")
            t = Tablet.from_row(*ctype.from_binary(payload, version))
            res["tablet"] = [t.first_token, t.last_token, [[str(h), s] for h, s in t.replicas]]
        res["has_tablet_payload"] = payload is not None
        conn.close()
        out[key] = res
    out["scylla"] = scylla
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1])), default=str))
