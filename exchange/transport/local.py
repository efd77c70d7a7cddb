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
        if not is_safe_name(account):
            raise TransportError(f"nom de compte refusé : {account!r}")
        return self.root / account

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
        depot = self._account_dir(account) / "depot"
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
            return sum(1 for _ in os.scandir(self._account_dir(account) / "depot"))
        except OSError:
            return 0

    def fetch(self, entry: Entry, dest: Path) -> None:
        self._checked(entry.name)
        src = self._account_dir(entry.account) / "depot" / entry.name
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
        base = self._account_dir(account)
        src = base / "depot" / name
        if not src.exists() and not src.is_symlink():
            return None
        archive_dir = base / "archive"
        archive_dir.mkdir(exist_ok=True)
        target = name if not (archive_dir / name).exists() else f"{name}.{suffix}"
        if (archive_dir / target).exists():
            raise TransportError(f"archive/{target} existe déjà pour le compte {account}")
        os.rename(src, archive_dir / target)
        fsync_dir(archive_dir)
        fsync_dir(base / "depot")
        return target

    def write_retour(self, account: str, name: str, data: bytes) -> None:
        self._checked(name)
        retour = self._account_dir(account) / "retour"
        retour.mkdir(exist_ok=True)
        write_atomic(retour / name, data, mode=0o644, temp_suffix=".part")

    def read_retour(self, account: str, name: str) -> bytes | None:
        self._checked(name)
        path = self._account_dir(account) / "retour" / name
        try:
            if path.is_symlink() or not path.is_file():
                return None
            return path.read_bytes()
        except OSError as e:
            raise TransportError(f"lecture impossible de {path} : {e}") from e

    def rename_retour(self, account: str, old: str, new: str) -> bool:
        self._checked(old, new)
        retour = self._account_dir(account) / "retour"
        if not (retour / old).exists():
            return False
        os.replace(retour / old, retour / new)
        fsync_dir(retour)
        return True
