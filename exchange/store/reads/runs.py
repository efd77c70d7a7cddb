"""Job runs as the CLI, the console and its CSV exports read them: one RunQuery, counts narrowed to the perimeter."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, column, func, inspect, select, table
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import JOBS, REJETE, RUN_COUNTS
from exchange.store.perimeter import in_perimeter_account
from exchange.store.reads.days import within_days
from exchange.store.reads.files import CAF, joined
from exchange.store.tables import JOBSTORE_TABLE, anomalies, anomaly_tallies, files, runs

RUN_SORTS = {
    "id": runs.c.id,
    "tache": runs.c.job,
    "statut": runs.c.status,
    "debut": runs.c.started_at,
    "fichiers": runs.c.files_seen,
    "rejetes": runs.c.files_rejected,
}


@dataclass(frozen=True)
class RunQuery:
    """What a runs list is narrowed to and sorted by; every filter optional. Dates are Paris calendar days."""

    job: str | None = None
    statut: str | None = None
    du: date | None = None
    au: date | None = None
    tri: str = "id"
    ordre: str = "desc"


def run_view(row: dict[str, Any]) -> dict[str, Any]:
    """A job run with French keys; `duree` in seconds (None while running)."""
    start, end = as_utc(row["started_at"]), as_utc(row["ended_at"])
    return {
        "id": row["id"],
        "job": row["job"],
        "debut": start,
        "fin": end,
        "duree": (end - start).total_seconds() if start and end else None,
        "statut": row["status"],
        "fichiers": row["files_seen"],
        "fichiers_acceptes": row["files_accepted"],
        "fichiers_partiels": row["files_partial"],
        "fichiers_rejetes": row["files_rejected"],
        "fichiers_doublons": row["files_duplicate"],
        "enregistrements_recus": row["records_in"],
        "enregistrements_acceptes": row["records_accepted"],
        "enregistrements_rejetes": row["records_rejected"],
        "erreur": row["error"],
        "date_traitement": row["as_of"],
        "anomalies_par_code": json.loads(row["anomaly_counts"] or "{}"),
        "fichiers_emis": json.loads(row["outputs"] or "[]"),
        "machine": row["host"],
        "pid": row["pid"],
    }


def _conditions(q: RunQuery) -> list[Any]:
    where = []
    if q.job:
        where.append(runs.c.job == q.job)
    if q.statut:
        where.append(runs.c.status == q.statut)
    where += within_days(runs.c.started_at, q.du, q.au)
    return where


def list_runs(
    conn: Connection, q: RunQuery = RunQuery(), *, perimeter: Perimeter, limit: int | None = 20, offset: int = 0
) -> list[dict[str, Any]]:
    """Job runs matching `q` in its order (run_view keys), every one when `limit` is None or 0; outside a national
    perimeter their counts are those of the perimeter's files."""
    key = RUN_SORTS.get(q.tri, runs.c.id)
    tie = runs.c.id.asc() if q.ordre == "asc" else runs.c.id.desc()
    s = select(runs).where(*_conditions(q)).order_by((key.asc() if q.ordre == "asc" else key.desc()).nulls_last(), tie)
    if limit:
        s = s.limit(limit).offset(offset)
    return _narrowed(conn, [run_view(dict(r)) for r in conn.execute(s).mappings()], perimeter)


STATUT_COUNT = {
    "ACCEPTE": "fichiers_acceptes",
    "PARTIEL": "fichiers_partiels",
    REJETE: "fichiers_rejetes",
    "DOUBLON": "fichiers_doublons",
}


RESERVED_ERROR = "détail réservé aux opérateurs de périmètre national (il peut concerner des Esats d'autres Caf)"


def narrowed_error(error: str | None, own: list[str]) -> str | None:
    """A run's error as an operator outside the national perimeter reads it: its free text may name any Caf's file,
    account or Esat, so it is not shown; the errors of the perimeter's own files are (`own`: « fichier n° N : … »)."""
    if error is None:
        return None
    return "; ".join([RESERVED_ERROR, *own])


def narrowed_run(conn: Connection, view: dict[str, Any] | None, perimeter: Perimeter) -> dict[str, Any] | None:
    """One run (or None) as `perimeter` sees it (its counts, Caf files and error narrowed like list_runs')."""
    return None if view is None else _narrowed(conn, [view], perimeter)[0]


