"""The journal (audit log) as the CLI, the console and its CSV export read it: one AuditQuery, the perimeter once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.store.perimeter import in_perimeter
from exchange.store.reads.days import within_days
from exchange.store.tables import audit_log


@dataclass(frozen=True)
class AuditQuery:
    """What the journal is narrowed to; every field optional: operator, Esat, action and outcome (exact), a part of
    the object (any case), Paris calendar days."""

    operateur: str | None = None
    siret: str | None = None
    action: str | None = None
    resultat: str | None = None
    objet: str | None = None
    du: date | None = None
    au: date | None = None


def _conditions(q: AuditQuery, perimeter: Perimeter) -> list[Any]:
    """A national operator reads every line; another only the lines about an Esat of its perimeter."""
    where = [] if perimeter.national else [in_perimeter(audit_log.c.siret, perimeter)]
    if q.operateur:
        where.append(audit_log.c.login == q.operateur)
    if q.siret:
        where.append(audit_log.c.siret == q.siret)
    if q.action:
        where.append(audit_log.c.action == q.action)
    if q.resultat:
        where.append(audit_log.c.outcome == q.resultat)
    if q.objet:
        where.append(func.lower(audit_log.c.target).contains(q.objet.lower(), autoescape=True))
    where += within_days(audit_log.c.at, q.du, q.au)
    return where


def list_audit(
    conn: Connection, q: AuditQuery = AuditQuery(), *, perimeter: Perimeter, limit: int | None = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Journal lines matching `q`, newest first (every one when `limit` is None or 0)."""
    s = select(audit_log).where(*_conditions(q, perimeter)).order_by(audit_log.c.id.desc())
    if limit:
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
            "siret": r["siret"],
            "fichier": r["file_id"],
        }
        for r in conn.execute(s).mappings()
    ]


def count_audit(conn: Connection, q: AuditQuery = AuditQuery(), *, perimeter: Perimeter) -> int:
    return conn.execute(select(func.count()).select_from(audit_log).where(*_conditions(q, perimeter))).scalar_one()


def audit_actions(conn: Connection) -> list[str]:
    """The actions the journal holds (its filter's choices)."""
    return [a for (a,) in conn.execute(select(audit_log.c.action).distinct().order_by(audit_log.c.action))]
