"""CQL: native-protocol codec, grammar and parser, CQL types, statements, system tables.

Must never import `storage`, `raft` or `topology`: it parses, types and plans; execution is handed
services explicitly by the daemon.
"""
