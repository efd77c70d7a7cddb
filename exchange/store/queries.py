"""Read queries shared by the command line and the console: files, runs, rejections, campaign, audit, schedule."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, column, func, inspect, select, table, true
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc, paris_day_start
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import (  # noqa: F401
    CYCLE_JOBS,
    EN_COURS,
    ETATS,
    IGNORE,
    JOBS,
    OK,
    QUARANTAINE,
    REJETE,
    RUN_STATUSES,
    STATUTS,
    UNFINISHED_STATES,
)
from exchange.store.perimeter import in_perimeter, in_perimeter_account
from exchange.store.tables import JOBSTORE_TABLE, anomalies, audit_log, files, hab_imports, records, runs
from schemas.masking import mask_nir


def within_days(column, du: date | None, au: date | None) -> list:  # noqa: ANN001 - a datetime column
    """`column` (a UTC datetime) within the Paris calendar days du..au, each bound optional."""
    where = []
    if du:
        where.append(column >= paris_day_start(du))
    if au:
        where.append(column < paris_day_start(au + timedelta(days=1)))
    return where


# -- files ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileFilters:
    """What a files listing is narrowed to; every field optional. Dates are Paris calendar days."""

    statut: str | None = None
    etat: str | None = None
    compte: str | None = None
    siret: str | None = None
    run_id: int | None = None
    du: date | None = None
    au: date | None = None


def file_conditions(f: FileFilters, perimeter: Perimeter) -> list:
    """The SQL conditions of a files listing: the perimeter, then each filter given."""
    where = [in_perimeter_account(files.c.account, perimeter)]
    if f.statut:
        where.append(files.c.statut == f.statut)
    if f.etat:
        where.append(files.c.state == f.etat)
    if f.compte:
        where.append(files.c.account == f.compte)
    if f.siret:
        where.append(files.c.siret == f.siret)
    if f.run_id is not None:
        where.append(files.c.run_id == f.run_id)
    where += within_days(files.c.received_at, f.du, f.au)
    return where


def file_view(row: dict) -> dict:
    """A received file with French keys, as every listing shows it."""
    return {
        "id": row["id"],
        "fichier": row["name"],
        "compte": row["account"],
        "siret": row["siret"],
        "type": row["kind"],
        "date_reception": as_utc(row["received_at"]),
        "etat": row["state"],
        "statut": row["statut"],
        "code": row["code"],
        "enregistrements_recus": row["records_in"],
        "enregistrements_acceptes": row["records_accepted"],
        "enregistrements_rejetes": row["records_rejected"],
        "date_traitement": row["processing_date"],
        "archive": row["archived_name"],
        "doublon_de": row["duplicate_of"],
        "rejeux": row["replays"],
        "execution": row["run_id"],
        "taille": row["size"],
        "erreur": row.get("error"),
    }


def list_files(
    conn: Connection, filters: FileFilters, limit: int | None = None, offset: int = 0, *, perimeter: Perimeter
) -> list[dict]:
    """Received files of the perimeter matching `filters`, newest first."""
    q = select(files).where(*file_conditions(filters, perimeter)).order_by(files.c.id.desc())
    if limit:
        q = q.limit(limit).offset(offset)
    return [file_view(r) for r in conn.execute(q).mappings()]  # type: ignore[arg-type] - a RowMapping reads as a dict


def count_files(conn: Connection, filters: FileFilters, *, perimeter: Perimeter) -> int:
    return conn.execute(
        select(func.count()).select_from(files).where(*file_conditions(filters, perimeter))
    ).scalar_one()


def get_file(conn: Connection, file_id: int, *, perimeter: Perimeter) -> dict | None:
    """The received file's row (as exchange.store.ledger.get_file), None when unknown or outside the perimeter."""
    row = (
        conn.execute(select(files).where(files.c.id == file_id, in_perimeter_account(files.c.account, perimeter)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _file_in(perimeter: Perimeter):  # noqa: ANN202 - a condition on anomalies.file_id
    """anomalies.file_id belongs to a file of the perimeter (no condition for a national one)."""
    if perimeter.national:
        return true()
    return anomalies.c.file_id.in_(select(files.c.id).where(in_perimeter_account(files.c.account, perimeter)))


def file_anomalies(
    conn: Connection, file_id: int, limit: int | None = None, offset: int = 0, *, perimeter: Perimeter
) -> list[dict]:
    """A file's anomalies in line order, NIR masked (never a full NIR out of the store); none outside the perimeter."""
    q = (
        select(
            anomalies.c.ligne,
            anomalies.c.nir,
            anomalies.c.code,
            anomalies.c.gravite,
            anomalies.c.champ,
            anomalies.c.message,
        )
        .where(anomalies.c.file_id == file_id, _file_in(perimeter))
        .order_by(anomalies.c.id)
    )
    if limit:
        q = q.limit(limit).offset(offset)
    return [
        {
            "ligne": r.ligne,
            "nir_masque": mask_nir(r.nir),
            "code": r.code,
            "gravite": r.gravite,
            "champ": r.champ,
            "message": r.message,
        }
        for r in conn.execute(q)
    ]


def file_anomaly_counts(conn: Connection, file_id: int, *, perimeter: Perimeter) -> dict[str, int]:
    rows = conn.execute(
        select(anomalies.c.code, func.count())
        .where(anomalies.c.file_id == file_id, _file_in(perimeter))
        .group_by(anomalies.c.code)
        .order_by(anomalies.c.code)
    ).all()
    return {code: n for code, n in rows}


def other_receptions(conn: Connection, account: str, name: str, file_id: int, *, perimeter: Perimeter) -> list[dict]:
    """Every other reception of the same name from the same account, oldest first (in the perimeter)."""
    q = select(files).where(
        and_(
            files.c.account == account,
            files.c.name == name,
            files.c.id != file_id,
            in_perimeter_account(files.c.account, perimeter),
        )
    )
    return [file_view(dict(r)) for r in conn.execute(q.order_by(files.c.id)).mappings()]


def latest_answered_of_name(conn: Connection, account: str, name: str, *, perimeter: Perimeter) -> int | None:
    """The latest reception of the name whose comptes rendus were written (it owns `<name>.CR.*`)."""
    return conn.execute(
        select(func.max(files.c.id)).where(
            and_(
                files.c.account == account,
                files.c.name == name,
                files.c.answers > 0,
                in_perimeter_account(files.c.account, perimeter),
            )
        )
    ).scalar()


# -- runs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilters:
    job: str | None = None
    statut: str | None = None
    du: date | None = None
    au: date | None = None


def run_view(row: dict) -> dict:
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


def run_conditions(f: RunFilters) -> list:
    where = []
    if f.job:
        where.append(runs.c.job == f.job)
    if f.statut:
        where.append(runs.c.status == f.statut)
    where += within_days(runs.c.started_at, f.du, f.au)
    return where


def list_runs(
    conn: Connection,
    filters: RunFilters = RunFilters(),
    limit: int | None = 20,
    offset: int = 0,
    *,
    perimeter: Perimeter,
) -> list[dict]:
    """Job runs, newest first; outside a national perimeter their counts are those of the perimeter's files."""
    q = select(runs).where(*run_conditions(filters)).order_by(runs.c.id.desc())
    if limit:
        q = q.limit(limit).offset(offset)
    return narrowed_runs(conn, [run_view(dict(r)) for r in conn.execute(q).mappings()], perimeter)


RESERVED_ERROR = "détail réservé aux opérateurs de périmètre national (il peut concerner des Esats d'autres Caf)"


def narrowed_error(error: str | None, own: list[str]) -> str | None:
    """A run's error as an operator outside the national perimeter reads it: its free text may name any Caf's file,
    account or Esat, so it is not shown; the errors of the perimeter's own files are (`own`: « fichier n° N : … »)."""
    if error is None:
        return None
    return "; ".join([RESERVED_ERROR, *own])


def narrowed_run(conn: Connection, view: dict | None, perimeter: Perimeter) -> dict | None:
    """One run (or None) as `perimeter` sees it (narrowed_runs)."""
    return None if view is None else narrowed_runs(conn, [view], perimeter)[0]


def narrowed_runs(conn: Connection, views: list[dict], perimeter: Perimeter) -> list[dict]:
    """The runs' file, record and anomaly counts recomputed from the files of the perimeter (as they stand now:
    a file's run_id is the last run that judged it); of the Caf files written, those of the perimeter's Cafs; its
    error's free text replaced by the errors of the perimeter's files (narrowed_error)."""
    if perimeter.national or not views:
        return views
    ids = [v["id"] for v in views]
    mine = and_(files.c.run_id.in_(ids), in_perimeter_account(files.c.account, perimeter))
    totals: dict[int, dict] = {}
    for r in conn.execute(
        select(
            files.c.run_id, files.c.statut, files.c.records_in, files.c.records_accepted, files.c.records_rejected
        ).where(mine)
    ):
        t = totals.setdefault(r.run_id, Counter())
        t["fichiers"] += 1
        key = {
            "ACCEPTE": "fichiers_acceptes",
            "PARTIEL": "fichiers_partiels",
            REJETE: "fichiers_rejetes",
            "DOUBLON": "fichiers_doublons",
        }
        if r.statut in key:
            t[key[r.statut]] += 1
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
    out = []
    for v in views:
        t = totals.get(v["id"], Counter())
        out.append(
            {
                **v,
                **{
                    k: t[k]
                    for k in (
                        "fichiers",
                        "fichiers_acceptes",
                        "fichiers_partiels",
                        "fichiers_rejetes",
                        "fichiers_doublons",
                        "enregistrements_recus",
                        "enregistrements_acceptes",
                        "enregistrements_rejetes",
                    )
                },
                "erreur": narrowed_error(v["erreur"], own_errors.get(v["id"], [])),
                "anomalies_par_code": codes.get(v["id"], {}),
                "fichiers_emis": [o for o in v["fichiers_emis"] if o.split("/", 1)[0] in perimeter.cafs],
            }
        )
    return out


def count_runs(conn: Connection, filters: RunFilters = RunFilters()) -> int:
    return conn.execute(select(func.count()).select_from(runs).where(*run_conditions(filters))).scalar_one()


def get_run(conn: Connection, run_id: int, *, perimeter: Perimeter) -> dict | None:
    """The run, its counts narrowed to the perimeter's files (see list_runs)."""
    row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
    return narrowed_runs(conn, [run_view(dict(row))], perimeter)[0] if row else None


def last_run(conn: Connection, jobs: tuple[str, ...], statuses: tuple[str, ...] | None = None) -> dict | None:
    """The latest run of any of these jobs (only of these statuses when given), None when there is none."""
    q = select(runs).where(runs.c.job.in_(jobs))
    if statuses:
        q = q.where(runs.c.status.in_(statuses))
    row = conn.execute(q.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)).mappings().first()
    return run_view(dict(row)) if row else None


def last_run_per_job(conn: Connection) -> dict[str, dict | None]:
    """The latest run of every job (None when it never ran)."""
    return {job: last_run(conn, (job,)) for job in JOBS}


def accounts_in(conn: Connection, *, perimeter: Perimeter) -> set[str]:
    """The drop-area accounts (Habpps logins) of the perimeter's partners."""
    from exchange.store.tables import hab_utilisateurs

    return {
        login
        for (login,) in conn.execute(
            select(hab_utilisateurs.c.login).distinct().where(in_perimeter_account(hab_utilisateurs.c.login, perimeter))
        )
    }


def files_per_state(conn: Connection, *, perimeter: Perimeter) -> dict[str, int]:
    """How many received files of the perimeter are in each state."""
    return {
        state: n
        for state, n in conn.execute(
            select(files.c.state, func.count())
            .where(in_perimeter_account(files.c.account, perimeter))
            .group_by(files.c.state)
            .order_by(files.c.state)
        ).all()
    }


def _brief(r) -> dict:  # noqa: ANN001 - a result mapping
    return {
        "id": r["id"],
        "fichier": r["name"],
        "compte": r["account"],
        "etat": r["state"],
        "depuis": as_utc(r["state_changed_at"]),
        "erreur": r["error"],
    }


def unfinished_since(conn: Connection, before: datetime, *, perimeter: Perimeter) -> list[dict]:
    """Unfinished files whose last step is older than `before`, by id (id, fichier, compte, etat, depuis, erreur)."""
    rows = conn.execute(
        select(files)
        .where(
            and_(
                files.c.state.in_(UNFINISHED_STATES),
                files.c.state_changed_at < before,
                in_perimeter_account(files.c.account, perimeter),
            )
        )
        .order_by(files.c.id)
    ).mappings()
    return [_brief(r) for r in rows]


def quarantined_files(conn: Connection, *, perimeter: Perimeter) -> list[dict]:
    """Files set aside in QUARANTAINE, by id (id, fichier, compte, etat, depuis, erreur)."""
    rows = conn.execute(
        select(files)
        .where(files.c.state == QUARANTAINE, in_perimeter_account(files.c.account, perimeter))
        .order_by(files.c.id)
    ).mappings()
    return [_brief(r) for r in rows]


# -- rejections and campaign ----------------------------------------------------------------------


def rejections_by_code(conn: Connection, since: datetime, *, perimeter: Perimeter) -> dict[str, int]:
    """REJETE files of the perimeter processed since `since`, counted by file-level code, else by their blocking
    record codes."""
    rejected = conn.execute(
        select(files.c.id, files.c.code).where(
            and_(
                files.c.statut == REJETE,
                files.c.processed_at >= since,
                in_perimeter_account(files.c.account, perimeter),
            )
        )
    ).all()
    counts: Counter = Counter(code for _fid, code in rejected if code)
    without_code = [fid for fid, code in rejected if not code]
    for start in range(0, len(without_code), 5000):  # bounded IN lists
        chunk = without_code[start : start + 5000]
        pairs = conn.execute(
            select(anomalies.c.file_id, anomalies.c.code)
            .distinct()
            .where(and_(anomalies.c.file_id.in_(chunk), anomalies.c.gravite == "BLOQUANTE"))
        ).all()
        counts.update(code for _fid, code in pairs)
    return dict(sorted(counts.items()))


def accepted_rg_per_caf(conn: Connection, year: int, *, perimeter: Perimeter) -> dict[str, int]:
    """Accepted RG records in force for `year` from the perimeter's Esats, per Caf (code_caf of the record)."""
    in_force = records.c.superseded == False  # noqa: E712 - NOT NULL; `= false` uses PostgreSQL's index
    if not perimeter.national:  # a few Esats: SQLite must seek them in ix_records_campaign (kind, year, siret), not
        # walk the whole year in ix_records_rg_caf reading each row's SIRET (0.8 s on 10× the nation), so the
        # superseded test is kept out of its reach
        in_force = func.coalesce(records.c.superseded, False) == False  # noqa: E712
    rows = conn.execute(
        select(records.c.code_caf, func.count())
        .where(
            and_(
                records.c.kind == "RG",
                records.c.annee_reference == year,
                in_force,
                in_perimeter(records.c.siret_esat, perimeter),
            )
        )
        .group_by(records.c.code_caf)
        .order_by(records.c.code_caf)
    ).all()
    return {caf: n for caf, n in rows}


def campaign_data_version(conn: Connection) -> tuple | None:
    """What the campaign's reads (records in force, habilitations, files) depend on, as a small value that moves
    whenever they may have changed: the latest run that may have written (every run but a cycle that ended OK or
    IGNORE without receiving a file) and the latest Habpps import; None while a run is in progress."""
    if conn.execute(select(runs.c.id).where(runs.c.status == EN_COURS).limit(1)).first() is not None:
        return None
    quiet = and_(runs.c.job.in_(CYCLE_JOBS), runs.c.status.in_((OK, IGNORE)), runs.c.files_seen == 0)
    written = conn.execute(select(func.max(runs.c.id)).where(~quiet)).scalar()
    imported = conn.execute(select(func.max(hab_imports.c.id))).scalar()
    return (written, imported)


def habilitations_in_force(conn: Connection) -> dict | None:
    """The latest Habpps import (the one in force): when, by whom, from what, row counts."""
    row = conn.execute(select(hab_imports).order_by(hab_imports.c.id.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    return {
        "id": row["id"],
        "importe_le": as_utc(row["imported_at"]),
        "par": row["imported_by"],
        "source": row["source"],
        "sha256": row["sha256"],
        "lignes": json.loads(row["counts"]),
    }


# -- audit and schedule -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """What the journal is narrowed to; every field optional. Dates are Paris calendar days."""

    operateur: str | None = None
    siret: str | None = None
    du: date | None = None
    au: date | None = None


def _audit_conditions(f: AuditFilters, perimeter: Perimeter) -> list:
    """A national operator reads every line; another only the lines about an Esat of its perimeter."""
    where = [] if perimeter.national else [in_perimeter(audit_log.c.siret, perimeter)]
    if f.operateur:
        where.append(audit_log.c.login == f.operateur)
    if f.siret:
        where.append(audit_log.c.siret == f.siret)
    where += within_days(audit_log.c.at, f.du, f.au)
    return where


def audit_entries(
    conn: Connection, filters: AuditFilters = AuditFilters(), limit: int = 100, offset: int = 0, *, perimeter: Perimeter
) -> list[dict]:
    """The journal, newest first."""
    q = (
        select(audit_log)
        .where(*_audit_conditions(filters, perimeter))
        .order_by(audit_log.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        {
            "id": r["id"],
            "date": as_utc(r["at"]),
            "operateur": r["login"],
            "action": r["action"],
            "objet": r["target"],
            "resultat": r["outcome"],
            "detail": r["detail"],
            "adresse": r["address"],
            "siret": r["siret"],
            "fichier": r["file_id"],
        }
        for r in conn.execute(q).mappings()
    ]


def count_audit(conn: Connection, filters: AuditFilters = AuditFilters(), *, perimeter: Perimeter) -> int:
    return conn.execute(
        select(func.count()).select_from(audit_log).where(*_audit_conditions(filters, perimeter))
    ).scalar_one()


def next_scheduled_runs(conn: Connection) -> list[dict]:
    """The scheduler's jobs and their next run time, soonest first (empty when no scheduler ever started)."""
    if not inspect(conn).has_table(JOBSTORE_TABLE):
        return []
    jobs = table(JOBSTORE_TABLE, column("id"), column("next_run_time"))
    rows = conn.execute(select(jobs.c.id, jobs.c.next_run_time).order_by(jobs.c.next_run_time)).all()
    return [
        {"tache": job_id, "prochaine": datetime.fromtimestamp(ts, UTC) if ts is not None else None}
        for job_id, ts in rows
    ]
