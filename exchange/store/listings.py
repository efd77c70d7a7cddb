"""Paginated, sorted, filtered lists the console and its CSV exports share: received files with their Esat and Caf."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import CNA_CODE_CAF
from exchange.store.perimeter import MULTI, in_perimeter_account
from exchange.store.queries import (
    FileFilters,
    RunFilters,
    file_conditions,
    file_view,
    run_conditions,
    run_view,
    within_days,
)
from exchange.store.tables import audit_log, files, hab_partenaires, runs

TRIAGE = case(
    (files.c.statut == "REJETE", 0),
    (files.c.statut == "PARTIEL", 1),
    (files.c.statut.is_(None), 2),
    (files.c.statut == "DOUBLON", 3),
    else_=4,
)  # what needs a look first
CAF = case((hab_partenaires.c.portee == MULTI, CNA_CODE_CAF), else_=hab_partenaires.c.code_caf)  # the managing Caf
FILE_SORTS = {
    "id": files.c.id,
    "fichier": files.c.name,
    "recu": files.c.received_at,
    "esat": hab_partenaires.c.raison_sociale,
    "caf": CAF,
    "statut": files.c.statut,
    "code": files.c.code,
    "etat": files.c.state,
    "rejetes": files.c.records_rejected,
    "triage": TRIAGE,
}
ORDERS = ("asc", "desc")


@dataclass(frozen=True)
class FileQuery:
    """What a files list is narrowed to and sorted by; every filter optional. `nom` and `esat` are parts of the
    file name and of the Esat's name (any case); `code` a code or its beginning (« H »: every habilitation code);
    dates are Paris calendar days of reception."""

    nom: str | None = None
    esat: str | None = None
    caf: str | None = None
    code: str | None = None
    statut: str | None = None
    etat: str | None = None
    compte: str | None = None
    siret: str | None = None
    run_id: int | None = None
    du: date | None = None
    au: date | None = None
    tri: str = "id"
    ordre: str = "desc"


def _conditions(q: FileQuery, perimeter: Perimeter) -> list:
    """queries.file_conditions (perimeter, statut, état, account, SIRET, run, dates), then the console's own
    filters: file name and Esat name contain, managing Caf, code prefix."""
    where = file_conditions(
        FileFilters(statut=q.statut, etat=q.etat, compte=q.compte, siret=q.siret, run_id=q.run_id, du=q.du, au=q.au),
        perimeter,
    )
    if q.nom:
        where.append(func.lower(files.c.name).contains(q.nom.lower(), autoescape=True))
    if q.esat:
        where.append(func.lower(hab_partenaires.c.raison_sociale).contains(q.esat.lower(), autoescape=True))
    if q.caf:
        where.append(q.caf == CAF)
    if q.code:
        where.append(files.c.code.startswith(q.code.upper(), autoescape=True))
    return where


def _joined():  # noqa: ANN202 - a FROM clause
    return files.outerjoin(hab_partenaires, hab_partenaires.c.siret == files.c.siret)


def _select(q: FileQuery, perimeter: Perimeter):  # noqa: ANN202 - a Select
    key = FILE_SORTS.get(q.tri, files.c.id)
    order = key.asc() if q.ordre == "asc" else key.desc()
    tie = files.c.id.asc() if q.ordre == "asc" else files.c.id.desc()
    return (
        select(files, hab_partenaires.c.raison_sociale.label("esat"), CAF.label("caf"))
        .select_from(_joined())
        .where(*_conditions(q, perimeter))
        .order_by(order.nulls_last(), tie)
    )


def _view(row) -> dict:  # noqa: ANN001 - a result mapping
    return {**file_view(dict(row)), "esat": row["esat"], "caf": row["caf"]}


def list_files(conn: Connection, q: FileQuery, *, perimeter: Perimeter, limit: int, offset: int = 0) -> list[dict]:
    """One page of received files matching `q` (file_view keys, plus `esat` and `caf` from the extract in force)."""
    return [_view(r) for r in conn.execute(_select(q, perimeter).limit(limit).offset(offset)).mappings()]


def count_files(conn: Connection, q: FileQuery, *, perimeter: Perimeter) -> int:
    return conn.execute(select(func.count()).select_from(_joined()).where(*_conditions(q, perimeter))).scalar_one()


def every_file(conn: Connection, q: FileQuery, *, perimeter: Perimeter) -> Iterator[dict]:
    """Every received file matching `q`, in its order (the CSV export), read in batches."""
    result = conn.execution_options(yield_per=2000).execute(_select(q, perimeter)).mappings()
    for row in result:
        yield _view(row)


def run_summary(conn: Connection, run_id: int, *, perimeter: Perimeter) -> dict:
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
        select(CAF, files.c.statut, func.count()).select_from(_joined()).where(*where).group_by(CAF, files.c.statut)
    ).all():
        by_caf.setdefault(caf or "", {})[statut or ""] = n
    return {
        "par_statut_code": sorted(
            ({"statut": st or "", "code": code or "", "fichiers": n} for st, code, n in by_code),
            key=lambda r: (-r["fichiers"], r["statut"], r["code"]),
        ),
        "par_caf": dict(sorted(by_caf.items())),
    }


RUN_SORTS = {
    "id": runs.c.id,
    "tache": runs.c.job,
    "statut": runs.c.status,
    "debut": runs.c.started_at,
    "fichiers": runs.c.files_seen,
    "rejetes": runs.c.files_rejected,
}


def _run_select(filters: RunFilters, tri: str, ordre: str):  # noqa: ANN202 - a Select
    key = RUN_SORTS.get(tri, runs.c.id)
    tie = runs.c.id.asc() if ordre == "asc" else runs.c.id.desc()
    return (
        select(runs)
        .where(*run_conditions(filters))
        .order_by((key.asc() if ordre == "asc" else key.desc()).nulls_last(), tie)
    )


def list_runs(
    conn: Connection, filters: RunFilters, tri: str = "id", ordre: str = "desc", *, limit: int | None, offset: int = 0
) -> list[dict]:
    """Job runs matching `filters` in the asked order (run_view keys); every one when `limit` is None."""
    q = _run_select(filters, tri, ordre)
    if limit is not None:
        q = q.limit(limit).offset(offset)
    return [run_view(dict(r)) for r in conn.execute(q).mappings()]


@dataclass(frozen=True)
class AuditQuery:
    """What the journal is narrowed to: operator, action, outcome (exact), a part of the object, Paris days."""

    operateur: str | None = None
    action: str | None = None
    resultat: str | None = None
    objet: str | None = None
    du: date | None = None
    au: date | None = None


def _audit_conditions(q: AuditQuery) -> list:
    where = []
    if q.operateur:
        where.append(audit_log.c.login == q.operateur)
    if q.action:
        where.append(audit_log.c.action == q.action)
    if q.resultat:
        where.append(audit_log.c.outcome == q.resultat)
    if q.objet:
        where.append(func.lower(audit_log.c.target).contains(q.objet.lower(), autoescape=True))
    where += within_days(audit_log.c.at, q.du, q.au)
    return where


def list_audit(conn: Connection, q: AuditQuery, *, limit: int | None, offset: int = 0) -> list[dict]:
    """Journal lines matching `q`, newest first (every one when `limit` is None)."""
    s = select(audit_log).where(*_audit_conditions(q)).order_by(audit_log.c.id.desc())
    if limit is not None:
        s = s.limit(limit).offset(offset)
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
        }
        for r in conn.execute(s).mappings()
    ]


def count_audit(conn: Connection, q: AuditQuery) -> int:
    return conn.execute(select(func.count()).select_from(audit_log).where(*_audit_conditions(q))).scalar_one()


def audit_actions(conn: Connection) -> list[str]:
    """The actions the journal holds (its filter's choices)."""
    return [a for (a,) in conn.execute(select(audit_log.c.action).distinct().order_by(audit_log.c.action))]


__all__ = [
    "list_runs",
    "RUN_SORTS",
    "AuditQuery",
    "list_audit",
    "count_audit",
    "audit_actions",
    "run_summary",
    "FileQuery",
    "FILE_SORTS",
    "ORDERS",
    "list_files",
    "count_files",
    "every_file",
]
