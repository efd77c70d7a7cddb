"""The log of each run (`run_log`): what a run logged, line by line, for the console's « Journal de l'exécution ».

Lines are appended in batches by the job wrapper's capture (exchange.app.run_log), each batch in its own short
transaction, never inside the pipeline's fenced transactions. A line about one Esat's file carries the drop-area
`account` it is about: an operator sees the lines about no Esat and those about an Esat of their perimeter.
The lines go with their run (exchange.store.purge.delete_runs).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.store.perimeter import in_perimeter_account
from exchange.store.tables import run_log, runs

PAGE = 200  # lines read at once when no limit is given


def append_lines(conn: Connection, run_id: int, lines: list[dict[str, Any]]) -> int:
    """Append `lines` (at, level, message, fields: dict | None, account: str | None) to the log of `run_id`, in
    one short transaction and one batched insert; how many were written."""
    if not lines:
        return 0
    rows = [
        {
            "run_id": run_id,
            "at": line["at"],
            "level": line["level"][:10],
            "message": line["message"],
            "fields": json.dumps(line["fields"], ensure_ascii=False, default=str) if line.get("fields") else None,
            "account": (line.get("account") or None),
        }
        for line in lines
    ]
    conn.execute(insert(run_log), rows)
    return len(rows)


def _seen(run_id: int, perimeter: Perimeter) -> ColumnElement[bool]:  # a SQL condition
    return (run_log.c.run_id == run_id) & or_(
        run_log.c.account.is_(None), in_perimeter_account(run_log.c.account, perimeter)
    )


def _line(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": as_utc(row["at"]),
        "level": row["level"],
        "message": row["message"],
        "fields": json.loads(row["fields"]) if row["fields"] else {},
        "account": row["account"],
    }


def read_lines(
    conn: Connection, run_id: int, *, perimeter: Perimeter, after_id: int = 0, limit: int = PAGE, offset: int = 0
) -> list[dict[str, Any]]:
    """The lines of `run_id` the perimeter sees, after line `after_id`, oldest first (at most `limit`)."""
    q = (
        select(run_log)
        .where(_seen(run_id, perimeter), run_log.c.id > after_id)
        .order_by(run_log.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_line(r) for r in conn.execute(q).mappings()]


def last_lines(conn: Connection, run_id: int, *, perimeter: Perimeter, limit: int = PAGE) -> list[dict[str, Any]]:
    """The last `limit` lines of `run_id` the perimeter sees, oldest first."""
    q = select(run_log).where(_seen(run_id, perimeter)).order_by(run_log.c.id.desc()).limit(limit)
    return [_line(r) for r in reversed(conn.execute(q).mappings().all())]


def count_lines(conn: Connection, run_id: int, *, perimeter: Perimeter) -> int:
    """How many lines of `run_id` the perimeter sees."""
    return int(conn.execute(select(func.count()).select_from(run_log).where(_seen(run_id, perimeter))).scalar_one())


def run_status(conn: Connection, run_id: int) -> str | None:
    """The run's status alone (the live log asks it every few seconds), None when there is no such run."""
    return conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar_one_or_none()


def delete_lines(conn: Connection, run_ids: list[int] | Select[Any]) -> int:  # ids, or a Select of them
    """Remove the log of these runs (their retention: the lines go with the runs)."""
    return conn.execute(delete(run_log).where(run_log.c.run_id.in_(run_ids))).rowcount


__all__ = ["PAGE", "append_lines", "count_lines", "delete_lines", "last_lines", "read_lines", "run_status"]
