"""Job locks that die with their holder (PostgreSQL session advisory locks, else a file lock) and fence it.

On PostgreSQL a lock is `pg_try_advisory_lock` taken on a dedicated connection held for the whole job:
the server releases it the moment the process or its machine is gone. That connection heartbeats; the
server drops it when the heartbeats stop (`idle_session_timeout`, TCP keepalives, `tcp_user_timeout`),
so a frozen holder loses its lock after `locks.timeout_seconds`. On SQLite (one machine by nature) the
lock is `flock` on a file beside the database, released by the kernel when the process dies.

Fencing: once it holds the lock, a holder bumps the lock's row of `lock_fences` (its token). Every
state-changing transaction of the job then calls `check(conn)` first, which reads that row FOR SHARE
and raises `LockLost` unless the token is still the holder's (and, on PostgreSQL, its lock connection
still holds the advisory lock). A new holder's bump waits for that row lock, so a stale holder's
transaction either commits before the new holder starts or sees the new token and writes nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import NullPool

from exchange.store.ledger import JobAborted, utcnow
from exchange.store.tables import lock_fences

log = logging.getLogger("esat_exchange")

# The locks, by name: every job that touches received files shares the cycle lock (exchange.app.job maps jobs).
CYCLE_LOCK = "cycle"
CAMPAIGN_LOCK = "campaign"
HABILITATIONS_LOCK = "habilitations"
LEADER_LOCK = "scheduler"  # the scheduler node that leads


class LockLost(JobAborted):
    """This process no longer holds its job's lock (it was fenced off): it must write nothing more; the
    next holder finishes the work (transient, stops the run)."""


@dataclass(frozen=True)
class LockTimings:
    """How often a holder heartbeats, and how long a silent holder keeps its lock (config [locks])."""

    heartbeat_seconds: float = 5
    timeout_seconds: float = 30
    idle_transaction_seconds: float = 60


class HeldLock(Protocol):
    """A lock this process holds; `check` is the job's fence (ledger.Fence)."""

    name: str
    on_lost: list[Callable[[], None]]  # called (from the heartbeat thread) when the lock is found lost

    @property
    def lost(self) -> bool: ...

    def begin_fencing(self) -> None: ...

    def check(self, conn: Connection) -> None: ...

    def alive(self) -> bool: ...

    def release(self) -> None: ...


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Fencing:
    """The token part, shared by both kinds of lock: bumped once held, checked in every fenced transaction."""

    def __init__(self, engine: Engine, name: str, timings: LockTimings) -> None:
        self.engine, self.name, self.timings = engine, name, timings
        self.token: int | None = None

    def bump(self) -> None:
        """Become the lock's current holder in `lock_fences` (waits for a stale holder's open transaction)."""
        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(lock_fences).values(name=self.name, token=0))
            except IntegrityError:
                pass
            self.token = conn.execute(
                update(lock_fences)
                .where(lock_fences.c.name == self.name)
                .values(
                    token=lock_fences.c.token + 1, holder=holder_id(), host=socket.gethostname(), acquired_at=utcnow()
                )
                .returning(lock_fences.c.token)
            ).scalar_one()

    def check_token(self, conn: Connection) -> None:
        if self.token is None:
            raise LockLost(f"verrou « {self.name} » : protection non initialisée")
        if conn.dialect.name == "postgresql":
            # a frozen holder must not keep this row locked forever: PostgreSQL ends the idle transaction
            ms = int(self.timings.idle_transaction_seconds * 1000)
            conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {ms}"))
        q = select(lock_fences.c.token).where(lock_fences.c.name == self.name)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(read=True)
        current = conn.execute(q).scalar()
        if current != self.token:
            raise LockLost(
                f"verrou « {self.name} » repris par un autre processus (jeton {current}, "
                f"le nôtre {self.token}) : arrêt sans rien écrire"
            )


