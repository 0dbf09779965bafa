"""A Raft consensus library: a deterministic core plus an asyncio server.

Must never import anything else from the project.
"""
