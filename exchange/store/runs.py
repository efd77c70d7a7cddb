"""Job runs (`runs`): EN_COURS → OK / ECHEC, or IGNORE written ended; each change a named, guarded verb."""

from __future__ import annotations

import json
import os
import socket
from datetime import date
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Connection

from exchange.core.tally import RunTally
from exchange.core.vocabulary import (
    ACCEPTE,
    DOUBLON,
    ECHEC,
    EN_COURS,
    FINISHED_RUN_STATUSES,
    IGNORE,
    PARTIEL,
    REJETE,
    RunStatus,
)
from exchange.store.ledger import utcnow
from exchange.store.moves import guarded_move
from exchange.store.tables import run_stops, runs

INTERRUPTED = "exécution interrompue (processus arrêté avant la fin) : reprise par l'exécution suivante"
_ZERO = {
    "files_seen": 0,
    "files_accepted": 0,
    "files_partial": 0,
    "files_rejected": 0,
    "files_duplicate": 0,
    "records_in": 0,
    "records_accepted": 0,
    "records_rejected": 0,
}


def start_run(conn: Connection, job: str, as_of: date | None) -> int:
    """A new run of `job`, EN_COURS; its id."""
    return _insert_run(conn, job=job, started_at=utcnow(), status=EN_COURS, as_of=as_of)


def _insert_run(conn: Connection, **values: Any) -> int:
    """A new row of runs with `values`, this host and process, every count at zero; its id."""
    result = conn.execute(insert(runs).values(host=socket.gethostname(), pid=os.getpid(), **_ZERO, **values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_run(
    conn: Connection,
    run_id: int,
    status: RunStatus,
    tally: RunTally,
    error: str | None = None,
) -> None:
    """EN_COURS → OK / ECHEC with what the run did; LedgerConflict when the run is not EN_COURS (already
    finished, or closed as interrupted by another holder of its lock)."""
    if status not in FINISHED_RUN_STATUSES:
        raise ValueError(f"a run ends OK or ECHEC, not {status}")
    guarded_move(
        conn,
        runs,
        [run_id],
        (EN_COURS,),
        status,
        state="status",
        what="run",
        ended_at=utcnow(),
        files_seen=tally.files_seen,
        files_accepted=tally.by_statut[ACCEPTE],
        files_partial=tally.by_statut[PARTIEL],
        files_rejected=tally.by_statut[REJETE],
        files_duplicate=tally.by_statut[DOUBLON],
        records_in=tally.records_in,
        records_accepted=tally.records_accepted,
        records_rejected=tally.records_rejected,
        anomaly_counts=json.dumps(dict(sorted(tally.anomaly_counts.items()))),
        outputs=json.dumps(tally.outputs),
        error=error,
    )


def close_interrupted_runs(conn: Connection, jobs: tuple[str, ...]) -> list[int]:
    """Runs of these jobs still EN_COURS belong to a process that died (the caller holds their lock): → ECHEC."""
    ids = [r for (r,) in conn.execute(select(runs.c.id).where(and_(runs.c.status == EN_COURS, runs.c.job.in_(jobs))))]
    if ids:
        guarded_move(
            conn, runs, ids, (EN_COURS,), ECHEC, state="status", what="run", ended_at=utcnow(), error=INTERRUPTED
        )
    return ids


def record_skipped_run(conn: Connection, job: str, reason: str) -> int:
    """A run that did not happen because another process held the job: written IGNORE, already ended."""
    now = utcnow()
    return _insert_run(conn, job=job, started_at=now, ended_at=now, status=IGNORE, error=reason)


def ask_stop(conn: Connection, run_id: int, by: str) -> bool:
    """Ask the running job of run `run_id` to stop between files (console, API): True when asked now; False when the
    run is not EN_COURS or a stop was already asked (the caller's transaction: one row per run)."""
    status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
    if status != EN_COURS or conn.execute(select(run_stops.c.run_id).where(run_stops.c.run_id == run_id)).first():
        return False
    from sqlalchemy.exc import IntegrityError

    try:
        with conn.begin_nested():  # two operators at once: the second finds the row and is told so
            conn.execute(insert(run_stops).values(run_id=run_id, asked_at=utcnow(), asked_by=by[:200]))
    except IntegrityError:
        return False
    return True


def stop_asked(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """Who asked run `run_id` to stop, and when (asked_by, asked_at); None when nobody did."""
    row = conn.execute(select(run_stops).where(run_stops.c.run_id == run_id)).mappings().first()
    return dict(row) if row else None
