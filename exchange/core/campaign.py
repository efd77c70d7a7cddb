"""The campaign rules: the deadline of year N, and which open Esats have not yet sent an accepted RG of year N."""
from __future__ import annotations

from datetime import date

from exchange.core.habilitations import Habilitations, service_open
from exchange.core.perimeter import Perimeter


def deadline(year: int) -> date:
    """The Caf asks for the RG of year N by 15 January N+1."""
    return date(year + 1, 1, 15)


def missing_esats(undeclared: Habilitations, year: int, today: date, caf: str | None = None, *,
                  perimeter: Perimeter) -> list[dict]:
    """One row per partner of `undeclared` (partners with no RG of `year`) in `perimeter` whose Esat service is
    open `today` (only those managed by Caf `caf` when given): siret, raison_sociale, caf_gestionnaire, jours_restants
    (days before 15 January N+1; negative once the deadline has passed); sorted by Caf, then SIRET."""
    left = (deadline(year) - today).days
    rows = [{"siret": p.siret, "raison_sociale": p.raison_sociale, "caf_gestionnaire": p.caf_gestionnaire,
             "jours_restants": left}
            for p in undeclared.partenaires.values()
            if (caf is None or p.caf_gestionnaire == caf) and service_open(undeclared, p.siret, today)
            and perimeter.sees(p.caf_gestionnaire, p.portee == "MULTI_DEPARTEMENTALE")]
    return sorted(rows, key=lambda r: (r["caf_gestionnaire"], r["siret"]))
