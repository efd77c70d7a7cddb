"""Caf emissions (`emissions`): EN_COURS (records assigned, files not yet all written) → TERMINE; and their reads.

Every record is emitted once: assigning pending records to a new emission is committed before any byte is
written, and TERMINE is set only once the emission's files are durable (exchange.app.emission).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import and_, case, exists, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.caf_output import delta_prefix, emission_names
from exchange.core.vocabulary import EMISSION_EN_COURS, TERMINE
from exchange.store.bulk import read_frame
from exchange.store.ledger import utcnow
from exchange.store.moves import guarded_move
from exchange.store.tables import emissions, records

DELTA_FLUXES = ("RG", "CA")
CAMPAIGN_FLUX = "RG-CAMPAGNE"


def _free_name(conn: Connection, prefix: str, when: datetime) -> str:
    """The first free name of emission_names: two emissions never share a name."""
    for name in emission_names(prefix, when):
        if conn.execute(select(emissions.c.id).where(emissions.c.name == name)).first() is None:
            return name
    raise AssertionError("unreachable")  # emission_names never ends


def _new_emission(
    conn: Connection, flux: str, code_caf: str, name: str, run_id: int | None, now: datetime, annee: int | None = None
) -> int:
    """A new emission, EN_COURS; its id."""
    values = {"annee": annee} if annee is not None else {}
    return int(
        conn.execute(
            insert(emissions).values(
                flux=flux,
                code_caf=code_caf,
                name=name,
                state=EMISSION_EN_COURS,
                run_id=run_id,
                created_at=now,
                **values,
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # an INSERT of one row has its key
    )


def unfinished_deltas(conn: Connection) -> list[dict[str, Any]]:
    """Delta emissions left EN_COURS by a crash, oldest first, each with `pending`: the records assigned to it."""
    unfinished = [
        dict(r)
        for r in conn.execute(
            select(emissions)
            .where(and_(emissions.c.state == EMISSION_EN_COURS, emissions.c.flux.in_(DELTA_FLUXES)))
            .order_by(emissions.c.id)
        ).mappings()
    ]
    assigned: dict[int, int] = (
        dict(
            conn.execute(
                select(records.c.emission_id, func.count())
                .where(records.c.emission_id.in_([e["id"] for e in unfinished]))
                .group_by(records.c.emission_id)
            ).all()
        )
        if unfinished
        else {}
    )
    for e in unfinished:
        e["pending"] = int(assigned.get(e["id"], 0))
    return unfinished


def open_deltas(conn: Connection, run_id: int | None) -> list[dict[str, Any]]:
    """One new EN_COURS emission per (flux, Caf) with accepted records not yet emitted, those records assigned
    to it; an RG record whose (Esat, worker, year) was emitted before goes out RECTIFICATIVE, else INITIALE
    (formats.md §5). Returns the emissions planned (id, flux, code_caf, name, pending)."""
    groups = conn.execute(
        select(records.c.kind, records.c.code_caf, func.count())
        .where(and_(records.c.emission_id.is_(None), records.c.superseded.is_(False)))
        .group_by(records.c.kind, records.c.code_caf)
        .order_by(records.c.code_caf, records.c.kind)
    ).all()
    planned = []
    now = utcnow()
    for kind, code_caf, pending_rows in groups:
        name = _free_name(conn, delta_prefix(kind, code_caf), now)
        eid = _new_emission(conn, kind, code_caf, name, run_id, now)
        pending = and_(
            records.c.emission_id.is_(None),
            records.c.superseded.is_(False),
            records.c.kind == kind,
            records.c.code_caf == code_caf,
        )
        if kind == "RG":
            earlier = records.alias("earlier")
            emitted_before = exists().where(
                and_(
                    earlier.c.siret_esat == records.c.siret_esat,
                    earlier.c.nir == records.c.nir,
                    earlier.c.annee_reference == records.c.annee_reference,
                    earlier.c.emission_id.is_not(None),
                    earlier.c.id != records.c.id,
                )
            )
            conn.execute(
                update(records).where(and_(pending, emitted_before)).values(nature="RECTIFICATIVE", emission_id=eid)
            )
            conn.execute(update(records).where(pending).values(nature="INITIALE", emission_id=eid))
        else:
            conn.execute(update(records).where(pending).values(emission_id=eid))
        planned.append({"id": eid, "flux": kind, "code_caf": code_caf, "name": name, "pending": pending_rows})
    return planned


def assigned_records(conn: Connection, emission_ids: list[int]) -> pl.DataFrame:
    """The records assigned to these emissions (every `records` column), by emission, file and line."""
    return read_frame(
        conn,
        select(records)
        .where(records.c.emission_id.in_(emission_ids))
        .order_by(records.c.emission_id, records.c.file_id, records.c.ligne),
    )


def terminate(conn: Connection, heights: dict[int, int]) -> None:
    """EN_COURS → TERMINE with their row counts, for emissions whose files are durable, in one transaction;
    LedgerConflict (nothing changed) unless every one moved."""
    now = utcnow()
    for emission_id, height in heights.items():
        guarded_move(
            conn,
            emissions,
            [emission_id],
            (EMISSION_EN_COURS,),
            TERMINE,
            what="emission",
            rows=height,
            completed_at=now,
        )


# -- the campaign snapshot ----------------------------------------------------------------------------


def _in_force(year: int) -> ColumnElement[bool]:  # a SQL condition
    """Accepted RG records of `year` in force (the latest of each worker)."""
    return and_(records.c.kind == "RG", records.c.annee_reference == year, records.c.superseded.is_(False))


def campaign_cafs(conn: Connection, year: int) -> list[str]:
    """The Cafs with at least one accepted RG record of `year` in force."""
    return [
        c
        for (c,) in conn.execute(
            select(records.c.code_caf).where(_in_force(year)).distinct().order_by(records.c.code_caf)
        )
    ]


def open_campaign(conn: Connection, year: int, names: dict[str, str], run_id: int | None) -> dict[str, int]:
    """The campaign emission of each Caf (code_caf → name), EN_COURS: created, or the one of that name already
    there (the same day's snapshot written again after a crash); code_caf → emission id."""
    ids = {}
    for code_caf, name in names.items():
        existing = conn.execute(select(emissions.c.id, emissions.c.state).where(emissions.c.name == name)).first()
        if existing is not None and existing.state == TERMINE:
            guarded_move(conn, emissions, [existing.id], (TERMINE,), EMISSION_EN_COURS, what="emission", run_id=run_id)
        ids[code_caf] = (
            existing.id
            if existing is not None
            else _new_emission(conn, CAMPAIGN_FLUX, code_caf, name, run_id, utcnow(), annee=year)
        )
    return ids


def campaign_records(conn: Connection, year: int, code_caf: str) -> pl.DataFrame:
    """One Caf's campaign snapshot of `year`: for each worker the latest accepted RG record, by Esat and NIR; in
    it a record that replaced an earlier one says RECTIFICATIVE."""
    nature = case((records.c.replaces_id.is_not(None), "RECTIFICATIVE"), else_="INITIALE").label("nature")
    columns = [c for c in records.c if c.name != "nature"] + [nature]
    return read_frame(
        conn,
        select(*columns)
        .where(and_(_in_force(year), records.c.code_caf == code_caf))
        .order_by(records.c.siret_esat, records.c.nir),
    )
