"""The purge's store verbs: what may be due, marks set before any file is removed, records turned into counts in
batches, output and journal rows, the counts each purge leaves, and freeing the database's pages."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.clock import as_utc
from exchange.core.vocabulary import ACQUITTE, EN_COURS, QUARANTAINE, TERMINE
from exchange.store.tables import (
    anomalies,
    anomaly_tallies,
    audit_log,
    emissions,
    files,
    purges,
    record_tallies,
    records,
    run_stops,
    runs,
    unknown_files,
)

FILE_MARKS = {
    "copies": files.c.copies_purged_at,
    "comptes_rendus": files.c.answers_purged_at,
    "identity": files.c.identity_purged_at,
}

T = TypeVar("T")


def _chunks(ids: list[T], size: int = 500) -> list[list[T]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# What removing a file's data needs (app.purge._remove_file_data): read for a purge begun (pending_files), and
# with what the rules need for a new one (file_candidates).
_REMOVAL_COLUMNS = (
    files.c.id,
    files.c.account,
    files.c.name,
    files.c.processing_date,
    files.c.stored_path,
    files.c.archived_name,
    files.c.answers,
    files.c.statut,
    files.c.records_in,
    files.c.records_accepted,
    files.c.records_rejected,
    files.c.copies_purged_at,
    files.c.answers_purged_at,
)


def file_candidates(conn: Connection) -> list[dict[str, Any]]:
    """Every file with some kind not yet purged, with what the rules need: state, dates, its records' latest
    reference year and how many of its records in force are not yet emitted (emission finished)."""
    rows = [
        dict(r)
        for r in conn.execute(
            select(*_REMOVAL_COLUMNS, files.c.state, files.c.state_changed_at, files.c.identity_purged_at)
            .where(or_(*(mark.is_(None) for mark in FILE_MARKS.values())))
            .order_by(files.c.id)
        ).mappings()
    ]
    years = dict(
        conn.execute(select(records.c.file_id, func.max(records.c.annee_reference)).group_by(records.c.file_id)).all()
    )
    unfinished_emission = or_(records.c.emission_id.is_(None), emissions.c.state != TERMINE)
    waiting: dict[int, int] = dict(
        conn.execute(
            select(records.c.file_id, func.count())
            .select_from(records.outerjoin(emissions, records.c.emission_id == emissions.c.id))
            .where(and_(records.c.superseded.is_(False), unfinished_emission))
            .group_by(records.c.file_id)
        ).all()
    )
    for row in rows:
        row["state_changed_at"] = as_utc(row["state_changed_at"])
        row["reference_year"] = years.get(row["id"])
        row["finished"] = row["state"] == ACQUITTE and not waiting.get(row["id"])
        row["quarantined"] = row["state"] == QUARANTAINE
    return rows


def latest_answered_ids(conn: Connection) -> dict[tuple[str, str], int]:
    """(account, name) → the latest answered reception of that name, whose pair is <name>.CR.* in retour/."""
    return {
        (a, n): i
        for a, n, i in conn.execute(
            select(files.c.account, files.c.name, func.max(files.c.id))
            .where(files.c.answers > 0)
            .group_by(files.c.account, files.c.name)
        ).all()
    }


def record_counts(
    conn: Connection, run_id: int | None, at: datetime, kind: str, per_year: dict[int, list[int]]
) -> None:
    """What a purge step removed, per declaration year: [items, records, anomalies]."""
    rows = [
        {"run_id": run_id, "at": at, "kind": kind, "annee": year, "removed": c[0], "records": c[1], "anomalies": c[2]}
        for year, c in per_year.items()
        if any(c)
    ]
    if rows:
        conn.execute(insert(purges), rows)


def begin_file_purge(conn: Connection, kinds_by_file: dict[int, frozenset[str]], at: datetime) -> None:
    """Mark, before any file is touched, which kinds of each file are being purged (pending until removed)."""
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for file_id, kinds in kinds_by_file.items():
        groups[kinds].append(file_id)
    for kinds, ids in groups.items():
        values = {FILE_MARKS[k].key: at for k in kinds}
        for part in _chunks(ids):
            conn.execute(update(files).where(files.c.id.in_(part)).values(purge_pending=True, **values))


def pending_files(conn: Connection) -> list[dict[str, Any]]:
    """Files whose purge was begun and whose removals may not all be done (a purge stopped midway)."""
    return [
        dict(r)
        for r in conn.execute(
            select(*_REMOVAL_COLUMNS).where(files.c.purge_pending.is_(True)).order_by(files.c.id)
        ).mappings()
    ]


def stored_paths_in_use(conn: Connection, paths: list[str]) -> set[str]:
    """Those of `paths` that a reception whose copy is kept still points to (same content, same account)."""
    used: set[str] = set()
    for part in _chunks(sorted(set(paths))):
        used.update(
            p
            for (p,) in conn.execute(
                select(files.c.stored_path)
                .where(and_(files.c.stored_path.in_(part), files.c.copies_purged_at.is_(None)))
                .distinct()
            ).all()
        )
    return used


def end_file_purge(conn: Connection, file_ids: list[int]) -> None:
    """The files of these rows are gone: no local copy is recorded any more, nothing pending."""
    for part in _chunks(file_ids):
        conn.execute(update(files).where(files.c.id.in_(part)).values(purge_pending=None))
        conn.execute(
            update(files)
            .where(and_(files.c.id.in_(part), files.c.copies_purged_at.is_not(None)))
            .values(stored_path=None)
        )


def _tally_and_delete(conn: Connection, part: list[int]) -> tuple[int, int]:
    """These files' records and record-level anomalies become counts (record_tallies, anomaly_tallies: what
    the dashboard, the campaign and the history group by), then the rows go; (records, anomalies) removed.
    File-level anomalies (no line: the file's name, its header…) hold no worker and stay."""
    grouped = (
        records.c.file_id,
        records.c.siret_esat,
        records.c.kind,
        records.c.code_caf,
        records.c.annee_reference,
        records.c.superseded,
    )
    conn.execute(
        insert(record_tallies).from_select(
            ["file_id", "siret_esat", "kind", "code_caf", "annee_reference", "superseded", "n"],
            select(*grouped, func.count()).where(records.c.file_id.in_(part)).group_by(*grouped),
        )
    )
    line_level = and_(anomalies.c.file_id.in_(part), anomalies.c.ligne.is_not(None))
    conn.execute(
        insert(anomaly_tallies).from_select(
            ["file_id", "code", "gravite", "n"],
            select(anomalies.c.file_id, anomalies.c.code, anomalies.c.gravite, func.count())
            .where(line_level)
            .group_by(anomalies.c.file_id, anomalies.c.code, anomalies.c.gravite),
        )
    )
    done_records = conn.execute(delete(records).where(records.c.file_id.in_(part))).rowcount
    done_anomalies = conn.execute(delete(anomalies).where(line_level)).rowcount
    return done_records, done_anomalies


def anonymise(conn: Connection, file_ids: list[int], at: datetime) -> tuple[int, int]:
    """Turn these files' records and record-level anomalies into counts and delete the rows (one transaction):
    nothing is left that leads back to a worker; (records, anomalies) removed."""
    done_records = done_anomalies = 0
    for part in _chunks(file_ids):
        n_records, n_anomalies = _tally_and_delete(conn, part)
        done_records, done_anomalies = done_records + n_records, done_anomalies + n_anomalies
        conn.execute(update(files).where(files.c.id.in_(part)).values(identity_purged_at=at))
    return done_records, done_anomalies


def finish_former_anonymisation(conn: Connection) -> int:
    """Files whose identity an earlier version only blanked in place (their rows kept, nir = ''): their rows
    become counts too (not counted again in `purges`); how many files."""
    leftover = sorted(
        set(
            conn.execute(
                select(records.c.file_id)
                .distinct()
                .where(records.c.file_id.in_(select(files.c.id).where(files.c.identity_purged_at.is_not(None))))
            ).scalars()
        )
        | set(
            conn.execute(
                select(anomalies.c.file_id)
                .distinct()
                .where(
                    anomalies.c.ligne.is_not(None),
                    anomalies.c.file_id.in_(select(files.c.id).where(files.c.identity_purged_at.is_not(None))),
                )
            ).scalars()
        )
    )
    for part in _chunks(leftover):
        _tally_and_delete(conn, part)
    return len(leftover)


def identity_sizes(conn: Connection, file_ids: list[int]) -> dict[int, tuple[int, int]]:
    """file → (records, record-level anomalies) it holds: what anonymise() would erase."""
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for part in _chunks(file_ids):
        for fid, n in conn.execute(
            select(records.c.file_id, func.count()).where(records.c.file_id.in_(part)).group_by(records.c.file_id)
        ).all():
            out[fid][0] = n
        for fid, n in conn.execute(
            select(anomalies.c.file_id, func.count())
            .where(and_(anomalies.c.file_id.in_(part), anomalies.c.ligne.is_not(None)))
            .group_by(anomalies.c.file_id)
        ).all():
            out[fid][1] = n
    return {k: (v[0], v[1]) for k, v in out.items()}


def output_candidates(conn: Connection) -> list[dict[str, Any]]:
    """Finished emissions whose files are still in the output folder."""
    rows = [
        dict(r)
        for r in conn.execute(
            select(emissions.c.id, emissions.c.code_caf, emissions.c.name, emissions.c.annee, emissions.c.completed_at)
            .where(and_(emissions.c.state == TERMINE, emissions.c.files_purged_at.is_(None)))
            .order_by(emissions.c.id)
        ).mappings()
    ]
    for row in rows:
        row["completed_at"] = as_utc(row["completed_at"])
    return rows


def begin_output_purge(conn: Connection, ids: list[int], at: datetime) -> None:
    for part in _chunks(ids):
        conn.execute(update(emissions).where(emissions.c.id.in_(part)).values(files_purged_at=at, purge_pending=True))


def pending_outputs(conn: Connection) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in conn.execute(
            select(emissions.c.id, emissions.c.code_caf, emissions.c.name)
            .where(emissions.c.purge_pending.is_(True))
            .order_by(emissions.c.id)
        ).mappings()
    ]


