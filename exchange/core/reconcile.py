"""Reconciling a received file with the habilitations in force: the nine checks of habilitations.md, first failure wins."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from exchange.store.habilitations import ESAT_SERVICE, Bulletin, Habilitations
from schemas.anomalies import Anomaly

MAYOTTE = "976"


@dataclass(frozen=True)
class Reconciliation:
    anomaly: Anomaly | None  # the first failing check, else None
    caf_gestionnaire: str | None  # "78" for MULTI_DEPARTEMENTALE, else the partner's code_caf
    raison_sociale: str | None


def _signed_esat(bulletins: list[Bulletin], day: date) -> list[Bulletin]:
    return [b for b in bulletins if b.service == ESAT_SERVICE and b.statut == "SIGNE"
            and b.date_signature is not None and b.date_signature <= day]


def _first_failure(habs: Habilitations, login: str, siret: str, day: date) -> Anomaly | None:
    active = [m for m in habs.memberships_of(login) if m.actif == "O"]
    if not active:
        return Anomaly.of("H05", "compte_inactif", detail=login)
    if any(m.siret != siret for m in active):
        return Anomaly.of("F06", "compte", detail=siret)
    partner = habs.partenaire(siret)
    if partner is None:
        return Anomaly.of("H01", detail=siret)
    covering = habs.conventions_covering(siret, day)
    if len(covering) != 1:
        return Anomaly.of("H02", detail=siret)
    convention = covering[0]
    if convention.date_contrat_service is None or convention.date_contrat_service > day:
        return Anomaly.of("H07")
    signed = _signed_esat(habs.bulletins_of(convention.id_convention), day)
    if not signed:
        return Anomaly.of("H03")
    if not any(b.siret == convention.siret for b in signed):
        return Anomaly.of("H04", detail=signed[0].siret)
    declarant = False
    for m in active:
        g = habs.groupes.get(m.id_groupe)
        if g and g.id_convention == convention.id_convention and g.service == ESAT_SERVICE \
                and g.role == "DECLARANT":
            declarant = True
            break
    if not declarant:
        return Anomaly.of("H05", "pas_declarant", detail=login)
    if partner.departement == MAYOTTE:
        return Anomaly.of("H06")
    return None


def reconcile(habs: Habilitations, login: str, siret: str, day: date) -> Reconciliation:
    """Check that account `login` may file for SIRET `siret` at processing date `day`."""
    partner = habs.partenaire(siret)
    return Reconciliation(
        anomaly=_first_failure(habs, login, siret, day),
        caf_gestionnaire=partner.caf_gestionnaire if partner else None,
        raison_sociale=partner.raison_sociale if partner else None,
    )
