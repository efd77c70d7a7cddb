"""Counts for the monitoring system (`GET /metrics`): runs, files, records, anomalies, last run of each job."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import OK
from exchange.store.perimeter import in_perimeter, in_perimeter_account
from exchange.store.tables import anomalies, anomaly_tallies, files, record_tallies, records, runs


def service_counts(conn: Connection, *, perimeter: Perimeter) -> dict:
    """runs {(job, statut): n}; files {(etat, statut): n}; records {type: n} (stored, replaced ones included);
    anomalies {code: n}; last_run {job: (seconds, ended)}: the latest ended run's duration; last_success
    {job: ended_at} of its latest OK run."""
    run_counts = {
        (j, s): n
        for j, s, n in conn.execute(
            select(runs.c.job, runs.c.status, func.count()).group_by(runs.c.job, runs.c.status)
        ).all()
    }
    file_counts = {
        (e, s or ""): n
        for e, s, n in conn.execute(
            select(files.c.state, files.c.statut, func.count())
            .where(in_perimeter_account(files.c.account, perimeter))
            .group_by(files.c.state, files.c.statut)
        ).all()
    }
    record_counts: Counter[str] = Counter(
        {
            k or "": n
            for k, n in conn.execute(
                select(records.c.kind, func.count())
                .where(in_perimeter(records.c.siret_esat, perimeter))
                .group_by(records.c.kind)
            ).all()
        }
    )
    for k, n in conn.execute(  # records turned into counts by the purge (exchange.store.purge.anonymise)
        select(record_tallies.c.kind, func.sum(record_tallies.c.n))
        .where(in_perimeter(record_tallies.c.siret_esat, perimeter))
        .group_by(record_tallies.c.kind)
    ).all():
        record_counts[k or ""] += int(n)
    anomaly_counts: Counter[str] = Counter(
        dict(
            conn.execute(
                select(anomalies.c.code, func.count())
                .select_from(anomalies.join(files, files.c.id == anomalies.c.file_id))
                .where(in_perimeter_account(files.c.account, perimeter))
                .group_by(anomalies.c.code)
            ).all()
        )
    )
    for c, n in conn.execute(
        select(anomaly_tallies.c.code, func.sum(anomaly_tallies.c.n))
        .select_from(anomaly_tallies.join(files, files.c.id == anomaly_tallies.c.file_id))
        .where(in_perimeter_account(files.c.account, perimeter))
        .group_by(anomaly_tallies.c.code)
    ).all():
        anomaly_counts[c] += int(n)
    last_run = {}
    latest = (
        select(runs.c.job, func.max(runs.c.id).label("id")).where(runs.c.ended_at.is_not(None)).group_by(runs.c.job)
    )
    for job, start, end in conn.execute(
        select(runs.c.job, runs.c.started_at, runs.c.ended_at).where(runs.c.id.in_(select(latest.subquery().c.id)))
    ).all():
        last_run[job] = (as_utc(end) - as_utc(start)).total_seconds()
    last_success = {
        job: as_utc(end)
        for job, end in conn.execute(
            select(runs.c.job, func.max(runs.c.ended_at)).where(runs.c.status == OK).group_by(runs.c.job)
        ).all()
    }
    return {
        "runs": run_counts,
        "files": file_counts,
        "records": dict(record_counts),
        "anomalies": dict(anomaly_counts),
        "last_run_seconds": last_run,
        "last_success": last_success,
    }


__all__ = ["service_counts"]
