"""The ScyllaDB-compatible REST routes, as handlers over a `NodeAdmin`.

Owns: which paths exist, their query parameters, argument validation, and the JSON shapes of
the answers, each matching ScyllaDB's api-doc (storage_service, gossiper, snitch, system,
column_family, compaction_manager):
- string results are JSON strings, lists are JSON arrays, numbers are JSON numbers;
- "mapper" results are arrays of {"key": ..., "value": ...} objects;
- tokens are JSON strings (a 64-bit token does not survive a JSON double);
- "void" results are an empty 200 body;
- errors are {"message": ..., "code": ...}; unknown keyspace/table and bad parameters are 400.

One path is ours, not ScyllaDB's: GET /scylla_py/tablets/{keyspace}/{table} lists a table's
tablets with every replica's host and shard (ScyllaDB exposes that only as the CQL table
system.tablets, which we serve too). It lives under /scylla_py/ so no tool mistakes it for a
ScyllaDB path.

It never talks to sockets (that is server.py) and never reaches into the node except through
the `NodeAdmin` it was built with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus

from scylla_py.rest.admin import (
    InvalidAdminRequest,
    KeyspaceKind,
    NodeAdmin,
    RingState,
    TableStatistics,
    UnknownKeyspace,
    UnknownTable,
)
from scylla_py.rest.http import Request, Response, json_response
from scylla_py.rest.ownership import tablet_ownership, vnode_ownership
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


# The `replication` filter of GET /storage_service/keyspaces: value -> keep keyspaces using tablets?
_REPLICATION_FILTER: dict[str, bool | None] = {"all": None, "vnodes": False, "tablets": True}

# GET /column_family/metrics/{metric}/{keyspace:table}: the figures we measure, by ScyllaDB's name.
# (ScyllaDB's memtable_live_data_size is the active memtable only; ours includes memtables being
# flushed, which is ScyllaDB's all_memtables_live_data_size, so only that name is served.)
_TABLE_METRICS: dict[str, Callable[[TableStatistics], int]] = {
    "live_ss_table_count": lambda s: s.sstable_count,
    "live_disk_space_used": lambda s: s.sstable_bytes,
    "all_memtables_live_data_size": lambda s: s.memtable_bytes,
    "estimated_row_count": lambda s: s.estimated_partitions,
}

Handler = Callable[[Request, Mapping[str, str]], Awaitable[Response]]


def build_router(admin: NodeAdmin) -> Router:
    router = Router()
    routes = _Routes(admin)
    table: list[tuple[str, str, Handler]] = [
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
        # node facts and statistics (nodetool status / info / ring / tablestats)
        ("GET", "/storage_service/load", routes.load),
        ("GET", "/storage_service/load_map", routes.load_map),
        ("GET", "/storage_service/generation_number", routes.generation_number),
        ("GET", "/storage_service/native_transport", routes.native_transport),
        ("GET", "/storage_service/gossiping", routes.gossiping),
        ("GET", "/storage_service/tokens", routes.local_tokens),
        ("GET", "/storage_service/tokens/{endpoint}", routes.endpoint_tokens),
        ("GET", "/storage_service/ownership/{keyspace}", routes.effective_ownership),
        ("GET", "/system/uptime_ms", routes.uptime_ms),
        ("GET", "/snitch/datacenter", routes.datacenter),
        ("GET", "/snitch/rack", routes.rack),
        ("GET", "/column_family/", routes.table_infos),
        ("GET", "/scylla_py/tablets/{keyspace}/{table}", routes.tablets),
    ]
    table += [("GET", f"/storage_service/nodes/{state.value}", routes.nodes_in_state(state)) for state in RingState]
    table += [("GET", f"/column_family/metrics/{metric}/{{name}}", routes.table_metric(value))
              for metric, value in _TABLE_METRICS.items()]
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
        replication = request.query_value("replication") or "all"
        if replication not in _REPLICATION_FILTER:
            choices = ", ".join(_REPLICATION_FILTER)
            raise InvalidAdminRequest(
                f"Invalid value for parameter replication: {replication!r} (expected {choices})")
        names = self._admin.keyspaces(kind)
        uses_tablets = _REPLICATION_FILTER[replication]
        if uses_tablets is not None:
            names = [k for k in names if self._admin.keyspace_replication(k).uses_tablets == uses_tablets]
        return json_response(sorted(names))

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

    # -- node facts ------------------------------------------------------------------------

    def _local_endpoint(self) -> str | None:
        me = self._admin.host_id()
        return next((ep for ep, host in self._admin.host_ids() if host == me), None)

    def _check_endpoint(self, endpoint: str) -> None:
        if endpoint not in {ep for ep, _host in self._admin.host_ids()}:
            raise InvalidAdminRequest(f"Unknown endpoint {endpoint}")

    async def load(self, request: Request, params: Mapping[str, str]) -> Response:
        # A double in ScyllaDB's api-doc.
        return json_response(float(await self._admin.load_bytes()))

    async def load_map(self, request: Request, params: Mapping[str, str]) -> Response:
        # map_string_double: values are numbers here, unlike the string-valued "mapper".
        return json_response(_mapper([(ep, float(load)) for ep, load in await self._admin.load_map()]))

    async def generation_number(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.generation_number())

    async def native_transport(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.native_transport_running())

    async def gossiping(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.gossip_running())

    async def uptime_ms(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._admin.uptime_ms())

    def _tokens_of(self, endpoint: str | None) -> list[str]:
        return [str(token) for token, ep in self._admin.token_endpoints(None, None) if ep == endpoint]

    async def local_tokens(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._tokens_of(self._local_endpoint()))

    async def endpoint_tokens(self, request: Request, params: Mapping[str, str]) -> Response:
        self._check_endpoint(params["endpoint"])
        return json_response(self._tokens_of(params["endpoint"]))

    def nodes_in_state(self, state: RingState) -> Handler:
        async def handler(request: Request, params: Mapping[str, str]) -> Response:
            return json_response(sorted(self._admin.endpoints_in_state(state)))
        return handler

    async def effective_ownership(self, request: Request, params: Mapping[str, str]) -> Response:
        keyspace = params["keyspace"]
        table = request.query_value("cf") or None
        endpoints = [ep for ep, _host in self._admin.host_ids()]
        if table is not None:
            self._check_tables(keyspace, [table])
            address_of = {host: ep for ep, host in self._admin.host_ids()}
            owned = tablet_ownership(self._admin.tablets(keyspace, table), address_of, endpoints)
        else:
            self._check_keyspace(keyspace)
            replication = self._admin.keyspace_replication(keyspace)
            if replication.uses_tablets:
                # Each table of a tablets keyspace has its own placement, as in ScyllaDB.
                raise InvalidAdminRequest(
                    f"Keyspace {keyspace} uses tablets: effective ownership needs a table (parameter cf)")
            owned = vnode_ownership(self._admin.token_endpoints(None, None), replication.replication)
        # A "mapper": the fraction (0..1) as a string, as ScyllaDB answers it.
        return json_response(_mapper([(ep, str(fraction)) for ep, fraction in sorted(owned.items())]))

    def _location(self, request: Request) -> tuple[str, str]:
        location = self._admin.endpoint_location(request.query_value("host") or None)
        return location.datacenter, location.rack

    async def datacenter(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._location(request)[0])

    async def rack(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response(self._location(request)[1])

    # -- tables and their statistics ---------------------------------------------------------

    async def table_infos(self, request: Request, params: Mapping[str, str]) -> Response:
        return json_response([{"ks": ks, "cf": table, "type": "ColumnFamilies"}
                              for ks, table in sorted(self._admin.tables())])

    def _split_table_name(self, name: str) -> tuple[str, str]:
        keyspace, sep, table = name.partition(":")
        if not sep or not keyspace or not table:
            # ScyllaDB's wording for a {name} that is not "keyspace:table".
            raise InvalidAdminRequest("Column family name should be in keyspace:column_family format")
        self._check_tables(keyspace, [table])
        return keyspace, table

    def table_metric(self, value: Callable[[TableStatistics], int]) -> Handler:
        async def handler(request: Request, params: Mapping[str, str]) -> Response:
            keyspace, table = self._split_table_name(params["name"])
            return json_response(value(await self._admin.table_statistics(keyspace, table)))
        return handler

    async def tablets(self, request: Request, params: Mapping[str, str]) -> Response:
        keyspace, table = params["keyspace"], params["table"]
        self._check_tables(keyspace, [table])
        address_of = {host: ep for ep, host in self._admin.host_ids()}
        return json_response([
            {"first_token": str(t.first_token), "last_token": str(t.last_token),
             "replicas": [{"host_id": str(host), "endpoint": address_of.get(host), "shard": shard}
                          for host, shard in t.replicas]}
            for t in self._admin.tablets(keyspace, table)
        ])
