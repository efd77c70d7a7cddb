"""Received files as the CLI, the console and its CSV exports read them: one FileQuery, the perimeter applied once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select, true
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import Join, Select
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import CNA_CODE_CAF, QUARANTAINE, REJETE, UNFINISHED_STATES
from exchange.store.perimeter import MULTI, in_perimeter_account
from exchange.store.reads.days import within_days
from exchange.store.tables import anomalies, anomaly_tallies, files, hab_partenaires, hab_utilisateurs
from schemas.masking import mask_nir

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


def _conditions(q: FileQuery, perimeter: Perimeter) -> list[Any]:
    """The SQL conditions of a files list: the perimeter (the one place it is applied), then each filter given."""
    where = [in_perimeter_account(files.c.account, perimeter)]
    if q.statut:
        where.append(files.c.statut == q.statut)
    if q.etat:
        where.append(files.c.state == q.etat)
    if q.compte:
        where.append(files.c.account == q.compte)
    if q.siret:
        where.append(files.c.siret == q.siret)
    if q.run_id is not None:
        where.append(files.c.run_id == q.run_id)
    where += within_days(files.c.received_at, q.du, q.au)
    if q.nom:
        where.append(func.lower(files.c.name).contains(q.nom.lower(), autoescape=True))
    if q.esat:
        where.append(func.lower(hab_partenaires.c.raison_sociale).contains(q.esat.lower(), autoescape=True))
    if q.caf:
        where.append(literal(q.caf) == CAF)
    if q.code:
        where.append(files.c.code.startswith(q.code.upper(), autoescape=True))
    return where


def joined() -> Join:  # a FROM clause
    """Received files with their Esat in the extract in force (hab_partenaires.siret is its key: one row at most)."""
    return files.outerjoin(hab_partenaires, hab_partenaires.c.siret == files.c.siret)


def _select(q: FileQuery, perimeter: Perimeter) -> Select[Any]:
    key = FILE_SORTS.get(q.tri, files.c.id)
    order = key.asc() if q.ordre == "asc" else key.desc()
    tie = files.c.id.asc() if q.ordre == "asc" else files.c.id.desc()
    return (
        select(files, hab_partenaires.c.raison_sociale.label("esat"), CAF.label("caf"))
        .select_from(joined())
        .where(*_conditions(q, perimeter))
        .order_by(order.nulls_last(), tie)
    )


def file_view(row: dict[str, Any]) -> dict[str, Any]:
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


def _view(row: RowMapping) -> dict[str, Any]:
    return {**file_view(dict(row)), "esat": row["esat"], "caf": row["caf"]}


def list_files(
    conn: Connection, q: FileQuery, *, perimeter: Perimeter, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Received files matching `q` in its order (file_view keys, plus `esat` and `caf` from the extract in force);
    one page of `limit` rows, every one when `limit` is None or 0."""
    s = _select(q, perimeter)
    if limit:
        s = s.limit(limit).offset(offset)
    return [_view(r) for r in conn.execute(s).mappings()]


def count_files(conn: Connection, q: FileQuery, *, perimeter: Perimeter) -> int:
    return conn.execute(select(func.count()).select_from(joined()).where(*_conditions(q, perimeter))).scalar_one()


def every_file(conn: Connection, q: FileQuery, *, perimeter: Perimeter) -> Iterator[dict[str, Any]]:
    """Every received file matching `q`, in its order (the CSV export), read in batches."""
    result = conn.execution_options(yield_per=2000).execute(_select(q, perimeter)).mappings()
    for row in result:
        yield _view(row)


