"""Reads over time for the console's charts: runs per day, and how many Esats have declared their RG, day by day."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from exchange.core.clock import PARIS, as_utc
from exchange.core.perimeter import Perimeter
from exchange.store.perimeter import in_perimeter
from exchange.store.tables import files, record_tallies, records, runs


def _day(moment: datetime) -> date:
    return as_utc(moment).astimezone(PARIS).date()


def runs_per_day(conn: Connection, since: datetime) -> dict[date, Counter[str]]:
    """Runs started since `since`, per Paris day: a Counter of statuts (OK, ECHEC, IGNORE, EN_COURS)."""
    days: dict[date, Counter[str]] = {}
    for started, status in conn.execute(select(runs.c.started_at, runs.c.status).where(runs.c.started_at >= since)):
        days.setdefault(_day(started), Counter())[status] += 1
    return days


def runs_per_job_and_day(conn: Connection, since: datetime) -> dict[tuple[str, date], Counter[str]]:
    """Runs started since `since`, per job and Paris day: a Counter of statuts (the runs grid)."""
    cells: dict[tuple[str, date], Counter[str]] = {}
    q = select(runs.c.job, runs.c.started_at, runs.c.status).where(runs.c.started_at >= since)
    for job, started, status in conn.execute(q):
        cells.setdefault((job, _day(started)), Counter())[status] += 1
    return cells


def first_declarations(conn: Connection, year: int, *, perimeter: Perimeter) -> dict[date, int]:
    """For the Esats with RG records of `year` in force: on which Paris day their first such file was
    processed, counted per day (the campaign's progress)."""
    if (
        conn.execute(
            select(records.c.id).where(records.c.kind == "RG", records.c.annee_reference == year).limit(1)
        ).first()
        is None
        and conn.execute(
            select(record_tallies.c.id)
            .where(record_tallies.c.kind == "RG", record_tallies.c.annee_reference == year)
            .limit(1)
        ).first()
        is None
    ):
        return {}  # a year with no RG yet: one index seek, not a probe into every file's records
    in_force = records.c.superseded == False  # noqa: E712 - NOT NULL; `= false` uses PostgreSQL's index
    # per RG file (thousands), one probe into its own records (ix_records_file): not a join of every record of the
    # year (a million). `kind || ''` keeps SQLite's planner, which has no statistics, off the campaign indexes that
    # start with `kind` (it would scan the whole year for each file); PostgreSQL reads it the same way.
    holds_rg = (
        select(records.c.id)
        .where(
            records.c.file_id == files.c.id, (records.c.kind + "") == "RG", records.c.annee_reference == year, in_force
        )
        .exists()
    )
    counted_rg = (  # the same, for a file whose records the purge turned into counts
        select(record_tallies.c.id)
        .where(
            record_tallies.c.file_id == files.c.id,
            record_tallies.c.kind == "RG",
            record_tallies.c.annee_reference == year,
            record_tallies.c.superseded == False,  # noqa: E712
        )
        .exists()
    )
    first = (
        select(files.c.siret, func.min(files.c.processed_at))
        .where(files.c.kind == "RG", or_(holds_rg, counted_rg), in_perimeter(files.c.siret, perimeter))
        .group_by(files.c.siret)
    )
    return dict(sorted(Counter(_day(at) for _siret, at in conn.execute(first) if at is not None).items()))


__all__ = ["runs_per_day", "first_declarations"]
