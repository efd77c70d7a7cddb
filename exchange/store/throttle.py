"""Login attempts per (login, client address), in the database so every node and a restart see them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.clock import as_utc
from exchange.store.tables import login_failures

# Concurrent attempts on one key each re-read the count after losing the race; past this many lost races the
# attempt is refused as too early rather than counted without a check.
RACES = 64


@dataclass(frozen=True)
class Attempt:
    """One login attempt as the throttle saw it: counted (the password may be checked) or refused as too early."""

    counted: bool
    failures: int  # earlier attempts for the key that did not succeed (before this one)
    allowed_at: datetime  # when this attempt was (or the next one will be) allowed


def _last(row: Any) -> datetime:  # a Row; last_at is NOT NULL
    last: datetime = as_utc(row.last_at) or row.last_at
    return last


def _key(login: str, address: str) -> ColumnElement[bool]:
    return and_(login_failures.c.login == login[:200], login_failures.c.address == address[:100])


def failures(conn: Connection, login: str, address: str, since: datetime) -> tuple[int, datetime | None]:
    """How many failures for (login, address) since their count last restarted, and the latest; (0, None)
    when there is none, or when the latest is older than `since` (forgotten)."""
    row = conn.execute(select(login_failures.c.failures, login_failures.c.last_at).where(_key(login, address))).first()
    if row is None or _last(row) < since:
        return 0, None
    return row.failures, _last(row)


def count_attempt(
    conn: Connection,
    login: str,
    address: str,
    now: datetime,
    since: datetime,
    allowed_after: Callable[[int, datetime], datetime],
) -> Attempt:
    """Count one attempt for (login, address) BEFORE its password is checked, unless it comes earlier than
    `allowed_after(failures, last)` allows: a guarded increment (`UPDATE … WHERE failures = :seen`), so of
    parallel attempts each one counts against the next and none slips past the limit. A successful login then
    `clear`s the key. Counters older than `since` are forgotten (every login's, on the way). The caller commits
    the count before checking the password (`store.engine.in_transaction`); each try is a savepoint."""
    seen = 0
    for _ in range(RACES):
        try:
            with conn.begin_nested():
                conn.execute(delete(login_failures).where(login_failures.c.last_at < since))
                row = conn.execute(
                    select(login_failures.c.failures, login_failures.c.last_at).where(_key(login, address))
                ).first()
                if row is None:
                    conn.execute(
                        insert(login_failures).values(login=login[:200], address=address[:100], failures=1, last_at=now)
                    )
                    return Attempt(True, 0, now)
                seen, last = row.failures, _last(row)
                allowed = allowed_after(seen, last)
                if allowed > now and allowed > last:  # a delay is due (a free attempt never waits on the clocks)
                    return Attempt(False, seen, allowed)
                moved = conn.execute(
                    update(login_failures)
                    .where(_key(login, address), login_failures.c.failures == seen)
                    .values(failures=seen + 1, last_at=max(now, last))  # parallel requests' clocks may disagree
                ).rowcount
            if moved:
                return Attempt(True, seen, allowed)
        except IntegrityError:  # another attempt inserted the key first: read it again
            continue
    return Attempt(False, seen, now + timedelta(seconds=1))


def clear(conn: Connection, login: str, address: str) -> None:
    """A successful login from this address forgets its failures."""
    conn.execute(delete(login_failures).where(_key(login, address)))