def end_output_purge(conn: Connection, ids: list[int]) -> None:
    for part in _chunks(ids):
        conn.execute(update(emissions).where(emissions.c.id.in_(part)).values(purge_pending=None))


def _per_year(conn: Connection, column: ColumnElement[datetime], where: ColumnElement[bool]) -> dict[int, int]:
    """Rows matching `where` per calendar year of `column` (counted in Python: portable)."""
    out: dict[int, int] = defaultdict(int)
    for (value,) in conn.execute(select(column).where(where)).all():
        out[value.year] += 1
    return dict(out)


def audit_due(conn: Connection, before: datetime) -> dict[int, int]:
    return _per_year(conn, audit_log.c.at, audit_log.c.at < before)


def delete_audit(conn: Connection, before: datetime) -> int:
    return conn.execute(delete(audit_log).where(audit_log.c.at < before)).rowcount


def _finished_runs(before: datetime) -> ColumnElement[bool]:
    return and_(runs.c.status != EN_COURS, runs.c.ended_at.is_not(None), runs.c.ended_at < before)


def runs_due(conn: Connection, before: datetime) -> dict[int, int]:
    return _per_year(conn, runs.c.ended_at, _finished_runs(before))


def delete_runs(conn: Connection, before: datetime) -> int:
    """Remove the finished runs ended before `before`, and their log (run_log): the lines go with their run."""
    from exchange.store.run_log import delete_lines

    delete_lines(conn, select(runs.c.id).where(_finished_runs(before)))
    conn.execute(delete(run_stops).where(run_stops.c.run_id.in_(select(runs.c.id).where(_finished_runs(before)))))
    return conn.execute(delete(runs).where(_finished_runs(before))).rowcount


