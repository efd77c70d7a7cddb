"""Everything the database holds about one NIR (a right-of-access request): records, anomalies, their files
and the emissions that carried the records to each Caf."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.vocabulary import EMISSION_OUVERTE
from exchange.store.ledger import as_utc
from exchange.store.tables import anomalies, emissions, files, records

FILE_COLUMNS = (
    files.c.id,
    files.c.account,
    files.c.name,
    files.c.siret,
    files.c.kind,
    files.c.received_at,
    files.c.processed_at,
    files.c.state,
    files.c.state_changed_at,
    files.c.statut,
    files.c.code,
    files.c.archived_name,
    files.c.answers,
    files.c.stored_path,
    files.c.copies_purged_at,
    files.c.answers_purged_at,
    files.c.identity_purged_at,
)
EMISSION_COLUMNS = (
    emissions.c.id,
    emissions.c.flux,
    emissions.c.code_caf,
    emissions.c.annee,
    emissions.c.name,
    emissions.c.state,
    emissions.c.completed_at,
    emissions.c.files_purged_at,
)
_DATETIMES = (
    "received_at",
    "processed_at",
    "state_changed_at",
    "copies_purged_at",
    "answers_purged_at",
    "identity_purged_at",
    "completed_at",
    "files_purged_at",
)


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: as_utc(v) if k in _DATETIMES else v for k, v in row.items()}


def _nir13(column: ColumnElement[str]) -> ColumnElement[str]:
    """The column's first 13 characters as the NIR is compared: without spaces, upper case (2A/2B)."""
    return func.substr(func.upper(func.replace(column, " ", "")), 1, 13)


def person_records(conn: Connection, nir13: str) -> list[dict[str, Any]]:
    """The accepted records declaring this NIR (its 13 characters: whatever key, or none, was declared), oldest
    first (every column)."""
    rows = conn.execute(
        select(records).where(_nir13(records.c.nir) == nir13).order_by(records.c.file_id, records.c.ligne)
    )
    return [_clean(dict(r)) for r in rows.mappings()]


def person_anomalies(conn: Connection, nir13: str) -> list[dict[str, Any]]:
    """The anomalies naming this NIR as declared (with its spaces, a wrong key or none: its 13 characters)."""
    rows = conn.execute(
        select(anomalies)
        .where(_nir13(anomalies.c.nir) == nir13)
        .order_by(anomalies.c.file_id, anomalies.c.ligne, anomalies.c.id)
    )
    return [dict(r) for r in rows.mappings()]


def files_by_copy(conn: Connection, copies: list[str]) -> dict[str, list[int]]:
    """Received copy (`<account>/<file>`, relative to the storage folder) → the receptions whose copy it is."""
    out: dict[str, list[int]] = {}
    for i in range(0, len(copies), 500):
        for file_id, path in conn.execute(
            select(files.c.id, files.c.stored_path)
            .where(files.c.stored_path.in_(copies[i : i + 500]))
            .order_by(files.c.id)
        ).all():
            out.setdefault(path, []).append(file_id)
    return out


def emissions_by_name(conn: Connection, names: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(code_caf, base name) → the emission that wrote those output files."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for code_caf, name in sorted(names):
        row = (
            conn.execute(select(*EMISSION_COLUMNS).where(emissions.c.code_caf == code_caf, emissions.c.name == name))
            .mappings()
            .first()
        )
        if row is not None:
            out[(code_caf, name)] = _clean(dict(row))
    return out


def files_by_id(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(select(*FILE_COLUMNS).where(files.c.id.in_(sorted(ids))).order_by(files.c.id))
    return {r["id"]: _clean(dict(r)) for r in rows.mappings()}


def emissions_by_id(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    """These emissions, but an OUVERTE one (its records are not emitted yet: it has no file)."""
    if not ids:
        return {}
    rows = conn.execute(
        select(*EMISSION_COLUMNS)
        .where(emissions.c.id.in_(sorted(ids)), emissions.c.state != EMISSION_OUVERTE)
        .order_by(emissions.c.id)
    )
    return {r["id"]: _clean(dict(r)) for r in rows.mappings()}


def latest_answered(conn: Connection, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(account, name) → id of the latest answered reception of that name (its pair is <name>.CR.*)."""
    out: dict[tuple[str, str], int] = {}
    for account, name in sorted(pairs):
        row = conn.execute(
            select(files.c.id)
            .where(files.c.account == account, files.c.name == name, files.c.answers > 0)
            .order_by(files.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            out[(account, name)] = row[0]
    return out


def campaign_emissions(conn: Connection, pairs: set[tuple[int, str]]) -> list[dict[str, Any]]:
    """The campaign files (RG-CAMPAGNE) of these (year, Caf): each carries the worker's RG in force of that year."""
    out: list[dict[str, Any]] = []
    for year, code_caf in sorted(pairs):
        rows = conn.execute(
            select(*EMISSION_COLUMNS)
            .where(emissions.c.flux == "RG-CAMPAGNE", emissions.c.annee == year, emissions.c.code_caf == code_caf)
            .order_by(emissions.c.id)
        )
        out += [_clean(dict(r)) for r in rows.mappings()]
    return out
