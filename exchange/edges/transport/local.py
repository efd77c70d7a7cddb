"""The local drop area: a folder holding one folder per account (depot/, retour/, archive/)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from exchange.edges.durable import write_all, write_atomic
from exchange.edges.transport.base import (
    REMOVABLE_FOLDERS,
    Entry,
    FileTooLarge,
    Listing,
    Refused,
    TransportError,
    fetch_each,
    is_safe_name,
    sort_entries,
)
from exchange.edges.transport.batch_sync import BatchSync, raise_first
from exchange.edges.transport.causes import french_cause

FOLDER_MODE = 0o750  # retour/ and archive/ made by the service: its group may read (an SFTP server's), others not
FILE_MODE = 0o640  # comptes rendus written, archive/ copies claimed: as private as the ledger's copies


def _tighten(path: Path) -> None:
    """An archive/ copy made private (FILE_MODE), never through a link; left as it is when the service does not own
    it (an upload owned by the Esat's own system account: its owner's umask decided)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    except PermissionError:
        pass
    finally:
        os.close(fd)


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename src to dst, failing with FileExistsError when dst exists (a hard link, then unlink:
    atomic on one filesystem; a link is moved as itself, never followed)."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(dst):  # a filesystem without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "file exists", str(dst)) from e
        os.rename(src, dst)
        return
    os.unlink(src)


