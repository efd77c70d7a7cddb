"""A run lock in the database, so that two processes (even on two machines) never run one job at once."""
from __future__ import annotations

import os
import socket
import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from exchange.db import job_locks
from exchange.ledger import as_utc, utcnow

STALE_AFTER = timedelta(hours=12)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_local_holder(holder: str | None) -> bool:
    """The holder is a process of this machine that no longer exists (killed without releasing)."""
    if not holder:
        return True
    try:
        host, pid, _ = holder.split(":")
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
        return False
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False


def try_acquire(engine: Engine, name: str) -> str | None:
    """The holder token when the lock was taken, None when another live process holds it."""
    me = _holder()
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                conn.execute(insert(job_locks).values(job=name, holder=None, acquired_at=None))
        except IntegrityError:
            pass
    with engine.begin() as conn:
        row = conn.execute(select(job_locks).where(job_locks.c.job == name)).mappings().one()
        stale = row["acquired_at"] is not None and as_utc(row["acquired_at"]) < utcnow() - STALE_AFTER
        free = row["holder"] is None or stale or _dead_local_holder(row["holder"])
        if not free:
            return None
        # compare-and-set on the holder we saw: only one process wins
        cond = job_locks.c.holder.is_(None) if row["holder"] is None else job_locks.c.holder == row["holder"]
        result = conn.execute(update(job_locks).where(and_(job_locks.c.job == name, cond))
                              .values(holder=me, acquired_at=utcnow()))
        return me if result.rowcount == 1 else None


def release(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(job_locks).where(and_(job_locks.c.job == name, job_locks.c.holder == holder))
                     .values(holder=None, acquired_at=None))


@contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """`with job_lock(engine, "cycle") as got:` — got is False when another process holds it."""
    holder = try_acquire(engine, name)
    try:
        yield holder is not None
    finally:
        if holder is not None:
            release(engine, name, holder)


__all__ = ["job_lock", "try_acquire", "release"]
