"""Campaign follow-up: which Esats with an open Esat service have not yet sent an accepted RG for year N."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.engine import Engine

from exchange.store.tables import hab_bulletins, hab_conventions, hab_partenaires, records
from exchange.core.vocabulary import CNA_CODE_CAF, ESAT_SERVICE

if TYPE_CHECKING:
    from exchange.store.habilitations import Habilitations

MAYOTTE = "976"


def deadline(year: int) -> date:
    """The Caf asks for the RG of year N by 15 January N+1."""
    return date(year + 1, 1, 15)


def service_open(habs: Habilitations, siret: str, day: date) -> bool:
    """The partner has the Esat service open on `day`: one active convention with a contrat de services
    and a signed Esat bulletin bearing the convention's SIRET, outside Mayotte. (The in-memory rule;
    `campaign_status` asks the same of the database in one query.)"""
    partner = habs.partenaire(siret)
    if partner is None or partner.departement == MAYOTTE:
        return False
    covering = habs.conventions_covering(siret, day)
    if len(covering) != 1:
        return False
    conv = covering[0]
    if conv.date_contrat_service is None or conv.date_contrat_service > day:
        return False
    return any(b.service == ESAT_SERVICE and b.statut == "SIGNE" and b.date_signature is not None
               and b.date_signature <= day and b.siret == conv.siret for b in habs.bulletins_of(conv.id_convention))


def _missing_query(year: int, day: date, caf: str | None):  # noqa: ANN202 - a Select
    """Partners with no RG record of `year` whose Esat service is open on `day` (service_open, in SQL),
    tested in that order for each partner: the index on records answers first, and once most partners
    have declared the conventions of the others alone are read."""
    c, b, p = hab_conventions, hab_bulletins, hab_partenaires
    covers = and_(c.c.siret == p.c.siret, c.c.statut == "ACTIVE", c.c.date_debut <= day,
                  or_(c.c.date_fin.is_(None), c.c.date_fin >= day))
    declared = (select(records.c.id).where(records.c.kind == "RG", records.c.annee_reference == year,
                                           records.c.siret_esat == p.c.siret).exists())
    one_convention = select(func.count()).select_from(c).where(covers).scalar_subquery() == 1
    # the covering convention (the only one) has its contrat de services and a signed Esat bulletin of its SIRET
    signed = (select(b.c.id_bulletin).join_from(c, b, b.c.id_convention == c.c.id_convention)
              .where(covers, c.c.date_contrat_service.is_not(None), c.c.date_contrat_service <= day,
                     b.c.service == ESAT_SERVICE, b.c.statut == "SIGNE", b.c.date_signature.is_not(None),
                     b.c.date_signature <= day, b.c.siret == p.c.siret).exists())
    caf_gestionnaire = case((p.c.portee == "MULTI_DEPARTEMENTALE", literal(CNA_CODE_CAF)), else_=p.c.code_caf)
    q = (select(p.c.siret, p.c.raison_sociale, caf_gestionnaire.label("caf_gestionnaire"))
         .where(p.c.departement != MAYOTTE, ~declared, one_convention, signed))
    return q.where(caf_gestionnaire == caf) if caf else q


def campaign_status(engine: Engine, year: int, today: date, caf: str | None = None) -> list[dict]:
    """One row per open Esat with no accepted RG of `year` (only those of Caf `caf` when given): siret,
    raison_sociale, caf_gestionnaire, jours_restants (days before 15 January N+1; negative once the
    deadline has passed); sorted by Caf, then SIRET."""
    with engine.connect() as conn:
        found = conn.execute(_missing_query(year, today, caf)).all()
    left = (deadline(year) - today).days
    return [{"siret": siret, "raison_sociale": name, "caf_gestionnaire": code, "jours_restants": left}
            for siret, name, code in sorted(found, key=lambda r: (r[2], r[0]))]