class PgAdvisoryLock:
    """A session advisory lock on a dedicated, heartbeating connection."""

    def __init__(self, engine: Engine, name: str, timings: LockTimings) -> None:
        self.name = name
        self._timings = timings
        self._fencing = _Fencing(engine, name, timings)
        self._engine = _lock_engine(engine, timings)
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None
        self._key = 0
        self._pid = 0
        self.on_lost: list[Callable[[], None]] = []

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        try:
            t = self._timings
            conn.execute(text(f"SET idle_session_timeout = {int(t.timeout_seconds * 1000)}"))
            conn.execute(text(f"SET tcp_user_timeout = {int(t.timeout_seconds * 1000)}"))
            conn.execute(text(f"SET tcp_keepalives_idle = {max(1, int(t.heartbeat_seconds))}"))
            conn.execute(text(f"SET tcp_keepalives_interval = {max(1, int(t.heartbeat_seconds))}"))
            conn.execute(text("SET tcp_keepalives_count = 3"))
            self._key = conn.execute(
                text(
                    "SELECT hashtextextended('esat-exchange:' || current_database() || ':' || current_schema()"
                    " || ':' || :name, 0)"
                ),
                {"name": self.name},
            ).scalar_one()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar_one()
            self._pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        self._thread = threading.Thread(target=self._heartbeat, name=f"verrou-{self.name}", daemon=True)
        self._thread.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self._timings.heartbeat_seconds):
            if not self.alive():
                return

    def alive(self) -> bool:
        """One round trip on the lock connection: False (and lost for good) when the server dropped it."""
        if self._lost.is_set():
            return False
        with self._mutex:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError as e:
                self._mark_lost(e)
                return False

    def _mark_lost(self, error: BaseException) -> None:
        if self._lost.is_set() or self._stop.is_set():
            return
        self._lost.set()
        log.error(
            f"verrou « {self.name} » perdu (connexion de verrou coupée : {error.__class__.__name__}) : "
            "le travail en cours s'arrête sans rien écrire",
            extra={"event": {"lock": self.name}},
        )
        for callback in self.on_lost:
            callback()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def begin_fencing(self) -> None:
        self._fencing.bump()

    def check(self, conn: Connection) -> None:
        if self._lost.is_set():
            raise LockLost(f"verrou « {self.name} » perdu : arrêt sans rien écrire")
        self._fencing.check_token(conn)
        held = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid"
                " AND classid::text::bigint = :hi AND objid::text::bigint = :lo AND objsubid = 1"
            ),
            {"pid": self._pid, "hi": (self._key >> 32) & 0xFFFFFFFF, "lo": self._key & 0xFFFFFFFF},
        ).scalar_one()
        if not held:
            self._lost.set()
            raise LockLost(
                f"verrou « {self.name} » perdu (connexion de verrou coupée par le serveur) : arrêt sans rien écrire"
            )

    def release(self) -> None:
        self._stop.set()
        with self._mutex:
            if self._conn is not None:
                try:
                    if not self._lost.is_set():
                        self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                except DBAPIError:
                    pass
                finally:
                    with suppress(DBAPIError):
                        self._conn.close()
                    self._conn = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._engine.dispose()


class FileLock:
    """An exclusive `flock` on a file beside the SQLite database (released by the kernel with the process)."""

    def __init__(self, engine: Engine, name: str, timings: LockTimings) -> None:
        self.name = name
        self._fencing = _Fencing(engine, name, timings)
        self._path = _lock_file(engine, name)
        self._fd: int | None = None
        self.on_lost: list[Callable[[], None]] = []

    def try_acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{holder_id()}\n".encode())
        self._fd = fd
        return True

    @property
    def lost(self) -> bool:
        return False  # a file lock cannot be taken from a live process

    def alive(self) -> bool:
        return self._fd is not None

    def begin_fencing(self) -> None:
        self._fencing.bump()

    def check(self, conn: Connection) -> None:
        if self._fd is None:
            raise LockLost(f"verrou « {self.name} » libéré : arrêt sans rien écrire")
        self._fencing.check_token(conn)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None


def _lock_engine(engine: Engine, timings: LockTimings) -> Engine:
    """An unpooled engine for lock connections: autocommit, client-side keepalives and TCP user timeout."""
    hb = max(1, int(timings.heartbeat_seconds))
    return create_engine(
        engine.url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "keepalives": 1,
            "keepalives_idle": hb,
            "keepalives_interval": hb,
            "keepalives_count": 3,
            "tcp_user_timeout": int(timings.timeout_seconds * 1000),
            "connect_timeout": max(2, int(timings.timeout_seconds)),
        },
    )


def _lock_file(engine: Engine, name: str) -> Path:
    database = engine.url.database
    if database and database != ":memory:":
        return Path(f"{database}.{name}.lock")
    digest = hashlib.sha256(str(engine.url).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"esat-exchange-{digest}.{name}.lock"


def try_lock(engine: Engine, name: str, timings: LockTimings | None = None) -> HeldLock | None:
    """The lock when this process took it, None when another process holds it. Never waits."""
    timings = timings or LockTimings()
    lock: PgAdvisoryLock | FileLock
    lock = (
        PgAdvisoryLock(engine, name, timings)
        if engine.dialect.name == "postgresql"
        else FileLock(engine, name, timings)
    )
    return lock if lock.try_acquire() else None


def wait_lock(
    engine: Engine,
    name: str,
    timings: LockTimings | None = None,
    *,
    on_wait: Callable[[], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> HeldLock | None:
    """The lock once the current holder has let go (polled every heartbeat); None when `stop()` says so."""
    timings = timings or LockTimings()
    first = True
    while True:
        held = try_lock(engine, name, timings)
        if held is not None:
            return held
        if first and on_wait is not None:
            on_wait()
        first = False
        if stop is not None and stop():
            return None
        time.sleep(min(1.0, timings.heartbeat_seconds))


@contextmanager
def holding(engine: Engine, name: str, timings: LockTimings | None = None) -> Iterator[HeldLock | None]:
    """`with holding(engine, "cycle") as lock:` — lock is None when another process holds it; fencing begun."""
    held = try_lock(engine, name, timings)
    try:
        if held is not None:
            held.begin_fencing()
        yield held
    finally:
        if held is not None:
            held.release()


def timings_of(config: Any) -> LockTimings:  # exchange.config.Config (no import cycle)
    c = config.locks
    return LockTimings(c.heartbeat_seconds, c.timeout_seconds, c.idle_transaction_seconds)


__all__ = ["LockLost", "LockTimings", "HeldLock", "try_lock", "wait_lock", "holding", "timings_of", "holder_id"]
