"""State of one tablet replica: its memtables and its sstable set, and the on-disk directory.

Owns loading a tablet directory (deleting incomplete writes, removing sstables superseded by a
completed compaction, quarantining corrupt ones) and the live sstable list.

Invariants:
- `sstables` holds every committed, non-quarantined sstable of the tablet exactly once; it is
  replaced by a new list on every change, never changed in place (readers iterate it without a
  lock, and `read_order` notices a change by the list's identity);
- `memtable` is the only memtable taking writes; `flushing` are sealed ones, oldest first, still
  visible to reads until their sstable is in `sstables`;
- generations only grow, so a new file name never collides with an old one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from .commitlog import LogTablet
from .config import TableOptions
from .errors import CorruptionError
from .fs import FileSystem
from .memtable import Memtable
from .sstable_format import COMPONENTS, TOC, component_name, parse_component_name
from .sstable_reader import BlockCache, SSTableReader

log = logging.getLogger(__name__)

TabletId = tuple[UUID, int]
QUARANTINE_DIR = "quarantine"
SNAPSHOTS_DIR = "snapshots"


@dataclass(eq=False)
class TabletState:
    tablet: TabletId
    first_token: int  # exclusive
    last_token: int  # inclusive
    directory: Path
    options: TableOptions
    memtable: Memtable = field(default_factory=Memtable)
    flushing: list[Memtable] = field(default_factory=list)
    sstables: list[SSTableReader] = field(default_factory=list)
    next_generation: int = 1
    flushed_position: tuple[int, int] = (0, 0)  # max replay position of its sstables
    flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    compacting: set[int] = field(default_factory=set)  # generations being compacted
    quarantined: int = 0
    dropped: bool = False
    log: LogTablet = field(init=False)
    # `sstables` by descending max timestamp, as (max_timestamp_us, sstable), and the `sstables`
    # list it was built from: point reads visit sstables in this order (`read_order`). (A
    # replaced list's readers, released, stay referenced until the next point read rebuilds it.)
    read_order_list: list[tuple[int, SSTableReader]] = field(default_factory=list, init=False)
    read_order_of: list[SSTableReader] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.log = LogTablet(self.tablet)

    def read_order(self) -> list[tuple[int, SSTableReader]]:
        """The tablet's sstables as (max_timestamp_us, sstable), descending max timestamp (ties
        in `sstables` order): the order point reads visit them in. Rebuilt only when `sstables`
        was replaced since the last call (a flush, compaction, quarantine, ingest, truncate);
        the list returned is never changed afterwards, so a caller may keep iterating it."""
        if self.read_order_of is not self.sstables:
            ss = self.sstables
            self.read_order_list = sorted(((s.stats["max_timestamp_us"], s) for s in ss),
                                      key=lambda e: e[0], reverse=True)
            self.read_order_of = ss
        return self.read_order_list

    def new_generation(self) -> int:
        g = self.next_generation
        self.next_generation += 1
        return g

    def owns(self, token: int) -> bool:
        return self.first_token < token <= self.last_token


def load_tablet_dir(fs: FileSystem, state: TabletState, cache: BlockCache,
                    drop_before: tuple[int, int] | None = None) -> None:
    """Populate `state.sstables` from disk. `drop_before`: a truncation position; sstables
    flushed at or before it are deleted (the truncate crashed before deleting them)."""
    d = state.directory
    fs.makedirs(d)
    gens: dict[int, set[str]] = {}
    for name in fs.listdir(d):
        parsed = parse_component_name(name)
        if parsed is None:
            continue
        gen, comp = parsed
        gens.setdefault(gen, set()).add(comp)
        state.next_generation = max(state.next_generation, gen + 1)
    for sub in (QUARANTINE_DIR,):
        if fs.exists(d / sub):
            for name in fs.listdir(d / sub):
                parsed = parse_component_name(name)
                if parsed is not None:
                    state.next_generation = max(state.next_generation, parsed[0] + 1)
    readers: list[SSTableReader] = []
    for gen in sorted(gens):
        comps = gens[gen]
        if TOC not in comps:
            # an interrupted write: components without a TOC were never committed
            log.info("removing incomplete sstable generation %d in %s", gen, d)
            remove_generation(fs, d, gen)
            continue
        for c in comps:
            if c.endswith(".tmp"):
                fs.remove(d / component_name(gen, c))
        try:
            readers.append(SSTableReader(fs, d, gen, cache))
        except CorruptionError as e:
            log.error("quarantining sstable %d of %s: %s", gen, state.tablet, e)
            quarantine_generation(fs, d, gen)
            state.quarantined += 1
    obsolete: set[int] = set()
    for r in readers:
        obsolete.update(a for a in r.ancestors if a != r.generation)
    keep = []
    for r in readers:
        if r.generation in obsolete or (drop_before is not None and r.replay_position <= drop_before):
            # a compaction committed its output but crashed before deleting the inputs
            r.close()
            remove_generation(fs, d, r.generation)
        else:
            keep.append(r)
            state.flushed_position = max(state.flushed_position, r.replay_position)
    state.sstables = keep


def remove_generation(fs: FileSystem, d: Path, gen: int) -> None:
    # TOC first, so a crash midway leaves an incomplete (TOC-less) generation, never a broken one
    for comp in (TOC, *COMPONENTS):
        for name in (component_name(gen, comp), component_name(gen, comp) + ".tmp"):
            if fs.exists(d / name):
                fs.remove(d / name)


def quarantine_generation(fs: FileSystem, d: Path, gen: int) -> Path:
    q = d / QUARANTINE_DIR
    fs.makedirs(q)
    for comp in (TOC, *COMPONENTS):
        name = component_name(gen, comp)
        if fs.exists(d / name):
            fs.rename(d / name, q / name)
    fs.sync_dir(d)
    return q
