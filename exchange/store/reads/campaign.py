"""The campaign's reads: accepted RG records in force per Caf, the Habpps extract in force, the data's version."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import CYCLE_JOBS, EN_COURS, IGNORE, OK
from exchange.store.perimeter import in_perimeter
from exchange.store.tables import hab_imports, in_force_seeking_esats, record_tallies, records, runs


def accepted_rg_per_caf(conn: Connection, year: int, *, perimeter: Perimeter) -> dict[str, int]:
    """Accepted RG records in force for `year` from the perimeter's Esats, per Caf (code_caf of the record)."""
    in_force = records.c.superseded == False  # noqa: E712 - NOT NULL; `= false` uses PostgreSQL's index
    if not perimeter.national:  # a few Esats: seek them (0.8 s on 10× the nation when the year is walked)
        in_force = in_force_seeking_esats()
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
    out: Counter[str] = Counter(dict(rows))
    for caf, n in conn.execute(  # records the purge turned into counts
        select(record_tallies.c.code_caf, func.sum(record_tallies.c.n))
        .where(
            record_tallies.c.kind == "RG",
            record_tallies.c.annee_reference == year,
            record_tallies.c.superseded == False,  # noqa: E712
            in_perimeter(record_tallies.c.siret_esat, perimeter),
        )
        .group_by(record_tallies.c.code_caf)
    ).all():
        out[caf] += int(n)
    return dict(sorted(out.items()))


def campaign_data_version(conn: Connection) -> tuple[Any, ...] | None:
    """What the campaign's reads (records in force, habilitations, files) depend on, as a small value that moves
    whenever they may have changed: the latest run that may have written (every run but a cycle that ended OK or
    IGNORE without receiving a file) and the latest Habpps import; None while a run is in progress."""
    if conn.execute(select(runs.c.id).where(runs.c.status == EN_COURS).limit(1)).first() is not None:
        return None
    quiet = and_(runs.c.job.in_(CYCLE_JOBS), runs.c.status.in_((OK, IGNORE)), runs.c.files_seen == 0)
    written = conn.execute(select(func.max(runs.c.id)).where(~quiet)).scalar()
    imported = conn.execute(select(func.max(hab_imports.c.id))).scalar()
    return (written, imported)


def habilitations_in_force(conn: Connection) -> dict[str, Any] | None:
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
