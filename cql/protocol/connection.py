"""The server side of one native-protocol connection, as a sans-IO state machine (h11 style).

Owns: the byte buffer of one client connection, frame splitting, protocol-version negotiation,
compression negotiation, the connection state (which requests are allowed when) and the framing
of responses. It performs no I/O, keeps no clock and starts no tasks:

    conn = ServerConnection(max_frame_size_bytes=..., supported={...})
    conn.receive_data(chunk)            # b"" means the peer closed its side (EOF)
    while (event := conn.next_event()) is not NEED_DATA:
        ...                             # a Request, or ConnectionClosed
    transport.write(conn.send(response, event.stream))

Invariants:
- `next_event()` raises only `ClientProtocolError` (a `cql.errors.ProtocolError`). Its `stream`
  is the offending frame's stream id when known; `fatal` says the byte stream is unusable. After a
  non-fatal error the offending frame is consumed (or its body is being skipped) and the caller
  answers `send(ErrorResponse.from_exception(exc), exc.stream)` and carries on. After a fatal
  error every later `next_event()` raises again; the caller answers if `stream` is not None and
  closes the connection.
- The protocol version is fixed by the first frame carrying a supported version (3 or 4). Frames
  of any other version are refused with a non-fatal error whose message contains
  "unsupported protocol version"; `send()` answers them in a plain v4 header (or in the fixed
  version once there is one), so drivers step down and retry.
- Compression (only lz4) is chosen by STARTUP. Incoming compressed frames are accepted from then
  on; outgoing frames are compressed starting with the first frame *after* the answer to STARTUP
  (READY or AUTHENTICATE are sent uncompressed). Empty bodies are never compressed.
- A frame longer than `max_frame_size_bytes` is never buffered: its body is discarded as it
  arrives and a non-fatal error is raised for its stream.
- A `tablets-routing-v1` custom-payload entry is dropped unless the client negotiated
  TABLETS_ROUTING_V1 (see `negotiated_extensions`).
- Received bytes objects are kept as they are, not copied (anything else is copied), and a
  QUERY/EXECUTE lying within one of them on a READY connection is decoded in place by
  `decode_fast`; whatever that path declines is re-read by the general path, so events and
  errors are the same on both.
- v5 segment framing (CRC24/CRC32 segments after READY) is not implemented; it would slot in
  between `receive_data` and the frame parser, feeding it envelope bytes.

Thread-safety: none; one connection object belongs to one task.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NoReturn

from cql.errors import CQLError
from cql.protocol.frame import (
    DEFAULT_VERSION,
    FLAG_COMPRESSED,
    FLAG_CUSTOM_PAYLOAD,
    FLAG_TRACING,
    FLAG_WARNING,
    HEADER,
    HEADER_SIZE,
    LEGACY_HEADER,
    LEGACY_HEADER_SIZE,
    RESPONSE_BIT,
    SPEC_MAX_FRAME_SIZE_BYTES,
    SUPPORTED_VERSIONS,
    Opcode,
    lz4_compress,
    lz4_decompress,
    unsupported_version_message,
)
from cql.protocol.requests import DECODERS, FrameInfo, Request, Startup, decode_fast
from cql.protocol.responses import (
    VOID_BODY,
    Authenticate,
    AuthSuccess,
    EncodeContext,
    ErrorResponse,
    Event,
    Ready,
    Response,
    ResultRows,
    ResultVoid,
    rows_body,
)
from cql.protocol.tablets import TABLETS_ROUTING_V1_KEY
from cql.protocol.wire import (
    BodyReader,
    ClientProtocolError,
    write_bytes_map,
    write_string_list,
)


class NeedData(enum.Enum):
    """`next_event()` has no complete frame yet: call `receive_data()` first."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side (`receive_data(b"")`) and every complete frame was consumed.

    `incomplete_frame` is True when the peer left a partial frame behind.
    """

    incomplete_frame: bool = False


class ConnectionState(enum.Enum):
    """See docs/protocol.md for the diagram."""

    AWAIT_STARTUP = "AWAIT_STARTUP"  # only OPTIONS and STARTUP are accepted
    STARTING = "STARTING"  # STARTUP delivered; waiting for the server's READY/AUTHENTICATE/ERROR
    AUTHENTICATING = "AUTHENTICATING"  # AUTHENTICATE sent; OPTIONS and AUTH_RESPONSE accepted
    READY = "READY"  # every request except STARTUP and AUTH_RESPONSE
    CLOSED = "CLOSED"  # the peer sent EOF
    ERROR = "ERROR"  # a fatal protocol error happened


class LocalProtocolError(RuntimeError):
    """The server asked `send()` for something the protocol forbids here (a server bug)."""


DEFAULT_SUPPORTED: Final[Mapping[str, Sequence[str]]] = {
    "CQL_VERSION": ["3.3.1"],
    "COMPRESSION": ["lz4"],
}

_ALLOWED: Final[Mapping[ConnectionState, frozenset[int]]] = {
    ConnectionState.AWAIT_STARTUP: frozenset({Opcode.OPTIONS, Opcode.STARTUP}),
    ConnectionState.STARTING: frozenset({Opcode.OPTIONS}),
    ConnectionState.AUTHENTICATING: frozenset({Opcode.OPTIONS, Opcode.AUTH_RESPONSE}),
    ConnectionState.READY: frozenset(
        {Opcode.OPTIONS, Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH, Opcode.REGISTER}
    ),
}
_EXPECTING: Final[Mapping[ConnectionState, str]] = {
    ConnectionState.AWAIT_STARTUP: "expecting STARTUP or OPTIONS",
    ConnectionState.STARTING: "STARTUP is still being processed",
    ConnectionState.AUTHENTICATING: "expecting AUTH_RESPONSE or OPTIONS",
    ConnectionState.READY: "the connection is already initialized",
}

_LWT_EXTENSION: Final = "SCYLLA_LWT_ADD_METADATA_MARK"
_LWT_MASK_KEY: Final = "LWT_OPTIMIZATION_META_BIT_MASK"
_RATE_LIMIT_EXTENSION: Final = "SCYLLA_RATE_LIMIT_ERROR"
_DEFAULT_LWT_MASK: Final = 0x80000000
_TABLETS_EXTENSION: Final = "TABLETS_ROUTING_V1"
_TABLETS_PAYLOAD_KEY: Final = TABLETS_ROUTING_V1_KEY
_STANDARD_OPTIONS: Final = frozenset({"CQL_VERSION", "COMPRESSION"})
_READY: Final = ConnectionState.READY
# Header flags the fast path of next_event() handles; any other flag takes the general path.
_FAST_FLAGS: Final = FLAG_COMPRESSED | FLAG_TRACING
_unpack_header = HEADER.unpack_from
_pack_header = HEADER.pack
_RESULT: Final = int(Opcode.RESULT)
_FAST_OPCODES: Final = frozenset({int(Opcode.EXECUTE), int(Opcode.QUERY)})
_VOID_SIZE: Final = len(VOID_BODY)
# lz4 output is a function of its input: the compressed Void body can be computed once.
_VOID_LZ4: Final = lz4_compress(VOID_BODY)
_VOID_LZ4_SIZE: Final = len(_VOID_LZ4)


def _extension_field(values: Sequence[str], key: str) -> str | None:
    """`KEY=VALUE` parameters of a SUPPORTED extension entry (protocol-extensions.md)."""
    prefix = key + "="
    for value in values:
        if value.startswith(prefix):
            return value[len(prefix):]
    return None


class ServerConnection:
    """One client connection's protocol state. See the module docstring for the contract."""

    def __init__(
        self,
        max_frame_size_bytes: int = SPEC_MAX_FRAME_SIZE_BYTES,
        supported: Mapping[str, Sequence[str]] = DEFAULT_SUPPORTED,
    ) -> None:
        if max_frame_size_bytes <= 0:
            raise ValueError("max_frame_size_bytes must be positive")
        for key in ("CQL_VERSION", "COMPRESSION"):
            # Both drivers crash on a SUPPORTED without these keys (CLIENT-COMPAT.md).
            if key not in supported:
                raise ValueError(f"supported options must contain {key}")
        unknown = {c.lower() for c in supported["COMPRESSION"]} - {"lz4"}
        if unknown:
            raise ValueError(f"cannot offer compression {sorted(unknown)}: only lz4 is implemented")
        self.max_frame_size_bytes = max_frame_size_bytes
        self.supported = supported
        # Parsed once, so a malformed value fails here rather than in the middle of a STARTUP.
        self._lwt_mask = self._advertised_int(_LWT_EXTENSION, _LWT_MASK_KEY, _DEFAULT_LWT_MASK)
        self._rate_limit_code = self._advertised_int(_RATE_LIMIT_EXTENSION, "ERROR_CODE", None)
        # Received bytes: `_buf[_pos:]`, then the chunks in `_more` (`_more_len` bytes in all).
        # Chunks are kept as the immutable bytes objects received, so a frame that lies within one
        # chunk is decoded in place, without copying; chunks are joined only when a frame spans
        # them. Invariant: `_more` is empty whenever `_buf[_pos:]` is.
        self._buf = b""
        self._pos = 0
        self._more: deque[bytes] = deque()
        self._more_len = 0
        self._skip = 0  # body bytes of an oversized frame still to discard
        self._eof = False
        self._closed = False  # ConnectionClosed was returned
        self._fatal: ClientProtocolError | None = None
        self._state = ConnectionState.AWAIT_STARTUP
        self._version: int | None = None
        self._compression: str | None = None
        self._compress_out = False
        self._startup_stream: int | None = None
        self._startup_options: Mapping[str, str] | None = None
        self._extensions: frozenset[str] = frozenset()
        self._ctx = EncodeContext(version=DEFAULT_VERSION)

    # --- introspection -------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """ERROR after a fatal error, CLOSED once `ConnectionClosed` was returned, else the
        handshake state. (EOF does not change what `send()` accepts: requests read before it
        may still be answered.)"""
        if self._fatal is not None:
            return ConnectionState.ERROR
        if self._closed:
            return ConnectionState.CLOSED
        return self._state

    @property
    def version(self) -> int | None:
        """The negotiated protocol version, None until the first supported frame arrived."""
        return self._version

    @property
    def compression(self) -> str | None:
        """The compression STARTUP chose ("lz4") or None."""
        return self._compression

    @property
    def startup_options(self) -> Mapping[str, str] | None:
        """The options of the accepted STARTUP (client name, extensions...), None before it."""
        return self._startup_options

    @property
    def negotiated_extensions(self) -> frozenset[str]:
        """ScyllaDB extensions in force: keys we advertised in SUPPORTED that the client echoed
        in STARTUP (protocol-extensions.md), e.g. "TABLETS_ROUTING_V1". Empty before STARTUP."""
        return self._extensions

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf) - self._pos + self._more_len

    # --- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the socket; `b""` signals EOF."""
        if self._eof:
            if data:
                raise LocalProtocolError("receive_data() after EOF")
            return
        if not data:
            self._eof = True
            return
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            data = memoryview(data)[n:]
            if not data:
                return
        # Keep bytes as they are (immutable, so safe to hold); copy anything else.
        chunk = data if type(data) is bytes else bytes(data)
        if self._pos == len(self._buf):
            self._buf = chunk
            self._pos = 0
        else:
            self._more.append(chunk)
            self._more_len += len(chunk)

    def next_event(self) -> Request | NeedData | ConnectionClosed:
        """The next complete request, `NEED_DATA`, or `ConnectionClosed` after EOF.

        Raises ClientProtocolError; see the module docstring.
        """
        # Fast path: a QUERY or EXECUTE on a READY connection, whole in the first chunk, without
        # a custom payload. Anything else, or anything `decode_fast` does not like, goes to the
        # general path below, which re-reads the frame from the start and raises what it must.
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos  # (`_more` is empty when this is 0)
        if not avail and not self._eof and self._fatal is None:
            return NEED_DATA
        if avail >= HEADER_SIZE and self._state is _READY and self._fatal is None:
            version, flags, stream, opcode, length = _unpack_header(buf, pos)
            start = pos + HEADER_SIZE
            end = start + length
            if (
                opcode in _FAST_OPCODES
                and version == self._version
                and stream >= 0
                and end <= len(buf)
                and 0 <= length <= self.max_frame_size_bytes
                and not flags & ~_FAST_FLAGS
            ):
                request: Request | None = None
                if not flags & FLAG_COMPRESSED:
                    request = decode_fast(opcode, buf, start, end, stream, version, flags != 0)
                elif self._compression is not None:
                    try:
                        body = lz4_decompress(memoryview(buf)[start:end], self.max_frame_size_bytes)
                    except ClientProtocolError:
                        pass  # the general path raises it again, with the stream
                    else:
                        request = decode_fast(opcode, body, 0, len(body), stream, version,
                                              flags != FLAG_COMPRESSED)
                if request is not None:
                    if end < len(buf):
                        self._pos = end
                    else:
                        self._consume(end - pos)
                    return request
        return self._next_event_general()

    def _next_event_general(self) -> Request | NeedData | ConnectionClosed:
        if self._fatal is not None:
            raise ClientProtocolError(self._fatal.message, self._fatal.stream, fatal=True)
        avail = self.buffered_bytes
        if avail < 1 or self._skip:
            return self._starved(avail)
        if len(self._buf) - self._pos < HEADER_SIZE and self._more:
            self._coalesce()  # a header split between chunks
        buf = self._buf
        pos = self._pos
        version = buf[pos]
        if version & RESPONSE_BIT:
            self._fail(f"Frame with response direction bit set (version byte 0x{version:02x})", None)
        if version in (1, 2):
            # v1/v2 header: one-byte stream id. Parsed only to refuse the version politely.
            if avail < LEGACY_HEADER_SIZE:
                return self._starved(avail)
            _, flags, stream, opcode, length = LEGACY_HEADER.unpack_from(buf, pos)
            header_size = LEGACY_HEADER_SIZE
        else:
            if avail < HEADER_SIZE:
                return self._starved(avail)
            _, flags, stream, opcode, length = HEADER.unpack_from(buf, pos)
            header_size = HEADER_SIZE
        if stream < 0:
            # Section 2.3: negative streams are reserved for the server.
            self._fail(f"Request on negative stream id {stream}", None)
        if length < 0:
            self._fail(f"Negative frame body length {length}", stream)
        if version not in SUPPORTED_VERSIONS:
            if length > self.max_frame_size_bytes:
                # Likely not CQL at all (TLS hello, HTTP...): nothing sensible to skip to.
                self._fail(
                    f"Not a CQL frame: {unsupported_version_message(version)}; "
                    f"body length {length}",
                    stream,
                )
            # Refuse at once, without waiting for the body (section 2.1 and CLIENT-COMPAT.md:
            # the client steps down on seeing "unsupported protocol version").
            self._skip_body(header_size, length, avail)
            raise ClientProtocolError(unsupported_version_message(version), stream)
        if length > self.max_frame_size_bytes:
            self._skip_body(header_size, length, avail)
            raise ClientProtocolError(
                f"Request is too big: length {length} exceeds maximum allowed length "
                f"{self.max_frame_size_bytes}",
                stream,
            )
        if avail < header_size + length:
            return self._starved(avail)
        if len(buf) - pos < header_size + length:
            self._coalesce()  # a frame split between chunks
            buf = self._buf
            pos = 0
        body = buf[pos + header_size : pos + header_size + length]
        self._consume(header_size + length)

        if self._version is None:
            self._version = version
            self._ctx = EncodeContext(version=version)
        elif version != self._version:
            raise ClientProtocolError(
                f"Invalid message version. Got {version} but previous messages on this "
                f"connection had version {self._version}",
                stream,
            )
        try:
            return self._decode(version, flags, stream, opcode, body)
        except ClientProtocolError as exc:
            exc.stream = stream
            raise
        except (struct.error, ValueError) as exc:  # defensive: decoders should not leak these
            raise ClientProtocolError(f"Malformed frame body: {exc}", stream) from exc

    def _starved(self, avail: int) -> NeedData | ConnectionClosed:
        if self._eof:
            self._closed = True
            return ConnectionClosed(incomplete_frame=avail > 0 or self._skip > 0)
        return NEED_DATA

    def _skip_body(self, header_size: int, length: int, avail: int) -> None:
        """Drop the header and the body (what is buffered now, the rest as it arrives)."""
        in_buffer = min(length, avail - header_size)
        self._consume(header_size + in_buffer)
        self._skip = length - in_buffer

    def _consume(self, n: int) -> None:
        """Drop `n` buffered bytes (at most `buffered_bytes`), releasing finished chunks."""
        pos = self._pos + n
        buf_len = len(self._buf)
        if pos < buf_len:
            self._pos = pos
            return
        pos -= buf_len
        more = self._more
        while more:
            chunk = more.popleft()
            self._more_len -= len(chunk)
            if pos < len(chunk):
                self._buf = chunk
                self._pos = pos
                return
            pos -= len(chunk)
        self._buf = b""
        self._pos = 0

    def _coalesce(self) -> None:
        """Join every buffered byte into `_buf` (one copy), for a header or frame split between
        chunks. Called only when it lets the parser make progress or fail, so a frame arriving in
        many chunks is copied a bounded number of times."""
        more = self._more
        self._buf = b"".join([memoryview(self._buf)[self._pos :], *more])
        self._pos = 0
        more.clear()
        self._more_len = 0

    def _fail(self, message: str, stream: int | None) -> NoReturn:
        self._fatal = ClientProtocolError(message, stream, fatal=True)
        raise ClientProtocolError(message, stream, fatal=True)

    def _decode(self, version: int, flags: int, stream: int, opcode: int, body: bytes) -> Request:
        if flags & FLAG_COMPRESSED:
            if self._compression is None:
                raise ClientProtocolError("Compressed frame received but no compression was negotiated")
            body = lz4_decompress(body, self.max_frame_size_bytes)
        decoder = DECODERS.get(opcode)
        if decoder is None:
            try:
                name = Opcode(opcode).name
            except ValueError:
                raise ClientProtocolError(f"Unknown opcode 0x{opcode:02x}") from None
            raise ClientProtocolError(f"Opcode {name} is not a request")
        if opcode not in _ALLOWED[self._state]:
            raise ClientProtocolError(
                f"Unexpected message {Opcode(opcode).name}, {_EXPECTING[self._state]}"
            )
        reader = BodyReader(body)
        custom_payload = None
        if flags & FLAG_CUSTOM_PAYLOAD and version >= 4:
            custom_payload = reader.read_bytes_map()
        info = FrameInfo(stream, version, bool(flags & FLAG_TRACING), custom_payload)
        request = decoder(reader, info)
        if isinstance(request, Startup):
            self._accept_startup(request)
        return request

    def _accept_startup(self, startup: Startup) -> None:
        options = startup.options
        if "CQL_VERSION" not in options:
            raise ClientProtocolError("Missing value CQL_VERSION in STARTUP message")
        compression = options.get("COMPRESSION")
        if compression is not None:
            compression = compression.lower()
            offered = {c.lower() for c in self.supported["COMPRESSION"]}
            if compression not in offered:
                raise ClientProtocolError(f"Unknown compression algorithm: {compression}")
        self._compression = compression
        self._startup_options = options
        self._startup_stream = startup.stream
        self._state = ConnectionState.STARTING
        self._ctx = EncodeContext(
            version=startup.version,
            lwt_flag_mask=self._negotiated_lwt_mask(options),
            rate_limit_error_code=self._negotiated_rate_limit_code(options),
        )
        self._extensions = frozenset(
            key for key in options if key in self.supported and key not in _STANDARD_OPTIONS
        )

    def _advertised_int(self, extension: str, key: str, default: int | None) -> int | None:
        if extension not in self.supported:
            return None
        value = _extension_field(self.supported[extension], key)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"supported[{extension!r}]: {key}={value!r} is not an integer") from None

    def _negotiated_lwt_mask(self, options: Mapping[str, str]) -> int:
        if _LWT_EXTENSION not in options or self._lwt_mask is None:
            return 0
        return self._lwt_mask

    def _negotiated_rate_limit_code(self, options: Mapping[str, str]) -> int | None:
        if _RATE_LIMIT_EXTENSION not in options:
            return None
        return self._rate_limit_code

    # --- output --------------------------------------------------------------------------------

    def send(self, response: Response | CQLError, stream: int) -> bytes:
        """Encode one response frame for `stream` (events always go on stream -1).

        A bare `CQLError` is sent as `ErrorResponse(error)`. Raises LocalProtocolError for a
        response the state forbids (READY outside STARTUP/REGISTER...), ValueError for values the
        protocol cannot carry (never struct.error). A failed send changes no state.
        """
        # Fast paths: RESULT Void and Rows without tracing id, warnings or custom payload, the
        # answers to nearly every QUERY/EXECUTE. They need no state checks; their body is one
        # bytes object (Void's is constant, its lz4 form computed once), so the frame is one
        # concatenation. `type() is` is much cheaper than isinstance() against the ABC-derived
        # response classes.
        if (type(response) is ResultVoid and 0 <= stream <= 0x7FFF and response.tracing_id is None
                and not response.warnings and not response.custom_payload):
            if self._compress_out:
                return _pack_header(RESPONSE_BIT | self._ctx.version, FLAG_COMPRESSED, stream,
                                    _RESULT, _VOID_LZ4_SIZE) + _VOID_LZ4
            return _pack_header(RESPONSE_BIT | self._ctx.version, 0, stream, _RESULT,
                                _VOID_SIZE) + VOID_BODY
        if (type(response) is ResultRows and 0 <= stream <= 0x7FFF and response.tracing_id is None
                and not response.warnings and not response.custom_payload):
            try:
                body = rows_body(response.columns, response.rows, response.paging_state,
                                 response.no_metadata)
            except struct.error as exc:
                raise ValueError(f"Cannot encode ResultRows: {exc}") from exc
            flags = 0
            if self._compress_out:
                body = lz4_compress(body)
                flags = FLAG_COMPRESSED
            return _pack_header(RESPONSE_BIT | self._ctx.version, flags, stream, _RESULT,
                                len(body)) + body

        rtype = type(response)
        plain_result = rtype is ResultVoid or rtype is ResultRows
        if not plain_result:
            if isinstance(response, CQLError):
                response = ErrorResponse(response)
            if isinstance(response, Event):
                stream = -1
            elif not 0 <= stream <= 0x7FFF:
                raise ValueError(f"stream id {stream} out of range for a response")
            self._check_send(response, stream)
        elif not 0 <= stream <= 0x7FFF:
            raise ValueError(f"stream id {stream} out of range for a response")
        assert not isinstance(response, CQLError)

        ctx = self._ctx
        version = ctx.version
        try:
            flags, buf = self._encode(response, ctx)
        except struct.error as exc:
            # An integer field out of range (a port, a consistency, a pk index...): a server bug.
            raise ValueError(f"Cannot encode {type(response).__name__}: {exc}") from exc
        opcode = response.opcode

        if self._compress_out and len(buf) > HEADER_SIZE:
            with memoryview(buf) as view:
                body = lz4_compress(view[HEADER_SIZE:])
            out = HEADER.pack(RESPONSE_BIT | version, flags | FLAG_COMPRESSED, stream, opcode, len(body))
            out += body
        else:
            HEADER.pack_into(buf, 0, RESPONSE_BIT | version, flags, stream, opcode,
                             len(buf) - HEADER_SIZE)
            out = bytes(buf)
        if not plain_result:
            self._after_send(response, stream)
        return out

    def _encode(self, response: Response, ctx: EncodeContext) -> tuple[int, bytearray]:
        """Header flags and a buffer holding HEADER_SIZE placeholder bytes, then the body."""
        flags = 0
        buf = bytearray(HEADER_SIZE)
        if response.tracing_id is not None:
            flags |= FLAG_TRACING
            buf += response.tracing_id.bytes
        if ctx.version >= 4:
            # Order fixed by section 2.2: tracing id, then warnings, then custom payload.
            if response.warnings:
                flags |= FLAG_WARNING
                write_string_list(buf, response.warnings)
            payload = response.custom_payload
            if payload and _TABLETS_PAYLOAD_KEY in payload and (
                _TABLETS_EXTENSION not in self._extensions
            ):
                # The routing hint is only for clients that negotiated it (protocol-extensions.md).
                payload = {k: v for k, v in payload.items() if k != _TABLETS_PAYLOAD_KEY}
            if payload:
                flags |= FLAG_CUSTOM_PAYLOAD
                write_bytes_map(buf, payload)
        response.encode_body(buf, ctx)
        return flags, buf

    def _check_send(self, response: Response, stream: int) -> None:
        state = self._state
        if isinstance(response, Ready) and state not in (ConnectionState.STARTING, ConnectionState.READY):
            # READY answers STARTUP, and REGISTER once the connection is ready (spec 4.1.8).
            raise LocalProtocolError("READY only answers STARTUP or REGISTER")
        if isinstance(response, Authenticate) and state is not ConnectionState.STARTING:
            raise LocalProtocolError("AUTHENTICATE only answers STARTUP")
        if isinstance(response, AuthSuccess) and state is not ConnectionState.AUTHENTICATING:
            raise LocalProtocolError("AuthSuccess outside authentication")

    def _after_send(self, response: Response, stream: int) -> None:
        if isinstance(response, Ready):
            if self._state is ConnectionState.STARTING:
                self._state = ConnectionState.READY
                self._compress_out = self._compression is not None
        elif isinstance(response, Authenticate):
            self._state = ConnectionState.AUTHENTICATING
            self._compress_out = self._compression is not None
        elif isinstance(response, AuthSuccess):
            self._state = ConnectionState.READY
        elif (
            isinstance(response, ErrorResponse)
            and self._state is ConnectionState.STARTING
            and stream == self._startup_stream
        ):
            # The server refused STARTUP: the client may try again from scratch.
            self._state = ConnectionState.AWAIT_STARTUP
            self._compression = None
            self._startup_options = None
            self._startup_stream = None
            self._extensions = frozenset()
