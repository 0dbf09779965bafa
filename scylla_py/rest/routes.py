"""The ScyllaDB-compatible REST routes, as handlers over a `NodeAdmin`.

Owns: which paths exist, their query parameters, argument validation, and the JSON shapes of
the answers, each matching ScyllaDB's api-doc (storage_service, gossiper, column_family,
compaction_manager):
- string results are JSON strings, lists are JSON arrays;
- "mapper" results are arrays of {"key": ..., "value": ...} objects;
- "void" results are an empty 200 body;
- errors are {"message": ..., "code": ...}; unknown keyspace/table and bad parameters are 400.

It never talks to sockets (that is server.py) and never reaches into the node except through
the `NodeAdmin` it was built with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus

from scylla_py.rest.admin import InvalidAdminRequest, KeyspaceKind, NodeAdmin, UnknownKeyspace, UnknownTable
from scylla_py.rest.http import Request, Response, json_response
from scylla_py.rest.router import Router

__all__ = ["build_router"]

_VOID = Response(HTTPStatus.OK, b"")


def _mapper(pairs: Sequence[tuple[object, object]]) -> list[dict[str, object]]:
    return [{"key": key, "value": value} for key, value in pairs]


def _comma_list(request: Request, name: str) -> list[str] | None:
    """`?cf=a,b` (or `?cf=a&cf=b`) -> ["a", "b"]; absent or empty -> None (meaning "all")."""
    values = request.query.get(name)
    if not values:
        return None
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items or None


def _bool_param(request: Request, name: str, default: bool) -> bool:
    value = request.query_value(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidAdminRequest(f"Invalid value for parameter {name}: {value!r} (expected true or false)")


def build_router(admin: NodeAdmin) -> Router:
    router = Router()
    routes = _Routes(admin)
    table: list[tuple[str, str, Callable[[Request, Mapping[str, str]], Awaitable[Response]]]] = [
        ("GET", "/storage_service/hostid/local", routes.local_host_id),
        ("GET", "/storage_service/host_id", routes.host_id_map),
        ("GET", "/storage_service/release_version", routes.release_version),
        ("GET", "/storage_service/scylla_release_version", routes.scylla_release_version),
        ("GET", "/storage_service/schema_version", routes.schema_version),
        ("GET", "/storage_service/operation_mode", routes.operation_mode),
        ("GET", "/storage_service/keyspaces", routes.keyspaces),
        ("GET", "/storage_service/tokens_endpoint", routes.tokens_endpoint),
        ("POST", "/storage_service/flush", routes.flush_all),
        ("POST", "/storage_service/keyspace_flush/{keyspace}", routes.keyspace_flush),
        ("POST", "/storage_service/compact", routes.compact_all),
        ("POST", "/storage_service/keyspace_compaction/{keyspace}", routes.keyspace_compaction),
        ("POST", "/storage_service/drain", routes.drain),
        ("GET", "/gossiper/endpoint/live", routes.live_endpoints),
        ("GET", "/gossiper/endpoint/down", routes.down_endpoints),
        ("GET", "/column_family/name", routes.table_names),
        ("GET", "/compaction_manager/compactions", routes.compactions),
        ("GET", "/compaction_manager/metrics/pending_tasks", routes.pending_tasks),
    ]
    for method, pattern, handler in table:
        router.add(method, pattern, handler)
    return router


class _Routes:
    """Handlers; each takes (request, path params) and returns a Response or raises AdminError."""

    def __init__(self, admin: NodeAdmin) -> None:
        self._admin = admin

    # -- validation shared by the keyspace/table routes --------------------------------------

    def _check_keyspace(self, keyspace: str) -> None:
        if keyspace not in self._admin.keyspaces(KeyspaceKind.ALL):
            raise UnknownKeyspace(keyspace)

    def _check_tables(self, keyspace: str, tables: Sequence[str] | None) -> None:
        self._check_keyspace(keyspace)
        if tables:
            existing = {t for ks, t in self._admin.tables() if ks == keyspace}
            for table in tables:
                if table not in existing:
                    raise UnknownTable(keyspace, table)

    # -- storage_service ---------------------------------------------------------------------

    async def local_host_id(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(str(self._admin.host_id()))

    async def host_id_map(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(_mapper([(ep, str(hid)) for ep, hid in self._admin.host_ids()]))

    async def release_version(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.release_version())

    async def scylla_release_version(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.scylla_release_version())

    async def schema_version(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(str(self._admin.schema_version()))

    async def operation_mode(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.operation_mode())

    async def keyspaces(self, request: Request, params: Mapping[str, str]) -> Response:
        kind_name = request.query_value("type") or KeyspaceKind.ALL.value
        try:
            kind = KeyspaceKind(kind_name)
        except ValueError:
            choices = ", ".join(k.value for k in KeyspaceKind)
            raise InvalidAdminRequest(f"Invalid value for parameter type: {kind_name!r} (expected {choices})") from None
        return json_response(sorted(self._admin.keyspaces(kind)))

    async def tokens_endpoint(self, request: Request, params: Mapping[str, str]) -> Response:
        keyspace = request.query_value("keyspace") or None
        table = request.query_value("cf") or None
        if (keyspace is None) != (table is None):
            # As ScyllaDB: the tablet map needs both, the vnode ring neither.
            raise InvalidAdminRequest("Both keyspace and cf must be given, or neither")
        if keyspace is not None and table is not None:
            self._check_tables(keyspace, [table])
        pairs = self._admin.token_endpoints(keyspace, table)
        # Tokens are strings in ScyllaDB's answer (they do not fit a JSON double).
        return json_response(_mapper([(str(token), ep) for token, ep in pairs]))

    async def flush_all(self, request: Request, params: Mapping[str, str]) -> Response:
        await self._admin.flush(None, None)
        return _VOID

    async def keyspace_flush(self, request: Request, params: Mapping[str, str]) -> Response:
        keyspace = params["keyspace"]
        tables = _comma_list(request, "cf")
        self._check_tables(keyspace, tables)
        await self._admin.flush(keyspace, tables)
        return _VOID

    async def compact_all(self, request: Request, params: Mapping[str, str]) -> Response:
        flush = _bool_param(request, "flush_memtables", True)
        await self._admin.compact(None, None, flush)
        return _VOID

    async def keyspace_compaction(self, request: Request, params: Mapping[str, str]) -> Response:
        keyspace = params["keyspace"]
        tables = _comma_list(request, "cf")
        flush = _bool_param(request, "flush_memtables", True)
        self._check_tables(keyspace, tables)
        await self._admin.compact(keyspace, tables, flush)
        return _VOID

    async def drain(self, request: Request, params: Mapping[str, str]) -> Response:
        await self._admin.drain()
        return _VOID

    # -- gossiper ----------------------------------------------------------------------------

    async def live_endpoints(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.live_endpoints())

    async def down_endpoints(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.down_endpoints())

    # -- column_family -----------------------------------------------------------------------

    async def table_names(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response([f"{ks}:{table}" for ks, table in sorted(self._admin.tables())])

    # -- compaction_manager ------------------------------------------------------------------

    async def compactions(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response([
            {"id": str(c.id), "ks": c.keyspace, "cf": c.table, "task_type": c.task_type,
             "completed": c.completed, "total": c.total, "unit": c.unit}
            for c in self._admin.compactions()
        ])

    async def pending_tasks(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.pending_compactions())
