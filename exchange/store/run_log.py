"""The log of each run (`run_log`): what a run logged, line by line, for the console's « Journal de l'exécution ».

Lines are appended in batches by the job wrapper's capture (exchange.app.run_log), each batch in its own short
transaction, never inside the pipeline's fenced transactions. A line about one Esat's file carries the drop-area
`account` it is about, a line about a Caf's file its `caf`, a line about the run as a whole naming nothing its
`general` mark: an operator outside the national perimeter reads those of their perimeter and the general ones,
never a line whose free text could name another perimeter's file, account or Caf.
The lines go with their run (exchange.store.purge.delete_runs).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, true
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
            "caf": (line.get("caf") or None),
            "general": bool(line.get("general")),
        }
        for line in lines
    ]
    conn.execute(insert(run_log), rows)
    return len(rows)


def _seen(run_id: int, perimeter: Perimeter, levels: tuple[str, ...] | None = None) -> ColumnElement[bool]:
    """The lines of `run_id` the perimeter reads: every line for a national operator; else those about an account
    of the perimeter, about one of its Cafs, and the general ones (the run's start and end, naming nothing). A line
    about nothing known (a count of the whole drop area, an error's free text) is national only. Only the lines of
    `levels` when given."""
    by_level = run_log.c.level.in_(levels) if levels is not None else true()
    if perimeter.national:
        return (run_log.c.run_id == run_id) & by_level
    narrowed = [
        run_log.c.account.is_not(None) & in_perimeter_account(run_log.c.account, perimeter),
        run_log.c.account.is_(None) & run_log.c.caf.is_(None) & run_log.c.general.is_(True),
    ]
    if perimeter.cafs:
        narrowed.append(run_log.c.account.is_(None) & run_log.c.caf.in_(sorted(perimeter.cafs)))
    return (run_log.c.run_id == run_id) & or_(*narrowed) & by_level


def _line(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": as_utc(row["at"]),
        "level": row["level"],
        "message": row["message"],
        "fields": json.loads(row["fields"]) if row["fields"] else {},
        "account": row["account"],
        "caf": row["caf"],
        "general": bool(row["general"]),
    }


def read_lines(
    conn: Connection,
    run_id: int,
    *,
    perimeter: Perimeter,
    after_id: int = 0,
    limit: int = PAGE,
    offset: int = 0,
    levels: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """The lines of `run_id` the perimeter sees (of `levels` only, when given), after line `after_id`, oldest first
    (at most `limit`)."""
    q = (
        select(run_log)
        .where(_seen(run_id, perimeter, levels), run_log.c.id > after_id)
        .order_by(run_log.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_line(r) for r in conn.execute(q).mappings()]


def last_lines(conn: Connection, run_id: int, *, perimeter: Perimeter, limit: int = PAGE) -> list[dict[str, Any]]:
    """The last `limit` lines of `run_id` the perimeter sees, oldest first."""
    q = select(run_log).where(_seen(run_id, perimeter)).order_by(run_log.c.id.desc()).limit(limit)
    return [_line(r) for r in reversed(conn.execute(q).mappings().all())]


def count_lines(
    conn: Connection, run_id: int, *, perimeter: Perimeter, levels: tuple[str, ...] | None = None, before_id: int = 0
) -> int:
    """How many lines of `run_id` the perimeter sees (of `levels` only; before line `before_id` only, when given:
    the position of that line, to open the page that holds it)."""
    where = _seen(run_id, perimeter, levels)
    if before_id:
        where = where & (run_log.c.id < before_id)
    return int(conn.execute(select(func.count()).select_from(run_log).where(where)).scalar_one())


def count_by_level(conn: Connection, run_id: int, *, perimeter: Perimeter) -> dict[str, int]:
    """How many lines of `run_id` the perimeter sees, per level (DEBUG, INFO, WARNING, ERROR, CRITICAL)."""
    q = select(run_log.c.level, func.count()).where(_seen(run_id, perimeter)).group_by(run_log.c.level)
    return {level: int(n) for level, n in conn.execute(q).all()}


def first_line_of(conn: Connection, run_id: int, *, perimeter: Perimeter, levels: tuple[str, ...]) -> int | None:
    """The id of the first line of `levels` the perimeter sees (« aller aux erreurs »), None when there is none."""
    q = select(func.min(run_log.c.id)).where(_seen(run_id, perimeter, levels))
    return conn.execute(q).scalar_one_or_none()


def run_status(conn: Connection, run_id: int) -> str | None:
    """The run's status alone (the live log asks it every few seconds), None when there is no such run."""
    return conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar_one_or_none()


def delete_lines(conn: Connection, run_ids: list[int] | Select[Any]) -> int:  # ids, or a Select of them
    """Remove the log of these runs (their retention: the lines go with the runs)."""
    return conn.execute(delete(run_log).where(run_log.c.run_id.in_(run_ids))).rowcount


__all__ = [
    "PAGE",
    "append_lines",
    "count_by_level",
    "count_lines",
    "delete_lines",
    "first_line_of",
    "last_lines",
    "read_lines",
    "run_status",
]
