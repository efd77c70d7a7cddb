"""Console sessions kept on the server: one row per session, keyed by the SHA-256 of the cookie's random token."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from exchange.core.clock import as_utc, utcnow
from exchange.store.tables import console_keys, web_sessions


@dataclass(frozen=True)
class StoredSession:
    login: str | None
    data: dict[str, Any]
    seen_at: datetime


def load(conn: Connection, key: str, idle_before: datetime) -> StoredSession | None:
    """The session, None when there is none or when it was last seen before `idle_before` (then it is deleted)."""
    row = conn.execute(select(web_sessions).where(web_sessions.c.id == key)).mappings().first()
    if row is None:
        return None
    if as_utc(row["seen_at"]) < idle_before:
        end(conn, key)
        return None
    return StoredSession(row["login"], json.loads(row["data"]), as_utc(row["seen_at"]))


def create(
    conn: Connection, key: str, login: str | None, data: dict[str, Any], now: datetime, idle_before: datetime
) -> None:
    """A new session (and the sessions idle since before `idle_before` removed, of every login)."""
    conn.execute(delete(web_sessions).where(web_sessions.c.seen_at < idle_before))
    conn.execute(insert(web_sessions).values(id=key, login=login, data=json.dumps(data), created_at=now, seen_at=now))


def save(conn: Connection, key: str, data: dict[str, Any], now: datetime) -> bool:
    """Store the session's new data; False when it was ended meanwhile (logout elsewhere, disable…)."""
    return (
        conn.execute(
            update(web_sessions).where(web_sessions.c.id == key).values(data=json.dumps(data), seen_at=now)
        ).rowcount
        > 0
    )


def touch(conn: Connection, key: str, now: datetime) -> None:
    """The session was used now (its idle time starts again)."""
    conn.execute(update(web_sessions).where(web_sessions.c.id == key).values(seen_at=now))


def end(conn: Connection, key: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.id == key))


def console_key(conn: Connection, name: str) -> str:
    """The console's key `name` (every node reads the same), made at first use: 32 random bytes."""
    found = conn.execute(select(console_keys.c.value).where(console_keys.c.name == name)).scalar_one_or_none()
    if found is not None:
        return str(found)
    try:
        with conn.begin_nested():  # a savepoint: another node making it at the same moment wins, we read theirs
            conn.execute(insert(console_keys).values(name=name, value=secrets.token_urlsafe(32), created_at=utcnow()))
    except IntegrityError:
        pass
    return str(conn.execute(select(console_keys.c.value).where(console_keys.c.name == name)).scalar_one())
