"""`python -m scylla_py` is the `scylla-py` command."""

from scylla_py.cli import main

main()
