"""Make a batch of freshly written local files durable: one syncfs per filesystem, else an fsync each."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path


def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2) (Linux), or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


class BatchSync:
    """Opened before the files are written, synced after.

    syncfs(2) writes back every dirty page and inode of the filesystem, so it covers the data and the
    directory entries of every file written there; since Linux 5.8 it reports a write-back error that
    happened on that filesystem after the descriptor it is given was opened — hence the descriptors are
    opened first. When syncfs is missing or reports an error, each file is fsync'd, so that the error is
    told for the file it belongs to.
    """

    def __init__(self, dests: list[Path], folders: list[Path] = ()) -> None:  # type: ignore[assignment]
        """`dests`: the files to be written; `folders`: folders where names will change (renames)."""
        self._syncfs = _syncfs()
        self._fds: list[int] = []
        if self._syncfs is None:
            return
        seen: set[int] = set()
        for folder in dict.fromkeys([*(Path(d).parent for d in dests), *map(Path, folders)]):
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue  # its files fail to be written anyway
            dev = os.fstat(fd).st_dev
            if dev in seen:
                os.close(fd)
            else:
                seen.add(dev)
                self._fds.append(fd)

    def __enter__(self) -> BatchSync:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def make_durable(self, paths: list[Path], folders: list[Path] = ()) -> dict[Path, OSError]:  # type: ignore[assignment]
        """Every file in `paths`, and the names in `folders`, on disk; those that could not be, with their error."""
        if not paths and not folders:
            return {}
        syncfs = self._syncfs
        if (
            syncfs is not None
            and self._fds
            and self._covers(paths, folders)
            and all(syncfs(fd) == 0 for fd in self._fds)
        ):
            return {}
        errors: dict[Path, OSError] = {}
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                errors[path] = e
        for folder in dict.fromkeys([*(Path(p).parent for p in paths if p not in errors), *map(Path, folders)]):
            # the new names too, as syncfs would have
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                errors.setdefault(folder, e)
                for p in paths:
                    if Path(p).parent == folder:
                        errors.setdefault(p, e)
        return errors

    def _covers(self, paths: list[Path], folders: list[Path] = ()) -> bool:  # type: ignore[assignment]
        devs = {os.fstat(fd).st_dev for fd in self._fds}
        try:
            return all(os.stat(f).st_dev in devs for f in {*(Path(p).parent for p in paths), *map(Path, folders)})
        except OSError:
            return False


def raise_first(errors: dict[Path, OSError]) -> None:
    """Raise the first error make_durable returned, naming its file or folder (nothing when there is none)."""
    if errors:
        path, error = next(iter(errors.items()))
        raise OSError(error.errno, f"{error.strerror} : {path}")
