"""`backup DEST`: the ledger's consistent copy and the manifest of every kept file, into a folder made whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from exchange.config import Config
from exchange.core.os_reasons import os_reason
from exchange.edges.durable import fsync_dir, sha256_file
from exchange.errors import TerminalError

MANIFEST = "MANIFEST.sha256"  # `sha256sum -c` reads it as it is
SUMMARY = "sauvegarde.json"


class BackupRefused(TerminalError):
    """The backup was not made (French message); nothing is left at DEST."""


@dataclass(frozen=True)
class BackupReport:
    dest: Path
    ledger: Path
    kind: str
    revision: str | None
    rows: dict[str, int]
    files: int
    roots: list[str] = field(default_factory=list)


def kept_roots(config: Config) -> list[Path]:
    """The folders whose files the ledger points at: received copies, Caf files, and (local drop area) each
    account's retour/ and archive/. A drop area on an SFTP server is backed up on that server."""
    roots = [config.storage_dir, config.output_dir]
    if config.source.kind == "local" and config.drop_root.is_dir():
        for account in sorted(config.drop_root.iterdir()):
            if account.is_dir() and not account.is_symlink():
                roots += [account / "retour", account / "archive"]
    return roots


def write_manifest(roots: list[Path], target: Path) -> int:
    """`sha256  /absolute/path` for every file under `roots` (sorted); a file removed meanwhile is left out."""
    count = 0
    with open(target, "w", encoding="utf-8") as out:
        for root in roots:
            if not root.is_dir():
                continue
            for folder, dirs, names in os.walk(root):
                dirs.sort()
                for name in sorted(names):
                    path = Path(folder) / name
                    if path.is_symlink() or not path.is_file():
                        continue
                    try:
                        digest = sha256_file(path)
                    except FileNotFoundError:  # purged while we walked: not kept any more
                        continue
                    out.write(f"{digest}  {path.absolute()}\n")
                    count += 1
        out.flush()
        os.fsync(out.fileno())
    return count


def make_backup(config: Config, dest: Path, version: str) -> BackupReport:
    """Into the new folder `dest`: the ledger's copy, MANIFEST.sha256 and sauvegarde.json; BackupRefused, and
    nothing at `dest`, when any step fails."""
    from exchange.store.backup import BackupError, copy_ledger, french_reason, kind_of
    from exchange.store.engine import open_database
    from exchange.store.errors import DATABASE_ERRORS
    from exchange.store.revision import schema_state

    dest = dest.absolute()
    if dest.exists():
        raise BackupRefused(f"{dest} existe déjà : une sauvegarde va dans un dossier nouveau")
    if not dest.parent.is_dir():
        raise BackupRefused(f"le dossier {dest.parent} n'existe pas")
    work = dest.parent / f".{dest.name}.en-cours-{os.getpid()}"
    inside = next((root for root in kept_roots(config) if dest.is_relative_to(root.absolute())), None)
    if inside is not None:  # it would list, and hash, itself
        raise BackupRefused(f"{dest} est dans {inside}, dont elle recense les fichiers : choisissez un autre dossier")
    try:
        work.mkdir(mode=0o700)
    except OSError as e:
        raise BackupRefused(f"impossible de créer {work} : {os_reason(e)}") from e
    if kind_of(config.database_url) == "sqlite":
        database = Path(config.database_url.removeprefix("sqlite:///"))
        if not database.is_file():  # opening it would create an empty one
            raise BackupRefused(f"base SQLite introuvable : {database} ([database] url)")
    engine = open_database(config.database_url)
    try:
        state = schema_state(engine)
        if not state.has_tables:
            raise BackupError("la base de données est vide (aucune table) : rien à sauvegarder")
        revision = state.current
        ledger, rows = copy_ledger(config.database_url, engine, work)
        roots = kept_roots(config)
        files = write_manifest(roots, work / MANIFEST)
        summary = {
            "version": version,
            "faite_le": datetime.now(UTC).isoformat(timespec="seconds"),
            "base": kind_of(config.database_url),
            "fichier_base": ledger.name,
            "revision": revision,
            "lignes": rows,
            "fichiers": files,
            "dossiers": [str(r) for r in roots],
        }
        (work / SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        for name in (ledger.name, SUMMARY):
            with open(work / name, "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(work)
        os.rename(work, dest)  # whole, or not there at all
        fsync_dir(dest.parent)
    except BackupError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupRefused(str(e)) from e
    except DATABASE_ERRORS as e:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupRefused(f"base de données : {french_reason(e)}") from e
    except OSError as e:  # a full or read-only disk
        shutil.rmtree(work, ignore_errors=True)
        raise BackupRefused(f"écriture impossible dans {dest.parent} : {os_reason(e)}") from e
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        engine.dispose()
    return BackupReport(
        dest, dest / ledger.name, kind_of(config.database_url), revision, rows, files, [str(r) for r in roots]
    )
