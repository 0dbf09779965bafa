"""Run by `.venv-scylla/bin/python`: a tablet-aware scylla-driver against a node of several shards.

After a warm-up in which the driver learns each tablet from the `tablets-routing-v1` payloads, it
runs prepared writes and reads by key and prints one JSON line: how many requests it sent and how
many hops between shards the node made meanwhile (`scylla_storage_proxy_replica_cross_shard_ops`,
summed over shards, read from the node's /metrics before and after)."""

import json
import sys
import time
import urllib.request
import uuid

from cassandra.cluster import Cluster

host, port, metrics_port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
METRIC = "scylla_storage_proxy_replica_cross_shard_ops{"


def cross_shard_ops() -> float:
    text = urllib.request.urlopen(f"http://{host}:{metrics_port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(METRIC))


cluster = Cluster([host], port=port)
session = cluster.connect()
ks = "tr_" + uuid.uuid4().hex[:8]
session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', "
                f"'replication_factor': 1}} AND tablets = {{'initial': 8}}")
session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v int)")
ins = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
sel = session.prepare(f"SELECT v FROM {ks}.t WHERE k = ?")
# The driver opens one connection per shard in the background (through the shard-aware port).
pool = next(iter(session._pools.values()))
deadline = time.time() + 20
while time.time() < deadline and len(pool._connections) < pool.host.sharding_info.shards_count:
    time.sleep(0.1)
for k in range(count):  # warm-up: every tablet gets touched and learnt
    session.execute(ins, (k, k))
before = cross_shard_ops()
for k in range(count):
    session.execute(ins, (k, -k))
    row = session.execute(sel, (k,)).one()
    assert row is not None and row.v == -k, (k, row)
after = cross_shard_ops()
shards = {h.sharding_info.shards_count if h.sharding_info else 1 for h in cluster.metadata.all_hosts()}
cluster.shutdown()
print(json.dumps({"requests": 2 * count, "forwards": after - before, "shards_seen_by_driver": sorted(shards)}))
