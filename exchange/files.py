"""Private local files and folders (0600 / 0700 whatever the umask): a shared leaf the store and the edges use."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

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
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode))
    if os.path.lexists(path) and not os.path.islink(path):
        os.chmod(path, mode)
    return path
