"""Failed console logins per (login, client address), in the database so every node and a restart see them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.clock import as_utc
from exchange.store.tables import login_failures


def _key(login: str, address: str) -> ColumnElement[bool]:
    return and_(login_failures.c.login == login[:200], login_failures.c.address == address[:100])


def failures(conn: Connection, login: str, address: str, since: datetime) -> tuple[int, datetime | None]:
    """How many failures for (login, address) since their count last restarted, and the latest; (0, None)
    when there is none, or when the latest is older than `since` (forgotten)."""
    row = conn.execute(select(login_failures.c.failures, login_failures.c.last_at).where(_key(login, address))).first()
    if row is None or as_utc(row.last_at) < since:
        return 0, None
    return row.failures, as_utc(row.last_at)


def record_failure(conn: Connection, login: str, address: str, now: datetime, since: datetime) -> int:
    """Count one more failure (restarting from 1 when the last is older than `since`); the new count. Old
    counters of every login are dropped on the way."""
    count = 1
    for _ in range(3):  # two nodes may insert the same key at once: the loser counts again
        try:
            with conn.begin_nested():
                conn.execute(delete(login_failures).where(login_failures.c.last_at < since))
                row = conn.execute(select(login_failures.c.failures).where(_key(login, address))).first()
                count = (row.failures if row else 0) + 1
                if row:
                    conn.execute(update(login_failures).where(_key(login, address)).values(failures=count, last_at=now))
                else:
                    conn.execute(
                        insert(login_failures).values(
                            login=login[:200], address=address[:100], failures=count, last_at=now
                        )
                    )
            return count
        except IntegrityError:
            continue
    return count


def clear(conn: Connection, login: str, address: str) -> None:
    """A successful login from this address forgets its failures."""
    conn.execute(delete(login_failures).where(_key(login, address)))
