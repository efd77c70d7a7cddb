"""Campaign follow-up: which Esats with an open Esat service have not yet sent an accepted RG for year N."""
from __future__ import annotations

from datetime import date

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from exchange.db import records
from exchange.habilitations.store import ESAT_SERVICE, Habilitations, load_habilitations


def deadline(year: int) -> date:
    """The Caf asks for the RG of year N by 15 January N+1."""
    return date(year + 1, 1, 15)


def service_open(habs: Habilitations, siret: str, day: date) -> bool:
    """The partner has the Esat service open on `day`: one active convention with a contrat de services
    and a signed Esat bulletin bearing the convention's SIRET, outside Mayotte."""
    partner = habs.partenaire(siret)
    if partner is None or partner.departement == "976":
        return False
    covering = habs.conventions_covering(siret, day)
    if len(covering) != 1:
        return False
    conv = covering[0]
    if conv.date_contrat_service is None or conv.date_contrat_service > day:
        return False
    return any(b.service == ESAT_SERVICE and b.statut == "SIGNE" and b.date_signature is not None
               and b.date_signature <= day and b.siret == conv.siret for b in habs.bulletins_of(conv.id_convention))


def campaign_status(engine: Engine, year: int, today: date) -> list[dict]:
    """One row per open Esat with no accepted RG of `year`: siret, raison_sociale, caf_gestionnaire,
    jours_restants (days before 15 January N+1; negative once the deadline has passed)."""
    habs = load_habilitations(engine)
    with engine.connect() as conn:
        declared = {s for (s,) in conn.execute(select(records.c.siret_esat).where(and_(
            records.c.kind == "RG", records.c.annee_reference == year)).distinct())}
    left = (deadline(year) - today).days
    rows = [
        {"siret": p.siret, "raison_sociale": p.raison_sociale, "caf_gestionnaire": p.caf_gestionnaire,
         "jours_restants": left}
        for p in sorted(habs.partenaires.values(), key=lambda p: (p.caf_gestionnaire, p.siret))
        if p.siret not in declared and service_open(habs, p.siret, today)
    ]
    return rows
