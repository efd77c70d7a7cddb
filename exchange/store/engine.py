"""Opening the database: the one place an engine is made (SQLite pragmas, private files) and brought to head.

- open_database(url): an engine, nothing checked (`db upgrade`, `db status`, tests);
- open_current(url): refused (SchemaError, French) unless the schema is at this program's head (every command);
- open_at_head(url, timings): brought to head first, under the cycle lock (`run`, `scheduler`).
`Engine` and `Connection` are re-exported for type hints above the store: nothing else imports SQLAlchemy.
in_transaction(engine, verb, …): one store verb (they all take a Connection) in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from exchange.files import private_file, private_parent

if TYPE_CHECKING:
    from exchange.store.fences import LockTimings

__all__ = [
    "Connection",
    "Engine",
    "concurrent_writers",
    "in_transaction",
    "open_at_head",
    "open_current",
    "open_database",
    "open_upgraded",
]

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, a busy timeout, enforced foreign keys and secure_delete."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            _wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA secure_delete=ON")  # a deleted or overwritten NIR is zeroed, not left in a free page
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _wal(cursor: Any, patience: float = 30.0) -> None:  # a sqlite3 cursor
    """Switch the database to WAL once (it stays so). Switching needs the database to itself: SQLite answers
    « database is locked » at once, without its busy timeout, while another process holds it (a fresh
    database being created by another process): wait for it, as the busy timeout would."""
    import sqlite3
    import time

    deadline = time.monotonic() + patience
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _private_sqlite_files(url: str) -> None:
    """The SQLite ledger holds every NIR: the file is 0600 (its -wal, -shm and -journal, which SQLite
    creates with the database's own mode, follow), its folder 0700 when this creates it."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    private_parent(path)
    private_file(path, create=True)
    for suffix in ("-wal", "-shm", "-journal"):
        private_file(path.with_name(path.name + suffix))


def open_database(url: str) -> Engine:
    """An engine on the database (its folder created for SQLite); no table is created here.

    The schema comes from the migrations: exchange.store.revision.upgrade brings a database to head,
    check_current refuses one that is not there.
    """
    if url.startswith("sqlite:///"):
        _private_sqlite_files(url)
    return make_engine(url)


def open_current(url: str) -> Engine:
    from exchange.store.revision import check_current

    """An engine on a database at this program's head revision; SchemaError otherwise."""
    engine = open_database(url)
    try:
        check_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def open_upgraded(url: str) -> Engine:
    from exchange.store.revision import upgrade

    """An engine on the database, first brought to head (`upgrade`)."""
    engine = open_database(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def open_at_head(url: str, timings: LockTimings) -> Engine:
    """An engine on the database brought to this program's schema (what `run` and `scheduler` start with).

    A database not at head is upgraded under the cycle lock (issue 9: migrations applied under the job
    lock): a cycle running elsewhere on the old schema finishes first, and none starts during the upgrade.
    The upgrade's own exclusive lock (exchange.store.revision) still serialises two upgraders.
    """
    from exchange.store.fences import CYCLE_LOCK, wait_lock
    from exchange.store.revision import at_shipped_head, schema_state, upgrade

    engine = open_database(url)
    try:
        # at the shipped head (every run but the first after an upgrade) without importing Alembic (0.15 s)
        if not at_shipped_head(engine) and schema_state(engine).verdict != "current":
            lock = wait_lock(engine, CYCLE_LOCK, timings)
            try:
                upgrade(engine)
            finally:
                if lock is not None:
                    lock.release()
    except BaseException:
        engine.dispose()
        raise
    return engine


def concurrent_writers(engine: Engine) -> bool:
    """True where two transactions may write at once (PostgreSQL); SQLite has a single writer."""
    return engine.dialect.name == "postgresql"


def in_transaction(engine: Engine, verb: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`verb(conn, *args, **kwargs)` in a transaction of its own (`with engine.begin() as conn`): for a caller with
    one store verb to call (a console handler through run_in_threadpool, a journal line)."""
    with engine.begin() as conn:
        return verb(conn, *args, **kwargs)
