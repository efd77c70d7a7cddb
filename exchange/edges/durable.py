"""Durable local file writes: fsync'd temporary file, then rename; and hashing."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new name in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Every byte of `data` written to the descriptor (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(
    path: Path, data: bytes, mode: int = 0o640, temp_suffix: str = ".tmp", sync_dir: bool = True, fsync: bool = True
) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one, never half; the data
    is fsync'd, and the new name too unless `sync_dir` is False (the caller syncs the folder later).
    `fsync=False` (and sync_dir=False): the caller makes the batch durable (transport.batch_sync.BatchSync).

    Plain descriptors and string paths: a run writes thousands of small files (three comptes rendus per file
    received), and a buffered file object and pathlib cost more than the system calls themselves (about 80 µs
    a file)."""
    target = os.fspath(path)
    tmp = target + temp_suffix
    # O_NOFOLLOW: a link planted under the temporary name is refused, never written through
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        try:
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
            os.fchmod(fd, mode)  # whatever the umask, or the mode of a temporary file left by a crash
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(Path(target).parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