class LocalTransport:
    """Transport over a local folder; same semantics as the SFTP one."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._dirty: set[Path] = set()  # folders with renames or new names not yet durable
        self._written: list[Path] = []  # comptes rendus written, not yet durable
        self._durable: BatchSync | None = None  # opened on the drop area when the run starts (see sync)
        # the Path of each account folder and of its depot/, retour/, archive/ (joined once: pathlib costs more than
        # the lstat that checks them at every use)
        self._paths: dict[tuple[str, str], Path] = {}

    def __enter__(self) -> LocalTransport:
        if not self.root.is_dir():
            raise TransportError(f"dossier de dépôt introuvable : {self.root}")  # the run cannot start
        self._durable = BatchSync([], folders=[self.root])
        return self

    def __exit__(self, *exc: object) -> None:
        if self._durable is not None:
            self._durable.__exit__()
            self._durable = None

    def _account_dir(self, account: str) -> Path:
        """The account's folder, refused unless it is a real folder (a link would lead out of the drop area)."""
        if not is_safe_name(account):
            raise Refused(f"nom de compte refusé : {account!r}")
        path = self._joined(account, "")
        self._real_dir(path, account, "")  # checked at every use: a folder swapped for a link is refused
        return path

    def _joined(self, account: str, folder: str) -> Path:
        """root/account, or root/account/folder: joined once per run, checked by the caller at every use."""
        path = self._paths.get((account, folder))
        if path is None:
            path = self._paths[(account, folder)] = self.root / account / folder if folder else self.root / account
        return path

    @staticmethod
    def _real_dir(path: Path, account: str, folder: str) -> bool:
        """True for a real folder, False when absent; TransportError for a link or anything else (never followed)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as e:
            raise Refused(
                f"compte {account} : lecture impossible de {folder or 'son dossier'} : {french_cause(e)}"
            ) from e
        if stat.S_ISDIR(st.st_mode):
            return True
        what = "un lien symbolique" if stat.S_ISLNK(st.st_mode) else "pas un dossier"
        where = f"le dossier {folder}/" if folder else "le dossier du compte"
        raise Refused(f"compte {account} : {where} est {what} : refusé, rien n'y est lu ni écrit")

    def _folder(self, account: str, folder: str, create: bool = False) -> Path:
        """depot/, retour/ or archive/ of an account: a real folder inside it, created if asked, never a link."""
        self._account_dir(account)  # a safe name, a real folder (never a link)
        path = self._joined(account, folder)
        if not self._real_dir(path, account, folder) and create:
            with contextlib.suppress(FileExistsError):  # created meanwhile: checked below like any other
                os.mkdir(path, FOLDER_MODE)
            if not self._real_dir(path, account, folder):
                raise Refused(f"compte {account} : le dossier {folder}/ n'a pas pu être créé")
        return path

    def _checked(self, *names: str) -> None:
        for name in names:
            if not is_safe_name(name):
                raise Refused(f"nom de fichier refusé : {name!r}")

    def accounts(self) -> list[str]:
        found = []
        for child in sorted(os.scandir(self.root), key=lambda d: d.name):
            # never follow a link out of the drop area: an account is a real folder with a real depot/
            if child.is_dir(follow_symlinks=False) and is_safe_name(child.name):
                depot = Path(child.path) / "depot"
                if depot.is_dir() and not depot.is_symlink():
                    found.append(child.name)
        return found

    def list_depot(self, account: str, now: float, settle_seconds: float) -> Listing:
        # an account whose retour/ or archive/ leads elsewhere is refused before anything is taken from it
        self._folder(account, "retour")
        self._folder(account, "archive")
        depot = self._folder(account, "depot")
        entries = []
        try:
            with os.scandir(depot) as it:
                for d in it:
                    st = d.stat(follow_symlinks=False)
                    entries.append(Entry(account, d.name, st.st_size, st.st_mtime, stat.S_ISREG(st.st_mode)))
        except OSError as e:
            raise Refused(f"lecture impossible de {depot} : {french_cause(e)}") from e
        return sort_entries(entries, now, settle_seconds)

    def depot_snapshot(self) -> dict[str, list[Entry] | None]:
        """Every account of accounts() with the entries list_depot would find in its depot/ — or None, or
        no entry, where list_depot refuses the account (retour/ or archive/ a link or not a folder, a folder
        unreadable): what `status` counts, read-only, in one directory read per account for thousands."""
        out: dict[str, list[Entry] | None] = {}
        with os.scandir(self.root) as it:
            children = sorted((d.name, d.path) for d in it if d.is_dir(follow_symlinks=False) and is_safe_name(d.name))
        flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for account, account_dir in children:
            try:
                fd = os.open(f"{account_dir}/depot", flags)  # a link or a file is refused here
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue  # not an account: accounts() skips it too
                depot = Path(account_dir) / "depot"
                if depot.is_dir() and not depot.is_symlink():  # accounts()'s own test, errors and all
                    out[account] = self._listed(account)
                continue
            try:
                with os.scandir(fd) as it:
                    entries = []
                    for d in it:
                        st = d.stat(follow_symlinks=False)
                        entries.append(Entry(account, d.name, st.st_size, st.st_mtime, stat.S_ISREG(st.st_mode)))
            except OSError:
                out[account] = None
                continue
            finally:
                os.close(fd)
            # an empty depot/ counts nothing whether refused or not; otherwise, retour/ and archive/ as list_depot
            out[account] = entries if not entries or self._usable(account_dir) else None
        return out

    @staticmethod
    def _usable(account_dir: str) -> bool:
        """retour/ and archive/ absent or real folders (list_depot refuses the account otherwise)."""
        for folder in ("retour", "archive"):
            try:
                if not stat.S_ISDIR(os.lstat(os.path.join(account_dir, folder)).st_mode):
                    return False
            except FileNotFoundError:
                continue
            except OSError:
                return False
        return True

    def _listed(self, account: str) -> list[Entry] | None:
        """One account the list_depot way (every entry), None when refused."""
        try:
            listing = self.list_depot(account, 0.0, 0)
        except Refused:
            return None
        return [*listing.ready, *listing.waiting, *(e for e, _ in listing.refused)]

    def depot_count(self, account: str) -> int:
        try:
            return sum(1 for _ in os.scandir(self._folder(account, "depot")))
        except (OSError, TransportError):
            return 0

    def _entry(self, account: str, folder: str, name: str) -> Entry | None:
        try:
            st = os.lstat(self._folder(account, folder) / name)
        except FileNotFoundError:
            return None
        return Entry(account, name, st.st_size, st.st_mtime, stat.S_ISREG(st.st_mode), folder)

    def claim(self, account: str, name: str, claim: str) -> Entry | None:
        self._checked(name, claim)
        depot = self._folder(account, "depot")
        archive_dir = self._folder(account, "archive", create=True)
        earlier = self._entry(account, "archive", claim)
        if earlier is not None:  # claimed by an earlier attempt: depot/<name> now is another upload
            return earlier
        try:
            rename_noreplace(depot / name, archive_dir / claim)
        except FileNotFoundError:  # gone before it was claimed
            return None
        except OSError as e:
            raise Refused(f"prise en charge impossible de {depot / name} : {french_cause(e)}") from e
        self._dirty.update((archive_dir, depot))
        _tighten(archive_dir / claim)
        return self._entry(account, "archive", claim)

    def fetch(self, entry: Entry, dest: Path, max_bytes: int | None = None, fsync: bool = True) -> None:
        self._checked(entry.name)
        src = self._folder(entry.account, entry.folder) / entry.name
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
        try:
            fd = os.open(src, flags)
        except OSError as e:
            raise Refused(f"lecture impossible de {src} : {french_cause(e)}") from e
        try:  # plain descriptors: a run copies a thousand small files, buffered file objects cost more than the copy
            size = os.fstat(fd).st_size
            if max_bytes is not None and size > max_bytes:
                raise FileTooLarge(size, max_bytes)
            # a local disk error (ENOSPC…) is an OSError: the caller says which disk
            out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
            try:
                copied = 0
                while chunk := os.read(fd, 1 << 20):
                    copied += len(chunk)
                    if max_bytes is not None and copied > max_bytes:
                        raise FileTooLarge(copied, max_bytes)
                    write_all(out, chunk)
                if fsync:
                    os.fsync(out)
            finally:
                os.close(out)
        finally:
            os.close(fd)

    def fetch_many(self, jobs: list[tuple[Entry, Path]], max_bytes: int | None = None) -> list[Exception | None]:
        """Each file copied, then the batch made durable at once (one syncfs, see BatchSync)."""
        if len(jobs) <= 1:
            return fetch_each(self, jobs, max_bytes)
        with BatchSync([dest for _, dest in jobs]) as batch:
            results: list[Exception | None] = []
            for entry, dest in jobs:
                try:
                    self.fetch(entry, dest, max_bytes=max_bytes, fsync=False)
                    results.append(None)
                except (TransportError, OSError) as e:
                    dest.unlink(missing_ok=True)  # a partial copy must not hold the space the next files need
                    results.append(e)
            copied = [dest for (_, dest), error in zip(jobs, results) if error is None]
            errors = batch.make_durable(copied)
        return [errors.get(dest, error) for (_, dest), error in zip(jobs, results)]

    def free_archive_name(self, account: str, name: str, suffix: str) -> str:
        self._checked(name, f"{name}.{suffix}")
        taken = os.path.lexists(self._folder(account, "archive") / name)
        return f"{name}.{suffix}" if taken else name

    def archive_claim(self, account: str, claim: str, target: str) -> bool:
        self._checked(claim, target)
        archive_dir = self._folder(account, "archive")
        try:
            rename_noreplace(archive_dir / claim, archive_dir / target)
        except FileNotFoundError:
            return os.path.lexists(archive_dir / target)
        except FileExistsError:
            raise Refused(f"archive/{target} existe déjà pour le compte {account} : rien n'est remplacé") from None
        self._dirty.add(archive_dir)
        return True

    def write_retour(self, account: str, name: str, data: bytes) -> None:
        self._checked(name)
        retour = self._folder(account, "retour", create=True)
        try:
            write_atomic(retour / name, data, mode=FILE_MODE, temp_suffix=".part", sync_dir=False, fsync=False)
        except OSError as e:
            raise Refused(f"compte {account} : écriture impossible de retour/{name} : {french_cause(e)}") from e
        self._dirty.add(retour)
        self._written.append(retour / name)

    def read_retour(self, account: str, name: str) -> bytes | None:
        self._checked(name)
        path = self._account_dir(account) / "retour" / name
        try:
            if path.is_symlink() or not path.is_file():
                return None
            return path.read_bytes()
        except OSError as e:
            raise TransportError(f"lecture impossible de {path} : {french_cause(e)}") from e

    def rename_retour(self, account: str, old: str, new: str) -> bool:
        self._checked(old, new)
        retour = self._folder(account, "retour")
        try:
            rename_noreplace(retour / old, retour / new)
        except (FileNotFoundError, FileExistsError):
            return False
        self._dirty.add(retour)
        return True

    def remove(self, account: str, folder: str, name: str) -> bool:
        if folder not in REMOVABLE_FOLDERS:
            raise Refused(f"suppression refusée hors de archive/ et retour/ : {folder}/{name}")
        self._checked(name)
        where = self._folder(account, folder)
        path = where / name
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                raise Refused(f"compte {account} : {folder}/{name} est un dossier : non supprimé")
            os.unlink(path)  # a link is removed itself, never what it points to
        except FileNotFoundError:
            return False
        except OSError as e:
            raise Refused(f"compte {account} : suppression impossible de {folder}/{name} : {french_cause(e)}") from e
        self._dirty.add(where)
        return True

    def sync(self) -> None:
        """What this run wrote and renamed in the drop area since the last sync, on disk: one syncfs of the
        drop area's filesystem (opened when the run started, so it reports any write-back error since),
        else an fsync of each file and folder. A failure raises the first error."""
        batch = self._durable or BatchSync([], folders=[self.root])
        try:
            errors = batch.make_durable(self._written, folders=sorted(self._dirty))
        finally:
            if batch is not self._durable:
                batch.__exit__()
        raise_first(errors)
        self._dirty.clear()
        self._written.clear()