def history(conn: Connection) -> list[dict[str, Any]]:
    """Every purge step recorded, oldest first: at, run_id, kind, annee, removed, records, anomalies."""
    rows = [dict(r) for r in conn.execute(select(purges).order_by(purges.c.at, purges.c.id)).mappings()]
    for row in rows:
        row["at"] = as_utc(row["at"])
    return rows


def reclaim(engine: Engine) -> tuple[str, bool]:
    """Give the erased bytes back for real, after a purge: (what was done, in French for the report; whether
    the erasure is complete, so that confirm_erasure() may say so).

    SQLite (connections run with secure_delete: freed cells are zeroed): VACUUM rewrites the file without
    its free pages, then the WAL is checkpointed and truncated, so no old page image remains in either
    file; a reader holding the WAL open leaves the erasure incomplete. PostgreSQL: VACUUM of the purged
    tables; then, when identities wait for their physical erasure, VACUUM FULL of the two tables that held
    them: a plain VACUUM marks a dead row's space reusable without overwriting it, and a B-tree keeps
    deleted keys in its pages (ix_records_rg_key…); VACUUM FULL rewrites the table and rebuilds its indexes
    into new files, the old ones truncated at commit. It locks those two tables for the rewrite (seconds
    for a national campaign), under the cycle lock, at the purge's hour. Neither touches PostgreSQL's WAL
    segments, base backups or replicas (docs/donnees-personnelles.md § 5).
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM")
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy and busy[0]:
            return "base SQLite compactée (VACUUM) ; journal WAL non vidé : un lecteur était ouvert", False
        return "base SQLite compactée (VACUUM) et journal WAL vidé", True
    with engine.connect() as conn:
        rewrite = erasure_pending(conn) > 0
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in PURGED_TABLES:
            conn.execute(text(f"VACUUM {table.name}"))
        if not rewrite:
            return "tables PostgreSQL nettoyées (VACUUM)", True
        for table in IDENTITY_TABLES:
            conn.execute(text(f"VACUUM FULL {table.name}"))
    return (
        "tables PostgreSQL nettoyées (VACUUM), enregistrements et anomalies réécrits avec leurs index (VACUUM FULL)",
        True,
    )


PURGED_TABLES = (records, anomalies, files, emissions, audit_log, runs)
IDENTITY_TABLES = (records, anomalies)  # whose indexes held NIRs (ix_records_rg_key…)


def confirm_erasure(conn: Connection, at: datetime) -> int:
    """Every purged identity is now erased from the database's bytes too (after a complete reclaim())."""
    return conn.execute(
        update(files)
        .where(and_(files.c.identity_purged_at.is_not(None), files.c.identity_erased_at.is_(None)))
        .values(identity_erased_at=at)
    ).rowcount


