"""The habilitations tables: an extract replaced in one transaction, the snapshot in force loaded back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table, and_, delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.sql import Select

from exchange.core.habilitations import Habilitations
from exchange.core.perimeter import EVERYTHING, Perimeter
from exchange.store import tables
from exchange.store.perimeter import in_perimeter

DB_TABLES: dict[str, Table] = {
    "partenaires": tables.hab_partenaires,
    "conventions": tables.hab_conventions,
    "bulletins": tables.hab_bulletins,
    "groupes": tables.hab_groupes,
    "utilisateurs": tables.hab_utilisateurs,
}


def replace_extract(
    conn: Connection,
    frames: Mapping[str, pl.DataFrame],
    *,
    source: str,
    sha256: str,
    actor: str | None,
) -> int:
    """Every habilitation replaced by a validated extract's tables, and the import recorded (the caller's one
    transaction, fenced by the import lock); the import's id."""
    counts = {t: frames[t].height for t in DB_TABLES}
    for table in reversed(list(DB_TABLES)):
        conn.execute(delete(DB_TABLES[table]))
    for table in DB_TABLES:
        rows = frames[table].to_dicts()
        if rows:
            conn.execute(insert(DB_TABLES[table]), rows)
    return int(
        conn.execute(
            insert(tables.hab_imports)
            .values(
                imported_at=datetime.now(UTC),
                source=source,
                sha256=sha256,
                imported_by=actor,
                counts=json.dumps(counts),
            )
            .returning(tables.hab_imports.c.id)
        ).scalar_one()
    )


def _last_import(conn: Connection) -> Row[Any, Any] | None:
    return conn.execute(
        select(tables.hab_imports.c.id, tables.hab_imports.c.imported_at)
        .order_by(tables.hab_imports.c.id.desc())
        .limit(1)
    ).first()


def _dicts(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    """The rows of `query` as dicts, the column names read once (not once per row: tens of thousands of rows)."""
    result = conn.execute(query)
    names = list(result.keys())
    return [dict(zip(names, row)) for row in result]


def _load(conn: Connection) -> Habilitations:
    rows = {t: _dicts(conn, select(DB_TABLES[t])) for t in DB_TABLES}
    last = _last_import(conn)
    return Habilitations.from_rows(
        rows, import_id=last.id if last else None, imported_at=last.imported_at if last else None
    )


def load_habilitations(conn: Connection) -> Habilitations:
    """The habilitations in force (empty when no extract was ever imported)."""
    return _load(conn)


def undeclared_partners(conn: Connection, year: int, perimeter: Perimeter = EVERYTHING) -> Habilitations:
    """The partners of `perimeter` with no RG record of `year`, with their conventions and those conventions'
    bulletins (what the campaign follow-up judges): the index on records answers first, and once most partners
    have declared, the habilitations of the others alone are read."""
    p, c, b, r = tables.hab_partenaires, tables.hab_conventions, tables.hab_bulletins, tables.records
    declared = select(r.c.id).where(r.c.kind == "RG", r.c.annee_reference == year, r.c.siret_esat == p.c.siret).exists()
    not_declared = and_(~declared, in_perimeter(p.c.siret, perimeter))
    undeclared = select(p.c.siret).where(not_declared)
    partners = _dicts(conn, select(p).where(not_declared))
    rows: dict[str, list[dict[str, Any]]] = {"partenaires": partners, "conventions": [], "bulletins": []}
    if partners:  # once every partner has declared, their conventions need not be looked for (a walk each)
        rows["conventions"] = _dicts(conn, select(c).where(c.c.siret.in_(undeclared)))
        rows["bulletins"] = _dicts(
            conn, select(b).join_from(b, c, b.c.id_convention == c.c.id_convention).where(c.c.siret.in_(undeclared))
        )
    return Habilitations.from_rows(rows)


__all__ = ["DB_TABLES", "load_habilitations", "replace_extract", "undeclared_partners"]
