"""The transport interface every drop-area source implements, and the shared 'is it ready?' rule."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from exchange.errors import TerminalError, TransientError


class TransportError(TransientError):
    """Broken infrastructure while talking to the drop area (the run fails, nothing is lost)."""


class Refused(TransportError, TerminalError):
    """The drop area refused this one operation (a folder that is a link or missing, a full disk, a name
    taken…) while the connection is fine: the file waits, the others go on."""

    transient = False
    stops_run = False


class FileTooLarge(TransportError, TerminalError):
    """The file is over the size limit: it is answered F07 from its size, never copied whole."""

    transient = False
    stops_run = False

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} octets pour {limit} au plus")
        self.size, self.limit = size, limit


REMOVABLE_FOLDERS = ("archive", "retour")  # where remove() may act


class HostKeyError(TransportError, TerminalError):
    """The server's host key is unknown or changed: the run stops and touches nothing."""

    transient = False
    stops_run = True


@dataclass(frozen=True)
class Entry:
    """One name found in an account's depot/ folder."""

    account: str
    name: str
    size: int
    mtime: float  # seconds since the epoch, as the drop area reports it
    regular: bool  # a regular file (not a folder, not a symlink, not a device)
    folder: str = "depot"  # where the name is: depot/, or archive/ once claimed


@dataclass(frozen=True)
class Listing:
    """What one account's depot/ holds, sorted into what to collect now and what not."""

    ready: list[Entry]
    waiting: list[Entry]  # .part/.tmp/dotfiles and files younger than settle_seconds
    refused: list[tuple[Entry, str]]  # unsafe names, links, folders: left in place; reason in French


UNSAFE_REASON = "nom de fichier refusé (« / », « .. » ou caractère de contrôle) : laissé en place"
NOT_REGULAR_REASON = "pas un fichier ordinaire (dossier ou lien) : laissé en place"


_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]|\.\.")  # a control character, a separator or '..'


def is_safe_name(name: str) -> bool:
    """A remote name the project may touch: no path separator, no '..', no control character."""
    return bool(name) and name not in (".", "..") and _UNSAFE_IN_NAME.search(name) is None


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


def fetch_each(transport: Transport, jobs: list[tuple[Entry, Path]], max_bytes: int | None) -> list[Exception | None]:
    """fetch_many one file after the other (what a transport without pipelining does)."""
    results: list[Exception | None] = []
    for entry, dest in jobs:
        try:
            transport.fetch(entry, dest, max_bytes=max_bytes)
            results.append(None)
        except HostKeyError:
            raise
        except (TransportError, OSError) as e:
            dest.unlink(missing_ok=True)  # a partial copy must not hold the space the next files need
            results.append(e)
    return results


class Transport(Protocol):
    """A drop area: one folder per account with depot/, retour/ and archive/.

    Implementations never delete anything in depot/, never write or remove outside retour/ and archive/,
    and never follow a name out of the account's folder. Used as a context manager: one
    connection for a whole run.
    """

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc: object) -> None: ...

    def accounts(self) -> list[str]:
        """Logins that have a depot/ folder, sorted."""
        ...

    def list_depot(self, account: str, now: float, settle_seconds: float) -> Listing:
        """The account's depot/ sorted with sort_entries()."""
        ...

    def claim(self, account: str, name: str, claim: str) -> Entry | None:
        """Move depot/<name> to archive/<claim> (a name only this reception uses) before reading it, so
        that a later upload of the same name is never taken for it; returns the claimed file (as it is
        now in archive/), also when an earlier attempt already moved it, or None when neither exists."""
        ...

    def fetch(self, entry: Entry, dest: Path, max_bytes: int | None = None) -> None:
        """Copy <entry.folder>/<name> into the local file dest (created, written, fsync'd);
        FileTooLarge, before or during the copy, once it is over max_bytes."""
        ...

    def fetch_many(self, jobs: list[tuple[Entry, Path]], max_bytes: int | None = None) -> list[Exception | None]:
        """fetch() for many files, several in flight at once where the transport can; one result per job,
        in order: None when copied, else the exception fetch would have raised (FileTooLarge,
        TransportError, OSError), its partial local copy removed at once. HostKeyError is raised."""
        ...

    def free_archive_name(self, account: str, name: str, suffix: str) -> str:
        """<name> when archive/<name> is free, else <name>.<suffix>."""
        ...

    def archive_claim(self, account: str, claim: str, target: str) -> bool:
        """Rename archive/<claim> to archive/<target>, never replacing a file; True when the file is at
        <target> (moved now or by an earlier attempt), False when neither name exists."""
        ...

    def write_retour(self, account: str, name: str, data: bytes) -> None:
        """Write retour/<name> atomically (<name>.part, then rename over any old one)."""
        ...

    def read_retour(self, account: str, name: str) -> bytes | None:
        """The bytes of retour/<name> (a compte rendu, for the console), or None when it is not there."""
        ...

    def rename_retour(self, account: str, old: str, new: str) -> bool:
        """Rename retour/<old> to retour/<new>, never replacing: False when <old> does not exist or
        <new> already does (a compte rendu already kept is never overwritten)."""
        ...

    def remove(self, account: str, folder: str, name: str) -> bool:
        """Remove archive/<name> or retour/<name> (retention: its time is over); True when removed now, False
        when it was not there (removed by an earlier purge). Never in depot/, never a folder, never followed
        through a link. Made durable by sync()."""
        ...

    def sync(self) -> None:
        """Make every move and write done so far durable; called before the ledger records them (one
        folder sync per batch instead of one per file)."""
        ...

    def depot_count(self, account: str) -> int:
        """How many names wait in depot/ (for monitoring)."""
        ...
