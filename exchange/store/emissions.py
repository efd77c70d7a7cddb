"""Caf emissions (`emissions`): OUVERTE (records put in it as they are stored) → EN_COURS (named, records fixed,
files not yet all written) → TERMINE; and their reads.

Every record is emitted once: a record in force goes into the OUVERTE emission of its flux and Caf in the
transaction that stores it (a record replaced while it is there leaves it); the run's emission step names each
OUVERTE emission and moves it to EN_COURS, committed before any byte is written, and TERMINE is set only once
its files are durable (exchange.app.emission). Storing the emission with the record spares the emission step an
UPDATE of every record (on PostgreSQL, a new version of each row and of its every index entry).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import and_, case, exists, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.caf_output import delta_prefix, emission_names, open_name
from exchange.core.vocabulary import EMISSION_EN_COURS, EMISSION_OUVERTE, TERMINE, EmissionState
from exchange.store.bulk import read_frame
from exchange.store.ledger import utcnow
from exchange.store.moves import guarded_move
from exchange.store.tables import emissions, records

DELTA_FLUXES = ("RG", "CA")
INITIALE, RECTIFICATIVE = "INITIALE", "RECTIFICATIVE"  # formats.md §5, `nature`
CAMPAIGN_FLUX = "RG-CAMPAGNE"


def _free_name(conn: Connection, prefix: str, when: datetime) -> str:
    """The first free name of emission_names: two emissions never share a name."""
    for name in emission_names(prefix, when):
        if conn.execute(select(emissions.c.id).where(emissions.c.name == name)).first() is None:
            return name
    raise AssertionError("unreachable")  # emission_names never ends


def _new_emission(
    conn: Connection,
    flux: str,
    code_caf: str,
    name: str,
    run_id: int | None,
    now: datetime,
    annee: int | None = None,
    state: EmissionState = EMISSION_EN_COURS,
) -> int:
    """A new emission (EN_COURS unless told); its id."""
    values = {"annee": annee} if annee is not None else {}
    return int(
        conn.execute(
            insert(emissions).values(
                flux=flux,
                code_caf=code_caf,
                name=name,
                state=state,
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


def _open_emissions(conn: Connection, flux: str, cafs: list[str]) -> dict[str, int]:
    """The OUVERTE emission of this flux for each of these Cafs, created where there is none; code_caf → id."""
    found = dict(
        conn.execute(
            select(emissions.c.code_caf, emissions.c.id).where(
                and_(emissions.c.state == EMISSION_OUVERTE, emissions.c.flux == flux, emissions.c.code_caf.in_(cafs))
            )
        ).all()
    )
    now = utcnow()
    for code_caf in sorted(set(cafs) - set(found)):
        found[code_caf] = _new_emission(
            conn, flux, code_caf, open_name(flux, code_caf), None, now, state=EMISSION_OUVERTE
        )
    return found


def _emitted_keys(conn: Connection, frame: pl.DataFrame) -> pl.DataFrame:
    """The (siret_esat, nir, annee_reference) of `frame`'s Esats and years that an emission already holds (one
    past OUVERTE: emitted, or being written)."""
    sirets = frame["siret_esat"].unique().to_list()
    years = frame["annee_reference"].drop_nulls().unique().to_list()
    found: list[Any] = []
    for i in range(0, len(sirets), 500):
        found += conn.execute(
            select(records.c.siret_esat, records.c.nir, records.c.annee_reference)
            .distinct()
            .join(emissions, emissions.c.id == records.c.emission_id)
            .where(
                and_(
                    records.c.kind == "RG",
                    records.c.siret_esat.in_(sirets[i : i + 500]),
                    records.c.annee_reference.in_(years),
                    emissions.c.state != EMISSION_OUVERTE,
                )
            )
        ).all()
    schema: dict[str, pl.DataType] = {
        "siret_esat": pl.String(),
        "nir": pl.String(),
        "annee_reference": frame.schema["annee_reference"],
    }
    return pl.DataFrame(found, schema=schema, orient="row")


def into_open(conn: Connection, frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Records about to be stored (`records` columns, `superseded` among them), each one in force put in the
    OUVERTE emission of its flux and Caf (created where missing) with its nature (formats.md §5): an RG record
    whose (Esat, worker, year) an emission already holds goes out RECTIFICATIVE, else INITIALE."""
    live = ~pl.col("superseded")
    cafs = frame.filter(live)["code_caf"].unique().sort().to_list()
    if not cafs:
        return frame.with_columns(pl.lit(None, pl.Int64).alias("emission_id"), pl.lit(None, pl.String).alias("nature"))
    ids = _open_emissions(conn, kind, cafs)
    emission = pl.col("code_caf").replace_strict(ids, default=None, return_dtype=pl.Int64)
    if kind != "RG":
        nature = pl.lit(None, pl.String)
    else:
        emitted = _emitted_keys(conn, frame).with_columns(pl.lit(True).alias("__emitted"))
        frame = frame.join(emitted, on=["siret_esat", "nir", "annee_reference"], how="left", maintain_order="left")
        nature = pl.when(pl.col("__emitted")).then(pl.lit(RECTIFICATIVE)).otherwise(pl.lit(INITIALE))
    return frame.with_columns(
        pl.when(live).then(emission).otherwise(None).alias("emission_id"),
        pl.when(live).then(nature).otherwise(None).alias("nature"),
    ).drop("__emitted", strict=False)


