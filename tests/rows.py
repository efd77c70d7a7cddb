"""The database as tests read and plant it. Reads go through the store's own reads (the journal, the files, the
runs, national perimeter); the setup shortcuts write a state no verb makes — a run in the past, a file backdated
or put in a given state — once, rather than a raw insert or update in each test that needs one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.engine import Connection

from exchange.core.perimeter import EVERYTHING
from exchange.store.reads.audit import list_audit
from exchange.store.reads.files import FileQuery, list_files
from exchange.store.reads.runs import count_runs
from exchange.store.tables import files, runs


def journal(conn: Connection) -> list[dict[str, Any]]:
    """Every journal line, oldest first (store.reads.audit keys: operateur, action, objet, resultat, detail…)."""
    return list(reversed(list_audit(conn, perimeter=EVERYTHING, limit=None)))


def all_files(conn: Connection) -> list[dict[str, Any]]:
    """Every received file, by id (store.reads.files keys: id, fichier, etat, code…)."""
    return list_files(conn, FileQuery(tri="id", ordre="asc"), perimeter=EVERYTHING)


def run_count(conn: Connection) -> int:
    """How many runs are recorded, whatever their job or status."""
    return count_runs(conn)


def plant_run(conn: Connection, **values: Any) -> int:
    """A run row as a past job left it (job, started_at, status, ended_at, error… as given; its counts 0, the
    table's defaults); its id. The store's verbs start a run now, by this process; a test of what an operator
    sees later needs one in the past, or one another process holds."""
    key = conn.execute(insert(runs).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def plant_runs(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Many past runs at once (see plant_run)."""
    conn.execute(insert(runs), rows)


def forget_runs(conn: Connection) -> None:
    """No run ever recorded (the files stay): what `status` says when no cycle ran since."""
    conn.execute(delete(runs))


def set_run(conn: Connection, run_id: int, **values: Any) -> None:
    """Change a recorded run's columns as given (a status it could not reach by itself, an error text…)."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def set_file(conn: Connection, file_id: int, **values: Any) -> None:
    """Change a received file's columns as given: backdate it, or put it in a state the test needs."""
    conn.execute(update(files).where(files.c.id == file_id).values(**values))