def _narrowed(conn: Connection, views: list[dict[str, Any]], perimeter: Perimeter) -> list[dict[str, Any]]:
    """The runs' file, record and anomaly counts recomputed from the files of the perimeter (as they stand now:
    a file's run_id is the last run that judged it); of the Caf files written, those of the perimeter's Cafs; its
    error's free text replaced by the errors of the perimeter's files (narrowed_error)."""
    if perimeter.national or not views:
        return views
    ids = [v["id"] for v in views]
    mine = and_(files.c.run_id.in_(ids), in_perimeter_account(files.c.account, perimeter))
    totals: dict[int, Counter[str]] = {}
    for r in conn.execute(
        select(
            files.c.run_id, files.c.statut, files.c.records_in, files.c.records_accepted, files.c.records_rejected
        ).where(mine)
    ):
        t = totals.setdefault(r.run_id, Counter())
        t["fichiers"] += 1
        if r.statut in STATUT_COUNT:
            t[STATUT_COUNT[r.statut]] += 1
        t["enregistrements_recus"] += r.records_in or 0
        t["enregistrements_acceptes"] += r.records_accepted or 0
        t["enregistrements_rejetes"] += r.records_rejected or 0
    own_errors: dict[int, list[str]] = {}
    for run_id, file_id, error in conn.execute(
        select(files.c.run_id, files.c.id, files.c.error).where(mine, files.c.error.is_not(None)).order_by(files.c.id)
    ):
        own_errors.setdefault(run_id, []).append(f"fichier n° {file_id} : {error}")
    codes: dict[int, dict[str, int]] = {}
    for run_id, code, n in conn.execute(
        select(files.c.run_id, anomalies.c.code, func.count())
        .select_from(anomalies.join(files, anomalies.c.file_id == files.c.id))
        .where(mine)
        .group_by(files.c.run_id, anomalies.c.code)
        .order_by(anomalies.c.code)
    ):
        codes.setdefault(run_id, {})[code] = n
    for run_id, code, n in conn.execute(  # record-level anomalies the purge turned into counts
        select(files.c.run_id, anomaly_tallies.c.code, func.sum(anomaly_tallies.c.n))
        .select_from(anomaly_tallies.join(files, anomaly_tallies.c.file_id == files.c.id))
        .where(mine)
        .group_by(files.c.run_id, anomaly_tallies.c.code)
    ):
        per_code = codes.setdefault(run_id, {})
        per_code[code] = per_code.get(code, 0) + int(n)
    out = []
    for v in views:
        t = totals.get(v["id"], Counter())
        out.append(
            {
                **v,
                **{k: t[k] for k in RUN_COUNTS},
                "erreur": narrowed_error(v["erreur"], own_errors.get(v["id"], [])),
                "anomalies_par_code": codes.get(v["id"], {}),
                "fichiers_emis": [o for o in v["fichiers_emis"] if o.split("/", 1)[0] in perimeter.cafs],
            }
        )
    return out


def count_runs(conn: Connection, q: RunQuery = RunQuery()) -> int:
    return conn.execute(select(func.count()).select_from(runs).where(*_conditions(q))).scalar_one()


def get_run(conn: Connection, run_id: int, *, perimeter: Perimeter) -> dict[str, Any] | None:
    """The run, its counts narrowed to the perimeter's files (see list_runs)."""
    row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
    return _narrowed(conn, [run_view(dict(row))], perimeter)[0] if row else None


def last_run(conn: Connection, jobs: tuple[str, ...], statuses: tuple[str, ...] | None = None) -> dict[str, Any] | None:
    """The latest run of any of these jobs (only of these statuses when given), None when there is none."""
    q = select(runs).where(runs.c.job.in_(jobs))
    if statuses:
        q = q.where(runs.c.status.in_(statuses))
    row = conn.execute(q.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)).mappings().first()
    return run_view(dict(row)) if row else None


def last_run_per_job(conn: Connection) -> dict[str, dict[str, Any] | None]:
    """The latest run of every job (None when it never ran)."""
    return {job: last_run(conn, (job,)) for job in JOBS}


def run_summary(conn: Connection, run_id: int, *, perimeter: Perimeter) -> dict[str, Any]:
    """A run's received files counted by statut and code (`par_statut_code`: statut, code, fichiers; most first)
    and by managing Caf and statut (`par_caf`: {caf: {statut: n}}; '' where the extract does not know the Esat)."""
    where = [files.c.run_id == run_id, in_perimeter_account(files.c.account, perimeter)]
    by_code = conn.execute(
        select(files.c.statut, files.c.code, func.count().label("n"))
        .where(*where)
        .group_by(files.c.statut, files.c.code)
    ).all()
    by_caf: dict[str, dict[str, int]] = {}
    for caf, statut, n in conn.execute(
        select(CAF, files.c.statut, func.count()).select_from(joined()).where(*where).group_by(CAF, files.c.statut)
    ).all():
        by_caf.setdefault(caf or "", {})[statut or ""] = n
    return {
        "par_statut_code": sorted(
            ({"statut": st or "", "code": code or "", "fichiers": n} for st, code, n in by_code),
            key=lambda r: (-r["fichiers"], r["statut"], r["code"]),
        ),
        "par_caf": dict(sorted(by_caf.items())),
    }


def next_scheduled_runs(conn: Connection) -> list[dict[str, Any]]:
    """The scheduler's jobs and their next run time, soonest first (empty when no scheduler ever started)."""
    if not inspect(conn).has_table(JOBSTORE_TABLE):
        return []
    jobs = table(JOBSTORE_TABLE, column("id"), column("next_run_time"))
    rows = conn.execute(select(jobs.c.id, jobs.c.next_run_time).order_by(jobs.c.next_run_time)).all()
    return [
        {"tache": job_id, "prochaine": datetime.fromtimestamp(ts, UTC) if ts is not None else None}
        for job_id, ts in rows
    ]
