"""Hypothesis stateful test: random client request sequences against a small model of the
connection state machine (docs/protocol.md, "Connection state machine")."""

from __future__ import annotations

from typing import Any

from cassandra import protocol as dp
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cql import errors
from cql.protocol import (
    NEED_DATA,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    ClientProtocolError,
    ConnectionState,
    ErrorResponse,
    Ready,
    Register,
    Response,
    ResultVoid,
    ServerConnection,
    Startup,
    Supported,
)
from tests.cql.protocol.oracle import decode_response, request_frame, split_frame

AWAIT, STARTING, AUTHENTICATING, READY = "AWAIT", "STARTING", "AUTHENTICATING", "READY"
ALLOWED = {
    AWAIT: {"OPTIONS", "STARTUP"},
    STARTING: {"OPTIONS"},
    AUTHENTICATING: {"OPTIONS", "AUTH_RESPONSE"},
    READY: {"OPTIONS", "QUERY", "PREPARE", "EXECUTE", "BATCH", "REGISTER"},
}


def _message(kind: str, compression: bool) -> Any:
    if kind == "OPTIONS":
        return dp.OptionsMessage()
    if kind == "STARTUP":
        return dp.StartupMessage("3.0.0", {"COMPRESSION": "lz4"} if compression else {})
    if kind == "QUERY":
        return dp.QueryMessage("SELECT 1", 1)
    if kind == "PREPARE":
        return dp.PrepareMessage("SELECT ?")
    if kind == "EXECUTE":
        return dp.ExecuteMessage(b"id", [b"v"], 1, result_metadata_id=b"m")
    if kind == "BATCH":
        from cassandra.query import BatchType

        return dp.BatchMessage(BatchType.LOGGED, [(False, "INSERT", [])], 1)
    if kind == "REGISTER":
        return dp.RegisterMessage(["STATUS_CHANGE"])
    return dp.AuthResponseMessage(b"token")


class ConnectionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.conn = ServerConnection()
        self.state = AWAIT
        self.version: int | None = None
        self.negotiated = False  # lz4 chosen by the accepted STARTUP
        self.client_compresses = False  # the driver compresses after READY/AUTHENTICATE
        self.server_compresses = False
        self.stream = 0
        self.pending_startup: int | None = None

    def _send(self, response: Response | errors.CQLError, stream: int) -> None:
        out = self.conn.send(response, stream)
        version, flags, out_stream, _, body, _ = split_frame(out)
        assert version == 0x80 | (self.version or 4)
        assert out_stream == (-1 if stream == -1 else stream)
        assert bool(flags & 0x01) == (self.server_compresses and len(body) > 0)
        decode_response(out)

    @rule(kind=st.sampled_from(sorted(set().union(*ALLOWED.values()) | {"AUTH_RESPONSE"})),
          version=st.sampled_from([4, 4, 4, 3, 5]), compression=st.booleans(),
          refuse=st.booleans())
    def client_request(self, kind: str, version: int, compression: bool, refuse: bool) -> None:
        self.stream = (self.stream + 1) % 0x8000
        stream = self.stream
        frame = request_frame(_message(kind, compression), stream, version,
                              compressed=self.client_compresses)
        self.conn.receive_data(frame)
        expected_ok = (version in (3, 4) and (self.version in (None, version))
                       and kind in ALLOWED[self.state])
        try:
            event = self.conn.next_event()
        except ClientProtocolError as exc:
            assert not expected_ok, exc.message
            assert exc.stream == stream and not exc.fatal
            if version in (3, 4) and self.version is None:
                self.version = version
            self._send(ErrorResponse.from_exception(exc), stream)
            return
        assert expected_ok, f"{kind} v{version} accepted in {self.state}"
        assert event is not NEED_DATA and event.stream == stream  # type: ignore[union-attr]
        self.version = version
        if isinstance(event, Startup):
            self.state = STARTING
            self.negotiated = compression
            self.pending_startup = stream
            if refuse:
                self._send(errors.ProtocolError("refused"), stream)
                self.state = AWAIT
                self.negotiated = False
                return
            if compression and kind == "STARTUP" and stream % 2:
                self._send(Authenticate("PasswordAuthenticator"), stream)
                self.state = AUTHENTICATING
            else:
                self._send(Ready(), stream)
                self.state = READY
            self.server_compresses = self.client_compresses = self.negotiated
        elif isinstance(event, AuthResponse):
            self._send(AuthSuccess(), stream)
            self.state = READY
        elif isinstance(event, Register):
            self._send(Ready(), stream)
        elif kind == "OPTIONS":
            self._send(Supported(self.conn.supported), stream)
        else:
            self._send(ResultVoid(warnings=["w"]), stream)

    @precondition(lambda self: self.state == READY)
    @rule()
    def server_event(self) -> None:
        from cql.protocol import StatusChangeEvent

        self._send(StatusChangeEvent("UP", "127.0.0.1"), -1)

    @invariant()
    def states_agree(self) -> None:
        names = {AWAIT: ConnectionState.AWAIT_STARTUP, STARTING: ConnectionState.STARTING,
                 AUTHENTICATING: ConnectionState.AUTHENTICATING, READY: ConnectionState.READY}
        assert self.conn.state is names[self.state]
        assert self.conn.version == self.version
        assert self.conn.buffered_bytes == 0


TestConnectionMachine = ConnectionMachine.TestCase
TestConnectionMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
