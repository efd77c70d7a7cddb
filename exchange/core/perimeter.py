"""Who sees what: an operator's perimeter (spec cli.md « Who sees what, and for how long ») as a value.

`national` sees everything; `cna` sees the Esats the CNA manages (multi-departmental partners); a Caf code sees
the Esats whose partner's convention is with that Caf. An Esat's perimeter follows its Habpps partner and moves
with a new extract. The store turns a Perimeter into one SQL condition (exchange.store.perimeter).
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.core.vocabulary import CNA_CODE_CAF

NATIONAL = "national"
CNA = "cna"


@dataclass(frozen=True)
class Perimeter:
    """What one operator may see: everything (national), or the Esats managed by these Cafs and/or the CNA."""

    national: bool = False
    cafs: frozenset[str] = frozenset()  # Caf codes ("75", "2A"…), the Esats whose convention is with them
    cna: bool = False  # the multi-departmental partners, managed by the CNA

    @classmethod
    def of(cls, values: list[str] | tuple[str, ...]) -> Perimeter:
        """From the `--perimetre` values: national, cna, or Caf codes (several may be given)."""
        wanted = {v.strip() for v in values if v.strip()}
        return cls(
            national=NATIONAL in wanted,
            cna=CNA in wanted,
            cafs=frozenset(v for v in wanted if v not in (NATIONAL, CNA)),
        )

    def labels(self) -> list[str]:
        """As the operator list shows it."""
        if self.national:
            return [NATIONAL]
        return ([CNA] if self.cna else []) + sorted(self.cafs)

    def sees(self, caf_gestionnaire: str | None, multi_departemental: bool) -> bool:
        """Whether an Esat managed by `caf_gestionnaire` (the CNA's '78' for a multi-departmental partner) is in."""
        if self.national:
            return True
        if multi_departemental:
            return self.cna
        return caf_gestionnaire is not None and caf_gestionnaire in self.cafs


EVERYTHING = Perimeter(national=True)

GESTIONNAIRE = "gestionnaire"
READ_ONLY = "Action réservée aux gestionnaires : votre compte est en lecture seule."
NATIONAL_ONLY = "Action réservée aux opérateurs de périmètre national."


def every_caf_refusal(role: str, perimeter: Perimeter) -> str | None:
    """The one rule for an action that acts beyond a perimeter (spec cli.md « Who may launch what »): launching a
    job, closing a campaign, importing an extract, pausing the scheduler, managing accounts act for every Caf, so
    only a national gestionnaire may. The French refusal, or None when allowed (the role is checked first)."""
    if role != GESTIONNAIRE:
        return READ_ONLY
    if not perimeter.national:
        return NATIONAL_ONLY
    return None


__all__ = [
    "CNA",
    "CNA_CODE_CAF",
    "EVERYTHING",
    "NATIONAL",
    "NATIONAL_ONLY",
    "READ_ONLY",
    "Perimeter",
    "every_caf_refusal",
]
