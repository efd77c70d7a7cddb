"""Reads behind the service's prepared figures (/sante, /metrics, alerts): failed collects in a row, and a small
value that moves whenever the health may have changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.vocabulary import ECHEC, FINISHED_RUN_STATUSES
from exchange.store.tables import files, hab_imports, job_pauses, runs

COLLECTING_JOBS = ("collect", "run", "nightly")  # the jobs that list and take the drop area's files


def failed_collects_in_a_row(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The collecting runs that failed since the last one that ended OK, newest first (at most `limit`): id,
    job, debut, erreur."""
    rows = conn.execute(
        select(runs.c.id, runs.c.job, runs.c.started_at, runs.c.status, runs.c.error)
        .where(runs.c.job.in_(COLLECTING_JOBS), runs.c.status.in_(FINISHED_RUN_STATUSES))
        .order_by(runs.c.id.desc())
        .limit(limit)
    ).all()
    failed = []
    for r in rows:
        if r.status != ECHEC:
            break
        failed.append({"id": r.id, "job": r.job, "debut": as_utc(r.started_at), "erreur": r.error})
    return failed


def health_version(conn: Connection) -> tuple[Any, ...]:
    """What the health figures depend on, as a small value that moves when they may have changed: runs (started or
    ended), files (received or moved: replays are runs too), imports and pauses."""
    run = conn.execute(select(func.max(runs.c.id), func.max(runs.c.ended_at), func.count(runs.c.ended_at))).one()
    file_ = conn.execute(select(func.max(files.c.id), func.max(files.c.state_changed_at))).one()
    imported = conn.execute(select(func.max(hab_imports.c.id))).scalar()
    paused = conn.execute(select(func.count(), func.max(job_pauses.c.paused_at))).one()
    return (*run, *file_, imported, *paused)


def managing_caf(conn: Connection, siret: str | None) -> str | None:
    """The Caf that manages this Esat in the extract in force (« 78 », the CNA, for a multi-departmental one);
    None when the SIRET is unknown there."""
    from exchange.core.habilitations import caf_gestionnaire
    from exchange.store.tables import hab_partenaires

    if not siret:
        return None
    row = conn.execute(
        select(hab_partenaires.c.portee, hab_partenaires.c.code_caf).where(hab_partenaires.c.siret == siret)
    ).first()
    return None if row is None else caf_gestionnaire(row.portee, row.code_caf)


__all__ = ["COLLECTING_JOBS", "failed_collects_in_a_row", "health_version", "managing_caf"]
