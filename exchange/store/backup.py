"""A consistent copy of the ledger while the service runs: SQLite's online backup, PostgreSQL's pg_dump -Fc."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from exchange.errors import TerminalError
from exchange.store import tables
from exchange.store.engine import Connection, Engine

PG_DUMP_SECONDS = 3600  # a dump that takes longer than an hour is stopped (and the backup fails)


class BackupError(TerminalError):
    """The ledger could not be copied (French message)."""


def kind_of(url: str) -> str:
    """`sqlite` or `postgresql`: the database's kind, as the backup names its file."""
    return make_url(url).get_backend_name()


def copy_ledger(url: str, engine: Engine, dest_dir: Path) -> tuple[Path, dict[str, int]]:
    """The ledger copied into `dest_dir` (exchange.db, or esat.pgdump for PostgreSQL), and the rows per table
    the copy holds (counted in the copied snapshot itself)."""
    kind = kind_of(url)
    if kind == "sqlite":
        return _sqlite_backup(url, dest_dir / "exchange.db")
    if kind == "postgresql":
        return _pg_dump(url, engine, dest_dir / "esat.pgdump")
    raise BackupError(f"sauvegarde d'une base {kind} non prise en charge (SQLite ou PostgreSQL)")


def _sqlite_backup(url: str, target: Path) -> tuple[Path, dict[str, int]]:
    """SQLite's online backup API: every page as one reader sees it (WAL included), while writers go on."""
    database = make_url(url).database
    if not database or not Path(database).is_file():
        raise BackupError(f"base SQLite introuvable : {database}")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the ledger holds NIRs
    os.close(fd)
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one step: one consistent snapshot, whatever the service writes meanwhile
        copy.execute("PRAGMA journal_mode=DELETE")  # a standalone file: no -wal beside it to lose
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"la copie de la base SQLite n'est pas intègre : {verdict}")
        present = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        counts = {
            t.name: int(copy.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0])
            for t in tables.metadata.sorted_tables
            if t.name in present
        }
    except sqlite3.Error as e:
        raise BackupError(f"copie de la base SQLite impossible : {french_reason(e)}") from e
    finally:
        copy.close()
        source.close()
    return target, counts


def french_reason(error: BaseException) -> str:
    """A database error's reason, in French for the usual ones (SQLite's, through SQLAlchemy or not)."""
    from exchange.store.errors import one_line

    text = str(error)
    for english, french in (
        ("not a database", "le fichier n'est pas une base SQLite"),
        ("unable to open", "le fichier ne peut pas être ouvert"),
        ("disk is full", "disque plein"),
        ("malformed", "la base est endommagée"),
        ("locked", "la base est verrouillée"),
    ):
        if english in text:
            return french
    return one_line(error) if not isinstance(error, sqlite3.Error) else text


def _pg_dump(url: str, engine: Engine, target: Path) -> tuple[Path, dict[str, int]]:
    """`pg_dump -Fc` of the database (of the schema of its search_path when the URL sets one), taken in the
    snapshot in which the rows are counted (a REPEATABLE READ transaction exports it to pg_dump)."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump introuvable : installez le client PostgreSQL (paquet postgresql-client)")
    parsed = make_url(url)
    schema = _search_path(parsed.query.get("options"))
    libpq = parsed.set(drivername="postgresql").difference_update_query(["options"])
    env = {**os.environ}
    if libpq.password is not None:
        env["PGPASSWORD"] = str(libpq.password)  # not on the command line, where `ps` would show it
        libpq = libpq.set(password=None)
    if schema:
        env["PGOPTIONS"] = f"-c search_path={schema}"
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        counts = _counts(conn)
        command = [pg_dump, "--format=custom", "--no-owner", f"--snapshot={snapshot}", "--file", str(target)]
        if schema:
            command += ["--schema", schema]
        command.append("--dbname=" + libpq.render_as_string(hide_password=False))
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PG_DUMP_SECONDS)
        except subprocess.TimeoutExpired as e:
            raise BackupError(f"pg_dump n'a pas fini en {PG_DUMP_SECONDS} s") from e
    if proc.returncode != 0:
        raise BackupError(f"pg_dump a échoué : {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    os.chmod(target, 0o600)
    return target, counts


def _search_path(options: object) -> str:
    """The schema an URL's `options=-csearch_path=X` names ("" when none)."""
    for given in options if isinstance(options, tuple) else [options] if isinstance(options, str) else []:
        for part in given.split():
            if part.startswith("-csearch_path="):
                return part.split("=", 1)[1].split(",")[0].strip('"')
    return ""


def _counts(conn: Connection) -> dict[str, int]:
    present = set(inspect(conn).get_table_names())
    return {
        table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for table in tables.metadata.sorted_tables
        if table.name in present
    }


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per ledger table (what a restored ledger is checked against)."""
    with engine.connect() as conn:
        return _counts(conn)