def erasure_pending(conn: Connection) -> int:
    """Files whose identity the ledger erased but whose physical erasure is not confirmed (a purge killed
    during VACUUM, a reader holding the WAL): the next purge finishes it."""
    return conn.execute(
        select(func.count()).where(files.c.identity_purged_at.is_not(None), files.c.identity_erased_at.is_(None))
    ).scalar_one()


def record_unknown(conn: Connection, found: dict[str, int], at: datetime) -> None:
    """How many files on disk the ledger does not know, per kind, as just counted (replaces the last count)."""
    conn.execute(delete(unknown_files))
    conn.execute(insert(unknown_files), [{"kind": k, "n": n, "checked_at": at} for k, n in found.items()])


def unknown_counts(conn: Connection) -> tuple[dict[str, int], datetime | None]:
    """The last count of files the ledger does not know, per kind, and when it was made."""
    rows = conn.execute(select(unknown_files).order_by(unknown_files.c.kind)).mappings().all()
    at = max((as_utc(r["checked_at"]) for r in rows), default=None)
    return {r["kind"]: r["n"] for r in rows}, at


def stored_names(conn: Connection) -> set[tuple[str, str]]:
    """(account, file name) of every local copy the ledger points to."""
    return {
        (a, p.rsplit("/", 1)[-1])
        for a, p in conn.execute(
            select(files.c.account, files.c.stored_path).where(files.c.stored_path.is_not(None))
        ).all()
    }


def emission_names(conn: Connection) -> set[tuple[str, str]]:
    """(code_caf, base name) of every emission the ledger knows."""
    return {(c, n) for c, n in conn.execute(select(emissions.c.code_caf, emissions.c.name)).all()}
