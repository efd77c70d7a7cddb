"""The transport interface every drop-area source implements, and the shared 'is it ready?' rule."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class TransportError(Exception):
    """Broken infrastructure while talking to the drop area (the run fails, nothing is lost)."""

    transient: bool = True


class HostKeyError(TransportError):
    """The server's host key is unknown or changed: the run stops and touches nothing."""

    transient = False


@dataclass(frozen=True)
class Entry:
    """One name found in an account's depot/ folder."""

    account: str
    name: str
    size: int
    mtime: float  # seconds since the epoch, as the drop area reports it
    regular: bool  # a regular file (not a folder, not a symlink, not a device)


@dataclass(frozen=True)
class Listing:
    """What one account's depot/ holds, sorted into what to collect now and what not."""

    ready: list[Entry]
    waiting: list[Entry]  # .part/.tmp/dotfiles and files younger than settle_seconds
    refused: list[tuple[Entry, str]]  # unsafe names, links, folders: left in place; reason in French


UNSAFE_REASON = "nom de fichier refusé (« / », « .. » ou caractère de contrôle) : laissé en place"
NOT_REGULAR_REASON = "pas un fichier ordinaire (dossier ou lien) : laissé en place"


def is_safe_name(name: str) -> bool:
    """A remote name the project may touch: no path separator, no '..', no control character."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or ".." in name:
        return False
    return not any(ord(c) < 32 or ord(c) == 127 for c in name)


def is_partial(name: str) -> bool:
    """Upload still in progress by convention: .part/.tmp suffix or a dotfile."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith(".part") or lower.endswith(".tmp")


def sort_entries(entries: list[Entry], now: float, settle_seconds: float) -> Listing:
    """Split raw entries into ready / waiting / refused, oldest first for a stable intake order."""
    ready: list[Entry] = []
    waiting: list[Entry] = []
    refused: list[tuple[Entry, str]] = []
    for e in entries:
        if not is_safe_name(e.name):  # reported even when it looks like an upload in progress
            refused.append((e, UNSAFE_REASON))
        elif is_partial(e.name):
            waiting.append(e)
        elif not e.regular:
            refused.append((e, NOT_REGULAR_REASON))
        elif now - e.mtime < settle_seconds:
            waiting.append(e)
        else:
            ready.append(e)
    ready.sort(key=lambda e: (e.mtime, e.name))
    return Listing(ready, waiting, refused)


class Transport(Protocol):
    """A drop area: one folder per account with depot/, retour/ and archive/.

    Implementations never delete anything in depot/, never write outside retour/ and archive/,
    and never follow a name out of the account's folder. Used as a context manager: one
    connection for a whole run.
    """

    def __enter__(self) -> "Transport": ...

    def __exit__(self, *exc: object) -> None: ...

    def accounts(self) -> list[str]:
        """Logins that have a depot/ folder, sorted."""
        ...

    def list_depot(self, account: str, now: float, settle_seconds: float) -> Listing:
        """The account's depot/ sorted with sort_entries()."""
        ...

    def fetch(self, entry: Entry, dest: Path) -> None:
        """Copy depot/<name> into the local file dest (created, written, fsync'd)."""
        ...

    def archive(self, account: str, name: str, suffix: str) -> str | None:
        """Move depot/<name> to archive/<name>, or archive/<name>.<suffix> when that name is taken.

        Returns the name used in archive/, or None when depot/<name> is no longer there
        (already moved by an earlier, interrupted run).
        """
        ...

    def write_retour(self, account: str, name: str, data: bytes) -> None:
        """Write retour/<name> atomically (<name>.part, then rename over any old one)."""
        ...

    def read_retour(self, account: str, name: str) -> bytes | None:
        """The bytes of retour/<name> (a compte rendu, for the console), or None when it is not there."""
        ...

    def rename_retour(self, account: str, old: str, new: str) -> bool:
        """Rename retour/<old> to retour/<new>; False when <old> does not exist."""
        ...

    def depot_count(self, account: str) -> int:
        """How many names wait in depot/ (for monitoring)."""
        ...
