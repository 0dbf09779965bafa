"""The replica side: mutations and cells, per-tablet LSM trees, reads and reconciliation.

Schema-agnostic: keys and clustering prefixes arrive as byte strings whose byte order is the CQL
order. Must never import anything else from the project.
"""
