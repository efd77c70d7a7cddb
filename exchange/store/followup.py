"""Reads of what is still waiting for someone: files rejected for a habilitation code, each Esat's latest RG."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import ACCEPTED_STATUTS, ACQUITTE, REJETE
from exchange.store.perimeter import in_perimeter_account
from exchange.store.tables import files

CHUNK = 5000  # bounded IN lists


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


def pending_habilitation_rejections(conn: Connection, *, perimeter: Perimeter) -> list[dict[str, Any]]:
    """Files rejected whole for an `H` code with no later accepted (or partial) file of the same SIRET and type:
    the Caf's action items (id, siret, type, code, traite_le), by id."""
    rejected = conn.execute(
        select(files.c.id, files.c.siret, files.c.kind, files.c.code, files.c.processed_at)
        .where(
            files.c.state == ACQUITTE,
            files.c.statut == REJETE,
            files.c.code.like("H%"),
            in_perimeter_account(files.c.account, perimeter),
        )
        .order_by(files.c.id)
    ).all()
    if not rejected:
        return []
    sirets = sorted({r.siret for r in rejected if r.siret})
    later: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sirets):
        for siret, kind, last in conn.execute(
            select(files.c.siret, files.c.kind, func.max(files.c.id))
            .where(files.c.siret.in_(chunk), files.c.statut.in_(ACCEPTED_STATUTS))
            .group_by(files.c.siret, files.c.kind)
        ):
            later[(siret, kind)] = last
    return [
        {"id": r.id, "siret": r.siret, "type": r.kind, "code": r.code, "traite_le": as_utc(r.processed_at)}
        for r in rejected
        if later.get((r.siret, r.kind), 0) < r.id
    ]


def habilitation_rejections_by_code(conn: Connection, *, perimeter: Perimeter) -> dict[str, int]:
    """How many files await a corrected extract (pending_habilitation_rejections), by code."""
    return dict(sorted(Counter(r["code"] for r in pending_habilitation_rejections(conn, perimeter=perimeter)).items()))


def latest_rg_files(
    conn: Connection, sirets: list[str], first: date, last: date, *, perimeter: Perimeter
) -> dict[str, dict[str, Any]]:
    """Each SIRET's latest RG file whose name is dated from `first` to `last` (ESAT_<SIRET>_RG_<AAAAMMJJ>_…: the
    campaign it belongs to, whenever it was received), with its id, etat, statut and code."""
    dated = func.substr(files.c.name, 24, 8)  # the AAAAMMJJ after "ESAT_" + 14 digits + "_RG_"
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(sirets))):
        latest = (
            select(func.max(files.c.id))
            .where(
                files.c.kind == "RG",
                files.c.siret.in_(chunk),
                dated >= first.strftime("%Y%m%d"),
                dated <= last.strftime("%Y%m%d"),
                in_perimeter_account(files.c.account, perimeter),
            )
            .group_by(files.c.siret)
        )
        for r in conn.execute(
            select(files.c.id, files.c.siret, files.c.state, files.c.statut, files.c.code).where(files.c.id.in_(latest))
        ).mappings():
            found[r["siret"]] = {"id": r["id"], "etat": r["state"], "statut": r["statut"], "code": r["code"]}
    return found


__all__ = ["pending_habilitation_rejections", "habilitation_rejections_by_code", "latest_rg_files"]
