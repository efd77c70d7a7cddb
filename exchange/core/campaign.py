"""The campaign rules: the deadline of year N, and which open Esats have not yet sent an accepted RG of year N."""

from __future__ import annotations

from datetime import date
from typing import Any

from exchange.core.habilitations import Habilitations, service_open
from exchange.core.perimeter import Perimeter
from exchange.core.vocabulary import QUARANTAINE, REJETE, UNFINISHED_STATES

NOTHING_SENT, WAITING, QUARANTINED, HABILITATION, OTHER = "rien", "en_attente", "quarantaine", "habilitation", "autre"
SITUATIONS = {  # why an open Esat has no accepted RG yet, and who acts
    NOTHING_SENT: "n'a rien envoyé",
    WAITING: "fichier en attente ou en cours de traitement",
    QUARANTINED: "fichier en quarantaine (le service n'a pas pu le juger)",
    HABILITATION: "rejeté pour une erreur d'habilitation (à corriger par la Caf)",
    OTHER: "fichier rejeté ou sans RG de l'année (l'Esat renvoie un fichier)",
}
WHO_ACTS = {  # never « personne » for a failure: each situation names who acts next, and what they do
    NOTHING_SENT: "l'Esat (à relancer par la Caf)",
    WAITING: "le service : la prochaine collecte le juge (rien à faire)",
    QUARANTINED: "l'administrateur du service : il corrige le défaut, puis rejoue le fichier",
    HABILITATION: "la Caf (Habpps), puis l'équipe nationale importe l'extrait et un gestionnaire rejoue",
    OTHER: "l'Esat : elle corrige son fichier d'après le compte rendu et le renvoie",
}


def deadline(year: int) -> date:
    """The Caf asks for the RG of year N by 15 January N+1."""
    return date(year + 1, 1, 15)


def missing_esats(
    undeclared: Habilitations,
    year: int,
    today: date,
    caf: str | None = None,
    *,
    perimeter: Perimeter,
    also: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """One row per partner of `undeclared` (partners with no RG of `year`) in `perimeter` whose Esat service is
    open `today`, or whose SIRET is in `also` (an Esat whose file was rejected for its habilitation: its service
    is closed only until the Caf corrects it, e.g. H07), only those managed by Caf `caf` when given: siret,
    raison_sociale, caf_gestionnaire, jours_restants (days before 15 January N+1; negative once the deadline has
    passed); sorted by Caf, then SIRET."""
    left = (deadline(year) - today).days
    rows = [
        {
            "siret": p.siret,
            "raison_sociale": p.raison_sociale,
            "caf_gestionnaire": p.caf_gestionnaire,
            "jours_restants": left,
        }
        for p in undeclared.partenaires.values()
        if (caf is None or p.caf_gestionnaire == caf)
        and (p.siret in also or service_open(undeclared, p.siret, today))
        and perimeter.sees(p.caf_gestionnaire, p.portee == "MULTI_DEPARTEMENTALE")
    ]
    return sorted(rows, key=lambda r: (r["caf_gestionnaire"], r["siret"]))


def campaign_days(year: int) -> tuple[date, date]:
    """The first and last production dates of an RG file of campaign N (its name's date): July N to June N+1."""
    return date(year, 7, 1), date(year + 1, 6, 30)


def situation(latest: dict[str, Any] | None, waiting_in_depot: bool) -> str:
    """Why an Esat of missing_esats has no accepted RG: its latest RG file is in quarantine (the service's
    administrator acts), a file waits (in depot/ or being processed), its latest RG file was rejected for a habilitation code (the Caf acts), another outcome (the
    Esat acts), or it sent nothing. `latest`: its latest RG file of the campaign (etat, statut, code)."""
    if latest is not None and latest["etat"] == QUARANTAINE and not waiting_in_depot:
        return QUARANTINED
    if waiting_in_depot or (latest is not None and latest["etat"] in UNFINISHED_STATES):
        return WAITING
    if latest is None:
        return NOTHING_SENT
    if latest["statut"] == REJETE and (latest["code"] or "").startswith("H"):
        return HABILITATION
    return OTHER
