"""Shared fakes for storage tests: an in-memory fault-injecting filesystem and a fake clock.

`FaultFS` models what a crash can do to a POSIX filesystem: bytes not yet fsynced may be lost
(`crash()` keeps only each file's synced prefix, optionally plus a torn fragment of the rest).
Simplification, stated so tests do not over-trust it: directory operations (create, rename,
remove, link) are durable immediately, as on a filesystem with ordered metadata journaling.
Faults: `fail_on(op, substring)` makes the next matching operation raise OSError (a crash point),
`flip_bit` and `truncate` damage a file in place.
"""

from __future__ import annotations

import random
from pathlib import Path


class _Inode:
    __slots__ = ("data", "synced")

    def __init__(self, data: bytes = b"", synced: int = 0) -> None:
        self.data = bytearray(data)
        self.synced = synced


class _Writer:
    def __init__(self, fs: FaultFS, inode: _Inode, path: str) -> None:
        self._fs = fs
        self._inode = inode
        self._path = path
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self._fs.check("write", self._path)
        self._inode.data += bytes(data)

    def sync(self) -> None:
        assert not self.closed, "sync after close"
        self._fs.check("sync", self._path)
        self._fs.syncs += 1
        self._inode.synced = len(self._inode.data)

    def close(self) -> None:
        self.closed = True


class _Reader:
    def __init__(self, inode: _Inode) -> None:
        self._inode = inode

    def pread(self, offset: int, size: int) -> bytes:
        return bytes(self._inode.data[offset:offset + size])

    def size(self) -> int:
        return len(self._inode.data)

    def close(self) -> None:
        pass


class FaultFS:
    def __init__(self) -> None:
        self.files: dict[str, _Inode] = {}
        self.dirs: set[str] = {"/"}
        self.syncs = 0
        self._fail: list[tuple[str, str]] = []

    # -- fault injection ----------------------------------------------------------------------

    def fail_on(self, op: str, substring: str) -> None:
        """The next `op` ("write", "sync", "rename", "remove", "link") on a path containing
        `substring` raises OSError."""
        self._fail.append((op, substring))

    def check(self, op: str, path: str) -> None:
        for i, (o, sub) in enumerate(self._fail):
            if o == op and sub in path:
                del self._fail[i]
                raise OSError(f"injected failure: {op} {path}")

    def crash(self, rng: random.Random | None = None) -> FaultFS:
        """The disk as a new FaultFS after power loss: unsynced bytes dropped (or torn)."""
        new = FaultFS()
        new.dirs = set(self.dirs)
        for p, ino in self.files.items():
            keep = ino.synced
            if rng is not None and len(ino.data) > keep and rng.random() < 0.5:
                keep = rng.randint(keep, len(ino.data))  # part of the unsynced tail made it
            new.files[p] = _Inode(bytes(ino.data[:keep]), keep)
        return new

    def flip_bit(self, path: Path | str, offset: int, bit: int = 0) -> None:
        ino = self.files[str(path)]
        ino.data[offset] ^= 1 << bit

    def truncate(self, path: Path | str, size: int) -> None:
        ino = self.files[str(path)]
        del ino.data[size:]
        ino.synced = min(ino.synced, size)

    def all_files(self) -> list[str]:
        return sorted(self.files)

    # -- FileSystem protocol ------------------------------------------------------------------

    def _parent_exists(self, p: str) -> None:
        parent = str(Path(p).parent)
        if parent not in self.dirs:
            raise FileNotFoundError(parent)

    def open_append(self, path: Path) -> _Writer:
        p = str(path)
        self._parent_exists(p)
        ino = _Inode()
        self.files[p] = ino
        return _Writer(self, ino, p)

    def open_read(self, path: Path) -> _Reader:
        p = str(path)
        if p not in self.files:
            raise FileNotFoundError(p)
        return _Reader(self.files[p])

    def read_file(self, path: Path) -> bytes:
        p = str(path)
        if p not in self.files:
            raise FileNotFoundError(p)
        return bytes(self.files[p].data)

    def rename(self, src: Path, dst: Path) -> None:
        s, d = str(src), str(dst)
        self.check("rename", s)
        if s not in self.files:
            raise FileNotFoundError(s)
        self._parent_exists(d)
        self.files[d] = self.files.pop(s)

    def remove(self, path: Path) -> None:
        p = str(path)
        self.check("remove", p)
        if p not in self.files:
            raise FileNotFoundError(p)
        del self.files[p]

    def exists(self, path: Path) -> bool:
        p = str(path)
        return p in self.files or p in self.dirs

    def listdir(self, path: Path) -> list[str]:
        p = str(path)
        if p not in self.dirs:
            raise FileNotFoundError(p)
        prefix = p.rstrip("/") + "/"
        names = {q[len(prefix):].split("/", 1)[0] for q in (*self.files, *self.dirs) if q.startswith(prefix)}
        return sorted(n for n in names if n)

    def makedirs(self, path: Path) -> None:
        p = Path(path)
        for q in (p, *p.parents):
            self.dirs.add(str(q))

    def sync_dir(self, path: Path) -> None:
        if str(path) not in self.dirs:
            raise FileNotFoundError(str(path))

    def link(self, src: Path, dst: Path) -> None:
        s, d = str(src), str(dst)
        self.check("link", s)
        if d in self.files:
            raise FileExistsError(d)
        self._parent_exists(d)
        self.files[d] = self.files[s]

    def rmtree(self, path: Path) -> None:
        p = str(path)
        prefix = p.rstrip("/") + "/"
        for q in [q for q in self.files if q.startswith(prefix)]:
            del self.files[q]
        self.dirs = {q for q in self.dirs if q != p and not q.startswith(prefix)}

    def file_size(self, path: Path) -> int:
        return len(self.files[str(path)].data)


class FakeClock:
    def __init__(self, now_s: int = 1_700_000_000) -> None:
        self._now_us = now_s * 1_000_000

    def now_us(self) -> int:
        return self._now_us

    def now_s(self) -> int:
        return self._now_us // 1_000_000

    def advance(self, seconds: float) -> None:
        self._now_us += int(seconds * 1_000_000)
