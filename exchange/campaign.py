"""Campaign follow-up: which Esats with an open Esat service have not yet sent an accepted RG for year N."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.engine import Engine

from exchange.db import hab_bulletins, hab_conventions, hab_partenaires, records
from exchange.vocabulary import CNA_CODE_CAF, ESAT_SERVICE

if TYPE_CHECKING:
    from exchange.habilitations.store import Habilitations

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
    """Partners whose Esat service is open on `day` (service_open, in SQL) with no RG record of `year`."""
    c, b, p = hab_conventions, hab_bulletins, hab_partenaires
    covering = (select(c.c.siret, func.min(c.c.id_convention).label("id_convention"),
                       func.min(c.c.date_contrat_service).label("date_contrat_service"))
                .where(c.c.statut == "ACTIVE", c.c.date_debut <= day, or_(c.c.date_fin.is_(None), c.c.date_fin >= day))
                .group_by(c.c.siret).having(func.count() == 1)  # exactly one covering convention: min() is it
                .subquery("covering"))
    signed = exists().where(b.c.id_convention == covering.c.id_convention, b.c.service == ESAT_SERVICE,
                            b.c.statut == "SIGNE", b.c.date_signature.is_not(None), b.c.date_signature <= day,
                            b.c.siret == p.c.siret)
    declared = exists().where(records.c.kind == "RG", records.c.annee_reference == year,
                              records.c.siret_esat == p.c.siret)
    caf_gestionnaire = case((p.c.portee == "MULTI_DEPARTEMENTALE", literal(CNA_CODE_CAF)), else_=p.c.code_caf)
    q = (select(p.c.siret, p.c.raison_sociale, caf_gestionnaire.label("caf_gestionnaire"))
         .join_from(p, covering, covering.c.siret == p.c.siret)
         .where(and_(p.c.departement != MAYOTTE, covering.c.date_contrat_service.is_not(None),
                     covering.c.date_contrat_service <= day, signed, ~declared)))
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
