"""A perimeter as SQL: the one condition every read of worker-level data applies (files, records, anomalies…).

An Esat is in a perimeter when its Habpps partner (the extract in force) is: by its convention's Caf, or for a
multi-departmental partner by the CNA. A received file belongs to the perimeter of the uploading account's
partner (spec cli.md); a record to that of its Esat's SIRET. What the extract does not know is seen by national
operators only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from exchange.core.perimeter import Perimeter
from exchange.store.tables import hab_partenaires, hab_utilisateurs

MULTI = "MULTI_DEPARTEMENTALE"


def sirets_in(perimeter: Perimeter) -> Select[Any]:  # a Select of SIRETs
    """The SIRETs of the partners in the perimeter (not meant for a national one: it has no limit)."""
    p = hab_partenaires
    parts = []
    if perimeter.cafs:
        parts.append(and_(p.c.portee != MULTI, p.c.code_caf.in_(sorted(perimeter.cafs))))
    if perimeter.cna:
        parts.append(p.c.portee == MULTI)
    return select(p.c.siret).where(or_(*parts) if parts else false())


def in_perimeter(siret_column: ColumnElement[Any], perimeter: Perimeter) -> ColumnElement[bool]:
    """`siret_column` (files.siret, records.siret_esat…) belongs to an Esat of the perimeter."""
    if perimeter.national:
        return true()
    return siret_column.in_(sirets_in(perimeter))


def in_perimeter_account(account_column: ColumnElement[Any], perimeter: Perimeter) -> ColumnElement[bool]:
    """`account_column` (files.account: the drop-area account, a Habpps login) belongs to a partner of the perimeter."""
    if perimeter.national:
        return true()
    return account_column.in_(
        select(hab_utilisateurs.c.login).where(hab_utilisateurs.c.siret.in_(sirets_in(perimeter)))
    )
