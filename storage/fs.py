"""Filesystem abstraction: every byte `storage/` reads or writes goes through a `FileSystem`.

It exists so tests can inject faults (drop unsynced bytes on a simulated crash, flip bits) into
the real engine code. The contract each implementation must honour, and the engine relies on:

- `open_append` creates (or truncates) a file; bytes written are durable only after `sync()`.
- `rename` is atomic: afterwards `dst` is either the old or the new file, never a mix.
- `sync_dir` makes preceding creates/renames/removes in that directory durable.
- A file opened for reading stays readable after it is removed (POSIX unlink semantics).

Nothing here is ever written in place: files are append-only until closed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol


class WritableFile(Protocol):
    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class ReadableFile(Protocol):
    def pread(self, offset: int, size: int) -> bytes: ...

    def size(self) -> int: ...

    def close(self) -> None: ...


class FileSystem(Protocol):
    def open_append(self, path: Path) -> WritableFile: ...

    def open_read(self, path: Path) -> ReadableFile: ...

    def read_file(self, path: Path) -> bytes: ...

    def rename(self, src: Path, dst: Path) -> None: ...

    def remove(self, path: Path) -> None: ...

    def exists(self, path: Path) -> bool: ...

    def listdir(self, path: Path) -> list[str]: ...

    def makedirs(self, path: Path) -> None: ...

    def sync_dir(self, path: Path) -> None: ...

    def link(self, src: Path, dst: Path) -> None: ...

    def rmtree(self, path: Path) -> None: ...

    def file_size(self, path: Path) -> int: ...


class _RealWritable:
    __slots__ = ("_fd",)

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _RealReadable:
    __slots__ = ("_fd", "_size")

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._size = os.fstat(self._fd).st_size

    def pread(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def fileno(self) -> int:
        return self._fd


class RealFileSystem:
    """The operating system's filesystem."""

    def open_append(self, path: Path) -> WritableFile:
        return _RealWritable(path)

    def open_read(self, path: Path) -> ReadableFile:
        return _RealReadable(path)

    def read_file(self, path: Path) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def rename(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)

    def remove(self, path: Path) -> None:
        os.unlink(path)

    def exists(self, path: Path) -> bool:
        return os.path.exists(path)

    def listdir(self, path: Path) -> list[str]:
        return sorted(os.listdir(path))

    def makedirs(self, path: Path) -> None:
        os.makedirs(path, exist_ok=True)

    def sync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def link(self, src: Path, dst: Path) -> None:
        os.link(src, dst)

    def rmtree(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def file_size(self, path: Path) -> int:
        return os.stat(path).st_size
