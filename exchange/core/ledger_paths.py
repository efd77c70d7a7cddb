"""Where a ledger path lies on today's disk: paths are recorded relative to a configured root, never outside it.

Pure: a recorded path and a root in, a path (or None) out; the file system is never asked.
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath


def stored_name(account: str, file_name: str) -> str:
    """What the ledger records for a received copy: `<account>/<file>`, relative to `[storage] dir`."""
    return f"{account}/{file_name}"


def under_root(root: Path, recorded: str | None) -> Path | None:
    """The file `recorded` names under today's `root`; None when there is none or it would lie outside the root.

    A relative path (every path written since migration 0014) is joined to the root, `..` refused. An absolute
    path (one the migration could not convert) is accepted only when it lies inside today's root: a database
    restored beside its original never reaches the original's files.
    """
    if not recorded:
        return None
    path = PurePosixPath(recorded)
    if path.is_absolute():
        base = posixpath.normpath(str(root))
        full = posixpath.normpath(recorded)
        if not full.startswith(base.rstrip("/") + "/"):
            return None
        path = PurePosixPath(full[len(base.rstrip("/")) + 1 :])
    if not path.parts or any(part in ("..", ".", "") for part in path.parts):
        return None
    return root.joinpath(*path.parts)


__all__ = ["stored_name", "under_root"]
