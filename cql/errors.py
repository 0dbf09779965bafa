"""The CQL error table: every error a client can see, with its protocol code.

Owns the mapping from failures to ERROR frames (native protocol v4 spec, section 9). Every layer
above the wire raises one of these; the connection handler turns them into an ERROR frame on the
stream that caused them. Anything else escaping a request is a bug: it becomes `ServerError` and is
logged with its traceback.

Invariant: codes are the protocol's and never renumbered; the `extra` fields each code carries are
encoded by `cql.protocol` exactly as section 9 lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ErrorCode(IntEnum):
    SERVER_ERROR = 0x0000
    PROTOCOL_ERROR = 0x000A
    BAD_CREDENTIALS = 0x0100
    UNAVAILABLE = 0x1000
    OVERLOADED = 0x1001
    IS_BOOTSTRAPPING = 0x1002
    TRUNCATE_ERROR = 0x1003
    WRITE_TIMEOUT = 0x1100
    READ_TIMEOUT = 0x1200
    READ_FAILURE = 0x1300
    FUNCTION_FAILURE = 0x1400
    WRITE_FAILURE = 0x1500
    SYNTAX_ERROR = 0x2000
    UNAUTHORIZED = 0x2100
    INVALID = 0x2200
    CONFIG_ERROR = 0x2300
    ALREADY_EXISTS = 0x2400
    UNPREPARED = 0x2500
    RATE_LIMIT = 0xF000  # ScyllaDB extension SCYLLA_RATE_LIMIT_ERROR


class CQLError(Exception):
    """Base of every error that reaches a client as an ERROR frame."""

    code: ErrorCode = ErrorCode.SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerError(CQLError):
    code = ErrorCode.SERVER_ERROR


class ProtocolError(CQLError):
    """Malformed frames, bad opcodes, unsupported versions (code 0x000A)."""

    code = ErrorCode.PROTOCOL_ERROR


class BadCredentials(CQLError):
    code = ErrorCode.BAD_CREDENTIALS


class Overloaded(CQLError):
    code = ErrorCode.OVERLOADED


class IsBootstrapping(CQLError):
    code = ErrorCode.IS_BOOTSTRAPPING


class TruncateError(CQLError):
    code = ErrorCode.TRUNCATE_ERROR


class SyntaxException(CQLError):
    """The statement does not parse; the message names line:column and the offending input."""

    code = ErrorCode.SYNTAX_ERROR


class Unauthorized(CQLError):
    code = ErrorCode.UNAUTHORIZED


class InvalidRequest(CQLError):
    """The statement parses but is not valid: unknown table, wrong type, bad restriction (0x2200)."""

    code = ErrorCode.INVALID


class ConfigurationException(CQLError):
    code = ErrorCode.CONFIG_ERROR


class AlreadyExists(CQLError):
    code = ErrorCode.ALREADY_EXISTS

    def __init__(self, message: str, keyspace: str, table: str = "") -> None:
        super().__init__(message)
        self.keyspace = keyspace
        self.table = table


class Unprepared(CQLError):
    code = ErrorCode.UNPREPARED

    def __init__(self, message: str, statement_id: bytes) -> None:
        super().__init__(message)
        self.statement_id = statement_id


@dataclass(frozen=True, slots=True)
class _ReplicaCounts:
    consistency: int
    received: int
    block_for: int


class Unavailable(CQLError):
    code = ErrorCode.UNAVAILABLE

    def __init__(self, message: str, consistency: int, required: int, alive: int) -> None:
        super().__init__(message)
        self.consistency = consistency
        self.required = required
        self.alive = alive


class WriteTimeout(CQLError):
    code = ErrorCode.WRITE_TIMEOUT

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, write_type: str
    ) -> None:
        super().__init__(message)
        self.counts = _ReplicaCounts(consistency, received, block_for)
        self.write_type = write_type


class ReadTimeout(CQLError):
    code = ErrorCode.READ_TIMEOUT

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, data_present: bool
    ) -> None:
        super().__init__(message)
        self.counts = _ReplicaCounts(consistency, received, block_for)
        self.data_present = data_present


class ReadFailure(CQLError):
    code = ErrorCode.READ_FAILURE

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, failures: int,
        data_present: bool,
    ) -> None:
        super().__init__(message)
        self.counts = _ReplicaCounts(consistency, received, block_for)
        self.failures = failures
        self.data_present = data_present


class WriteFailure(CQLError):
    code = ErrorCode.WRITE_FAILURE

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, failures: int,
        write_type: str,
    ) -> None:
        super().__init__(message)
        self.counts = _ReplicaCounts(consistency, received, block_for)
        self.failures = failures
        self.write_type = write_type


class FunctionFailure(CQLError):
    code = ErrorCode.FUNCTION_FAILURE

    def __init__(self, message: str, keyspace: str, function: str, arg_types: list[str]) -> None:
        super().__init__(message)
        self.keyspace = keyspace
        self.function = function
        self.arg_types = arg_types
