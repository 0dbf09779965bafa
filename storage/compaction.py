"""Compaction: merging sstables of one tablet into one, dropping what can no longer matter.

Owns the per-partition purge rules and the size-tiered selection; the engine owns scheduling.

Purge rules (Cassandra's): data shadowed by a tombstone in the merged set is dropped; a live
cell whose TTL expired becomes a tombstone with local deletion time `expiry - ttl`; a tombstone
(of any kind) is dropped only when its local deletion time is older than `gc_before_s`
(now - gc_grace_seconds) AND its timestamp is below the smallest timestamp of any data for that
partition outside this compaction (other sstables whose bloom filter says they may hold the
partition, and memtables) -- otherwise dropping it could resurrect older data.

Crash safety: the output is committed (TOC rename) before the inputs are deleted, and lists the
inputs as its ancestors; a reload that finds both deletes the ancestors (tablet.py). Must never
modify an input sstable.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice, repeat
from operator import eq, itemgetter
from pathlib import Path
from typing import Any

import msgpack

from .codec import mutation_from_obj
from .errors import CorruptionError
from .fs import FileSystem
from .mutation import Cell, Mutation, Row
from .plain_merge import PlainMergeFallback, merge_plain_rows
from .reconcile import covering_deletion, merge_versions
from .sstable_reader import SSTableReader
from .sstable_writer import SSTableWriter, is_plain_partition

_MIN_TS = -(1 << 63)
_unpackb = msgpack.unpackb
_first = itemgetter(0)
_second = itemgetter(1)
_fourth = itemgetter(3)

# max_purgeable(token, key) -> timestamp below which tombstones of that partition may be dropped
MaxPurgeable = Callable[[int, bytes], int]


def _compact_row(row: Row, floor: int, now_s: int, gc_before: int, max_purge: int) -> Row | None:
    d = row.deletion
    if d is not None:
        if d.timestamp_us <= floor:
            d = None  # redundant: a wider tombstone already shadows everything it does
        else:
            floor = d.timestamp_us
            if d.local_deletion_time_s < gc_before and d.timestamp_us < max_purge:
                d = None
    mk = row.marker
    if mk is not None:
        if mk.timestamp_us <= floor:
            mk = None
        elif mk.ttl_s and mk.expiry_s <= now_s and mk.expiry_s - mk.ttl_s < gc_before \
                and mk.timestamp_us < max_purge:
            mk = None  # an expired marker is kept (it shadows older markers) until purgeable
    cd = row.collection_deletions
    new_cd = {}
    for col, dt in cd.items():
        if dt.timestamp_us > floor and not (dt.local_deletion_time_s < gc_before and dt.timestamp_us < max_purge):
            new_cd[col] = dt
    cells: dict[tuple[str, bytes], Cell] = {}
    for k, c in row.cells.items():
        ts = c.timestamp_us
        if ts <= floor:
            continue
        if cd:
            t = cd.get(k[0])
            if t is not None and ts <= t.timestamp_us:
                continue
        if c.value is not None:
            if c.ttl_s and c.expiry_s <= now_s:
                c = Cell(ts, None, 0, c.expiry_s - c.ttl_s)
            else:
                cells[k] = c
                continue
        if c.expiry_s < gc_before and ts < max_purge:
            continue
        cells[k] = c
    if mk is None and d is None and not cells and not new_cd:
        return None
    return Row(mk, d, cells, new_cd)


def compact_partition(m: Mutation, now_s: int, gc_before: int, max_purge: int) -> Mutation | None:
    """Apply shadowing, TTL expiry and purging to a reconciled partition (modifies nothing)."""
    pd = m.partition_deletion
    floor = _MIN_TS
    if pd is not None:
        floor = pd.timestamp_us
        if pd.local_deletion_time_s < gc_before and pd.timestamp_us < max_purge:
            pd = None
    rts = [rt for rt in m.range_tombstones
           if rt.deletion.timestamp_us > floor and rt.start < rt.end
           and not (rt.deletion.local_deletion_time_s < gc_before and rt.deletion.timestamp_us < max_purge)]
    all_rts = m.range_tombstones
    static = None if m.static_row is None else _compact_row(m.static_row, floor, now_s, gc_before, max_purge)
    rows: dict[bytes, Row] = {}
    for ck, row in m.rows.items():
        f = floor
        if all_rts:
            f = max(f, covering_deletion(all_rts, ck))
        r = _compact_row(row, f, now_s, gc_before, max_purge)
        if r is not None:
            rows[ck] = r
    if pd is None and static is None and not rows and not rts:
        return None
    return Mutation(m.token, m.key, pd, static, rows, rts)


# one partition as the merge sees it: (token, key, input number, encoded partition)
Item = tuple[int, bytes, int, bytes]


def merged_batches(inputs: Sequence[SSTableReader]) -> Iterator[list[Item]]:
    """Every partition of `inputs`, still encoded, in (token, key) order, as sorted batches; the
    versions of one partition are adjacent, ordered by input, and never split across batches.

    Each step takes, from every input, its buffered entries up to the smallest "last key of the
    buffered index block" among the inputs, and sorts them together: the sort (C) does the
    k-way merge, instead of a Python-level heap step per partition.
    """
    chunks: list[tuple[list[int], list[bytes], list[bytes]] | None] = []
    pos: list[int] = []
    streams = [r.iter_chunks() for r in inputs]

    def refill(s: int) -> None:
        for c in streams[s]:
            if c[0]:
                chunks[s] = c
                pos[s] = 0
                return
        chunks[s] = None

    for s in range(len(streams)):
        chunks.append(None)
        pos.append(0)
        refill(s)
    while True:
        live = [s for s in range(len(chunks)) if chunks[s] is not None]
        if not live:
            return
        bound = min((c[0][-1], c[1][-1]) for c in (chunks[s] for s in live) if c is not None)
        batch: list[Item] = []
        for s in live:
            c = chunks[s]
            assert c is not None
            tokens, keys, packed = c
            p = pos[s]
            if (tokens[-1], keys[-1]) <= bound:
                end = len(tokens)
            else:
                end = _upper_bound(tokens, keys, bound, p)
            if end > p:
                batch.extend(zip(tokens[p:end], keys[p:end], repeat(s), packed[p:end]))
            if end == len(tokens):
                refill(s)
            else:
                pos[s] = end
        if len(live) > 1:
            batch.sort()  # (token, key) are unique per input, so encoded bytes never compare
        yield batch


def _upper_bound(tokens: list[int], keys: list[bytes], bound: tuple[int, bytes], lo: int) -> int:
    """First index at or after `lo` whose (token, key) is above `bound`."""
    t, k = bound
    j = bisect_left(tokens, t, lo)
    n = len(tokens)
    while j < n and tokens[j] == t and keys[j] <= k:
        j += 1
    return j


_EMPTY_ROW = (None, None, (), ())  # a plain row with no marker and no cells, as msgpack decodes it


def merge_plain_versions(objs: list[Any]) -> tuple[Any, int, int] | None:
    """Codec-level `merge_versions` + `compact_partition` of versions `objs` of one partition
    (codec form, ordered by input), all from plain inputs none of which holds the timestamp
    -2**63: (merged partition or None if nothing is left, rows delta, cells delta), where the
    deltas are what the row and cell counts of the output differ from the sum of the inputs'.
    Packed, the partition is the bytes the slow path writes; it may be one of `objs` itself
    (that version is the result as it is: its stored bytes are). None: take the slow path.
    """
    o0 = objs[0]
    flat = o0[4]
    if len(flat) == 2 and o0[3] is None:
        # the common overwrite: each version is one row, the same one
        ck = flat[0]
        rs = [flat[1]]
        for o in objs[1:]:
            f = o[4]
            if len(f) != 2 or f[0] != ck or o[3] is not None:
                break
            rs.append(f[1])
        else:
            try:
                r, merged = merge_plain_rows(rs)
            except PlainMergeFallback:
                return None
            k = len(rs) - 1
            if r is None:
                return None, -k - 1, -merged
            for o in objs:
                if o[4][1] is r:
                    return o, -k, -merged  # that version as it is
            return (o0[0], o0[1], None, None, [ck, r], ()), -k, -merged
    rows: dict[bytes, Any] = dict(zip(flat[0::2], flat[1::2]))
    n = len(flat)
    for o in objs[1:]:
        flat = o[4]
        n += len(flat)
        rows.update(zip(flat[0::2], flat[1::2]))
    same: dict[bytes, list[Any]] = {}  # clustering -> its versions, for rows in several
    if len(rows) * 2 != n:  # not disjoint (the common case for wide partitions): find the shared rows
        for o in objs:
            flat = o[4]
            for ck, r in zip(flat[0::2], flat[1::2]):
                vs = same.get(ck)
                if vs is None:
                    same[ck] = [r]
                else:
                    vs.append(r)
        same = {ck: vs for ck, vs in same.items() if len(vs) > 1}
    drows = 0
    dcells = 0
    try:
        for ck, vs in same.items():
            r, merged = merge_plain_rows(vs)
            dcells -= merged
            drows -= len(vs) - 1
            if r is None:
                del rows[ck]
                drows -= 1
            else:
                rows[ck] = r
        statics = [o[3] for o in objs if o[3] is not None]
        static = None
        if len(statics) == 1:
            static = None if statics[0] == _EMPTY_ROW else statics[0]
        elif statics:
            static, merged = merge_plain_rows(statics)
            dcells -= merged
    except PlainMergeFallback:
        return None
    if _EMPTY_ROW in rows.values():  # (a merged row is never equal to it: it holds a list or a marker)
        kept = {ck: r for ck, r in rows.items() if r != _EMPTY_ROW}
        drows -= len(rows) - len(kept)
        rows = kept
    if not rows and static is None:
        return None, drows, dcells
    # clustering keys are distinct, so sorting the pairs never compares two rows
    out_rows = list(chain.from_iterable(sorted(rows.items()) if len(rows) > 1 else rows.items()))
    return (o0[0], o0[1], None, static, out_rows, ()), drows, dcells


class _PlainTotals:
    """Row/cell/timestamp figures of the plain inputs' partitions that are copied verbatim
    (their sum is exact: whatever leaves that path is subtracted)."""

    def __init__(self, plain_inputs: Iterable[SSTableReader]) -> None:
        self.rows = 0
        self.cells = 0
        self.min_ts = (1 << 63) - 1
        self.max_ts = _MIN_TS
        self.non_expiring = False
        for r in plain_inputs:
            st = r.stats
            self.rows += st["rows"]
            self.cells += st["cells"]
            self.min_ts = min(self.min_ts, st["min_timestamp_us"])
            self.max_ts = max(self.max_ts, st["max_timestamp_us"])
            self.non_expiring = self.non_expiring or r.non_expiring

    def remove(self, obj: Any) -> None:
        """A partition of a plain input that is being decoded instead of copied."""
        rows = obj[4]
        self.rows -= len(rows) // 2
        ncells = sum(len(r[2]) for r in rows[1::2])
        if obj[3] is not None:
            ncells += len(obj[3][2])
        self.cells -= ncells // 7


def _decode_item(inputs: Sequence[SSTableReader], item: Item) -> Any:
    """The codec form of an encoded partition (input number item[2] of `inputs`)."""
    try:
        return _unpackb(item[3], raw=False, use_list=False)
    except Exception as e:  # msgpack raises several types on malformed input
        r = inputs[item[2]]
        raise CorruptionError(r.path("Data.db"), -1, f"malformed partition {item[1]!r}: {e}") from e


def run_compaction(fs: FileSystem, directory: Path, generation: int, inputs: Sequence[SSTableReader], *,
                   now_s: int, gc_grace_s: int, max_purgeable: MaxPurgeable, bloom_fp_chance: float,
                   block_size_bytes: int, token_filter: Callable[[int], bool] | None = None,
                   same_directory: bool = True, drop_all: bool = False) -> list[Path]:
    """Write the compacted union of `inputs` as sstable `generation` in `directory`; returns its
    paths. `same_directory=False` (a split) records no ancestors: they name other files.
    `drop_all`: write an empty sstable without reading the inputs (they are fully expired).

    Partitions are copied without decoding when nothing in them can change: a single version
    from a `plain` input (statistics say: no deletions, no TTLs anywhere). Several versions all
    from plain inputs are merged in codec form (`merge_plain_versions`: the bytes and statistics
    the slow path would give). Everything else is decoded, reconciled and purged
    (`compact_partition`).
    """
    gc_before = now_s - gc_grace_s
    rp = max((r.replay_position for r in inputs), default=(0, 0))
    w = SSTableWriter(fs, directory, generation, expected_partitions=sum(r.partitions for r in inputs),
                      bloom_fp_chance=bloom_fp_chance, block_size_bytes=block_size_bytes,
                      replay_position=rp, ancestors=[r.generation for r in inputs] if same_directory else [],
                      created_at_s=now_s)
    read = [] if drop_all else inputs
    # a split drops partitions outside its range: plain totals would then need every dropped
    # partition decoded to subtract it, so it takes the exact per-partition path throughout
    plain = [r.plain and token_filter is None for r in read]
    all_plain = all(plain)
    totals = _PlainTotals(r for r, p in zip(read, plain, strict=True) if p)
    # the slow path drops data at timestamp -2**63 (compact_partition's floor): the plain merge
    # runs only where statistics say there is none
    mergeable = all(r.stats["min_timestamp_us"] > _MIN_TS for r, p in zip(read, plain, strict=True) if p)
    stats = w.stats
    pack = msgpack.Packer(use_bin_type=True).pack
    # partitions added as they are, gathered to be added a run at a time (add_packed_run);
    # a partition the slow path writes (w.add) first adds what is gathered, to keep the order
    run_tokens: list[int] = []
    run_keys: list[bytes] = []
    run_packed: list[bytes] = []
    try:
        for batch in merged_batches(read):
            if all_plain:
                tokens = list(map(_first, batch))
                # no equal neighbouring tokens: no partition has two versions in this batch
                if not any(map(eq, tokens, islice(tokens, 1, None))):
                    w.add_packed_batch(tokens, list(map(_second, batch)), list(map(_fourth, batch)))
                    continue
            i = 0
            n = len(batch)
            copied = 0  # partitions of this batch for `stats.add_copied`, and their token bounds
            first_copied = last_copied = 0
            while i < n:
                item = batch[i]
                token, key = item[0], item[1]
                e = i + 1
                while e < n and batch[e][0] == token and batch[e][1] == key:
                    e += 1
                group = batch[i:e]
                i = e
                if token_filter is not None and not token_filter(token):
                    continue
                if len(group) == 1:
                    if plain[item[2]]:
                        if not copied:
                            first_copied = token
                        copied += 1
                        last_copied = token
                        run_tokens.append(token)
                        run_keys.append(key)
                        run_packed.append(item[3])
                        continue
                    obj = _decode_item(inputs, item)
                    if is_plain_partition(obj):
                        stats.add_plain(obj)
                        run_tokens.append(token)  # nothing to shadow, expire or purge
                        run_keys.append(key)
                        run_packed.append(item[3])
                        continue
                    objs = [obj]
                else:
                    try:
                        objs = [_unpackb(it[3], raw=False, use_list=False) for it in group]
                    except Exception:  # (msgpack raises several types): find which, and report it
                        objs = [_decode_item(inputs, it) for it in group]
                    if mergeable and (all_plain or all(plain[it[2]] for it in group)):
                        res = merge_plain_versions(objs)
                        if res is not None:
                            # the plain totals count every input row and cell: take back the
                            # ones merged away
                            combined, drows, dcells = res
                            totals.rows += drows
                            totals.cells += dcells
                            if combined is not None:
                                for it, o in zip(group, objs, strict=True):
                                    if o is combined:
                                        packed = it[3]  # a stored version, as the slow path would pack it
                                        break
                                else:
                                    packed = pack(combined)
                                if not copied:
                                    first_copied = token
                                copied += 1
                                last_copied = token
                                run_tokens.append(token)
                                run_keys.append(key)
                                run_packed.append(packed)
                            continue
                for it, o in zip(group, objs, strict=True):
                    if plain[it[2]]:
                        totals.remove(o)
                versions = [mutation_from_obj(o) for o in objs]
                merged = versions[0] if len(versions) == 1 else merge_versions(token, key, versions)
                out = compact_partition(merged, now_s, gc_before, max_purgeable(token, key))
                if out is not None:
                    if run_tokens:
                        w.add_packed_run(run_tokens, run_keys, run_packed)
                        run_tokens, run_keys, run_packed = [], [], []
                    w.add(out)
            if copied:
                stats.add_copied(copied, first_copied, last_copied)
            if run_tokens:
                w.add_packed_run(run_tokens, run_keys, run_packed)
                run_tokens, run_keys, run_packed = [], [], []
        stats.absorb(totals.rows, totals.cells, totals.min_ts, totals.max_ts, totals.non_expiring)
        # written even when empty: its ancestors list is what makes deleting the inputs crash-safe
        return w.finish()
    except BaseException:
        w.abort()
        raise


def size_tiered_candidates(sstables: Iterable[SSTableReader], options: dict[str, str]) -> list[SSTableReader]:
    """Cassandra's STCS bucketing: similar-sized sstables; the smallest full bucket wins."""
    min_threshold = int(options.get("min_threshold", "4"))
    max_threshold = int(options.get("max_threshold", "32"))
    low = float(options.get("bucket_low", "0.5"))
    high = float(options.get("bucket_high", "1.5"))
    min_size = int(options.get("min_sstable_size", str(50 << 20)))
    buckets: list[list[SSTableReader]] = []
    avgs: list[float] = []
    for s in sorted(sstables, key=lambda s: s.size_bytes):
        size = s.size_bytes
        for i, b in enumerate(buckets):
            avg = avgs[i]
            if (avg * low <= size <= avg * high) or (size < min_size and avg < min_size):
                b.append(s)
                avgs[i] = (avg * (len(b) - 1) + size) / len(b)
                break
        else:
            buckets.append([s])
            avgs.append(float(size))
    full = [(avgs[i], b) for i, b in enumerate(buckets) if len(b) >= min_threshold]
    if not full:
        return []
    full.sort(key=lambda x: x[0])
    return full[0][1][:max_threshold]
