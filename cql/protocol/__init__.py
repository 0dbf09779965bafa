"""Sans-IO codec of the CQL native protocol, server side (v3 and v4, lz4 compression).

Public API (stable; everything else in the package is internal):

    ServerConnection(max_frame_size_bytes=256 MiB, supported=DEFAULT_SUPPORTED)
        .receive_data(data)             feed socket bytes; b"" = EOF
        .next_event()                   -> Request | NEED_DATA | ConnectionClosed
                                        raises ClientProtocolError (a cql.errors.ProtocolError
                                        with .stream: int | None and .fatal: bool)
        .send(response | CQLError, stream) -> bytes
                                        raises ValueError (unencodable value) or
                                        LocalProtocolError (response not allowed in this state)
        .state / .version / .compression / .startup_options / .negotiated_extensions
        .supported / .buffered_bytes

    Requests (slotted, treat as immutable; all have stream, version, tracing, custom_payload):
        Startup(options), Options(), Query(query, params), Prepare(query),
        Execute(query_id, params), Batch(batch_type, statements, consistency,
        serial_consistency, timestamp), Register(event_types), AuthResponse(token)
        QueryParameters, BatchStatement, Consistency, BatchType, UNSET
    Responses (slotted, frozen for mypy; all accept tracing_id=, warnings=, custom_payload=):
        Ready, Supported, Authenticate, AuthChallenge, AuthSuccess, ErrorResponse,
        ResultVoid, ResultRows, ResultSetKeyspace, ResultPrepared, ResultSchemaChange,
        TopologyChangeEvent, StatusChangeEvent, SchemaChangeEvent (Event subclasses)
    ScyllaDB extension helpers: encode_tablets_routing_v1, tablets_routing_payload

Owns the wire format only: it never executes anything, never decodes bind values (they stay
bytes), never does I/O. Wire format, state machine and limits: docs/protocol.md.
"""

from cql.protocol.connection import (
    DEFAULT_SUPPORTED,
    NEED_DATA,
    ConnectionClosed,
    ConnectionState,
    LocalProtocolError,
    NeedData,
    ServerConnection,
)
from cql.protocol.frame import SUPPORTED_VERSIONS, Opcode
from cql.protocol.requests import (
    EVENT_TYPES,
    AuthResponse,
    Batch,
    BatchStatement,
    BatchType,
    Consistency,
    Execute,
    Options,
    Prepare,
    Query,
    QueryParameters,
    Register,
    Request,
    Startup,
)
from cql.protocol.responses import (
    AuthChallenge,
    Authenticate,
    AuthSuccess,
    ErrorResponse,
    Event,
    Ready,
    Response,
    ResultPrepared,
    ResultRows,
    ResultSchemaChange,
    ResultSetKeyspace,
    ResultVoid,
    SchemaChangeEvent,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
)
from cql.protocol.tablets import (
    TABLETS_ROUTING_V1_KEY,
    encode_tablets_routing_v1,
    tablets_routing_payload,
)
from cql.protocol.wire import UNSET, ClientProtocolError, Value

__all__ = [
    "DEFAULT_SUPPORTED",
    "EVENT_TYPES",
    "NEED_DATA",
    "SUPPORTED_VERSIONS",
    "TABLETS_ROUTING_V1_KEY",
    "UNSET",
    "AuthChallenge",
    "AuthResponse",
    "AuthSuccess",
    "Authenticate",
    "Batch",
    "BatchStatement",
    "BatchType",
    "ClientProtocolError",
    "ConnectionClosed",
    "ConnectionState",
    "Consistency",
    "ErrorResponse",
    "Event",
    "Execute",
    "LocalProtocolError",
    "NeedData",
    "Opcode",
    "Options",
    "Prepare",
    "Query",
    "QueryParameters",
    "Ready",
    "Register",
    "Request",
    "Response",
    "ResultPrepared",
    "ResultRows",
    "ResultSchemaChange",
    "ResultSetKeyspace",
    "ResultVoid",
    "SchemaChangeEvent",
    "ServerConnection",
    "Startup",
    "StatusChangeEvent",
    "Supported",
    "TopologyChangeEvent",
    "Value",
    "encode_tablets_routing_v1",
    "tablets_routing_payload",
]
