"""One Esat as the console's Esat page shows it: its Habpps partner, conventions, bulletins and users (the extract
in force), and its RG records in force per campaign year."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from exchange.core.habilitations import caf_gestionnaire
from exchange.core.perimeter import Perimeter
from exchange.store.perimeter import in_perimeter, in_perimeter_account
from exchange.store.tables import (
    files,
    hab_bulletins,
    hab_conventions,
    hab_groupes,
    hab_partenaires,
    hab_utilisateurs,
    record_tallies,
    records,
)


def esat_profile(conn: Connection, siret: str, *, perimeter: Perimeter) -> dict[str, Any] | None:
    """The Esat of `siret` (None when neither the extract nor any received file knows it, or it is outside
    `perimeter`): partenaire (or None), conventions, bulletins, utilisateurs (login, groupe, rôle, actif),
    fichiers (how many received), rg_par_annee (RG records in force per reference year).

    An Esat the extract places outside the perimeter is outside, even when an account of the perimeter uploaded a
    file under its SIRET (that file shows on the file's own page and in the lists, not here); a SIRET the extract
    does not know is shown to a perimeter through the files its accounts sent under it."""
    p = conn.execute(select(hab_partenaires).where(hab_partenaires.c.siret == siret)).mappings().first()
    if (
        p is not None
        and not conn.execute(
            select(func.count())
            .select_from(hab_partenaires)
            .where(hab_partenaires.c.siret == siret, in_perimeter(hab_partenaires.c.siret, perimeter))
        ).scalar_one()
    ):
        return None
    received = conn.execute(
        select(func.count())
        .select_from(files)
        .where(files.c.siret == siret, in_perimeter_account(files.c.account, perimeter))
    ).scalar_one()
    if p is None and not received:
        return None
    conventions = [
        dict(r)
        for r in conn.execute(
            select(hab_conventions)
            .where(hab_conventions.c.siret == siret)
            .order_by(hab_conventions.c.date_debut.desc())
        ).mappings()
    ]
    ids = [c["id_convention"] for c in conventions]
    bulletins = (
        [
            dict(r)
            for r in conn.execute(
                select(hab_bulletins)
                .where(hab_bulletins.c.id_convention.in_(ids))
                .order_by(hab_bulletins.c.id_bulletin)
            ).mappings()
        ]
        if ids
        else []
    )
    users = [
        dict(r)
        for r in conn.execute(
            select(
                hab_utilisateurs.c.login,
                hab_utilisateurs.c.id_groupe,
                hab_utilisateurs.c.actif,
                hab_groupes.c.role,
                hab_groupes.c.service,
            )
            .select_from(
                hab_utilisateurs.outerjoin(hab_groupes, hab_groupes.c.id_groupe == hab_utilisateurs.c.id_groupe)
            )
            .where(hab_utilisateurs.c.siret == siret)
            .order_by(hab_utilisateurs.c.login)
        ).mappings()
    ]
    in_force = records.c.superseded == False  # noqa: E712 - NOT NULL; `= false` uses PostgreSQL's index
    # the Esat's own records first (an index starting with siret_esat), then RG in force counted among them:
    # filtering on `kind` in the WHERE lets SQLite scan every RG of the nation in the campaign index instead
    rg_in_force = func.sum(case((and_(records.c.kind == "RG", in_force), 1), else_=0))
    rg = {
        year: n
        for year, n in conn.execute(
            select(records.c.annee_reference, rg_in_force)
            .where(records.c.siret_esat == siret, in_perimeter(records.c.siret_esat, perimeter))
            .group_by(records.c.annee_reference)
            .order_by(records.c.annee_reference.desc())
        ).all()
        if n
    }
    for year, n in conn.execute(  # records the purge turned into counts
        select(record_tallies.c.annee_reference, func.sum(record_tallies.c.n))
        .where(
            record_tallies.c.siret_esat == siret,
            record_tallies.c.kind == "RG",
            record_tallies.c.superseded == False,  # noqa: E712
            in_perimeter(record_tallies.c.siret_esat, perimeter),
        )
        .group_by(record_tallies.c.annee_reference)
    ).all():
        rg[year] = rg.get(year, 0) + int(n)
    rg = dict(sorted(rg.items(), key=lambda item: -(item[0] or 0)))
    partner = None if p is None else {**dict(p), "caf_gestionnaire": caf_gestionnaire(p["portee"], p["code_caf"])}
    return {
        "siret": siret,
        "partenaire": partner,
        "conventions": conventions,
        "bulletins": bulletins,
        "utilisateurs": users,
        "fichiers": received,
        "rg_par_annee": rg,
    }


__all__ = ["esat_profile"]
