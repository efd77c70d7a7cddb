"""Reconciling a received file with the habilitations in force: the nine checks of habilitations.md, first failure wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from exchange.core.habilitations import Habilitations, in_mayotte, service_failure, signed_esat_bulletins
from exchange.core.vocabulary import ESAT_SERVICE
from schemas.anomalies import Anomaly


@dataclass(frozen=True)
class Reconciliation:
    anomaly: Anomaly | None  # the first failing check, else None
    caf_gestionnaire: str | None  # "78" for MULTI_DEPARTEMENTALE, else the partner's code_caf
    raison_sociale: str | None


def _first_failure(habs: Habilitations, login: str, siret: str, day: date) -> Anomaly | None:
    active = [m for m in habs.memberships_of(login) if m.actif == "O"]
    if not active:
        return Anomaly.of("H05", "compte_inactif", detail=login)
    if any(m.siret != siret for m in active):
        return Anomaly.of("F06", "compte", detail=siret)
    failed, convention = service_failure(habs, siret, day)
    if failed in ("H01", "H02"):
        return Anomaly.of(failed, detail=siret)
    if failed == "H04":
        assert convention is not None
        return Anomaly.of(
            "H04", detail=signed_esat_bulletins(habs.bulletins_of(convention.id_convention), day)[0].siret
        )
    if failed is not None:
        return Anomaly.of(failed)
    assert convention is not None  # service_failure names the convention whenever it finds no failure
    declarant = False
    for m in active:
        g = habs.groupes.get(m.id_groupe)
        if g and g.id_convention == convention.id_convention and g.service == ESAT_SERVICE and g.role == "DECLARANT":
            declarant = True
            break
    if not declarant:
        return Anomaly.of("H05", "pas_declarant", detail=login)
    partner = habs.partenaire(siret)
    if partner is not None and in_mayotte(partner):
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
