"""Scheduler nodes: each `scheduler` process's role (MENEUR / ATTENTE) and heartbeat, for `status`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection

from exchange.core.vocabulary import LEADER, STANDBY  # noqa: F401 - re-exported for the scheduler
from exchange.store.ledger import as_utc, utcnow
from exchange.store.tables import nodes

FORGET_AFTER = timedelta(hours=24)


def beat(
    conn: Connection,
    host: str,
    pid: int,
    role: str,
    started_at: datetime,
    role_since: datetime,
) -> None:
    """This node is alive in `role` (a leader's beat is fenced: a deposed leader writes nothing)."""
    values = {"role": role, "started_at": started_at, "role_since": role_since, "heartbeat_at": utcnow()}
    this = and_(nodes.c.host == host, nodes.c.pid == pid)
    if not conn.execute(update(nodes).where(this).values(**values)).rowcount:
        conn.execute(insert(nodes).values(host=host, pid=pid, **values))


def took_the_lead(conn: Connection, host: str, pid: int) -> None:
    """Other nodes still marked MENEUR lost the lead (killed or frozen): they show as ATTENTE with their last
    beat; nodes silent for a day are forgotten."""
    conn.execute(
        update(nodes)
        .where(and_(nodes.c.role == LEADER, ~and_(nodes.c.host == host, nodes.c.pid == pid)))
        .values(role=STANDBY)
    )
    conn.execute(delete(nodes).where(nodes.c.heartbeat_at < utcnow() - FORGET_AFTER))


def leave(conn: Connection, host: str, pid: int) -> None:
    """A clean stop: the node's row goes."""
    conn.execute(delete(nodes).where(and_(nodes.c.host == host, nodes.c.pid == pid)))


def list_nodes(conn: Connection) -> list[dict[str, Any]]:
    """Every known node, leader first, then by host."""
    rows = [dict(r) for r in conn.execute(select(nodes).order_by(nodes.c.host)).mappings()]
    for r in rows:
        for key in ("started_at", "role_since", "heartbeat_at"):
            r[key] = as_utc(r[key])
    return sorted(rows, key=lambda r: (r["role"] != LEADER, r["host"]))


__all__ = ["beat", "took_the_lead", "leave", "list_nodes", "LEADER", "STANDBY"]