def supersede(conn: Connection, ids: list[int]) -> None:
    """These records are replaced by newer ones: superseded, and out of their emission while it is OUVERTE (a
    record replaced before it was emitted is never emitted)."""
    opened = select(emissions.c.id).where(emissions.c.state == EMISSION_OUVERTE)
    leaves = records.c.emission_id.in_(opened)
    conn.execute(
        update(records)
        .where(records.c.id.in_(ids))
        .values(
            superseded=True,
            emission_id=case((leaves, None), else_=records.c.emission_id),
            nature=case((leaves, None), else_=records.c.nature),
        )
    )


def _adopt_strays(conn: Connection) -> None:
    """Records in force outside any emission (stored before emissions were opened as records are stored, by
    revision 0015) put in the OUVERTE emission of their flux and Caf, their nature fixed as into_open does."""
    if conn.execute(_pending_unassigned(select(records.c.id)).limit(1)).first() is None:
        return
    groups = conn.execute(
        _pending_unassigned(select(records.c.kind, records.c.code_caf).distinct()).order_by(
            records.c.code_caf, records.c.kind
        )
    ).all()
    for kind in dict.fromkeys(k for k, _ in groups):
        _open_emissions(conn, kind, [c for k, c in groups if k == kind])
    earlier, holder = records.alias("earlier"), emissions.alias("holder")
    emitted_before = exists().where(
        and_(
            earlier.c.siret_esat == records.c.siret_esat,
            earlier.c.nir == records.c.nir,
            earlier.c.annee_reference == records.c.annee_reference,
            earlier.c.id != records.c.id,
            holder.c.id == earlier.c.emission_id,
            holder.c.state != EMISSION_OUVERTE,
        )
    )
    nature = case((records.c.kind != "RG", records.c.nature), (emitted_before, RECTIFICATIVE), else_=INITIALE)
    conn.execute(
        _pending_unassigned(update(records))
        .where(
            and_(
                emissions.c.state == EMISSION_OUVERTE,
                emissions.c.flux == records.c.kind,
                emissions.c.code_caf == records.c.code_caf,
            )
        )
        .values(emission_id=emissions.c.id, nature=nature)
    )


def _pending_unassigned(stmt: Any) -> Any:  # a Select or an Update of records
    return stmt.where(and_(records.c.emission_id.is_(None), records.c.superseded.is_(False)))


def open_deltas(conn: Connection, run_id: int | None) -> list[dict[str, Any]]:
    """Every OUVERTE delta emission that holds records named and moved to EN_COURS, its records thereby fixed
    (those still outside any emission are put in one first); the empty ones removed. Returns the emissions
    planned (id, flux, code_caf, name, pending), by Caf and flux."""
    _adopt_strays(conn)
    opened = conn.execute(
        select(emissions.c.id, emissions.c.flux, emissions.c.code_caf)
        .where(and_(emissions.c.state == EMISSION_OUVERTE, emissions.c.flux.in_(DELTA_FLUXES)))
        .order_by(emissions.c.code_caf, emissions.c.flux)
    ).all()
    ids = [e.id for e in opened]
    held: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        held.update(
            conn.execute(
                select(records.c.emission_id, func.count())
                .where(records.c.emission_id.in_(ids[i : i + 500]))
                .group_by(records.c.emission_id)
            ).all()
        )
    empty = [i for i in ids if not held.get(i)]
    if empty:
        conn.execute(emissions.delete().where(and_(emissions.c.id.in_(empty), emissions.c.state == EMISSION_OUVERTE)))
    planned = []
    now = utcnow()
    for e in opened:
        if e.id in held:
            name = _free_name(conn, delta_prefix(e.flux, e.code_caf), now)
            guarded_move(
                conn,
                emissions,
                [e.id],
                (EMISSION_OUVERTE,),
                EMISSION_EN_COURS,
                what="emission",
                name=name,
                run_id=run_id,
                created_at=now,
            )
            planned.append({"id": e.id, "flux": e.flux, "code_caf": e.code_caf, "name": name, "pending": held[e.id]})
    return planned


def _assigned(conn: Connection, emission_ids: list[int], *columns: Any) -> pl.DataFrame:
    """These columns of the records assigned to these emissions, by emission, file and line (the order of
    ix_records_pending)."""
    key = (records.c.emission_id, records.c.file_id, records.c.ligne)
    return read_frame(conn, select(*columns).where(records.c.emission_id.in_(emission_ids)).order_by(*key))


def assigned_records(conn: Connection, emission_ids: list[int]) -> pl.DataFrame:
    """The records assigned to these emissions (every `records` column), by emission, file and line."""
    return _assigned(conn, emission_ids, *records.c)


def assigned_keys(conn: Connection, emission_ids: list[int]) -> pl.DataFrame:
    """Which records these emissions hold, as (emission_id, file_id, ligne), in assigned_records' order."""
    return _assigned(conn, emission_ids, records.c.emission_id, records.c.file_id, records.c.ligne)


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
