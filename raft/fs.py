"""The filesystem interface raft persistence goes through, and its two implementations.

Owns: `FileSystem` (the small set of operations persistence needs), `OsFileSystem` (real files,
real fsync) and `MemoryFileSystem`, which tracks what has been synced so tests can `crash()` it:
unsynced bytes and unsynced directory changes (creations, renames, removals) are lost, and an
unsynced appended tail may survive partially (a torn write).

Durability model (POSIX): file contents are durable after `sync(path)`; a file's existence under
a name (after create/rename/remove) is durable after `sync_dir(directory)`.

Must never: interpret file contents.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Protocol


class FileSystem(Protocol):
    def read(self, path: str) -> bytes:
        """Whole file; raises FileNotFoundError."""
        ...

    def exists(self, path: str) -> bool: ...

    def write(self, path: str, data: bytes) -> None:
        """Create or truncate `path` and write `data` (not durable until `sync`)."""
        ...

    def append(self, path: str, data: bytes) -> None:
        """Append to `path`, creating it if needed (not durable until `sync`)."""
        ...

    def sync(self, path: str) -> None: ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace `dst` with `src` (durable after `sync_dir`)."""
        ...

    def remove(self, path: str) -> None: ...

    def makedirs(self, path: str) -> None: ...

    def sync_dir(self, path: str) -> None: ...


class OsFileSystem:
    """Real files. Appends go through a cached file descriptor per path."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def write(self, path: str, data: bytes) -> None:
        self._close(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)

    def append(self, path: str, data: bytes) -> None:
        fd = self._fds.get(path)
        if fd is None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._fds[path] = fd
        _write_all(fd, data)

    def sync(self, path: str) -> None:
        fd = self._fds.get(path)
        if fd is not None:
            os.fsync(fd)
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename(self, src: str, dst: str) -> None:
        self._close(src)
        self._close(dst)
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        self._close(path)
        os.remove(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def sync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        for path in list(self._fds):
            self._close(path)

    def _close(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


@dataclass
class _Inode:
    data: bytearray = field(default_factory=bytearray)
    synced: bytes = b""


class MemoryFileSystem:
    """In-memory files that remember what was synced. Single flat namespace keyed by path."""

    def __init__(self) -> None:
        self._names: dict[str, _Inode] = {}
        self._durable_names: dict[str, _Inode] = {}
        self._dirs: set[str] = set()
        self.sync_count = 0

    def read(self, path: str) -> bytes:
        try:
            return bytes(self._names[path].data)
        except KeyError:
            raise FileNotFoundError(path) from None

    def exists(self, path: str) -> bool:
        return path in self._names or path in self._dirs

    def write(self, path: str, data: bytes) -> None:
        inode = self._names.get(path)
        if inode is None:
            inode = self._names[path] = _Inode()
        inode.data = bytearray(data)

    def append(self, path: str, data: bytes) -> None:
        inode = self._names.get(path)
        if inode is None:
            inode = self._names[path] = _Inode()
        inode.data += data

    def sync(self, path: str) -> None:
        self.sync_count += 1
        self._names[path].synced = bytes(self._names[path].data)

    def rename(self, src: str, dst: str) -> None:
        self._names[dst] = self._names.pop(src)

    def remove(self, path: str) -> None:
        del self._names[path]

    def makedirs(self, path: str) -> None:
        self._dirs.add(path)

    def sync_dir(self, path: str) -> None:
        self.sync_count += 1
        prefix = path.rstrip("/") + "/"
        for name in [n for n in self._durable_names if n.startswith(prefix)]:
            del self._durable_names[name]
        for name, inode in self._names.items():
            if name.startswith(prefix):
                self._durable_names[name] = inode

    def crash(self, rng: random.Random | None = None) -> None:
        """Lose everything not synced. With `rng`, an unsynced appended tail may survive in part
        (a torn write), as after a power cut."""
        self._names = dict(self._durable_names)
        for inode in self._names.values():
            keep = inode.synced
            tail = bytes(inode.data[len(keep):]) if bytes(inode.data[: len(keep)]) == keep else b""
            if rng is not None and tail:
                keep += tail[: rng.randint(0, len(tail))]
            inode.data = bytearray(keep)
            inode.synced = keep

    def corrupt(self, path: str, offset: int) -> None:
        """Flip one bit of a file, durably (a media error)."""
        inode = self._names[path]
        inode.data[offset] ^= 0x01
        inode.synced = bytes(inode.data)
