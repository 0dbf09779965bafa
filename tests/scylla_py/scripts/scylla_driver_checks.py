"""Run by `.venv-scylla/bin/python` (scylla-driver cannot share a virtualenv with the stock
driver): exercises scylla-driver against the node given on the command line and exits non-zero,
with the failing assertion printed, if anything is off."""

import sys
import uuid

from cassandra.cluster import Cluster
from cassandra.query import BatchStatement, SimpleStatement

host, port = sys.argv[1], int(sys.argv[2])
ks = "sd_" + uuid.uuid4().hex[:8]
cluster = Cluster([host], port=port)
session = cluster.connect()
assert cluster.protocol_version == 4, cluster.protocol_version
assert len(cluster.metadata.all_hosts()) == 1
session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', "
                f"'replication_factor': 1}} AND tablets = {{'initial': 4}}")
session.execute(f"CREATE TABLE {ks}.t (k int, c text, v blob, PRIMARY KEY (k, c))")
ins = session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")
for i in range(200):
    session.execute(ins, (i % 13, f"c{i}", bytes([i % 256]) * 10))
batch = BatchStatement()
for i in range(10):
    batch.add(ins, (99, f"b{i}", b"x"))
session.execute(batch)
sel = session.prepare(f"SELECT c, v FROM {ks}.t WHERE k = ?")
assert len(list(session.execute(sel, (99,)))) == 10
rows = list(session.execute(SimpleStatement(f"SELECT k, c FROM {ks}.t", fetch_size=17)))
assert len(rows) == 210, len(rows)
tablets = list(session.execute(
    "SELECT tablet_count, last_token, replicas FROM system.tablets WHERE keyspace_name = %s ALLOW FILTERING", (ks,)))
assert len(tablets) == 4 and {r.tablet_count for r in tablets} == {4}, tablets
local = session.execute("SELECT host_id FROM system.local WHERE key = 'local'").one()
assert all(r.replicas[0][0] == local.host_id for r in tablets)
assert cluster.metadata.keyspaces[ks].tables["t"].partition_key[0].name == "k"
cluster.shutdown()
print("scylla-driver checks passed")
