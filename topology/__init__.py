"""Group-0 state (schema records, nodes, tablets), the tablets map and token-to-replica lookup.

May import `raft` and `storage`; never `scylla_py`.
"""
