"""`scylla-py stress`: a shard- and tablet-aware CQL load generator (docs/stress.md).

Modules, from the command down: `command` (click options -> `config.StressConfig`), `runner`
(schema, worker processes, merged report), `report` (progress lines, summary, JSON), `workload`
(the closed loop of one process), `session` (connections per shard, prepared statements),
`routing` (token -> shard from learned tablets), `connection` (asyncio shell over the sans-IO
`cql.protocol.client` codec), `histogram` (mergeable latency histogram).

It never uses a driver: the load generator shares the machine with the server it measures, so its
per-request cost must stay small.
"""

from .command import stress

__all__ = ["stress"]
