"""Storing accepted records (`records`): what is in force read, exchange.core.history's plan (W05, W06) applied."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Select, and_, select
from sqlalchemy.engine import Connection

from exchange.core.history import (
    FILE,
    QUERY_SIRET,
    Accepted,
    RoundPlan,
    accepted_frame,
    plan_ca,
    plan_rg,
    rounds,
)
from exchange.core.vocabulary import CENT_COLUMNS
from exchange.store import emissions
from exchange.store.bulk import insert_frame
from exchange.store.tables import files, in_force_seeking_esats, records

STORING_CACHE_KIB = 32 * 1024  # SQLite page cache of a connection that stores records (about 4 % less CPU a run)

CHUNK = 5000


def _db_frame(accepted: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The `records` rows of accepted typed records (`replaces_id` included when the frame has it)."""
    cols = [c for c in accepted.columns if c in records.c and c not in ("id", "file_id", "kind", "superseded")]
    return accepted.with_columns(
        (pl.col(src) * 100).cast(pl.Int64).alias(dst) for src, dst in CENT_COLUMNS.items() if src in accepted.columns
    ).select(
        *cols,
        *[dst for src, dst in CENT_COLUMNS.items() if src in accepted.columns],
        pl.col(FILE).alias("file_id"),
        pl.lit(kind).alias("kind"),
        (pl.col("superseded") if "superseded" in accepted.columns else pl.lit(False)).alias("superseded"),
    )


def _chunks(values: list[Any], size: int = CHUNK) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _apply(conn: Connection, plan: RoundPlan, kind: str, inserted: list[pl.DataFrame] | None) -> pl.DataFrame:
    """A round's plan applied: the replaced records superseded, the new ones inserted, each in force in the open
    emission of its flux and Caf (those rows also appended to `inserted`, when given); its anomalies."""
    for part in _chunks(plan.supersede):
        emissions.supersede(conn, part)
    rows = emissions.into_open(conn, _db_frame(plan.insert, kind), kind)
    insert_frame(conn, records, rows)
    if inserted is not None:
        inserted.append(rows.filter(pl.col("emission_id").is_not_null()))
    return plan.anomalies


def esats_rg_in_force(sirets: list[str], years: list[Any]) -> Select[Any]:
    """The RG records in force of these Esats and years, with their file's reception (what W05 compares)."""
    return (
        select(
            records.c.id,
            records.c.nir,
            records.c.file_id,
            records.c.annee_reference,
            files.c.received_at,
            files.c.name,
            records.c.received_at,
            records.c.siret_esat,
        )
        .join(files, files.c.id == records.c.file_id)
        .where(
            and_(
                records.c.kind == "RG",
                records.c.siret_esat.in_(sirets),
                records.c.annee_reference.in_(years),
                in_force_seeking_esats(),  # quadratic otherwise: a whole year walked per batch on SQLite
            )
        )
    )


def _store_rg(conn: Connection, accepted: pl.DataFrame, inserted: list[pl.DataFrame] | None) -> pl.DataFrame:
    """An RG round: the RG records in force of its Esats and years read, the W05 plan applied; its anomalies."""
    sirets = accepted[QUERY_SIRET].unique().to_list()
    years = accepted["annee_reference"].unique().to_list()
    found: list[Any] = []
    for part in _chunks(sirets, 500):
        found += conn.execute(esats_rg_in_force(part, years)).all()
    return _apply(conn, plan_rg(accepted, found), "RG", inserted)


def _store_ca(conn: Connection, accepted: pl.DataFrame, inserted: list[pl.DataFrame] | None) -> pl.DataFrame:
    """A CA round: the CA events of its Esats read, the W06 plan applied (repeats not stored); its anomalies."""
    sirets = accepted[QUERY_SIRET].unique().to_list()
    found: list[Any] = []
    for part in _chunks(sirets, 500):
        found += conn.execute(
            select(
                records.c.nir,
                records.c.type_changement,
                records.c.date_effet,
                records.c.file_id,
                files.c.received_at,
                files.c.name,
                records.c.siret_esat,
            )
            .join(files, files.c.id == records.c.file_id)
            .where(and_(records.c.kind == "CA", records.c.siret_esat.in_(part)))
            .order_by(records.c.id)
        ).all()
    return _apply(conn, plan_ca(accepted, found), "CA", inserted)


def record_accepted(
    conn: Connection, items: list[Accepted], inserted: list[pl.DataFrame] | None = None
) -> dict[int, pl.DataFrame]:
    """Store the accepted records of many files (in batch order), applying W05/W06; each file's W05/W06
    anomalies (only files that have some). The rows put in an emission are appended to `inserted`, when given
    (`records` columns, `emission_id` among them): the caller keeps them once the transaction commits."""
    if conn.dialect.name == "sqlite":  # the indexes of `records` outgrow SQLite's default 2 MiB page cache
        conn.exec_driver_sql(f"PRAGMA cache_size=-{STORING_CACHE_KIB}")  # this connection only (the run's)
    extra: dict[int, pl.DataFrame] = {}
    for kind in ("RG", "CA"):
        members = [it for it in items if it.kind == kind]
        if not members:
            continue
        accepted = accepted_frame(members)
        if accepted.height == 0:
            continue
        for round_frame in rounds(accepted):
            found = _store_rg(conn, round_frame, inserted) if kind == "RG" else _store_ca(conn, round_frame, inserted)
            for (file_id,), part in found.partition_by(FILE, as_dict=True, include_key=False).items():
                extra[int(file_id)] = part
    return extra
