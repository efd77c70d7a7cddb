"""Durable local file writes: fsync'd temporary file, then rename; and hashing."""

from __future__ import annotations

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


def write_atomic(
    path: Path, data: bytes, mode: int = 0o640, temp_suffix: str = ".tmp", sync_dir: bool = True, fsync: bool = True
) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one, never half; the data
    is fsync'd, and the new name too unless `sync_dir` is False (the caller syncs the folder later).
    `fsync=False` (and sync_dir=False): the caller makes the batch durable (transport.batch_sync.BatchSync)."""
    path = Path(path)
    tmp = path.with_name(path.name + temp_suffix)
    # O_NOFOLLOW: a link planted under the temporary name is refused, never written through
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# Everything holding a NIR (ledger, received copies, Caf files) is private to the service account, whatever the umask.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """`path` as a folder of `mode` (0700 by default): created with any missing parent (those get `mode`
    too), and tightened when it already exists."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    path.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, mode)
    if path.stat().st_mode & 0o7777 != mode:
        os.chmod(path, mode)
    return path


def private_parent(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """The folder that will hold `path`: created `mode` when missing; an existing one is left as it is."""
    parent = Path(path).parent
    missing = [p for p in (parent, *parent.parents) if not os.path.lexists(p)]
    parent.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, mode)
    return parent


def private_file(path: Path, mode: int = PRIVATE_FILE, create: bool = False) -> Path:
    """`path` set to `mode` (0600 by default); created empty first when asked and missing (never through a link)."""
    path = Path(path)
    if create and not os.path.lexists(path):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode))
        except FileExistsError:
            pass
    if os.path.lexists(path) and not os.path.islink(path):
        os.chmod(path, mode)
    return path
