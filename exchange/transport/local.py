"""The local drop area: a folder holding one folder per account (depot/, retour/, archive/)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from exchange.files import fsync_dir, write_atomic
from exchange.transport.base import Entry, Listing, TransportError, is_safe_name, sort_entries


class LocalTransport:
    """Transport over a local folder; same semantics as the SFTP one."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __enter__(self) -> "LocalTransport":
        if not self.root.is_dir():
            raise TransportError(f"dossier de dépôt introuvable : {self.root}")
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _account_dir(self, account: str) -> Path:
        """The account's folder, refused unless it is a real folder (a link would lead out of the drop area)."""
        if not is_safe_name(account):
            raise TransportError(f"nom de compte refusé : {account!r}")
        path = self.root / account
        self._real_dir(path, account, "")
        return path

    @staticmethod
    def _real_dir(path: Path, account: str, folder: str) -> bool:
        """True for a real folder, False when absent; TransportError for a link or anything else (never followed)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as e:
            raise TransportError(f"compte {account} : lecture impossible de {folder or 'son dossier'} : {e}") from e
        if stat.S_ISDIR(st.st_mode):
            return True
        what = "un lien symbolique" if stat.S_ISLNK(st.st_mode) else "pas un dossier"
        where = f"le dossier {folder}/" if folder else "le dossier du compte"
        raise TransportError(f"compte {account} : {where} est {what} : refusé, rien n'y est lu ni écrit")

    def _folder(self, account: str, folder: str, create: bool = False) -> Path:
        """depot/, retour/ or archive/ of an account: a real folder inside it, created if asked, never a link."""
        path = self._account_dir(account) / folder
        if not self._real_dir(path, account, folder) and create:
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                pass  # created meanwhile: checked below like any other
            if not self._real_dir(path, account, folder):
                raise TransportError(f"compte {account} : le dossier {folder}/ n'a pas pu être créé")
        return path

    def _checked(self, *names: str) -> None:
        for name in names:
            if not is_safe_name(name):
                raise TransportError(f"nom de fichier refusé : {name!r}")

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
                    entries.append(Entry(account, d.name, st.st_size, st.st_mtime,
                                         stat.S_ISREG(st.st_mode)))
        except OSError as e:
            raise TransportError(f"lecture impossible de {depot} : {e}") from e
        return sort_entries(entries, now, settle_seconds)

    def depot_count(self, account: str) -> int:
        try:
            return sum(1 for _ in os.scandir(self._folder(account, "depot")))
        except (OSError, TransportError):
            return 0

    def fetch(self, entry: Entry, dest: Path) -> None:
        self._checked(entry.name)
        src = self._folder(entry.account, "depot") / entry.name
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(src, flags)
        except OSError as e:
            raise TransportError(f"lecture impossible de {src} : {e}") from e
        with os.fdopen(fd, "rb") as fin, open(dest, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())

    def archive(self, account: str, name: str, suffix: str) -> str | None:
        self._checked(name, f"{name}.{suffix}")
        depot = self._folder(account, "depot")
        src = depot / name
        if not src.exists() and not src.is_symlink():
            return None
        archive_dir = self._folder(account, "archive", create=True)
        target = name if not (archive_dir / name).exists() else f"{name}.{suffix}"
        if (archive_dir / target).exists():
            raise TransportError(f"archive/{target} existe déjà pour le compte {account}")
        os.rename(src, archive_dir / target)
        fsync_dir(archive_dir)
        fsync_dir(depot)
        return target

    def write_retour(self, account: str, name: str, data: bytes) -> None:
        self._checked(name)
        retour = self._folder(account, "retour", create=True)
        try:
            write_atomic(retour / name, data, mode=0o644, temp_suffix=".part")
        except OSError as e:
            raise TransportError(f"compte {account} : écriture impossible de retour/{name} : {e}") from e

    def rename_retour(self, account: str, old: str, new: str) -> bool:
        self._checked(old, new)
        retour = self._folder(account, "retour")
        if not (retour / old).exists():
            return False
        os.replace(retour / old, retour / new)
        fsync_dir(retour)
        return True
