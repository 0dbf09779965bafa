"""The core's in-memory view of the replicated log (thesis §3.5, §5).

Owns: the entries after the latest snapshot, the snapshot's (index, term, configuration), the
commit index, which prefix is known durable (`stable_index`) and the configuration history needed
to roll back a membership change when a follower's uncommitted tail is overwritten (thesis §4.1:
a server uses the latest configuration in its log, committed or not).

Invariants:
- entries are contiguous: `entries[i].index == snapshot_index + 1 + i`, terms never decrease;
- `snapshot_index <= commit_index <= last_index` (commit never moves backwards);
- a committed entry is never truncated (the caller checks; `truncate_after` asserts it);
- `stable_index <= last_index`.

Must never: perform I/O; decide anything about roles or terms.
"""

from __future__ import annotations

from raft.types import Configuration, EntryKind, Index, LogEntry, SnapshotDescriptor, Term


class LogError(Exception):
    """A request that would break a log invariant (a bug in the caller, or a malicious peer)."""


class RaftLog:
    __slots__ = ("_commit_index", "_config_cache", "_config_indexes", "_entries", "_snapshot", "_stable_index")

    def __init__(self, snapshot: SnapshotDescriptor, entries: list[LogEntry]) -> None:
        self._snapshot = snapshot
        self._entries: list[LogEntry] = []
        expect = snapshot.index + 1
        prev_term = snapshot.term
        for e in entries:
            if e.index < expect:
                continue  # covered by the snapshot (persistence may truncate lazily)
            if e.index != expect or e.term < prev_term:
                raise LogError(f"non-contiguous log at index {e.index} (expected {expect})")
            self._entries.append(e)
            expect += 1
            prev_term = e.term
        self._commit_index: Index = snapshot.index
        self._stable_index: Index = self.last_index
        self._config_cache: Configuration | None = None
        # Indexes of the CONFIG entries in memory, ascending: last_config_index() is hot.
        self._config_indexes: list[Index] = [e.index for e in self._entries if e.kind == EntryKind.CONFIG]

    # ---- queries -------------------------------------------------------------------------

    @property
    def snapshot(self) -> SnapshotDescriptor:
        return self._snapshot

    @property
    def first_index(self) -> Index:
        return Index(self._snapshot.index + 1)

    @property
    def last_index(self) -> Index:
        return Index(self._snapshot.index + len(self._entries))

    @property
    def last_term(self) -> Term:
        return self._entries[-1].term if self._entries else self._snapshot.term

    @property
    def commit_index(self) -> Index:
        return self._commit_index

    @property
    def stable_index(self) -> Index:
        return self._stable_index

    def term_at(self, index: int) -> Term | None:
        """Term of the entry at `index`, or None if it is unknown (compacted or beyond the end)."""
        if index == self._snapshot.index:
            return self._snapshot.term
        pos = index - self._snapshot.index - 1
        if 0 <= pos < len(self._entries):
            return self._entries[pos].term
        return None

    def matches(self, index: int, term: int) -> bool:
        """The log-matching check of AppendEntries (thesis §3.5)."""
        if index < self._snapshot.index:
            # Entries below our snapshot are committed, hence match any leader's log.
            return True
        return self.term_at(index) == term

    def entry(self, index: int) -> LogEntry:
        pos = index - self._snapshot.index - 1
        if not 0 <= pos < len(self._entries):
            raise LogError(f"entry {index} not in memory [{self.first_index}, {self.last_index}]")
        return self._entries[pos]

    def slice(self, start: int, end: int, max_bytes: int | None = None) -> list[LogEntry]:
        """Entries with index in [start, end], at least one if any, capped at `max_bytes`."""
        lo = max(start - self._snapshot.index - 1, 0)
        hi = min(end - self._snapshot.index, len(self._entries))
        if max_bytes is None or hi <= lo:
            return self._entries[lo:hi]
        out: list[LogEntry] = []
        size = 0
        for e in self._entries[lo:hi]:
            size += e.size_bytes()
            if out and size > max_bytes:
                break
            out.append(e)
        return out

    def first_index_of_term(self, index: int) -> Index:
        """First index holding the same term as `index` (used for the conflict hint)."""
        term = self.term_at(index)
        i = index
        while i - 1 > self._snapshot.index and self.term_at(i - 1) == term:
            i -= 1
        return Index(i)

    def last_index_of_term(self, term: int) -> Index | None:
        """Last index whose entry has `term`, if any such entry is in memory."""
        for e in reversed(self._entries):
            if e.term == term:
                return e.index
            if e.term < term:
                return None
        return None

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Election restriction (thesis §3.6.1): is a candidate's log at least as up to date?"""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def configuration(self) -> Configuration:
        """Latest configuration in the log, committed or not (thesis §4.1)."""
        if self._config_cache is None:
            cfg = self._snapshot.config
            for e in reversed(self._entries):
                if e.config is not None:
                    cfg = e.config
                    break
            self._config_cache = cfg
        return self._config_cache

    def last_config_index(self) -> Index:
        return self._config_indexes[-1] if self._config_indexes else self._snapshot.index

    def unstable_entries(self) -> list[LogEntry]:
        return self._entries[self._stable_index - self._snapshot.index:]

    # ---- mutations -----------------------------------------------------------------------

    def append(self, entry: LogEntry) -> None:
        if entry.index != self.last_index + 1 or entry.term < self.last_term:
            raise LogError(f"append of {entry.index}/{entry.term} after {self.last_index}/{self.last_term}")
        self._entries.append(entry)
        if entry.kind == EntryKind.CONFIG:
            self._config_indexes.append(entry.index)
            self._config_cache = None

    def truncate_after(self, index: int) -> None:
        """Drop entries after `index` (a follower's conflicting, uncommitted tail, thesis §3.5)."""
        if index < self._commit_index:
            raise LogError(f"refusing to truncate committed entries after {index} (commit {self._commit_index})")
        del self._entries[index - self._snapshot.index:]
        self._stable_index = Index(min(self._stable_index, index))
        self._config_indexes = [i for i in self._config_indexes if i <= index]
        self._config_cache = None

    def commit_to(self, index: int) -> bool:
        """Move the commit index forward (never backwards); True if it moved."""
        index = min(index, self.last_index)
        if index <= self._commit_index:
            return False
        self._commit_index = Index(index)
        return True

    def stable_to(self, index: int, term: int) -> None:
        """Record that entries up to (index, term) are durable; ignored if the log changed since."""
        if self.term_at(index) == term and index > self._stable_index:
            self._stable_index = Index(index)

    def compact(self, snapshot: SnapshotDescriptor, keep_trailing: int) -> None:
        """Apply a local snapshot: drop entries up to `snapshot.index - keep_trailing`.

        Keeping a trailing tail lets slightly lagging followers catch up with AppendEntries
        instead of a full InstallSnapshot (an implementation choice, as in etcd; cf. thesis §5.1).
        """
        if snapshot.index > self._commit_index:
            raise LogError(f"snapshot {snapshot.index} beyond commit index {self._commit_index}")
        if snapshot.index <= self._snapshot.index:
            return
        cut = max(snapshot.index - keep_trailing, self._snapshot.index)
        if cut > self._snapshot.index:
            term = self.term_at(cut)
            assert term is not None
            cfg = self.config_at(cut)
            del self._entries[: cut - self._snapshot.index]
            self._snapshot = SnapshotDescriptor(Index(cut), term, cfg)
            self._config_indexes = [i for i in self._config_indexes if i > cut]
        # The descriptor we keep is for the log's base; the real snapshot is tracked by the core.

    def restore(self, snapshot: SnapshotDescriptor) -> None:
        """Install a leader's snapshot (thesis §5.3): keep a matching suffix, else drop the log."""
        if self.term_at(snapshot.index) == snapshot.term and snapshot.index <= self.last_index:
            del self._entries[: snapshot.index - self._snapshot.index]
        else:
            self._entries.clear()
        self._config_indexes = [i for i in self._config_indexes if i > snapshot.index] if self._entries else []
        self._snapshot = snapshot
        self._commit_index = Index(max(self._commit_index, snapshot.index))
        # Persistence replaces its whole log when it stores a received snapshot, so any retained
        # suffix must be written again: mark it unstable.
        self._stable_index = snapshot.index
        self._config_cache = None

    def config_at(self, index: int) -> Configuration:
        cfg = self._snapshot.config
        for e in self._entries:
            if e.index > index:
                break
            if e.config is not None:
                cfg = e.config
        return cfg
