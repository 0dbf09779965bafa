"""The replicated state machine interface the raft server drives (thesis §3.1, §5).

Owns: the contract between raft and the application (group 0's state machine in `topology/`).

Guarantees raft gives:
- `apply` receives committed commands in log order, each exactly once per incarnation of the
  server; after a restart the server replays from the latest snapshot, so **apply may run again
  for commands applied before the crash**: make it deterministic and idempotent relative to the
  last snapshot (the state after `load_snapshot(s)` + replay must equal the state before);
- a command is never applied before it is committed on a quorum;
- if a transport duplicates a forwarded proposal the same command may be committed twice:
  deduplicate with a client id + sequence number inside the command (thesis §6.3) if that matters;
- `take_snapshot` is called between `apply` calls, never concurrently with them.

Must never: call back into the raft server from `apply` and wait for it (deadlock: the server's
loop is the caller).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class StateMachine(Protocol):
    async def apply(self, commands: Sequence[bytes]) -> None:
        """Apply committed commands, in order."""
        ...

    async def take_snapshot(self) -> bytes:
        """Serialize the state reflecting every command applied so far."""
        ...

    async def load_snapshot(self, data: bytes) -> None:
        """Replace the whole state by a snapshot (b"" is the empty initial state)."""
        ...