def get_file(conn: Connection, file_id: int, *, perimeter: Perimeter) -> dict[str, Any] | None:
    """The received file's row (as exchange.store.ledger.get_file), None when unknown or outside the perimeter."""
    row = (
        conn.execute(select(files).where(files.c.id == file_id, in_perimeter_account(files.c.account, perimeter)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _file_in(perimeter: Perimeter) -> ColumnElement[bool]:  # a condition on anomalies.file_id
    """anomalies.file_id belongs to a file of the perimeter (no condition for a national one)."""
    if perimeter.national:
        return true()
    return anomalies.c.file_id.in_(select(files.c.id).where(in_perimeter_account(files.c.account, perimeter)))


def file_anomalies(
    conn: Connection, file_id: int, limit: int | None = None, offset: int = 0, *, perimeter: Perimeter
) -> list[dict[str, Any]]:
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
    """A file's anomalies per code: its rows, and the counts its record-level anomalies became at the purge."""
    rows = conn.execute(
        select(anomalies.c.code, func.count())
        .where(anomalies.c.file_id == file_id, _file_in(perimeter))
        .group_by(anomalies.c.code)
        .order_by(anomalies.c.code)
    ).all()
    counted = conn.execute(
        select(anomaly_tallies.c.code, func.sum(anomaly_tallies.c.n))
        .where(
            anomaly_tallies.c.file_id == file_id,
            anomaly_tallies.c.file_id.in_(select(files.c.id).where(in_perimeter_account(files.c.account, perimeter))),
        )
        .group_by(anomaly_tallies.c.code)
    ).all()
    out: Counter[str] = Counter(dict(rows))
    for code, n in counted:
        out[code] += int(n)
    return dict(sorted(out.items()))


def other_receptions(
    conn: Connection, account: str, name: str, file_id: int, *, perimeter: Perimeter
) -> list[dict[str, Any]]:
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


def accounts_in(conn: Connection, *, perimeter: Perimeter) -> set[str]:
    """The drop-area accounts (Habpps logins) of the perimeter's partners."""
    return {
        login
        for (login,) in conn.execute(
            select(hab_utilisateurs.c.login).distinct().where(in_perimeter_account(hab_utilisateurs.c.login, perimeter))
        )
    }


def files_per_state(conn: Connection, *, perimeter: Perimeter) -> dict[str, int]:
    """How many received files of the perimeter are in each state."""
    return dict(
        conn.execute(
            select(files.c.state, func.count())
            .where(in_perimeter_account(files.c.account, perimeter))
            .group_by(files.c.state)
            .order_by(files.c.state)
        ).all()
    )


def _brief(r: RowMapping) -> dict[str, Any]:
    return {
        "id": r["id"],
        "fichier": r["name"],
        "compte": r["account"],
        "etat": r["state"],
        "depuis": as_utc(r["state_changed_at"]),
        "erreur": r["error"],
    }


def unfinished_since(conn: Connection, before: datetime, *, perimeter: Perimeter) -> list[dict[str, Any]]:
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


def quarantined_files(conn: Connection, *, perimeter: Perimeter) -> list[dict[str, Any]]:
    """Files set aside in QUARANTAINE, by id (id, fichier, compte, etat, depuis, erreur)."""
    rows = conn.execute(
        select(files)
        .where(files.c.state == QUARANTAINE, in_perimeter_account(files.c.account, perimeter))
        .order_by(files.c.id)
    ).mappings()
    return [_brief(r) for r in rows]


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
    counts: Counter[str] = Counter(code for _fid, code in rejected if code)
    without_code = [fid for fid, code in rejected if not code]
    for start in range(0, len(without_code), 5000):  # bounded IN lists
        chunk = without_code[start : start + 5000]
        pairs = conn.execute(
            select(anomalies.c.file_id, anomalies.c.code)
            .distinct()
            .where(and_(anomalies.c.file_id.in_(chunk), anomalies.c.gravite == "BLOQUANTE"))
        ).all()
        counted = conn.execute(  # record-level anomalies the purge turned into counts
            select(anomaly_tallies.c.file_id, anomaly_tallies.c.code)
            .distinct()
            .where(and_(anomaly_tallies.c.file_id.in_(chunk), anomaly_tallies.c.gravite == "BLOQUANTE"))
        ).all()
        counts.update(code for _fid, code in {tuple(r) for r in pairs} | {tuple(r) for r in counted})
    return dict(sorted(counts.items()))
