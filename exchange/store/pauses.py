"""Scheduled jobs paused by an operator (`job_pauses`): the store verbs and the read. One row per paused job; every
scheduler node and the console read the same rows. The scheduler skips a paused job's slots (jobs/tasks.py); a
job started by hand still runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from exchange.core.clock import PARIS, as_utc
from exchange.core.vocabulary import JOB_LABELS, SCHEDULED_JOBS
from exchange.errors import TerminalError
from exchange.store.ledger import utcnow
from exchange.store.tables import job_pauses


class PauseError(TerminalError):
    """A refused pause or resume (French message): unknown job, already paused, not paused."""


def _known(job: str) -> None:
    if job not in SCHEDULED_JOBS:
        raise PauseError(f"tâche inconnue « {job} » : {', '.join(SCHEDULED_JOBS)}")


def since_text(row: dict[str, Any]) -> str:
    """« par marie depuis le 06/12/2026 03:12 » (Paris time): who paused the job, since when."""
    return f"par {row['paused_by']} depuis le {row['paused_at'].astimezone(PARIS).strftime('%d/%m/%Y %H:%M')}"


def _row(conn: Connection, job: str) -> dict[str, Any] | None:
    row = conn.execute(select(job_pauses).where(job_pauses.c.job == job)).mappings().first()
    return None if row is None else {**dict(row), "paused_at": as_utc(row["paused_at"])}


def pause_job(conn: Connection, job: str, by: str, reason: str | None = None) -> dict[str, Any]:
    """Pause `job` for the scheduler (INSERT); the row written. PauseError when the job is unknown or already
    paused (the row stays as it was: who paused it first keeps it)."""
    _known(job)
    values = {"job": job, "paused_at": utcnow(), "paused_by": by[:200], "reason": reason or None}
    already = _row(conn, job)
    if already is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(job_pauses).values(**values))
        except IntegrityError:  # paused by someone else between the read and the insert
            already = _row(conn, job)
            if already is None:
                raise
    if already is not None:
        raise PauseError(f"la tâche {JOB_LABELS[job]} est déjà suspendue {since_text(already)}")
    return values


def resume_job(conn: Connection, job: str, by: str) -> dict[str, Any]:
    """Resume `job` (DELETE its row); the pause that ended. PauseError when the job is unknown or not paused.
    `by` is who resumes: the journal keeps it (the table holds only the pauses in force)."""
    _known(job)
    row = _row(conn, job)
    moved = conn.execute(delete(job_pauses).where(job_pauses.c.job == job)).rowcount if row else 0
    if not moved:
        raise PauseError(f"la tâche {JOB_LABELS[job]} n'est pas suspendue")
    assert row is not None  # read in the same transaction
    return row


def paused_jobs(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every paused job → its row (job, paused_at in UTC, paused_by, reason), in SCHEDULED_JOBS order."""
    rows = {
        r["job"]: {**dict(r), "paused_at": as_utc(r["paused_at"])} for r in conn.execute(select(job_pauses)).mappings()
    }
    return {
        job: rows[job]
        for job in sorted(
            rows, key=lambda j: (SCHEDULED_JOBS.index(j) if j in SCHEDULED_JOBS else len(SCHEDULED_JOBS), j)
        )
    }


__all__ = ["PauseError", "pause_job", "paused_jobs", "resume_job", "since_text"]
